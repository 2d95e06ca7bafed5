//! What waits give back: [`WaitResult`] for tokens, [`TaskRunResult`] for child runs.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::task_error::ErrorBody;

/// The end of a token wait: the data it was completed with, or its timeout.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitResult<T> {
    /// The token was completed with this data.
    Completed(T),
    /// The token's timeout passed first.
    TimedOut(WaitTimeout),
}

/// A token wait that timed out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the wait timed out: {message}")]
pub struct WaitTimeout {
    /// The server's sentence.
    pub message: String,
}

impl<T> WaitResult<T> {
    /// Completed, not timed out (the `.ok` of the official SDK).
    pub fn is_ok(&self) -> bool {
        matches!(self, WaitResult::Completed(_))
    }

    /// The data, if completed.
    pub fn ok(self) -> Option<T> {
        match self {
            WaitResult::Completed(data) => Some(data),
            WaitResult::TimedOut(_) => None,
        }
    }

    /// The data, or the timeout as an error (the `.unwrap()` of the official SDK, as a
    /// `Result` to use with `?`).
    pub fn into_result(self) -> Result<T, WaitTimeout> {
        match self {
            WaitResult::Completed(data) => Ok(data),
            WaitResult::TimedOut(timeout) => Err(timeout),
        }
    }
}

/// How a child run ended, as `trigger_and_wait` reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskRunResult<O> {
    /// The child completed with this output.
    Ok {
        /// The child's run id.
        id: String,
        /// Its output.
        output: O,
    },
    /// The child failed (or was canceled, crashed, timed out …).
    Err {
        /// The child's run id.
        id: String,
        /// Its error.
        error: ErrorBody,
    },
}

/// A child run that did not complete successfully.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("run {id} failed: {error}")]
pub struct RunFailed {
    /// The child's run id.
    pub id: String,
    /// Its error.
    pub error: ErrorBody,
}

impl<O> TaskRunResult<O> {
    /// The child's run id.
    pub fn id(&self) -> &str {
        match self {
            TaskRunResult::Ok { id, .. } | TaskRunResult::Err { id, .. } => id,
        }
    }

    /// The child completed successfully (the `.ok` of the official SDK).
    pub fn is_ok(&self) -> bool {
        matches!(self, TaskRunResult::Ok { .. })
    }

    /// The output of a successful child.
    pub fn output(&self) -> Option<&O> {
        match self {
            TaskRunResult::Ok { output, .. } => Some(output),
            TaskRunResult::Err { .. } => None,
        }
    }

    /// The error of a failed child.
    pub fn error(&self) -> Option<&ErrorBody> {
        match self {
            TaskRunResult::Ok { .. } => None,
            TaskRunResult::Err { error, .. } => Some(error),
        }
    }

    /// The output, or the failure as an error (the `.unwrap()` of the official SDK, as a
    /// `Result` to use with `?`).
    pub fn into_result(self) -> Result<O, RunFailed> {
        match self {
            TaskRunResult::Ok { output, .. } => Ok(output),
            TaskRunResult::Err { id, error } => Err(RunFailed { id, error }),
        }
    }
}

impl<O: DeserializeOwned> TaskRunResult<O> {
    /// Reads `{"ok": true, "output": …}` or `{"ok": false, "error": …}` (§7.1).
    pub(crate) fn from_wire(id: String, value: &Value) -> Result<TaskRunResult<O>> {
        if value["ok"].as_bool() == Some(true) {
            let output = serde_json::from_value(value["output"].clone())
                .map_err(|e| Error::json(format!("the output of child run {id}"), e))?;
            return Ok(TaskRunResult::Ok { id, output });
        }
        let error = serde_json::from_value(value["error"].clone()).unwrap_or_else(|_| ErrorBody {
            message: format!("child run {id} did not complete: {value}"),
            name: None,
            stack_trace: None,
        });
        Ok(TaskRunResult::Err { id, error })
    }
}

impl<T: fmt::Display> fmt::Display for WaitResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitResult::Completed(data) => write!(f, "completed: {data}"),
            WaitResult::TimedOut(t) => write!(f, "timed out: {}", t.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn child_results_decode_both_ways() {
        let ok: TaskRunResult<u32> =
            TaskRunResult::from_wire("run_1".into(), &json!({"ok": true, "output": 7}))
                .expect("ok");
        assert!(ok.is_ok());
        assert_eq!(ok.output(), Some(&7));
        assert_eq!(ok.clone().into_result(), Ok(7));

        let err: TaskRunResult<u32> = TaskRunResult::from_wire(
            "run_2".into(),
            &json!({"ok": false, "error": {"message": "boom", "name": "Error"}}),
        )
        .expect("err");
        assert_eq!(err.id(), "run_2");
        let failed = err.into_result().expect_err("failed");
        assert_eq!(failed.to_string(), "run run_2 failed: Error: boom");
    }

    #[test]
    fn wait_results() {
        let done = WaitResult::Completed(1);
        assert!(done.is_ok());
        assert_eq!(done.into_result(), Ok(1));
        let late: WaitResult<u32> = WaitResult::TimedOut(WaitTimeout {
            message: "10m passed".into(),
        });
        assert_eq!(late.clone().ok(), None);
        assert_eq!(
            late.into_result().expect_err("timed out").to_string(),
            "the wait timed out: 10m passed"
        );
    }
}
