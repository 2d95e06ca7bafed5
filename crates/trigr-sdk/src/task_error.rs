//! [`TaskError`]: how a task attempt fails, and whether it is retried.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_types::wire::worker as wire;

/// Whether a failed attempt is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retry under the task's retry policy while attempts remain.
    Policy,
    /// Retry after this delay instead of the policy's backoff (attempts still count).
    After(Duration),
    /// Fail the run now, whatever attempts remain.
    Never,
}

/// The failure of a task attempt: a message, a name (the error's kind) and whether to retry.
///
/// Any `std::error::Error` converts into it with `?`, like `anyhow::Error`, so task code can
/// use `?` on I/O, HTTP and SDK errors alike. Build one by hand with [`TaskError::msg`], and
/// stop retries with [`TaskError::fatal`] or [`TaskError::no_retry`].
#[derive(Clone)]
pub struct TaskError {
    name: String,
    message: String,
    stack_trace: Option<String>,
    retry: Retry,
}

impl TaskError {
    /// A retryable error with this message, named `Error`.
    pub fn msg(message: impl fmt::Display) -> TaskError {
        TaskError {
            name: "Error".into(),
            message: message.to_string(),
            stack_trace: None,
            retry: Retry::Policy,
        }
    }

    /// An error that fails the run at once, without retry.
    pub fn fatal(message: impl fmt::Display) -> TaskError {
        TaskError::msg(message).no_retry()
    }

    /// Sets the error's name (its kind, shown beside the message), e.g. `ValidationError`.
    pub fn named(mut self, name: impl Into<String>) -> TaskError {
        self.name = name.into();
        self
    }

    /// Adds a stack trace or any longer detail.
    pub fn with_stack_trace(mut self, trace: impl Into<String>) -> TaskError {
        self.stack_trace = Some(trace.into());
        self
    }

    /// Marks the error as not retryable: the run fails now.
    pub fn no_retry(mut self) -> TaskError {
        self.retry = Retry::Never;
        self
    }

    /// Retries after `delay` instead of the policy's backoff.
    pub fn retry_after(mut self, delay: Duration) -> TaskError {
        self.retry = Retry::After(delay);
        self
    }

    /// The error's name, e.g. `Error`, `Panic`, `NonDeterminismError`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stack trace or detail, if any.
    pub fn stack_trace(&self) -> Option<&str> {
        self.stack_trace.as_deref()
    }

    /// Whether and when the attempt is retried.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Whether the failure allows a retry at all.
    pub fn is_retryable(&self) -> bool {
        self.retry != Retry::Never
    }

    /// The `{message, name, stackTrace}` body the server stores.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            name: Some(self.name.clone()),
            stack_trace: self.stack_trace.clone(),
        }
    }

    pub(crate) fn non_determinism(message: impl Into<String>) -> TaskError {
        TaskError::msg(message.into())
            .named("NonDeterminismError")
            .no_retry()
    }

    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> TaskError {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a payload that is not text".into());
        TaskError::msg(format!("the task panicked: {text}")).named("Panic")
    }
}

impl<E> From<E> for TaskError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> TaskError {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let full = std::any::type_name::<E>();
        let name = full.rsplit("::").next().unwrap_or(full);
        let mut error = TaskError::msg(message).named(name);
        if let Some(sdk) = (&err as &dyn std::any::Any).downcast_ref::<crate::Error>() {
            if matches!(sdk, crate::Error::NonDeterminism(_)) {
                error = error.named("NonDeterminismError").no_retry();
            }
        }
        error
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("name", &self.name)
            .field("message", &self.message)
            .field("retry", &self.retry)
            .finish()
    }
}

/// An error as the server stores it: `{"message", "name"?, "stackTrace"?}`, the shape of
/// the worker protocol's [`TaskError`](trigr_types::wire::worker::TaskError).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// The error's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Stack trace or detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

impl From<wire::TaskError> for ErrorBody {
    fn from(e: wire::TaskError) -> ErrorBody {
        ErrorBody {
            message: e.message,
            name: e.name,
            stack_trace: e.stack_trace,
        }
    }
}

impl From<ErrorBody> for wire::TaskError {
    fn from(e: ErrorBody) -> wire::TaskError {
        wire::TaskError {
            message: e.message,
            name: e.name,
            stack_trace: e.stack_trace,
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_errors_convert_with_their_causes_and_type_name() {
        let io = std::io::Error::other("disk full");
        let e = TaskError::from(io);
        assert_eq!(e.name(), "Error");
        assert_eq!(e.message(), "disk full");
        assert!(e.is_retryable());

        let parse = "x".parse::<u32>().unwrap_err();
        let e = TaskError::from(parse);
        assert_eq!(e.name(), "ParseIntError");
    }

    #[test]
    fn sdk_non_determinism_is_never_retried() {
        let e = TaskError::from(crate::Error::NonDeterminism("position 1: …".into()));
        assert_eq!(e.name(), "NonDeterminismError");
        assert!(!e.is_retryable());
    }

    #[test]
    fn panics_become_named_errors() {
        let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
        let e = TaskError::from_panic(payload.as_ref());
        assert_eq!(e.name(), "Panic");
        assert_eq!(e.message(), "the task panicked: boom");
        let body = e.to_body();
        assert_eq!(body.name.as_deref(), Some("Panic"));
    }

    #[test]
    fn retry_choices() {
        assert_eq!(TaskError::fatal("x").retry(), Retry::Never);
        let later = TaskError::msg("x").retry_after(Duration::from_secs(2));
        assert_eq!(later.retry(), Retry::After(Duration::from_secs(2)));
    }
}
