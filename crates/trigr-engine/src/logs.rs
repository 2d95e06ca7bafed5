//! `logs`: a worker appends log lines to its run (worker protocol §7.5, fenced by the lease);
//! anyone with the key reads them back in order of arrival, a page at a time.

use serde_json::Value;
use trigr_store::LogEntry;
use trigr_types::wire::worker;
use trigr_types::{duration, Millis};

use crate::journal::leased_run;
use crate::{Engine, Error, Result};

/// Most lines per call.
pub const MAX_ENTRIES: usize = 500;
/// Longest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest `fields` object, in bytes of JSON.
pub const MAX_FIELDS_BYTES: usize = 64 * 1024;
pub const LEVELS: [&str; 5] = ["debug", "log", "info", "warn", "error"];

/// One line to append, checked ([`check`]).
#[derive(Clone, Debug)]
pub struct LogLine {
    /// One of [`LEVELS`].
    pub level: String,
    pub message: String,
    /// JSON text, usually of an object.
    pub fields: Option<String>,
    /// When the line was written; the time of arrival when `None`.
    pub time: Option<Millis>,
}

/// Checks the lines of a logs body: at most [`MAX_ENTRIES`], each valid. The first line that
/// is not is named (`entries[3]: …`).
pub fn check(entries: Vec<worker::LogLine>) -> Result<Vec<LogLine>> {
    if entries.len() > MAX_ENTRIES {
        return Err(Error::invalid(format!(
            "At most {MAX_ENTRIES} log entries per call, got {}",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, l)| line(l).map_err(|e| Error::invalid(format!("entries[{i}]: {e}"))))
        .collect()
}

/// A line checked, or what is wrong with it.
fn line(l: worker::LogLine) -> std::result::Result<LogLine, String> {
    if !LEVELS.contains(&l.level.as_str()) {
        return Err(format!(
            "unknown level '{}': use one of {}",
            l.level,
            LEVELS.join(", ")
        ));
    }
    if l.message.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the message is {} bytes, over the limit of {MAX_MESSAGE_BYTES}",
            l.message.len()
        ));
    }
    let fields = match l.fields {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = v.to_string();
            if text.len() > MAX_FIELDS_BYTES {
                return Err(format!(
                    "fields are {} bytes of JSON, over the limit of {MAX_FIELDS_BYTES}",
                    text.len()
                ));
            }
            Some(text)
        }
    };
    let time = match l.time.as_deref() {
        None => None,
        Some(t) => Some(
            duration::parse_date(t)
                .ok_or_else(|| format!("time must be an RFC 3339 date, got '{t}'"))?,
        ),
    };
    Ok(LogLine {
        level: l.level,
        message: l.message,
        fields,
        time,
    })
}

impl Engine {
    /// Appends lines, checked by [`check`], to a run's log in one write; returns how many.
    pub async fn append_logs(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        lines: Vec<LogLine>,
    ) -> Result<usize> {
        let now = self.now();
        let entries: Vec<LogEntry> = lines
            .into_iter()
            .map(|l| LogEntry {
                seq: 0,
                run_id: run_id.to_string(),
                time: l.time.unwrap_or(now),
                level: l.level,
                message: l.message,
                fields: l.fields,
                created_at: now,
                attempt: 0,
            })
            .collect();
        let n = entries.len();
        let signal = crate::logs_follow::signal_name(run_id);
        let (env_id, run_id, lease) = (env_id.to_string(), run_id.to_string(), lease.to_string());
        let n = self
            .write(move |tx| {
                let run = leased_run(tx, &env_id, &run_id, &lease)?;
                // The lease is the attempt's: its lines are the attempt's.
                let mut entries = entries;
                for e in &mut entries {
                    e.attempt = run.attempt;
                }
                tx.insert_logs(&entries)?;
                Ok(n)
            })
            .await?;
        // Readers following the run's logs.
        self.notifier.wake(&signal);
        Ok(n)
    }

    /// Adds lines that arrived over OTLP to the logs of the runs they name, in one write, as
    /// lines of each run's current attempt. Returns how many named no run of this environment
    /// and were dropped.
    pub async fn ingest_logs(&self, env_id: &str, lines: Vec<(String, LogLine)>) -> Result<usize> {
        let now = self.now();
        let env_id = env_id.to_string();
        let (dropped, woken) = self
            .write(move |tx| {
                let (mut dropped, mut woken) = (0, Vec::new());
                let mut entries = Vec::with_capacity(lines.len());
                for (run_id, l) in lines {
                    let attempt = match tx.run(&env_id, &run_id)? {
                        Some(run) => run.attempt,
                        None => {
                            dropped += 1;
                            continue;
                        }
                    };
                    if !woken.contains(&run_id) {
                        woken.push(run_id.clone());
                    }
                    entries.push(LogEntry {
                        seq: 0,
                        run_id,
                        time: l.time.unwrap_or(now),
                        level: l.level,
                        message: l.message,
                        fields: l.fields,
                        created_at: now,
                        attempt,
                    });
                }
                tx.insert_logs(&entries)?;
                Ok((dropped, woken))
            })
            .await?;
        for run_id in woken {
            self.notifier
                .wake(&crate::logs_follow::signal_name(&run_id));
        }
        Ok(dropped)
    }

    /// Up to `size` lines of a run after the cursor (a line's `seq`), and whether more follow.
    pub async fn run_logs(
        &self,
        env_id: &str,
        run_id: &str,
        after: Option<i64>,
        size: usize,
    ) -> Result<(Vec<LogEntry>, bool)> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            tx.run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let mut lines = tx.logs(&run_id, after, size + 1)?;
            let more = lines.len() > size;
            lines.truncate(size);
            Ok((lines, more))
        })
        .await
    }
}
