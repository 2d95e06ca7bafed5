//! The answers of the batch API (reference §2.2): a batch created, items accepted, and a
//! batch as retrieve shows it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

/// Answer of `POST /api/v3/batches`: a batch after phase 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchCreated {
    pub id: String,
    pub run_count: i64,
    /// `true` when the idempotency key named an existing batch.
    pub is_cached: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key: Option<String>,
}

/// An item of a batch and its run (a trigr addition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchItemRun {
    pub index: i64,
    pub run_id: String,
    /// The version the run is locked to; `null` while it has none.
    pub version: Option<String>,
}

/// Answer of `POST /api/v3/batches/{id}/items`: what the call did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchItemsAccepted {
    pub id: String,
    pub items_accepted: i64,
    pub items_deduplicated: i64,
    /// `true` once every item of the batch has arrived.
    pub sealed: bool,
    /// The runs of the items this call created.
    pub items: Vec<BatchItemRun>,
    /// Items received so far; present while the batch is not sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub enqueued_count: Option<i64>,
    /// Items the batch has; present while the batch is not sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub expected_count: Option<i64>,
}

/// `processing` of a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchProcessing {
    /// Always empty: items that cannot become runs are refused when sent.
    pub errors: Vec<Value>,
    /// When the last run finished, once the batch is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub completed_at: Option<Timestamp>,
}

/// Answer of `GET /api/v2/batches/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub id: String,
    /// `PENDING` until every item arrived, `PROCESSING` until every run is final, then
    /// `COMPLETED`.
    pub status: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub run_count: i64,
    /// The ids of the batch's runs, in item order.
    pub runs: Vec<String>,
    /// Each item's run and the version it is locked to (a trigr addition).
    pub items: Vec<BatchItemRun>,
    pub processing: BatchProcessing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key: Option<String>,
    /// Runs the batch has now (a trigr addition, as are the counts below).
    #[serde(default)]
    pub total_runs: i64,
    /// Runs finished successfully.
    #[serde(default)]
    pub completed_runs: i64,
    /// Runs finished otherwise: failed, crashed, cancelled, expired, timed out.
    #[serde(default)]
    pub failed_runs: i64,
    /// Runs started and not finished: `DEQUEUED`, `EXECUTING`, `WAITING`.
    #[serde(default)]
    pub running_runs: i64,
}

/// Body of `POST /api/v1/batches/{id}/cancel`: which unfinished runs to cancel (both when
/// absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"cancelPending": true, "cancelRunning": false, "reason": "Superseded by batch_2"}))
)]
#[serde(rename_all = "camelCase")]
pub struct BatchCancelBody {
    /// Runs not started yet.
    #[serde(default = "yes")]
    pub cancel_pending: bool,
    /// Runs started (dequeued, executing, waiting).
    #[serde(default = "yes")]
    pub cancel_running: bool,
    /// Why (1 to 1000 characters): each run cancelled keeps it as its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn yes() -> bool {
    true
}

/// Answer of `POST /api/v1/batches/{id}/cancel`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchCanceled {
    pub id: String,
    /// The runs cancelled, in item order.
    pub canceled: Vec<String>,
    /// Unfinished runs left running or waiting, as asked.
    pub skipped: u64,
}

/// Answer of `GET /api/v1/batches/{id}/statistics`: how the batch's runs went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchStatistics {
    pub id: String,
    /// `PENDING` (items may still come), `PROCESSING` or `COMPLETED`.
    pub status: String,
    pub total_runs: u64,
    /// Not started yet.
    pub pending_runs: u64,
    /// Started, not finished.
    pub running_runs: u64,
    pub completed_runs: u64,
    /// Ended in failure: failed, crashed, system failure, timed out or expired (cancelled runs
    /// are counted in `canceledRuns`).
    pub failed_runs: u64,
    pub canceled_runs: u64,
    /// Mean time from start to finish of the finished runs that started, in milliseconds;
    /// `null` when none did.
    pub average_duration: Option<f64>,
    /// Completed runs over finished runs (cancelled ones included), 0 to 1; `null` when none
    /// finished.
    pub success_rate: Option<f64>,
    /// The failed runs grouped by error name and code, largest group first (at most 20
    /// groups; the rest are counted under `Other`).
    pub error_breakdown: Vec<BatchErrorGroup>,
}

/// Failed runs of a batch sharing an error name and code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchErrorGroup {
    /// The error's name (`Error` when it had none; the run's status when it ended without an
    /// error, as an expired run does).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_read_back_write_the_same_json() {
        let items = json!({"id": "batch_1", "itemsAccepted": 1, "itemsDeduplicated": 0,
            "sealed": false, "items": [{"index": 0, "runId": "run_1", "version": null}],
            "enqueuedCount": 1, "expectedCount": 2});
        let read: BatchItemsAccepted = serde_json::from_value(items.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), items);
        let batch = json!({"id": "batch_1", "status": "PENDING",
            "createdAt": "2026-11-26T21:00:00.000Z", "updatedAt": "2026-11-26T21:00:00.000Z",
            "runCount": 2, "runs": [], "items": [], "processing": {"errors": []},
            "totalRuns": 0, "completedRuns": 0, "failedRuns": 0, "runningRuns": 0});
        let read: Batch = serde_json::from_value(batch.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), batch);
    }
}
