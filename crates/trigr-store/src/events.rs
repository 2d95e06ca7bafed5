//! Run events: what realtime subscribers are told. Each status change and metadata update of
//! a run is recorded in the transaction that made it ([`EventTx::insert_run_events`]), so a
//! subscriber that reconnects reads from the store what it missed, by `seq`.

use trigr_types::Millis;

use crate::Result;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEventKind {
    Status,
    Metadata,
}

impl RunEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Status => "status",
            RunEventKind::Metadata => "metadata",
        }
    }

    pub fn parse(s: &str) -> Option<RunEventKind> {
        match s {
            "status" => Some(RunEventKind::Status),
            "metadata" => Some(RunEventKind::Metadata),
            _ => None,
        }
    }
}

/// One recorded event. `seq` is 0 until the store numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvent {
    /// Grows in commit order within an environment (gaps allowed).
    pub seq: i64,
    pub env_id: String,
    pub run_id: String,
    pub batch_id: Option<String>,
    pub tags: Vec<String>,
    pub kind: RunEventKind,
    /// JSON text of the run as a subscriber sees it.
    pub data: String,
    pub created_at: Millis,
}

/// Reading run events.
pub trait EventRead {
    /// The environment's events numbered above `after`, oldest first.
    fn run_events_after(&mut self, env_id: &str, after: i64, limit: usize)
        -> Result<Vec<RunEvent>>;
    /// The highest event number of the environment, or of the whole store (0 when none):
    /// either way the environment's later events are numbered above it.
    fn last_run_event_seq(&mut self, env_id: &str) -> Result<i64>;
    /// The highest event number pruned so far (0 when none): a reader that has seen only
    /// events below it may have missed some.
    fn run_events_pruned_through(&mut self) -> Result<i64>;
}

/// Recording, numbering and pruning run events.
pub trait EventTx {
    /// Records events; the store numbers them so that a reader that has seen number `n` never
    /// later finds a smaller one in the same environment. SQLite numbers them at once (one
    /// writer); PostgreSQL writes them to an outbox with the transaction, and
    /// [`EventTx::sequence_run_events`] numbers them once committed.
    fn insert_run_events(&mut self, events: &[RunEvent]) -> Result<()>;
    /// Numbers up to `limit` committed events of the outbox, oldest first, and moves them
    /// where readers see them; returns how many. Sequencers take turns (one at a time across
    /// servers), and each commits before the next numbers anything, so numbers follow the
    /// order readers can see them in. A backend that numbers at once has nothing to do.
    fn sequence_run_events(&mut self, _limit: usize) -> Result<u64> {
        Ok(0)
    }
    /// Deletes up to `limit` events recorded before `before`, oldest first, and raises
    /// [`EventRead::run_events_pruned_through`]; returns how many.
    fn prune_run_events(&mut self, before: Millis, limit: usize) -> Result<u64>;
}

/// Reads the JSON array of tags stored with an event.
pub(crate) fn tags_from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| crate::Error::Corrupt(format!("event tags: {e}")))
}

pub(crate) fn kind_from_text(text: &str) -> Result<RunEventKind> {
    RunEventKind::parse(text).ok_or_else(|| crate::Error::Corrupt(format!("event kind '{text}'")))
}
