//! [`FileSender`]: Twisted's `twisted.protocols.basic.FileSender`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use torsion_reactor::error::ProducerError;
use torsion_reactor::{Consumer, Deferred, Failure, Producer, ProducerRef, PullProducer};

/// How much [`FileSender`] reads per [`resume_producing`](PullProducer::resume_producing)
/// (Twisted's `CHUNK_SIZE`, 16 KiB).
pub const CHUNK_SIZE: usize = 1 << 14;

/// The consumer, whatever its concrete type (a `TransportRef`, a test's
/// `Rc<StringTransport>`).
trait Sink {
    fn write(&self, data: &[u8]);
    fn unregister(&self);
}

impl<C: Consumer + ?Sized> Sink for Rc<C> {
    fn write(&self, data: &[u8]) {
        (**self).write(data);
    }

    fn unregister(&self) {
        let _ = (**self).unregister_producer();
    }
}

type Transform = Box<dyn FnMut(Vec<u8>) -> Vec<u8>>;

#[derive(Default)]
struct Inner {
    file: RefCell<Option<Box<dyn Read>>>,
    consumer: RefCell<Option<Box<dyn Sink>>>,
    transform: RefCell<Option<Transform>>,
    deferred: RefCell<Option<Deferred<Option<u8>>>>,
    last_sent: Cell<Option<u8>>,
    chunk_size: Cell<usize>,
}

/// A pull producer that sends a file (any [`Read`]) to a consumer, a chunk
/// each time the consumer asks for more, so a big file never sits in the
/// write buffer whole (Twisted's `basic.FileSender`).
///
/// [`begin_file_transfer`](FileSender::begin_file_transfer) registers it
/// with the consumer and returns a [`Deferred`] firing with the last byte
/// sent (`None` for an empty file) once the file is exhausted.
///
/// # Examples
///
/// ```
/// use std::{io::Cursor, rc::Rc};
/// use torsion_protocols::FileSender;
/// use torsion_reactor::PullProducer;
/// use torsion_testing::StringTransport;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let consumer = Rc::new(StringTransport::new());
/// let sender = FileSender::new();
/// let done = sender.begin_file_transfer(Cursor::new(b"Test content".to_vec()), consumer.clone())?;
/// // A real transport asks for chunks as its buffer drains; here by hand:
/// while !done.is_called() {
///     sender.resume_producing();
/// }
/// assert_eq!(consumer.value(), b"Test content");
/// assert!(matches!(done.take_result(), Some(Ok(Some(b't')))));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`begin_file_transfer`](FileSender::begin_file_transfer) returns the
/// consumer's [`ProducerError`] if it already has a producer. A read error
/// fails the Deferred with that `io::Error` and ends the transfer.
///
/// # Twisted
///
/// The last byte is an `Option<u8>` (Twisted's one-byte `bytes`, empty
/// for an empty file). Twisted lets a read error propagate out of
/// `resumeProducing`; here it fails the Deferred. `stop_producing` before
/// the end fails it with "Consumer asked us to stop producing", as in
/// Twisted.
#[derive(Clone)]
pub struct FileSender {
    inner: Rc<Inner>,
}

impl Default for FileSender {
    fn default() -> Self {
        FileSender::new()
    }
}

impl FileSender {
    /// A sender reading [`CHUNK_SIZE`] at a time.
    pub fn new() -> FileSender {
        let sender = FileSender {
            inner: Rc::default(),
        };
        sender.inner.chunk_size.set(CHUNK_SIZE);
        sender
    }

    /// Reads `size` bytes at a time instead (at least 1).
    pub fn with_chunk_size(self, size: usize) -> FileSender {
        self.inner.chunk_size.set(size.max(1));
        self
    }

    /// This sender as the consumer holds it.
    pub fn as_producer(&self) -> ProducerRef {
        ProducerRef::Pull(self.inner.clone())
    }

    /// Registers as `consumer`'s pull producer and sends `file` to it.
    ///
    /// # Errors
    ///
    /// The consumer's refusal to register it (a producer is already there).
    pub fn begin_file_transfer<C: Consumer + ?Sized + 'static>(
        &self,
        file: impl Read + 'static,
        consumer: Rc<C>,
    ) -> Result<Deferred<Option<u8>>, ProducerError> {
        self.begin(Box::new(file), consumer, None)
    }

    /// As [`begin_file_transfer`](FileSender::begin_file_transfer), passing
    /// every chunk through `transform` before it is written.
    ///
    /// # Errors
    ///
    /// The consumer's refusal to register it.
    pub fn begin_file_transfer_with<C: Consumer + ?Sized + 'static>(
        &self,
        file: impl Read + 'static,
        consumer: Rc<C>,
        transform: impl FnMut(Vec<u8>) -> Vec<u8> + 'static,
    ) -> Result<Deferred<Option<u8>>, ProducerError> {
        self.begin(Box::new(file), consumer, Some(Box::new(transform)))
    }

    fn begin<C: Consumer + ?Sized + 'static>(
        &self,
        file: Box<dyn Read>,
        consumer: Rc<C>,
        transform: Option<Transform>,
    ) -> Result<Deferred<Option<u8>>, ProducerError> {
        let deferred = Deferred::new();
        *self.inner.file.borrow_mut() = Some(file);
        *self.inner.transform.borrow_mut() = transform;
        *self.inner.deferred.borrow_mut() = Some(deferred.clone());
        *self.inner.consumer.borrow_mut() = Some(Box::new(consumer.clone()));
        if let Err(error) = consumer.register_producer(self.as_producer()) {
            self.inner.file.borrow_mut().take();
            self.inner.consumer.borrow_mut().take();
            self.inner.deferred.borrow_mut().take();
            return Err(error);
        }
        Ok(deferred)
    }
}

impl Inner {
    /// Reads one chunk: `Ok(empty)` at the end of the file.
    fn read_chunk(&self) -> io::Result<Vec<u8>> {
        let Some(mut file) = self.file.borrow_mut().take() else {
            return Ok(Vec::new());
        };
        let mut chunk = vec![0; self.chunk_size.get()];
        let read = loop {
            match file.read(&mut chunk) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let read = read?;
        chunk.truncate(read);
        if read > 0 {
            *self.file.borrow_mut() = Some(file);
        }
        Ok(chunk)
    }

    /// Ends the transfer: unregisters and fires the Deferred with `result`.
    fn finish(&self, result: Result<Option<u8>, Failure>) {
        self.file.borrow_mut().take();
        let consumer = self.consumer.borrow_mut().take();
        if let Some(consumer) = consumer {
            consumer.unregister();
        }
        let deferred = self.deferred.borrow_mut().take();
        if let Some(deferred) = deferred {
            let _ = deferred.try_resolve(result);
        }
    }
}

impl Producer for Inner {
    fn stop_producing(&self) {
        self.file.borrow_mut().take();
        self.consumer.borrow_mut().take();
        let deferred = self.deferred.borrow_mut().take();
        if let Some(deferred) = deferred {
            let _ = deferred.try_errback(Failure::msg("Consumer asked us to stop producing"));
        }
    }
}

impl PullProducer for Inner {
    fn resume_producing(&self) {
        let chunk = match self.read_chunk() {
            Ok(chunk) => chunk,
            Err(error) => return self.finish(Err(Failure::new(error))),
        };
        if chunk.is_empty() {
            return self.finish(Ok(self.last_sent.get()));
        }
        let transform = self.transform.borrow_mut().take();
        let chunk = match transform {
            Some(mut transform) => {
                let chunk = transform(chunk);
                *self.transform.borrow_mut() = Some(transform);
                chunk
            }
            None => chunk,
        };
        let consumer = self.consumer.borrow_mut().take();
        if let Some(consumer) = consumer {
            consumer.write(&chunk);
            let mut slot = self.consumer.borrow_mut();
            if slot.is_none() {
                *slot = Some(consumer);
            }
        }
        if let Some(&last) = chunk.last() {
            self.last_sent.set(Some(last));
        }
    }
}

impl Producer for FileSender {
    fn stop_producing(&self) {
        self.inner.stop_producing();
    }
}

impl PullProducer for FileSender {
    fn resume_producing(&self) {
        self.inner.resume_producing();
    }
}

impl fmt::Debug for FileSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSender")
            .field("chunk_size", &self.inner.chunk_size.get())
            .field("sending", &self.inner.file.borrow().is_some())
            .finish()
    }
}
