//! A multi-step task that survives its worker being killed.
//!
//! Each step's result is journaled on the server before the task goes on. Kill the worker
//! (`kill -9`) while the run is in the middle: when the lease expires the run is retried, and
//! a worker of the same version re-executes it from the top — the finished steps return their
//! recorded results without running again, and the task continues where it was.
//!
//! ```sh
//! export TRIGGER_SECRET_KEY=tr_dev_…
//! cargo run -p trigr-sdk --example multi_step                 # prints the version it serves
//! trigr trigger import-orders --payload '{"count": 5}'
//! # kill -9 the worker during the "slow" pauses (say after "charging order 2"), then start
//! # it again: the same binary registers the same version, and once the killed attempt's
//! # lease expires (the server's --lease-timeout, 30 s by default) it finishes the run.
//! cargo run -p trigr-sdk --example multi_step
//! trigr runs logs run_…                                       # "fetching orders" is there once
//! ```
//!
//! `TRIGR_VERSION=20261126.3` serves a version registered before, e.g. from a rebuilt binary.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_sdk::{task, RetryPolicy, TaskError, Worker};

#[derive(Serialize, Deserialize)]
struct Import {
    count: u32,
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u32,
    total_cents: u64,
}

#[tokio::main]
async fn main() -> Result<(), trigr_sdk::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    let import = task("import-orders")
        .retry(RetryPolicy {
            max_attempts: 5,
            ..RetryPolicy::default()
        })
        .on_success(|_import, report: String, ctx| async move {
            println!("{} succeeded: {report}", ctx.run.id);
        })
        .run(|import: Import, ctx| async move {
            // Step 1: fetch (journaled; a re-execution gets the same orders back).
            let orders: Vec<Order> = ctx
                .step("fetch-orders", || async {
                    ctx.logger.info("fetching orders"); // once per run, however often it restarts
                    tokio::time::sleep(Duration::from_secs(3)).await; // slow: kill me now
                    Ok((1..=import.count)
                        .map(|id| Order {
                            id,
                            total_cents: u64::from(id) * 1_250,
                        })
                        .collect())
                })
                .await?;
            ctx.logger.info(format!("fetched {} orders", orders.len()));

            // One step per order: a crash halfway re-does only the unfinished ones.
            let mut total = 0;
            for order in &orders {
                let charged: u64 = ctx
                    .step(&format!("charge-{}", order.id), || async {
                        ctx.logger.info(format!("charging order {}", order.id));
                        tokio::time::sleep(Duration::from_secs(1)).await; // slow: kill me now
                        Ok::<_, TaskError>(order.total_cents)
                    })
                    .await?;
                total += charged;
                ctx.metadata.set("charged", order.id).await?;
            }

            // A long wait suspends the run: the worker's slot is free meanwhile.
            ctx.wait_for(Duration::from_secs(10)).await?;
            let report: String = ctx
                .step(
                    "report",
                    || async move { Ok(format!("{total} cents charged")) },
                )
                .await?;
            Ok(report)
        });

    let mut worker = Worker::from_env()?.task(import);
    if let Ok(version) = std::env::var("TRIGR_VERSION") {
        worker = worker.serve_version(version);
    }
    let running = worker.start().await?;
    println!("serving version {}", running.version());
    let stop = running.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });
    running.stopped().await
}
