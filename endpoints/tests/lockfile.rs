//! UNIX lock files (Twisted's `wantPID` / `checkPID`).

use std::path::PathBuf;

use torsion_endpoints::{
    lock_owner, lock_path, server_from_string, LockFile, LockNotHeld, UnixClientEndpoint,
    UnixServerEndpoint,
};
use torsion_reactor::error::CannotListenError;
use torsion_reactor::{Factory, Reactor, StreamClientEndpointExt, StreamServerEndpointExt};
use torsion_testing::{failure_result_of_type, success_result_of, AccumulatingProtocol};

/// Whether the lock (a symlink to a pid, not to a real path) is there.
fn present(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("torsion-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_lock_is_exclusive_and_released_on_drop() {
    let dir = TempDir::new("exclusive");
    let path = dir.0.join("s.lock");
    let lock = LockFile::acquire(&path).unwrap();
    assert_eq!(lock_owner(&path), Some(std::process::id() as i32));
    let second = LockFile::acquire(&path).err().unwrap();
    assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse);
    assert!(second.to_string().contains(&std::process::id().to_string()));
    drop(lock);
    assert!(!present(&path));
    drop(LockFile::acquire(&path).unwrap());
}

#[test]
fn a_stale_lock_is_taken_over() {
    let dir = TempDir::new("stale");
    let path = dir.0.join("s.lock");
    // A pid no process has (above the kernel's pid_max).
    std::os::unix::fs::symlink("2147483646", &path).unwrap();
    assert_eq!(lock_owner(&path), None);
    let _lock = LockFile::acquire(&path).unwrap();
    assert_eq!(lock_owner(&path), Some(std::process::id() as i32));
}

#[test]
fn a_locked_server_refuses_a_second_and_releases_on_stop() {
    let dir = TempDir::new("server");
    let socket = dir.0.join("app.sock");
    let reactor = Reactor::new().unwrap();
    let first = UnixServerEndpoint::new(reactor.clone(), &socket).lockfile(true);
    let port = success_result_of(&first.listen(Factory::for_protocol(AccumulatingProtocol::new)));
    assert!(present(&lock_path(&socket)));
    let second = UnixServerEndpoint::new(reactor.clone(), &socket).lockfile(true);
    let refused = second.listen(Factory::for_protocol(AccumulatingProtocol::new));
    let failure = failure_result_of_type::<CannotListenError, _>(&refused);
    assert!(failure.to_string().contains("app.sock"), "{failure}");
    drop(port.stop_listening());
    assert!(
        !present(&lock_path(&socket)),
        "released when the port stops"
    );
    assert!(!socket.exists());
}

#[test]
fn server_strings_take_the_lock_by_default() {
    let dir = TempDir::new("string");
    let socket = dir.0.join("app.sock");
    let reactor = Reactor::new().unwrap();
    let endpoint =
        server_from_string(reactor.clone(), &format!("unix:{}", socket.display())).unwrap();
    let port =
        success_result_of(&endpoint.listen(Factory::for_protocol(AccumulatingProtocol::new)));
    assert!(present(&lock_path(&socket)));
    drop(port.stop_listening());
}

#[test]
fn a_checking_client_needs_a_live_lock() {
    let dir = TempDir::new("client");
    let socket = dir.0.join("app.sock");
    let reactor = Reactor::new().unwrap();
    let checking = UnixClientEndpoint::new(reactor.clone(), &socket).check_lockfile(true);
    let refused = checking.connect(Factory::for_protocol(AccumulatingProtocol::new));
    let failure = failure_result_of_type::<LockNotHeld, _>(&refused);
    assert_eq!(
        failure.downcast_ref::<LockNotHeld>().unwrap().lock,
        lock_path(&socket)
    );
    let _server = success_result_of(
        &UnixServerEndpoint::new(reactor.clone(), &socket)
            .lockfile(true)
            .listen(Factory::for_protocol(AccumulatingProtocol::new)),
    );
    // With the lock held, the check passes and the connect goes ahead.
    let connecting = checking.connect(Factory::for_protocol(AccumulatingProtocol::new));
    assert!(!connecting.is_called(), "not refused by the check");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !connecting.has_result() {
        assert!(std::time::Instant::now() < deadline);
        reactor
            .iterate(Some(std::time::Duration::from_millis(10)))
            .unwrap();
    }
    assert!(success_result_of(&connecting).borrow().made);
}
