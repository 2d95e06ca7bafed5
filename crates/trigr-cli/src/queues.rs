//! `trigr queues …`: list queues, pause and resume them.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::manage::{Queue, QueueList};
use trigr_types::wire::rest::PauseQueueBody;

use crate::api::{decode, Api, ConnectionArgs};
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
    /// Queue name: a custom queue's name or a task id (as `trigr queues list` shows them), or
    /// `task/<id>`.
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,

    /// Kind of queue. Without it a custom queue of that name is meant, else the task's queue.
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

/// The request the list's answers are named by in errors.
const LIST: &str = "GET /api/v1/queues";

async fn list(args: QueuesListArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let (raw, queues) = fetch_all(&client).await?;
    if args.json {
        return Ok(output::json(&Value::Array(raw)));
    }
    Ok(render(&queues))
}

/// Every queue, following `page` until `totalPages`: as the server wrote it (printed by
/// `--json`) and as read.
async fn fetch_all(client: &Api) -> anyhow::Result<(Vec<Value>, Vec<Queue>)> {
    let mut raw = Vec::new();
    let mut queues = Vec::new();
    let mut page = 1;
    loop {
        let path = format!("/api/v1/queues?page={page}&perPage={PAGE_SIZE}");
        let mut answer = client.get(&path).await?;
        let list: QueueList = decode(answer.clone(), LIST)?;
        if let Value::Array(items) = answer["data"].take() {
            raw.extend(items);
        }
        queues.extend(list.data);
        if page >= list.pagination.total_pages || page >= MAX_PAGES {
            return Ok((raw, queues));
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
    let client = Api::connect(&args.conn)?;
    for (kind, name) in candidates(&args.name, args.kind) {
        let (path, body) = pause_request(kind, name, action);
        match client.post(&path, &body).await {
            Ok(_) => {
                let verb = match action {
                    Action::Pause => "Paused",
                    Action::Resume => "Resumed",
                };
                return Ok(format!("{verb} queue {}\n", args.name));
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(not_found(&args.name, args.kind))
}

/// The queues a name may mean, in the order to try them. With `--type` (or a `task/<id>` name)
/// there is one; a bare name is a custom queue, else the queue of the task with that id.
fn candidates(name: &str, kind: Option<QueueKind>) -> Vec<(QueueKind, &str)> {
    let task_id = name.strip_prefix("task/").filter(|t| !t.is_empty());
    match (kind, task_id) {
        (Some(QueueKind::Task) | None, Some(task)) => vec![(QueueKind::Task, task)],
        (Some(kind), _) => vec![(kind, name)],
        (None, None) => vec![(QueueKind::Custom, name), (QueueKind::Task, name)],
    }
}

/// `POST /api/v1/queues/{name}/pause` with `{"type", "action"}`.
fn pause_request(kind: QueueKind, name: &str, action: Action) -> (String, PauseQueueBody) {
    let path = format!("/api/v1/queues/{}/pause", encode::queue_segment(name));
    let action = match action {
        Action::Pause => "pause",
        Action::Resume => "resume",
    };
    let body = PauseQueueBody {
        kind: Some(kind.as_str().into()),
        action: action.into(),
    };
    (path, body)
}

fn not_found(name: &str, kind: Option<QueueKind>) -> String {
    match kind {
        Some(QueueKind::Task) => format!("The queue of task {name} was not found."),
        Some(QueueKind::Custom) => format!("Queue {name} was not found."),
        None => format!("Queue {name} was not found: no custom queue or task has that name."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{queued, task, TestServer};
    use serde_json::json;

    #[test]
    fn names_resolve_to_queues() {
        use QueueKind::{Custom, Task};
        assert_eq!(
            candidates("emails", None),
            [(Custom, "emails"), (Task, "emails")]
        );
        assert_eq!(candidates("task/hello", None), [(Task, "hello")]);
        assert_eq!(candidates("hello", Some(Task)), [(Task, "hello")]);
        assert_eq!(candidates("task/hello", Some(Task)), [(Task, "hello")]);
        assert_eq!(candidates("task/x", Some(Custom)), [(Custom, "task/x")]);
        assert_eq!(candidates("a/b", Some(Custom)), [(Custom, "a/b")]);
    }

    #[test]
    fn pause_requests_double_encode_the_name() {
        let (path, body) = pause_request(QueueKind::Custom, "a/b", Action::Pause);
        assert_eq!(path, "/api/v1/queues/a%252Fb/pause");
        let body = serde_json::to_value(body).expect("body");
        assert_eq!(body, json!({"type": "custom", "action": "pause"}));
        let (path, body) = pause_request(QueueKind::Task, "hello", Action::Resume);
        assert_eq!(path, "/api/v1/queues/hello/pause");
        let body = serde_json::to_value(body).expect("body");
        assert_eq!(body, json!({"type": "task", "action": "resume"}));
    }

    #[test]
    fn renders_limits_and_paused() {
        let unlimited = json!({"current": null, "base": null, "override": null,
            "overriddenAt": null, "overriddenBy": null});
        let limited = json!({"current": 10, "base": 10, "override": null,
            "overriddenAt": null, "overriddenBy": null});
        let queues: Vec<Queue> = serde_json::from_value(json!([
            {"id": "queue_1", "name": "hello", "type": "task", "running": 1, "queued": 2,
             "paused": true, "concurrencyLimit": null, "concurrency": unlimited},
            {"id": "queue_2", "name": "emails", "type": "custom", "running": 0, "queued": 0,
             "paused": false, "concurrencyLimit": 10, "concurrency": limited}
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

    #[tokio::test]
    async fn lists_every_page() {
        let server = TestServer::start().await;
        // One queue more than fits on a page.
        let names: Vec<String> = (0..=PAGE_SIZE).map(|i| format!("t{i:03}")).collect();
        server.deploy(names.iter().map(|n| task(n)).collect()).await;
        let args = QueuesListArgs {
            json: false,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::List(args)).await.expect("list");
        let mut listed: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, names, "{text}");

        let args = QueuesListArgs {
            json: true,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::List(args)).await.expect("list");
        let queues: Value = serde_json::from_str(&text).expect("--json prints JSON");
        assert_eq!(
            queues.as_array().map(Vec::len),
            Some(names.len()),
            "{queues}"
        );
        server.stop().await;
    }

    /// Whether the server has the queue paused (`GET /api/v1/queues/{name}?type=…`).
    async fn paused(server: &TestServer, name: &str, kind: &str) -> bool {
        let path = format!("/api/v1/queues/{}?type={kind}", name.replace('/', "%252F"));
        let (status, queue) = server.get(&path).await;
        assert_eq!(status, 200, "{path}: {queue}");
        queue["paused"].as_bool().expect("paused flag")
    }

    #[tokio::test]
    async fn pauses_and_reports_unknown_queues() {
        let server = TestServer::start().await;
        server
            .deploy(vec![
                task("hello"),
                task("emails"),
                queued("mailer", "emails"),
                queued("sorter", "a/b"),
            ])
            .await;
        let queue = |name: &str, kind| QueueArgs {
            name: name.into(),
            kind,
            conn: server.conn(),
        };

        let text = execute(QueuesCommand::Pause(queue("task/hello", None))).await;
        assert_eq!(text.ok().as_deref(), Some("Paused queue task/hello\n"));
        assert!(paused(&server, "hello", "task").await);

        let err = execute(QueuesCommand::Resume(queue("nope", None))).await;
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("Queue nope was not found: no custom queue or task has that name.")
        );

        // No custom queue is named hello: the task's queue is meant.
        let text = execute(QueuesCommand::Resume(queue("hello", None))).await;
        assert_eq!(text.ok().as_deref(), Some("Resumed queue hello\n"));
        assert!(!paused(&server, "hello", "task").await);

        // A custom queue of that name comes first; --type task names the task's queue.
        let text = execute(QueuesCommand::Pause(queue("emails", None))).await;
        assert_eq!(text.ok().as_deref(), Some("Paused queue emails\n"));
        assert!(paused(&server, "emails", "custom").await);
        assert!(!paused(&server, "emails", "task").await);
        let text = execute(QueuesCommand::Pause(queue("emails", Some(QueueKind::Task)))).await;
        assert_eq!(text.ok().as_deref(), Some("Paused queue emails\n"));
        assert!(paused(&server, "emails", "task").await);

        // A name with a slash reaches the server intact.
        let text = execute(QueuesCommand::Pause(queue("a/b", Some(QueueKind::Custom)))).await;
        assert_eq!(text.ok().as_deref(), Some("Paused queue a/b\n"));
        assert!(paused(&server, "a/b", "custom").await);

        let err = execute(QueuesCommand::Pause(queue(
            "hello",
            Some(QueueKind::Custom),
        )))
        .await;
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("Queue hello was not found.")
        );
        let err = execute(QueuesCommand::Pause(queue("nope", Some(QueueKind::Task)))).await;
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("The queue of task nope was not found.")
        );
        server.stop().await;
    }
}
