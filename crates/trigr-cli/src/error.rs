//! Errors of HTTP calls, worded as sentences for the user.

use std::fmt;

/// What went wrong with one call to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No connection could be made (refused, unknown host, connect timeout, …).
    Unreachable { base: String, reason: String },
    /// The connection was made but no answer came in time.
    Timeout { base: String, seconds: u64 },
    /// The secret key was missing or unknown to the server.
    Unauthorized,
    /// A 4xx answer other than 401.
    Rejected { status: u16, message: String },
    /// A 5xx answer (or any other non-success status).
    Failed { status: u16, message: String },
    /// A success status whose body is not what the command expects.
    BadAnswer { request: String, reason: String },
}

impl ApiError {
    /// Builds the error for a non-success answer from its status and body.
    pub fn from_response(status: u16, body: &str) -> ApiError {
        let message = sentence(&server_message(status, body));
        match status {
            401 => ApiError::Unauthorized,
            400..=499 => ApiError::Rejected { status, message },
            _ => ApiError::Failed { status, message },
        }
    }

    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Rejected { status: 404, .. })
    }

    /// Replaces a 404 by `sentence` (e.g. "Run run_x was not found."); keeps other errors.
    pub fn or_not_found(self, sentence: impl FnOnce() -> String) -> anyhow::Error {
        if self.is_not_found() {
            anyhow::Error::msg(sentence())
        } else {
            anyhow::Error::new(self)
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable { base, reason } => write!(
                f,
                "The server at {base} could not be reached: {reason}. Is `trigr server` running?"
            ),
            ApiError::Timeout { base, seconds } => {
                write!(f, "The server at {base} did not answer within {seconds} seconds.")
            }
            ApiError::Unauthorized => f.write_str(
                "The secret key was rejected (401): set TRIGGER_SECRET_KEY to a key of this server.",
            ),
            ApiError::Rejected { status: 403, message } => {
                write!(f, "The secret key is not allowed to do this (403): {message}")
            }
            ApiError::Rejected { status, message } => {
                write!(f, "The server rejected the request ({status}): {message}")
            }
            ApiError::Failed { status, message } => {
                write!(f, "The server failed ({status}): {message}")
            }
            ApiError::BadAnswer { request, reason } => {
                write!(f, "The server sent an unexpected answer to {request}: {reason}.")
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// The error sentence of a body `{"error": "…"}` (or `{"error": {"message": "…"}}`), else the
/// body text, else the standard reason of the status.
fn server_message(status: u16, body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let error = &value["error"];
        let text = error.as_str().or_else(|| error["message"].as_str());
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            return text.trim().to_string();
        }
    }
    let text = body.trim();
    if !text.is_empty() && text.len() <= 300 && !text.starts_with('<') {
        return text.to_string();
    }
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no reason given")
        .to_string()
}

/// Ends `text` with a full stop unless it already ends with punctuation.
fn sentence(text: &str) -> String {
    match text.chars().last() {
        Some('.' | '!' | '?') => text.to_string(),
        _ => format!("{text}."),
    }
}

/// Describes why a request could not be completed, from the innermost I/O error if any.
pub fn transport_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        last = e.to_string();
        current = e.source();
    }
    last
}

fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let known = match err.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::AddrNotAvailable => "address not available",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_sentence_is_shown_with_status() {
        let e = ApiError::from_response(422, r#"{"error":"Invalid delay 'x'"}"#);
        assert_eq!(
            e.to_string(),
            "The server rejected the request (422): Invalid delay 'x'."
        );
        let e = ApiError::from_response(500, r#"{"error":{"message":"Disk full."}}"#);
        assert_eq!(e.to_string(), "The server failed (500): Disk full.");
    }

    #[test]
    fn unauthorized_has_a_fixed_sentence() {
        let e = ApiError::from_response(401, r#"{"error":"Invalid or Missing API key"}"#);
        assert_eq!(
            e.to_string(),
            "The secret key was rejected (401): set TRIGGER_SECRET_KEY to a key of this server."
        );
    }

    #[test]
    fn non_json_bodies_fall_back_to_text_or_reason() {
        let e = ApiError::from_response(502, "upstream down");
        assert_eq!(e.to_string(), "The server failed (502): upstream down.");
        let e = ApiError::from_response(503, "<html>…</html>");
        assert_eq!(
            e.to_string(),
            "The server failed (503): Service Unavailable."
        );
        let e = ApiError::from_response(404, "");
        assert_eq!(
            e.to_string(),
            "The server rejected the request (404): Not Found."
        );
    }

    #[test]
    fn not_found_can_be_reworded() {
        let e = ApiError::from_response(404, r#"{"error":"Run not found"}"#);
        assert!(e.is_not_found());
        let msg = e
            .or_not_found(|| "Run run_x was not found.".into())
            .to_string();
        assert_eq!(msg, "Run run_x was not found.");
        let other = ApiError::from_response(400, r#"{"error":"bad"}"#);
        let msg = other.or_not_found(|| "unused".into()).to_string();
        assert_eq!(msg, "The server rejected the request (400): bad.");
    }

    #[test]
    fn io_errors_are_described_briefly() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(transport_reason(&refused), "connection refused");
        let other = std::io::Error::other("failed to lookup address information");
        assert_eq!(
            transport_reason(&other),
            "failed to lookup address information"
        );
    }
}
