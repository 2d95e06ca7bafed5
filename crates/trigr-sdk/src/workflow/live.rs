//! [`LiveState`]: the running plan's [`WorkflowState`], published to the run's metadata (key
//! `workflow`) as actions start and end, so that it is readable from outside while the plan
//! runs ([`Client::workflow_state`](crate::Client::workflow_state), `GET /api/v3/runs/{id}`).
//!
//! Publishing is off the actions' path: changes go into a `watch` channel, and one task sends
//! the latest state whenever it changed, one request at a time and at most every
//! [`PUBLISH_INTERVAL`] — a burst of changes costs one request, and an older state never lands
//! after a newer one. [`LiveState::finish`] sends the
//! final state and waits for it. Metadata is limited to 256 KiB: past [`METADATA_BUDGET`],
//! outputs are left out of the published copy (`outputOmitted`), the run's output keeps them.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use trigr_types::plan::{ActionResult, WorkflowState, METADATA_KEY};

use crate::metadata::Metadata;

/// The shortest time between two publications (the final state is sent at once): the live
/// state lags by at most this much, and the store writes it at most 40 times a second per plan
/// instead of on every change.
pub const PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);

/// The most bytes of state published to the metadata.
pub const METADATA_BUDGET: usize = 192 * 1024;

/// A state to publish, and whether it is the last.
#[derive(Clone)]
struct Snapshot {
    state: WorkflowState,
    last: bool,
}

/// The state of a running plan and its publisher. The state lives in the channel: a change is
/// made in place (no copy of the state per change), the publisher copies it once per request.
pub(crate) struct LiveState {
    tx: watch::Sender<Snapshot>,
    publisher: Option<JoinHandle<()>>,
}

impl LiveState {
    /// Starts publishing `state` to `metadata`.
    pub(crate) fn start(state: WorkflowState, metadata: Metadata) -> LiveState {
        let (tx, rx) = watch::channel(Snapshot { state, last: false });
        let publisher = tokio::spawn(publish(rx, metadata));
        LiveState {
            tx,
            publisher: Some(publisher),
        }
    }

    /// A copy of the state as it is now.
    pub(crate) fn state(&self) -> WorkflowState {
        self.tx.borrow().state.clone()
    }

    /// Records an action's result (or its start) and publishes.
    pub(crate) fn set(&mut self, result: ActionResult) {
        self.tx.send_modify(|snapshot| {
            snapshot
                .state
                .results
                .insert(result.action_id.clone(), result);
        });
    }

    /// Publishes `state` as the last one and waits until it was sent.
    pub(crate) async fn finish(mut self, state: WorkflowState) -> WorkflowState {
        self.tx.send_modify(|snapshot| {
            snapshot.state = state.clone();
            snapshot.last = true;
        });
        if let Some(publisher) = self.publisher.take() {
            let _ = publisher.await;
        }
        state
    }
}

impl Drop for LiveState {
    fn drop(&mut self) {
        // An attempt dropped mid-plan (cancelled, suspended, lease lost): stop publishing.
        if let Some(publisher) = self.publisher.take() {
            publisher.abort();
        }
    }
}

async fn publish(mut rx: watch::Receiver<Snapshot>, metadata: Metadata) {
    // The first value counts as a change: publish the initial state too.
    rx.mark_changed();
    while rx.changed().await.is_ok() {
        let snapshot = rx.borrow_and_update().clone();
        let state = within_budget(snapshot.state);
        if let Err(e) = metadata.set(METADATA_KEY, &state).await {
            tracing::warn!(
                "the state of plan execution {} was not published: {e}",
                state.execution_id
            );
        }
        if snapshot.last {
            return;
        }
        pace(&mut rx).await;
    }
}

/// Waits [`PUBLISH_INTERVAL`] after a publication, or less when the final state comes; leaves
/// `rx` marked changed when anything changed meanwhile.
async fn pace(rx: &mut watch::Receiver<Snapshot>) {
    let pause = tokio::time::sleep(PUBLISH_INTERVAL);
    tokio::pin!(pause);
    let mut changed = false;
    loop {
        tokio::select! {
            () = &mut pause => break,
            seen = rx.changed() => {
                if seen.is_err() {
                    return;
                }
                changed = true;
                if rx.borrow().last {
                    break;
                }
            }
        }
    }
    if changed {
        rx.mark_changed();
    }
}

/// `state` with outputs left out, last actions first, until its JSON fits [`METADATA_BUDGET`].
pub(crate) fn within_budget(mut state: WorkflowState) -> WorkflowState {
    let size = |v: &serde_json::Value| v.to_string().len();
    let Ok(whole) = serde_json::to_value(&state) else {
        return state;
    };
    let mut total = size(&whole);
    if total <= METADATA_BUDGET {
        return state;
    }
    for result in state.results.values_mut().rev() {
        let Some(output) = result.output.take() else {
            continue;
        };
        total -= size(&serde_json::Value::Object(output));
        result.output_omitted = true;
        if total <= METADATA_BUDGET {
            break;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};
    use trigr_types::plan::{ActionStatus, ExecutionPlan, WorkflowStatus};

    #[test]
    fn large_outputs_are_left_out_of_the_metadata_copy() {
        let actions: Vec<_> = (0..4)
            .map(|i| json!({"id": format!("a{i}"), "http": {"method": "GET", "url": "http://x/"}}))
            .collect();
        let plan: ExecutionPlan =
            serde_json::from_value(json!({"id": "p", "actions": actions})).expect("a plan");
        let mut state =
            WorkflowState::initial("run_1", &plan, WorkflowStatus::Running, chrono::Utc::now());
        for (i, result) in state.results.values_mut().enumerate() {
            result.status = ActionStatus::Completed;
            let mut output = Map::new();
            output.insert(
                "body".into(),
                json!("x".repeat(if i == 0 { 10 } else { 80_000 })),
            );
            result.output = Some(output);
        }
        let small = within_budget(state.clone());
        assert!(serde_json::to_string(&small).expect("json").len() <= METADATA_BUDGET);
        assert!(!small.results["a0"].output_omitted, "the small one stays");
        assert!(small.results["a3"].output_omitted && small.results["a3"].output.is_none());
        assert!(
            !small.results["a1"].output_omitted,
            "only as many as needed are left out"
        );
    }
}
