//! The figures the benchmark reports, the table and the one-line JSON report.
//!
//! A scenario returns its SQLite figures; a run on PostgreSQL reports them under the figure of
//! the same label and the run's [`Target`] (see [`Figure::on`]), whose key starts with `pg_`
//! (one server) or `pg2_` (two servers). In the table a row is a label, a column a target.
//!
//! To add a figure: declare a [`Figure`], list it in [`FIGURES`] and return it from a scenario.

use serde::Serialize;

use crate::server::Target;
use crate::stats::{fmt_num, median, round_to};

/// A reported quantity: its JSON key, its table label (row), column and unit, and how many
/// decimals it keeps.
#[derive(Debug, PartialEq)]
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub target: Target,
    pub unit: &'static str,
    pub decimals: usize,
}

impl Figure {
    /// The figure of the same label measured on `target`, if the benchmark reports one.
    pub fn on(&'static self, target: Target) -> Option<&'static Figure> {
        FIGURES
            .iter()
            .copied()
            .find(|f| f.label == self.label && f.target == target)
    }
}

pub const TRIGGER_PER_S: Figure = Figure {
    key: "trigger_per_s",
    label: "trigger (1 run/request, 32c)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const TRIGGER_SERIAL_PER_S: Figure = Figure {
    key: "trigger_serial_per_s",
    label: "trigger (1 run/request, 1 client)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const BATCH_TRIGGER_PER_S: Figure = Figure {
    key: "batch_trigger_per_s",
    label: "batch trigger (500/batch, 4c)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const E2E_RUNS_PER_S: Figure = Figure {
    key: "e2e_runs_per_s",
    label: E2E_LABEL,
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "trigger_to_dequeue_p50_ms",
    label: P50_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "trigger_to_dequeue_p99_ms",
    label: P99_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const DISK_FSYNC_P50_MS: Figure = Figure {
    key: "disk_fsync_p50_ms",
    label: "disk fsync p50 (context)",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const DISK_FSYNC_P99_MS: Figure = Figure {
    key: "disk_fsync_p99_ms",
    label: "disk fsync p99 (context)",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const LOOPBACK_FANOUT_P50_MS: Figure = Figure {
    key: "loopback_fanout_p50_ms",
    label: "loopback fan-out p50 (context)",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const LOOPBACK_FANOUT_P99_MS: Figure = Figure {
    key: "loopback_fanout_p99_ms",
    label: "loopback fan-out p99 (context)",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const SDK_E2E_RUNS_PER_S: Figure = Figure {
    key: "sdk_e2e_runs_per_s",
    label: SDK_E2E_LABEL,
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const RESUME_P50_MS: Figure = Figure {
    key: "resume_p50_ms",
    label: RESUME_P50_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const RESUME_P99_MS: Figure = Figure {
    key: "resume_p99_ms",
    label: RESUME_P99_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const STEPS_PER_S: Figure = Figure {
    key: "steps_per_s",
    label: STEPS_LABEL,
    target: Target::Sqlite,
    unit: "steps/s",
    decimals: 0,
};

pub const SSE_FANOUT_EVENTS_PER_S: Figure = Figure {
    key: "sse_fanout_events_per_s",
    label: "SSE fan-out (1,000 subscribers)",
    target: Target::Sqlite,
    unit: "events/s",
    decimals: 0,
};

pub const DASHBOARD_RUNS_PAGE_P50_MS: Figure = Figure {
    key: "dashboard_runs_page_p50_ms",
    label: "dashboard runs page p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const DASHBOARD_RUNS_PAGE_FILTERED_P50_MS: Figure = Figure {
    key: "dashboard_runs_page_filtered_p50_ms",
    label: "dashboard runs page, filtered, p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const SSE_EVENT_P50_MS: Figure = Figure {
    key: "sse_event_p50_ms",
    label: "SSE change->subscriber p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const SSE_EVENT_P99_MS: Figure = Figure {
    key: "sse_event_p99_ms",
    label: "SSE change->subscriber p99",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PLAN_ACTIONS_PER_S: Figure = Figure {
    key: "plan_actions_per_s",
    label: "plan actions (100/plan, 16 plans)",
    target: Target::Sqlite,
    unit: "actions/s",
    decimals: 0,
};

pub const PLAN_ACTION_OVERHEAD_P50_MS: Figure = Figure {
    key: "plan_action_overhead_p50_ms",
    label: "plan action overhead p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

const E2E_LABEL: &str = "end-to-end (batch in, 4 workers)";
const SDK_E2E_LABEL: &str = "end-to-end (batch in, SDK worker)";
const RESUME_P50_LABEL: &str = "token complete->resume p50 (50/s)";
const RESUME_P99_LABEL: &str = "token complete->resume p99 (50/s)";
const STEPS_LABEL: &str = "journaled steps (100/run, 64c)";
const P50_LABEL: &str = "trigger->dequeue p50 (50/s)";
const P99_LABEL: &str = "trigger->dequeue p99 (50/s)";

pub const PG_E2E_RUNS_PER_S: Figure = Figure {
    key: "pg_e2e_runs_per_s",
    target: Target::Pg1,
    ..E2E_RUNS_PER_S
};

pub const PG2_E2E_RUNS_PER_S: Figure = Figure {
    key: "pg2_e2e_runs_per_s",
    target: Target::Pg2,
    ..E2E_RUNS_PER_S
};

pub const SERVER_RSS_MB: Figure = Figure {
    key: "server_rss_mb",
    label: "server process peak RSS (e2e)",
    target: Target::Sqlite,
    unit: "MB",
    decimals: 1,
};

pub const SERVER_CPU_S_PER_10K: Figure = Figure {
    key: "server_cpu_s_per_10k",
    label: "server process CPU per 10k (e2e)",
    target: Target::Sqlite,
    unit: "CPU-s",
    decimals: 2,
};

pub const PROCESS_RUNS_PER_S: Figure = Figure {
    key: "process_runs_per_s",
    label: "processing only (made first, 4w)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const PG_PROCESS_RUNS_PER_S: Figure = Figure {
    key: "pg_process_runs_per_s",
    target: Target::Pg1,
    ..PROCESS_RUNS_PER_S
};

pub const PG2_PROCESS_RUNS_PER_S: Figure = Figure {
    key: "pg2_process_runs_per_s",
    target: Target::Pg2,
    ..PROCESS_RUNS_PER_S
};

pub const PG_TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "pg_trigger_to_dequeue_p50_ms",
    target: Target::Pg1,
    ..TRIGGER_TO_DEQUEUE_P50_MS
};

pub const PG_TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "pg_trigger_to_dequeue_p99_ms",
    target: Target::Pg1,
    ..TRIGGER_TO_DEQUEUE_P99_MS
};

pub const PG2_TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "pg2_trigger_to_dequeue_p50_ms",
    target: Target::Pg2,
    ..TRIGGER_TO_DEQUEUE_P50_MS
};

pub const PG2_TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "pg2_trigger_to_dequeue_p99_ms",
    target: Target::Pg2,
    ..TRIGGER_TO_DEQUEUE_P99_MS
};

pub const PG_SDK_E2E_RUNS_PER_S: Figure = Figure {
    key: "pg_sdk_e2e_runs_per_s",
    target: Target::Pg1,
    ..SDK_E2E_RUNS_PER_S
};

pub const PG2_SDK_E2E_RUNS_PER_S: Figure = Figure {
    key: "pg2_sdk_e2e_runs_per_s",
    target: Target::Pg2,
    ..SDK_E2E_RUNS_PER_S
};

pub const PG_RESUME_P50_MS: Figure = Figure {
    key: "pg_resume_p50_ms",
    target: Target::Pg1,
    ..RESUME_P50_MS
};

pub const PG2_RESUME_P50_MS: Figure = Figure {
    key: "pg2_resume_p50_ms",
    target: Target::Pg2,
    ..RESUME_P50_MS
};

pub const PG_RESUME_P99_MS: Figure = Figure {
    key: "pg_resume_p99_ms",
    target: Target::Pg1,
    ..RESUME_P99_MS
};

pub const PG2_RESUME_P99_MS: Figure = Figure {
    key: "pg2_resume_p99_ms",
    target: Target::Pg2,
    ..RESUME_P99_MS
};

pub const PG_STEPS_PER_S: Figure = Figure {
    key: "pg_steps_per_s",
    target: Target::Pg1,
    ..STEPS_PER_S
};

pub const PG2_STEPS_PER_S: Figure = Figure {
    key: "pg2_steps_per_s",
    target: Target::Pg2,
    ..STEPS_PER_S
};

pub const BURST_TRIGGER_P50_MS: Figure = Figure {
    key: "burst_trigger_p50_ms",
    label: BURST_TRIGGER_P50_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_TRIGGER_P99_MS: Figure = Figure {
    key: "burst_trigger_p99_ms",
    label: BURST_TRIGGER_P99_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_OTHER_ENV_START_P50_MS: Figure = Figure {
    key: "burst_other_env_start_p50_ms",
    label: BURST_OTHER_P50_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_OTHER_ENV_START_P99_MS: Figure = Figure {
    key: "burst_other_env_start_p99_ms",
    label: BURST_OTHER_P99_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_OFF_OTHER_ENV_START_P50_MS: Figure = Figure {
    key: "burst_off_other_env_start_p50_ms",
    label: BURST_OFF_OTHER_P50_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_OFF_OTHER_ENV_START_P99_MS: Figure = Figure {
    key: "burst_off_other_env_start_p99_ms",
    label: BURST_OFF_OTHER_P99_LABEL,
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const BURST_LOST: Figure = Figure {
    key: "burst_lost",
    label: BURST_LOST_LABEL,
    target: Target::Sqlite,
    unit: "runs",
    decimals: 0,
};

pub const BURST_DRAIN_S: Figure = Figure {
    key: "burst_drain_s",
    label: BURST_DRAIN_LABEL,
    target: Target::Sqlite,
    unit: "s",
    decimals: 2,
};

const BURST_TRIGGER_P50_LABEL: &str = "burst: A trigger p50 (32c)";
const BURST_TRIGGER_P99_LABEL: &str = "burst: A trigger p99 (32c)";
const BURST_OTHER_P50_LABEL: &str = "burst: B trigger->dequeue p50";
const BURST_OTHER_P99_LABEL: &str = "burst: B trigger->dequeue p99";
const BURST_OFF_OTHER_P50_LABEL: &str = "burst, mollifier off: B p50";
const BURST_OFF_OTHER_P99_LABEL: &str = "burst, mollifier off: B p99";
const BURST_LOST_LABEL: &str = "burst: A triggers lost";
const BURST_DRAIN_LABEL: &str = "burst: last A trigger->all done";

pub const PG_BURST_TRIGGER_P50_MS: Figure = Figure {
    key: "pg_burst_trigger_p50_ms",
    target: Target::Pg1,
    ..BURST_TRIGGER_P50_MS
};

pub const PG_BURST_TRIGGER_P99_MS: Figure = Figure {
    key: "pg_burst_trigger_p99_ms",
    target: Target::Pg1,
    ..BURST_TRIGGER_P99_MS
};

pub const PG_BURST_OTHER_ENV_START_P50_MS: Figure = Figure {
    key: "pg_burst_other_env_start_p50_ms",
    target: Target::Pg1,
    ..BURST_OTHER_ENV_START_P50_MS
};

pub const PG_BURST_OTHER_ENV_START_P99_MS: Figure = Figure {
    key: "pg_burst_other_env_start_p99_ms",
    target: Target::Pg1,
    ..BURST_OTHER_ENV_START_P99_MS
};

pub const PG_BURST_OFF_OTHER_ENV_START_P50_MS: Figure = Figure {
    key: "pg_burst_off_other_env_start_p50_ms",
    target: Target::Pg1,
    ..BURST_OFF_OTHER_ENV_START_P50_MS
};

pub const PG_BURST_OFF_OTHER_ENV_START_P99_MS: Figure = Figure {
    key: "pg_burst_off_other_env_start_p99_ms",
    target: Target::Pg1,
    ..BURST_OFF_OTHER_ENV_START_P99_MS
};

pub const PG_BURST_LOST: Figure = Figure {
    key: "pg_burst_lost",
    target: Target::Pg1,
    ..BURST_LOST
};

pub const PG_BURST_DRAIN_S: Figure = Figure {
    key: "pg_burst_drain_s",
    target: Target::Pg1,
    ..BURST_DRAIN_S
};

pub const FLOOR_RUNS_PER_S: Figure = Figure {
    key: "floor_runs_per_s",
    label: "store floor (no server, no HTTP)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const PG_FLOOR_RUNS_PER_S: Figure = Figure {
    key: "pg_floor_runs_per_s",
    target: Target::Pg1,
    ..FLOOR_RUNS_PER_S
};

pub const DURABLE3_P50_MS: Figure = Figure {
    key: "durable3_p50_ms",
    label: "3-step run trigger->done p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PG_DURABLE3_P50_MS: Figure = Figure {
    key: "pg_durable3_p50_ms",
    target: Target::Pg1,
    ..DURABLE3_P50_MS
};

pub const PG2_DURABLE3_P50_MS: Figure = Figure {
    key: "pg2_durable3_p50_ms",
    target: Target::Pg2,
    ..DURABLE3_P50_MS
};

pub const DURABLE3_P99_MS: Figure = Figure {
    key: "durable3_p99_ms",
    label: "3-step run trigger->done p99",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PG_DURABLE3_P99_MS: Figure = Figure {
    key: "pg_durable3_p99_ms",
    target: Target::Pg1,
    ..DURABLE3_P99_MS
};

pub const PG2_DURABLE3_P99_MS: Figure = Figure {
    key: "pg2_durable3_p99_ms",
    target: Target::Pg2,
    ..DURABLE3_P99_MS
};

pub const DURABLE3_RUNS_PER_S: Figure = Figure {
    key: "durable3_runs_per_s",
    label: "3-step runs flat out (SDK worker)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const PG_DURABLE3_RUNS_PER_S: Figure = Figure {
    key: "pg_durable3_runs_per_s",
    target: Target::Pg1,
    ..DURABLE3_RUNS_PER_S
};

pub const PG2_DURABLE3_RUNS_PER_S: Figure = Figure {
    key: "pg2_durable3_runs_per_s",
    target: Target::Pg2,
    ..DURABLE3_RUNS_PER_S
};

pub const SCALE_TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "scale_trigger_to_dequeue_p50_ms",
    label: "at depth: trigger->dequeue p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PG_SCALE_TRIGGER_TO_DEQUEUE_P50_MS: Figure = Figure {
    key: "pg_scale_trigger_to_dequeue_p50_ms",
    target: Target::Pg1,
    ..SCALE_TRIGGER_TO_DEQUEUE_P50_MS
};

pub const SCALE_TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "scale_trigger_to_dequeue_p99_ms",
    label: "at depth: trigger->dequeue p99",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PG_SCALE_TRIGGER_TO_DEQUEUE_P99_MS: Figure = Figure {
    key: "pg_scale_trigger_to_dequeue_p99_ms",
    target: Target::Pg1,
    ..SCALE_TRIGGER_TO_DEQUEUE_P99_MS
};

pub const SCALE_RUNS_LIST_P50_MS: Figure = Figure {
    key: "scale_runs_list_p50_ms",
    label: "at depth: runs list page p50",
    target: Target::Sqlite,
    unit: "ms",
    decimals: 2,
};

pub const PG_SCALE_RUNS_LIST_P50_MS: Figure = Figure {
    key: "pg_scale_runs_list_p50_ms",
    target: Target::Pg1,
    ..SCALE_RUNS_LIST_P50_MS
};

pub const SCALE_PROCESS_RUNS_PER_S: Figure = Figure {
    key: "scale_process_runs_per_s",
    label: "at depth: processing (4w)",
    target: Target::Sqlite,
    unit: "runs/s",
    decimals: 0,
};

pub const PG_SCALE_PROCESS_RUNS_PER_S: Figure = Figure {
    key: "pg_scale_process_runs_per_s",
    target: Target::Pg1,
    ..SCALE_PROCESS_RUNS_PER_S
};

pub const SCALE_SERVER_RSS_MB: Figure = Figure {
    key: "scale_server_rss_mb",
    label: "at depth: server process peak RSS",
    target: Target::Sqlite,
    unit: "MB",
    decimals: 1,
};

pub const PG_SCALE_SERVER_RSS_MB: Figure = Figure {
    key: "pg_scale_server_rss_mb",
    target: Target::Pg1,
    ..SCALE_SERVER_RSS_MB
};

/// Every figure, in table order.
pub const FIGURES: [&Figure; 77] = [
    &TRIGGER_PER_S,
    &TRIGGER_SERIAL_PER_S,
    &BATCH_TRIGGER_PER_S,
    &E2E_RUNS_PER_S,
    &PG_E2E_RUNS_PER_S,
    &PG2_E2E_RUNS_PER_S,
    &PROCESS_RUNS_PER_S,
    &PG_PROCESS_RUNS_PER_S,
    &PG2_PROCESS_RUNS_PER_S,
    &FLOOR_RUNS_PER_S,
    &PG_FLOOR_RUNS_PER_S,
    &SERVER_RSS_MB,
    &SERVER_CPU_S_PER_10K,
    &SDK_E2E_RUNS_PER_S,
    &PG_SDK_E2E_RUNS_PER_S,
    &PG2_SDK_E2E_RUNS_PER_S,
    &TRIGGER_TO_DEQUEUE_P50_MS,
    &PG_TRIGGER_TO_DEQUEUE_P50_MS,
    &PG2_TRIGGER_TO_DEQUEUE_P50_MS,
    &TRIGGER_TO_DEQUEUE_P99_MS,
    &PG_TRIGGER_TO_DEQUEUE_P99_MS,
    &PG2_TRIGGER_TO_DEQUEUE_P99_MS,
    &RESUME_P50_MS,
    &PG_RESUME_P50_MS,
    &PG2_RESUME_P50_MS,
    &RESUME_P99_MS,
    &PG_RESUME_P99_MS,
    &PG2_RESUME_P99_MS,
    &STEPS_PER_S,
    &PG_STEPS_PER_S,
    &PG2_STEPS_PER_S,
    &DURABLE3_P50_MS,
    &PG_DURABLE3_P50_MS,
    &PG2_DURABLE3_P50_MS,
    &DURABLE3_P99_MS,
    &PG_DURABLE3_P99_MS,
    &PG2_DURABLE3_P99_MS,
    &DURABLE3_RUNS_PER_S,
    &PG_DURABLE3_RUNS_PER_S,
    &PG2_DURABLE3_RUNS_PER_S,
    &SSE_FANOUT_EVENTS_PER_S,
    &SSE_EVENT_P50_MS,
    &SSE_EVENT_P99_MS,
    &LOOPBACK_FANOUT_P50_MS,
    &LOOPBACK_FANOUT_P99_MS,
    &DISK_FSYNC_P50_MS,
    &DISK_FSYNC_P99_MS,
    &DASHBOARD_RUNS_PAGE_P50_MS,
    &DASHBOARD_RUNS_PAGE_FILTERED_P50_MS,
    &BURST_TRIGGER_P50_MS,
    &PG_BURST_TRIGGER_P50_MS,
    &BURST_TRIGGER_P99_MS,
    &PG_BURST_TRIGGER_P99_MS,
    &BURST_OTHER_ENV_START_P50_MS,
    &PG_BURST_OTHER_ENV_START_P50_MS,
    &BURST_OTHER_ENV_START_P99_MS,
    &PG_BURST_OTHER_ENV_START_P99_MS,
    &BURST_OFF_OTHER_ENV_START_P50_MS,
    &PG_BURST_OFF_OTHER_ENV_START_P50_MS,
    &BURST_OFF_OTHER_ENV_START_P99_MS,
    &PG_BURST_OFF_OTHER_ENV_START_P99_MS,
    &BURST_LOST,
    &PG_BURST_LOST,
    &BURST_DRAIN_S,
    &PG_BURST_DRAIN_S,
    &PLAN_ACTIONS_PER_S,
    &PLAN_ACTION_OVERHEAD_P50_MS,
    &SCALE_TRIGGER_TO_DEQUEUE_P50_MS,
    &PG_SCALE_TRIGGER_TO_DEQUEUE_P50_MS,
    &SCALE_TRIGGER_TO_DEQUEUE_P99_MS,
    &PG_SCALE_TRIGGER_TO_DEQUEUE_P99_MS,
    &SCALE_RUNS_LIST_P50_MS,
    &PG_SCALE_RUNS_LIST_P50_MS,
    &SCALE_PROCESS_RUNS_PER_S,
    &PG_SCALE_PROCESS_RUNS_PER_S,
    &SCALE_SERVER_RSS_MB,
    &PG_SCALE_SERVER_RSS_MB,
];

/// The values one figure took over the repeated runs of its scenario.
#[derive(Debug)]
pub struct Measured {
    pub figure: &'static Figure,
    pub values: Vec<f64>,
}

impl Measured {
    /// The reported value: the median over the runs, rounded to the figure's decimals.
    pub fn value(&self) -> f64 {
        round_to(median(&self.values), self.figure.decimals)
    }
}

/// The reported figures (medians), serialized as one JSON object whose keys are the figures'
/// keys, in table order. Figures of scenarios that were not run are left out.
#[derive(Debug, Default)]
pub struct Report {
    values: Vec<(&'static str, f64)>,
}

impl Report {
    /// The report of the medians of `measured`.
    pub fn from_measured(measured: &[Measured]) -> Report {
        let mut report = Report::default();
        for figure in FIGURES {
            if let Some(m) = measured.iter().find(|m| m.figure == figure) {
                report.set(figure, m.value());
            }
        }
        report
    }

    fn set(&mut self, figure: &Figure, value: f64) {
        match self.values.iter_mut().find(|(key, _)| *key == figure.key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((figure.key, value)),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (key, value) in &self.values {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The table of `measured`: one line per label, one column of medians per target that was
/// measured. With more than one run per scenario, a second part lists every run's value in
/// order, one line per label and target.
pub fn table(measured: &[Measured]) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for m in measured {
        if !labels.contains(&m.figure.label) {
            labels.push(m.figure.label);
        }
    }
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| measured.iter().any(|m| m.figure.target == *t))
        .collect();
    let find = |label: &str, target: Target| {
        measured
            .iter()
            .find(|m| m.figure.label == label && m.figure.target == target)
    };

    let mut heading = format!("{:<34}", "scenario");
    for target in &targets {
        heading.push_str(&format!(" {:<13}", target.heading()));
    }
    heading.push_str(" unit");
    let mut lines = vec![heading];
    for label in &labels {
        let mut line = format!("{label:<34}");
        let mut unit = "";
        for target in &targets {
            let cell = match find(label, *target) {
                Some(m) => {
                    unit = m.figure.unit;
                    fmt_num(m.value(), m.figure.decimals)
                }
                None => "-".to_string(),
            };
            line.push_str(&format!(" {cell:<13}"));
        }
        line.push(' ');
        line.push_str(unit);
        lines.push(line.trim_end().to_string());
    }

    if measured.iter().any(|m| m.values.len() > 1) {
        lines.push(String::new());
        lines.push(format!("{:<34} {:<13} each run", "scenario", "on"));
        for label in &labels {
            for target in &targets {
                if let Some(m) = find(label, *target) {
                    let each: Vec<String> = m
                        .values
                        .iter()
                        .map(|v| fmt_num(*v, m.figure.decimals))
                        .collect();
                    lines.push(format!(
                        "{label:<34} {:<13} {}",
                        target.heading(),
                        each.join(" / ")
                    ));
                }
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_key_of_the_figures_run() {
        let measured = vec![
            Measured {
                figure: &TRIGGER_PER_S,
                values: vec![100.4, 300.0, 200.0],
            },
            Measured {
                figure: &TRIGGER_TO_DEQUEUE_P50_MS,
                values: vec![1.234],
            },
        ];
        let json: serde_json::Value =
            serde_json::from_str(&Report::from_measured(&measured).to_json_line()).unwrap();
        assert_eq!(json["trigger_per_s"], 200.0);
        assert_eq!(json["trigger_to_dequeue_p50_ms"], 1.23);
        assert!(json.get("batch_trigger_per_s").is_none());
    }

    #[test]
    fn every_figure_has_a_field() {
        let mut report = Report::default();
        for f in FIGURES {
            report.set(f, 1.0);
        }
        let json: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), FIGURES.len());
        for f in FIGURES {
            assert!(object.contains_key(f.key), "{} missing", f.key);
        }
    }

    #[test]
    fn postgres_figures_share_the_sqlite_label() {
        assert_eq!(
            E2E_RUNS_PER_S.on(Target::Pg1).unwrap().key,
            "pg_e2e_runs_per_s"
        );
        assert_eq!(
            E2E_RUNS_PER_S.on(Target::Pg2).unwrap().key,
            "pg2_e2e_runs_per_s"
        );
        assert_eq!(
            TRIGGER_TO_DEQUEUE_P50_MS.on(Target::Pg1).unwrap().key,
            "pg_trigger_to_dequeue_p50_ms"
        );
        assert_eq!(
            TRIGGER_TO_DEQUEUE_P99_MS.on(Target::Pg2).unwrap().key,
            "pg2_trigger_to_dequeue_p99_ms"
        );
        assert_eq!(
            SDK_E2E_RUNS_PER_S.on(Target::Pg1).unwrap().key,
            "pg_sdk_e2e_runs_per_s"
        );
        assert_eq!(
            RESUME_P50_MS.on(Target::Pg2).unwrap().key,
            "pg2_resume_p50_ms"
        );
        assert_eq!(
            RESUME_P99_MS.on(Target::Pg1).unwrap().key,
            "pg_resume_p99_ms"
        );
        assert_eq!(STEPS_PER_S.on(Target::Pg2).unwrap().key, "pg2_steps_per_s");
        assert!(TRIGGER_PER_S.on(Target::Pg1).is_none());
        assert_eq!(
            DISK_FSYNC_P50_MS.on(Target::Sqlite),
            Some(&DISK_FSYNC_P50_MS)
        );
    }

    #[test]
    fn table_puts_postgres_beside_sqlite() {
        let measured = vec![
            Measured {
                figure: &E2E_RUNS_PER_S,
                values: vec![5000.0],
            },
            Measured {
                figure: &PG_E2E_RUNS_PER_S,
                values: vec![1234.0],
            },
            Measured {
                figure: &PG2_E2E_RUNS_PER_S,
                values: vec![2345.0],
            },
            Measured {
                figure: &TRIGGER_PER_S,
                values: vec![7000.0],
            },
        ];
        let t = table(&measured);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].contains("sqlite") && lines[0].contains("pg 2 servers"));
        let e2e = lines[1];
        assert!(e2e.starts_with(E2E_RUNS_PER_S.label));
        let (a, b, c) = (
            e2e.find("5,000").unwrap(),
            e2e.find("1,234").unwrap(),
            e2e.find("2,345").unwrap(),
        );
        assert!(a < b && b < c, "{t}");
        assert!(
            lines[2].contains("7,000") && lines[2].contains(" - "),
            "{t}"
        );
    }

    #[test]
    fn keys_and_labels_are_unique_and_labels_fit_the_table() {
        for (i, a) in FIGURES.iter().enumerate() {
            assert!(a.label.len() <= 34, "{} is too long", a.label);
            for b in &FIGURES[i + 1..] {
                assert_ne!(a.key, b.key);
                assert!(a.label != b.label || a.target != b.target, "{}", a.key);
            }
        }
    }

    #[test]
    fn table_lists_each_run_when_repeated() {
        let measured = vec![Measured {
            figure: &TRIGGER_PER_S,
            values: vec![7812.0, 7650.0, 7900.0],
        }];
        let t = table(&measured);
        assert!(t.contains("7,812"));
        assert!(t.contains("7,812 / 7,650 / 7,900"));
    }
}
