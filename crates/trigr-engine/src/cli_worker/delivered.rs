//! What a snapshot hands back: the waitpoints it completed, each as the CLI resolves it (a
//! date, a token, a child run, or one child of a batch with its index).

use trigr_store::{ReadTx, Run, Snapshot, WaitpointKind, WaitpointStatus};
use trigr_types::{Millis, RunStatus};

use crate::Result;

/// What completed a waitpoint the task waited on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completer {
    /// Its date came (`wait.for`, `wait.until`).
    Date { due_at: Option<Millis> },
    /// A token was completed or timed out, or an input stream message came.
    Token,
    /// A child run ended; `batch` is the batch and the child's index in it.
    Run {
        run_id: String,
        batch: Option<(String, i64)>,
    },
}

/// One completed waitpoint as a snapshot hands it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub waitpoint_id: String,
    pub completer: Completer,
    pub completed_at: Millis,
    /// The result as a packet: a token's data or a child's output (JSON text unless
    /// `output_type` says otherwise), or the error when `is_error`.
    pub output: Option<String>,
    pub output_type: Option<String>,
    /// A token or wait that timed out, or a child that did not complete: `output` is the
    /// error's JSON text (trigr's `{"message", "name", …}`).
    pub is_error: bool,
}

/// The waitpoints `snapshot` hands back, expanded: a batch gives one entry per child.
pub fn delivered(tx: &mut dyn ReadTx, env_id: &str, snapshot: &Snapshot) -> Result<Vec<Delivered>> {
    let mut out = Vec::new();
    for id in &snapshot.waitpoints {
        let Some(wp) = tx.waitpoint(env_id, id)? else {
            continue;
        };
        let completed_at = wp.completed_at.unwrap_or(snapshot.created_at);
        match wp.kind {
            WaitpointKind::Datetime => out.push(Delivered {
                waitpoint_id: wp.id.clone(),
                completer: Completer::Date { due_at: wp.due_at },
                completed_at,
                output: None,
                output_type: None,
                is_error: false,
            }),
            WaitpointKind::Token | WaitpointKind::Input => {
                let is_error = wp.status == WaitpointStatus::TimedOut;
                // An input message comes back as the data that was sent.
                let output = match (wp.kind, is_error) {
                    (WaitpointKind::Input, false) => wp.output.as_deref().map(message_data),
                    _ => wp.output.clone(),
                };
                out.push(Delivered {
                    waitpoint_id: wp.id.clone(),
                    completer: Completer::Token,
                    completed_at,
                    output,
                    output_type: Some(trigr_types::packet::JSON.to_string()),
                    is_error,
                })
            }
            WaitpointKind::Run | WaitpointKind::Batch => {
                let mut children = tx.runs_of_waitpoint(&wp.id)?;
                children.sort_by_key(|c| c.batch_index.unwrap_or(0));
                let batch = wp.batch_id.clone();
                for child in children {
                    let batch = batch.clone().map(|b| (b, child.batch_index.unwrap_or(0)));
                    out.push(child_ended(&wp.id, &child, batch, completed_at));
                }
            }
        }
    }
    Ok(out)
}

fn child_ended(
    waitpoint_id: &str,
    child: &Run,
    batch: Option<(String, i64)>,
    completed_at: Millis,
) -> Delivered {
    let ok = child.status == RunStatus::Completed;
    let (output, output_type) = if ok {
        (child.output.clone(), child.output_type.clone())
    } else {
        let error = child.error.clone().unwrap_or_else(|| {
            serde_json::json!({
                "message": format!("Run {} ended {}", child.id, child.status),
                "name": child.status.as_str(),
            })
            .to_string()
        });
        (Some(error), Some(trigr_types::packet::JSON.to_string()))
    };
    Delivered {
        waitpoint_id: waitpoint_id.to_string(),
        completer: Completer::Run {
            run_id: child.id.clone(),
            batch,
        },
        completed_at: child.finished_at.unwrap_or(completed_at),
        output,
        output_type,
        is_error: !ok,
    }
}

/// The `data` of an input message as trigr's input waits keep it (`{"seq", "data", …}`).
fn message_data(output: &str) -> String {
    serde_json::from_str::<serde_json::Value>(output)
        .ok()
        .and_then(|v| v.get("data").cloned())
        .unwrap_or(serde_json::Value::Null)
        .to_string()
}
