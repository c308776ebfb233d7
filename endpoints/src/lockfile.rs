//! [`LockFile`]: Twisted's `FilesystemLock`, guarding a UNIX socket path.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An exclusive lock on `<socket>.lock`: a symbolic link whose target is
/// the owner's process id (Twisted's `FilesystemLock`, used by
/// `listenUNIX(wantPID=True)`). Creating a symlink is atomic, so two
/// servers cannot both take it; a lock whose owner is dead is stale and is
/// taken over. Released (removed) when dropped.
pub struct LockFile {
    path: PathBuf,
}

/// `<socket>.lock`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        None => false,
        // kill(pid, 0): EPERM still means it exists.
        Some(pid) => !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        ),
    }
}

/// The pid holding the lock at `path`, if a live process does.
pub fn lock_owner(path: &Path) -> Option<i32> {
    let target = std::fs::read_link(path).ok()?;
    let pid: i32 = target.to_str()?.parse().ok()?;
    alive(pid).then_some(pid)
}

impl LockFile {
    /// Takes the lock at `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` naming the owner if a live process holds it, or the OS error.
    pub fn acquire(path: &Path) -> io::Result<LockFile> {
        let me = std::process::id().to_string();
        for _ in 0..3 {
            match std::os::unix::fs::symlink(&me, path) {
                Ok(()) => {
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if let Some(owner) = lock_owner(path) {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!("{} is held by process {owner}", path.display()),
                        ));
                    }
                    // Stale: its owner is gone. Remove and retry.
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} keeps being taken by another process", path.display()),
        ))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if lock_owner(&self.path) == i32::try_from(std::process::id()).ok() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl fmt::Debug for LockFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFile")
            .field("path", &self.path)
            .finish()
    }
}
