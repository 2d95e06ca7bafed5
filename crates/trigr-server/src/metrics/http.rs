//! The labels of an HTTP request's duration, made without allocating per request: the
//! method and status class are static strings, and the route template is interned once.

use std::collections::HashSet;
use std::sync::RwLock;

use axum::http::{Method, StatusCode};

/// The route label of a request that matched no route (a `404` of the fallback).
pub(crate) const UNMATCHED: &str = "unmatched";

/// The route templates seen so far, each kept once for the life of the process.
///
/// Only templates get here (axum's `MatchedPath`: `/api/v3/runs/{run_id}`, never a raw
/// path), so the set is bounded by the routes the server has, and leaking each once is a
/// bounded cost that makes every later label a `&'static str`.
#[derive(Default)]
pub(crate) struct Routes {
    known: RwLock<HashSet<&'static str>>,
}

impl Routes {
    /// The static copy of `route`; [`UNMATCHED`] for `None`.
    pub(crate) fn intern(&self, route: Option<&str>) -> &'static str {
        let Some(route) = route else {
            return UNMATCHED;
        };
        if let Some(known) = self.read().get(route) {
            return known;
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = known.get(route) {
            return k;
        }
        let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
        known.insert(leaked);
        leaked
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<&'static str>> {
        self.known.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// The method label: the standard methods by name, any other as `OTHER`.
pub(crate) fn method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The status label: the class of the status (`2xx`, …).
pub(crate) fn class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_interned_once() {
        let routes = Routes::default();
        let a = routes.intern(Some("/api/v3/runs/{run_id}"));
        let b = routes.intern(Some(&String::from("/api/v3/runs/{run_id}")));
        assert!(std::ptr::eq(a, b));
        assert_eq!(routes.intern(None), UNMATCHED);
        assert_eq!(routes.read().len(), 1);
        assert_eq!(class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(method(&Method::from_bytes(b"PURGE").unwrap()), "OTHER");
    }
}
