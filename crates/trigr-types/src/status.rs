use std::fmt;
use std::str::FromStr;

/// The status of a run, as the public API names it.
///
/// Final statuses never change; see `docs/run-states.md` for the transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    PendingVersion,
    Delayed,
    Queued,
    Dequeued,
    Executing,
    Waiting,
    Completed,
    Canceled,
    Failed,
    Crashed,
    SystemFailure,
    Expired,
    TimedOut,
}

impl RunStatus {
    pub const ALL: [RunStatus; 13] = [
        RunStatus::PendingVersion,
        RunStatus::Delayed,
        RunStatus::Queued,
        RunStatus::Dequeued,
        RunStatus::Executing,
        RunStatus::Waiting,
        RunStatus::Completed,
        RunStatus::Canceled,
        RunStatus::Failed,
        RunStatus::Crashed,
        RunStatus::SystemFailure,
        RunStatus::Expired,
        RunStatus::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::PendingVersion => "PENDING_VERSION",
            RunStatus::Delayed => "DELAYED",
            RunStatus::Queued => "QUEUED",
            RunStatus::Dequeued => "DEQUEUED",
            RunStatus::Executing => "EXECUTING",
            RunStatus::Waiting => "WAITING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Canceled => "CANCELED",
            RunStatus::Failed => "FAILED",
            RunStatus::Crashed => "CRASHED",
            RunStatus::SystemFailure => "SYSTEM_FAILURE",
            RunStatus::Expired => "EXPIRED",
            RunStatus::TimedOut => "TIMED_OUT",
        }
    }

    /// Final: the run will never change status again.
    pub fn is_final(self) -> bool {
        match self {
            RunStatus::Completed
            | RunStatus::Canceled
            | RunStatus::Failed
            | RunStatus::Crashed
            | RunStatus::SystemFailure
            | RunStatus::Expired
            | RunStatus::TimedOut => true,
            RunStatus::PendingVersion
            | RunStatus::Delayed
            | RunStatus::Queued
            | RunStatus::Dequeued
            | RunStatus::Executing
            | RunStatus::Waiting => false,
        }
    }

    /// Holds a concurrency slot of its queue, its concurrency key and its environment.
    pub fn holds_slot(self) -> bool {
        matches!(self, RunStatus::Dequeued | RunStatus::Executing)
    }

    /// Held by a worker under a lease.
    pub fn is_leased(self) -> bool {
        self.holds_slot()
    }

    /// REST helper `isQueued`.
    pub fn is_queued(self) -> bool {
        matches!(
            self,
            RunStatus::Queued | RunStatus::Delayed | RunStatus::PendingVersion
        )
    }

    /// REST helper `isExecuting`.
    pub fn is_executing(self) -> bool {
        matches!(self, RunStatus::Executing | RunStatus::Dequeued)
    }

    /// REST helper `isCompleted` (upstream excludes `EXPIRED` and `TIMED_OUT`).
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            RunStatus::Completed
                | RunStatus::Canceled
                | RunStatus::Failed
                | RunStatus::Crashed
                | RunStatus::SystemFailure
        )
    }

    /// A failed run frees its idempotency key so a new trigger with that key makes a new run.
    pub fn frees_idempotency_key(self) -> bool {
        matches!(
            self,
            RunStatus::Failed
                | RunStatus::Crashed
                | RunStatus::SystemFailure
                | RunStatus::TimedOut
                | RunStatus::Expired
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status name.
#[derive(Debug, thiserror::Error)]
#[error("unknown run status '{0}'")]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let legacy = match upper.as_str() {
            "WAITING_FOR_DEPLOY" => Some(RunStatus::PendingVersion),
            "REATTEMPTING" => Some(RunStatus::Executing),
            "FROZEN" => Some(RunStatus::Waiting),
            "INTERRUPTED" => Some(RunStatus::Failed),
            _ => None,
        };
        if let Some(status) = legacy {
            return Ok(status);
        }
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == upper)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>().unwrap(), st);
        }
        assert!("nope".parse::<RunStatus>().is_err());
        assert_eq!("FROZEN".parse::<RunStatus>().unwrap(), RunStatus::Waiting);
    }

    #[test]
    fn helpers_follow_upstream() {
        assert!(!RunStatus::Expired.is_completed());
        assert!(RunStatus::Expired.is_final());
        assert!(RunStatus::Canceled.is_completed());
        assert!(RunStatus::Dequeued.holds_slot());
        assert!(!RunStatus::Waiting.holds_slot());
    }
}
