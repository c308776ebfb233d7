//! [`connect_protocol`]: connect a protocol you already have.

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::{
    Address, Deferred, DynProtocolFactory, Protocol, ProtocolRef, StreamClientEndpoint,
};

/// A factory that hands out one ready-made protocol, once.
struct Once<P: Protocol> {
    protocol: RefCell<Option<Rc<RefCell<P>>>>,
}

impl<P: Protocol> DynProtocolFactory for Once<P> {
    fn build_protocol(&self, _addr: &Address) -> Option<ProtocolRef> {
        let protocol: ProtocolRef = self.protocol.borrow_mut().take()?;
        Some(protocol)
    }

    fn describe(&self) -> String {
        format!("connect_protocol({})", std::any::type_name::<P>())
    }
}

/// Connects `protocol` itself through `endpoint` (Twisted's
/// `connectProtocol`); fires with the same handle once connected.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_endpoints::connect_protocol;
/// use torsion_testing::{success_result_of, AccumulatingProtocol, FakeClientEndpoint};
///
/// let endpoint = FakeClientEndpoint::new(true);
/// let mine = Rc::new(RefCell::new(AccumulatingProtocol::new()));
/// let connected = success_result_of(&connect_protocol(&endpoint, mine.clone()));
/// assert!(Rc::ptr_eq(&connected, &mine) && mine.borrow().made);
/// ```
pub fn connect_protocol<P: Protocol>(
    endpoint: &(impl StreamClientEndpoint + ?Sized),
    protocol: Rc<RefCell<P>>,
) -> Deferred<Rc<RefCell<P>>> {
    let factory = Rc::new(Once {
        protocol: RefCell::new(Some(protocol.clone())),
    });
    endpoint
        .connect_dyn(factory)
        .add_callback(move |_| Ok(protocol))
}
