//! `trigr runs list`.

use trigr_types::wire::runs::{RunList, RunListItem};

use crate::api::{decode, Api, ConnectionArgs};
use crate::encode::Query;
use crate::output::{self, shell_word, short_timestamp};
use crate::table;

/// Run statuses the API knows.
pub const STATUSES: [&str; 13] = [
    "PENDING_VERSION",
    "QUEUED",
    "DEQUEUED",
    "EXECUTING",
    "WAITING",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "SYSTEM_FAILURE",
    "DELAYED",
    "EXPIRED",
    "TIMED_OUT",
];

const DEFAULT_LIMIT: u32 = 25;

/// Arguments of `trigr runs list`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct RunsListArgs {
    /// Only runs in these statuses, comma-separated (e.g. QUEUED,EXECUTING).
    #[arg(long, value_name = "STATUS", value_delimiter = ',', ignore_case = true, value_parser = STATUSES)]
    pub status: Vec<String>,

    /// Only runs of these tasks, comma-separated.
    #[arg(long, value_name = "TASK", value_delimiter = ',')]
    pub task: Vec<String>,

    /// Only runs having any of these tags; comma-separated or repeated.
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Only runs of this deployment version.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// Only runs of this batch (batch_…).
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: Option<String>,

    /// Runs per page (1–100).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,

    /// Continue after this cursor (printed below a full page).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsListArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client.get(&list_path(&args)).await?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let page: RunList = decode(answer, "GET /api/v1/runs")?;
    Ok(render(&args, &page))
}

/// `/api/v1/runs?filter[…]=…&page[size]=…` for the given flags.
fn list_path(args: &RunsListArgs) -> String {
    let statuses: Vec<String> = args.status.iter().map(|s| s.to_ascii_uppercase()).collect();
    let mut query = Query::default();
    query
        .push_list("filter[status]", &statuses)
        .push_list("filter[taskIdentifier]", &args.task)
        .push_list("filter[tag]", &args.tags)
        .push_opt("filter[version]", args.version.as_deref())
        .push_opt("filter[batch]", args.batch.as_deref())
        .push("page[size]", args.limit.to_string())
        .push_opt("page[after]", args.after.as_deref());
    format!("/api/v1/runs{}", query.to_query_string())
}

fn render(args: &RunsListArgs, page: &RunList) -> String {
    if page.data.is_empty() {
        return "No runs.\n".to_string();
    }
    let rows: Vec<Vec<String>> = page.data.iter().map(row).collect();
    let mut text = table::render(
        &["ID", "TASK", "STATUS", "VERSION", "TAGS", "CREATED"],
        &rows,
    );
    if let Some(next) = &page.pagination.next {
        text.push_str(&format!("More: {}\n", next_command(args, next)));
    }
    text
}

fn row(run: &RunListItem) -> Vec<String> {
    let run = &run.common;
    vec![
        run.id.clone(),
        run.task_identifier.clone(),
        run.status.clone(),
        run.version.clone().unwrap_or_else(|| "-".into()),
        if run.tags.is_empty() {
            "-".into()
        } else {
            run.tags.join(",")
        },
        short_timestamp(run.created_at),
    ]
}

/// The command that shows the next page: the same filters plus `--after <next>`.
fn next_command(args: &RunsListArgs, next: &str) -> String {
    let mut words = vec!["trigr".to_string(), "runs".into(), "list".into()];
    let mut flag = |name: &str, value: String| {
        words.push(name.to_string());
        words.push(shell_word(&value));
    };
    if !args.status.is_empty() {
        flag("--status", args.status.join(",").to_ascii_uppercase());
    }
    if !args.task.is_empty() {
        flag("--task", args.task.join(","));
    }
    if !args.tags.is_empty() {
        flag("--tag", args.tags.join(","));
    }
    if let Some(version) = &args.version {
        flag("--version", version.clone());
    }
    if let Some(batch) = &args.batch {
        flag("--batch", batch.clone());
    }
    if args.limit != DEFAULT_LIMIT {
        flag("--limit", args.limit.to_string());
    }
    flag("--after", next.to_string());
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{tagged, TestServer};
    use clap::Parser;
    use serde_json::{json, Value};
    use trigr_types::wire::trigger::TriggerOptions;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RunsListArgs,
    }

    fn args(extra: &[&str]) -> RunsListArgs {
        let mut all = vec![
            "list",
            "--api-url",
            "http://127.0.0.1:1",
            "--secret-key",
            "k",
        ];
        all.extend_from_slice(extra);
        match Cli::try_parse_from(all) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn default_path_asks_for_25() {
        assert_eq!(list_path(&args(&[])), "/api/v1/runs?page%5Bsize%5D=25");
    }

    #[test]
    fn filters_are_encoded() {
        let a = args(&[
            "--status",
            "queued,FAILED",
            "--task",
            "hello",
            "--tag",
            "a",
            "--tag",
            "b c",
            "--version",
            "v1",
            "--batch",
            "batch_1",
            "--limit",
            "10",
            "--after",
            "run_x",
        ]);
        assert_eq!(
            list_path(&a),
            "/api/v1/runs?filter%5Bstatus%5D=QUEUED%2CFAILED&filter%5BtaskIdentifier%5D=hello\
             &filter%5Btag%5D=a%2Cb%20c&filter%5Bversion%5D=v1&filter%5Bbatch%5D=batch_1\
             &page%5Bsize%5D=10&page%5Bafter%5D=run_x"
        );
    }

    #[test]
    fn next_page_command_keeps_the_filters() {
        assert_eq!(
            next_command(&args(&[]), "run_9"),
            "trigr runs list --after run_9"
        );
        let a = args(&["--status", "queued", "--tag", "a b", "--limit", "5"]);
        assert_eq!(
            next_command(&a, "run_9"),
            "trigr runs list --status QUEUED --tag 'a b' --limit 5 --after run_9"
        );
    }

    /// A listed run as the server writes it, with the given fields.
    fn listed(fields: Value) -> Value {
        let mut run = json!({"id": "run_1", "status": "QUEUED", "taskIdentifier": "t",
            "isQueued": true, "isExecuting": false, "isWaiting": false, "isCompleted": false,
            "isSuccess": false, "isFailed": false, "isCancelled": false, "isTest": false,
            "createdAt": "2026-01-02T03:04:05.678Z", "updatedAt": "2026-01-02T03:04:05.678Z",
            "tags": [], "costInCents": 0, "baseCostInCents": 0, "durationMs": 0,
            "env": {"id": "env_1", "name": "dev"}});
        run.as_object_mut()
            .expect("an object")
            .extend(fields.as_object().expect("fields").clone());
        run
    }

    fn page(json: Value) -> RunList {
        serde_json::from_value(json).expect("page")
    }

    #[test]
    fn renders_a_table_and_the_next_page() {
        let p = page(json!({"data": [
                listed(json!({"id": "run_1", "status": "QUEUED", "taskIdentifier": "hello",
                    "createdAt": "2026-01-02T03:04:05.678Z", "tags": ["a", "b"]})),
                listed(json!({"id": "run_2", "status": "COMPLETED", "taskIdentifier": "x",
                    "version": "20260101.1", "createdAt": "2026-01-02T03:04:00.000Z"})),
            ],
            "pagination": {"next": "run_2"}}));
        let text = render(&args(&[]), &p);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for word in ["ID", "TASK", "STATUS", "VERSION", "TAGS", "CREATED"] {
            assert!(lines[0].contains(word), "{text}");
        }
        for word in ["run_1", "hello", "QUEUED", "a,b", "2026-01-02T03:04:05Z"] {
            assert!(lines[1].contains(word), "{text}");
        }
        assert!(lines[2].contains("20260101.1"), "{text}");
        assert_eq!(lines[3], "More: trigr runs list --after run_2");
    }

    #[test]
    fn empty_list() {
        let text = render(&args(&[]), &page(json!({"data": [], "pagination": {}})));
        assert_eq!(text, "No runs.\n");
    }

    #[tokio::test]
    async fn lists_over_http() {
        let server = TestServer::start().await;
        let wanted = server.trigger("t", &json!(1), tagged(&["x y"])).await;
        let other = server
            .trigger("other", &json!(2), TriggerOptions::default())
            .await;
        let mut a = args(&["--task", "t", "--status", "pending_version", "--tag", "x y"]);
        a.conn = server.conn();
        let text = execute(a).await.expect("list");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for word in [wanted.as_str(), "t", "PENDING_VERSION", "x y"] {
            assert!(lines[1].contains(word), "{text}");
        }
        assert!(!text.contains(&other), "{text}");
        assert!(!text.contains("More:"), "{text}");

        let mut a = args(&["--task", "nope"]);
        a.conn = server.conn();
        assert_eq!(execute(a).await.expect("list"), "No runs.\n");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_full_page_names_the_next_one() {
        let server = TestServer::start().await;
        let older = server
            .trigger("t", &json!(1), TriggerOptions::default())
            .await;
        let newer = server
            .trigger("t", &json!(2), TriggerOptions::default())
            .await;
        let mut a = args(&["--task", "t", "--limit", "1"]);
        a.conn = server.conn();
        let text = execute(a.clone()).await.expect("list");
        assert!(text.contains(&newer) && !text.contains(&older), "{text}");
        let more = text.lines().last().unwrap_or_default();
        let after = more
            .strip_prefix("More: trigr runs list --task t --limit 1 --after ")
            .unwrap_or_else(|| panic!("no next page in {text}"));

        a.after = Some(after.to_string());
        let text = execute(a.clone()).await.expect("list");
        assert!(text.contains(&older) && !text.contains(&newer), "{text}");

        a.json = true;
        let text = execute(a).await.expect("list");
        let page: serde_json::Value = serde_json::from_str(&text).expect("--json prints JSON");
        assert_eq!(page["data"][0]["id"], json!(older), "{page}");
        server.stop().await;
    }
}
