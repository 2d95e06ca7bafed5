//! `trigr runs reschedule`: move a delayed run's start.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::rest::RescheduleBody;

use crate::api::{Api, ConnectionArgs};
use crate::output;

/// Arguments of `trigr runs reschedule`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct RunsRescheduleArgs {
    /// Id of the delayed run (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// When the run starts: a duration from now (`90s`, `10m`, `2h`, `1d`) or an ISO 8601
    /// date.
    #[arg(long, value_name = "DELAY", value_parser = NonEmptyStringValueParser::new())]
    pub delay: String,

    /// Print the server's answer (the whole run) as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsRescheduleArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let path = super::run_path("v1", &args.id, "/reschedule");
    let body = RescheduleBody {
        delay: Value::String(args.delay.clone()),
    };
    let answer = client
        .post(&path, &body)
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let until = answer["delayedUntil"].as_str().unwrap_or("the new time");
    Ok(format!("Rescheduled {} to start at {until}\n", args.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{task, TestServer};
    use serde_json::json;
    use trigr_types::wire::trigger::TriggerOptions;

    #[tokio::test]
    async fn moves_a_delayed_run_and_refuses_a_queued_one() {
        let server = TestServer::start().await;
        server.deploy(vec![task("hello")]).await;
        let delayed = server
            .trigger(
                "hello",
                &json!({}),
                TriggerOptions {
                    delay: Some(json!("1h")),
                    ..TriggerOptions::default()
                },
            )
            .await;
        let before = server.run(&delayed).await["delayedUntil"].clone();
        let args = RunsRescheduleArgs {
            id: delayed.clone(),
            delay: "2h".into(),
            json: false,
            conn: server.conn(),
        };
        let text = execute(args.clone()).await.expect("reschedule");
        assert!(
            text.starts_with(&format!("Rescheduled {delayed} to start at ")),
            "{text}"
        );
        let after = server.run(&delayed).await["delayedUntil"].clone();
        assert_ne!(before, after);
        assert!(text.contains(after.as_str().expect("a time")), "{text}");

        let queued = server
            .trigger("hello", &json!({}), TriggerOptions::default())
            .await;
        let err = execute(RunsRescheduleArgs {
            id: queued,
            ..args.clone()
        })
        .await
        .expect_err("a queued run");
        assert!(err.to_string().contains("not delayed"), "{err}");

        let err = execute(RunsRescheduleArgs {
            id: "run_old".into(),
            ..args
        })
        .await
        .expect_err("unknown run");
        assert_eq!(err.to_string(), "Run run_old was not found.");
        server.stop().await;
    }
}
