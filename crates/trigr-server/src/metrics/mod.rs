//! Prometheus metrics (`GET /metrics`, OpenMetrics text), with `prometheus-client`.
//!
//! Where the figures come from:
//!
//! * run counters and histograms: the engine's [`Observer`], told of each write's run changes
//!   after its commit (a write that rolled back is never counted);
//! * timers fired: the timer loop, after each committed batch;
//! * HTTP request durations: the edge middleware ([`Metrics::http`]), labelled by the route's
//!   template (axum's `MatchedPath`), never the raw path;
//! * store commits: the store's [`CommitObserver`], on its writer thread;
//! * queue depth and running, versions with workers, realtime subscribers: read at scrape
//!   time ([`trigr_engine::Engine::gauges`]), from the store, so every server of a cluster
//!   reports the same truth.
//!
//! Task ids are user input: each family labelled by task holds at most [`MAX_TASK_LABELS`]
//! label sets, and counts any further task as `task="_other"` ([`capped`]).
//!
//! `/metrics` is served on its own listener (`--metrics-listen`), and on the API's listener
//! only behind a bearer token (`--metrics-token`); see `docs/observability.md`.

mod capped;
mod http;
mod scrape;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use trigr_engine::observe::{Observer, RunChange};
use trigr_engine::timers::Fired;
use trigr_store::observe::{Commit, CommitObserver};

use capped::Capped;
pub(crate) use http::{Routes, UNMATCHED as UNMATCHED_ROUTE};
pub(crate) use scrape::{listener_router, token_router};

/// Most label sets of a family labelled by task; more tasks count as `task="_other"`.
pub const MAX_TASK_LABELS: usize = 1000;
/// The task label of the tasks past [`MAX_TASK_LABELS`].
pub const OTHER_TASK: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    task: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimerLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: &'static str,
    status: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The kinds of timers, as [`Fired`] counts them.
const TIMER_KINDS: [&str; 7] = [
    "delay",
    "ttl",
    "lease",
    "max_duration",
    "waitpoint",
    "schedule",
    "dev_migration",
];

/// Every metric the server keeps in memory, and their registry.
pub struct Metrics {
    registry: Registry,
    runs_created: Capped<TaskLabels, Counter>,
    runs_started: Capped<TaskLabels, Counter>,
    runs_finished: Capped<FinishedLabels, Counter>,
    trigger_to_start: Histogram,
    run_duration: Histogram,
    /// By [`TIMER_KINDS`], in that order.
    timers: [Counter; TIMER_KINDS.len()],
    http: HistogramFamily<HttpLabels>,
    routes: Routes,
    commit_duration: Histogram,
    commit_writes: Histogram,
    drain_lag: Histogram,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        let runs_created = Capped::new(Family::default(), MAX_TASK_LABELS);
        let runs_started = Capped::new(Family::default(), MAX_TASK_LABELS);
        let runs_finished = Capped::new(Family::default(), MAX_TASK_LABELS);
        registry.register(
            "trigr_runs_created",
            "Runs triggered, by task",
            runs_created.family(),
        );
        registry.register(
            "trigr_runs_started",
            "Attempts started (runs dequeued into a new attempt), by task",
            runs_started.family(),
        );
        registry.register(
            "trigr_runs_finished",
            "Runs that reached a final status, by task and status",
            runs_finished.family(),
        );
        let trigger_to_start = Histogram::new(exponential_buckets(0.005, 2.0, 15));
        registry.register_with_unit(
            "trigr_run_trigger_to_start",
            "Time from a run's trigger (or the end of its delay) to the start of its first attempt",
            Unit::Seconds,
            trigger_to_start.clone(),
        );
        let run_duration = Histogram::new(exponential_buckets(0.01, 4.0, 12));
        registry.register_with_unit(
            "trigr_run_duration",
            "Time from a run's first start to its final status",
            Unit::Seconds,
            run_duration.clone(),
        );
        let timer_family = Family::<TimerLabels, Counter>::default();
        registry.register(
            "trigr_timers_fired",
            "Timers fired, by kind",
            timer_family.clone(),
        );
        let timers =
            TIMER_KINDS.map(|kind| timer_family.get_or_create_owned(&TimerLabels { kind }));
        let http: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register_with_unit(
            "trigr_http_request_duration",
            "Time to answer an HTTP request (to the head of the answer), by method, route \
             template and status class",
            Unit::Seconds,
            http.clone(),
        );
        let commit_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register_with_unit(
            "trigr_store_commit_duration",
            "Time of a store transaction, from its first statement to its durable commit",
            Unit::Seconds,
            commit_duration.clone(),
        );
        let commit_writes = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "trigr_store_commit_writes",
            "Writes made durable by one commit (SQLite: the group commit's size; PostgreSQL: 1)",
            commit_writes.clone(),
        );
        let drain_lag = Histogram::new(exponential_buckets(0.01, 2.0, 18));
        registry.register_with_unit(
            "trigr_mollifier_drain_lag",
            "Time from a buffered trigger's acceptance to the creation of its run by the drainer",
            Unit::Seconds,
            drain_lag.clone(),
        );
        Arc::new(Metrics {
            registry,
            drain_lag,
            runs_created,
            runs_started,
            runs_finished,
            trigger_to_start,
            run_duration,
            timers,
            http,
            routes: Routes::default(),
            commit_duration,
            commit_writes,
        })
    }

    /// Counts one answered HTTP request: `route` is its matched route template (`None`: no
    /// route matched).
    pub(crate) fn http(
        &self,
        method: &axum::http::Method,
        route: Option<&str>,
        status: axum::http::StatusCode,
        seconds: f64,
    ) {
        let labels = HttpLabels {
            method: http::method(method),
            route: self.routes.intern(route),
            status: http::class(status),
        };
        self.http.get_or_create(&labels).observe(seconds);
    }
}

fn other_task(labels: TaskLabels) -> TaskLabels {
    drop(labels);
    TaskLabels {
        task: OTHER_TASK.to_string(),
    }
}

fn other_finished(labels: FinishedLabels) -> FinishedLabels {
    FinishedLabels {
        task: OTHER_TASK.to_string(),
        status: labels.status,
    }
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

impl Observer for Metrics {
    fn runs_changed(&self, changes: Vec<RunChange>) {
        for change in changes {
            match change {
                RunChange::Created { task } => {
                    self.runs_created
                        .with(TaskLabels { task }, other_task, |c| {
                            c.inc();
                        })
                }
                RunChange::Started { task, waited_ms } => {
                    self.runs_started
                        .with(TaskLabels { task }, other_task, |c| {
                            c.inc();
                        });
                    if let Some(ms) = waited_ms {
                        self.trigger_to_start.observe(seconds(ms));
                    }
                }
                RunChange::Finished {
                    task,
                    status,
                    ran_ms,
                } => {
                    let labels = FinishedLabels {
                        task,
                        status: status.as_str(),
                    };
                    self.runs_finished.with(labels, other_finished, |c| {
                        c.inc();
                    });
                    if let Some(ms) = ran_ms {
                        self.run_duration.observe(seconds(ms));
                    }
                }
            }
        }
    }

    fn buffered_drained(&self, lag_ms: i64) {
        self.drain_lag.observe(seconds(lag_ms.max(0)));
    }

    fn timers_fired(&self, fired: &Fired) {
        let counts = [
            fired.delayed,
            fired.expired,
            fired.leases_expired,
            fired.timed_out,
            fired.waitpoints,
            fired.schedules,
            fired.migrated,
        ];
        for (counter, n) in self.timers.iter().zip(counts) {
            if n > 0 {
                counter.inc_by(n as u64);
            }
        }
    }
}

impl CommitObserver for Metrics {
    fn committed(&self, commit: Commit) {
        self.commit_duration.observe(commit.duration.as_secs_f64());
        self.commit_writes.observe(commit.writes as f64);
    }
}
