//! `trigr batches …`: show a batch with its counts or its statistics, cancel its unfinished
//! runs.

use clap::builder::NonEmptyStringValueParser;
use trigr_sdk::batches::{Batch, BatchCancel, BatchStatistics};

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;
use crate::table;

/// Subcommands of `trigr batches`.
#[derive(clap::Subcommand, Debug)]
pub enum BatchesCommand {
    /// Show a batch: its status and how many of its runs completed, failed or are running.
    Get(BatchesGetArgs),
    /// How a batch's runs went: success rate, mean duration, errors grouped by name and code.
    Stats(BatchesGetArgs),
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

    /// Why: each run cancelled keeps it as its error (1 to 1000 characters).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

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
        BatchesCommand::Stats(args) => stats(args).await,
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

async fn stats(args: BatchesGetArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let s = api
        .sdk()
        .batches()
        .statistics(&args.id)
        .await
        .map_err(|e| ApiError::from(e).or_not_found(|| not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&serde_json::to_value(&s)?));
    }
    Ok(describe_statistics(&s))
}

/// The counts, the rates and the table of error groups.
fn describe_statistics(s: &BatchStatistics) -> String {
    let mut text = format!(
        "{} {}: {} runs, {} completed, {} failed, {} cancelled, {} running, {} pending\n",
        s.id,
        s.status,
        s.total_runs,
        s.completed_runs,
        s.failed_runs,
        s.canceled_runs,
        s.running_runs,
        s.pending_runs
    );
    let rate = s
        .success_rate
        .map_or_else(|| "-".to_string(), |r| format!("{:.1} %", r * 100.0));
    let mean = s
        .average_duration
        .map_or_else(|| "-".to_string(), |ms| format!("{ms:.0} ms"));
    text.push_str(&format!("Success rate {rate}, mean duration {mean}\n"));
    if !s.error_breakdown.is_empty() {
        let rows: Vec<Vec<String>> = s
            .error_breakdown
            .iter()
            .map(|g| {
                let code = g.code.clone().unwrap_or_else(|| "-".into());
                vec![g.count.to_string(), g.name.clone(), code]
            })
            .collect();
        text.push_str(&table::render(&["RUNS", "ERROR", "CODE"], &rows));
    }
    text
}

async fn cancel(args: BatchesCancelArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let mut which = if args.pending_only {
        BatchCancel::pending_only()
    } else {
        BatchCancel::all()
    };
    if let Some(reason) = &args.reason {
        which = which.reason(reason);
    }
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
            reason: Some("Superseded".into()),
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

        let text = stats(get_args.clone()).await.expect("stats");
        assert_eq!(
            text,
            format!(
                "{} COMPLETED: 3 runs, 0 completed, 0 failed, 3 cancelled, 0 running, 0 pending\n\
                 Success rate 0.0 %, mean duration -\n",
                made.id
            )
        );

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
