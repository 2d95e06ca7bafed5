//! The trip evaluator: a fixed-window counter per environment. Each trigger that reaches it
//! counts in its environment's current one-second window; a window over the threshold trips
//! the environment for the hold time (extended while the rate stays over), after which it
//! re-arms and passes triggers again.
//!
//! [`TripCounter::hit`] is on the trigger path and must cost an in-memory increment: it never
//! does I/O. [`LocalTripCounter`] counts this server's triggers alone; the counter shared by
//! the servers of one deployment ([`super::shared_trip`]) counts locally the same way and
//! exchanges its counts in the background.

use std::collections::HashMap;
use std::sync::Mutex;

use trigr_types::Millis;

/// The evaluator's window.
pub const WINDOW_MS: Millis = 1000;

/// When an environment trips and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Triggers per second above which the environment trips.
    pub threshold: u32,
    /// How long it stays tripped after the last window over the threshold.
    pub hold_ms: Millis,
}

/// The evaluator could not answer (the trigger goes straight to the engine).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("trip evaluator unavailable: {0}")]
pub struct TripError(pub String);

/// Counts triggers per environment and says whether one is tripped.
pub trait TripCounter: Send + Sync {
    /// Counts one trigger of `env_id` at `now`; whether the environment is tripped.
    fn hit(&self, env_id: &str, now: Millis, limits: Limits) -> Result<bool, TripError>;
    /// Whether `env_id` is tripped at `now`, without counting.
    fn is_tripped(&self, env_id: &str, now: Millis) -> bool;
    /// Up to `limit` environments tripped at `now`, with when their hold ends, by id.
    fn tripped(&self, now: Millis, limit: usize) -> Vec<(String, Millis)>;
}

/// One environment's window.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: Millis,
    count: u64,
    tripped_until: Millis,
}

/// The counter of one server, in memory.
#[derive(Default)]
pub struct LocalTripCounter {
    windows: Mutex<HashMap<String, Window>>,
}

impl TripCounter for LocalTripCounter {
    fn hit(&self, env_id: &str, now: Millis, limits: Limits) -> Result<bool, TripError> {
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| TripError("counter lock poisoned".into()))?;
        let w = match windows.get_mut(env_id) {
            Some(w) => w,
            None => windows.entry(env_id.to_string()).or_default(),
        };
        let start = now - now.rem_euclid(WINDOW_MS);
        if w.start != start {
            w.start = start;
            w.count = 0;
        }
        w.count = w.count.saturating_add(1);
        if w.count > u64::from(limits.threshold) {
            w.tripped_until = now.saturating_add(limits.hold_ms);
        }
        Ok(now < w.tripped_until)
    }

    fn tripped(&self, now: Millis, limit: usize) -> Vec<(String, Millis)> {
        let Ok(windows) = self.windows.lock() else {
            return Vec::new();
        };
        still_tripped(
            windows.iter().map(|(e, w)| (e, w.tripped_until)),
            now,
            limit,
        )
    }

    fn is_tripped(&self, env_id: &str, now: Millis) -> bool {
        self.windows
            .lock()
            .ok()
            .and_then(|w| w.get(env_id).map(|w| now < w.tripped_until))
            .unwrap_or(false)
    }
}

/// Up to `limit` of the environments whose hold (until when they are tripped) has not ended
/// at `now`, by id.
pub(crate) fn still_tripped<'a>(
    holds: impl Iterator<Item = (&'a String, Millis)>,
    now: Millis,
    limit: usize,
) -> Vec<(String, Millis)> {
    let mut out: Vec<(String, Millis)> = holds
        .filter(|(_, until)| now < *until)
        .map(|(env, until)| (env.clone(), until))
        .collect();
    out.sort();
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_over_the_threshold_holds_then_rearms() {
        let c = LocalTripCounter::default();
        let limits = Limits {
            threshold: 3,
            hold_ms: 5_000,
        };
        let t0 = 1_000_000;
        let hits: Vec<bool> = (0..5)
            .map(|i| c.hit("e", t0 + i, limits).unwrap())
            .collect();
        assert_eq!(hits, [false, false, false, true, true]);
        // Another environment is not affected.
        assert!(!c.hit("f", t0, limits).unwrap());
        // Held in the next windows although the rate dropped.
        assert!(c.hit("e", t0 + 2_000, limits).unwrap());
        assert!(c.is_tripped("e", t0 + 5_003));
        // Re-armed after the hold.
        assert!(!c.hit("e", t0 + 5_004, limits).unwrap());
        assert!(!c.is_tripped("e", t0 + 5_004));
    }
}
