//! The disk's own commit cost: 4 KiB appended and fsynced to a file in the temporary directory
//! the stores use, at a steady pace like the latency scenario's. Every acknowledged write of
//! the server waits for at least one such fsync, so this is the floor under its latencies, and
//! its tail shows how much of the server's tail comes from the disk.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Outcome, Settings};
use crate::report::{DISK_FSYNC_P50_MS, DISK_FSYNC_P99_MS};
use crate::stats::{millis, percentile};

const PACE: Duration = Duration::from_millis(10);

pub async fn run(settings: &Settings) -> Result<Outcome> {
    let samples =
        ((settings.latency_duration.as_secs_f64() / PACE.as_secs_f64()) as usize).clamp(100, 2000);
    let mut latencies = tokio::task::spawn_blocking(move || fsync_latencies(samples)).await??;
    latencies.sort_by(f64::total_cmp);
    Ok(Outcome {
        figures: vec![
            (&DISK_FSYNC_P50_MS, percentile(&latencies, 50.0)),
            (&DISK_FSYNC_P99_MS, percentile(&latencies, 99.0)),
        ],
        detail: format!(
            "{samples} fsyncs of 4 KiB appends, max {:.2} ms",
            latencies.last().copied().unwrap_or(f64::NAN)
        ),
    })
}

fn fsync_latencies(samples: usize) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let mut file = std::fs::File::create(dir.path().join("fsync.probe")).context("probe file")?;
    let block = [0u8; 4096];
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        file.write_all(&block)?;
        let start = Instant::now();
        file.sync_all()?;
        out.push(millis(start.elapsed()));
        std::thread::sleep(PACE);
    }
    Ok(out)
}
