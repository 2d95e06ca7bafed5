//! Hang detection. A case that never returns cannot be stopped from inside the process, so a
//! watcher thread looks at the case in progress and, once it has run past the hang limit,
//! prints the parser and the input and ends the process with [`HANG_EXIT_CODE`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::report::shorten;

/// Exit status of a process ended by a hung case.
pub const HANG_EXIT_CODE: i32 = 3;

/// The case in progress.
struct Current {
    parser: &'static str,
    started: Instant,
    input: Arc<dyn Debug + Send + Sync>,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
static START: Once = Once::new();

/// Starts the watcher (once per process); cases running longer than `limit` end the process.
pub fn start(limit: Duration) {
    START.call_once(|| {
        std::thread::spawn(move || watch(limit));
    });
}

/// Marks the start of a case of `parser` on `input`.
pub fn begin(parser: &'static str, input: Arc<dyn Debug + Send + Sync>) {
    *lock() = Some(Current {
        parser,
        started: Instant::now(),
        input,
    });
}

/// Marks the end of the case in progress.
pub fn end() {
    *lock() = None;
}

fn lock() -> std::sync::MutexGuard<'static, Option<Current>> {
    CURRENT.lock().unwrap_or_else(|p| p.into_inner())
}

fn watch(limit: Duration) {
    let tick = (limit / 20).clamp(Duration::from_millis(10), Duration::from_millis(250));
    loop {
        std::thread::sleep(tick);
        let guard = lock();
        let Some(current) = guard.as_ref() else {
            continue;
        };
        let ran = current.started.elapsed();
        if ran > limit {
            eprintln!(
                "\nHANG in {}: a case has run for {:.1} s (limit {:.1} s) and does not return.\ninput: {}",
                current.parser,
                ran.as_secs_f64(),
                limit.as_secs_f64(),
                shorten(&format!("{:?}", current.input)),
            );
            std::process::exit(HANG_EXIT_CODE);
        }
    }
}
