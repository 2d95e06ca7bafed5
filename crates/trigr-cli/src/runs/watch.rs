//! `trigr runs watch`: prints a run's status and metadata changes as they happen, from the
//! server's event stream (`GET /api/v1/runs/{id}/events?stopOnCompletion=true`), and exits
//! when the run ends. A dropped connection is resumed with `Last-Event-ID`, so no change is
//! printed twice or missed.
//!
//! After each status change the run is read (`GET /api/v3/runs/{id}`) for what the event does
//! not carry: how the attempts that ended since went (error, retry time), and why a run that
//! is not running waits (`waitingFor`). While it waits, each keep-alive of the stream reads it
//! again, and a new reason is printed when it changes (a worker came, a queue was resumed).

use std::io::Write;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_sdk::http::ServerEvent;
use trigr_sdk::Error;
use trigr_types::wire::runs::{Run, WaitingFor};

use super::attempts::summary;
use super::logs::read_run;
use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output::plain;

/// Silence after which the connection is taken for dead (the server sends a keep-alive
/// every 15 s).
const SILENCE: Duration = Duration::from_secs(45);
/// Reconnection attempts in a row before giving up.
const MAX_RETRIES: u32 = 8;

/// Arguments of `trigr runs watch`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunsWatchArgs {
    /// Run id (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Print each event as one JSON line (`{"id", "event", "data"}`).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// One line for an event: `time  STATUS  …`.
fn render(f: &ServerEvent) -> Option<String> {
    let data: Value = serde_json::from_str(&f.data).unwrap_or(Value::Null);
    let time = plain(&data["updatedAt"]).unwrap_or_default();
    let status = plain(&data["status"]).unwrap_or_default();
    let attempt = data["attempt"].as_i64().unwrap_or(0);
    let line = match f.name.as_str() {
        "snapshot" => format!("{time}  {status:<15} (now; attempt {attempt})"),
        "status" => {
            let mut line = format!("{time}  {status:<15} attempt {attempt}");
            if let Some(out) = data.get("output").filter(|o| !o.is_null()) {
                line.push_str(&format!("  output {out}"));
            }
            if let Some(err) = data.get("error").filter(|e| !e.is_null()) {
                let message = plain(&err["message"]).unwrap_or_else(|| err.to_string());
                line.push_str(&format!("  error: {message}"));
            }
            line
        }
        "metadata" => format!("{time}  {:<15} {}", "metadata", data["metadata"]),
        "reset" => format!(
            "(some changes are no longer kept: {})",
            plain(&data["message"]).unwrap_or_default()
        ),
        _ => return None,
    };
    Some(line)
}

/// What has been said about the run beyond its events.
#[derive(Default)]
struct Told {
    /// The highest attempt whose end was printed.
    attempts_ended: i64,
    /// The reason last printed for why the run waits, while it does.
    waiting: Option<WaitingFor>,
}

impl Told {
    /// Lines for what is new in `run`: attempts that ended without completing it (the
    /// status line tells of the one that completed it), and why it waits when that changed.
    /// With `json`, each as a JSON line (`event` `attempt` or `waiting`).
    fn news(&mut self, run: &Run, json: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let ended = run
            .attempts
            .iter()
            .filter(|a| a.outcome.as_deref().is_some_and(|o| o != "COMPLETED"));
        for a in ended {
            if a.number <= self.attempts_ended {
                continue;
            }
            self.attempts_ended = a.number;
            lines.push(if json {
                serde_json::json!({"id": null, "event": "attempt", "data": a}).to_string()
            } else {
                format!("    attempt {}: {}", a.number, summary(a))
            });
        }
        if run.waiting_for != self.waiting {
            self.waiting = run.waiting_for.clone();
            if let Some(w) = &self.waiting {
                lines.push(if json {
                    serde_json::json!({"id": null, "event": "waiting", "data": w}).to_string()
                } else {
                    format!("    waiting: {} ({})", w.message, w.reason)
                });
            }
        }
        lines
    }
}

pub(super) async fn execute(args: RunsWatchArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let path = super::run_path("v1", &args.id, "/events?stopOnCompletion=true");
    let mut last: Option<i64> = None;
    let mut failures = 0;
    let mut stdout = std::io::stdout();
    let mut told = Told::default();
    loop {
        let mut events = match client.open_events(&path, last).await {
            Ok(events) => events,
            Err(e) if worth_retrying(&e) && failures < MAX_RETRIES => {
                failures += 1;
                pause(failures).await;
                continue;
            }
            Err(e) => return Err(e.or_not_found(|| super::not_found(&args.id))),
        };
        loop {
            let f = match tokio::time::timeout(SILENCE, events.next_event()).await {
                Ok(Some(Ok(event))) => event,
                // Closed, broken or silent: resume from the last event.
                _ => break,
            };
            failures = 0;
            // A keep-alive: a run that waits may wait for something else by now.
            let keep_alive = f.name.is_empty();
            if keep_alive && told.waiting.is_none() {
                continue;
            }
            if f.id.is_some() {
                last = f.id;
            }
            if !keep_alive {
                if let Some(line) = event_line(&f, args.json) {
                    writeln!(stdout, "{line}")?;
                }
            }
            // A read that fails only leaves out what it would have added.
            if keep_alive || matches!(f.name.as_str(), "snapshot" | "status") {
                if let Ok(run) = read_run(&client, &args.id).await {
                    for line in told.news(&run, args.json) {
                        writeln!(stdout, "{line}")?;
                    }
                }
            }
            stdout.flush()?;
            if f.name == "end" {
                return Ok(String::new());
            }
        }
        failures += 1;
        if failures > MAX_RETRIES {
            anyhow::bail!(
                "The event stream of run {} kept breaking; gave up.",
                args.id
            );
        }
        pause(failures).await;
    }
}

/// The line of an event: as JSON (`{"id", "event", "data"}`) or as text.
fn event_line(f: &ServerEvent, json: bool) -> Option<String> {
    if json {
        let data: Value = serde_json::from_str(&f.data).unwrap_or(Value::Null);
        return Some(serde_json::json!({"id": f.id, "event": f.name, "data": data}).to_string());
    }
    render(f)
}

/// Whether opening the stream may work on another try: no connection, no answer, or a
/// failure of the server (not a refusal such as 401 or 404).
fn worth_retrying(e: &ApiError) -> bool {
    match &e.0 {
        Error::Unreachable { .. } | Error::NoAnswer { .. } => true,
        Error::Api { status, .. } => !(400..=499).contains(status),
        _ => false,
    }
}

/// Backoff before reconnecting: 100 ms, doubling, at most 5 s.
async fn pause(failures: u32) {
    let ms = (100u64 << failures.min(6)).min(5000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_status_metadata_and_output() {
        let f = |event: &str, data: &str| ServerEvent {
            id: Some(1),
            name: event.into(),
            data: data.into(),
        };
        let done = f(
            "status",
            r#"{"status":"COMPLETED","attempt":1,"updatedAt":"T","output":{"ok":true}}"#,
        );
        assert_eq!(
            render(&done).unwrap(),
            "T  COMPLETED       attempt 1  output {\"ok\":true}"
        );
        let meta = f("metadata", r#"{"metadata":{"p":1},"updatedAt":"T"}"#);
        assert_eq!(render(&meta).unwrap(), "T  metadata        {\"p\":1}");
        assert_eq!(render(&f("end", "{}")), None);
    }

    #[test]
    fn only_failures_of_the_server_are_retried() {
        let api = |status: u16| {
            ApiError(Error::Api {
                request: "GET /x".into(),
                status,
                code: None,
                message: "m".into(),
                request_id: None,
                kind: trigr_sdk::ApiErrorKind::Other,
                no_retry: false,
            })
        };
        assert!(worth_retrying(&api(503)));
        assert!(worth_retrying(&api(500)));
        assert!(!worth_retrying(&api(404)));
        assert!(!worth_retrying(&api(401)));
        assert!(!worth_retrying(&api(429)));
        assert!(worth_retrying(&ApiError(Error::NoAnswer {
            base: "http://h".into(),
            seconds: 60
        })));
        assert!(worth_retrying(&ApiError(Error::Unreachable {
            base: "http://h".into(),
            reason: "connection refused".into()
        })));
    }
}
