//! The raw mio baseline: one thread, a slab of connections, edge-triggered,
//! read until `WouldBlock` into one shared buffer, write straight back, and
//! keep a per-connection buffer only for what a partial write left over.
//!
//! A connection with leftovers stops reading until they are flushed (the
//! peer is not reading, so reading more would only grow the buffer).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

const LISTENER: Token = Token(usize::MAX);
/// The shared read buffer, as large as Torsion's.
const READ_BUFFER: usize = 64 * 1024;

struct Conn {
    stream: TcpStream,
    /// Bytes a partial write left; empty (and unallocated) otherwise.
    pending: Vec<u8>,
}

pub(super) fn serve(port: u16) -> io::Result<()> {
    // mio's `bind` sets SO_REUSEADDR and listens with a backlog of 1024.
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    super::announce(listener.local_addr()?.port())?;
    run(listener)
}

/// The same loop on `threads` threads, each with a listening socket of its
/// own on the port (`SO_REUSEPORT`), sharing nothing: the hand-written
/// counterpart of `run_per_core`. Port 0: the first socket picks the port.
pub(super) fn serve_per_core(port: u16, threads: usize) -> io::Result<()> {
    let first = reuse_port_listener(port)?;
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuse_port_listener(port)?);
    }
    super::announce(port)?;
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| std::thread::spawn(move || run(listener)))
        .collect();
    for running in loops {
        running
            .join()
            .map_err(|_| io::Error::other("a mio loop panicked"))??;
    }
    Ok(())
}

/// A listening socket on `127.0.0.1:port` with `SO_REUSEPORT`, as
/// Torsion's `listen_tcp_reuse_port` makes it.
fn reuse_port_listener(port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(i32::try_from(super::BACKLOG).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Serves `listener` on this thread until killed.
fn run(mut listener: TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns)?;
                continue;
            }
            let key = event.token().0;
            let finished = match conns.get_mut(key) {
                Some(conn) => drive(conn, &mut buffer),
                None => false,
            };
            if finished {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                poll.registry().register(
                    &mut stream,
                    Token(entry.key()),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                entry.insert(Conn {
                    stream,
                    pending: Vec::new(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EMFILE, ECONNABORTED...: try again on the next readiness.
            Err(_) => return Ok(()),
        }
    }
}

/// Echoes what can be echoed now; `true` once the connection is finished.
fn drive(conn: &mut Conn, buffer: &mut [u8]) -> bool {
    loop {
        if !conn.pending.is_empty() {
            match write_now(&conn.stream, &conn.pending) {
                Ok(n) => drop(conn.pending.drain(..n)),
                Err(_) => return true,
            }
            if !conn.pending.is_empty() {
                // Wait for the writable edge.
                return false;
            }
        }
        let n = match (&conn.stream).read(buffer) {
            Ok(0) => return true,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        };
        match write_now(&conn.stream, &buffer[..n]) {
            Ok(written) if written < n => conn.pending.extend_from_slice(&buffer[written..n]),
            Ok(_) => {}
            Err(_) => return true,
        }
    }
}

/// Writes as much of `data` as the socket takes without blocking.
fn write_now(mut stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
