//! `trigr queues …`: list queues, pause and resume them, and make, edit and delete queues
//! of your own (queues defined in code are refused by the server with a sentence).

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_sdk::queues::{NewQueue, QueueChanges};
use trigr_types::wire::manage::{Queue, QueueList};
use trigr_types::wire::rest::PauseQueueBody;

use crate::api::{decode, Api, ApiError, ConnectionArgs};
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
    /// Make a queue of your own (marked as made through the API).
    Create(QueueCreateArgs),
    /// Change a queue made through the API: name, limit, description, tags.
    Update(QueueUpdateArgs),
    /// Delete a queue made through the API (refused while runs of it are not finished,
    /// unless `--force` moves them to their task's own queue).
    Delete(QueueDeleteArgs),
}

/// Arguments of `trigr queues list`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueuesListArgs {
    /// Print the queues as JSON.
    #[arg(long)]
    pub json: bool,

    /// Only queues carrying this tag.
    #[arg(long, value_name = "TAG", value_parser = NonEmptyStringValueParser::new())]
    pub tag: Option<String>,

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

/// A concurrency limit as the server takes it (0 holds every run).
fn limit_parser() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(0..=100_000)
}

/// Arguments of `trigr queues create`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueCreateArgs {
    /// Name of the new queue (1 to 128 bytes; not starting with `task/` or `queue_`).
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,

    /// How many of its runs may execute at once; unlimited without it.
    #[arg(long, value_name = "N", value_parser = limit_parser())]
    pub limit: Option<i64>,

    /// What the queue is for.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG", value_parser = NonEmptyStringValueParser::new())]
    pub tags: Vec<String>,

    /// Print the queue as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr queues update`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueUpdateArgs {
    /// The queue: its id (`queue_…`) or name.
    #[arg(value_name = "QUEUE", value_parser = NonEmptyStringValueParser::new())]
    pub queue: String,

    /// A new name.
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: Option<String>,

    /// A new concurrency limit.
    #[arg(long, value_name = "N", value_parser = limit_parser(), conflicts_with = "no_limit")]
    pub limit: Option<i64>,

    /// Remove the concurrency limit.
    #[arg(long)]
    pub no_limit: bool,

    /// A new description.
    #[arg(long, value_name = "TEXT", conflicts_with = "no_description")]
    pub description: Option<String>,

    /// Remove the description.
    #[arg(long)]
    pub no_description: bool,

    /// Replace the tags with these (repeatable).
    #[arg(long = "tag", value_name = "TAG", value_parser = NonEmptyStringValueParser::new(),
          conflicts_with = "no_tags")]
    pub tags: Vec<String>,

    /// Remove every tag.
    #[arg(long)]
    pub no_tags: bool,

    /// Print the queue as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr queues delete`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueDeleteArgs {
    /// The queue: its id (`queue_…`) or name.
    #[arg(value_name = "QUEUE", value_parser = NonEmptyStringValueParser::new())]
    pub queue: String,

    /// Delete it even while runs of it are not finished: they move to their task's own queue.
    #[arg(long)]
    pub force: bool,

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
        QueuesCommand::Create(args) => create(args).await,
        QueuesCommand::Update(args) => update(args).await,
        QueuesCommand::Delete(args) => delete(args).await,
    }
}

async fn create(args: QueueCreateArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let mut queue = NewQueue::new(&args.name).tags(args.tags.iter().map(String::as_str));
    if let Some(limit) = args.limit {
        queue = queue.concurrency_limit(limit);
    }
    if let Some(text) = &args.description {
        queue = queue.description(text);
    }
    let queue = api.sdk().queues().create(queue).await;
    let queue = queue.map_err(ApiError::from)?;
    if args.json {
        return Ok(output::json(&serde_json::to_value(&queue)?));
    }
    Ok(format!("Created queue {} ({}).\n", queue.name, queue.id))
}

/// The changes the flags ask for; none is a mistake caught before any request.
fn changes(args: &QueueUpdateArgs) -> anyhow::Result<QueueChanges> {
    let mut changes = QueueChanges::new();
    let mut any = false;
    if let Some(name) = &args.name {
        (changes, any) = (changes.name(name), true);
    }
    if let Some(limit) = args.limit {
        (changes, any) = (changes.concurrency_limit(limit), true);
    }
    if args.no_limit {
        (changes, any) = (changes.no_concurrency_limit(), true);
    }
    if let Some(text) = &args.description {
        (changes, any) = (changes.description(text), true);
    }
    if args.no_description {
        (changes, any) = (changes.no_description(), true);
    }
    if !args.tags.is_empty() || args.no_tags {
        (changes, any) = (changes.tags(args.tags.iter().map(String::as_str)), true);
    }
    if !any {
        anyhow::bail!(
            "Nothing to change: give --name, --limit, --no-limit, --description, \
             --no-description, --tag or --no-tags."
        );
    }
    Ok(changes)
}

async fn update(args: QueueUpdateArgs) -> anyhow::Result<String> {
    let changes = changes(&args)?;
    let api = Api::connect(&args.conn)?;
    let queue = api.sdk().queues().update(&args.queue, changes).await;
    let queue = queue.map_err(|e| ApiError::from(e).or_not_found(|| missing(&args.queue)))?;
    if args.json {
        return Ok(output::json(&serde_json::to_value(&queue)?));
    }
    Ok(format!("Updated queue {} ({}).\n", queue.name, queue.id))
}

async fn delete(args: QueueDeleteArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let deleted = api.sdk().queues().delete(&args.queue, args.force).await;
    let deleted = deleted.map_err(|e| ApiError::from(e).or_not_found(|| missing(&args.queue)))?;
    Ok(match deleted.moved_runs {
        0 => format!("Deleted queue {}.\n", args.queue),
        1 => format!(
            "Deleted queue {}; 1 run moved to its task's own queue.\n",
            args.queue
        ),
        n => format!(
            "Deleted queue {}; {n} runs moved to their task's own queue.\n",
            args.queue
        ),
    })
}

fn missing(queue: &str) -> String {
    format!("Queue {queue} was not found.")
}

/// The request the list's answers are named by in errors.
const LIST: &str = "GET /api/v1/queues";

async fn list(args: QueuesListArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let (raw, queues) = fetch_all(&client, args.tag.as_deref()).await?;
    if args.json {
        return Ok(output::json(&Value::Array(raw)));
    }
    Ok(render(&queues))
}

/// Every queue, following `page` until `totalPages`: as the server wrote it (printed by
/// `--json`) and as read.
async fn fetch_all(client: &Api, tag: Option<&str>) -> anyhow::Result<(Vec<Value>, Vec<Queue>)> {
    let mut raw = Vec::new();
    let mut queues = Vec::new();
    let mut page = 1;
    let tag = tag.map_or_else(String::new, |t| format!("&tag={}", encode::component(t)));
    loop {
        let path = format!("/api/v1/queues?page={page}&perPage={PAGE_SIZE}{tag}");
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
            tag: None,
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
            tag: None,
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

    #[tokio::test]
    async fn creates_updates_lists_by_tag_and_deletes_queues() {
        let server = TestServer::start().await;
        server.deploy(vec![task("hello")]).await;
        let create = |name: &str, tags: &[&str]| QueueCreateArgs {
            name: name.into(),
            limit: Some(3),
            description: Some("Nightly reports".into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            json: true,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::Create(create("reports", &["data"]))).await;
        let queue: Value = serde_json::from_str(&text.expect("create")).expect("JSON");
        assert_eq!(queue["name"], "reports");
        assert_eq!(queue["concurrencyLimit"], 3);
        let mut other = create("mail", &[]);
        other.json = false;
        let text = execute(QueuesCommand::Create(other)).await.expect("create");
        assert!(text.starts_with("Created queue mail (queue_"), "{text}");
        let err = execute(QueuesCommand::Create(create("reports", &[]))).await;
        let err = err.expect_err("a second queue of that name").to_string();
        assert!(
            err.starts_with("The server rejected the request (409)"),
            "{err}"
        );

        let list = QueuesListArgs {
            json: false,
            tag: Some("data".into()),
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::List(list)).await.expect("list");
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(names, ["reports"], "{text}");

        let update = |queue: &str| QueueUpdateArgs {
            queue: queue.into(),
            name: None,
            limit: None,
            no_limit: false,
            description: None,
            no_description: false,
            tags: Vec::new(),
            no_tags: false,
            json: false,
            conn: server.conn(),
        };
        let err = execute(QueuesCommand::Update(update("reports"))).await;
        let err = err.expect_err("no change named").to_string();
        assert!(err.starts_with("Nothing to change"), "{err}");
        let mut rename = update("reports");
        rename.name = Some("reports-v2".into());
        rename.no_limit = true;
        rename.no_tags = true;
        let text = execute(QueuesCommand::Update(rename))
            .await
            .expect("update");
        assert!(
            text.starts_with("Updated queue reports-v2 (queue_"),
            "{text}"
        );
        let (_, queue) = server.get("/api/v1/queues/reports-v2").await;
        assert_eq!(queue["concurrencyLimit"], Value::Null, "{queue}");
        assert_eq!(queue["tags"], serde_json::json!([]), "{queue}");

        // A queue defined in code is not edited here.
        let mut code = update("hello");
        code.limit = Some(1);
        let err = execute(QueuesCommand::Update(code))
            .await
            .expect_err("code queue");
        assert!(err.to_string().contains("(409)"), "{err}");
        let err = execute(QueuesCommand::Update(QueueUpdateArgs {
            limit: Some(1),
            ..update("nope")
        }))
        .await;
        assert_eq!(
            err.expect_err("unknown").to_string(),
            "Queue nope was not found."
        );

        let delete = |queue: &str| QueueDeleteArgs {
            queue: queue.into(),
            force: false,
            conn: server.conn(),
        };
        let text = execute(QueuesCommand::Delete(delete("reports-v2"))).await;
        assert_eq!(text.expect("delete"), "Deleted queue reports-v2.\n");
        let err = execute(QueuesCommand::Delete(delete("reports-v2"))).await;
        assert_eq!(
            err.expect_err("gone").to_string(),
            "Queue reports-v2 was not found."
        );
        server.stop().await;
    }
}
