//! [`Logger`]: structured logs of a run, buffered in the worker and shipped to the server.
//!
//! Entries are also written to `tracing` (target `trigr_sdk::task`) so the worker's own output
//! shows them. The worker sends the buffer with `POST /api/v1/worker/runs/{id}/logs` every
//! heartbeat, when it grows large, and always before the attempt completes or suspends.
//!
//! A line written while the code replays its journal (a resumed or retried run re-executing
//! up to where an earlier execution got, see `crate::replay`) was shipped by that earlier
//! execution: it goes to `tracing` only, with `replayed = true`, and is not shipped twice.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use trigr_types::wire::worker::LogLine;

use crate::replay::Replay;

/// Entries that make the worker send the buffer without waiting for the next heartbeat.
pub(crate) const FLUSH_AT: usize = 200;

/// Severity of a log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Plain log line.
    Log,
    /// Information.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Log => "log",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The log of one run attempt (`ctx.logger`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Logger {
    inner: Arc<Buffer>,
}

#[derive(Debug)]
struct Buffer {
    run_id: String,
    /// Where the execution stands against its journal.
    replay: Arc<Replay>,
    entries: Mutex<Vec<LogLine>>,
    /// Wakes the sender when the buffer gets its first entry or fills up.
    wake: tokio::sync::Notify,
}

impl Logger {
    pub(crate) fn new(run_id: &str, replay: Arc<Replay>) -> Logger {
        Logger {
            inner: Arc::new(Buffer {
                run_id: run_id.to_string(),
                replay,
                entries: Mutex::new(Vec::new()),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Adds an entry at `level` with structured `fields` (any serializable value; an object
    /// reads best). Returns nothing: logging never fails a task. While the code replays its
    /// journal the entry goes to the worker's own output only (see the module).
    pub fn write(&self, level: Level, message: impl Into<String>, fields: impl Serialize) {
        let message = message.into();
        let fields = serde_json::to_value(fields).unwrap_or(Value::Null);
        let replayed = self.inner.replay.replaying();
        self.trace(level, &message, &fields, replayed);
        if replayed {
            return;
        }
        let entry = LogLine {
            level: level.as_str().to_string(),
            message,
            fields: (!fields.is_null()).then_some(fields),
            time: Some(crate::client::types::rfc3339(chrono::Utc::now())),
        };
        let pending = {
            let mut entries = self.lock();
            entries.push(entry);
            entries.len()
        };
        if pending == 1 || pending >= FLUSH_AT {
            self.inner.wake.notify_one();
        }
    }

    fn trace(&self, level: Level, message: &str, fields: &Value, replayed: bool) {
        let run = self.inner.run_id.as_str();
        let fields = if fields.is_null() {
            String::new()
        } else {
            fields.to_string()
        };
        match level {
            Level::Debug => {
                tracing::debug!(target: "trigr_sdk::task", run, replayed, %fields, "{message}")
            }
            Level::Log | Level::Info => {
                tracing::info!(target: "trigr_sdk::task", run, replayed, %fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "trigr_sdk::task", run, replayed, %fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "trigr_sdk::task", run, replayed, %fields, "{message}")
            }
        }
    }

    /// A `debug` entry.
    pub fn debug(&self, message: impl Into<String>) {
        self.write(Level::Debug, message, ());
    }
    /// A `log` entry.
    pub fn log(&self, message: impl Into<String>) {
        self.write(Level::Log, message, ());
    }
    /// An `info` entry.
    pub fn info(&self, message: impl Into<String>) {
        self.write(Level::Info, message, ());
    }
    /// A `warn` entry.
    pub fn warn(&self, message: impl Into<String>) {
        self.write(Level::Warn, message, ());
    }
    /// An `error` entry.
    pub fn error(&self, message: impl Into<String>) {
        self.write(Level::Error, message, ());
    }
    /// A `debug` entry with fields, e.g. `json!({"id": 1})`.
    pub fn debug_with(&self, message: impl Into<String>, fields: impl Serialize) {
        self.write(Level::Debug, message, fields);
    }
    /// A `log` entry with fields.
    pub fn log_with(&self, message: impl Into<String>, fields: impl Serialize) {
        self.write(Level::Log, message, fields);
    }
    /// An `info` entry with fields.
    pub fn info_with(&self, message: impl Into<String>, fields: impl Serialize) {
        self.write(Level::Info, message, fields);
    }
    /// A `warn` entry with fields.
    pub fn warn_with(&self, message: impl Into<String>, fields: impl Serialize) {
        self.write(Level::Warn, message, fields);
    }
    /// An `error` entry with fields.
    pub fn error_with(&self, message: impl Into<String>, fields: impl Serialize) {
        self.write(Level::Error, message, fields);
    }

    /// Entries waiting to be sent.
    pub(crate) fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Resolves when the buffer got its first entry or filled up since the last call.
    pub(crate) async fn wants_flush(&self) {
        self.inner.wake.notified().await;
    }

    /// Takes every entry waiting to be sent.
    pub(crate) fn take(&self) -> Vec<LogLine> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LogLine>> {
        // A panic while holding this lock cannot leave the list half-changed: recover it.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_carry_level_message_and_fields() {
        let log = Logger::new("run_1", Arc::default());
        log.info("plain");
        log.warn_with("with fields", json!({"to": "a@b.c"}));
        assert_eq!(log.pending(), 2);
        let entries = serde_json::to_value(log.take()).unwrap();
        assert_eq!(entries[0]["level"], json!("info"));
        assert!(entries[0].get("fields").is_none());
        assert_eq!(entries[1]["fields"], json!({"to": "a@b.c"}));
        assert!(entries[1]["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')));
        assert_eq!(log.pending(), 0);
    }

    #[test]
    fn lines_written_while_replaying_are_not_shipped_again() {
        let replay = Arc::new(Replay::new([0, 1]));
        let log = Logger::new("run_1", replay.clone());
        log.info("before step 0, shipped by the first execution");
        replay.next_position();
        log.info("between step 0 and wait 1, shipped too");
        assert_eq!(log.pending(), 0);
        replay.next_position();
        log.info("after the wait: new");
        let entries = log.take();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].message, "after the wait: new");
    }
}
