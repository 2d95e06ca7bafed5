//! `replay`: a new run of the same task from an old one, on the current version, with optional
//! overrides.

use serde_json::Value;
use trigr_store::Run;
use trigr_types::wire::rest::ReplayOverrides;
use trigr_types::wire::trigger::{QueueOption, TriggerOptions};

use crate::trigger::{parse_region, prepare, Triggered};
use crate::{Engine, Error, Result};

/// A checked replay (from [`check`]): what replaces the original run's payload and options.
/// What is `None` is the original's (or, for the options a run does not keep, the default).
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// The new payload and its packet type (`application/json` unless given).
    pub payload: Option<(Value, String)>,
    pub metadata: Option<Value>,
    pub tags: Option<Value>,
    pub queue: Option<String>,
    pub concurrency_key: Option<Value>,
    pub machine: Option<String>,
    pub version: Option<String>,
    /// Checked.
    pub region: Option<String>,
    pub delay: Option<Value>,
    pub ttl: Option<Value>,
    pub idempotency_key: Option<String>,
    pub idempotency_key_ttl: Option<String>,
    pub max_attempts: Option<i64>,
    pub max_duration: Option<f64>,
    pub priority: Option<f64>,
}

/// Checks the overrides of a replay: the region here, the other options with the original
/// run's, when the new run is prepared.
pub fn check(o: ReplayOverrides) -> Result<Replay> {
    let region = o.region.map(Value::String);
    let region = parse_region(region.as_ref(), "region")?;
    Ok(Replay {
        payload: o.payload.map(|p| {
            let kind = o
                .payload_type
                .unwrap_or_else(|| trigr_types::packet::JSON.into());
            (p, kind)
        }),
        metadata: o.metadata,
        tags: o.tags,
        queue: o.queue,
        concurrency_key: o.concurrency_key,
        machine: o.machine,
        version: o.version,
        region,
        delay: o.delay,
        ttl: o.ttl,
        idempotency_key: o.idempotency_key,
        idempotency_key_ttl: o.idempotency_key_ttl,
        max_attempts: o.max_attempts,
        max_duration: o.max_duration,
        priority: o.priority,
    })
}

impl Engine {
    pub async fn replay(&self, env_id: &str, run_id: &str, o: Replay) -> Result<Triggered> {
        let (env, id) = (env_id.to_string(), run_id.to_string());
        let original: Run = self
            .read(move |tx| tx.run(&env, &id)?.ok_or_else(|| Error::run_not_found(&id)))
            .await?;
        let queue_name = self
            .queue_name_of(&original)
            .await?
            .filter(|q| !q.starts_with("task/"));
        let (payload, payload_type) = match o.payload {
            Some((p, kind)) => (Some(p), kind),
            None => (
                original.payload.clone().map(Value::String),
                original.payload_type.clone(),
            ),
        };
        let metadata = o.metadata.or_else(|| {
            original
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
        });
        let options = TriggerOptions {
            payload_type: Some(payload_type),
            tags: o.tags.or_else(|| Some(Value::from(original.tags.clone()))),
            metadata,
            queue: o.queue.or(queue_name).map(QueueOption::Name),
            concurrency_key: o.concurrency_key.or_else(|| {
                (!original.ckey.is_empty()).then(|| Value::String(original.ckey.clone()))
            }),
            machine: o.machine.or(original.machine.clone()),
            lock_to_version: o.version,
            region: Some(Value::String(
                o.region.unwrap_or_else(|| original.region.clone()),
            )),
            delay: o.delay,
            ttl: o.ttl,
            idempotency_key: o.idempotency_key,
            idempotency_key_ttl: o.idempotency_key_ttl,
            max_attempts: o.max_attempts.or(original.max_attempts),
            max_duration: o.max_duration,
            priority: o.priority,
            ..Default::default()
        };
        let new = prepare(
            &original.task_id,
            payload,
            options,
            self.config.max_payload_bytes,
            self.now(),
        )?;
        self.trigger(env_id, new).await
    }

    async fn queue_name_of(&self, run: &Run) -> Result<Option<String>> {
        let (env, q) = (run.env_id.clone(), run.queue_id.clone());
        self.read(move |tx| Ok::<_, Error>(tx.queue_by_id(&env, &q)?.map(|q| q.name)))
            .await
    }
}
