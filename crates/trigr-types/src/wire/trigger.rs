//! The options of a trigger (`options` of `POST /api/v1/tasks/{id}/trigger`, of a batch
//! item, and of a child run a worker's wait triggers), as the official SDK sends them.
//!
//! They are read as sent and checked once, by `trigr_engine::trigger::prepare`, which turns
//! them into a `NewRun`. Absent options are left out when written, so options read back
//! write the same JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `options` of a trigger call (reference §2.1), as sent by the official SDK.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"tags": ["user_1"], "ttl": "10m", "queue": {"name": "emails"}}))
)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOptions {
    /// The packet type of the payload: `application/json` (when absent),
    /// `application/super+json`, `text/plain`, or `application/store` for an uploaded packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// How long the idempotency key holds (`<n>s`, `m`, `h` or `d`; 30 days when absent).
    #[serde(
        default,
        rename = "idempotencyKeyTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key_ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::object::option")]
    pub idempotency_key_options: Option<IdempotencyKeyOptions>,
    /// A duration (`10m`) or a date: the run waits until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Value>,
    /// A duration or a whole number of seconds: the run expires when not started by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Value>,
    /// A tag or a list of tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// A JSON object (or its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_type: Option<String>,
    /// Seconds of head start in the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueOption>,
    /// A string or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// Seconds an attempt may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_to_version: Option<String>,
    /// Same as `lockToVersion`, for callers that say `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<bool>,
    /// Byte size of the serialized payload before any offload. The official SDK sends it with
    /// every trigger; it only describes the payload, which trigr reads itself, so it is
    /// accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub payload_size: Option<i64>,
    /// The build of the calling application (a commit SHA, a CI run id). The official SDK
    /// fills it in on its own from CI environment variables, so it must be accepted; trigr
    /// locks a run to `lockToVersion` or the current deployment and keeps no record of the
    /// caller's builds, so it is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_deployment_id: Option<String>,
    /// Sent as `true` with `parentRunId` by the official SDK's `triggerAndWait` and
    /// `batchTriggerAndWait` inside a task. It is accepted because it comes with every such
    /// call; a trigr parent waits for its children through the worker protocol's wait call,
    /// so the flag adds nothing to the trigger itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_parent_on_completion: Option<bool>,
    /// Coalesces triggers of this task with the same key into one delayed run (see
    /// [`DebounceOption`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::object::option")]
    pub debounce: Option<DebounceOption>,
    /// The region (worker group) whose workers run it: 1-64 ASCII letters, digits, `-`, `_`
    /// or `.`. The environment's default region when absent. A region without workers is
    /// allowed: its runs wait for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "us-east-1"))]
    pub region: Option<Value>,
    // The options below are refused when present (`unsupported`), and left out of the
    // OpenAPI document, which describes what trigr accepts.
    //
    // Not implemented by trigr: named concurrency limits (an empty list is accepted: no
    // named limits is what every trigr run has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub concurrency: Option<Value>,
    // Set only by upstream's own services, never by the official SDK: engine v1 attempt and
    // batch dependencies, the batch an item came from, bulk actions and resolved concurrency
    // gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub parent_batch: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub parent_attempt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub dependent_attempt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub dependent_batch: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub bulk_action_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub gates: Option<Value>,
}

impl TriggerOptions {
    /// The first option given that trigr does not implement, by its name in `options`
    /// (`"debounce"`), or `None`. A `null` is the same as an absent option, and so is an empty
    /// `concurrency` list (no named limits, which is what every trigr run has).
    pub fn unsupported(&self) -> Option<&'static str> {
        let present = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
        let concurrency = match &self.concurrency {
            Some(Value::Array(limits)) => !limits.is_empty(),
            other => present(other),
        };
        let named = [
            ("concurrency", concurrency),
            ("parentBatch", present(&self.parent_batch)),
            ("parentAttempt", present(&self.parent_attempt)),
            ("dependentAttempt", present(&self.dependent_attempt)),
            ("dependentBatch", present(&self.dependent_batch)),
            ("bulkActionId", present(&self.bulk_action_id)),
            ("gates", present(&self.gates)),
        ];
        named
            .into_iter()
            .find(|(_, given)| *given)
            .map(|(name, _)| name)
    }
}

/// `debounce`: triggers of one task in one environment with the same `key` coalesce into one
/// run, delayed by `delay` after the latest of them (at most `maxDelay` after the first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"key": "user-42", "delay": "5s", "mode": "trailing", "maxDelay": "1m"}))
)]
#[serde(rename_all = "camelCase")]
pub struct DebounceOption {
    /// At most 512 characters.
    pub key: String,
    /// A duration (`5s`, `1m`, `2h30m`), at least one second: how long after each trigger the
    /// run waits for the next one.
    pub delay: String,
    /// Whose data the run executes with: the first trigger's (`leading`, the default) or the
    /// latest one's (`trailing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DebounceMode>,
    /// A duration longer than `delay`: a trigger that would push the run past this long after
    /// its first trigger makes a new run instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<String>,
}

/// `debounce.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DebounceMode {
    Leading,
    Trailing,
}

/// `idempotencyKeyOptions`: the key as the caller's code named it, before the SDK hashed it,
/// and its scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdempotencyKeyOptions {
    pub key: String,
    /// `run`, `attempt` or `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// `queue`: `{"name": …}` or a bare name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum QueueOption {
    Named { name: String },
    Name(String),
}

/// `{"name": …}` of a queue option.
#[derive(Deserialize)]
struct QueueName {
    name: String,
}

impl<'de> Deserialize<'de> for QueueOption {
    /// A string or an object (an array is refused, where serde's untagged reading would take
    /// `["q"]` for `{"name": "q"}`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<QueueOption, D::Error> {
        struct NameOrObject;
        impl<'de> serde::de::Visitor<'de> for NameOrObject {
            type Value = QueueOption;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a queue name or an object with a name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QueueOption, E> {
                Ok(QueueOption::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<QueueOption, A::Error> {
                let named =
                    QueueName::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(QueueOption::Named { name: named.name })
            }
        }
        d.deserialize_any(NameOrObject)
    }
}

impl QueueOption {
    pub fn name(&self) -> &str {
        match self {
            QueueOption::Named { name } | QueueOption::Name(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_read_back_write_the_same_json() {
        let json = json!({
            "payloadType": "application/json", "idempotencyKey": "k", "idempotencyKeyTTL": "1h",
            "idempotencyKeyOptions": {"key": "order-1", "scope": "global"},
            "delay": "10m", "ttl": 60, "tags": ["a", "b"], "metadata": {"m": 1},
            "priority": 1.5, "queue": {"name": "emails"}, "concurrencyKey": "tenant-1",
            "maxAttempts": 3, "maxDuration": 60.0, "machine": "small-1x",
            "lockToVersion": "20261126.1", "parentRunId": "run_1", "test": true,
            "region": "eu",
            "debounce": {"key": "k", "delay": "5s", "mode": "trailing", "maxDelay": "1m"},
        });
        let options: TriggerOptions = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            options.queue.as_ref().map(QueueOption::name),
            Some("emails")
        );
        assert_eq!(serde_json::to_value(&options).unwrap(), json);
        assert_eq!(
            serde_json::to_value(TriggerOptions::default()).unwrap(),
            json!({})
        );
        let bare: TriggerOptions = serde_json::from_value(json!({"queue": "emails"})).unwrap();
        assert_eq!(bare.queue, Some(QueueOption::Name("emails".into())));
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"queue": "emails"})
        );
    }

    #[test]
    fn the_first_unsupported_option_is_named() {
        let read = |v| serde_json::from_value::<TriggerOptions>(v).unwrap();
        assert_eq!(read(json!({"tags": "a"})).unsupported(), None);
        assert_eq!(read(json!({"concurrency": []})).unsupported(), None);
        assert_eq!(read(json!({"region": "eu"})).unsupported(), None);
        assert_eq!(
            read(json!({"concurrency": [{"name": "x"}], "region": "eu"})).unsupported(),
            Some("concurrency")
        );
        assert_eq!(read(json!({"gates": {}})).unsupported(), Some("gates"));
    }
}
