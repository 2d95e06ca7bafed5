//! What the engine tells whoever measures it (the server's metrics), without depending on
//! any metrics library.
//!
//! Every run change passes through `events::record`, which notes the ones an
//! [`Observer`] counts ([`RunChange`]) in the write's [`crate::Effects`] — only when an
//! observer is set ([`crate::Engine::with_observer`]). [`crate::Engine::write`] hands them to
//! the observer after the commit: a write that rolled back is never counted. The timer loop
//! tells it what each committed batch fired.

use trigr_store::{LiveWorkers, QueueLoad, Run};
use trigr_types::{Millis, RunStatus};

use crate::presence::WORKER_SEEN_WINDOW_MS;
use crate::timers::Fired;
use crate::{Engine, Result};

/// A run change an observer counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunChange {
    /// A run was triggered.
    Created { task: String },
    /// A run was dequeued into a new attempt; `waited_ms` is how long its first attempt
    /// waited from the trigger (or the end of its delay), `None` for a later attempt.
    Started {
        task: String,
        waited_ms: Option<Millis>,
    },
    /// A run reached a final status; `ran_ms` is the time from its first start to the end,
    /// `None` when it never started.
    Finished {
        task: String,
        status: RunStatus,
        ran_ms: Option<Millis>,
    },
}

impl RunChange {
    /// The change from `before` (`None`: a new run) to `after` an observer counts, if any.
    pub fn of(before: Option<&Run>, after: &Run) -> Option<RunChange> {
        let task = || after.task_id.clone();
        let Some(before) = before else {
            return Some(RunChange::Created { task: task() });
        };
        if after.status.is_leased() && !before.status.is_leased() && after.attempt > before.attempt
        {
            let waited_ms = match (before.started_at, after.started_at) {
                (None, Some(start)) => {
                    let due = after.delay_until.unwrap_or(after.created_at);
                    Some(start - due.max(after.created_at))
                }
                _ => None,
            };
            return Some(RunChange::Started {
                task: task(),
                waited_ms,
            });
        }
        if after.status.is_final() && !before.status.is_final() {
            let ran_ms = match (after.started_at, after.finished_at) {
                (Some(start), Some(end)) => Some(end - start),
                _ => None,
            };
            return Some(RunChange::Finished {
                task: task(),
                status: after.status,
                ran_ms,
            });
        }
        None
    }
}

/// Told of the engine's committed work. Every method has a no-op default; calls come from
/// the async workers right after a commit, so an implementation keeps them cheap and never
/// blocks.
pub trait Observer: Send + Sync {
    /// Run changes one committed write made.
    fn runs_changed(&self, _changes: Vec<RunChange>) {}
    /// What one committed batch of the timer loop fired.
    fn timers_fired(&self, _fired: &Fired) {}
    /// The mollifier's drainer created a buffered run `lag_ms` after its trigger was accepted.
    fn buffered_drained(&self, _lag_ms: Millis) {}
}

/// The observer of an engine nobody measures.
pub struct NoObserver;

impl Observer for NoObserver {}

/// Most queues [`Engine::gauges`] reports.
pub const MAX_GAUGE_QUEUES: usize = 1000;
/// Most versions with workers [`Engine::gauges`] reports.
pub const MAX_GAUGE_VERSIONS: usize = 1000;

/// What a metrics scrape reports as it is now: read from the store (the same on every server
/// of a database), except the realtime subscribers, which are this server's.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Queues of every environment, ordered by environment and name, at most
    /// [`MAX_GAUGE_QUEUES`].
    pub queues: Vec<QueueLoad>,
    /// How many workers of each version asked for runs within
    /// [`crate::presence::WORKER_SEEN_WINDOW_MS`], at most [`MAX_GAUGE_VERSIONS`] versions.
    pub live_workers: Vec<LiveWorkers>,
    /// Realtime subscribers connected to this server.
    pub realtime_subscribers: usize,
    /// The mollifier's buffers (at most [`MAX_GAUGE_BUFFERS`] environments), tripped
    /// environments and counters.
    pub mollifier: MollifierGauges,
}

/// Most environments whose buffer [`Engine::gauges`] reports.
pub const MAX_GAUGE_BUFFERS: i64 = 1000;

/// The mollifier as a scrape reports it.
#[derive(Clone, Debug, Default)]
pub struct MollifierGauges {
    /// `(environment, entries, age of the oldest in ms)`; `None` when the buffer could not be
    /// read (a sick buffer never fails a scrape).
    pub buffers: Option<Vec<(String, i64, Millis)>>,
    /// Which of those environments are tripped now (on this server's evaluator).
    pub tripped: Vec<String>,
    /// `(outcome, reason, count)` of every gate decision.
    pub decisions: Vec<(&'static str, &'static str, u64)>,
    pub buffered: u64,
    pub drained: u64,
    pub failed: u64,
    pub expired: u64,
    /// Triggers sent straight to the engine because the buffer failed.
    pub buffer_fail_open: u64,
    /// Environments skipped for a drain tick after a failure.
    pub env_errors: u64,
    /// Trigger requests of a tripped environment that waited for an admission slot.
    pub admission_waits: u64,
}

impl Engine {
    /// The gauges of a metrics scrape: one read of the store, bounded.
    pub async fn gauges(&self) -> Result<Gauges> {
        let since = self.now() - WORKER_SEEN_WINDOW_MS;
        let (queues, live_workers) = self
            .read(move |tx| {
                Ok((
                    tx.queue_loads(MAX_GAUGE_QUEUES)?,
                    tx.live_workers(since, MAX_GAUGE_VERSIONS)?,
                ))
            })
            .await?;
        Ok(Gauges {
            queues,
            live_workers,
            realtime_subscribers: self.realtime_subscribers(),
            mollifier: self.mollifier_gauges().await,
        })
    }

    /// The mollifier's part of a scrape: its counters, and its buffers read now.
    pub async fn mollifier_gauges(&self) -> MollifierGauges {
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.mollifier();
        let now = self.now();
        let buffers = match m.buffer().depths(MAX_GAUGE_BUFFERS).await {
            Ok(depths) => Some(
                depths
                    .into_iter()
                    .map(|d| (d.env_id, d.depth, (now - d.oldest_at).max(0)))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the mollifier's buffer could not be read for metrics");
                None
            }
        };
        let tripped = buffers
            .iter()
            .flatten()
            .filter(|(env, _, _)| m.is_tripped(env, now))
            .map(|(env, _, _)| env.clone())
            .collect();
        let s = m.stats();
        MollifierGauges {
            buffers,
            tripped,
            decisions: s.decisions(),
            buffered: s.buffered.load(Relaxed),
            drained: s.drained.load(Relaxed),
            failed: s.failed.load(Relaxed),
            expired: s.expired.load(Relaxed),
            buffer_fail_open: s.buffer_fail_open.load(Relaxed),
            env_errors: s.env_errors.load(Relaxed),
            admission_waits: s.admission_waits.load(Relaxed),
        }
    }
}
