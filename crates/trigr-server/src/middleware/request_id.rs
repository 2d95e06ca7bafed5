//! `x-request-id` on every answer: the client's own id when it sent a sane one (1–128 of
//! `A-Z a-z 0-9 - _ . :`), else one made here (`req_` and 32 hex digits). The id is in the
//! request's span and its access log line, so a client's error report points at the log line.

use axum::http::{HeaderMap, HeaderValue};

/// The header a client may send and every answer carries.
pub(crate) const HEADER: &str = "x-request-id";
/// The longest client-sent id echoed; a longer one is replaced.
const MAX_LEN: usize = 128;

/// The id of a request: the client's when it is sane, else a new one.
pub(super) fn of(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(generate, str::to_string)
}

/// Puts `id` on an answer's headers (replacing any the route set).
pub(super) fn set(headers: &mut HeaderMap, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HEADER, value);
    }
}

fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn generate() -> String {
    format!("req_{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(id).unwrap());
        headers
    }

    #[test]
    fn sane_ids_are_echoed_and_others_replaced() {
        assert_eq!(of(&with("abc-123_x.y:z")), "abc-123_x.y:z");
        let made = of(&with("has space"));
        assert!(made.starts_with("req_") && made.len() == 36, "{made}");
        assert_ne!(of(&with(&"a".repeat(129))), "a".repeat(129));
        assert_eq!(of(&with(&"a".repeat(128))), "a".repeat(128));
        assert!(of(&HeaderMap::new()).starts_with("req_"));
        assert_ne!(of(&HeaderMap::new()), of(&HeaderMap::new()));
    }
}
