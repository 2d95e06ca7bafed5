//! [`Metadata`]: change the run's metadata object from inside the task
//! (`PUT /api/v1/runs/{id}/metadata` with operations; see `docs/api.md`).
//!
//! Every call is sent at once and answers the new metadata; [`Metadata::batch`] collects
//! operations instead, and [`MetadataBatch::flush`] applies them in one request (all or none).
//! The whole object is limited to 256 KiB of JSON: a change past it fails with `413` and
//! changes nothing. Metadata changes are not journaled: a re-executed run applies them again,
//! which is harmless for `set`, `delete` and `replace` but counts twice for `increment` and
//! `append` unless they sit inside a step.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use trigr_types::wire::rest::{MetadataOperation as Operation, MetadataUpdate};

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
        self.apply(Operation::Set {
            key: key.to_string(),
            value,
        })
        .await
    }

    /// Removes a top-level key.
    pub async fn delete(&self, key: &str) -> Result<Value> {
        self.apply(Operation::Delete {
            key: key.to_string(),
        })
        .await
    }

    /// Appends to the array at `key` (creating it).
    pub async fn append(&self, key: &str, value: impl Serialize) -> Result<Value> {
        let value = to_json(value)?;
        self.apply(Operation::Append {
            key: key.to_string(),
            value,
        })
        .await
    }

    /// Removes every element equal to `value` from the array at `key`.
    pub async fn remove(&self, key: &str, value: impl Serialize) -> Result<Value> {
        let value = to_json(value)?;
        self.apply(Operation::Remove {
            key: key.to_string(),
            value,
        })
        .await
    }

    /// Adds `by` to the number at `key` (a missing or non-number value counts as 0).
    pub async fn increment(&self, key: &str, by: f64) -> Result<Value> {
        self.apply(Operation::Increment {
            key: key.to_string(),
            value: by,
        })
        .await
    }

    /// Subtracts `by` from the number at `key`.
    pub async fn decrement(&self, key: &str, by: f64) -> Result<Value> {
        self.increment(key, -by).await
    }

    /// Replaces the whole metadata object.
    pub async fn replace(&self, metadata: impl Serialize) -> Result<Value> {
        let value = to_json(metadata)?;
        self.apply(Operation::Update { value }).await
    }

    /// Collects operations to send together: [`MetadataBatch::flush`] applies them all in one
    /// request and one transaction (all or none), in order. For frequent progress updates.
    ///
    /// ```no_run
    /// # async fn demo(ctx: trigr_sdk::Context) -> trigr_sdk::Result<()> {
    /// let mut batch = ctx.metadata.batch();
    /// batch.set("progress", 0.75).increment("processed", 10.0).append("log", "chunk 3");
    /// batch.flush().await?;
    /// # Ok(()) }
    /// ```
    pub fn batch(&self) -> MetadataBatch {
        MetadataBatch {
            metadata: self.clone(),
            operations: Vec::new(),
            error: None,
        }
    }

    async fn apply(&self, operation: Operation) -> Result<Value> {
        self.send(vec![operation]).await
    }

    async fn send(&self, operations: Vec<Operation>) -> Result<Value> {
        let mut body = MetadataUpdate::default();
        let field = match self.target {
            Target::Own => &mut body.operations,
            Target::Parent => &mut body.parent_operations,
            Target::Root => &mut body.root_operations,
        };
        *field = Some(operations);
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

/// Metadata operations collected by [`Metadata::batch`], sent by [`MetadataBatch::flush`].
#[derive(Debug)]
pub struct MetadataBatch {
    metadata: Metadata,
    operations: Vec<Operation>,
    /// The first value that could not be turned into JSON; `flush` returns it.
    error: Option<Error>,
}

impl MetadataBatch {
    fn push(&mut self, operation: Result<Operation>) -> &mut Self {
        match operation {
            Ok(op) => self.operations.push(op),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Sets a key (see [`Metadata::set`]).
    pub fn set(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        let op = to_json(value).map(|value| Operation::Set {
            key: key.to_string(),
            value,
        });
        self.push(op)
    }

    /// Removes a key.
    pub fn delete(&mut self, key: &str) -> &mut Self {
        self.push(Ok(Operation::Delete {
            key: key.to_string(),
        }))
    }

    /// Appends to the array at `key`.
    pub fn append(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        let op = to_json(value).map(|value| Operation::Append {
            key: key.to_string(),
            value,
        });
        self.push(op)
    }

    /// Removes every element equal to `value` from the array at `key`.
    pub fn remove(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        let op = to_json(value).map(|value| Operation::Remove {
            key: key.to_string(),
            value,
        });
        self.push(op)
    }

    /// Adds `by` to the number at `key`.
    pub fn increment(&mut self, key: &str, by: f64) -> &mut Self {
        self.push(Ok(Operation::Increment {
            key: key.to_string(),
            value: by,
        }))
    }

    /// Subtracts `by` from the number at `key`.
    pub fn decrement(&mut self, key: &str, by: f64) -> &mut Self {
        self.increment(key, -by)
    }

    /// Operations waiting to be sent.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// Whether nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Sends the collected operations in one request and answers the new metadata; they are
    /// applied together or not at all (a result over the size limit changes nothing). The
    /// batch is empty afterwards, and can collect again.
    pub async fn flush(&mut self) -> Result<Value> {
        if let Some(e) = self.error.take() {
            self.operations.clear();
            return Err(e);
        }
        if self.operations.is_empty() {
            return Ok(self.metadata.current());
        }
        let operations = std::mem::take(&mut self.operations);
        self.metadata.send(operations).await
    }
}
