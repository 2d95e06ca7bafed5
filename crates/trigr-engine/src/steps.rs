//! `steps`: a worker journals a step's result at its position (worker protocol §7.2). The
//! first result recorded at a position wins; a step of another name there is non-determinism.

use serde::Deserialize;
use serde_json::Value;
use trigr_store::{JournalEntry, JournalKind};

use crate::journal::{check_entry, check_name, leased_run};
use crate::{Engine, Error, Result};

/// Body of `POST /api/v1/worker/runs/{id}/steps`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"lease": "lease_0", "position": 0, "name": "charge-card", "output": {"id": "ch_1"}}))]
pub struct StepRecord {
    pub lease: String,
    pub position: u32,
    pub name: String,
    #[serde(default)]
    pub output: Value,
}

/// The answer: whether this call recorded the entry, and the entry now at the position.
#[derive(Clone, Debug)]
pub struct StepRecorded {
    pub recorded: bool,
    pub entry: JournalEntry,
}

impl Engine {
    pub async fn record_step(
        &self,
        env_id: &str,
        run_id: &str,
        s: StepRecord,
    ) -> Result<StepRecorded> {
        check_name(&s.name)?;
        let output = s.output.to_string();
        let max = self.config.max_payload_bytes;
        if output.len() > max {
            return Err(Error::TooLarge(format!(
                "The step output is {} bytes, over the limit of {max} bytes",
                output.len()
            )));
        }
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.write(move |tx| {
            leased_run(tx, &env_id, &run_id, &s.lease)?;
            let position = i64::from(s.position);
            if let Some(entry) = tx.journal_entry(&run_id, position)? {
                check_entry(&entry, JournalKind::Step, &s.name)?;
                return Ok(StepRecorded {
                    recorded: false,
                    entry,
                });
            }
            let entry = JournalEntry {
                run_id,
                position,
                kind: JournalKind::Step,
                name: s.name,
                output: Some(output),
                waitpoint_id: None,
                created_at: tx.now(),
                wait: None,
            };
            tx.insert_journal_entry(&entry)?;
            Ok(StepRecorded {
                recorded: true,
                entry,
            })
        })
        .await
    }
}
