//! `GET /dashboard/env/{env_id}/overview`: runs finished per hour over the last day
//! (completed, failed, other) and the failure rate of each hour, as charts drawn on the
//! server (SVG).
//! Buckets are counted in SQL over the bounded window. Live.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::auth::Viewer;
use super::layout::{self, page, PageError, Shell};
use crate::AppState;

const BUCKET_MS: i64 = 3_600_000;
const BUCKETS: i64 = 24;

/// `GET /dashboard/env/{env_id}/overview`.
pub async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let figures = figures(&state, &env.id).await?;
    let content = html! { h1 { "Overview" } div data-live="overview" { (figures) } };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "overview",
        title: "Overview",
        live: Some(format!("/dashboard/env/{}/overview/live", env.id)),
    };
    Ok(page(shell, content).into_response())
}

/// The live part: totals and the chart.
pub async fn figures(state: &AppState, env_id: &str) -> Result<Markup, PageError> {
    let o = state.engine.overview(env_id, BUCKET_MS, BUCKETS).await?;
    let completed: i64 = o.buckets.iter().map(|b| b.completed).sum();
    let failed: i64 = o.buckets.iter().map(|b| b.failed).sum();
    let other: i64 = o.buckets.iter().map(|b| b.other).sum();
    let finished = completed + failed + other;
    let rate = if finished == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / finished as f64
    };
    let max = o
        .buckets
        .iter()
        .map(|b| b.completed + b.failed + b.other)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (960.0, 220.0, 24.0);
    let bar = (w - pad * 2.0) / o.buckets.len().max(1) as f64;
    let y = |n: i64| (h - pad) * n as f64 / max as f64;
    Ok(html! {
        div.grid {
            div.panel { h2 { "Finished, last 24 h" } p style="font-size:28px;margin:0" { (finished) } }
            div.panel { h2 { "Completed" } p.badge.s-ok style="font-size:20px" { (completed) } }
            div.panel { h2 { "Failed" } p.badge.s-bad style="font-size:20px" { (failed) } }
            div.panel { h2 { "Failure rate" } p style="font-size:28px;margin:0" { (format!("{rate:.1} %")) } }
        }
        div.panel.chart {
            h2 { "Runs finished per hour" }
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Runs finished per hour, completed and failed" {
                line.axis x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) {}
                @for (i, b) in o.buckets.iter().enumerate() {
                    @let x = pad + i as f64 * bar + 2.0;
                    @let (hc, hf, ho) = (y(b.completed), y(b.failed), y(b.other));
                    rect.c-ok x=(format!("{x:.1}")) y=(format!("{:.1}", h - pad - hc)) width=(format!("{:.1}", bar - 4.0)) height=(format!("{hc:.1}")) {
                        title { (b.completed) " completed" }
                    }
                    rect.c-bad x=(format!("{x:.1}")) y=(format!("{:.1}", h - pad - hc - hf)) width=(format!("{:.1}", bar - 4.0)) height=(format!("{hf:.1}")) {
                        title { (b.failed) " failed" }
                    }
                    rect.c-idle x=(format!("{x:.1}")) y=(format!("{:.1}", h - pad - hc - hf - ho)) width=(format!("{:.1}", bar - 4.0)) height=(format!("{ho:.1}")) {}
                    @if i % 4 == 0 {
                        text x=(format!("{x:.1}")) y=(format!("{:.1}", h - 6.0)) {
                            (chrono::DateTime::from_timestamp_millis(b.start).map(|t| t.format("%H:%M").to_string()).unwrap_or_default())
                        }
                    }
                }
            }
            p.muted { "Green: completed · red: failed, crashed or timed out · grey: canceled or expired. Times in UTC." }
        }
        (failure_rate_chart(&o.buckets))
        @if finished == 0 { (layout::empty("No run finished in the last 24 hours.")) }
    })
}

/// The failure rate of each hour that finished runs, as a line from 0 to 100 %.
fn failure_rate_chart(buckets: &[trigr_engine::dashboard::OverviewBucket]) -> Markup {
    let (w, h, pad) = (960.0, 160.0, 24.0);
    let step = (w - pad * 2.0) / buckets.len().max(1) as f64;
    let points: Vec<(f64, f64, f64)> = buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let finished = b.completed + b.failed + b.other;
            (finished > 0).then(|| {
                let rate = b.failed as f64 * 100.0 / finished as f64;
                let x = pad + (i as f64 + 0.5) * step;
                (x, h - pad - (h - pad * 2.0) * rate / 100.0, rate)
            })
        })
        .collect();
    let line: Vec<String> = points
        .iter()
        .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
        .collect();
    html! {
        div.panel.chart {
            h2 { "Failure rate per hour" }
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Failure rate of each hour" {
                line.axis x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) {}
                text x="0" y=(pad) { "100 %" }
                text x="0" y=(h - pad) { "0 %" }
                polyline.rate points=(line.join(" ")) {}
                @for (x, y, rate) in &points {
                    circle.rate cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {
                        title { (format!("{rate:.1} % failed")) }
                    }
                }
            }
        }
    }
}
