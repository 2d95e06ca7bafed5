//! Reclaiming expired entries: the timer loop deletes the rows of entries whose time to live
//! has passed, [`RECLAIM_BATCH`] per write. Readers never see an expired entry either way;
//! this only gives the space back. Any server may reclaim; two reclaiming at once delete
//! each row once.

use serde::Serialize;

use crate::{Engine, Result};

/// Most expired entries deleted per write.
pub const RECLAIM_BATCH: usize = 500;

/// What one reclaim did.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Reclaimed {
    /// Expired entries deleted.
    pub entries: u64,
    /// Whether no expired entry is left (false: the write limit stopped it).
    pub done: bool,
}

impl Engine {
    /// Deletes the entries expired at the engine's clock, in writes of at most
    /// [`RECLAIM_BATCH`], at most `max_writes` writes (`None`: until none is left).
    pub async fn reclaim_kv(&self, max_writes: Option<usize>) -> Result<Reclaimed> {
        let mut total = Reclaimed::default();
        let mut writes = 0;
        while max_writes.is_none_or(|max| writes < max) {
            let deleted = self
                .write(|tx| {
                    let now = tx.now();
                    Ok(tx.delete_expired_kv(now, RECLAIM_BATCH)?)
                })
                .await?;
            writes += 1;
            total.entries += deleted;
            if deleted < RECLAIM_BATCH as u64 {
                total.done = true;
                break;
            }
        }
        Ok(total)
    }
}
