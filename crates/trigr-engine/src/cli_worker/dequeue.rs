//! `dev_dequeue`: runs for a Trigger.dev CLI worker (`POST /engine/v1/dev/dequeue`). The CLI
//! serves its newest build and keeps the two before it for the runs locked to them; each run
//! is taken `DEQUEUED` under a dev lease, which appends its `PENDING_EXECUTING` snapshot, the
//! one the CLI starts the attempt from.

use trigr_store::{Run, Snapshot};
use trigr_types::{Millis, RunStatus};

use super::{new_dev_lease, DEV_LEASE_MS};
use crate::dequeue::{take, Claim};
use crate::retry::policy_of;
use crate::{Engine, Error, Result};

/// Most versions one CLI serves at once: its current build and two older ones.
pub const MAX_VERSIONS: usize = 3;

/// A run handed to a CLI worker, with the snapshot to start it from.
#[derive(Clone, Debug)]
pub struct DevDequeued {
    /// `maxAttempts` as the retry policy allows.
    pub run: Run,
    pub snapshot: Snapshot,
}

impl Engine {
    /// Takes up to `max` ready runs locked to `versions` (the CLI's newest first), in the
    /// environment's default region, for the worker named `worker_id`.
    pub async fn dev_dequeue(
        &self,
        env_id: &str,
        versions: Vec<String>,
        worker_id: Option<&str>,
        max: usize,
    ) -> Result<Vec<DevDequeued>> {
        if versions.is_empty() || versions.len() > MAX_VERSIONS {
            return Err(Error::invalid(format!(
                "a worker serves 1 to {MAX_VERSIONS} versions, got {}",
                versions.len()
            )));
        }
        let env_id = env_id.to_string();
        let worker = crate::presence::worker_key(worker_id).to_string();
        let presence = self.presence.clone();
        self.write_in(self.lane_of(&env_id), move |tx| {
            let claim = Claim {
                now: tx.now(),
                lease_ms: DEV_LEASE_MS,
                new_lease: new_dev_lease,
                // The task runtime ends an attempt past its maxDuration itself, counting
                // compute time only: a task that waits longer is not timed out here.
                timed: false,
                status: RunStatus::Dequeued,
            };
            let mut out = Vec::new();
            let mut region = String::new();
            for version in &versions {
                let want = max.saturating_sub(out.len());
                if want == 0 {
                    break;
                }
                let (r, runs) = take(tx, &env_id, version, None, want, &claim)?;
                region = r;
                for mut run in runs {
                    run.max_attempts = Some(i64::from(policy_of(tx, &run)?.max_attempts));
                    let snapshot = super::newest(tx, &run.id)?;
                    out.push(DevDequeued { run, snapshot });
                }
            }
            let now: Millis = claim.now;
            crate::presence::touch(&presence, tx, &env_id, &versions[0], &region, &worker, now)?;
            Ok(out)
        })
        .await
    }
}
