//! Completions go through one background task that sends whatever has queued up as one
//! `POST /api/v1/worker/complete` (at most 500 per call): no added latency when idle, few
//! round trips when busy.

use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::http::Http;
use crate::protocol::{self, CompletionBody, CompletionResult};

/// Most completions in one call (protocol limit).
const MAX_BATCH: usize = 500;

type Reply = oneshot::Sender<Result<CompletionResult>>;

/// Sends completions in batches.
pub(super) struct Completer {
    tx: mpsc::UnboundedSender<(CompletionBody, Reply)>,
}

impl Completer {
    /// Starts the sending task; it ends when the completer is dropped.
    pub(super) fn start(http: Http) -> Completer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_batches(http, rx));
        Completer { tx }
    }

    /// Queues one completion body and waits for its result.
    pub(super) async fn complete(&self, body: CompletionBody) -> Result<CompletionResult> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((body, reply))
            .map_err(|_| Error::AttemptOver("the worker has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::AttemptOver("the worker has stopped".into()))?
    }
}

async fn send_batches(http: Http, mut rx: mpsc::UnboundedReceiver<(CompletionBody, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (bodies, replies): (Vec<CompletionBody>, Vec<Reply>) = batch.into_iter().unzip();
        match protocol::complete_many(&http, bodies).await {
            Ok(results) if results.len() == replies.len() => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Ok(results) => {
                let reason = format!(
                    "{} results for {} completions",
                    results.len(),
                    replies.len()
                );
                fail_all(replies, &reason);
            }
            Err(e) => fail_all(replies, &e.to_string()),
        }
    }
}

fn fail_all(replies: Vec<Reply>, reason: &str) {
    for reply in replies {
        let _ = reply.send(Err(Error::BadAnswer {
            request: "POST /api/v1/worker/complete".into(),
            reason: reason.to_string(),
        }));
    }
}
