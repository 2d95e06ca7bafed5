//! What the dashboard keeps and reads: its sessions and one-time sign-in links (stored as
//! hashes of their secrets), and the finished runs of an environment counted per time bucket
//! for its overview chart.

use trigr_types::{Millis, RunStatus};

use crate::Result;

/// A signed-in browser: which environments it may see, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSession {
    /// SHA-256 (hex) of the cookie's secret.
    pub token_hash: String,
    /// The environments the sign-in grants, by id.
    pub env_ids: Vec<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A one-time sign-in link (`trigr dashboard link`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardLink {
    /// SHA-256 (hex) of the link's secret.
    pub token_hash: String,
    pub env_ids: Vec<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Runs of one final status that finished within one bucket of time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedBucket {
    /// The bucket's number, counted from the start of the window (0 is the oldest).
    pub bucket: i64,
    pub status: RunStatus,
    pub runs: i64,
}

/// Reading the dashboard's sessions and figures.
pub trait DashboardRead {
    /// The session with this hash, if it has not expired by `now`.
    fn dashboard_session(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<DashboardSession>>;
    /// Runs of the environment that finished in `[from, from + width * buckets)`, counted by
    /// bucket of `width` milliseconds and status; buckets without runs are left out.
    fn finished_buckets(
        &mut self,
        env_id: &str,
        from: Millis,
        width: i64,
        buckets: i64,
    ) -> Result<Vec<FinishedBucket>>;
}

/// Writing the dashboard's sessions and links.
pub trait DashboardTx {
    fn insert_dashboard_session(&mut self, s: &DashboardSession) -> Result<()>;
    /// Ends a session; false when there was none.
    fn delete_dashboard_session(&mut self, token_hash: &str) -> Result<bool>;
    /// Deletes the sessions and links that expired by `now`; returns how many.
    fn delete_expired_dashboard_sign_ins(&mut self, now: Millis) -> Result<u64>;
    fn insert_dashboard_link(&mut self, l: &DashboardLink) -> Result<()>;
    /// Uses a link: the link with this hash if it was unused and unexpired at `now`, which it
    /// no longer is afterwards (a second use, here or on another server, finds nothing).
    fn redeem_dashboard_link(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<DashboardLink>>;
}

/// The environment ids as one column.
pub(crate) fn join_ids(ids: &[String]) -> String {
    ids.join(",")
}

/// The environment ids of a column written by [`join_ids`].
pub(crate) fn split_ids(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
