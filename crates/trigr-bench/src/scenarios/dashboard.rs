//! `dashboard_runs_page_p50_ms` / `dashboard_runs_page_filtered_p50_ms`: how long the server
//! takes to render the dashboard's runs page of a large environment.
//!
//! The store is filled with `--dashboard-runs` runs (default 1,000,000; 20,000 with `--quick`)
//! through the two-phase batch API, 4 senders, 500 runs a batch, every 100th run of the task
//! `rare` and the others of `noop`, all queued (no worker runs). Then one client signs in with the
//! environment's secret key (`POST /dashboard/login`, following nothing: the answer's
//! `Location` names the environment's runs page) and asks, one request at a time, for the first
//! page ([`PAGES`] times) and for the first page filtered to `task=rare&status=QUEUED` (as many
//! times). A sample is the time from sending the request to the last byte of the HTML over
//! loopback; the figures are the medians. The first requests of each kind (warm-up) are not
//! counted. Each answer must be `200` and name the newest run of its kind, so a page that lists
//! nothing cannot pass for a fast one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use tokio::task::JoinSet;

use super::batch::{BATCH_SIZE, SENDERS};
use super::{Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::{DASHBOARD_RUNS_PAGE_FILTERED_P50_MS, DASHBOARD_RUNS_PAGE_P50_MS};
use crate::server::KEY;
use crate::stats::{fmt_num, median, millis, per_second};

/// The task of every 100th run, the one the filtered page asks for.
pub const RARE: &str = "rare";
/// Every how many runs one is of [`RARE`].
const RARE_EVERY: usize = 100;
/// Measured requests of each kind.
pub const PAGES: usize = 60;
/// Requests of each kind sent first and not counted.
const WARMUP: usize = 5;

pub async fn run(api: &Api, settings: &Settings) -> Result<Outcome> {
    api.register_deployment(&[TASK, RARE]).await?;
    let runs = settings.dashboard_runs;
    let loading = Instant::now();
    fill(api, runs).await?;
    let loaded = loading.elapsed();

    let page = Page::sign_in(api).await?;
    let newest = api.list_runs("page%5Bsize%5D=1").await?;
    let newest = newest
        .data
        .first()
        .map(|r| r.common.id.clone())
        .context("no runs listed")?;
    let newest_rare = api
        .list_runs(&format!(
            "page%5Bsize%5D=1&filter%5BtaskIdentifier%5D={RARE}"
        ))
        .await?;
    let newest_rare = newest_rare
        .data
        .first()
        .map(|r| r.common.id.clone())
        .context("no rare runs listed")?;

    let first = page.sample("", &newest).await?;
    let filtered = page
        .sample(&format!("?task={RARE}&status=QUEUED"), &newest_rare)
        .await?;
    Ok(Outcome {
        figures: vec![
            (&DASHBOARD_RUNS_PAGE_P50_MS, first),
            (&DASHBOARD_RUNS_PAGE_FILTERED_P50_MS, filtered),
        ],
        detail: format!(
            "{} runs loaded in {:.1} s ({} runs/s), {PAGES} pages of each kind",
            fmt_num(runs as f64, 0),
            loaded.as_secs_f64(),
            fmt_num(per_second(runs, loaded), 0)
        ),
    })
}

/// Creates `runs` queued runs in batches, every [`RARE_EVERY`]th of the task [`RARE`].
async fn fill(api: &Api, runs: usize) -> Result<()> {
    let count = runs.div_ceil(BATCH_SIZE);
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = JoinSet::new();
    for _ in 0..SENDERS {
        let (api, next) = (api.clone(), next.clone());
        senders.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                let first = n * BATCH_SIZE;
                let size = BATCH_SIZE.min(runs - first);
                let id = api.create_batch(size, TASK).await?;
                let answer = api.send_batch_items(&id, items(first, size)).await?;
                ensure!(
                    answer.sealed && answer.items_accepted as usize == size,
                    "POST /api/v3/batches/{id}/items with {size} new items answered {answer:?}"
                );
            }
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined??;
    }
    Ok(())
}

/// The NDJSON items of runs `first..first + size`.
fn items(first: usize, size: usize) -> String {
    let mut body = String::with_capacity(size * 96);
    for index in 0..size {
        let task = if (first + index).is_multiple_of(RARE_EVERY) {
            RARE
        } else {
            TASK
        };
        body.push_str(&format!(
            "{{\"index\":{index},\"task\":\"{task}\",\"payload\":\"{{\\\"i\\\":1}}\",\"options\":{{\"payloadType\":\"application/json\"}}}}\n"
        ));
    }
    body
}

/// A signed-in client of one environment's runs page.
struct Page {
    http: reqwest::Client,
    url: String,
    cookie: String,
}

impl Page {
    /// Signs in with the benchmark's secret key.
    async fn sign_in(api: &Api) -> Result<Page> {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = api.base_url();
        let resp = http
            .post(format!("{base}/dashboard/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("key={KEY}"))
            .send()
            .await
            .context("POST /dashboard/login failed to send")?;
        let status = resp.status().as_u16();
        ensure!(status == 303, "POST /dashboard/login answered {status}");
        let header = |name| {
            resp.headers()
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("POST /dashboard/login answered without {name}"))
        };
        let location = header(LOCATION)?;
        let cookie = header(SET_COOKIE)?;
        let cookie = cookie.split(';').next().unwrap_or_default().to_string();
        let url = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        Ok(Page { http, url, cookie })
    }

    /// The median time of [`PAGES`] requests for the page with `query`, each of which must list
    /// the run `expected`.
    async fn sample(&self, query: &str, expected: &str) -> Result<f64> {
        let url = format!("{}{query}", self.url);
        let mut samples = Vec::with_capacity(PAGES);
        for n in 0..WARMUP + PAGES {
            let sent = Instant::now();
            let resp = self
                .http
                .get(&url)
                .header(COOKIE, &self.cookie)
                .send()
                .await
                .with_context(|| format!("GET {url} failed to send"))?;
            let status = resp.status().as_u16();
            let body = resp.text().await?;
            let elapsed = sent.elapsed();
            ensure!(status == 200, "GET {url} answered {status}");
            ensure!(
                body.contains(expected),
                "GET {url} does not list the newest matching run {expected}"
            );
            if n >= WARMUP {
                samples.push(millis(elapsed));
            }
        }
        Ok(median(&samples))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hundredth_item_is_rare() {
        let body = items(0, 201);
        let lines: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 201);
        let rare: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l["task"] == RARE)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(rare, [0, 100, 200]);
        assert_eq!(lines[1]["task"], TASK);
        assert_eq!(
            items(50, 100).lines().filter(|l| l.contains(RARE)).count(),
            1
        );
    }
}
