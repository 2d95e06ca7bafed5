//! Cron schedules: the record, and how a row of the `schedules` table reads back.

use trigr_types::Millis;

use crate::rows::Columns;
use crate::Result;

/// Where a schedule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Declared by a task of the current deployment; follows its manifest.
    Declarative,
    /// Made through the API.
    Imperative,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Declarative => "DECLARATIVE",
            ScheduleKind::Imperative => "IMPERATIVE",
        }
    }

    pub fn parse(s: &str) -> Option<ScheduleKind> {
        match s {
            "DECLARATIVE" => Some(ScheduleKind::Declarative),
            "IMPERATIVE" => Some(ScheduleKind::Imperative),
            _ => None,
        }
    }
}

/// A cron schedule firing runs of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// `sched_…`.
    pub id: String,
    pub env_id: String,
    pub task_id: String,
    pub kind: ScheduleKind,
    pub active: bool,
    /// The caller's key (imperative schedules); unique in the environment.
    pub dedup_key: Option<String>,
    pub external_id: Option<String>,
    /// Five-field cron pattern.
    pub cron: String,
    /// IANA time zone the pattern is read in.
    pub timezone: String,
    /// When the next tick fires: its nominal cron time plus the window's offset (the nominal
    /// time itself without a window). The timer loop fires the schedule once this has come,
    /// and claims the tick by moving it. `None` when the pattern has no future tick or the
    /// schedule is inactive.
    pub next_run_at: Option<Millis>,
    /// The last tick fired.
    pub last_run_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Jitter window (`30m`, `2h`, `30%`): each tick fires at a deterministic offset within
    /// it after its nominal time. `None` fires each tick at its nominal time.
    pub window: Option<String>,
    /// What each run the schedule fires is given.
    pub run: ScheduledRunOptions,
}

/// What a schedule gives each run it fires (all empty for a declarative schedule).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduledRunOptions {
    /// The caller's payload members, a JSON object's text, merged into the scheduled payload.
    pub payload: Option<String>,
    /// The run's metadata, a JSON object's text.
    pub metadata: Option<String>,
    /// The run's machine preset.
    pub machine: Option<String>,
    /// Added to the run's tags; distinct and sorted.
    pub tags: Vec<String>,
}

/// Which schedules a list returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleFilter {
    /// Only the schedules carrying this tag.
    pub tag: Option<String>,
    /// Only the active (`true`) or the inactive (`false`) schedules.
    pub active: Option<bool>,
}

pub(crate) const SCHEDULE_COLUMNS: &str = "id, env_id, task_id, kind, active, dedup_key, \
    external_id, cron, timezone, next_run_at, last_run_at, created_at, updated_at, tick_window, \
    payload, metadata, machine, tags";

pub(crate) fn schedule(r: &impl Columns) -> Result<Schedule> {
    let kind = r.text(3)?;
    Ok(Schedule {
        id: r.text(0)?,
        env_id: r.text(1)?,
        task_id: r.text(2)?,
        kind: ScheduleKind::parse(&kind)
            .ok_or_else(|| crate::Error::Corrupt(format!("unknown schedule kind '{kind}'")))?,
        active: r.flag(4)?,
        dedup_key: r.opt_text(5)?,
        external_id: r.opt_text(6)?,
        cron: r.text(7)?,
        timezone: r.text(8)?,
        next_run_at: r.opt_int(9)?,
        last_run_at: r.opt_int(10)?,
        created_at: r.int(11)?,
        updated_at: r.int(12)?,
        window: r.opt_text(13)?,
        run: ScheduledRunOptions {
            payload: r.opt_text(14)?,
            metadata: r.opt_text(15)?,
            machine: r.opt_text(16)?,
            tags: tags_of(&r.text(17)?)?,
        },
    })
}

/// The stored text of a schedule's tags (a JSON array).
pub(crate) fn tags_text(tags: &[String]) -> String {
    serde_json::Value::from(tags).to_string()
}

fn tags_of(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| crate::Error::Corrupt(format!("schedule tags '{text}': {e}")))
}
