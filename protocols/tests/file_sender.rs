//! `FileSender`: Twisted's `FileSenderTests`
//! (`twisted/protocols/test/test_basic.py` and `twisted/test/test_tpfile.py`).

use std::io::{self, Cursor, Read};
use std::rc::Rc;

use torsion_protocols::FileSender;
use torsion_reactor::error::ProducerError;
use torsion_reactor::{Consumer, Producer, ProducerRef, PullProducer};
use torsion_testing::{failure_result_of, success_result_of, StringTransport};

fn source() -> Cursor<Vec<u8>> {
    Cursor::new(b"Test content".to_vec())
}

/// Twisted's `test_interface`: `FileSender` is a pull producer.
#[test]
fn interface() {
    fn is_pull_producer(_: &dyn PullProducer) {}
    let sender = FileSender::new();
    is_pull_producer(&sender);
    assert!(!sender.as_producer().is_streaming());
}

/// Twisted's `test_producerRegistered`: `begin_file_transfer` registers
/// the sender with the consumer as a non-streaming producer.
#[test]
fn producer_registered() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let _d = sender
        .begin_file_transfer(source(), consumer.clone())
        .expect("no producer yet");
    assert!(consumer
        .producer()
        .is_some_and(|p| p.is_same(&sender.as_producer())));
    assert_eq!(consumer.is_streaming(), Some(false));
}

/// Twisted's `test_transfer`: the content goes to the consumer, and the
/// Deferred fires with the last byte sent.
#[test]
fn transfer() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let d = sender
        .begin_file_transfer(source(), consumer.clone())
        .expect("no producer yet");
    sender.resume_producing();
    // resume_producing only finishes after trying to read at EOF
    sender.resume_producing();
    assert!(consumer.producer().is_none());
    assert_eq!(success_result_of(&d), Some(b't'));
    assert_eq!(consumer.value(), b"Test content");
}

/// Twisted's `test_transferMultipleChunks`: at most the chunk size is read
/// each time it resumes.
#[test]
fn transfer_multiple_chunks() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new().with_chunk_size(4);
    let d = sender
        .begin_file_transfer(source(), consumer.clone())
        .expect("no producer yet");
    sender.resume_producing();
    assert_eq!(consumer.value(), b"Test");
    assert!(!d.is_called());
    sender.resume_producing();
    assert_eq!(consumer.value(), b"Test con");
    sender.resume_producing();
    assert_eq!(consumer.value(), b"Test content");
    sender.resume_producing();
    assert_eq!(success_result_of(&d), Some(b't'));
    assert_eq!(consumer.value(), b"Test content");
}

/// Twisted's `test_transferWithTransform`: a transform changes the data on
/// the fly.
#[test]
fn transfer_with_transform() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let d = sender
        .begin_file_transfer_with(source(), consumer.clone(), |mut chunk| {
            for byte in &mut chunk {
                *byte = if byte.is_ascii_uppercase() {
                    byte.to_ascii_lowercase()
                } else {
                    byte.to_ascii_uppercase()
                };
            }
            chunk
        })
        .expect("no producer yet");
    sender.resume_producing();
    sender.resume_producing();
    assert_eq!(success_result_of(&d), Some(b'T'));
    assert_eq!(consumer.value(), b"tEST CONTENT");
}

/// Twisted's `test_abortedTransfer`: the Deferred fails if
/// `stop_producing` comes before the end.
#[test]
fn aborted_transfer() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let d = sender
        .begin_file_transfer(source(), consumer)
        .expect("no producer yet");
    sender.stop_producing();
    let failure = failure_result_of(&d);
    assert_eq!(
        failure.error_message(),
        "Consumer asked us to stop producing"
    );
}

/// Twisted's `testSendingEmptyFile`: an empty file finishes at the first
/// request, unregistering, with no last byte.
#[test]
fn sending_empty_file() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let d = sender
        .begin_file_transfer(Cursor::new(Vec::new()), consumer.clone())
        .expect("no producer yet");
    sender.resume_producing();
    assert!(consumer.producer().is_none());
    assert_eq!(success_result_of(&d), None);
}

/// Twisted's `testSendingFile`, in memory: a larger file arrives whole, in
/// chunks.
#[test]
fn sending_file() {
    let mut content = Vec::new();
    for piece in [b"xyz", b"abc", b"123"] {
        for _ in 0..100 {
            content.extend_from_slice(piece);
        }
    }
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new().with_chunk_size(64);
    let d = sender
        .begin_file_transfer_with(Cursor::new(content.clone()), consumer.clone(), |x| x)
        .expect("no producer yet");
    let mut requests = 0;
    while !d.is_called() {
        sender.resume_producing();
        requests += 1;
    }
    assert_eq!(requests, content.len().div_ceil(64) + 1);
    assert_eq!(consumer.value(), content);
    assert_eq!(success_result_of(&d), Some(b'3'));
}

/// A consumer with a producer already refuses the second one.
#[test]
fn already_registered() {
    let consumer = Rc::new(StringTransport::new());
    let first = FileSender::new();
    let _d = first
        .begin_file_transfer(source(), consumer.clone())
        .expect("no producer yet");
    let second = FileSender::new();
    let refused = second.begin_file_transfer(source(), consumer.clone());
    assert_eq!(refused.unwrap_err(), ProducerError::AlreadyRegistered);
    assert!(consumer
        .producer()
        .is_some_and(|p| p.is_same(&first.as_producer())));
}

struct Broken;
impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
}

/// A read error fails the Deferred and ends the transfer.
#[test]
fn read_error_fails_the_transfer() {
    let consumer = Rc::new(StringTransport::new());
    let sender = FileSender::new();
    let d = sender
        .begin_file_transfer(Broken, consumer.clone())
        .expect("no producer yet");
    sender.resume_producing();
    assert!(failure_result_of(&d).check::<io::Error>());
    assert!(consumer.producer().is_none());
    let _: Option<ProducerRef> = consumer.producer();
    let _ = consumer.unregister_producer();
}
