//! Panics of the code under test: caught per case and recorded with their location instead of
//! printed. Panics outside a case (other threads, the program itself) still go to the hook that
//! was installed before.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

/// A panic caught in a case.
#[derive(Clone, Debug)]
pub struct Caught {
    /// The panic message.
    pub message: String,
    /// `file:line` of the panic.
    pub location: String,
}

thread_local! {
    /// Whether this thread is running a case (its panics are recorded, not printed).
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// The last panic of a case on this thread.
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the recording hook (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                LAST.with(|last| *last.borrow_mut() = Some(caught(info)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic in it comes back as `Err` with its message and location.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Caught> {
    IN_CASE.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_CASE.with(|c| c.set(false));
    result.map_err(|payload| {
        LAST.with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| Caught {
                message: payload_text(payload.as_ref()),
                location: "unknown location".into(),
            })
    })
}

fn caught(info: &PanicHookInfo<'_>) -> Caught {
    let hook_location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_else(|| "unknown location".into());
    Caught {
        message: payload_text(info.payload()),
        location: trigr_frame().unwrap_or(hook_location),
    }
}

/// `crates/<crate>/src/<file>:<line>` of the innermost frame in trigr's own code, other than
/// this crate: where a panic inside the standard library (a bad slice index) was called from.
fn trigr_frame() -> Option<String> {
    let trace = Backtrace::force_capture().to_string();
    trace.lines().find_map(|line| {
        let path = line.trim().strip_prefix("at ")?;
        let from = path.find("crates/trigr")?;
        let path = &path[from..];
        if path.starts_with("crates/trigr-fuzz/") {
            return None;
        }
        // `file:line:column` → `file:line`
        Some(
            path.rsplit_once(':')
                .map_or(path, |(head, _)| head)
                .to_string(),
        )
    })
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}
