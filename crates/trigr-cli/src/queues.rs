//! `trigr queues …`: list queues, pause and resume them.

use clap::builder::NonEmptyStringValueParser;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::{decode, Client, ConnectionArgs};
use crate::encode;
use crate::output;
use crate::table;

const PAGE_SIZE: u32 = 100;
/// Stop after this many pages even if the server keeps announcing more.
const MAX_PAGES: u64 = 1000;

/// Subcommands of `trigr queues`.
#[derive(clap::Subcommand, Debug)]
pub enum QueuesCommand {
    /// List the queues of the environment with their running and queued runs.
    List(QueuesListArgs),
    /// Pause a queue: its queued runs do not start until it is resumed.
    Pause(QueueArgs),
    /// Resume a paused queue.
    Resume(QueueArgs),
}

/// Arguments of `trigr queues list`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueuesListArgs {
    /// Print the queues as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr queues pause` and `trigr queues resume`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueArgs {
    /// Queue name: a custom queue's name, or a task id with `--type task` (`task/<id>` also works).
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,

    /// Kind of queue [default: custom, or task for names starting with `task/`].
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    pub kind: Option<QueueKind>,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Kind of a queue: one per task, or declared by name.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    // The queue of one task, addressed by the task id.
    Task,
    // A named queue declared by the deployment.
    Custom,
}

impl QueueKind {
    fn as_str(self) -> &'static str {
        match self {
            QueueKind::Task => "task",
            QueueKind::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Pause,
    Resume,
}

/// Runs one `trigr queues` subcommand and returns its output.
pub async fn execute(cmd: QueuesCommand) -> anyhow::Result<String> {
    match cmd {
        QueuesCommand::List(args) => list(args).await,
        QueuesCommand::Pause(args) => set_paused(args, Action::Pause).await,
        QueuesCommand::Resume(args) => set_paused(args, Action::Resume).await,
    }
}

#[derive(Debug, Deserialize)]
struct QueuePage {
    data: Vec<Value>,
    #[serde(default)]
    pagination: OffsetPagination,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetPagination {
    #[serde(default)]
    total_pages: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Queue {
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    running: u64,
    #[serde(default)]
    queued: u64,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    concurrency_limit: Option<u64>,
}

async fn list(args: QueuesListArgs) -> anyhow::Result<String> {
    let client = Client::new(&args.conn)?;
    let queues = fetch_all(&client).await?;
    if args.json {
        return Ok(output::json(&Value::Array(queues)));
    }
    let queues: Vec<Queue> = decode(Value::Array(queues), "GET /api/v1/queues")?;
    Ok(render(&queues))
}

/// Every queue, following `page` until `totalPages`.
async fn fetch_all(client: &Client) -> anyhow::Result<Vec<Value>> {
    let mut queues = Vec::new();
    let mut page = 1;
    loop {
        let path = format!("/api/v1/queues?page={page}&perPage={PAGE_SIZE}");
        let answer: QueuePage = decode(client.get(&path).await?, "GET /api/v1/queues")?;
        queues.extend(answer.data);
        if page >= answer.pagination.total_pages || page >= MAX_PAGES {
            return Ok(queues);
        }
        page += 1;
    }
}

fn render(queues: &[Queue]) -> String {
    if queues.is_empty() {
        return "No queues.\n".to_string();
    }
    let rows: Vec<Vec<String>> = queues.iter().map(row).collect();
    table::render(
        &["NAME", "TYPE", "RUNNING", "QUEUED", "LIMIT", "PAUSED"],
        &rows,
    )
}

fn row(queue: &Queue) -> Vec<String> {
    vec![
        queue.name.clone(),
        queue.kind.clone(),
        queue.running.to_string(),
        queue.queued.to_string(),
        queue
            .concurrency_limit
            .map_or_else(|| "-".into(), |n| n.to_string()),
        if queue.paused { "yes" } else { "no" }.into(),
    ]
}

async fn set_paused(args: QueueArgs, action: Action) -> anyhow::Result<String> {
    let (kind, name) = resolve(&args.name, args.kind);
    let (path, body) = pause_request(kind, name, action);
    let client = Client::new(&args.conn)?;
    client
        .post(&path, Some(&body))
        .await
        .map_err(|e| e.or_not_found(|| not_found(kind, name)))?;
    let verb = match action {
        Action::Pause => "Paused",
        Action::Resume => "Resumed",
    };
    Ok(format!("{verb} queue {}\n", args.name))
}

/// The queue kind and the name to send: without `--type`, `task/<id>` means the task's queue.
fn resolve(name: &str, kind: Option<QueueKind>) -> (QueueKind, &str) {
    match (kind, name.strip_prefix("task/")) {
        (Some(QueueKind::Task) | None, Some(task)) if !task.is_empty() => (QueueKind::Task, task),
        (Some(kind), _) => (kind, name),
        (None, _) => (QueueKind::Custom, name),
    }
}

/// `POST /api/v1/queues/{name}/pause` with `{"type", "action"}`.
fn pause_request(kind: QueueKind, name: &str, action: Action) -> (String, Value) {
    let path = format!("/api/v1/queues/{}/pause", encode::queue_segment(name));
    let action = match action {
        Action::Pause => "pause",
        Action::Resume => "resume",
    };
    (path, json!({ "type": kind.as_str(), "action": action }))
}

fn not_found(kind: QueueKind, name: &str) -> String {
    match kind {
        QueueKind::Task => format!("The queue of task {name} was not found."),
        QueueKind::Custom => format!("Queue {name} was not found."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockServer;

    #[test]
    fn names_resolve_to_kinds() {
        assert_eq!(resolve("emails", None), (QueueKind::Custom, "emails"));
        assert_eq!(resolve("task/hello", None), (QueueKind::Task, "hello"));
        assert_eq!(
            resolve("hello", Some(QueueKind::Task)),
            (QueueKind::Task, "hello")
        );
        assert_eq!(
            resolve("task/hello", Some(QueueKind::Task)),
            (QueueKind::Task, "hello")
        );
        assert_eq!(
            resolve("task/x", Some(QueueKind::Custom)),
            (QueueKind::Custom, "task/x")
        );
        assert_eq!(resolve("a/b", None), (QueueKind::Custom, "a/b"));
    }

    #[test]
    fn pause_requests_double_encode_the_name() {
        let (path, body) = pause_request(QueueKind::Custom, "a/b", Action::Pause);
        assert_eq!(path, "/api/v1/queues/a%252Fb/pause");
        assert_eq!(body, json!({"type": "custom", "action": "pause"}));
        let (path, body) = pause_request(QueueKind::Task, "hello", Action::Resume);
        assert_eq!(path, "/api/v1/queues/hello/pause");
        assert_eq!(body, json!({"type": "task", "action": "resume"}));
    }

    #[test]
    fn renders_limits_and_paused() {
        let queues: Vec<Queue> = serde_json::from_value(json!([
            {"id": "queue_1", "name": "hello", "type": "task", "running": 1, "queued": 2,
             "paused": true, "concurrencyLimit": null},
            {"id": "queue_2", "name": "emails", "type": "custom", "running": 0, "queued": 0,
             "paused": false, "concurrencyLimit": 10, "concurrency": {"current": 10}}
        ]))
        .expect("queues");
        let text = render(&queues);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["NAME", "TYPE", "RUNNING", "QUEUED", "LIMIT", "PAUSED"]
        );
        assert_eq!(lines[1], ["hello", "task", "1", "2", "-", "yes"]);
        assert_eq!(lines[2], ["emails", "custom", "0", "0", "10", "no"]);
        assert_eq!(render(&[]), "No queues.\n");
    }

    fn page(names: &[&str], current: u64, total: u64) -> (u16, String) {
        let data: Vec<Value> = names
            .iter()
            .map(|n| {
                json!({"id": "queue_x", "name": n, "type": "custom", "running": 0,
                            "queued": 0, "paused": false, "concurrencyLimit": null})
            })
            .collect();
        let body = json!({"data": data, "pagination": {"currentPage": current, "totalPages": total, "count": 3}});
        (200, body.to_string())
    }

    #[tokio::test]
    async fn lists_every_page() {
        let server = MockServer::start(vec![page(&["a", "b"], 1, 2), page(&["c"], 2, 2)]).await;
        let args = QueuesListArgs {
            json: false,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::List(args)).await.expect("list");
        assert_eq!(text.lines().count(), 4, "{text}");
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/queues?page=1&perPage=100",
                "/api/v1/queues?page=2&perPage=100"
            ]
        );
    }

    #[tokio::test]
    async fn pauses_and_reports_unknown_queues() {
        let server = MockServer::start(vec![
            (200, r#"{"name":"hello","paused":true}"#.into()),
            (404, r#"{"error":"Queue not found"}"#.into()),
        ])
        .await;
        let args = QueueArgs {
            name: "task/hello".into(),
            kind: None,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::Pause(args)).await.expect("pause");
        assert_eq!(text, "Paused queue task/hello\n");
        let args = QueueArgs {
            name: "nope".into(),
            kind: None,
            conn: server.conn(),
        };
        let err = execute(QueuesCommand::Resume(args))
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Queue nope was not found."));
        let req = &server.requests()[0];
        assert_eq!(req.path, "/api/v1/queues/hello/pause");
        assert_eq!(req.json(), json!({"type": "task", "action": "pause"}));
    }
}
