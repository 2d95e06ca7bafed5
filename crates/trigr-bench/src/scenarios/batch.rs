//! `batch_trigger_per_s`: runs created through the two-phase batch API.
//!
//! 4 concurrent senders take batch numbers from a shared counter; each batch is
//! `POST /api/v3/batches` (`runCount` 500) then `POST /api/v3/batches/{id}/items` with 500 NDJSON
//! lines, which must answer `sealed: true` (the server creates the runs in the same commit as the
//! items). The figure is the runs created divided by the wall time from the first batch to the
//! last sealed answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use tokio::task::JoinSet;

use super::{Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::BATCH_TRIGGER_PER_S;
use crate::stats::{fmt_num, per_second};

/// Items per batch.
pub const BATCH_SIZE: usize = 500;
/// Concurrent batch senders.
pub const SENDERS: usize = 4;

/// A batch that was sent and sealed.
pub struct SentBatch {
    pub id: String,
    pub size: usize,
}

pub async fn run(api: &Api, settings: &Settings) -> Result<Outcome> {
    api.register_deployment(&[TASK]).await?;
    let runs = settings.runs;
    let started = Instant::now();
    let batches = send_batches(
        std::slice::from_ref(api),
        runs,
        Arc::new(AtomicUsize::new(0)),
    )
    .await?;
    let elapsed = started.elapsed();

    // The server lists every run of a batch right after its items call.
    if let Some(batch) = batches.last() {
        let body = api.get_batch(&batch.id).await?;
        let listed = body.runs.len();
        ensure!(
            listed == batch.size,
            "GET /api/v2/batches/{} after a sealed items call of {} items lists {listed} runs: {body:?}",
            batch.id,
            batch.size
        );
    }

    let rate = per_second(runs, elapsed);
    Ok(Outcome {
        figures: vec![(&BATCH_TRIGGER_PER_S, rate)],
        detail: format!(
            "{} runs in {} batches in {:.2} s",
            fmt_num(runs as f64, 0),
            batches.len(),
            elapsed.as_secs_f64()
        ),
    })
}

/// Creates `runs` runs of the `noop` task in batches of [`BATCH_SIZE`] (the last one smaller)
/// from [`SENDERS`] concurrent senders, sender `i` sending to server `i % apis.len()`, adding each
/// sealed batch's size to `created`. Returns the batches in the order they were sealed.
pub async fn send_batches(
    apis: &[Api],
    runs: usize,
    created: Arc<AtomicUsize>,
) -> Result<Vec<SentBatch>> {
    let count = runs.div_ceil(BATCH_SIZE);
    let full = Arc::new(ndjson_items(BATCH_SIZE));
    let last_size = runs - (count.saturating_sub(1)) * BATCH_SIZE;
    let last = Arc::new(ndjson_items(last_size));
    let next = Arc::new(AtomicUsize::new(0));

    let mut senders = JoinSet::new();
    for sender in 0..SENDERS {
        let api = apis[sender % apis.len()].clone();
        let (next, full, last, created) =
            (next.clone(), full.clone(), last.clone(), created.clone());
        senders.spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let (size, items) = if n + 1 == count {
                    (last_size, last.as_str())
                } else {
                    (BATCH_SIZE, full.as_str())
                };
                let id = api.create_batch(size, TASK).await?;
                let answer = api.send_batch_items(&id, items.to_string()).await?;
                ensure!(
                    answer.sealed,
                    "POST /api/v3/batches/{id}/items with all {size} items answered {answer:?}"
                );
                ensure!(
                    answer.items_accepted as usize == size,
                    "POST /api/v3/batches/{id}/items with {size} new items answered {answer:?}"
                );
                created.fetch_add(size, Ordering::Relaxed);
                sent.push(SentBatch { id, size });
            }
            anyhow::Ok(sent)
        });
    }
    let mut batches = Vec::with_capacity(count);
    while let Some(joined) = senders.join_next().await {
        batches.extend(joined??);
    }
    Ok(batches)
}

/// The NDJSON body of a batch of `size` runs of the `noop` task: one line per item, each ending
/// with `\n`.
pub fn ndjson_items(size: usize) -> String {
    let mut body = String::with_capacity(size * 96);
    for index in 0..size {
        body.push_str(&format!(
            "{{\"index\":{index},\"task\":\"{TASK}\",\"payload\":\"{{\\\"i\\\":1}}\",\"options\":{{\"payloadType\":\"application/json\"}}}}\n"
        ));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_valid_ndjson() {
        let body = ndjson_items(3);
        assert!(body.ends_with('\n'));
        let lines: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["index"], 2);
        assert_eq!(lines[0]["task"], "noop");
        assert_eq!(lines[0]["payload"], "{\"i\":1}");
        assert_eq!(lines[0]["options"]["payloadType"], "application/json");
    }
}
