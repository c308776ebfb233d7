//! [`LogCapture`]: capture `log` records in a test, scoped to it.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::sync::OnceLock;

use log::kv::Key;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// One captured `log` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRecord {
    /// Its level.
    pub level: Level,
    /// Its target (by default the module path that logged it).
    pub target: String,
    /// The formatted message.
    pub message: String,
    /// For failures logged with `torsion_reactor::log_failure`: the wrapped
    /// error's type name.
    pub failure_type: Option<String>,
}

#[derive(Default)]
struct Buffer {
    records: Vec<CapturedRecord>,
}

thread_local! {
    /// The captures active on this thread, innermost last.
    static ACTIVE: RefCell<Vec<Rc<RefCell<Buffer>>>> = const { RefCell::new(Vec::new()) };
}

/// The process-wide logger: hands each record to the innermost capture of
/// the thread that logged it; with none, prints warnings and errors to
/// stderr (which the test harness shows for failing tests).
struct Router;

static ROUTER: Router = Router;
static INSTALLED: OnceLock<bool> = OnceLock::new();

impl Log for Router {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let captured = CapturedRecord {
            level: record.level(),
            target: record.target().to_string(),
            message: record.args().to_string(),
            failure_type: record
                .key_values()
                .get(Key::from_str("failure_type"))
                .map(|value| value.to_string()),
        };
        let routed = ACTIVE
            .try_with(|active| match active.borrow().last() {
                Some(buffer) => {
                    buffer.borrow_mut().records.push(captured.clone());
                    true
                }
                None => false,
            })
            .unwrap_or(false);
        if !routed && record.level() <= Level::Warn {
            eprintln!(
                "[{} {}] {}",
                record.level(),
                record.target(),
                captured.message
            );
        }
    }

    fn flush(&self) {}
}

fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let ok = log::set_logger(&ROUTER).is_ok();
        if ok {
            log::set_max_level(LevelFilter::Trace);
        }
        ok
    })
}

/// Captures the `log` records of the current thread while it lives:
/// Twisted's log observers in trial, `catchLogs` and `flushLoggedErrors`.
///
/// Captures are scoped to the thread that started them, so tests running in
/// parallel never see each other's records; they nest (the innermost gets
/// the records). Records logged on other threads are not captured.
///
/// [`LogCapture::strict`] makes the capture fail the test, when dropped, if
/// an error-level record was logged and not flushed: an unhandled failure
/// in a dropped Deferred, say.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{error::CancelledError, Deferred};
/// use torsion_testing::LogCapture;
///
/// let logs = LogCapture::strict();
/// log::warn!("Duplicate ClientService.start_service");
/// logs.assert_logged(log::Level::Warn, "Duplicate");
///
/// // A Deferred dropped holding a failure logs it...
/// drop(Deferred::<()>::failed(CancelledError));
/// // ...and a strict capture fails the test unless it is flushed.
/// assert_eq!(logs.flush_logged_errors::<CancelledError>().len(), 1);
/// ```
///
/// # Panics
///
/// Starting a capture panics if another logger (e.g. `env_logger`) was
/// installed in the test process first: `log` allows one logger per process.
pub struct LogCapture {
    buffer: Rc<RefCell<Buffer>>,
    strict: bool,
}

impl LogCapture {
    fn begin(strict: bool) -> LogCapture {
        assert!(
            install(),
            "torsion_testing::LogCapture must be the process's logger: do not install another logger (env_logger::init) in tests"
        );
        let buffer = Rc::new(RefCell::new(Buffer::default()));
        ACTIVE.with(|active| active.borrow_mut().push(buffer.clone()));
        LogCapture { buffer, strict }
    }

    /// Starts capturing this thread's records.
    pub fn start() -> LogCapture {
        LogCapture::begin(false)
    }

    /// Starts capturing; when dropped, panics if an error-level record was
    /// not flushed with [`flush_logged_errors`](LogCapture::flush_logged_errors)
    /// or [`flush_errors`](LogCapture::flush_errors).
    pub fn strict() -> LogCapture {
        LogCapture::begin(true)
    }

    /// Every record captured and not flushed, in order.
    pub fn records(&self) -> Vec<CapturedRecord> {
        self.buffer.borrow().records.clone()
    }

    /// The messages of [`records`](LogCapture::records).
    pub fn messages(&self) -> Vec<String> {
        self.buffer
            .borrow()
            .records
            .iter()
            .map(|r| r.message.clone())
            .collect()
    }

    /// The error-level records.
    pub fn errors(&self) -> Vec<CapturedRecord> {
        self.buffer
            .borrow()
            .records
            .iter()
            .filter(|r| r.level == Level::Error)
            .cloned()
            .collect()
    }

    /// Asserts that a record at `level` contains `needle`.
    ///
    /// # Panics
    ///
    /// If none does, listing what was captured.
    pub fn assert_logged(&self, level: Level, needle: &str) {
        let found = self
            .buffer
            .borrow()
            .records
            .iter()
            .any(|r| r.level == level && r.message.contains(needle));
        assert!(
            found,
            "no {level} record containing {needle:?}; captured: {:#?}",
            self.records()
        );
    }

    /// Asserts that no record at `level` or more severe was captured.
    ///
    /// # Panics
    ///
    /// If one was, showing it.
    pub fn assert_nothing_at(&self, level: Level) {
        let bad: Vec<_> = self
            .records()
            .into_iter()
            .filter(|r| r.level <= level)
            .collect();
        assert!(
            bad.is_empty(),
            "unexpected records at {level} or worse: {bad:#?}"
        );
    }

    /// Removes and returns the error-level records of failures whose
    /// wrapped error is an `E` (Twisted's `flushLoggedErrors(E)`).
    pub fn flush_logged_errors<E: Error + 'static>(&self) -> Vec<CapturedRecord> {
        let wanted = std::any::type_name::<E>();
        self.flush_where(|r| r.level == Level::Error && r.failure_type.as_deref() == Some(wanted))
    }

    /// Removes and returns every error-level record.
    pub fn flush_errors(&self) -> Vec<CapturedRecord> {
        self.flush_where(|r| r.level == Level::Error)
    }

    fn flush_where(&self, matches: impl Fn(&CapturedRecord) -> bool) -> Vec<CapturedRecord> {
        let mut buffer = self.buffer.borrow_mut();
        let (flushed, kept) = std::mem::take(&mut buffer.records)
            .into_iter()
            .partition(|r| matches(r));
        buffer.records = kept;
        flushed
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|active| {
            active.borrow_mut().retain(|b| !Rc::ptr_eq(b, &self.buffer));
        });
        if self.strict && !std::thread::panicking() {
            let errors = self.errors();
            assert!(
                errors.is_empty(),
                "errors were logged and not flushed: {errors:#?}"
            );
        }
    }
}

impl fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogCapture")
            .field("records", &self.buffer.borrow().records.len())
            .field("strict", &self.strict)
            .finish()
    }
}
