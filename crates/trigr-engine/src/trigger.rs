//! `trigger`: create one run. The shared [`create_run`] also serves batches and replays.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use trigr_store::{Environment, Queue, QueueKind, Run, Tx};
use trigr_types::manifest::{task_queue_name, TaskManifest};
use trigr_types::{duration, id, packet, Millis, RunStatus, MACHINES};

use crate::{Effects, Engine, Error, LoadedDeployment, Result};

pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 2048;

/// `options` of a trigger call (reference §2.1), as sent by the official SDK.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOptions {
    pub payload_type: Option<String>,
    pub idempotency_key: Option<String>,
    #[serde(rename = "idempotencyKeyTTL")]
    pub idempotency_key_ttl: Option<String>,
    pub idempotency_key_options: Option<IdempotencyKeyOptions>,
    pub delay: Option<Value>,
    pub ttl: Option<Value>,
    pub tags: Option<Value>,
    pub metadata: Option<Value>,
    pub metadata_type: Option<String>,
    pub priority: Option<f64>,
    pub queue: Option<QueueOption>,
    pub concurrency_key: Option<Value>,
    pub max_attempts: Option<i64>,
    pub max_duration: Option<f64>,
    pub machine: Option<String>,
    pub lock_to_version: Option<String>,
    /// Same as `lockToVersion`, for callers that say `version`.
    pub version: Option<String>,
    pub parent_run_id: Option<String>,
    pub test: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IdempotencyKeyOptions {
    pub key: String,
    pub scope: Option<String>,
}

/// `queue` may be `{ "name": … }` or a bare name.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum QueueOption {
    Named { name: String },
    Name(String),
}

impl QueueOption {
    fn name(&self) -> &str {
        match self {
            QueueOption::Named { name } | QueueOption::Name(name) => name,
        }
    }
}

/// A validated request to create one run.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub task_id: String,
    pub payload: Option<String>,
    pub payload_type: String,
    /// The payload as plain JSON, for schema validation.
    pub payload_value: Value,
    pub options: TriggerOptions,
    pub tags: Vec<String>,
    pub metadata: Option<String>,
    pub concurrency_key: String,
    pub request_key: Option<String>,
    pub batch: Option<(String, i64)>,
    pub trigger_function: &'static str,
}

/// The answer to a trigger.
#[derive(Clone, Debug)]
pub struct Triggered {
    pub run: Run,
    /// An idempotency key matched an existing run.
    pub is_cached: bool,
}

/// Validates the body of a trigger call: everything that does not need the store.
pub fn prepare(
    task_id: &str,
    payload: Option<Value>,
    options: TriggerOptions,
    max_payload: usize,
) -> Result<NewRun> {
    if task_id.is_empty() || task_id.len() > 128 {
        return Err(Error::invalid("The task id must be 1-128 characters"));
    }
    let payload_type = options
        .payload_type
        .clone()
        .unwrap_or_else(|| packet::JSON.to_string());
    if !packet::is_known_type(&payload_type) {
        return Err(Error::invalid(format!(
            "Unknown payloadType '{payload_type}': use application/json, application/super+json or text/plain"
        )));
    }
    let payload = match payload {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    if payload.as_ref().is_some_and(|p| p.len() > max_payload) {
        return Err(Error::TooLarge(format!(
            "The payload is {} bytes, over the limit of {max_payload} bytes",
            payload.as_ref().map_or(0, String::len)
        )));
    }
    if payload_type == packet::STORE {
        return Err(Error::invalid(
            "An application/store payload must name a packet stored with PUT /api/v2/packets/{path}",
        ));
    }
    let payload_value = match &payload {
        Some(p) => packet::to_value(p, &payload_type).map_err(|e| Error::invalid(e.to_string()))?,
        None => Value::Null,
    };
    let tags = parse_tags(options.tags.as_ref())?;
    let metadata = parse_metadata(options.metadata.as_ref())?;
    let concurrency_key = match &options.concurrency_key {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(Error::invalid(
                "concurrencyKey must be a string or a number",
            ))
        }
    };
    check_options(&options)?;
    Ok(NewRun {
        task_id: task_id.to_string(),
        payload,
        payload_type,
        payload_value,
        options,
        tags,
        metadata,
        concurrency_key,
        request_key: None,
        batch: None,
        trigger_function: "trigger",
    })
}

fn check_options(o: &TriggerOptions) -> Result<()> {
    if let Some(k) = &o.idempotency_key {
        if k.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(Error::invalid(format!(
                "idempotencyKey is {} characters, over the limit of {MAX_IDEMPOTENCY_KEY_LEN}",
                k.len()
            )));
        }
        if k.is_empty() {
            return Err(Error::invalid("idempotencyKey must not be empty"));
        }
    }
    if let Some(scope) = o
        .idempotency_key_options
        .as_ref()
        .and_then(|k| k.scope.as_deref())
    {
        if !matches!(scope, "run" | "attempt" | "global") {
            return Err(Error::invalid(format!(
                "idempotencyKeyOptions.scope must be run, attempt or global, not '{scope}'"
            )));
        }
    }
    if let Some(m) = &o.machine {
        if !MACHINES.contains(&m.as_str()) {
            return Err(Error::invalid(format!(
                "Unknown machine '{m}': use one of {}",
                MACHINES.join(", ")
            )));
        }
    }
    if let Some(n) = o.max_attempts {
        if !(1..=100).contains(&n) {
            return Err(Error::invalid("maxAttempts must be between 1 and 100"));
        }
    }
    if let Some(d) = o.max_duration {
        if !(d.is_finite() && d >= 1.0) {
            return Err(Error::invalid(
                "maxDuration must be a number of seconds, at least 1",
            ));
        }
    }
    if let Some(p) = o.priority {
        if !p.is_finite() || p.abs() > 1e9 {
            return Err(Error::invalid(
                "priority must be a finite number of seconds",
            ));
        }
    }
    if let Some(q) = &o.queue {
        if q.name().trim().is_empty() || q.name().len() > 128 {
            return Err(Error::invalid("queue.name must be 1-128 characters"));
        }
    }
    if let Some(ck) = &o.concurrency_key {
        if ck.as_str().is_some_and(|s| s.len() > 256) {
            return Err(Error::invalid(
                "concurrencyKey must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

/// Tags: a string or an array of strings, at most 10, each at most 128 characters.
pub fn parse_tags(v: Option<&Value>) -> Result<Vec<String>> {
    let list: Vec<String> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::invalid("tags must be strings"))
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(Error::invalid(
                "tags must be a string or an array of strings",
            ))
        }
    };
    let mut tags: Vec<String> = Vec::new();
    for t in list {
        if t.is_empty() || t.len() > MAX_TAG_LEN {
            return Err(Error::unprocessable(format!(
                "Tag '{t}' must be 1-{MAX_TAG_LEN} characters"
            )));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(Error::unprocessable(format!(
            "Runs can only have {MAX_TAGS} tags, you are trying to set {}",
            tags.len()
        )));
    }
    tags.sort();
    Ok(tags)
}

fn parse_metadata(v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => Ok(Some(v.map(Value::to_string).unwrap_or_default())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Ok(Some(Value::Object(o).to_string())),
            _ => Err(Error::invalid("metadata must be a JSON object")),
        },
        Some(_) => Err(Error::invalid("metadata must be a JSON object")),
    }
}

/// Parses a TTL: a duration string or a whole number of seconds. Returns (display, millis).
pub fn parse_ttl(v: Option<&Value>) -> Result<Option<(String, Millis)>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let ms = duration::parse(s)
                .map_err(|e| Error::unprocessable(format!("Invalid ttl: {e}")))?;
            Ok(Some((s.clone(), ms)))
        }
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) if secs <= 10 * 365 * 86_400 => {
                Ok(Some((format!("{secs}s"), secs as i64 * 1000)))
            }
            _ => Err(Error::unprocessable(
                "Invalid ttl: a number must be a whole, non-negative count of seconds",
            )),
        },
        Some(_) => Err(Error::unprocessable(
            "Invalid ttl: use a duration like 10m or a number of seconds",
        )),
    }
}

/// Parses a delay: a duration string or a date. Returns when the run becomes due.
pub fn parse_delay(v: Option<&Value>, now: Millis) -> Result<Option<Millis>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => duration::parse_delay(s, now)
            .map(Some)
            .map_err(|e| Error::unprocessable(format!("Invalid delay: {e}"))),
        Some(_) => Err(Error::unprocessable(
            "Invalid delay: use a duration like 10m or an ISO 8601 date",
        )),
    }
}

impl Engine {
    /// Triggers one run.
    pub async fn trigger(&self, env_id: &str, new: NewRun) -> Result<Triggered> {
        let env_id = env_id.to_string();
        let engine = self.clone();
        let triggered = self
            .write(move |tx| {
                let now = engine.now();
                let env = tx
                    .environment(&env_id)?
                    .ok_or_else(|| Error::not_found("Environment not found"))?;
                create_run(&engine, tx, &env, &new, now)
            })
            .await?;
        if !triggered.is_cached {
            self.apply(&Effects::wake(&triggered.run.env_id));
        }
        Ok(triggered)
    }
}

/// Resolves the version and task a new run locks to.
fn resolve_task(
    engine: &Engine,
    tx: &mut dyn Tx,
    env: &Environment,
    new: &NewRun,
) -> Result<Option<(Arc<LoadedDeployment>, TaskManifest)>> {
    let wanted = new
        .options
        .lock_to_version
        .clone()
        .or_else(|| new.options.version.clone());
    let Some(version) = wanted.or_else(|| env.current_version.clone()) else {
        return Ok(None);
    };
    let explicit = new.options.lock_to_version.is_some() || new.options.version.is_some();
    let Some(dep) = engine.deployments.get(tx, &env.id, &version)? else {
        return Err(Error::unprocessable(format!(
            "Task locked to version '{version}', but no deployment has that version"
        )));
    };
    let Some(task) = dep.task(&new.task_id).cloned() else {
        return Err(if explicit {
            Error::unprocessable(format!(
                "Task '{}' is not declared by version {version}",
                new.task_id
            ))
        } else {
            Error::not_found(format!(
                "Task '{}' is not declared by the current deployment (version {version})",
                new.task_id
            ))
        });
    };
    dep.validate_payload(&new.task_id, &new.payload_value)?;
    Ok(Some((dep, task)))
}

/// Finds a queue by name, creating it when it does not exist yet.
pub(crate) fn ensure_queue(
    tx: &mut dyn Tx,
    env_id: &str,
    name: &str,
    base_limit: Option<i64>,
    now: Millis,
) -> Result<Queue> {
    if let Some(q) = tx.queue_by_name(env_id, name)? {
        return Ok(q);
    }
    let q = Queue {
        id: id::new("queue"),
        env_id: env_id.to_string(),
        name: name.to_string(),
        kind: if name.starts_with("task/") {
            QueueKind::Task
        } else {
            QueueKind::Custom
        },
        base_limit,
        override_limit: None,
        overridden_at: None,
        paused: false,
        served_seq: 0,
        created_at: now,
    };
    tx.insert_queue(&q)?;
    Ok(q)
}

/// Returns the live run holding this idempotency key, releasing the key if it expired or its
/// run failed.
fn idempotent_match(
    tx: &mut dyn Tx,
    env_id: &str,
    task_id: &str,
    key: &str,
    now: Millis,
) -> Result<Option<Run>> {
    let Some(existing) = tx.run_by_idempotency_key(env_id, task_id, key)? else {
        return Ok(None);
    };
    let expired = existing.idempotency_expires_at.is_some_and(|t| t <= now);
    if expired || existing.status.frees_idempotency_key() {
        tx.clear_idempotency_key(existing.seq)?;
        return Ok(None);
    }
    Ok(Some(existing))
}

/// Creates a run inside a write transaction (or returns the run an idempotency key names).
pub(crate) fn create_run(
    engine: &Engine,
    tx: &mut dyn Tx,
    env: &Environment,
    new: &NewRun,
    now: Millis,
) -> Result<Triggered> {
    if let Some(key) = &new.request_key {
        if let Some(run) = tx.run_by_request_key(&env.id, key)? {
            return Ok(Triggered {
                run,
                is_cached: false,
            });
        }
    }
    if let Some(key) = &new.options.idempotency_key {
        if let Some(run) = idempotent_match(tx, &env.id, &new.task_id, key, now)? {
            return Ok(Triggered {
                run,
                is_cached: true,
            });
        }
    }
    let resolved = resolve_task(engine, tx, env, new)?;
    let task = resolved.as_ref().map(|(_, t)| t);
    let queue_name = match (&new.options.queue, task) {
        (Some(q), _) => q.name().to_string(),
        (None, Some(t)) => t.queue_name(),
        (None, None) => task_queue_name(&new.task_id),
    };
    let declared_limit = task
        .and_then(|t| t.queue.as_ref())
        .and_then(|q| q.concurrency_limit)
        .map(i64::from);
    let queue = ensure_queue(tx, &env.id, &queue_name, declared_limit, now)?;
    let delay_until = parse_delay(new.options.delay.as_ref(), now)?.filter(|t| *t > now);
    let ttl = parse_ttl(new.options.ttl.as_ref())?;
    let version = resolved.as_ref().map(|(d, _)| d.deployment.version.clone());
    let status = match (delay_until.is_some(), version.is_some()) {
        (true, _) => RunStatus::Delayed,
        (false, true) => RunStatus::Queued,
        (false, false) => RunStatus::PendingVersion,
    };
    let available_at = delay_until.unwrap_or(now);
    let priority_ms = (new.options.priority.unwrap_or(0.0) * 1000.0) as i64;
    let parent = match &new.options.parent_run_id {
        Some(pid) => Some(
            tx.run(&env.id, pid)?
                .ok_or_else(|| Error::not_found(format!("Parent run {pid} not found")))?,
        ),
        None => None,
    };
    let o = &new.options;
    let run = Run {
        seq: 0,
        id: id::new("run"),
        env_id: env.id.clone(),
        task_id: new.task_id.clone(),
        queue_id: queue.id.clone(),
        queue_name: queue.name.clone(),
        ckey: new.concurrency_key.clone(),
        status,
        version,
        payload: new.payload.clone(),
        payload_type: new.payload_type.clone(),
        metadata: new.metadata.clone(),
        metadata_type: o
            .metadata_type
            .clone()
            .unwrap_or_else(|| packet::JSON.to_string()),
        tags: new.tags.clone(),
        idempotency_key: o.idempotency_key.clone(),
        idempotency_key_user: o.idempotency_key_options.as_ref().map(|k| k.key.clone()),
        idempotency_scope: o
            .idempotency_key_options
            .as_ref()
            .and_then(|k| k.scope.clone()),
        idempotency_expires_at: o
            .idempotency_key
            .as_ref()
            .map(|_| now + duration::parse_idempotency_ttl(o.idempotency_key_ttl.as_deref())),
        request_key: new.request_key.clone(),
        priority: o.priority.unwrap_or(0.0) as i64,
        queue_ts: available_at - priority_ms,
        available_at,
        delay_until,
        ttl: ttl.as_ref().map(|(s, _)| s.clone()),
        ttl_expires_at: ttl.as_ref().map(|(_, ms)| available_at + ms),
        max_attempts: o.max_attempts,
        max_duration: o
            .max_duration
            .map(|d| d as i64)
            .or(task.and_then(|t| t.max_duration).map(|d| d as i64)),
        machine: o.machine.clone().or(task.and_then(|t| t.machine.clone())),
        attempt: 0,
        lease: None,
        lease_expires_at: None,
        timeout_at: None,
        output: None,
        output_type: None,
        error: None,
        root_run_id: parent
            .as_ref()
            .map(|p| p.root_run_id.clone().unwrap_or_else(|| p.id.clone())),
        depth: parent.as_ref().map_or(0, |p| p.depth + 1),
        parent_run_id: parent.map(|p| p.id),
        batch_id: new.batch.as_ref().map(|(b, _)| b.clone()),
        batch_index: new.batch.as_ref().map(|(_, i)| *i),
        trigger_function: new.trigger_function.to_string(),
        is_test: o.test.unwrap_or(false),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    let mut run = run;
    run.seq = tx.insert_run(&run)?;
    Ok(Triggered {
        run,
        is_cached: false,
    })
}
