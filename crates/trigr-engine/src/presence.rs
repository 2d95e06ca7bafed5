//! Worker presence: when a worker of each version, and a worker serving each region, last
//! asked for runs (a dequeue, or the registration of its deployment), and which workers did.
//! It tells which versions have workers and how many, and why a run locked to a version, or
//! in a region, without any does not start
//! ([`crate::explain`]).
//!
//! A dequeue records its worker at most every [`TOUCH_EVERY_MS`] per server (an in-memory
//! note of the last write), inside its own write transaction, so long-polling workers cost a
//! few extra row writes every few seconds, not one per dequeue. Workers are told apart by the
//! id their dequeue names ([`worker_key`]).

use std::collections::HashMap;
use std::sync::Mutex;

use trigr_store::ReadTx;
use trigr_types::Millis;

use crate::{Engine, Result, Txn};

/// A version "has workers" when a worker of it asked for runs within this window (30 s).
pub const WORKER_SEEN_WINDOW_MS: Millis = 30_000;

/// A server writes a worker's presence at most this often (5 s); well inside the window.
pub const TOUCH_EVERY_MS: Millis = 5_000;

/// A worker not seen for this long (1 h) is forgotten by its version's next presence write.
pub const WORKER_FORGOTTEN_AFTER_MS: Millis = 3_600_000;

/// The most workers a server keeps a note of; past it, notes older than [`TOUCH_EVERY_MS`]
/// are dropped, and a worker that still finds no room is not recorded by this dequeue.
pub const MAX_THROTTLE_NOTES: usize = 10_000;

/// The longest worker id kept (bytes); a longer one, or one with control characters, counts
/// as a worker that names none.
pub const MAX_WORKER_ID_LEN: usize = 200;

/// Most versions whose live workers are counted in one read.
const MAX_LIVE_VERSIONS: usize = 1_000;

/// The id a worker's presence is kept under: the one its dequeue names when that is a short
/// printable text, else `""` (every worker of the version that names none counts as one).
pub fn worker_key(named: Option<&str>) -> &str {
    match named {
        Some(id) if id.len() <= MAX_WORKER_ID_LEN && !id.chars().any(char::is_control) => id,
        _ => "",
    }
}

/// When this server last wrote each (environment, version, region, worker)'s presence.
#[derive(Default)]
pub struct PresenceThrottle {
    written: Mutex<HashMap<(String, String, String, String), Millis>>,
}

impl PresenceThrottle {
    /// Whether a presence write at `now` is due (none for [`TOUCH_EVERY_MS`], or the clock went
    /// back); if so, notes `now` as written.
    pub fn due(
        &self,
        env_id: &str,
        version: &str,
        region: &str,
        worker: &str,
        now: Millis,
    ) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let key = (
            env_id.to_string(),
            version.to_string(),
            region.to_string(),
            worker.to_string(),
        );
        if let Some(last) = written.get_mut(&key) {
            if (0..TOUCH_EVERY_MS).contains(&(now - *last)) {
                return false;
            }
            *last = now;
            return true;
        }
        if written.len() >= MAX_THROTTLE_NOTES {
            written.retain(|_, last| (0..TOUCH_EVERY_MS).contains(&(now - *last)));
            if written.len() >= MAX_THROTTLE_NOTES {
                return false;
            }
        }
        written.insert(key, now);
        true
    }
}

/// Records, throttled, that worker `worker` (see [`worker_key`]) of `version` serving `region`
/// asked for runs: only for a version that exists, so a worker naming a wrong version leaves
/// no trace.
pub(crate) fn touch(
    throttle: &PresenceThrottle,
    tx: &mut Txn<'_>,
    env_id: &str,
    version: &str,
    region: &str,
    worker: &str,
    now: Millis,
) -> Result<()> {
    if throttle.due(env_id, version, region, worker, now)
        && tx.loaded_deployment(env_id, version)?.is_some()
    {
        tx.touch_worker(env_id, version, now)?;
        tx.touch_region(env_id, region, now)?;
        tx.touch_worker_instance(
            env_id,
            version,
            worker,
            now,
            now - WORKER_FORGOTTEN_AFTER_MS,
        )?;
        // Which versions serve triggers in development follows their workers.
        tx.versions_changed();
    }
    Ok(())
}

/// When a worker of each version of an environment was last seen, and how many are live, as
/// of `now`.
#[derive(Clone, Debug, Default)]
pub struct WorkersSeen {
    pub now: Millis,
    pub last_seen: HashMap<String, Millis>,
    /// Workers of each version that asked for runs within [`WORKER_SEEN_WINDOW_MS`].
    pub live: HashMap<String, i64>,
}

impl WorkersSeen {
    pub fn read(tx: &mut dyn ReadTx, env_id: &str, now: Millis) -> Result<WorkersSeen> {
        let since = now - WORKER_SEEN_WINDOW_MS;
        Ok(WorkersSeen {
            now,
            last_seen: tx.workers_seen(env_id)?.into_iter().collect(),
            live: tx
                .live_workers_in(env_id, since, MAX_LIVE_VERSIONS)?
                .into_iter()
                .collect(),
        })
    }

    /// How many workers of `version` asked for runs within [`WORKER_SEEN_WINDOW_MS`].
    pub fn live_workers(&self, version: &str) -> i64 {
        self.live.get(version).copied().unwrap_or(0)
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
        assert!(t.due("env", "1", "r", "w", 1_000));
        assert!(!t.due("env", "1", "r", "w", 1_000));
        assert!(!t.due("env", "1", "r", "w", 1_000 + TOUCH_EVERY_MS - 1));
        assert!(t.due("env", "2", "r", "w", 1_000), "another version");
        assert!(t.due("other", "1", "r", "w", 1_000), "another environment");
        assert!(t.due("env", "1", "r", "v", 1_000), "another worker");
        assert!(t.due("env", "1", "s", "w", 1_000), "another region");
        assert!(t.due("env", "1", "r", "w", 1_000 + TOUCH_EVERY_MS));
        assert!(t.due("env", "1", "r", "w", 0), "the clock went back");
    }

    #[test]
    fn keeps_a_bounded_number_of_notes() {
        let t = PresenceThrottle::default();
        for i in 0..MAX_THROTTLE_NOTES {
            assert!(t.due("env", "1", "r", &i.to_string(), 1_000));
        }
        assert!(
            !t.due("env", "1", "r", "one more", 1_000),
            "full of fresh notes"
        );
        let later = 1_000 + TOUCH_EVERY_MS;
        assert!(
            t.due("env", "1", "r", "one more", later),
            "stale notes make room"
        );
        assert_eq!(t.written.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_worker_is_known_by_a_short_printable_id() {
        assert_eq!(worker_key(Some("host:42")), "host:42");
        assert_eq!(worker_key(None), "");
        assert_eq!(worker_key(Some("a\nb")), "");
        assert_eq!(worker_key(Some(&"x".repeat(MAX_WORKER_ID_LEN + 1))), "");
    }

    #[test]
    fn has_workers_within_the_window() {
        let seen = WorkersSeen {
            now: 100_000,
            last_seen: [("1".to_string(), 70_000), ("2".to_string(), 69_999)].into(),
            live: [("1".to_string(), 2)].into(),
        };
        assert_eq!(seen.live_workers("1"), 2);
        assert_eq!(seen.live_workers("2"), 0);
        assert!(seen.has_workers("1"));
        assert!(!seen.has_workers("2"));
        assert!(!seen.has_workers("3"));
        assert_eq!(seen.last_seen("3"), None);
    }
}
