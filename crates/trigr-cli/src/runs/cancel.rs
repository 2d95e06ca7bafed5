//! `trigr runs cancel`.

use clap::builder::NonEmptyStringValueParser;

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
        .post(&path, None)
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    let id = answer["id"].as_str().unwrap_or(&args.id);
    Ok(format!("Canceled {id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::TestServer;
    use serde_json::json;

    #[tokio::test]
    async fn cancels_and_explains_unknown_runs() {
        let server = TestServer::start().await;
        let id = server.trigger("hello", &json!(1), json!({})).await;
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
