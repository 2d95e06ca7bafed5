//! The HTTP transport under [`Client`](crate::Client): base URL, key, JSON in and out, error
//! mapping and retries of transient failures.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::version::VersionMismatchError;

/// Server address used when `TRIGGER_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:3030";
/// API version header value; selects the current run-status names.
const API_VERSION: &str = "2025-07-16";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the longest long-poll (30 s) the protocol allows.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);

/// Everything except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one path segment or query component (like JavaScript's `encodeURIComponent`).
pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// How many times a request is sent when the failure is transient.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tries {
    /// Send once (not idempotent, or the caller handles failures).
    Once,
    /// Repeat transient failures (no answer, 408, 429, 5xx) with backoff, up to 5 sends.
    Transient,
}

/// An authenticated connection to one server.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    base: String,
    auth: HeaderValue,
    http: reqwest::Client,
}

impl Http {
    pub(crate) fn new(api_url: &str, secret_key: &str) -> Result<Http> {
        let base = base_url(api_url)?;
        let auth = auth_header(secret_key)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("the HTTP client could not be set up: {e}")))?;
        Ok(Http { base, auth, http })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns the JSON body of a success answer (`null` when empty).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        tries: Tries,
    ) -> Result<Value> {
        let max = match tries {
            Tries::Once => 1,
            Tries::Transient => 5,
        };
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.send_once(method.clone(), path, body).await {
                Err(e) if e.is_transient() && attempt < max => {
                    tracing::debug!("{e}; trying again in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Like [`Http::send`], decoding the answer into `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        tries: Tries,
    ) -> Result<T> {
        let name = request_name(&method, path);
        let value = self.send(method, path, body, tries).await?;
        serde_json::from_value(value).map_err(|e| Error::BadAnswer {
            request: name,
            reason: e.to_string(),
        })
    }

    async fn send_once(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let name = request_name(&method, path);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.auth.clone())
            .header("x-trigger-api-version", API_VERSION);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(api_error(name, status, &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| Error::BadAnswer {
            request: name,
            reason: format!("the body is not JSON ({e})"),
        })
    }

    /// Sends a request with a text body and extra headers, once; the JSON answer of a success.
    pub(crate) async fn send_text(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
        headers: &[(&str, String)],
    ) -> Result<Value> {
        let name = request_name(&method, path);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.auth.clone())
            .header("x-trigger-api-version", API_VERSION)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(api_error(name, status, &text));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Opens a `GET` whose body the caller reads as it comes (server-sent events); fails on
    /// a non-success answer.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        let name = request_name(&Method::GET, path);
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.auth.clone())
            .header("x-trigger-api-version", API_VERSION)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(api_error(name, status, &text));
        }
        Ok(response)
    }

    pub(crate) fn unreachable(&self, err: &reqwest::Error) -> Error {
        let mut reason = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        Error::Unreachable {
            base: self.base.clone(),
            reason,
        }
    }
}

fn request_name(method: &Method, path: &str) -> String {
    format!("{method} {}", path.split('?').next().unwrap_or(path))
}

/// The error of a non-success answer: `{"error": "…", "code"?: "…"}` or the raw text.
fn api_error(request: String, status: u16, text: &str) -> Error {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let error = &body["error"];
    let message = error
        .as_str()
        .or_else(|| error["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| match text.trim() {
            "" => reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no reason given")
                .to_string(),
            t => t.chars().take(300).collect(),
        });
    if status == 409 {
        if let Some(expected) = body["expectedVersion"].as_str() {
            return Error::VersionMismatch(VersionMismatchError {
                run_id: body["runId"].as_str().map(str::to_string),
                expected_version: expected.to_string(),
                actual_version: body["actualVersion"].as_str().map(str::to_string),
            });
        }
    }
    Error::Api {
        request,
        status,
        code: body["code"].as_str().map(str::to_string),
        message,
    }
}

fn base_url(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        Error::Config(format!(
            "the API URL '{trimmed}' is not valid ({e}); use an address like {DEFAULT_API_URL}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "the API URL '{trimmed}' is not an http:// or https:// address"
        )));
    }
    Ok(trimmed.to_string())
}

fn auth_header(key: &str) -> Result<HeaderValue> {
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::Config(
            "no secret key given: set TRIGGER_SECRET_KEY to a secret key of the server's environment (tr_dev_…)".into(),
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
        Error::Config("the secret key contains characters that cannot be sent".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        let http = Http::new("http://127.0.0.1:3030/", "tr_dev_x").expect("client");
        assert_eq!(http.base(), "http://127.0.0.1:3030");
        assert!(Http::new("localhost:3030", "k").is_err());
        assert!(Http::new("ftp://x", "k").is_err());
        assert!(Http::new("http://x", " ").is_err());
    }

    #[test]
    fn error_bodies_give_message_and_code() {
        let e = api_error(
            "POST /h".into(),
            409,
            r#"{"error":"lease gone","code":"lease_lost","status":"CANCELED"}"#,
        );
        assert!(e.is_lease_lost());
        assert_eq!(e.to_string(), "POST /h failed with 409: lease gone");
        let e = api_error("GET /x".into(), 404, "");
        assert_eq!(e.to_string(), "GET /x failed with 404: Not Found");
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("task-1_x.y~"), "task-1_x.y~");
    }
}
