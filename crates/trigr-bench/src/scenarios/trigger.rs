//! `trigger_per_s`: single-run triggers from many concurrent clients; `trigger_serial_per_s`:
//! from one client, one at a time.
//!
//! 32 tasks share one HTTP client (one keep-alive connection each) and pull run numbers from a
//! shared counter until `runs` triggers have been answered `200`. The figure is `runs` divided by
//! the wall time from the first request to the last answer.
//!
//! Then one client sends [`serial_runs`] triggers, each after the answer to the one before:
//! every answer waits for its own commit, so the figure says what one durable write per trigger
//! costs. One fsync per trigger would allow `1000 / disk_fsync_p50_ms` of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use tokio::task::JoinSet;

use super::{Outcome, Settings};
use crate::api::{Api, TASK, TRIGGER_BODY};
use crate::report::{TRIGGER_PER_S, TRIGGER_SERIAL_PER_S};
use crate::stats::{fmt_num, per_second};

/// Concurrent trigger clients.
pub const CLIENTS: usize = 32;

/// Triggers the single client sends one after another: a tenth of the runs, 100 to 2,000.
pub fn serial_runs(runs: usize) -> usize {
    (runs / 10).clamp(100, 2000)
}

pub async fn run(api: &Api, settings: &Settings) -> Result<Outcome> {
    api.register_deployment(&[TASK]).await?;
    let runs = settings.runs;
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let api = api.clone();
        let next = next.clone();
        clients.spawn(async move {
            let mut last = None;
            while next.fetch_add(1, Ordering::Relaxed) < runs {
                last = Some(api.trigger(TASK, TRIGGER_BODY).await?);
            }
            anyhow::Ok(last)
        });
    }
    let mut sample = None;
    while let Some(joined) = clients.join_next().await {
        if let Some(id) = joined?? {
            sample = Some(id);
        }
    }
    let elapsed = started.elapsed();

    // The server knows the runs: one of them can be retrieved, with the right task.
    if let Some(id) = sample {
        let run = api.get_run(&id).await?;
        ensure!(
            run.summary.common.task_identifier == TASK,
            "GET /api/v3/runs/{id} after its trigger answered {run:?}"
        );
    }

    let rate = per_second(runs, elapsed);
    let serial = serial_runs(runs);
    let started = Instant::now();
    for _ in 0..serial {
        api.trigger(TASK, TRIGGER_BODY).await?;
    }
    let serial_elapsed = started.elapsed();
    Ok(Outcome {
        figures: vec![
            (&TRIGGER_PER_S, rate),
            (&TRIGGER_SERIAL_PER_S, per_second(serial, serial_elapsed)),
        ],
        detail: format!(
            "{} runs in {:.2} s; one client: {} runs in {:.2} s",
            fmt_num(runs as f64, 0),
            elapsed.as_secs_f64(),
            fmt_num(serial as f64, 0),
            serial_elapsed.as_secs_f64()
        ),
    })
}
