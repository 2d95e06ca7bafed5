//! Output streams with a real worker against an in-process server: what a task writes with
//! `ctx.stream(…)` is read back by `Client::read_stream` in order, live while the task runs,
//! from an offset, and without duplicates when the task is executed again (a retry, a resume
//! after a wait).

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use trigr_sdk::streams::{self, SendOptions};
use trigr_sdk::testkit::TestServer;
use trigr_sdk::{task, Client, RetryPolicy, RunStatus, StreamChunk, TaskError};

/// Awaits `future`, failing the test after 30 s instead of hanging.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after 30 s"))
}

/// Every chunk of a stream of a final run, from `from`.
async fn read_all(client: &Client, run_id: &str, key: &str, from: u64) -> Vec<StreamChunk> {
    within(
        "reading the stream",
        client
            .read_stream(run_id, key, from)
            .map(|c| c.expect("a chunk"))
            .collect::<Vec<_>>(),
    )
    .await
}

fn datas(chunks: &[StreamChunk]) -> Vec<Value> {
    chunks.iter().map(|c| c.data.clone()).collect()
}

#[tokio::test]
async fn a_retried_and_resumed_task_streams_each_chunk_once() {
    let server = TestServer::start().await;
    let client = server.client();
    let go = streams::input::<Value>("go");
    let writer = {
        let go = go.clone();
        task("writer")
            .retry(RetryPolicy {
                max_attempts: 2,
                factor: 1.0,
                min_timeout_in_ms: 0,
                max_timeout_in_ms: 0,
                randomize: false,
            })
            .run(move |_: Value, ctx| {
                let go = go.clone();
                async move {
                    let tokens = ctx.stream("tokens");
                    tokens.write_all(["a", "b", "c"].iter())?;
                    for i in 0..40 {
                        tokens.write(&json!({ "i": i }))?;
                    }
                    if ctx.run.attempt == 1 {
                        // Sent before the attempt fails; the retry writes them again.
                        return Err(TaskError::msg("first attempt fails"));
                    }
                    // Suspends the run; the resumed run executes this code again.
                    go.wait(&ctx, None).await?;
                    tokens.write("d")?;
                    ctx.stream("progress").write(&100)?;
                    Ok(json!("done"))
                }
            })
    };
    let worker = server
        .worker()
        .task(writer.clone())
        .start()
        .await
        .expect("worker");
    let run = client.trigger(&writer, &json!({})).await.expect("trigger");
    server.wait_for_status(&run.id, RunStatus::Waiting).await;
    go.send(&client, &run.id, &json!(1), SendOptions::new())
        .await
        .expect("send");
    let done = server.wait_for_run(&run.id).await;
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");

    let mut expected = vec![json!("a"), json!("b"), json!("c")];
    expected.extend((0..40).map(|i| json!({ "i": i })));
    expected.push(json!("d"));
    let chunks = read_all(&client, &run.id, "tokens", 0).await;
    assert_eq!(datas(&chunks), expected);
    let indexes: Vec<u64> = chunks.iter().map(|c| c.index).collect();
    assert_eq!(indexes, (0..44).collect::<Vec<u64>>());
    // From an offset.
    let tail = read_all(&client, &run.id, "tokens", 40).await;
    assert_eq!(datas(&tail), expected[40..].to_vec());
    assert!(read_all(&client, &run.id, "tokens", 44).await.is_empty());
    assert_eq!(
        datas(&read_all(&client, &run.id, "progress", 0).await),
        vec![json!(100)]
    );
    worker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_reader_sees_chunks_while_the_task_runs() {
    let server = TestServer::start().await;
    let client = server.client();
    let next = streams::input::<Value>("next");
    let talker = {
        let next = next.clone();
        task("talker").run(move |_: Value, ctx| {
            let next = next.clone();
            async move {
                let tokens = ctx.stream("tokens");
                for word in ["one", "two", "three"] {
                    tokens.write(word)?;
                    tokens.flush().await?;
                    // Held in the worker: the run keeps executing.
                    next.once(&ctx, None).await?;
                }
                Ok(json!(null))
            }
        })
    };
    let worker = server
        .worker()
        .task(talker.clone())
        .start()
        .await
        .expect("worker");
    let run = client.trigger(&talker, &json!({})).await.expect("trigger");
    let mut live = Box::pin(client.read_stream(&run.id, "tokens", 0));
    for word in ["one", "two", "three"] {
        let chunk = within("a live chunk", live.next())
            .await
            .expect("the stream goes on")
            .expect("a chunk");
        assert_eq!(chunk.data, json!(word));
        // The task waits for this message before it writes the next word.
        let r = client.retrieve_run(&run.id).await.expect("retrieve");
        assert_eq!(r.status, RunStatus::Executing, "{r:?}");
        next.send(&client, &run.id, &json!(true), SendOptions::new())
            .await
            .expect("send");
    }
    assert!(
        within("the end of the stream", live.next()).await.is_none(),
        "the stream ends with the run"
    );
    assert_eq!(
        server.wait_for_run(&run.id).await.status,
        RunStatus::Completed
    );
    worker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn reading_an_unknown_run_fails() {
    let server = TestServer::start().await;
    let client = server.client();
    let mut s = Box::pin(client.read_stream("run_missing", "tokens", 0));
    let e = s.next().await.expect("an item").expect_err("an error");
    assert_eq!(e.status(), Some(404), "{e}");
    assert!(s.next().await.is_none());
    let mut s = Box::pin(client.read_stream("run_missing", "", 0));
    let e = s.next().await.expect("an item").expect_err("an error");
    assert!(matches!(e.status(), Some(400) | Some(404)), "{e}");
}
