//! [`Error`]: what can go wrong when the SDK talks to a server or replays a run's journal,
//! and [`ApiErrorKind`]: what an error answer of the server means, by its status.

use std::time::Duration;

use crate::version::VersionMismatchError;

/// What an error answer ([`Error::Api`]) means, from its status.
///
/// ```no_run
/// # async fn f(client: trigr_sdk::Client) {
/// use trigr_sdk::{ApiErrorKind, Error};
/// match client.retrieve_run("run_x").await {
///     Err(Error::Api { kind: ApiErrorKind::NotFound, request_id, .. }) => {
///         println!("no such run (request {request_id:?})")
///     }
///     Err(Error::Api { kind: ApiErrorKind::RateLimit { retry_after }, .. }) => {
///         println!("slow down for {retry_after:?}")
///     }
///     Err(e) => println!("{e}"),
///     Ok(run) => println!("{}", run.status),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// `400` or `422`: the request is malformed or a value is refused. `field` is the field the
    /// server named (`field` or `param` of the body, or the path of its first `issues` entry).
    Validation {
        /// The field the problem is about, when the server named one.
        field: Option<String>,
    },
    /// `401`: no key, or a key the server does not know.
    Authentication,
    /// `403`: the key is known but not allowed to do this.
    Permission,
    /// `404`: no such resource (or endpoint).
    NotFound,
    /// `409`: the resource is not in a state that allows this (a lease that moved on, a name
    /// taken, …). An `ifVersion` mismatch comes as [`Error::VersionMismatch`], whose
    /// [`Error::kind`] is this too.
    Conflict,
    /// `429`: too many requests. `retry_after` is how long to wait, from `Retry-After` (seconds
    /// or an HTTP date) or else `x-ratelimit-reset` (the reset time in Unix milliseconds or
    /// seconds, or below 10⁹ seconds from now).
    RateLimit {
        /// How long the server asks the client to wait.
        retry_after: Option<Duration>,
    },
    /// `5xx`: the server failed or is unavailable. `retry_after` as for
    /// [`RateLimit`](ApiErrorKind::RateLimit) (a busy trigr server answers `503` with
    /// `Retry-After: 1`).
    Server {
        /// How long the server asks the client to wait.
        retry_after: Option<Duration>,
    },
    /// Any other error status (`405`, `408`, `413`, …).
    Other,
}

impl ApiErrorKind {
    /// The kind of an answer with this status; `field` and `retry_after` as read from it.
    pub fn of(status: u16, field: Option<String>, retry_after: Option<Duration>) -> ApiErrorKind {
        match status {
            400 | 422 => ApiErrorKind::Validation { field },
            401 => ApiErrorKind::Authentication,
            403 => ApiErrorKind::Permission,
            404 => ApiErrorKind::NotFound,
            409 => ApiErrorKind::Conflict,
            429 => ApiErrorKind::RateLimit { retry_after },
            500..=599 => ApiErrorKind::Server { retry_after },
            _ => ApiErrorKind::Other,
        }
    }

    /// How long the server asked to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiErrorKind::RateLimit { retry_after } | ApiErrorKind::Server { retry_after } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// An error of an SDK call: a request to the server, a value that does not (de)serialize, or a
/// durable operation that cannot go on.
///
/// Inside a task, `?` turns it into a [`TaskError`](crate::TaskError), so the attempt fails and
/// is retried under the task's policy.
///
/// Its `Debug` form is its one-line sentence, so that a `main` returning
/// `Result<(), trigr_sdk::Error>` ends with `Error: <sentence>` rather than a dump of fields.
#[derive(thiserror::Error)]
pub enum Error {
    /// The settings are missing or invalid (no secret key, a malformed URL, …).
    #[error("{0}")]
    Config(String),
    /// No connection to the server: refused, reset, no connection within the connect timeout, …
    #[error("the server at {base} could not be reached: {reason}")]
    Unreachable {
        /// Base URL of the server.
        base: String,
        /// What the network layer said, briefly (e.g. `connection refused`).
        reason: String,
    },
    /// The connection was made but the answer did not come within the request timeout
    /// ([`ClientBuilder::request_timeout`](crate::ClientBuilder::request_timeout)).
    #[error("the server at {base} did not answer within {seconds} seconds")]
    NoAnswer {
        /// Base URL of the server.
        base: String,
        /// The request timeout, in seconds.
        seconds: u64,
    },
    /// The server answered with an error status; [`ApiErrorKind`] says what it means.
    #[error("{request} failed with {status}: {message}{}", request_suffix(.request_id))]
    Api {
        /// Method and path, e.g. `POST /api/v1/worker/dequeue`.
        request: String,
        /// HTTP status.
        status: u16,
        /// The `code` of the error body, e.g. `lease_lost` or `non_determinism`.
        code: Option<String>,
        /// The `error` sentence of the body.
        message: String,
        /// The answer's `x-request-id`: the id of the server's access log line of the request
        /// (boxed to keep every `Result` of the SDK small; [`Error::request_id`] reads it).
        request_id: Option<Box<str>>,
        /// What the status means, with the field or the wait the answer named.
        kind: ApiErrorKind,
        /// The answer said `x-should-retry: false`: the server asks that this request not be
        /// sent again, so it is not retried whatever the status.
        no_retry: bool,
    },
    /// The request was cancelled before it was answered: its
    /// [`Cancellation`](crate::client::Cancellation) fired, or the client was closed
    /// ([`Client::close`](crate::Client::close)).
    #[error("{0}")]
    Cancelled(String),
    /// A success answer whose body is not what the SDK expects.
    #[error("unexpected answer to {request}: {reason}")]
    BadAnswer {
        /// Method and path.
        request: String,
        /// Why the body was not understood.
        reason: String,
    },
    /// A value could not be turned into JSON or read back from JSON.
    #[error("{what}: {source}")]
    Json {
        /// What was being (de)serialized.
        what: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The code reached a different durable operation than the journal recorded at the same
    /// position; the attempt fails without retry.
    #[error("{0}")]
    NonDeterminism(String),
    /// Something did not happen within the time allowed (e.g. [`Client::poll_run`](crate::Client::poll_run)).
    #[error("{0}")]
    Timeout(String),
    /// The operation needs a running task attempt (a [`Context`](crate::Context)) that is over.
    #[error("{0}")]
    AttemptOver(String),
    /// A workflow plan was refused before anything ran: the problem names the action and
    /// field, or the cycle's path.
    #[error("invalid plan: {0}")]
    InvalidPlan(#[from] trigr_types::plan::Error),
    /// No plan execution has this id.
    #[error("there is no plan execution {0}")]
    UnknownExecution(String),
    /// The plan execution has no action of this id.
    #[error("plan execution {execution_id} has no action \"{action_id}\"")]
    UnknownAction {
        /// The execution (run) id.
        execution_id: String,
        /// The action id asked for.
        action_id: String,
    },
    /// An `ifVersion` guard did not hold: nothing was delivered.
    #[error(transparent)]
    VersionMismatch(#[from] VersionMismatchError),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What an error answer means: the [`ApiErrorKind`] of an [`Error::Api`], and
    /// [`ApiErrorKind::Conflict`] for an [`Error::VersionMismatch`].
    pub fn kind(&self) -> Option<ApiErrorKind> {
        match self {
            Error::Api { kind, .. } => Some(kind.clone()),
            Error::VersionMismatch(_) => Some(ApiErrorKind::Conflict),
            _ => None,
        }
    }

    /// The `x-request-id` of the error answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again (`429`, `5xx`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { kind, .. } => kind.retry_after(),
            _ => None,
        }
    }

    /// The field a validation error (`400`, `422`) is about, when the server named one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Api {
                kind: ApiErrorKind::Validation { field },
                ..
            } => field.as_deref(),
            _ => None,
        }
    }

    /// The `code` of an [`Error::Api`] body.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The guard mismatch, when this is one.
    pub fn version_mismatch(&self) -> Option<&VersionMismatchError> {
        match self {
            Error::VersionMismatch(e) => Some(e),
            _ => None,
        }
    }

    /// The server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The server answered `409 lease_lost`: this attempt no longer owns the run.
    pub fn is_lease_lost(&self) -> bool {
        self.status() == Some(409) && self.code() == Some("lease_lost")
    }

    /// The server answered `409 non_determinism` (worker protocol §7.1).
    pub fn is_non_determinism(&self) -> bool {
        self.status() == Some(409) && self.code() == Some("non_determinism")
    }

    /// Worth repeating the same request: no connection, no answer, 408, 429 or a 5xx (unless
    /// the answer said `x-should-retry: false`).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::NoAnswer { .. } => true,
            Error::Api {
                status, no_retry, ..
            } => !no_retry && (matches!(*status, 408 | 429) || *status >= 500),
            _ => false,
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            what: what.into(),
            source,
        }
    }
}

/// ` (request {id})` after an error answer's sentence, when the answer had an `x-request-id`.
fn request_suffix(request_id: &Option<Box<str>>) -> String {
    match request_id {
        Some(id) => format!(" (request {id})"),
        None => String::new(),
    }
}

/// Result of SDK calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<&str>) -> Error {
        Error::Api {
            request: "POST /x".into(),
            status,
            code: code.map(str::to_string),
            message: "m".into(),
            request_id: None,
            kind: ApiErrorKind::of(status, None, None),
            no_retry: false,
        }
    }

    #[test]
    fn debug_is_the_sentence() {
        // What `main` prints for an `Err` it returns.
        assert_eq!(
            format!("Error: {:?}", api(401, None)),
            "Error: POST /x failed with 401: m"
        );
        let e = Error::Unreachable {
            base: "http://h".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(format!("{e:?}"), e.to_string());
    }

    #[test]
    fn errors_stay_small() {
        // Every `Result` of the SDK carries one; clippy's `result_large_err` draws the line.
        assert!(std::mem::size_of::<Error>() < 128);
    }

    #[test]
    fn classifies_answers() {
        assert!(api(409, Some("lease_lost")).is_lease_lost());
        assert!(!api(409, None).is_lease_lost());
        assert!(api(409, Some("non_determinism")).is_non_determinism());
        assert!(api(503, None).is_transient());
        assert!(api(429, None).is_transient());
        assert!(!api(400, None).is_transient());
        assert!(api(404, None).is_not_found());
        assert_eq!(api(403, None).kind(), Some(ApiErrorKind::Permission));
        assert_eq!(
            api(422, None).kind(),
            Some(ApiErrorKind::Validation { field: None })
        );
        assert_eq!(api(405, None).kind(), Some(ApiErrorKind::Other));
        let wait = Some(Duration::from_secs(3));
        assert_eq!(ApiErrorKind::of(429, None, wait).retry_after(), wait);
        assert_eq!(ApiErrorKind::of(503, None, wait).retry_after(), wait);
        assert_eq!(ApiErrorKind::of(409, None, wait).retry_after(), None);
        assert_eq!(api(404, None).to_string(), "POST /x failed with 404: m",);
        let Error::Api {
            request,
            status,
            code,
            message,
            kind,
            no_retry,
            ..
        } = api(404, None)
        else {
            unreachable!()
        };
        let with_id = Error::Api {
            request,
            status,
            code,
            message,
            request_id: Some("req_1".into()),
            kind,
            no_retry,
        };
        assert_eq!(
            with_id.to_string(),
            "POST /x failed with 404: m (request req_1)"
        );
        let slow = Error::NoAnswer {
            base: "http://h".into(),
            seconds: 60,
        };
        assert!(slow.is_transient());
        assert_eq!(
            slow.to_string(),
            "the server at http://h did not answer within 60 seconds"
        );
    }
}
