//! Fan out and in: a parent run starts one child per item with `batch_trigger_and_wait`,
//! is suspended while they run (its slot is free for the children), and sums their outputs.
//!
//! ```sh
//! export TRIGGER_SECRET_KEY=tr_dev_…
//! cargo run -p trigr-sdk --example fan_out
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_sdk::{task, Client, TaskRunResult, Worker};

#[derive(Clone, Serialize, Deserialize)]
struct Page {
    url: String,
}

#[tokio::main]
async fn main() -> Result<(), trigr_sdk::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    let count_words = task("count-words")
        .concurrency_limit(5)
        .run(|page: Page, _ctx| async move {
            // Stand-in for fetching the page.
            Ok(page
                .url
                .split(['/', '.', '-'])
                .filter(|w| !w.is_empty())
                .count() as u64)
        });

    let child = count_words.clone();
    let crawl = task("crawl").run(move |pages: Vec<Page>, ctx| {
        let child = child.clone();
        async move {
            let results: Vec<TaskRunResult<u64>> =
                ctx.batch_trigger_and_wait(&child, pages).await?;
            let mut total = 0;
            for result in results {
                match result {
                    TaskRunResult::Ok { output, .. } => total += output,
                    TaskRunResult::Err { id, error } => {
                        ctx.logger.warn(format!("child {id} failed: {error}"));
                    }
                }
            }
            Ok(total)
        }
    });

    let worker = Worker::from_env()?
        .task(count_words)
        .task(crawl.clone())
        .start()
        .await?;
    let client = Client::from_env()?;
    let pages = [
        "https://a.example/one-two",
        "https://b.example/three",
        "https://c.example/x/y/z",
    ]
    .map(|url| Page { url: url.into() })
    .to_vec();
    let handle = client.trigger(&crawl, &pages).await?;
    let run = client.poll_run(&handle.id, Duration::from_secs(60)).await?;
    println!("{} is {}: {:?} words", run.id, run.status, run.output);
    worker.shutdown().await
}
