//! The environment overview's figures: finished runs per time bucket, and how many failed.

use trigr_types::RunStatus;

use crate::{Engine, Result};

/// Most buckets an overview reads (the window is bounded, and so is the answer).
pub const MAX_BUCKETS: i64 = 200;

/// Runs that finished within one bucket of the window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewBucket {
    /// The bucket's start (milliseconds since the epoch).
    pub start: trigr_types::Millis,
    pub completed: i64,
    /// Failed, crashed, system failures, timed out.
    pub failed: i64,
    /// Canceled or expired.
    pub other: i64,
}

/// The environment's finished runs over a window, oldest bucket first.
#[derive(Clone, Debug)]
pub struct Overview {
    pub bucket_ms: i64,
    pub buckets: Vec<OverviewBucket>,
}

fn is_failure(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Failed | RunStatus::Crashed | RunStatus::SystemFailure | RunStatus::TimedOut
    )
}

impl Engine {
    /// Finished runs of the environment in `buckets` buckets of `bucket_ms` ending now.
    pub async fn overview(&self, env_id: &str, bucket_ms: i64, buckets: i64) -> Result<Overview> {
        let bucket_ms = bucket_ms.max(1000);
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let now = self.now();
        let end = now - now % bucket_ms + bucket_ms;
        let from = end - bucket_ms * buckets;
        let env_id = env_id.to_string();
        let rows = self
            .read(move |tx| Ok(tx.finished_buckets(&env_id, from, bucket_ms, buckets)?))
            .await?;
        let mut out: Vec<OverviewBucket> = (0..buckets)
            .map(|i| OverviewBucket {
                start: from + i * bucket_ms,
                ..Default::default()
            })
            .collect();
        for row in rows {
            let Some(b) = usize::try_from(row.bucket)
                .ok()
                .and_then(|i| out.get_mut(i))
            else {
                continue;
            };
            if row.status == RunStatus::Completed {
                b.completed += row.runs;
            } else if is_failure(row.status) {
                b.failed += row.runs;
            } else {
                b.other += row.runs;
            }
        }
        Ok(Overview {
            bucket_ms,
            buckets: out,
        })
    }
}
