//! The tools `trigr mcp` offers: six built in (`list_tasks`, `trigger_task`, `get_run`,
//! `list_runs`, `cancel_run`, `get_run_logs`) and one for each AI tool definition of the
//! environment (`/api/v1/ai/tools`), which triggers its task with the arguments as payload and
//! answers the run's output. A built-in name wins over a definition of the same name.
//!
//! A failed request to trigr is a tool result with `isError` (for the model to read); an
//! unknown tool or arguments of the wrong shape are JSON-RPC errors.

use std::time::Duration;

use serde_json::{json, Value};
use trigr_sdk::TriggerOptions;

use super::RpcError;
use crate::api::Api;
use crate::encode::component;

/// How long an AI tool call waits for its run.
const TOOL_RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest `get_run_logs` follows a run, in seconds.
const MAX_FOLLOW_SECS: u64 = 30;
/// The most runs `list_runs` answers.
const MAX_RUNS: u64 = 100;

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn run_id_schema() -> Value {
    object(
        json!({"runId": {"type": "string", "description": "The run id, run_…"}}),
        &["runId"],
    )
}

fn builtins() -> Vec<Value> {
    vec![
        json!({"name": "list_tasks", "description": "The tasks of the environment's current deployment",
               "inputSchema": object(json!({}), &[]), "annotations": {"readOnlyHint": true}}),
        json!({"name": "trigger_task", "description": "Triggers a run of a task with a JSON payload; answers the run id",
               "inputSchema": object(json!({"taskId": {"type": "string"}, "payload": {}}), &["taskId"])}),
        json!({"name": "get_run", "description": "A run: status, payload, output, error",
               "inputSchema": run_id_schema(), "annotations": {"readOnlyHint": true}}),
        json!({"name": "list_runs", "description": "The newest runs, optionally of one task or status",
               "inputSchema": object(json!({"taskId": {"type": "string"}, "status": {"type": "string"},
                   "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RUNS}}), &[]),
               "annotations": {"readOnlyHint": true}}),
        json!({"name": "cancel_run", "description": "Cancels a run that has not finished",
               "inputSchema": run_id_schema(), "annotations": {"destructiveHint": true}}),
        json!({"name": "get_run_logs", "description": "A run's logs; with follow, waits (at most waitSeconds, up to 30) for the run to finish first",
               "inputSchema": object(json!({"runId": {"type": "string"}, "follow": {"type": "boolean"},
                   "waitSeconds": {"type": "integer", "minimum": 1, "maximum": MAX_FOLLOW_SECS}}), &["runId"]),
               "annotations": {"readOnlyHint": true}}),
    ]
}

/// Every tool: the built-in ones, then the environment's AI tool definitions (left out, with
/// a note on standard error, when they cannot be read).
pub(super) async fn list(api: &Api) -> Vec<Value> {
    let mut tools = builtins();
    let builtin: Vec<String> = tools
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    match api.sdk().ai().all().await {
        Ok(defs) => tools.extend(defs.into_iter().filter(|d| !builtin.contains(&d.name)).map(
            |d| {
                let mut annotations = json!({});
                if let Some(title) = &d.display.title {
                    annotations["title"] = json!(title);
                }
                if let Some(read_only) = d.display.read_only {
                    annotations["readOnlyHint"] = json!(read_only);
                }
                if let Some(destructive) = d.display.destructive {
                    annotations["destructiveHint"] = json!(destructive);
                }
                json!({"name": d.name, "description": d.description,
                           "inputSchema": d.parameters, "annotations": annotations})
            },
        )),
        Err(e) => eprintln!("trigr mcp: the AI tool definitions could not be read: {e}"),
    }
    tools
}

fn text_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

/// A result from an answer of trigr, or its failure as an error result.
fn result<E: std::fmt::Display>(answer: Result<Value, E>) -> Value {
    match answer {
        Ok(v) => text_result(serde_json::to_string_pretty(&v).unwrap_or_default(), false),
        Err(e) => text_result(e.to_string(), true),
    }
}

fn string_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    match args.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() && !s.contains('\0') => Ok(s),
        _ => Err(RpcError::params(format!(
            "argument '{name}' must be a non-empty string"
        ))),
    }
}

fn optional_string<'a>(args: &'a Value, name: &str) -> Result<Option<&'a str>, RpcError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string_arg(args, name).map(Some),
    }
}

fn bounded(args: &Value, name: &str, default: u64, max: u64) -> Result<u64, RpcError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(RpcError::params(format!(
                "argument '{name}' must be a whole number from 1 to {max}"
            ))),
        },
    }
}

/// Calls the tool `name` with `args` (an object).
pub(super) async fn call(api: &Api, name: &str, args: Value) -> Result<Value, RpcError> {
    match name {
        "list_tasks" => {
            Ok(result(api.get("/api/v1/deployments/current").await.map(
                |d| json!({"version": d["version"], "tasks": d["tasks"]}),
            )))
        }
        "trigger_task" => {
            let task = string_arg(&args, "taskId")?;
            let payload = args.get("payload").cloned().unwrap_or(json!({}));
            let triggered = api
                .sdk()
                .trigger_id(task, &payload, TriggerOptions::new())
                .await;
            Ok(result(triggered.map(|h| json!({"runId": h.id}))))
        }
        "get_run" => {
            let id = string_arg(&args, "runId")?;
            Ok(result(
                api.get(&format!("/api/v3/runs/{}", component(id))).await,
            ))
        }
        "list_runs" => list_runs(api, &args).await,
        "cancel_run" => {
            let id = string_arg(&args, "runId")?;
            let path = format!("/api/v2/runs/{}/cancel", component(id));
            Ok(result(api.post_empty(&path).await))
        }
        "get_run_logs" => run_logs(api, &args).await,
        other => ai_tool(api, other, args).await,
    }
}

async fn list_runs(api: &Api, args: &Value) -> Result<Value, RpcError> {
    let limit = bounded(args, "limit", 20, MAX_RUNS)?;
    let mut path = format!("/api/v1/runs?page[size]={limit}");
    if let Some(task) = optional_string(args, "taskId")? {
        path.push_str(&format!("&filter[taskIdentifier]={}", component(task)));
    }
    if let Some(status) = optional_string(args, "status")? {
        path.push_str(&format!("&filter[status]={}", component(status)));
    }
    Ok(result(api.get(&path).await))
}

/// The run's logs; with `follow`, first waits (bounded) for the run to be final.
async fn run_logs(api: &Api, args: &Value) -> Result<Value, RpcError> {
    let id = string_arg(args, "runId")?;
    let follow = match args.get("follow") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(RpcError::params("argument 'follow' must be a boolean")),
    };
    let wait = bounded(args, "waitSeconds", 10, MAX_FOLLOW_SECS)?;
    if follow {
        let limit = Duration::from_secs(wait);
        // A run still going at the limit: its logs so far are answered all the same.
        let _ = api.sdk().poll_run(id, limit).await;
    }
    let path = format!("/api/v1/runs/{}/logs", component(id));
    Ok(result(api.get(&path).await))
}

/// A call of an AI tool definition: its task runs with the arguments as payload.
async fn ai_tool(api: &Api, name: &str, args: Value) -> Result<Value, RpcError> {
    let ai = api.sdk().ai();
    if is_tool_name(name) && ai.retrieve(name).await.is_ok() {
        let call = json!({"type": "tool_use", "id": "mcp", "name": name, "input": args});
        return Ok(match ai.execute(&call, TOOL_RUN_TIMEOUT).await {
            Ok(r) => text_result(r.content, r.is_error),
            Err(e) => text_result(e.to_string(), true),
        });
    }
    Err(RpcError::params(format!("Unknown tool '{name}'")))
}

/// Whether `name` has the syntax of a tool name (`^[a-zA-Z0-9_-]{1,64}$`).
fn is_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
