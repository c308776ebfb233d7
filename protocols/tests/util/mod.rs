//! Helpers shared by the receiver tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::Protocol;
use torsion_testing::StringTransport;

/// Twisted's packet loop: `for i in range(len(buf) // size + 1):
/// dataReceived(buf[i*size:(i+1)*size])`, including a final empty chunk
/// when `size` divides the length.
pub fn twisted_chunks(data: &[u8], size: usize) -> Vec<&[u8]> {
    (0..data.len() / size + 1)
        .map(|i| &data[(i * size).min(data.len())..((i + 1) * size).min(data.len())])
        .collect()
}

/// Every way of cutting `data` in two (including the empty halves), then
/// one byte at a time.
pub fn all_splits(data: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut splits: Vec<Vec<&[u8]>> = (0..=data.len())
        .map(|i| vec![&data[..i], &data[i..]])
        .collect();
    splits.push(data.chunks(1).collect());
    splits
}

/// Connects `protocol` to a new [`StringTransport`] and returns both.
pub fn connect<P: Protocol>(mut protocol: P) -> (P, Rc<StringTransport>) {
    let transport = Rc::new(StringTransport::new());
    protocol.make_connection(transport.clone());
    (protocol, transport)
}

/// Connects a shared protocol to a new [`StringTransport`].
pub fn connect_shared<P: Protocol>(protocol: &Rc<RefCell<P>>) -> Rc<StringTransport> {
    let transport = Rc::new(StringTransport::new());
    protocol.borrow_mut().make_connection(transport.clone());
    transport
}

/// Feeds `chunks` one by one, stopping once the transport is disconnecting
/// (a real transport stops reading after `lose_connection`).
pub fn feed<P: Protocol>(protocol: &mut P, transport: &StringTransport, chunks: &[&[u8]]) {
    use torsion_reactor::Transport;
    for chunk in chunks {
        if transport.is_disconnecting() {
            break;
        }
        protocol.data_received(chunk);
    }
}
