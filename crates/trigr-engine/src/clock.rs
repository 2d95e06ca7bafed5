//! The one source of time. Tests use [`ManualClock`] and move it instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use trigr_types::Millis;

pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Time that moves only when told to.
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Millis) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(start),
        }
    }

    pub fn advance(&self, ms: Millis) -> Millis {
        self.now.fetch_add(ms, Ordering::SeqCst) + ms
    }

    pub fn set(&self, at: Millis) {
        self.now.store(at, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}
