//! A buffered trigger's body: the checked [`NewRun`] as JSON, so the drainer creates the same
//! run the trigger would have created at once (with the run id it was answered with).

use serde::{Deserialize, Serialize};
use trigr_types::trace::TraceParent;
use trigr_types::Millis;

use trigr_store::Run;

use crate::trigger::{Fixed, IdempotencyKey, NewRun, Ttl};
use crate::{Error, Result};

/// [`NewRun`] in a stored form (the reuse check stays with the request that made it).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    task_id: String,
    payload: Option<String>,
    payload_type: String,
    tags: Vec<String>,
    metadata: Option<String>,
    metadata_type: String,
    concurrency_key: String,
    queue: Option<String>,
    version: Option<String>,
    delay_until: Option<Millis>,
    ttl: Option<(String, Millis)>,
    priority_ms: Millis,
    idempotency: Option<(String, Option<String>, Option<String>, Millis)>,
    max_attempts: Option<i64>,
    max_duration_secs: Option<i64>,
    machine: Option<String>,
    parent_run_id: Option<String>,
    is_test: bool,
    request_key: Option<String>,
    batch: Option<(String, i64)>,
    trigger_function: String,
    trace: Option<(String, String)>,
    /// What the answer fixed ([`crate::trigger::Fixed`], but the run id, which the entry
    /// holds) and the queue the run goes to.
    joined_trace_id: Option<String>,
    parent_span_id: Option<String>,
    created_at: Millis,
    queue_name: String,
    region: Option<String>,
}

/// A buffered trigger read back: the run to create and the queue it goes to.
pub struct Decoded {
    pub new: NewRun,
    pub queue_name: String,
}

/// The stored form of a trigger whose run was planned as `planned` (id, trace, queue).
pub fn encode(new: &NewRun, planned: &Run) -> String {
    let body = Body {
        task_id: new.task_id.clone(),
        payload: new.payload.clone(),
        payload_type: new.payload_type.clone(),
        tags: new.tags.clone(),
        metadata: new.metadata.clone(),
        metadata_type: new.metadata_type.clone(),
        concurrency_key: new.concurrency_key.clone(),
        queue: new.queue.clone(),
        version: new.version.clone(),
        delay_until: new.delay_until,
        ttl: new.ttl.as_ref().map(|t| (t.text.clone(), t.ms)),
        priority_ms: new.priority_ms,
        idempotency: new
            .idempotency
            .as_ref()
            .map(|k| (k.key.clone(), k.user_key.clone(), k.scope.clone(), k.ttl_ms)),
        max_attempts: new.max_attempts,
        max_duration_secs: new.max_duration_secs,
        machine: new.machine.clone(),
        parent_run_id: new.parent_run_id.clone(),
        is_test: new.is_test,
        request_key: new.request_key.clone(),
        batch: new.batch.clone(),
        trigger_function: new.trigger_function.to_string(),
        trace: new
            .trace
            .as_ref()
            .map(|t| (t.trace_id.clone(), t.span_id.clone())),
        joined_trace_id: planned.joined_trace_id.clone(),
        parent_span_id: planned.parent_span_id.clone(),
        created_at: planned.created_at,
        queue_name: planned.queue_name.clone(),
        region: new.region.clone(),
    };
    serde_json::to_string(&body).expect("a trigger serializes")
}

/// The trigger a stored body holds, to be created as run `run_id`.
pub fn decode(text: &str, run_id: &str) -> Result<Decoded> {
    let b: Body = serde_json::from_str(text)
        .map_err(|e| Error::unprocessable(format!("unreadable buffered trigger: {e}")))?;
    let payload_value = match &b.payload {
        Some(p) => trigr_types::packet::to_value(p, &b.payload_type)
            .map_err(|e| Error::unprocessable(e.to_string()))?,
        None => serde_json::Value::Null,
    };
    let new = NewRun {
        fixed: Some(Fixed {
            run_id: run_id.to_string(),
            joined_trace_id: b.joined_trace_id,
            parent_span_id: b.parent_span_id,
            created_at: b.created_at,
        }),
        task_id: b.task_id,
        payload: b.payload,
        payload_type: b.payload_type,
        payload_value,
        tags: b.tags,
        metadata: b.metadata,
        metadata_type: b.metadata_type,
        concurrency_key: b.concurrency_key,
        queue: b.queue,
        version: b.version,
        delay_until: b.delay_until,
        ttl: b.ttl.map(|(text, ms)| Ttl { text, ms }),
        priority_ms: b.priority_ms,
        idempotency: b
            .idempotency
            .map(|(key, user_key, scope, ttl_ms)| IdempotencyKey {
                key,
                user_key,
                scope,
                ttl_ms,
            }),
        max_attempts: b.max_attempts,
        max_duration_secs: b.max_duration_secs,
        machine: b.machine,
        parent_run_id: b.parent_run_id,
        is_test: b.is_test,
        request_key: b.request_key,
        batch: b.batch,
        trigger_function: trigger_function(&b.trigger_function),
        reuse: None,
        // A debounced trigger is never buffered; a child of a wait is never buffered either
        // (its parent span is fixed with the run's trace).
        debounce: None,
        parent_span: None,
        region: b.region,
        trace: b
            .trace
            .map(|(trace_id, span_id)| TraceParent { trace_id, span_id }),
    };
    Ok(Decoded {
        new,
        queue_name: b.queue_name,
    })
}

/// The static name of a trigger function read back.
fn trigger_function(name: &str) -> &'static str {
    match name {
        "batchTrigger" => "batchTrigger",
        "triggerAndWait" => "triggerAndWait",
        "batchTriggerAndWait" => "batchTriggerAndWait",
        _ => "trigger",
    }
}
