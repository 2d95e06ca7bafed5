//! The server as the commands reach it: the SDK's [`trigr_sdk::Client`] built from the
//! connection flags, with its errors worded as the sentences the CLI prints.
//!
//! Requests, error answers and event streams are the SDK's; this module only chooses the
//! client's settings (a `trigr-cli/…` user agent, a 60-second request timeout) and phrases
//! failures for the terminal, naming the CLI's flags and environment variables.
//!
//! Bodies are the request types of [`trigr_types::wire`], and answers are read with
//! [`decode`] into its answer types; a command keeps the answer's JSON only to print it as
//! received (`--json`).

use std::fmt;
use std::time::Duration;

use anyhow::bail;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use trigr_sdk::http::{check_settings, EventStream, SettingsError};
use trigr_sdk::Error;

pub use trigr_sdk::http::DEFAULT_API_URL;

/// How long a request may take, its answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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

/// The SDK client of the server a command talks to; its calls fail with an [`ApiError`].
#[derive(Debug, Clone)]
pub struct Api {
    client: trigr_sdk::Client,
}

impl Api {
    /// Checks the connection flags and builds the client; no request is sent yet.
    pub fn connect(conn: &ConnectionArgs) -> anyhow::Result<Api> {
        let key = conn.secret_key.as_deref().unwrap_or_default();
        if let Err(problem) = check_settings(&conn.api_url, key) {
            bail!(settings_sentence(&problem));
        }
        let client = trigr_sdk::Client::builder(&conn.api_url, key)
            .user_agent(concat!("trigr-cli/", env!("CARGO_PKG_VERSION")))
            .request_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ApiError)?;
        Ok(Api { client })
    }

    /// The SDK's client, for the calls it offers by name.
    pub fn sdk(&self) -> &trigr_sdk::Client {
        &self.client
    }

    /// `GET path` (path includes any query string).
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.client.get_json(path).await?)
    }

    /// `POST path` with a JSON body (a request type of `trigr_types::wire`).
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, ApiError> {
        let body = to_json(body)?;
        Ok(self.client.post_json(path, Some(&body)).await?)
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.client.post_json(path, None).await?)
    }

    /// `PUT path` with a JSON body (a request type of `trigr_types::wire`).
    pub async fn put(&self, path: &str, body: &impl Serialize) -> Result<Value, ApiError> {
        let body = to_json(body)?;
        Ok(self.client.put_json(path, &body).await?)
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.client.delete_json(path).await?)
    }

    /// Opens `GET path` as a server-sent event stream, resuming after `last_event_id`.
    pub async fn open_events(
        &self,
        path: &str,
        last_event_id: Option<i64>,
    ) -> Result<EventStream, ApiError> {
        Ok(self.client.open_events(path, last_event_id).await?)
    }
}

/// An SDK error, displayed as the sentence the CLI prints for it.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl ApiError {
    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.0.is_not_found()
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
        match &self.0 {
            Error::Unreachable { base, reason } => write!(
                f,
                "The server at {base} could not be reached: {reason}. Is `trigr server` running?"
            ),
            Error::NoAnswer { base, seconds } => {
                write!(f, "The server at {base} did not answer within {seconds} seconds.")
            }
            Error::Api { status: 401, .. } => f.write_str(
                "The secret key was rejected (401): set TRIGGER_SECRET_KEY to a key of this server.",
            ),
            Error::Api {
                status: 403,
                message,
                ..
            } => write!(
                f,
                "The secret key is not allowed to do this (403): {}",
                full_stop(message)
            ),
            Error::Api {
                status, message, ..
            } if (400..=499).contains(status) => write!(
                f,
                "The server rejected the request ({status}): {}",
                full_stop(message)
            ),
            Error::Api {
                status, message, ..
            } => write!(f, "The server failed ({status}): {}", full_stop(message)),
            Error::VersionMismatch(e) => write!(
                f,
                "The server rejected the request (409): {}",
                full_stop(&e.to_string())
            ),
            Error::BadAnswer { request, reason } => {
                write!(f, "The server sent an unexpected answer to {request}: {reason}.")
            }
            other => f.write_str(&full_stop(&capitalized(&other.to_string()))),
        }
    }
}

// No `source()`: the sentence is complete, and `{:#}` would repeat the SDK's wording.
impl std::error::Error for ApiError {}

/// Turns a value from the server into `T`, or a sentence naming the request.
pub fn decode<T: DeserializeOwned>(value: Value, request: &str) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError(Error::BadAnswer {
            request: request.to_string(),
            reason: e.to_string(),
        })
    })
}

/// A request body as JSON. The wire types always serialize (their maps have string keys);
/// the error is for completeness.
fn to_json(body: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(body).map_err(|source| {
        ApiError(Error::Json {
            what: "the request body could not be written as JSON".into(),
            source,
        })
    })
}

/// What to do about a bad `--api-url` / `TRIGGER_API_URL` or `--secret-key` /
/// `TRIGGER_SECRET_KEY`.
fn settings_sentence(problem: &SettingsError) -> String {
    let fix = format!("set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}");
    match problem {
        SettingsError::EmptyUrl => format!("The API URL is empty: {fix}."),
        SettingsError::InvalidUrl { url, reason } => {
            format!("The API URL '{url}' is not valid ({reason}): {fix}.")
        }
        SettingsError::NotHttp { url } => {
            format!("The API URL '{url}' is not an http:// or https:// address: {fix}.")
        }
        SettingsError::QueryOrFragment { url } => format!(
            "The API URL '{url}' must not contain '?' or '#': set TRIGGER_API_URL or --api-url to the server's address only, like {DEFAULT_API_URL}."
        ),
        SettingsError::NoKey => "No secret key given: set TRIGGER_SECRET_KEY (or pass --secret-key) to a secret key of the server's environment, such as its tr_dev_… key.".into(),
        SettingsError::UnsendableKey => {
            "The secret key contains characters that cannot be sent: check TRIGGER_SECRET_KEY."
                .into()
        }
        other => full_stop(&capitalized(&other.to_string())),
    }
}

/// Ends `text` with a full stop unless it already ends with punctuation.
fn full_stop(text: &str) -> String {
    match text.chars().last() {
        Some('.' | '!' | '?') => text.to_string(),
        _ => format!("{text}."),
    }
}

/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{task, TestServer, KEY};
    use serde_json::json;
    use trigr_types::wire::rest::TriggerBody;
    use trigr_types::wire::runs::{Run, Triggered};
    use trigr_types::wire::trigger::TriggerOptions;

    fn conn(url: &str) -> ConnectionArgs {
        ConnectionArgs {
            api_url: url.into(),
            secret_key: Some("tr_dev_k".into()),
        }
    }

    fn connect_error(conn: &ConnectionArgs) -> String {
        Api::connect(conn)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn api(status: u16, message: &str) -> String {
        ApiError(Error::Api {
            request: "GET /x".into(),
            status,
            code: None,
            message: message.into(),
            request_id: None,
            kind: trigr_sdk::ApiErrorKind::Other,
            no_retry: false,
        })
        .to_string()
    }

    #[test]
    fn bad_base_urls_are_explained() {
        assert!(Api::connect(&conn(" https://x.example/api// ")).is_ok());
        for bad in [
            "",
            "localhost:3030",
            "ftp://x",
            "http://x/?a=1",
            "not a url",
        ] {
            let err = connect_error(&conn(bad));
            assert!(
                err.contains("set TRIGGER_API_URL or --api-url"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            connect_error(&conn(" /")),
            format!("The API URL is empty: set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.")
        );
        assert_eq!(
            connect_error(&conn("ftp://x")),
            format!("The API URL 'ftp://x' is not an http:// or https:// address: set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.")
        );
        assert_eq!(
            connect_error(&conn("not a url")),
            format!("The API URL 'not a url' is not valid (relative URL without a base): set TRIGGER_API_URL or --api-url to an address like {DEFAULT_API_URL}.")
        );
        assert_eq!(
            connect_error(&conn("http://x/?a=1")),
            format!("The API URL 'http://x/?a=1' must not contain '?' or '#': set TRIGGER_API_URL or --api-url to the server's address only, like {DEFAULT_API_URL}.")
        );
    }

    #[test]
    fn missing_key_is_explained() {
        let key = |key: Option<&str>| {
            connect_error(&ConnectionArgs {
                api_url: DEFAULT_API_URL.into(),
                secret_key: key.map(str::to_string),
            })
        };
        assert_eq!(
            key(None),
            "No secret key given: set TRIGGER_SECRET_KEY (or pass --secret-key) to a secret key of the server's environment, such as its tr_dev_… key."
        );
        assert_eq!(key(Some("  ")), key(None));
        assert_eq!(
            key(Some("tr_dev\nx")),
            "The secret key contains characters that cannot be sent: check TRIGGER_SECRET_KEY."
        );
        assert_eq!(key(Some("tr_dev_abc")), "");
        // The address is checked first.
        let err = connect_error(&ConnectionArgs {
            api_url: "".into(),
            secret_key: None,
        });
        assert!(err.starts_with("The API URL is empty"), "{err}");
    }

    #[test]
    fn error_answers_are_worded_by_status() {
        assert_eq!(
            api(422, "Invalid delay 'x'"),
            "The server rejected the request (422): Invalid delay 'x'."
        );
        assert_eq!(
            api(500, "Disk full."),
            "The server failed (500): Disk full."
        );
        assert_eq!(
            api(401, "Invalid or Missing API key"),
            "The secret key was rejected (401): set TRIGGER_SECRET_KEY to a key of this server."
        );
        assert_eq!(
            api(403, "Not allowed"),
            "The secret key is not allowed to do this (403): Not allowed."
        );
        assert_eq!(
            api(404, "Not Found"),
            "The server rejected the request (404): Not Found."
        );
        assert_eq!(api(302, "Found"), "The server failed (302): Found.");
    }

    #[test]
    fn transport_and_other_errors_are_sentences() {
        let e = ApiError(Error::NoAnswer {
            base: "http://h".into(),
            seconds: 60,
        });
        assert_eq!(
            e.to_string(),
            "The server at http://h did not answer within 60 seconds."
        );
        let e = ApiError(Error::Unreachable {
            base: "http://h".into(),
            reason: "connection reset".into(),
        });
        assert_eq!(
            e.to_string(),
            "The server at http://h could not be reached: connection reset. Is `trigr server` running?"
        );
        let e = ApiError(Error::Config(
            "the HTTP client could not be set up: x".into(),
        ));
        assert_eq!(e.to_string(), "The HTTP client could not be set up: x.");
        let e = decode::<Vec<u8>>(json!({"a": 1}), "GET /api/v1/things")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with(
                "The server sent an unexpected answer to GET /api/v1/things: invalid type"
            ),
            "{e}"
        );
    }

    #[test]
    fn not_found_can_be_reworded() {
        let not_found = ApiError(Error::Api {
            request: "GET /api/v3/runs/run_x".into(),
            status: 404,
            code: None,
            message: "Run not found".into(),
            request_id: None,
            kind: trigr_sdk::ApiErrorKind::Other,
            no_retry: false,
        });
        assert!(not_found.is_not_found());
        let msg = not_found
            .or_not_found(|| "Run run_x was not found.".into())
            .to_string();
        assert_eq!(msg, "Run run_x was not found.");
        let other = ApiError(Error::Api {
            request: "GET /x".into(),
            status: 400,
            code: None,
            message: "bad".into(),
            request_id: None,
            kind: trigr_sdk::ApiErrorKind::Other,
            no_retry: false,
        });
        let msg = other.or_not_found(|| "unused".into()).to_string();
        assert_eq!(msg, "The server rejected the request (400): bad.");
    }

    #[tokio::test]
    async fn sends_key_and_json_and_reads_the_answer() {
        let server = TestServer::start().await;
        let version = server.deploy(vec![task("hello")]).await;
        let mut args = server.conn();
        args.api_url.push('/');
        let api = Api::connect(&args).expect("client");
        let body = TriggerBody {
            payload: Some(json!(r#"{"a":1}"#)),
            options: Some(TriggerOptions {
                payload_type: Some("application/json".into()),
                tags: Some(json!(["x"])),
                ..TriggerOptions::default()
            }),
        };
        let answer = api
            .post("/api/v1/tasks/hello/trigger", &body)
            .await
            .expect("trigger");
        let answer: Triggered = decode(answer, "POST /api/v1/tasks/hello/trigger").expect("answer");
        let id = answer.id;
        assert!(id.starts_with("run_"), "{id}");
        assert!(!answer.is_cached);
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
        let run = api
            .get(&format!("/api/v3/runs/{id}"))
            .await
            .expect("retrieve");
        let run: Run = decode(run, "GET /api/v3/runs/{id}").expect("run");
        assert_eq!(run.summary.common.status, "DEQUEUED");
        server.stop().await;
    }

    #[tokio::test]
    async fn error_answers_become_api_errors() {
        let server = TestServer::start().await;
        let mut wrong_key = server.conn();
        wrong_key.secret_key = Some(format!("{KEY}0"));
        let api = Api::connect(&wrong_key).expect("client");
        let err = api.get("/api/v1/runs").await.err();
        assert!(
            matches!(&err, Some(ApiError(Error::Api { status: 401, .. }))),
            "{err:?}"
        );

        // An error answer's `error` sentence is shown with its status.
        let api = Api::connect(&server.conn()).expect("client");
        let err = api
            .post(
                "/api/v1/tasks/hello/trigger",
                &json!({"payload": "{}", "options": {"delay": "soon"}}),
            )
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("The server rejected the request (4") && err.ends_with('.'),
            "{err}"
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

        let err = api
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
        let api = Api::connect(&conn(&url)).expect("client");
        let err = api
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
