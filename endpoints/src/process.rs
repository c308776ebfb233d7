//! [`ProcessEndpoint`]: a client endpoint whose connection is a child
//! process's stdin and stdout (Twisted's `ProcessEndpoint`).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

use torsion_reactor::error::{NoProtocol, ProducerError};
use torsion_reactor::{
    borrow_protocol, deliver_connection_lost, Address, Consumer, Deferred, DynProtocolFactory,
    Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Producer, ProducerRef,
    ProtocolRef, PtySize, PushProducer, ReactorProcess, StreamClientEndpoint, Transport,
    TransportRef,
};

/// What becomes of what the child writes on stderr (Twisted's
/// `StandardErrorBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StandardErrorBehavior {
    /// Logged at warning level (the default).
    #[default]
    Log,
    /// Dropped.
    Drop,
}

/// Runs a program per connection: the protocol's transport writes to the
/// child's stdin, the child's stdout reaches `data_received`, and
/// `connection_lost` comes when the child has ended (its reason is the
/// exit's: `ProcessDone` or `ProcessTerminated`). Any protocol, and
/// `ClientService`, can so talk to a subprocess.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use torsion_endpoints::ProcessEndpoint;
/// use torsion_reactor::{Factory, Protocol, Reactor, StreamClientEndpointExt, TransportRef};
///
/// #[derive(Debug, Default)]
/// struct Upper(Vec<u8>, bool);
/// impl Protocol for Upper {
///     fn connection_made(&mut self, transport: TransportRef) {
///         transport.write(b"shout\n");
///         transport.lose_write_connection(); // close the child's stdin
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.extend_from_slice(data);
///     }
///     fn connection_lost(&mut self, _reason: torsion_reactor::Failure) {
///         self.1 = true;
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// let endpoint = ProcessEndpoint::new(reactor.clone(), "tr").args(["a-z", "A-Z"]);
/// let connected = endpoint.connect(Factory::for_protocol(Upper::default));
/// // Spawning is immediate: the Deferred has fired.
/// let protocol: Rc<RefCell<Upper>> = match connected.take_result() {
///     Some(Ok(protocol)) => protocol,
///     other => panic!("not connected: {other:?}"),
/// };
/// for _ in 0..100 {
///     if protocol.borrow().1 {
///         break;
///     }
///     reactor.iterate(Some(Duration::from_millis(50)))?;
/// }
/// assert_eq!(protocol.borrow().0, b"SHOUT\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// `ProcessEndpoint(reactor, executable, args, env, path, uid, gid,
/// usePTY, errFlag=...)`; `childFDs` is not taken (stdin and stdout are
/// the connection, stderr a pipe, or all three a terminal with
/// [`use_pty`](Self::use_pty)). The arguments exclude the program
/// name, and the environment is inherited, as in
/// [`ProcessOptions`](torsion_reactor::ProcessOptions).
pub struct ProcessEndpoint<R> {
    reactor: R,
    /// What each connection spawns (no descriptor mapping: stdin and
    /// stdout are the connection).
    options: ProcessOptions,
    stderr: StandardErrorBehavior,
}

impl<R: ReactorProcess + 'static> ProcessEndpoint<R> {
    /// Runs `program` (on `PATH` if it has no `/`) for each connection.
    pub fn new(reactor: R, program: impl Into<PathBuf>) -> Self {
        ProcessEndpoint {
            reactor,
            options: ProcessOptions::new(program.into()),
            stderr: StandardErrorBehavior::default(),
        }
    }

    fn with(mut self, change: impl FnOnce(ProcessOptions) -> ProcessOptions) -> Self {
        self.options = change(self.options);
        self
    }

    /// The arguments (without the program name).
    pub fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.with(|o| o.args(args.into_iter().map(Into::<OsString>::into)))
    }

    /// Sets a variable of the child's environment.
    pub fn env(self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.with(|o| o.env(key.into(), value.into()))
    }

    /// Starts the child's environment empty.
    pub fn env_clear(self) -> Self {
        self.with(ProcessOptions::env_clear)
    }

    /// The child's working directory.
    pub fn current_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.with(|o| o.current_dir(dir.into()))
    }

    /// Runs the child as user `uid` (needs the privilege to).
    pub fn uid(self, uid: u32) -> Self {
        self.with(|o| o.uid(uid))
    }

    /// Runs the child with group `gid` (needs the privilege to).
    pub fn gid(self, gid: u32) -> Self {
        self.with(|o| o.gid(gid))
    }

    /// Runs the child on a pseudo-terminal (Twisted's `usePTY`; see
    /// [`ProcessOptions::use_pty`]): its stdout and stderr both reach
    /// `data_received`, as the terminal merges them.
    pub fn use_pty(self, size: PtySize) -> Self {
        self.with(|o| o.use_pty(size))
    }

    /// What to do with the child's stderr (Twisted's `errFlag`).
    pub fn stderr(mut self, behavior: StandardErrorBehavior) -> Self {
        self.stderr = behavior;
        self
    }
}

impl<R: ReactorProcess + 'static> StreamClientEndpoint for ProcessEndpoint<R> {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        let Some(protocol) = factory.build_protocol(&Address::Pipe) else {
            return Deferred::failed(NoProtocol);
        };
        let adapter = Rc::new(std::cell::RefCell::new(Adapter {
            protocol: protocol.clone(),
            program: self.options.program().display().to_string(),
            stderr: self.stderr,
        }));
        // Without `ChildFd::Fd` entries the copy cannot fail.
        let options = match self.options.try_clone() {
            Ok(options) => options,
            Err(error) => return Deferred::failed(error),
        };
        match self.reactor.spawn_process(adapter, options) {
            Ok(_) => Deferred::succeeded(protocol),
            Err(error) => Deferred::failed(error),
        }
    }

    fn describe(&self) -> String {
        format!("process:{}", self.options.program().display())
    }
}

impl<R> fmt::Debug for ProcessEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessEndpoint")
            .field("program", &self.options.program())
            .field("args", &self.options.get_args())
            .finish()
    }
}

/// The process protocol that speaks for a stream protocol (Twisted's
/// `_WrapIProtocol`).
struct Adapter {
    protocol: ProtocolRef,
    program: String,
    stderr: StandardErrorBehavior,
}

impl ProcessProtocol for Adapter {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        let transport: TransportRef = Rc::new(AsTransport(transport));
        borrow_protocol(&self.protocol, "make_connection").make_connection(transport);
    }

    fn out_received(&mut self, data: &[u8]) {
        borrow_protocol(&self.protocol, "data_received").data_received(data);
    }

    fn err_received(&mut self, data: &[u8]) {
        if self.stderr == StandardErrorBehavior::Log {
            log::warn!(
                "process {} wrote to stderr: {}",
                self.program,
                String::from_utf8_lossy(data).trim_end()
            );
        }
    }

    fn process_ended(&mut self, reason: Failure) {
        // Never lost, even to a protocol held borrowed across `.await`.
        if let Err(payload) = deliver_connection_lost(&self.protocol, reason) {
            std::panic::resume_unwind(payload);
        }
    }
}

/// A process transport seen as a plain [`Transport`].
struct AsTransport(ProcessTransportRef);

impl Consumer for AsTransport {
    fn write(&self, data: &[u8]) {
        self.0.write(data);
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        self.0.register_producer(producer)
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        self.0.unregister_producer()
    }
}

impl Producer for AsTransport {
    fn stop_producing(&self) {
        self.0.stop_producing();
    }
}

impl PushProducer for AsTransport {
    fn pause_producing(&self) {
        self.0.pause_producing();
    }

    fn resume_producing(&self) {
        self.0.resume_producing();
    }
}

impl Transport for AsTransport {
    fn write_sequence(&self, data: &[&[u8]]) {
        self.0.write_sequence(data);
    }

    fn lose_connection(&self) {
        self.0.lose_connection();
    }

    fn abort_connection(&self) {
        self.0.abort_connection();
    }

    fn lose_write_connection(&self) {
        self.0.lose_write_connection();
    }

    fn is_disconnecting(&self) -> bool {
        self.0.is_disconnecting()
    }

    fn peer(&self) -> Address {
        self.0.peer()
    }

    fn host(&self) -> Address {
        self.0.host()
    }
}
