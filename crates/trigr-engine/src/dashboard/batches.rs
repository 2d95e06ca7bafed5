//! The environment's recent batches with their progress, for the dashboard's batches page.

use trigr_store::Batch;
use trigr_types::{Millis, RunStatus};

use crate::{Engine, Error, Result};

/// Most batches one page lists.
pub const MAX_BATCHES: usize = 100;

/// A batch and how many of its runs have each status.
#[derive(Clone, Debug)]
pub struct BatchProgress {
    pub batch: Batch,
    /// Runs per status, by status name; statuses without runs left out.
    pub counts: Vec<(RunStatus, i64)>,
}

impl BatchProgress {
    /// Runs that reached a final status.
    pub fn finished(&self) -> i64 {
        self.counts
            .iter()
            .filter(|(s, _)| s.is_final())
            .map(|(_, n)| n)
            .sum()
    }
}

impl Engine {
    /// Up to `limit` (at most [`MAX_BATCHES`]) of the environment's batches, newest first,
    /// created before the batch `before` when given (a cursor: its id).
    pub async fn recent_batches(
        &self,
        env_id: &str,
        before: Option<String>,
        limit: usize,
    ) -> Result<Vec<BatchProgress>> {
        let env_id = env_id.to_string();
        let limit = limit.clamp(1, MAX_BATCHES);
        self.read(move |tx| {
            let cursor: Option<(Millis, String)> = match before {
                None => None,
                Some(id) => {
                    let b = tx.batch(&env_id, &id)?.ok_or_else(|| {
                        Error::invalid(format!("The cursor '{id}' does not name a batch"))
                    })?;
                    Some((b.created_at, b.id))
                }
            };
            let cursor = cursor.as_ref().map(|(t, id)| (*t, id.as_str()));
            let mut out = Vec::new();
            for batch in tx.batches(&env_id, cursor, limit)? {
                let counts = tx
                    .batch_status_counts(&batch.id)?
                    .into_iter()
                    .filter_map(|(s, n)| s.parse::<RunStatus>().ok().map(|s| (s, n)))
                    .collect();
                out.push(BatchProgress { batch, counts });
            }
            Ok(out)
        })
        .await
    }
}
