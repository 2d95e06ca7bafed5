//! `GET /dashboard/env/{env_id}/overview`: runs finished per hour over the last day
//! (completed, failed, other) and the failure rate, as a chart drawn on the server (SVG).
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
        @if finished == 0 { (layout::empty("No run finished in the last 24 hours.")) }
    })
}
