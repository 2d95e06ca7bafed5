//! `trigr trigger`: start a run of a task.

use anyhow::bail;
use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::rest::TriggerBody;
use trigr_types::wire::runs::Triggered;
use trigr_types::wire::trigger::{DebounceMode, DebounceOption, QueueOption, TriggerOptions};

use crate::api::{decode, Api, ConnectionArgs};
use crate::encode;
use crate::output;

/// Machine presets a run may ask for.
pub const MACHINES: [&str; 7] = [
    "micro",
    "small-1x",
    "small-2x",
    "medium-1x",
    "medium-2x",
    "large-1x",
    "large-2x",
];

/// Arguments of `trigr trigger`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct TriggerArgs {
    /// Id of the task to run, as declared by the deployment.
    #[arg(value_name = "TASK", value_parser = NonEmptyStringValueParser::new())]
    pub task: String,

    /// Payload as JSON text, e.g. '{"to":"a@example.com"}'; @FILE reads it from a file, - from
    /// standard input.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,

    /// Keep the run delayed for this long (30s, 10m, 1h30m, 2d) or number of seconds, or until
    /// an ISO date-time.
    #[arg(long, value_name = "DURATION")]
    pub delay: Option<String>,

    /// Expire the run unless it starts within this duration (10m, 1h) or number of seconds.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,

    /// Tag the run; repeat for several tags (at most 10).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Return the existing run instead of a new one while a run with this key exists.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,

    /// Put the run on this queue instead of the task's own queue.
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,

    /// Share the queue's concurrency limit per value of this key.
    #[arg(long, value_name = "KEY")]
    pub concurrency_key: Option<String>,

    /// Head start in the queue, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub priority: Option<u32>,

    /// Attempts in all, overriding the task's retry setting (1 = no retry).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: Option<u32>,

    /// Machine preset for the run.
    #[arg(long, value_name = "PRESET", value_parser = MACHINES)]
    pub machine: Option<String>,

    /// Run on this deployment version instead of the current one.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// Initial run metadata as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,

    #[command(flatten)]
    pub debounce: Box<DebounceArgs>,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// The `--debounce-*` flags of `trigr trigger`.
#[derive(clap::Args, Debug, Clone)]
pub struct DebounceArgs {
    /// Coalesce this trigger with the task's other triggers that carry this key into one
    /// delayed run (needs --debounce-delay).
    #[arg(long, value_name = "KEY", requires = "debounce_delay")]
    pub debounce_key: Option<String>,

    /// How long after each trigger with the debounce key the run waits for the next one (5s,
    /// 1m, 2h30m; at least 1s).
    #[arg(long, value_name = "DURATION", requires = "debounce_key")]
    pub debounce_delay: Option<String>,

    /// Which trigger's data the debounced run executes with: the first (leading, the default)
    /// or the latest (trailing).
    #[arg(long, value_name = "MODE", value_parser = ["leading", "trailing"], requires = "debounce_key")]
    pub debounce_mode: Option<String>,

    /// Longest the debounced run may be pushed back from its first trigger; a later trigger
    /// makes a new run instead.
    #[arg(long, value_name = "DURATION", requires = "debounce_key")]
    pub debounce_max_delay: Option<String>,
}

/// Sends the trigger and describes the new (or existing) run.
pub async fn execute(args: TriggerArgs) -> anyhow::Result<String> {
    let body = request_body(&args)?;
    let client = Api::connect(&args.conn)?;
    let path = format!("/api/v1/tasks/{}/trigger", encode::component(&args.task));
    let answer = client.post(&path, &body).await?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let response: Triggered = decode(answer, "POST /api/v1/tasks/…/trigger")?;
    Ok(describe(&args.task, &response))
}

fn describe(task: &str, response: &Triggered) -> String {
    if response.is_cached {
        format!(
            "Triggered {} (task {task}; existing run, idempotency key matched)\n",
            response.id
        )
    } else {
        format!("Triggered {} (task {task})\n", response.id)
    }
}

/// The request body `{"payload": "<JSON text>", "options": {…}}`; checks the JSON flags.
pub fn request_body(args: &TriggerArgs) -> anyhow::Result<TriggerBody> {
    let payload = match &args.payload {
        Some(flag) => Some(Value::String(payload_text(flag)?)),
        None => None,
    };
    Ok(TriggerBody {
        payload,
        options: Some(options(args)?),
    })
}

fn options(args: &TriggerArgs) -> anyhow::Result<TriggerOptions> {
    Ok(TriggerOptions {
        payload_type: Some("application/json".into()),
        delay: args.delay.as_deref().map(delay_value),
        ttl: args.ttl.as_deref().map(ttl_value),
        tags: (!args.tags.is_empty()).then(|| Value::from(args.tags.clone())),
        idempotency_key: args.idempotency_key.clone(),
        queue: args.queue.clone().map(|name| QueueOption::Named { name }),
        concurrency_key: args.concurrency_key.clone().map(Value::String),
        priority: args.priority.map(f64::from),
        max_attempts: args.max_attempts.map(i64::from),
        machine: args.machine.clone(),
        lock_to_version: args.version.clone(),
        metadata: args.metadata.as_deref().map(metadata_object).transpose()?,
        debounce: debounce(&args.debounce),
        ..TriggerOptions::default()
    })
}

/// `debounce` from the `--debounce-*` flags (clap makes the key and the delay go together).
fn debounce(args: &DebounceArgs) -> Option<DebounceOption> {
    Some(DebounceOption {
        key: args.debounce_key.clone()?,
        delay: args.debounce_delay.clone()?,
        mode: args.debounce_mode.as_deref().map(|m| match m {
            "trailing" => DebounceMode::Trailing,
            _ => DebounceMode::Leading,
        }),
        max_delay: args.debounce_max_delay.clone(),
    })
}

/// A delay of only digits is a number of seconds (sent as `"<n>s"`: the API reads a delay as
/// a duration or a date); anything else is sent as it is.
fn delay_value(delay: &str) -> Value {
    if !delay.is_empty() && delay.bytes().all(|b| b.is_ascii_digit()) {
        Value::from(format!("{delay}s"))
    } else {
        Value::from(delay)
    }
}

/// The JSON text of a `--payload` flag, checked: the flag's own text, `@FILE` a file's, `-`
/// standard input's.
pub fn payload_text(flag: &str) -> anyhow::Result<String> {
    json_text("--payload", flag)
}

/// The JSON text of an argument named `name` (a flag or a positional value), checked: the
/// argument's own text, `@FILE` a file's, `-` standard input's.
pub fn json_text(name: &str, arg: &str) -> anyhow::Result<String> {
    let (text, source) = if arg == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| anyhow::anyhow!("{name} -: standard input could not be read ({e})."))?;
        (text, format!("{name} - (standard input)"))
    } else if let Some(path) = arg.strip_prefix('@') {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{name} {arg}: the file could not be read ({e})."))?;
        (text, format!("{name} {arg}"))
    } else {
        parse_json_flag(name, arg)?;
        return Ok(arg.to_string());
    };
    serde_json::from_str::<Value>(&text)
        .map_err(|e| anyhow::anyhow!("{source} is not valid JSON ({e})."))?;
    Ok(text)
}

/// A TTL of only digits is a number of seconds; anything else is a duration string.
fn ttl_value(ttl: &str) -> Value {
    match ttl.parse::<u64>() {
        Ok(seconds) => Value::from(seconds),
        Err(_) => Value::from(ttl),
    }
}

fn metadata_object(text: &str) -> anyhow::Result<Value> {
    let value = parse_json_flag("--metadata", text)?;
    if !value.is_object() {
        bail!("--metadata must be a JSON object, like '{{\"customer\":\"c_42\"}}'.");
    }
    Ok(value)
}

/// Parses the JSON text of a flag, or explains where it is broken.
pub fn parse_json_flag(flag: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!("{flag} is not valid JSON ({e}): quote it for the shell, like {flag} '{{\"name\":\"x\"}}'.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{queued, task, TestServer};
    use clap::Parser;
    use serde_json::json;

    /// The body as the JSON sent.
    fn sent(args: &TriggerArgs) -> Value {
        serde_json::to_value(request_body(args).expect("body")).expect("JSON")
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TriggerArgs,
    }

    fn args(extra: &[&str]) -> TriggerArgs {
        let mut all = vec![
            "trigger",
            "--api-url",
            "http://127.0.0.1:1",
            "--secret-key",
            "tr_dev_k",
        ];
        all.extend_from_slice(extra);
        match Cli::try_parse_from(all) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn minimal_body_has_only_the_payload_type() {
        assert_eq!(
            sent(&args(&["hello"])),
            json!({"options": {"payloadType": "application/json"}})
        );
    }

    #[test]
    fn every_option_is_named_like_the_api() {
        let a = args(&[
            "hello",
            "--payload",
            r#"{"n": 1}"#,
            "--delay",
            "10m",
            "--ttl",
            "1h",
            "--tag",
            "a",
            "--tag",
            "b",
            "--idempotency-key",
            "k1",
            "--queue",
            "q",
            "--concurrency-key",
            "ck",
            "--priority",
            "5",
            "--max-attempts",
            "2",
            "--machine",
            "micro",
            "--version",
            "20260101.1",
            "--metadata",
            r#"{"m":1}"#,
        ]);
        assert_eq!(
            sent(&a),
            json!({
                "payload": r#"{"n": 1}"#,
                "options": {
                    "payloadType": "application/json", "delay": "10m", "ttl": "1h",
                    "tags": ["a", "b"], "idempotencyKey": "k1", "queue": {"name": "q"},
                    "concurrencyKey": "ck", "priority": 5.0, "maxAttempts": 2, "machine": "micro",
                    "lockToVersion": "20260101.1", "metadata": {"m": 1}
                }
            })
        );
    }

    #[test]
    fn debounce_flags_make_the_debounce_option() {
        let body = sent(&args(&[
            "t",
            "--debounce-key",
            "user-1",
            "--debounce-delay",
            "5s",
            "--debounce-mode",
            "trailing",
            "--debounce-max-delay",
            "1m",
        ]));
        assert_eq!(
            body["options"]["debounce"],
            json!({"key": "user-1", "delay": "5s", "mode": "trailing", "maxDelay": "1m"})
        );
        let lone = Cli::try_parse_from(["trigger", "t", "--debounce-key", "k"]);
        assert!(lone.is_err(), "a debounce key needs a delay");
    }

    #[test]
    fn numeric_ttl_is_sent_as_seconds() {
        let body = sent(&args(&["t", "--ttl", "3600"]));
        assert_eq!(body["options"]["ttl"], json!(3600));
    }

    #[test]
    fn invalid_json_flags_are_explained() {
        let err = request_body(&args(&["t", "--payload", "{nope"]))
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("--payload is not valid JSON"), "{err}");
        let err = request_body(&args(&["t", "--metadata", "[1]"]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"--metadata must be a JSON object, like '{"customer":"c_42"}'."#)
        );
    }

    /// The run id in "Triggered run_… (task …)".
    fn triggered_id(text: &str) -> String {
        let id = text
            .strip_prefix("Triggered ")
            .and_then(|t| t.split(' ').next());
        id.unwrap_or_else(|| panic!("no run id in {text:?}"))
            .to_string()
    }

    #[tokio::test]
    async fn triggers_and_reports_the_run() {
        let server = TestServer::start().await;
        server.deploy(vec![task("my/task")]).await;
        let mut a = args(&["my/task", "--payload", "[1]", "--idempotency-key", "k1"]);
        a.conn = server.conn();
        let text = execute(a.clone()).await.expect("trigger");
        let id = triggered_id(&text);
        assert_eq!(text, format!("Triggered {id} (task my/task)\n"));
        let run = server.run(&id).await;
        assert_eq!(run["taskIdentifier"], json!("my/task"), "{run}");
        assert_eq!(run["payload"], json!([1]), "{run}");
        assert_eq!(run["idempotencyKey"], json!("k1"), "{run}");

        let text = execute(a).await.expect("trigger");
        assert_eq!(
            text,
            format!("Triggered {id} (task my/task; existing run, idempotency key matched)\n")
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn every_option_reaches_the_run() {
        let server = TestServer::start().await;
        let version = server
            .deploy(vec![task("hello"), queued("mailer", "emails")])
            .await;
        let mut a = args(&[
            "hello",
            "--payload",
            r#"{"n": 1}"#,
            "--delay",
            "10m",
            "--ttl",
            "1h",
            "--tag",
            "a",
            "--tag",
            "b",
            "--idempotency-key",
            "k1",
            "--queue",
            "emails",
            "--concurrency-key",
            "ck",
            "--priority",
            "5",
            "--max-attempts",
            "2",
            "--machine",
            "micro",
            "--version",
            &version,
            "--metadata",
            r#"{"m":1}"#,
        ]);
        a.conn = server.conn();
        let id = triggered_id(&execute(a).await.expect("trigger"));
        let run = server.run(&id).await;
        let fields = [
            ("status", json!("DELAYED")),
            ("payload", json!({"n": 1})),
            ("ttl", json!("1h")),
            ("tags", json!(["a", "b"])),
            ("idempotencyKey", json!("k1")),
            ("queue", json!("emails")),
            ("concurrencyKey", json!("ck")),
            ("priority", json!(5)),
            ("maxAttempts", json!(2)),
            ("machine", json!("micro")),
            ("version", json!(version)),
            ("metadata", json!({"m": 1})),
        ];
        for (field, value) in fields {
            assert_eq!(run[field], value, "{field} of {run}");
        }
        assert!(run["delayedUntil"].is_string(), "{run}");

        let mut a = args(&["hello", "--ttl", "3600"]);
        a.conn = server.conn();
        let id = triggered_id(&execute(a).await.expect("trigger"));
        let run = server.run(&id).await;
        assert_eq!(run["ttl"], json!("3600s"), "{run}");
        server.stop().await;
    }

    #[tokio::test]
    async fn json_flag_prints_the_answer() {
        let server = TestServer::start().await;
        let mut a = args(&["t", "--json"]);
        a.conn = server.conn();
        let text = execute(a).await.expect("trigger");
        let value: Value = serde_json::from_str(&text).expect("json output");
        assert_eq!(value["isCached"], json!(false), "{value}");
        let id = value["id"].as_str().expect("run id");
        let run = server.run(id).await;
        assert_eq!(run["taskIdentifier"], json!("t"), "{run}");
        assert_eq!(text, output::json(&value));
        server.stop().await;
    }

    #[tokio::test]
    async fn invalid_payload_fails_before_any_request() {
        let mut a = args(&["t", "--payload", "nope"]);
        a.conn.secret_key = None;
        let err = execute(a)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("--payload is not valid JSON"), "{err}");
    }
}
