//! How the run commands tell a run's attempts: one line per attempt for `runs get` and
//! `runs watch`, and the lines around each attempt's log lines for `runs logs` ([`Timeline`]).

use serde_json::Value;
use trigr_types::wire::runs::{Attempt, Run};

use crate::output::plain;

/// What happened to an attempt, on one line: "started …, failed at …: boom, retry at …".
pub(super) fn summary(a: &Attempt) -> String {
    let mut parts = Vec::new();
    if let Some(t) = a.started_at {
        parts.push(format!("started {t}"));
    }
    parts.push(state(a));
    if let Some(t) = a.retry_at {
        parts.push(format!("retry at {t}"));
    }
    parts.join(", ")
}

/// How the attempt ended, with when and its error, or where it stands.
fn state(a: &Attempt) -> String {
    let Some(outcome) = a.outcome.as_deref() else {
        return match a.status.as_str() {
            "PAUSED" => "suspended on a wait".to_string(),
            _ => match a.last_heartbeat_at {
                Some(t) => format!("executing, last heartbeat {t}"),
                None => "executing".to_string(),
            },
        };
    };
    let how = match outcome {
        "COMPLETED" => "completed",
        "FAILED" => "failed",
        "LEASE_LOST" => "lost its worker (lease expired)",
        "TIMED_OUT" => "timed out (maxDuration)",
        "CANCELED" => "canceled",
        other => other,
    };
    let mut text = match a.completed_at {
        Some(t) => format!("{how} at {t}"),
        None => how.to_string(),
    };
    // A lost lease's error only repeats what its outcome says.
    if outcome != "LEASE_LOST" {
        if let Some(message) = a.error.as_ref().and_then(error_message) {
            text.push_str(&format!(": {message}"));
        }
    }
    text
}

/// The error's `message` (or the error as JSON text), or a string error as it is.
pub(super) fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::String(_) => plain(error),
        Value::Object(_) => plain(&error["message"]).or_else(|| plain(error)),
        _ => None,
    }
}

/// `runs get`: `attempt N: …` for each attempt.
pub(super) fn lines(run: &Run) -> Vec<(String, String)> {
    run.attempts
        .iter()
        .map(|a| (format!("attempt {}", a.number), summary(a)))
        .collect()
}

/// The lines `runs logs` prints around the log lines of each attempt: a header when an
/// attempt's lines begin, and how it ended once a later attempt begins or the log is over.
/// Attempts without any line are told all the same, in their place.
#[derive(Default)]
pub(super) struct Timeline {
    /// The run's attempts as last read, by number.
    attempts: Vec<Attempt>,
    /// The highest attempt whose header was printed.
    opened: i64,
    /// The highest attempt whose end was printed (or found in progress at the end).
    closed: i64,
}

impl Timeline {
    pub(super) fn new(attempts: Vec<Attempt>) -> Timeline {
        Timeline {
            attempts,
            ..Timeline::default()
        }
    }

    /// Takes the attempts as read again (they may have ended since).
    pub(super) fn update(&mut self, attempts: Vec<Attempt>) {
        self.attempts = attempts;
    }

    /// Whether a line of `attempt` starts an attempt not told yet.
    pub(super) fn is_new(&self, attempt: Option<i64>) -> bool {
        attempt.is_some_and(|n| n > self.opened)
    }

    /// What comes before a log line of `attempt` (`None`: a line from before attempts were
    /// recorded, which stands where it is).
    pub(super) fn before(&mut self, attempt: Option<i64>) -> String {
        let Some(n) = attempt.filter(|n| *n > self.opened) else {
            return String::new();
        };
        let mut out = self.through(n - 1);
        out.push_str(&self.header(n));
        self.opened = n;
        out
    }

    /// What comes after the last log line: every attempt not told yet, and how the ended ones
    /// ended.
    pub(super) fn finish(&mut self) -> String {
        let last = self.attempts.last().map_or(0, |a| a.number);
        self.through(last)
    }

    /// Opens and closes the attempts up to `n`.
    fn through(&mut self, n: i64) -> String {
        let mut out = String::new();
        let pending: Vec<Attempt> = self
            .attempts
            .iter()
            .filter(|a| a.number > self.closed && a.number <= n)
            .cloned()
            .collect();
        for a in pending {
            if a.number > self.opened {
                out.push_str(&self.header(a.number));
                self.opened = a.number;
            }
            if a.outcome.is_some() {
                out.push_str(&format!("── attempt {} {}\n", a.number, state(&a)));
                if let Some(t) = a.retry_at {
                    out.push_str(&format!("   next attempt at {t}\n"));
                }
            }
            self.closed = a.number;
        }
        out
    }

    fn header(&self, n: i64) -> String {
        let started = self
            .attempts
            .iter()
            .find(|a| a.number == n)
            .and_then(|a| a.started_at);
        match started {
            Some(t) => format!("── attempt {n}, started {t}\n"),
            None => format!("── attempt {n}\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt(fields: Value) -> Attempt {
        let mut a = json!({
            "id": "attempt_1_1", "number": 1, "status": "FAILED",
            "createdAt": "2026-01-02T03:04:05.000Z", "updatedAt": "2026-01-02T03:04:06.000Z",
        });
        for (k, v) in fields.as_object().unwrap() {
            a[k] = v.clone();
        }
        serde_json::from_value(a).unwrap()
    }

    #[test]
    fn summaries_say_how_each_attempt_ended() {
        let failed = attempt(json!({
            "outcome": "FAILED", "startedAt": "2026-01-02T03:04:05.000Z",
            "completedAt": "2026-01-02T03:04:06.000Z", "error": {"message": "boom"},
            "retryAt": "2026-01-02T03:04:16.000Z"
        }));
        assert_eq!(
            summary(&failed),
            "started 2026-01-02T03:04:05.000Z, failed at 2026-01-02T03:04:06.000Z: boom, \
             retry at 2026-01-02T03:04:16.000Z"
        );
        let lost = attempt(json!({"outcome": "LEASE_LOST", "error": {"message": "x"}}));
        assert_eq!(summary(&lost), "lost its worker (lease expired)");
        let running = attempt(json!({
            "status": "EXECUTING", "lastHeartbeatAt": "2026-01-02T03:04:07.000Z"
        }));
        assert_eq!(
            summary(&running),
            "executing, last heartbeat 2026-01-02T03:04:07.000Z"
        );
        let paused = attempt(json!({"status": "PAUSED"}));
        assert_eq!(summary(&paused), "suspended on a wait");
    }

    #[test]
    fn the_timeline_frames_each_attempts_lines() {
        let attempts = vec![
            attempt(
                json!({"number": 1, "outcome": "FAILED", "error": {"message": "boom"},
                "retryAt": "2026-01-02T03:04:16.000Z"}),
            ),
            attempt(json!({"number": 2, "outcome": "TIMED_OUT"})),
            attempt(json!({"number": 3, "status": "COMPLETED", "outcome": "COMPLETED"})),
        ];
        let mut t = Timeline::new(attempts);
        let mut out = t.before(Some(1));
        out.push_str("line a\n");
        assert!(!t.is_new(Some(1)));
        assert!(t.is_new(Some(3)));
        out.push_str(&t.before(Some(3)));
        out.push_str("line b\n");
        out.push_str(&t.finish());
        assert_eq!(
            out,
            "── attempt 1\nline a\n── attempt 1 failed: boom\n   next attempt at \
             2026-01-02T03:04:16.000Z\n── attempt 2\n── attempt 2 timed out (maxDuration)\n\
             ── attempt 3\nline b\n── attempt 3 completed\n"
        );
        assert_eq!(t.finish(), "", "told once");
        assert_eq!(t.before(None), "");
    }
}
