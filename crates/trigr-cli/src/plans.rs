//! `trigr plans …` and `trigr worker --plans`: workflow plans with no code of one's own.
//!
//! * `trigr plans run plan.json [--wait]` sends the plan to `POST /api/v1/plans`, which checks
//!   it (a cycle is named by its path) and starts it on the built-in plan task; with `--wait` it
//!   follows the run to its end and prints the plan's graph with each action's status.
//! * `trigr plans get <execution id>` prints the graph of a running or finished execution.
//! * `trigr worker --plans` is the worker that serves the built-in plan task, with an allowlist
//!   of target hosts: nothing is allowed unless `--allow-host` names it, and addresses in
//!   private ranges are refused unless `--allow-private-networks` (or the address itself is
//!   listed).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::Value;
use trigr_sdk::workflow::{
    plan_task, state_of_run, ExecutionPlan, HostPolicy, PlanOptions, WorkflowState, WorkflowStatus,
};
use trigr_sdk::Worker;
use trigr_types::plan::{self, Limits};

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::{output, table};

/// Subcommands of `trigr plans`.
#[derive(clap::Subcommand, Debug)]
pub enum PlansCommand {
    /// Start a plan (a JSON file, `-` for standard input) on the built-in plan task.
    Run(PlansRunArgs),
    /// Show an execution's actions, their dependencies and statuses.
    Get(PlansGetArgs),
}

/// Arguments of `trigr plans run`.
#[derive(clap::Args, Debug, Clone)]
pub struct PlansRunArgs {
    /// The plan's JSON file, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Wait for the plan to end and print its actions; fail when the plan failed.
    #[arg(long)]
    pub wait: bool,

    /// With --wait, give up after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub timeout: u64,

    /// Print the server's answer (or with --wait the final state) as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr plans get`.
#[derive(clap::Args, Debug, Clone)]
pub struct PlansGetArgs {
    /// The execution id (the run id, `run_…`).
    #[arg(value_name = "EXECUTION_ID")]
    pub id: String,

    /// Print the state as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Serve the built-in plan task (`trigr-plan`).
    #[arg(long)]
    pub plans: bool,

    /// A host plans may call: a name (`api.example.com`), `*.example.com`, or an address
    /// (allowed even when private). Repeat for more; none means no host is allowed.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,

    /// Allow addresses in private, loopback and other reserved ranges for the allowed hosts.
    #[arg(long)]
    pub allow_private_networks: bool,

    /// Actions of one plan that run at the same time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub parallelism: u32,

    /// Plans this worker runs at the same time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr plans` subcommand and returns its output.
pub async fn execute(cmd: PlansCommand) -> anyhow::Result<String> {
    match cmd {
        PlansCommand::Run(args) => run(args).await,
        PlansCommand::Get(args) => get(args).await,
    }
}

async fn run(args: PlansRunArgs) -> anyhow::Result<String> {
    let text = read_plan(&args.file)?;
    let body: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let api = Api::connect(&args.conn)?;
    let started = api.post("/api/v1/plans", &body).await?;
    let Some(id) = started["executionId"].as_str().map(str::to_string) else {
        bail!("The server's answer has no executionId: {started}");
    };
    if !args.wait {
        if args.json {
            return Ok(output::json(&started));
        }
        return Ok(format!(
            "Started execution {id}. Follow it with: trigr plans get {id}\n"
        ));
    }
    let timeout = Duration::from_secs(args.timeout);
    let run = api
        .sdk()
        .poll_run(&id, timeout)
        .await
        .map_err(ApiError::from)?;
    let Some(state) = state_of_run(&run) else {
        bail!("Run {id} ended {} without a plan state.", run.status);
    };
    let text = if args.json {
        output::json(&serde_json::to_value(&state)?)
    } else {
        render(&plan_of(&run.payload), &state)
    };
    if state.status != WorkflowStatus::Completed {
        bail!("{text}The plan {}.", state.status.as_str());
    }
    Ok(text)
}

fn read_plan(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        return std::io::read_to_string(std::io::stdin()).context("Could not read standard input");
    }
    std::fs::read_to_string(file).with_context(|| format!("Could not read {}", file.display()))
}

async fn get(args: PlansGetArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let run = api
        .sdk()
        .retrieve_run(&args.id)
        .await
        .map_err(ApiError::from)?;
    let Some(state) = state_of_run(&run) else {
        bail!("Run {} is not a plan execution.", args.id);
    };
    if args.json {
        return Ok(output::json(&serde_json::to_value(&state)?));
    }
    Ok(render(&plan_of(&run.payload), &state))
}

fn plan_of(payload: &Option<Value>) -> Option<ExecutionPlan> {
    serde_json::from_value(payload.clone()?).ok()
}

/// The execution as text: a header, then one row per action in dependency order, indented by
/// its depth in the graph.
pub fn render(plan: &Option<ExecutionPlan>, state: &WorkflowState) -> String {
    let mut text = format!(
        "Plan {} · execution {} · {}\n",
        state.plan_id,
        state.execution_id,
        state.status.as_str()
    );
    let rows: Vec<Vec<String>> = match plan {
        Some(plan) => graph_rows(plan, state),
        None => state
            .results
            .values()
            .map(|r| row(&r.action_id, "", state))
            .collect(),
    };
    text.push_str(&table::render(
        &[
            "ACTION",
            "STATUS",
            "DEPENDS ON",
            "ATTEMPTS",
            "DURATION",
            "ERROR",
        ],
        &rows,
    ));
    text
}

fn graph_rows(plan: &ExecutionPlan, state: &WorkflowState) -> Vec<Vec<String>> {
    let Ok(order) = plan::validate(plan, &Limits::default()) else {
        return Vec::new();
    };
    let index: std::collections::HashMap<&str, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    // Depth: one more than the deepest dependency (the order puts dependencies first).
    let mut depth = vec![0usize; plan.actions.len()];
    for &i in &order {
        depth[i] = plan.actions[i]
            .depends_on
            .iter()
            .map(|d| depth[index[d.as_str()]] + 1)
            .max()
            .unwrap_or(0);
    }
    order
        .iter()
        .map(|&i| {
            let action = &plan.actions[i];
            let name = format!("{}{}", "  ".repeat(depth[i].min(20)), action.id);
            let mut r = row(&action.id, &action.depends_on.join(", "), state);
            r[0] = name;
            r
        })
        .collect()
}

fn row(id: &str, deps: &str, state: &WorkflowState) -> Vec<String> {
    let result = state.results.get(id);
    let dash = || "-".to_string();
    vec![
        id.to_string(),
        result.map_or_else(dash, |r| r.status.as_str().to_string()),
        if deps.is_empty() {
            dash()
        } else {
            deps.to_string()
        },
        result.map_or_else(dash, |r| r.attempts.to_string()),
        result
            .and_then(|r| r.duration_ms)
            .map_or_else(dash, |ms| format!("{ms} ms")),
        result
            .and_then(|r| r.error.as_ref())
            .map_or_else(dash, |e| e.message.chars().take(80).collect()),
    ]
}

/// Runs the built-in worker until SIGTERM or ctrl-c.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    if !args.plans {
        bail!("trigr worker serves the built-in tasks: pass --plans to serve the plan task.");
    }
    let mut hosts = HostPolicy::deny_all().allow_private_networks(args.allow_private_networks);
    for host in &args.allow_hosts {
        hosts = hosts
            .allow_host(host)
            .map_err(|e| anyhow::anyhow!("--allow-host {host}: {e}"))?;
    }
    if args.allow_hosts.is_empty() {
        eprintln!("trigr worker: no --allow-host given, so every plan action will be refused.");
    }
    let options = PlanOptions::new()
        .hosts(hosts)
        .parallelism(args.parallelism as usize);
    let api = Api::connect(&args.conn)?;
    Worker::new(api.sdk().clone())
        .concurrency(args.concurrency as usize)
        .task(plan_task(options))
        .run()
        .await
        .map_err(|e| anyhow::anyhow!(ApiError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_graph_is_printed_in_dependency_order_with_statuses() {
        let plan: ExecutionPlan = serde_json::from_value(json!({
            "id": "p",
            "actions": [
                {"id": "join", "dependsOn": ["left", "right"], "http": {"method": "GET", "url": "http://x/"}},
                {"id": "left", "dependsOn": ["root"], "http": {"method": "GET", "url": "http://x/"}},
                {"id": "right", "dependsOn": ["root"], "http": {"method": "GET", "url": "http://x/"}},
                {"id": "root", "http": {"method": "GET", "url": "http://x/"}}
            ]
        }))
        .expect("a plan");
        let mut state: WorkflowState = serde_json::from_value(json!({
            "executionId": "run_1", "planId": "p", "status": "running",
            "startedAt": "2026-01-01T00:00:00Z", "results": {}
        }))
        .expect("a state");
        for action in &plan.actions {
            let pending = trigr_types::plan::ActionResult::pending(&action.id);
            state.results.insert(action.id.clone(), pending);
        }
        let root = state.results.get_mut("root").expect("root");
        root.status = trigr_types::plan::ActionStatus::Completed;
        root.attempts = 2;
        root.duration_ms = Some(12);
        let text = render(&Some(plan), &state);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Plan p · execution run_1 · running");
        assert!(lines[1].starts_with("ACTION"), "{text}");
        assert!(
            lines[2].starts_with("root") && lines[2].contains("completed"),
            "{text}"
        );
        assert!(lines[2].contains("12 ms"), "{text}");
        assert!(
            lines[3].starts_with("  left") && lines[3].contains("pending"),
            "{text}"
        );
        assert!(
            lines[5].starts_with("    join") && lines[5].contains("left, right"),
            "{text}"
        );
    }
}
