//! What a backend reports about its commits, for whoever measures the store (the server's
//! metrics). The store depends on no metrics library: it calls a [`CommitObserver`] given at
//! open ([`crate::Store::open_observed`]) once per transaction that committed.

use std::time::Duration;

/// One durable commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Write jobs the commit made durable together: SQLite's group size (writes per fsync,
    /// counting the ones that rolled back to their savepoint); always 1 on PostgreSQL, where
    /// every write is its own transaction.
    pub writes: usize,
    /// From the first write job's first statement to the end of the `COMMIT`.
    pub duration: Duration,
}

/// Told of every commit, on the thread that made it: keep it cheap (a few atomic updates).
pub trait CommitObserver: Send + Sync {
    fn committed(&self, commit: Commit);
}
