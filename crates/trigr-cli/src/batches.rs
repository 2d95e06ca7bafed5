//! `trigr batches …`: show a batch with its counts, cancel its unfinished runs.

use clap::builder::NonEmptyStringValueParser;
use trigr_sdk::batches::{Batch, BatchCancel};

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;

/// Subcommands of `trigr batches`.
#[derive(clap::Subcommand, Debug)]
pub enum BatchesCommand {
    /// Show a batch: its status and how many of its runs completed, failed or are running.
    Get(BatchesGetArgs),
    /// Cancel a batch's unfinished runs (with `--pending-only`, only those not started).
    Cancel(BatchesCancelArgs),
}

/// Arguments of `trigr batches get`.
#[derive(clap::Args, Debug, Clone)]
pub struct BatchesGetArgs {
    /// Id of the batch (batch_…).
    #[arg(value_name = "BATCH_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr batches cancel`.
#[derive(clap::Args, Debug, Clone)]
pub struct BatchesCancelArgs {
    /// Id of the batch (batch_…).
    #[arg(value_name = "BATCH_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Cancel only the runs not started yet; the running ones finish.
    #[arg(long)]
    pub pending_only: bool,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr batches` subcommand and returns its output.
pub async fn execute(cmd: BatchesCommand) -> anyhow::Result<String> {
    match cmd {
        BatchesCommand::Get(args) => get(args).await,
        BatchesCommand::Cancel(args) => cancel(args).await,
    }
}

fn not_found(id: &str) -> String {
    format!("Batch {id} was not found.")
}

async fn get(args: BatchesGetArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let batch = api
        .sdk()
        .batches()
        .retrieve(&args.id)
        .await
        .map_err(|e| ApiError::from(e).or_not_found(|| not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&serde_json::to_value(&batch)?));
    }
    Ok(describe(&batch))
}

/// The batch's status and counts in a line.
fn describe(b: &Batch) -> String {
    format!(
        "{} {}: {} runs, {} completed, {} failed, {} running\n",
        b.id, b.status, b.total_runs, b.completed_runs, b.failed_runs, b.running_runs
    )
}

async fn cancel(args: BatchesCancelArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let which = if args.pending_only {
        BatchCancel::pending_only()
    } else {
        BatchCancel::all()
    };
    let done = api
        .sdk()
        .batches()
        .cancel(&args.id, which)
        .await
        .map_err(|e| ApiError::from(e).or_not_found(|| not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&serde_json::to_value(&done)?));
    }
    Ok(format!(
        "Cancelled {} runs of {}; {} unfinished left as asked\n",
        done.canceled.len(),
        done.id,
        done.skipped
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{task, TestServer};
    use serde_json::json;
    use trigr_sdk::batches::BatchItem;
    use trigr_sdk::TriggerOptions;

    #[tokio::test]
    async fn shows_counts_and_cancels_pending_then_all() {
        let server = TestServer::start().await;
        server.deploy(vec![task("hello")]).await;
        let api = Api::connect(&server.conn()).expect("connect");
        let items = (0..3)
            .map(|n| BatchItem::new("hello", &json!({ "n": n }), TriggerOptions::new()))
            .collect::<trigr_sdk::Result<Vec<_>>>()
            .expect("items");
        let made = api.sdk().batches().trigger(items).await.expect("batch");
        let get_args = BatchesGetArgs {
            id: made.id.clone(),
            json: false,
            conn: server.conn(),
        };
        let text = get(get_args.clone()).await.expect("get");
        assert_eq!(
            text,
            format!(
                "{} PROCESSING: 3 runs, 0 completed, 0 failed, 0 running\n",
                made.id
            )
        );

        let cancel_args = BatchesCancelArgs {
            id: made.id.clone(),
            pending_only: true,
            json: false,
            conn: server.conn(),
        };
        let text = cancel(cancel_args.clone()).await.expect("cancel");
        assert_eq!(
            text,
            format!(
                "Cancelled 3 runs of {}; 0 unfinished left as asked\n",
                made.id
            )
        );
        let text = get(BatchesGetArgs {
            json: true,
            ..get_args.clone()
        })
        .await
        .expect("get --json");
        let answer: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(answer["failedRuns"], json!(3), "{answer}");

        let text = cancel(BatchesCancelArgs {
            pending_only: false,
            ..cancel_args
        })
        .await
        .expect("cancel again");
        assert!(text.starts_with("Cancelled 0 runs"), "{text}");

        let err = get(BatchesGetArgs {
            id: "batch_none".into(),
            ..get_args
        })
        .await
        .expect_err("unknown batch");
        assert_eq!(err.to_string(), "Batch batch_none was not found.");
        server.stop().await;
    }
}
