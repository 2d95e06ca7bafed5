//! The snapshot chains of runs that a Trigger.dev CLI worker executes (`trigger.dev dev`,
//! `trigr_engine::snapshots`): each such run has an append-only list of the states that worker
//! reads, numbered 1, 2, 3, … per run. A snapshot is written in the transaction of the change
//! it records and never changed; the newest is where the run stands for the worker.

use trigr_types::Millis;

use crate::Result;

/// Where a run stands, as the Trigger.dev worker protocol names it (`executionStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapshotStatus {
    /// Back in its queue (a retry the worker does not hold).
    Queued,
    /// Handed to the worker; the attempt has not started.
    PendingExecuting,
    /// The attempt runs (with the waitpoints the snapshot hands back, if any).
    Executing,
    /// The attempt waits for waitpoints; its process keeps running.
    ExecutingWithWaitpoints,
    /// The run was canceled while its attempt ran: the worker stops the task (running its
    /// cancel hooks) and reports it.
    PendingCancel,
    /// The run ended (by its own completion, a cancel, a timeout or a lost worker).
    Finished,
}

impl SnapshotStatus {
    pub const ALL: [SnapshotStatus; 6] = [
        SnapshotStatus::Queued,
        SnapshotStatus::PendingExecuting,
        SnapshotStatus::Executing,
        SnapshotStatus::ExecutingWithWaitpoints,
        SnapshotStatus::PendingCancel,
        SnapshotStatus::Finished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Queued => "QUEUED",
            SnapshotStatus::PendingExecuting => "PENDING_EXECUTING",
            SnapshotStatus::Executing => "EXECUTING",
            SnapshotStatus::ExecutingWithWaitpoints => "EXECUTING_WITH_WAITPOINTS",
            SnapshotStatus::PendingCancel => "PENDING_CANCEL",
            SnapshotStatus::Finished => "FINISHED",
        }
    }

    pub fn parse(s: &str) -> Option<SnapshotStatus> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a run's snapshot chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub run_id: String,
    /// 1, 2, 3, … per run.
    pub seq: i64,
    /// `snapshot_…`: what the worker names it by.
    pub id: String,
    pub status: SnapshotStatus,
    /// The lease of the attempt the snapshot belongs to; `None` outside an attempt.
    pub lease: Option<String>,
    /// The run's attempt number when it was written.
    pub attempt: i64,
    /// The waitpoints this snapshot hands back completed, in the order they completed.
    pub waitpoints: Vec<String>,
    pub created_at: Millis,
}

/// Reading snapshot chains.
pub trait SnapshotRead {
    /// The newest snapshot of the run.
    fn latest_snapshot(&mut self, run_id: &str) -> Result<Option<Snapshot>>;
    /// The run's snapshot with this id.
    fn snapshot(&mut self, run_id: &str, id: &str) -> Result<Option<Snapshot>>;
    /// The run's snapshots after `after_seq`, oldest first, at most `limit`.
    fn snapshots(&mut self, run_id: &str, after_seq: i64, limit: usize) -> Result<Vec<Snapshot>>;
}

/// Appending to snapshot chains.
pub trait SnapshotTx {
    /// Appends `s`; its `seq` must be the next of its run. A `seq` taken by a concurrent writer
    /// is [`crate::Error::Conflict`].
    fn insert_snapshot(&mut self, s: &Snapshot) -> Result<()>;
}
