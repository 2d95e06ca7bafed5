//! The task manifest a worker registers with its deployment.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RetryPolicy;

/// One task of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskManifest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$"))]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::object::option")]
    pub queue: Option<QueueManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::object::option")]
    pub retry: Option<RetryPolicy>,
    /// Seconds an attempt may run before the run is `TIMED_OUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// JSON Schema of the payload, enforced at trigger time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_schema: Option<Value>,
    /// A cron schedule that fires runs of the task while its deployment is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::object::option")]
    pub schedule: Option<ScheduleManifest>,
    /// The source file that defines the task, relative to its project (a TypeScript worker's
    /// `src/trigger/email.ts`); at most 1024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// The name the file exports the task under; at most 256 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_name: Option<String>,
}

/// A task's declarative schedule: a five-field cron pattern read in an IANA time zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleManifest {
    pub cron: String,
    /// IANA time zone (`Europe/Paris`); `UTC` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Jitter window (`30m`, `2h`, `30%`): each tick fires at a fixed offset within it after
    /// its cron time; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// The queue a task runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueManifest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
}

/// The longest `maxDuration` of an attempt: one year, in seconds.
pub const MAX_DURATION_SECS: u64 = 365 * 86_400;

/// The name of the queue a task gets when it names none.
pub fn task_queue_name(task_id: &str) -> String {
    format!("task/{task_id}")
}

impl TaskManifest {
    /// The queue name this task's runs go to.
    pub fn queue_name(&self) -> String {
        match &self.queue {
            Some(q) => q.name.clone(),
            None => task_queue_name(&self.id),
        }
    }

    /// Checks the fields a schema cannot: a sentence naming the task and the field.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 128
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b));
        if !id_ok {
            return Err(format!(
                "task id '{}' must be 1-128 characters of letters, digits and _ . : / -",
                self.id
            ));
        }
        if let Some(q) = &self.queue {
            if q.name.trim().is_empty() || q.name.len() > 128 {
                return Err(format!(
                    "task '{}': queue.name must be 1-128 characters",
                    self.id
                ));
            }
            if q.concurrency_limit.is_some_and(|l| l > 100_000) {
                return Err(format!(
                    "task '{}': queue.concurrencyLimit must be at most 100000",
                    self.id
                ));
            }
        }
        for (field, value, max) in [
            ("filePath", &self.file_path, 1024),
            ("exportName", &self.export_name, 256),
        ] {
            if let Some(v) = value {
                if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
                    return Err(format!(
                        "task '{}': {field} must be 1-{max} bytes without control characters",
                        self.id
                    ));
                }
            }
        }
        if let Some(r) = &self.retry {
            r.validate()
                .map_err(|e| format!("task '{}': {e}", self.id))?;
        }
        if let Some(m) = &self.machine {
            if !crate::MACHINES.contains(&m.as_str()) {
                return Err(format!("task '{}': unknown machine '{m}'", self.id));
            }
        }
        if self
            .max_duration
            .is_some_and(|d| d == 0 || d > MAX_DURATION_SECS)
        {
            return Err(format!(
                "task '{}': maxDuration must be between 1 and {MAX_DURATION_SECS} seconds",
                self.id
            ));
        }
        Ok(())
    }
}
