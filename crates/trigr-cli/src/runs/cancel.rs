//! `trigr runs cancel`.

use clap::builder::NonEmptyStringValueParser;

use crate::client::{Client, ConnectionArgs};

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
    let client = Client::new(&args.conn)?;
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
    use crate::mock::MockServer;

    #[tokio::test]
    async fn cancels_without_a_body() {
        let server = MockServer::start(vec![
            (200, r#"{"id":"run_1"}"#.into()),
            (404, r#"{"error":"Run not found"}"#.into()),
        ])
        .await;
        let args = RunsCancelArgs {
            id: "run_1".into(),
            conn: server.conn(),
        };
        assert_eq!(execute(args).await.expect("cancel"), "Canceled run_1\n");
        let args = RunsCancelArgs {
            id: "run_2".into(),
            conn: server.conn(),
        };
        let err = execute(args).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Run run_2 was not found."));
        let req = &server.requests()[0];
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/api/v2/runs/run_1/cancel")
        );
        assert_eq!(req.body, "");
    }
}
