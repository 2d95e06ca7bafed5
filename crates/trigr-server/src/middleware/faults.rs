//! Injected failures, for testing clients against a real server: "answer the next N requests
//! to this path with status S (and `Retry-After` R)". Only a server with the test routes
//! (`--test-clock`) has a [`Faults`] list; rules are added with `POST /api/v1/test/faults`
//! and dropped with `DELETE /api/v1/test/faults`. No rule answers the test routes
//! (`/api/v1/test/…`) themselves.
//!
//! A rule answers either instead of the route (nothing happens on the server) or after it
//! (the route ran and its answer is replaced): the second is how a test shows that a retried
//! request that did its work the first time does not do it twice.

use std::sync::Mutex;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The most rules held at once; adding one more is refused.
pub(crate) const MAX_RULES: usize = 100;
/// The most requests one rule answers.
pub(crate) const MAX_COUNT: u32 = 1000;
/// The longest path (or path prefix) a rule matches.
pub(crate) const MAX_PATH: usize = 1000;
/// The longest header value a rule sends.
pub(crate) const MAX_HEADER: usize = 64;
/// The paths no rule answers: the test routes themselves, so a rule can always be dropped
/// and the clock moved.
pub(crate) const EXEMPT: &str = "/api/v1/test/";

/// One rule: which requests, how many more, and the answer.
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    /// The request path, or a prefix of it when it ends with `*`.
    pub(crate) path: String,
    /// Only requests of this method; any when `None`.
    pub(crate) method: Option<Method>,
    pub(crate) status: StatusCode,
    /// How many more requests it answers (at least 1 while it is listed).
    pub(crate) remaining: u32,
    /// The `Retry-After` header of the answer.
    pub(crate) retry_after: Option<HeaderValue>,
    /// The `x-ratelimit-reset` header of the answer.
    pub(crate) ratelimit_reset: Option<HeaderValue>,
    /// Run the route first and replace its answer.
    pub(crate) after_route: bool,
}

impl Fault {
    fn matches(&self, method: &Method, path: &str) -> bool {
        let path_matches = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        path_matches && self.method.as_ref().is_none_or(|m| m == method)
    }

    /// The injected answer.
    pub(super) fn answer(&self, path: &str) -> Response {
        let body = json!({
            "error": format!("Injected test fault: {} for {path}", self.status.as_u16()),
            "code": "test_fault",
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in [
            ("retry-after", &self.retry_after),
            ("x-ratelimit-reset", &self.ratelimit_reset),
        ] {
            if let Some(value) = value {
                headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
        response
    }
}

/// The rules of one server, in the order they were added; the first that matches answers.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Adds a rule; refused when [`MAX_RULES`] are held.
    pub(crate) fn add(&self, fault: Fault) -> Result<usize, String> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        if rules.len() >= MAX_RULES {
            return Err(format!(
                "At most {MAX_RULES} fault rules may be held; delete them first"
            ));
        }
        rules.push(fault);
        Ok(rules.len())
    }

    /// Drops every rule; how many there were.
    pub(crate) fn clear(&self) -> usize {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *rules).len()
    }

    /// The rule that answers this request, counted down (and dropped at zero).
    pub(super) fn take(&self, method: &Method, path: &str) -> Option<Fault> {
        if path.starts_with(EXEMPT) {
            return None;
        }
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let at = rules.iter().position(|r| r.matches(method, path))?;
        let fault = rules[at].clone();
        rules[at].remaining -= 1;
        if rules[at].remaining == 0 {
            rules.remove(at);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, method: Option<Method>, remaining: u32) -> Fault {
        Fault {
            path: path.into(),
            method,
            status: StatusCode::SERVICE_UNAVAILABLE,
            remaining,
            retry_after: None,
            ratelimit_reset: None,
            after_route: false,
        }
    }

    #[test]
    fn rules_answer_their_count_then_go() {
        let faults = Faults::default();
        faults.add(rule("/a", Some(Method::GET), 2)).unwrap();
        faults.add(rule("/b/*", None, 1)).unwrap();
        assert!(faults.take(&Method::POST, "/a").is_none());
        assert!(faults.take(&Method::GET, "/a").is_some());
        assert!(faults.take(&Method::GET, "/a").is_some());
        assert!(faults.take(&Method::GET, "/a").is_none());
        assert!(faults.take(&Method::GET, "/b").is_none());
        assert!(faults.take(&Method::PUT, "/b/x/y").is_some());
        assert!(faults.take(&Method::PUT, "/b/x/y").is_none());
        faults.add(rule("/api/v1/*", None, 1)).unwrap();
        assert!(faults
            .take(&Method::DELETE, "/api/v1/test/faults")
            .is_none());
        assert!(faults.take(&Method::GET, "/api/v1/runs").is_some());
        for _ in 0..MAX_RULES {
            faults.add(rule("/c", None, 1)).unwrap();
        }
        assert!(faults.add(rule("/c", None, 1)).is_err());
        assert_eq!(faults.clear(), MAX_RULES);
    }
}
