//! The receiving side of a [`SimStream`]: segments arriving from the
//! peer (data, end of stream, reset), held while reading is paused.

use std::io;
use std::rc::Rc;

use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::Failure;

use super::super::network::Net;
use super::{Segment, SimStream};

impl SimStream {
    pub(super) fn receive(self: &Rc<Self>, net: &Rc<Net>, segment: Segment, from: &Rc<SimStream>) {
        if self.is_closed() {
            if let Segment::Data(_) = segment {
                // Data for a socket that is gone: the kernel resets.
                net.record(format!("{}: data to a closed socket, RST", self.label(net)));
                from.push_reset_back(net);
            }
            return;
        }
        match segment {
            Segment::Data(bytes) => {
                {
                    let mut state = self.state.borrow_mut();
                    if state.core.is_reading_paused() || !state.inbox.is_empty() {
                        state.inbox.extend_from_slice(&bytes);
                        return;
                    }
                }
                self.data_received(&bytes);
            }
            Segment::Fin => {
                {
                    let mut state = self.state.borrow_mut();
                    if state.core.is_reading_paused() || !state.inbox.is_empty() {
                        state.pending_fin = true;
                        return;
                    }
                }
                self.fin_received(net);
            }
            Segment::Rst => {
                net.record(format!("{}: reset by peer", self.label(net)));
                let error = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset");
                self.close(Failure::new(ConnectionLost::from_io(error)), None);
            }
        }
    }

    /// A RST travels back from `self`'s peer, which is gone.
    fn push_reset_back(&self, net: &Net) {
        let peer = self.peer.borrow().upgrade();
        if let Some(peer) = peer {
            let mut state = peer.state.borrow_mut();
            peer.push_locked(net, &mut state, Segment::Rst);
        }
    }

    fn data_received(&self, bytes: &[u8]) {
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            protocol.borrow_mut().data_received(bytes);
        }
    }

    fn fin_received(self: &Rc<Self>, net: &Rc<Net>) {
        net.record(format!("{}: end of stream from peer", self.label(net)));
        let shut = self.state.borrow_mut().core.eof_received();
        let protocol = self.protocol.borrow().clone();
        let Some(protocol) = protocol else {
            return;
        };
        let half = {
            let mut protocol = protocol.borrow_mut();
            match protocol.as_half_closeable() {
                Some(half) => {
                    half.read_connection_lost();
                    true
                }
                None => false,
            }
        };
        if !half || shut {
            self.close(Failure::new(ConnectionDone), Some(Segment::Fin));
        }
    }

    /// Delivers what arrived while reading was paused.
    pub(super) fn drain_inbox(self: &Rc<Self>, net: &Rc<Net>) {
        let (bytes, fin) = {
            let mut state = self.state.borrow_mut();
            if state.core.is_reading_paused() || state.core.is_closed() {
                return;
            }
            let fin = std::mem::take(&mut state.pending_fin);
            (std::mem::take(&mut state.inbox), fin)
        };
        if !bytes.is_empty() {
            self.data_received(&bytes);
        }
        if fin && !self.is_closed() {
            self.fin_received(net);
        }
    }
}
