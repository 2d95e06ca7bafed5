//! Human in the loop: a run waits, suspended, until someone approves or rejects it — or the
//! token times out.
//!
//! ```sh
//! export TRIGGER_SECRET_KEY=tr_dev_…
//! cargo run -p trigr-sdk --example approval
//! ```
//!
//! The example triggers one run, completes its token as a reviewer would (with the client;
//! a webhook could `POST` any JSON to the token's URL instead), and prints the outcome.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_sdk::tokens::CreateToken;
use trigr_sdk::{task, Client, WaitResult, Worker};

#[derive(Serialize, Deserialize)]
struct Expense {
    id: String,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Decision {
    approved: bool,
    reviewer: String,
}

#[tokio::main]
async fn main() -> Result<(), trigr_sdk::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    let review = task("review-expense").run(|expense: Expense, ctx| async move {
        // Journaled: a re-executed run gets the same token back.
        let token = ctx
            .create_token(
                CreateToken::new()
                    .timeout(Duration::from_secs(24 * 3600))
                    .idempotency_key(format!("expense-{}", expense.id))
                    .tag(format!("expense_{}", expense.id)),
            )
            .await?;
        // Ask once (a step does not run again when the run resumes).
        ctx.step("ask-for-approval", || async {
            ctx.logger.info_with(
                "approval requested",
                serde_json::json!({ "token": token.id, "url": token.url, "amount": expense.amount_cents }),
            );
            ctx.metadata.set("approvalToken", &token.id).await?;
            Ok(())
        })
        .await?;

        // Suspends the run until the token is completed or times out.
        let decision: WaitResult<Decision> = ctx.wait_for_token(&token.id).await?;
        Ok(match decision {
            WaitResult::Completed(d) if d.approved => format!("approved by {}", d.reviewer),
            WaitResult::Completed(d) => format!("rejected by {}", d.reviewer),
            WaitResult::TimedOut(_) => "no decision within a day".to_string(),
        })
    });

    let worker = Worker::from_env()?.task(review.clone()).start().await?;
    let client = Client::from_env()?;
    let expense = Expense {
        id: "exp_42".into(),
        amount_cents: 12_900,
    };
    let handle = client.trigger(&review, &expense).await?;

    // The reviewer: find the token the run published in its metadata, then decide.
    let token_id = loop {
        let run = client.retrieve_run(&handle.id).await?;
        if let Some(id) = run
            .metadata
            .as_ref()
            .and_then(|m| m["approvalToken"].as_str())
        {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let decision = Decision {
        approved: true,
        reviewer: "grace".into(),
    };
    client.tokens().complete(&token_id, &decision).await?;

    let run = client.poll_run(&handle.id, Duration::from_secs(60)).await?;
    println!("{} is {}: {:?}", run.id, run.status, run.output);
    worker.shutdown().await
}
