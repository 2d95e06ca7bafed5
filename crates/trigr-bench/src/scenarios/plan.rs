//! `plan_actions_per_s` and `plan_action_overhead_p50_ms`: workflow plans on the built-in plan
//! task, against a local no-op HTTP server.
//!
//! The plan has 100 actions in 10 layers of 10; action `i` of layer `L` depends on actions `i`
//! and `i + 1` (mod 10) of layer `L − 1`, and each is a `POST` to the no-op server (an axum
//! server in this process answering `200 {}` at once). One SDK worker on the first server serves
//! the built-in task (`plan_task`, 10 actions of a plan at a time, the host policy allowing
//! `127.0.0.1` only) with room for 16 plans at once.
//!
//! * `plan_action_overhead_p50_ms`: the platform's cost between two actions. 3 plans run one
//!   after the other (triggered through `WorkflowExecutor`, awaited until `COMPLETED`); for every
//!   action with dependencies, overhead = its `startedAt` minus the latest `completedAt` of its
//!   dependencies, both from the final state (so it holds the journaling of the dependency's
//!   result, the scheduling and the start of the next request; not the HTTP request itself).
//!   Nearest-rank median over the 270 actions, in milliseconds.
//! * `plan_actions_per_s`: 16 plans triggered at once; actions completed divided by the time
//!   from the first trigger to the last plan's `COMPLETED`.
//!
//! Checks: every plan completes with all 100 actions completed and the no-op server saw each
//! action's idempotency key once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use serde_json::json;
use tokio::task::JoinSet;
use trigr_sdk::workflow::{
    plan_task, ActionStatus, ExecutionPlan, HostPolicy, PlanOptions, WorkflowExecutor,
    WorkflowState,
};
use trigr_sdk::{Client, RunStatus, Worker};

use super::{Outcome, Settings};
use crate::api::Api;
use crate::report::{PLAN_ACTIONS_PER_S, PLAN_ACTION_OVERHEAD_P50_MS};
use crate::server::KEY;
use crate::stats::{fmt_num, millis, per_second, percentile};

const LAYERS: usize = 10;
const WIDTH: usize = 10;
/// Plans run one after the other for the overhead.
const SEQUENTIAL: usize = 3;
/// Plans run at once for the throughput.
const CONCURRENT: usize = 16;
/// Longest wait for one plan.
const PLAN_TIMEOUT: Duration = Duration::from_secs(120);

/// The no-op target: the idempotency keys it saw.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

pub async fn run(apis: &[Api], _settings: &Settings) -> Result<Outcome> {
    let (url, seen, target) = noop_target().await?;
    let client = Client::new(apis[0].base_url(), KEY).context("an SDK client")?;
    let hosts = HostPolicy::deny_all()
        .allow_host("127.0.0.1")
        .context("the host policy")?;
    let worker = Worker::new(client.clone())
        .task(plan_task(
            PlanOptions::new().hosts(hosts).parallelism(WIDTH),
        ))
        .concurrency(CONCURRENT)
        .poll_wait(Duration::from_secs(1))
        .shutdown_timeout(Duration::from_secs(10))
        .start()
        .await
        .context("starting the plan worker")?;
    let measured = measure(&client, &url).await;
    worker
        .shutdown()
        .await
        .context("shutting the plan worker down")?;
    target.abort();
    let (overheads, actions_per_s, states) = measured?;
    check_sent_once(&seen, &states)?;

    let mut sorted = overheads.clone();
    sorted.sort_by(f64::total_cmp);
    let p50 = percentile(&sorted, 50.0);
    Ok(Outcome {
        figures: vec![
            (&PLAN_ACTIONS_PER_S, actions_per_s),
            (&PLAN_ACTION_OVERHEAD_P50_MS, p50),
        ],
        detail: format!(
            "{CONCURRENT} plans of {} actions at once: {} actions/s; {SEQUENTIAL} plans one by one: overhead p50 {:.2} ms, p99 {:.2} ms over {} actions",
            LAYERS * WIDTH,
            fmt_num(actions_per_s, 0),
            p50,
            percentile(&sorted, 99.0),
            sorted.len()
        ),
    })
}

/// Overheads of the sequential plans, actions/s of the concurrent ones, and every final state.
async fn measure(client: &Client, url: &str) -> Result<(Vec<f64>, f64, Vec<WorkflowState>)> {
    let executor = WorkflowExecutor::new(client.clone());
    let mut overheads = Vec::new();
    let mut states = Vec::new();
    for n in 0..SEQUENTIAL {
        let id = executor.execute(&plan(url, n)).await?.execution_id;
        let (state, plan) = finished(client, &id).await?;
        overheads.extend(overhead_ms(&plan, &state));
        states.push(state);
    }

    let started = Instant::now();
    let mut running = JoinSet::new();
    for n in SEQUENTIAL..SEQUENTIAL + CONCURRENT {
        let id = executor.execute(&plan(url, n)).await?.execution_id;
        let client = client.clone();
        running.spawn(async move { finished(&client, &id).await });
    }
    while let Some(joined) = running.join_next().await {
        states.push(joined??.0);
    }
    let elapsed = started.elapsed();
    let actions = CONCURRENT * LAYERS * WIDTH;
    Ok((overheads, per_second(actions, elapsed), states))
}

/// The plan of run `n`.
fn plan(url: &str, n: usize) -> ExecutionPlan {
    let mut actions = Vec::with_capacity(LAYERS * WIDTH);
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let deps: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                vec![
                    format!("l{}-{i}", layer - 1),
                    format!("l{}-{}", layer - 1, (i + 1) % WIDTH),
                ]
            };
            actions.push(json!({
                "id": format!("l{layer}-{i}"),
                "dependsOn": deps,
                "http": {"method": "POST", "url": format!("{url}/noop"), "body": {"plan": n}},
                "retry": {"attempts": 1}
            }));
        }
    }
    serde_json::from_value(json!({"id": format!("bench-{n}"), "actions": actions}))
        .expect("the bench plan is a plan")
}

/// Polls the run until it is final; its final state (which must be `COMPLETED`) and plan.
async fn finished(client: &Client, id: &str) -> Result<(WorkflowState, ExecutionPlan)> {
    let run = client.poll_run(id, PLAN_TIMEOUT).await?;
    ensure!(
        run.status == RunStatus::Completed,
        "plan run {id} ended {}: {:?}",
        run.status,
        run.error
    );
    let state = trigr_sdk::workflow::state_of_run(&run).context("a plan state")?;
    ensure!(
        state.count(ActionStatus::Completed) == LAYERS * WIDTH,
        "plan run {id} completed {} of {} actions",
        state.count(ActionStatus::Completed),
        LAYERS * WIDTH
    );
    let plan = serde_json::from_value(run.payload.clone().unwrap_or_default())
        .context("the run's payload is its plan")?;
    Ok((state, plan))
}

/// Per action with dependencies: its start minus its last dependency's end, in ms.
fn overhead_ms(plan: &ExecutionPlan, state: &WorkflowState) -> Vec<f64> {
    let ended = |id: &str| state.results.get(id).and_then(|r| r.completed_at);
    plan.actions
        .iter()
        .filter(|a| !a.depends_on.is_empty())
        .filter_map(|a| {
            let start = state.results.get(&a.id)?.started_at?;
            let last = a.depends_on.iter().filter_map(|d| ended(d)).max()?;
            let gap = (start - last).to_std().unwrap_or(Duration::ZERO);
            Some(millis(gap))
        })
        .collect()
}

fn check_sent_once(seen: &Seen, states: &[WorkflowState]) -> Result<()> {
    let seen = seen.lock().unwrap();
    let expected = states.len() * LAYERS * WIDTH;
    ensure!(
        seen.len() == expected,
        "the no-op server saw {} idempotency keys for {expected} actions",
        seen.len()
    );
    let twice = seen.iter().filter(|(_, &n)| n != 1).count();
    ensure!(twice == 0, "{twice} actions were sent more than once");
    Ok(())
}

/// The no-op HTTP server: its URL, the keys it saw, its task.
async fn noop_target() -> Result<(String, Seen, tokio::task::JoinHandle<()>)> {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let s = s.clone();
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            *s.lock().unwrap().entry(key).or_insert(0) += 1;
            axum::Json(json!({}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, seen, task))
}
