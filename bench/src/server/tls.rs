//! The two TLS echo servers of the tls-stream scenario, on the same rustls
//! `ServerConfig`: Torsion's `TlsFactory` around the plain echo protocol,
//! and tokio-rustls's `TlsAcceptor` with the usual read/`write_all` loop.

use std::io;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use torsion_reactor::{Address, Factory, Reactor, ReactorCore, ReactorTcp};
use torsion_tls::{TlsContext, TlsFactory};

use super::torsion::Echo;

/// tokio-rustls's read buffer: the scenario's chunk, as the plain server.
const BUFFER: usize = 16 * 1024;

pub(super) fn serve_torsion(port: u16) -> io::Result<()> {
    let context = TlsContext::server(crate::tls::server_config()?);
    let reactor = Reactor::new()?;
    let factory = Rc::new(TlsFactory::new(
        Factory::for_protocol(Echo::default),
        context,
    ));
    let listening = reactor
        .listen_tcp(port, factory, super::BACKLOG, "127.0.0.1")
        .map_err(|e| io::Error::other(e.to_string()))?;
    let Address::Tcp(addr) = listening.host() else {
        return Err(io::Error::other("listen_tcp gave a non-TCP address"));
    };
    super::announce(addr.port())?;
    reactor.run().map_err(|e| io::Error::other(e.to_string()))
}

pub(super) fn serve_tokio(port: u16) -> io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(crate::tls::server_config()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        super::announce(listener.local_addr()?.port())?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let Ok(mut stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let mut buffer = vec![0; BUFFER];
                        loop {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    // write_all can leave records in rustls when
                                    // the socket is full; flush pushes them out.
                                    if stream.write_all(&buffer[..n]).await.is_err()
                                        || stream.flush().await.is_err()
                                    {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
}
