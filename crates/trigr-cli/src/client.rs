//! The HTTP client of the management API: where the server is, which key to send, and how
//! answers become values or [`ApiError`]s.

use std::time::Duration;

use anyhow::{anyhow, bail};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{transport_reason, ApiError};

/// Server address used when neither `--api-url` nor `TRIGGER_API_URL` is given.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:3030";

/// API version header value; selects the current run-status names.
const API_VERSION: &str = "2025-07-16";
const CONNECT_TIMEOUT_SECS: u64 = 10;
const REQUEST_TIMEOUT_SECS: u64 = 60;

/// Where the server is and which secret key to use (flags of every client command).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionArgs {
    /// Base URL of the trigr server.
    #[arg(long, env = "TRIGGER_API_URL", default_value = DEFAULT_API_URL, value_name = "URL")]
    pub api_url: String,

    /// Secret key of the environment to act in (tr_dev_…, tr_stg_… or tr_prod_…).
    #[arg(
        long,
        env = "TRIGGER_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub secret_key: Option<String>,
}

/// An authenticated client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    auth: HeaderValue,
    http: reqwest::Client,
}

impl Client {
    /// Checks the connection settings and builds the client; no request is sent yet.
    pub fn new(conn: &ConnectionArgs) -> anyhow::Result<Client> {
        let base = base_url(&conn.api_url)?;
        let auth = auth_header(conn.secret_key.as_deref())?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS))
            .timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS))
            .user_agent(concat!("trigr-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow!("The HTTP client could not be set up: {e}."))?;
        Ok(Client { base, auth, http })
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (path includes any query string).
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path`, with a JSON body or with none.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        self.send(Method::POST, path, body).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ApiError> {
        self.send(Method::DELETE, path, None).await
    }

    /// Opens `GET path` as a server-sent event stream, resuming after `last_event_id`; the
    /// body is read as it comes (no overall time limit: the caller watches for silence).
    pub async fn open_events(
        &self,
        path: &str,
        last_event_id: Option<i64>,
    ) -> Result<reqwest::Response, ApiError> {
        let mut request = self
            .request(Method::GET, path, None)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(Duration::from_secs(365 * 24 * 3600));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(ApiError::from_response(status, &text));
        }
        Ok(response)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let request_name = format!("{method} {}", path_only(path));
        let response = self
            .request(method, path, body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !(200..300).contains(&status) {
            return Err(ApiError::from_response(status, &text));
        }
        parse_body(&text, &request_name)
    }

    /// The request as it is sent: the key, the API version and the JSON body, if any.
    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.auth.clone())
            .header("x-trigger-api-version", API_VERSION);
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    fn transport_error(&self, err: &reqwest::Error) -> ApiError {
        let base = self.base.clone();
        if err.is_timeout() && !err.is_connect() {
            return ApiError::Timeout {
                base,
                seconds: REQUEST_TIMEOUT_SECS,
            };
        }
        let reason = if err.is_timeout() {
            format!("no connection within {CONNECT_TIMEOUT_SECS} seconds")
        } else {
            transport_reason(err)
        };
        ApiError::Unreachable { base, reason }
    }
}

/// Turns a value from the server into `T`, or a sentence naming the request.
pub fn decode<T: DeserializeOwned>(value: Value, request: &str) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::BadAnswer {
        request: request.to_string(),
        reason: e.to_string(),
    })
}

fn parse_body(text: &str, request: &str) -> Result<Value, ApiError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| ApiError::BadAnswer {
        request: request.to_string(),
        reason: format!("the body is not JSON ({e})"),
    })
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Validates the API URL and strips trailing slashes.
pub fn base_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        bail!("The API URL is empty: set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.");
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        anyhow!("The API URL '{trimmed}' is not valid ({e}): set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("The API URL '{trimmed}' is not an http:// or https:// address: set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("The API URL '{trimmed}' must not contain '?' or '#': set TRIGGER_API_URL or --api-url to the server's address only, like {DEFAULT_API_URL}.");
    }
    Ok(trimmed.to_string())
}

/// Builds the `Authorization` header from the secret key, or explains what is missing.
pub fn auth_header(key: Option<&str>) -> anyhow::Result<HeaderValue> {
    let key = key.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        bail!("No secret key given: set TRIGGER_SECRET_KEY (or pass --secret-key) to a secret key of the server's environment, such as its tr_dev_… key.");
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
        anyhow!("The secret key contains characters that cannot be sent: check TRIGGER_SECRET_KEY.")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{TestServer, KEY};
    use serde_json::json;

    fn conn(url: &str) -> ConnectionArgs {
        ConnectionArgs {
            api_url: url.into(),
            secret_key: Some("tr_dev_k".into()),
        }
    }

    fn header(request: &reqwest::Request, name: &str) -> Option<String> {
        let value = request.headers().get(name)?;
        value.to_str().ok().map(str::to_string)
    }

    #[test]
    fn base_url_strips_trailing_slashes() {
        assert_eq!(
            base_url("http://127.0.0.1:3030/").ok().as_deref(),
            Some("http://127.0.0.1:3030")
        );
        assert_eq!(
            base_url(" https://x.example/api// ").ok().as_deref(),
            Some("https://x.example/api")
        );
    }

    #[test]
    fn bad_base_urls_are_explained() {
        for bad in [
            "",
            "localhost:3030",
            "ftp://x",
            "http://x/?a=1",
            "not a url",
        ] {
            let err = base_url(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("set TRIGGER_API_URL or --api-url"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_key_is_explained() {
        let err = auth_header(None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("No secret key given: set TRIGGER_SECRET_KEY"),
            "{err}"
        );
        assert!(auth_header(Some("  ")).is_err());
        assert!(auth_header(Some("tr_dev\nx")).is_err());
        assert!(auth_header(Some("tr_dev_abc")).is_ok());
    }

    #[test]
    fn requests_carry_the_key_the_api_version_and_a_json_body() {
        let client = Client::new(&conn("http://127.0.0.1:3030/")).expect("client");
        let request = client
            .request(Method::POST, "/api/x?a=1", Some(&json!({"a": 1})))
            .build()
            .expect("request");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.url().as_str(), "http://127.0.0.1:3030/api/x?a=1");
        assert_eq!(
            header(&request, "authorization").as_deref(),
            Some("Bearer tr_dev_k")
        );
        assert_eq!(
            header(&request, "x-trigger-api-version").as_deref(),
            Some(API_VERSION)
        );
        assert_eq!(
            header(&request, "content-type").as_deref(),
            Some("application/json")
        );
        let body = request.body().and_then(reqwest::Body::as_bytes);
        assert_eq!(body, Some(&br#"{"a":1}"#[..]));

        let request = client
            .request(Method::POST, "/api/y", None)
            .build()
            .expect("request");
        assert!(request.body().is_none());
        assert_eq!(header(&request, "content-type"), None);
    }

    #[tokio::test]
    async fn sends_key_and_json_and_reads_the_answer() {
        let server = TestServer::start().await;
        let version = server.deploy(json!([{"id": "hello"}])).await;
        let mut args = server.conn();
        args.api_url.push('/');
        let client = Client::new(&args).expect("client");
        let body = json!({
            "payload": r#"{"a":1}"#,
            "options": {"payloadType": "application/json", "tags": ["x"]}
        });
        let answer = client
            .post("/api/v1/tasks/hello/trigger", Some(&body))
            .await
            .expect("trigger");
        let id = answer["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no run id in {answer}"))
            .to_string();
        assert!(id.starts_with("run_"), "{answer}");
        assert_eq!(answer["isCached"], json!(false), "{answer}");
        let run = server.run(&id).await;
        assert_eq!(run["payload"], json!({"a": 1}), "{run}");
        assert_eq!(run["tags"], json!(["x"]), "{run}");

        // The API version header asks for the current status names: a dequeued run is
        // `DEQUEUED`, which older callers see as `EXECUTING`.
        let (status, dequeued) = server
            .post(
                "/api/v1/worker/dequeue",
                &json!({"version": version, "maxRuns": 1}),
            )
            .await;
        assert_eq!(status, 200, "{dequeued}");
        assert_eq!(dequeued["runs"][0]["runId"], json!(id), "{dequeued}");
        let run = client
            .get(&format!("/api/v3/runs/{id}"))
            .await
            .expect("retrieve");
        assert_eq!(run["status"], json!("DEQUEUED"), "{run}");
        server.stop().await;
    }

    #[tokio::test]
    async fn error_answers_become_api_errors() {
        let server = TestServer::start().await;
        let mut wrong_key = server.conn();
        wrong_key.secret_key = Some(format!("{KEY}0"));
        let client = Client::new(&wrong_key).expect("client");
        assert_eq!(
            client.get("/api/v1/runs").await,
            Err(ApiError::Unauthorized)
        );

        // A stored packet is served as it was uploaded: a success answer that is not JSON.
        let presign = format!("{}/api/v2/packets/notes.txt", server.url);
        let (status, put) = server.put_text(&presign, "").await;
        assert_eq!(status, 200, "{put}");
        let upload = put["presignedUrl"].as_str().expect("upload URL");
        let (status, answer) = server.put_text(upload, "not json").await;
        assert_eq!(status, 200, "{answer}");
        let (status, get) = server.get("/api/v1/packets/notes.txt").await;
        assert_eq!(status, 200, "{get}");
        let download = get["presignedUrl"].as_str().expect("download URL");
        let path = download
            .strip_prefix(&server.url)
            .expect("download URL on the server");

        let client = Client::new(&server.conn()).expect("client");
        let err = client
            .get(&format!("{path}?x=1"))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with(&format!(
                "The server sent an unexpected answer to GET {path}: the body is not JSON"
            )),
            "{err}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::new(&conn(&url)).expect("client");
        let err = client
            .get("/x")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            format!("The server at {url} could not be reached: connection refused. Is `trigr server` running?")
        );
    }
}
