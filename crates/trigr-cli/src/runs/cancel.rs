//! `trigr runs cancel`.

use clap::builder::NonEmptyStringValueParser;
use trigr_types::wire::runs::Canceled;

use crate::api::{Api, ConnectionArgs};

/// Arguments of `trigr runs cancel`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunsCancelArgs {
    /// Run id (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Print nothing, and succeed also when the run had already finished.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Cancels the run; a run that had already finished is an error (the exit status says
/// nothing was canceled) unless `--quiet`.
pub(super) async fn execute(args: RunsCancelArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let path = super::run_path("v2", &args.id, "/cancel");
    let answer = client
        .post_empty(&path)
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    // The run canceled is the one asked for: an answer that does not name it still says so.
    let canceled = serde_json::from_value::<Canceled>(answer).unwrap_or(Canceled {
        id: args.id.clone(),
        status: None,
        already_finished: false,
    });
    if args.quiet {
        return Ok(String::new());
    }
    if canceled.already_finished {
        let status = canceled.status.as_deref().unwrap_or("final");
        anyhow::bail!(
            "Run {} had already finished ({status}): nothing was canceled.",
            canceled.id
        );
    }
    Ok(format!("Canceled {}\n", canceled.id))
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
            quiet: false,
            conn: server.conn(),
        };
        let text = execute(args.clone()).await.expect("cancel");
        assert_eq!(text, format!("Canceled {id}\n"));
        let run = server.run(&id).await;
        assert_eq!(run["status"], json!("CANCELED"), "{run}");

        // Again: it had already finished.
        let err = execute(args.clone()).await.err().map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!(
                "Run {id} had already finished (CANCELED): nothing was canceled."
            ))
        );
        let quiet = RunsCancelArgs {
            quiet: true,
            ..args
        };
        assert_eq!(execute(quiet).await.expect("quiet"), "");

        let args = RunsCancelArgs {
            id: "run_nope".into(),
            quiet: false,
            conn: server.conn(),
        };
        let err = execute(args).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Run run_nope was not found."));
        server.stop().await;
    }
}
