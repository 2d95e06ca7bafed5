//! The smallest worker: one task, triggered once from the same process.
//!
//! ```sh
//! cargo run --release -p trigr -- server          # prints TRIGGER_SECRET_KEY=tr_dev_…
//! export TRIGGER_SECRET_KEY=tr_dev_…
//! cargo run -p trigr-sdk --example hello_world
//! ```
//!
//! The worker keeps running (and serving `trigr trigger hello-world --payload '{"name":"Bob"}'`)
//! until ctrl-c.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_sdk::{task, Client, Worker};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Greeting {
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), trigr_sdk::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();

    let hello = task("hello-world")
        .payload_schema_of::<Greeting>()
        .max_duration(Duration::from_secs(60))
        .run(|greeting: Greeting, ctx| async move {
            ctx.logger.info_with(
                "saying hello",
                serde_json::json!({ "name": greeting.name, "attempt": ctx.run.attempt }),
            );
            Ok(format!("Hello, {}!", greeting.name))
        });

    let worker = Worker::from_env()?.task(hello.clone()).start().await?;
    println!("serving version {}", worker.version());
    // Graceful shutdown on ctrl-c: in-flight runs finish first.
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });

    let client = Client::from_env()?;
    let handle = client
        .trigger(&hello, &Greeting { name: "Ada".into() })
        .await?;
    let run = client.poll_run(&handle.id, Duration::from_secs(30)).await?;
    println!("{} is {}: {:?}", run.id, run.status, run.output);
    worker.stopped().await
}
