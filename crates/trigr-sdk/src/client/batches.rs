//! Batches from outside a task (`/api/v3/batches…`, `/api/v2/batches/{id}`,
//! `/api/v1/batches/{id}/cancel`, `/api/v1/batches/{id}/statistics`) and cancelling many runs
//! at once (`/api/v1/runs/cancel`).
//!
//! [`Batches::trigger`] makes a batch of up to 1000 runs in two requests (the batch, then its
//! items as NDJSON); [`Batches::retrieve`] reads it back with its counts (`total_runs`,
//! `completed_runs`, `failed_runs`, `running_runs`) and `status`; [`Batches::cancel`] cancels
//! its runs not started, its runs started, or both; [`Batches::statistics`] says how its
//! runs went (mean duration, success rate, errors grouped by name and code).
//! [`Client::cancel_runs`] cancels up to
//! 100 runs by id and says what happened to each.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use trigr_sdk::batches::{BatchCancel, BatchItem};
//! use trigr_sdk::TriggerOptions;
//! let batches = client.batches();
//! let items = (0..3)
//!     .map(|n| BatchItem::new("send-email", &serde_json::json!({ "n": n }), TriggerOptions::new()))
//!     .collect::<trigr_sdk::Result<Vec<_>>>()?;
//! let made = batches.trigger(items).await?;
//! let batch = batches.retrieve(&made.id).await?;
//! println!("{} of {} done", batch.completed_runs, batch.total_runs);
//! batches.cancel(&made.id, BatchCancel::pending_only()).await?;
//! # Ok(()) }
//! ```
//!
//! [`Client::cancel_runs`]: crate::Client::cancel_runs

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
pub use trigr_types::wire::batches::{
    Batch, BatchCanceled, BatchErrorGroup, BatchItemsAccepted, BatchStatistics,
};
use trigr_types::wire::batches::{BatchCancelBody, BatchCreated};
use trigr_types::wire::rest::{BatchItem as WireItem, CreateBatch};

use crate::client::types::TriggerOptions;
use crate::error::{Error, Result};
use crate::http::{encode, Http, Tries};

/// The most items a batch has.
pub const MAX_ITEMS: usize = 1000;

/// The batches API of one client ([`Client::batches`](crate::Client::batches)).
#[derive(Clone, Debug)]
pub struct Batches {
    pub(crate) http: Http,
}

/// One run of a batch: a task, its payload and options.
#[derive(Clone, Debug)]
pub struct BatchItem {
    task: String,
    payload: String,
    options: TriggerOptions,
}

impl BatchItem {
    /// A run of the task with this id; the payload is any serializable value.
    pub fn new(
        task_id: impl Into<String>,
        payload: &impl Serialize,
        options: TriggerOptions,
    ) -> Result<BatchItem> {
        let payload = serde_json::to_string(payload).map_err(|e| Error::json("the payload", e))?;
        Ok(BatchItem {
            task: task_id.into(),
            payload,
            options,
        })
    }

    fn line(&self, index: usize) -> Result<String> {
        let mut options = self.options.to_wire();
        options.payload_type = Some(trigr_types::packet::JSON.to_string());
        let item = WireItem {
            index: index as i64,
            task: self.task.clone(),
            payload: Some(Value::String(self.payload.clone())),
            options,
        };
        serde_json::to_string(&item).map_err(|e| Error::json("a batch item", e))
    }
}

/// Which unfinished runs of a batch [`Batches::cancel`] cancels, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchCancel {
    /// Runs not started yet.
    pub cancel_pending: bool,
    /// Runs started (dequeued, executing, waiting).
    pub cancel_running: bool,
    /// Why (1 to 1000 characters): each run cancelled keeps it as its error.
    pub reason: Option<String>,
}

impl Default for BatchCancel {
    fn default() -> BatchCancel {
        BatchCancel::all()
    }
}

impl BatchCancel {
    /// Every unfinished run.
    pub fn all() -> BatchCancel {
        BatchCancel {
            cancel_pending: true,
            cancel_running: true,
            reason: None,
        }
    }
    /// Only the runs not started: the running ones finish.
    pub fn pending_only() -> BatchCancel {
        BatchCancel {
            cancel_pending: true,
            cancel_running: false,
            reason: None,
        }
    }

    /// Says why: each run cancelled keeps `reason` as its error
    /// (`{"message": reason, "name": "CancelledError"}`).
    pub fn reason(mut self, reason: impl Into<String>) -> BatchCancel {
        self.reason = Some(reason.into());
        self
    }
}

impl Batches {
    /// Triggers a batch of 1 to [`MAX_ITEMS`] runs; the answer names the batch and each
    /// item's run.
    pub async fn trigger(&self, items: Vec<BatchItem>) -> Result<BatchItemsAccepted> {
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(Error::Config(format!(
                "a batch has 1 to {MAX_ITEMS} items, not {}",
                items.len()
            )));
        }
        let mut tasks: Vec<String> = items.iter().map(|i| i.task.clone()).collect();
        tasks.sort();
        tasks.dedup();
        let create = CreateBatch {
            run_count: items.len() as i64,
            task_identifiers: tasks,
            idempotency_key: None,
            idempotency_key_options: None,
            parent_run_id: None,
            resume_parent_on_completion: None,
        };
        let body = serde_json::to_value(create).map_err(|e| Error::json("the batch", e))?;
        let created: BatchCreated = self
            .http
            .call(Method::POST, "/api/v3/batches", Some(&body), Tries::Once)
            .await?;
        let mut ndjson = String::new();
        for (index, item) in items.iter().enumerate() {
            ndjson.push_str(&item.line(index)?);
            ndjson.push('\n');
        }
        let path = format!("/api/v3/batches/{}/items", encode(&created.id));
        let answer = self
            .http
            .send_text(Method::POST, &path, "application/x-ndjson", ndjson, &[])
            .await?;
        serde_json::from_value(answer).map_err(|e| Error::BadAnswer {
            request: format!("POST {path}"),
            reason: e.to_string(),
        })
    }

    /// A batch with its runs, counts and status.
    pub async fn retrieve(&self, batch_id: &str) -> Result<Batch> {
        let path = format!("/api/v2/batches/{}", encode(batch_id));
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// How the batch's runs went: counts by outcome, the mean duration of the finished ones,
    /// the success rate and the failures grouped by error name and code.
    pub async fn statistics(&self, batch_id: &str) -> Result<BatchStatistics> {
        let path = format!("/api/v1/batches/{}/statistics", encode(batch_id));
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// Cancels the batch's unfinished runs that `which` selects.
    pub async fn cancel(&self, batch_id: &str, which: BatchCancel) -> Result<BatchCanceled> {
        let path = format!("/api/v1/batches/{}/cancel", encode(batch_id));
        let body = BatchCancelBody {
            cancel_pending: which.cancel_pending,
            cancel_running: which.cancel_running,
            reason: which.reason,
        };
        let body = serde_json::to_value(body).map_err(|e| Error::json("the cancel", e))?;
        self.http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await
    }
}
