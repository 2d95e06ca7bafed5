//! `trigr runs cancel`.

use clap::builder::NonEmptyStringValueParser;
use trigr_types::wire::common::Id;

use crate::api::{Api, ConnectionArgs};

/// Arguments of `trigr runs cancel`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunsCancelArgs {
    /// Run id (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsCancelArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let path = super::run_path("v2", &args.id, "/cancel");
    let answer = client
        .post_empty(&path)
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    // The run canceled is the one asked for: an answer that does not name it still says so.
    let id = serde_json::from_value::<Id>(answer).map_or(args.id, |canceled| canceled.id);
    Ok(format!("Canceled {id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::TestServer;
    use serde_json::json;
    use trigr_types::wire::trigger::TriggerOptions;

    #[tokio::test]
    async fn cancels_and_explains_unknown_runs() {
        let server = TestServer::start().await;
        let id = server
            .trigger("hello", &json!(1), TriggerOptions::default())
            .await;
        let args = RunsCancelArgs {
            id: id.clone(),
            conn: server.conn(),
        };
        let text = execute(args).await.expect("cancel");
        assert_eq!(text, format!("Canceled {id}\n"));
        let run = server.run(&id).await;
        assert_eq!(run["status"], json!("CANCELED"), "{run}");

        let args = RunsCancelArgs {
            id: "run_nope".into(),
            conn: server.conn(),
        };
        let err = execute(args).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Run run_nope was not found."));
        server.stop().await;
    }
}
