//! Input streams: send typed messages to a running task, guarded by the run's version.
//!
//! ```sh
//! export TRIGGER_SECRET_KEY=tr_dev_…
//! cargo run -p trigr-sdk --example chat_input
//! ```
//!
//! The task suspends until each of three chat lines arrives (`wait`), while an `on` handler
//! logs every line as it comes. The example sends a line as the run starts (kept until read),
//! tries a line guarded for a version the run is not on (refused, nothing delivered), sends
//! the rest guarded for the run's own version, and prints what the task read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trigr_sdk::streams::{self, SendOptions};
use trigr_sdk::{task, Client, Error, IfVersion, Worker};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    from: String,
    text: String,
}

fn line(from: &str, text: &str) -> Line {
    Line {
        from: from.into(),
        text: text.into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let chat = streams::input::<Line>("chat");

    let conversation = {
        let chat = chat.clone();
        task("conversation").run(move |_: (), ctx| {
            let chat = chat.clone();
            async move {
                let logger = ctx.logger.clone();
                chat.on(&ctx, move |l: Line| {
                    let logger = logger.clone();
                    async move { logger.info(format!("{} said {:?}", l.from, l.text)) }
                });
                let mut said = Vec::new();
                for _ in 0..3 {
                    // Suspends the run (its slot is free) until the next line, for a day at most.
                    let next = chat.wait(&ctx, Duration::from_secs(86_400)).await?;
                    said.push(next.ok().map(|l| l.text).unwrap_or_default());
                }
                Ok(said.join(" "))
            }
        })
    };

    let worker = Worker::from_env()?
        .task(conversation.clone())
        .start()
        .await?;
    let version = worker.version().to_string();
    let client = Client::from_env()?;
    let handle = client.trigger(&conversation, &()).await?;
    // Most likely sent before the task listens: kept, and read first either way.
    chat.send(
        &client,
        &handle.id,
        &line("ada", "hello"),
        SendOptions::new(),
    )
    .await?;

    // A line shaped for a newer deployment: the guard refuses it and nothing is delivered.
    let newer = SendOptions::new().if_version(IfVersion::matching(format!(">{version}")));
    match chat
        .send(&client, &handle.id, &line("bot", "v2 only"), newer)
        .await
    {
        Err(Error::VersionMismatch(m)) => println!(
            "refused: run is on {}, the guard wanted {}",
            m.actual_version.unwrap_or_default(),
            m.expected_version
        ),
        other => println!("unexpected answer to a guarded send: {other:?}"),
    }
    for text in ["from", "trigr"] {
        let same = SendOptions::new().if_version(IfVersion::predicate({
            let version = version.clone();
            move |v| v == version
        }));
        chat.send(&client, &handle.id, &line("grace", text), same)
            .await?;
    }

    let run = client.poll_run(&handle.id, Duration::from_secs(60)).await?;
    println!("{} is {}: {:?}", run.id, run.status, run.output);
    worker.shutdown().await
}
