//! `steps`: a worker journals a step's result at its position (worker protocol §7.2). The
//! first result recorded at a position wins; a step of another name there is non-determinism.

use trigr_store::{JournalEntry, JournalKind};
use trigr_types::wire::worker::StepBody;

use crate::journal::{check_entry, check_name, leased_run};
use crate::{Engine, Error, Result};

/// A step's result to journal, checked ([`check`]).
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub lease: String,
    pub position: u32,
    pub name: String,
    /// The result as JSON text.
    pub output: String,
}

/// Checks a step body: its name, and its output against the payload limit.
pub fn check(body: StepBody, max_payload: usize) -> Result<StepRecord> {
    check_name(&body.name)?;
    let output = body.output.to_string();
    if output.len() > max_payload {
        return Err(Error::TooLarge(format!(
            "The step output is {} bytes, over the limit of {max_payload} bytes",
            output.len()
        )));
    }
    Ok(StepRecord {
        lease: body.lease,
        position: body.position,
        name: body.name,
        output,
    })
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
                output: Some(s.output),
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
