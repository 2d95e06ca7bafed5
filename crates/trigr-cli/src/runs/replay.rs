//! `trigr runs replay`.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::common::Id;
use trigr_types::wire::rest::ReplayOverrides;

use crate::api::{Api, ConnectionArgs};
use crate::output;
use crate::trigger::payload_text;

/// Arguments of `trigr runs replay`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct RunsReplayArgs {
    /// Id of the run to replay (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Use this payload (JSON text; @FILE reads it from a file, - from standard input)
    /// instead of the original one.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,

    /// Tag the new run with these tags instead of the original ones; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Put the new run on this queue.
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,

    /// Run the new run on this deployment version.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsReplayArgs) -> anyhow::Result<String> {
    let body = request_body(&args)?;
    let client = Api::connect(&args.conn)?;
    let path = super::run_path("v1", &args.id, "/replay");
    let answer = match &body {
        Some(body) => client.post(&path, body).await,
        None => client.post_empty(&path).await,
    };
    let answer = answer.map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    match serde_json::from_value::<Id>(answer) {
        Ok(new) => Ok(format!("Replayed {} as {}\n", args.id, new.id)),
        Err(_) => anyhow::bail!(
            "The server accepted the replay of {} but did not name the new run.",
            args.id
        ),
    }
}

/// The override body, or `None` when nothing is overridden (then no body is sent).
fn request_body(args: &RunsReplayArgs) -> anyhow::Result<Option<ReplayOverrides>> {
    let mut body = ReplayOverrides::default();
    if let Some(payload) = &args.payload {
        body.payload = Some(Value::String(payload_text(payload)?));
        body.payload_type = Some("application/json".into());
    }
    if !args.tags.is_empty() {
        body.tags = Some(Value::from(args.tags.clone()));
    }
    body.queue = args.queue.clone();
    body.version = args.version.clone();
    Ok((body != ReplayOverrides::default()).then_some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{tagged, TestServer};
    use serde_json::json;

    fn args(conn: ConnectionArgs) -> RunsReplayArgs {
        RunsReplayArgs {
            id: "run_old".into(),
            payload: None,
            tags: vec![],
            queue: None,
            version: None,
            json: false,
            conn,
        }
    }

    fn unused_conn() -> ConnectionArgs {
        ConnectionArgs {
            api_url: "http://127.0.0.1:1".into(),
            secret_key: None,
        }
    }

    #[test]
    fn no_overrides_means_no_body() {
        assert_eq!(request_body(&args(unused_conn())).expect("body"), None);
    }

    #[test]
    fn overrides_use_the_api_names() {
        let mut a = args(unused_conn());
        a.payload = Some(r#"{"x":1}"#.into());
        a.tags = vec!["t".into()];
        a.queue = Some("q".into());
        a.version = Some("v2".into());
        let body = request_body(&a).expect("body").expect("overrides");
        assert_eq!(
            serde_json::to_value(body).expect("JSON"),
            json!({"payload": r#"{"x":1}"#, "payloadType": "application/json",
                    "tags": ["t"], "queue": "q", "version": "v2"})
        );
        a.payload = Some("{".into());
        assert!(request_body(&a).is_err());
    }

    /// The new run id in "Replayed run_… as run_…".
    fn replayed_id(text: &str) -> String {
        let id = text.trim_end().rsplit(' ').next().unwrap_or_default();
        assert!(id.starts_with("run_"), "no new run in {text:?}");
        id.to_string()
    }

    #[tokio::test]
    async fn replays_and_names_both_runs() {
        let server = TestServer::start().await;
        let old = server
            .trigger("hello", &json!({"n": 1}), tagged(&["orig"]))
            .await;
        let a = RunsReplayArgs {
            id: old.clone(),
            ..args(server.conn())
        };
        let text = execute(a.clone()).await.expect("replay");
        assert!(text.starts_with(&format!("Replayed {old} as ")), "{text}");
        let new = replayed_id(&text);
        assert_ne!(new, old);
        let run = server.run(&new).await;
        assert_eq!(run["taskIdentifier"], json!("hello"), "{run}");
        assert_eq!(run["payload"], json!({"n": 1}), "{run}");

        let text = execute(RunsReplayArgs {
            payload: Some(r#"{"n":2}"#.into()),
            tags: vec!["again".into()],
            ..a.clone()
        })
        .await
        .expect("replay");
        let run = server.run(&replayed_id(&text)).await;
        assert_eq!(run["payload"], json!({"n": 2}), "{run}");
        assert_eq!(run["tags"], json!(["again"]), "{run}");

        let text = execute(RunsReplayArgs { json: true, ..a })
            .await
            .expect("replay");
        let answer: Value = serde_json::from_str(&text).expect("--json prints JSON");
        assert!(
            answer["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("run_")),
            "{answer}"
        );

        let err = execute(args(server.conn()))
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Run run_old was not found."));
        server.stop().await;
    }
}
