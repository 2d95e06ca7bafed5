//! [`Metadata`]: change the run's metadata object from inside the task
//! (`PUT /api/v1/runs/{id}/metadata` with operations; see `docs/api.md`).
//!
//! Every call is sent at once and answers the new metadata. Metadata changes are not
//! journaled: a re-executed run applies them again, which is harmless for `set`, `delete` and
//! `replace` but counts twice for `increment` and `append` unless they sit inside a step.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Error, Result};

/// Which run's metadata the operations change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Own,
    Parent,
    Root,
}

/// The metadata of the running run (`ctx.metadata`), or of its parent or root.
#[derive(Clone, Debug)]
pub struct Metadata {
    client: Client,
    run_id: String,
    target: Target,
    current: Arc<Mutex<Value>>,
}

impl Metadata {
    pub(crate) fn new(client: Client, run_id: &str, initial: Value) -> Metadata {
        Metadata {
            client,
            run_id: run_id.to_string(),
            target: Target::Own,
            current: Arc::new(Mutex::new(initial)),
        }
    }

    /// The run's metadata as last seen: at the start of the attempt or after the last change.
    pub fn current(&self) -> Value {
        self.lock().clone()
    }

    /// The same operations applied to the parent run (or this run when it has none).
    pub fn parent(&self) -> Metadata {
        Metadata {
            target: Target::Parent,
            ..self.clone()
        }
    }

    /// The same operations applied to the root run (or this run when it has none).
    pub fn root(&self) -> Metadata {
        Metadata {
            target: Target::Root,
            ..self.clone()
        }
    }

    /// Sets a top-level key, or a JSON path like `$.progress.step` whose parent exists.
    pub async fn set(&self, key: &str, value: impl Serialize) -> Result<Value> {
        let value = to_json(value)?;
        self.apply(json!({"type": "set", "key": key, "value": value}))
            .await
    }

    /// Removes a top-level key.
    pub async fn delete(&self, key: &str) -> Result<Value> {
        self.apply(json!({"type": "delete", "key": key})).await
    }

    /// Appends to the array at `key` (creating it).
    pub async fn append(&self, key: &str, value: impl Serialize) -> Result<Value> {
        let value = to_json(value)?;
        self.apply(json!({"type": "append", "key": key, "value": value}))
            .await
    }

    /// Removes every element equal to `value` from the array at `key`.
    pub async fn remove(&self, key: &str, value: impl Serialize) -> Result<Value> {
        let value = to_json(value)?;
        self.apply(json!({"type": "remove", "key": key, "value": value}))
            .await
    }

    /// Adds `by` to the number at `key` (a missing or non-number value counts as 0).
    pub async fn increment(&self, key: &str, by: f64) -> Result<Value> {
        self.apply(json!({"type": "increment", "key": key, "value": by}))
            .await
    }

    /// Subtracts `by` from the number at `key`.
    pub async fn decrement(&self, key: &str, by: f64) -> Result<Value> {
        self.increment(key, -by).await
    }

    /// Replaces the whole metadata object.
    pub async fn replace(&self, metadata: impl Serialize) -> Result<Value> {
        let value = to_json(metadata)?;
        self.apply(json!({"type": "update", "value": value})).await
    }

    async fn apply(&self, operation: Value) -> Result<Value> {
        let field = match self.target {
            Target::Own => "operations",
            Target::Parent => "parentOperations",
            Target::Root => "rootOperations",
        };
        let body = json!({ field: [operation] });
        let new = self.client.update_metadata(&self.run_id, &body).await?;
        if self.target == Target::Own {
            *self.lock() = new.clone();
        }
        Ok(new)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Value> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn to_json(value: impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::json("the metadata value", e))
}
