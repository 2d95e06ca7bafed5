//! Worker presence: when a worker of each version, and a worker serving each region, last
//! asked for runs (a dequeue, or the registration of its deployment). It tells which versions
//! have workers, and why a run locked to a version, or in a region, without any does not start
//! ([`crate::explain`]).
//!
//! A dequeue records its version at most every [`TOUCH_EVERY_MS`] per server (an in-memory
//! note of the last write), inside its own write transaction, so long-polling workers cost one
//! extra row write every few seconds, not one per dequeue.

use std::collections::HashMap;
use std::sync::Mutex;

use trigr_store::ReadTx;
use trigr_types::Millis;

use crate::{Engine, Result, Txn};

/// A version "has workers" when a worker of it asked for runs within this window (30 s).
pub const WORKER_SEEN_WINDOW_MS: Millis = 30_000;

/// A server writes a version's presence at most this often (5 s); well inside the window.
pub const TOUCH_EVERY_MS: Millis = 5_000;

/// When this server last wrote each (environment, version, region)'s presence.
#[derive(Default)]
pub struct PresenceThrottle {
    written: Mutex<HashMap<(String, String, String), Millis>>,
}

impl PresenceThrottle {
    /// Whether a presence write at `now` is due (none for [`TOUCH_EVERY_MS`], or the clock went
    /// back); if so, notes `now` as written.
    pub fn due(&self, env_id: &str, version: &str, region: &str, now: Millis) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let key = (env_id.to_string(), version.to_string(), region.to_string());
        if let Some(last) = written.get_mut(&key) {
            if (0..TOUCH_EVERY_MS).contains(&(now - *last)) {
                return false;
            }
            *last = now;
            return true;
        }
        written.insert(key, now);
        true
    }
}

/// Records, throttled, that a worker of `version` serving `region` asked for runs: only for a
/// version that exists, so a worker naming a wrong version leaves no trace.
pub(crate) fn touch(
    throttle: &PresenceThrottle,
    tx: &mut Txn<'_>,
    env_id: &str,
    version: &str,
    region: &str,
    now: Millis,
) -> Result<()> {
    if throttle.due(env_id, version, region, now)
        && tx.loaded_deployment(env_id, version)?.is_some()
    {
        tx.touch_worker(env_id, version, now)?;
        tx.touch_region(env_id, region, now)?;
        // Which versions serve triggers in development follows their workers.
        tx.versions_changed();
    }
    Ok(())
}

/// When a worker of each version of an environment was last seen, as of `now`.
#[derive(Clone, Debug, Default)]
pub struct WorkersSeen {
    pub now: Millis,
    pub last_seen: HashMap<String, Millis>,
}

impl WorkersSeen {
    pub fn read(tx: &mut dyn ReadTx, env_id: &str, now: Millis) -> Result<WorkersSeen> {
        Ok(WorkersSeen {
            now,
            last_seen: tx.workers_seen(env_id)?.into_iter().collect(),
        })
    }

    /// When a worker of `version` last asked for runs (`None`: never).
    pub fn last_seen(&self, version: &str) -> Option<Millis> {
        self.last_seen.get(version).copied()
    }

    /// A worker of `version` asked for runs within [`WORKER_SEEN_WINDOW_MS`].
    pub fn has_workers(&self, version: &str) -> bool {
        self.last_seen(version)
            .is_some_and(|t| self.now - t <= WORKER_SEEN_WINDOW_MS)
    }
}

impl Engine {
    /// When workers of each version of the environment were last seen.
    pub async fn workers_seen(&self, env_id: &str) -> Result<WorkersSeen> {
        let (env_id, now) = (env_id.to_string(), self.now());
        self.read(move |tx| WorkersSeen::read(tx, &env_id, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_at_most_every_few_seconds() {
        let t = PresenceThrottle::default();
        assert!(t.due("env", "1", "r", 1_000));
        assert!(!t.due("env", "1", "r", 1_000));
        assert!(!t.due("env", "1", "r", 1_000 + TOUCH_EVERY_MS - 1));
        assert!(t.due("env", "2", "r", 1_000), "another version");
        assert!(t.due("env", "1", "s", 1_000), "another region");
        assert!(t.due("other", "1", "r", 1_000), "another environment");
        assert!(t.due("env", "1", "r", 1_000 + TOUCH_EVERY_MS));
        assert!(t.due("env", "1", "r", 0), "the clock went back");
    }

    #[test]
    fn has_workers_within_the_window() {
        let seen = WorkersSeen {
            now: 100_000,
            last_seen: [("1".to_string(), 70_000), ("2".to_string(), 69_999)].into(),
        };
        assert!(seen.has_workers("1"));
        assert!(!seen.has_workers("2"));
        assert!(!seen.has_workers("3"));
        assert_eq!(seen.last_seen("3"), None);
    }
}
