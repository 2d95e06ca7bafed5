//! `trigr schedules …`: list, show, create, update, delete, activate and deactivate cron
//! schedules, and list the time zones the server knows.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::common::Id;
use trigr_types::wire::manage::{Schedule, ScheduleList, Timezones};
use trigr_types::wire::rest::{ScheduleBody, ScheduleUpdate};

use crate::api::{decode, Api, ConnectionArgs};
use crate::encode;
use crate::output::{self, short_timestamp};
use crate::table;

/// Subcommands of `trigr schedules`.
#[derive(clap::Subcommand, Debug)]
pub enum SchedulesCommand {
    /// List the environment's schedules.
    List(SchedulesListArgs),
    /// Show one schedule (by id or deduplication key).
    Get(ScheduleRefArgs),
    /// Create a schedule, or update the one with the same deduplication key.
    Create(ScheduleCreateArgs),
    /// Change the task, pattern, time zone, external id, window, payload, metadata, machine or
    /// tags of a schedule; what is not given stays as it is.
    Update(ScheduleUpdateArgs),
    /// Delete a schedule made through the API.
    Delete(ScheduleRefArgs),
    /// Make a schedule tick again (from its next tick after now).
    Activate(ScheduleRefArgs),
    /// Stop a schedule from ticking.
    Deactivate(ScheduleRefArgs),
    /// List the IANA time zones the server accepts.
    Timezones(TimezonesArgs),
}

/// Arguments of `trigr schedules list`.
#[derive(clap::Args, Debug, Clone)]
pub struct SchedulesListArgs {
    /// Page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Schedules per page (1-100).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub per_page: u32,
    /// Only the schedules carrying this tag.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub tag: Option<String>,
    /// Only the active (true) or the inactive (false) schedules.
    #[arg(long)]
    pub active: Option<bool>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of the commands naming one schedule.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleRefArgs {
    /// The schedule's id (`sched_…`) or deduplication key.
    #[arg(value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// What a schedule runs and when.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleFields {
    /// The task to trigger.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub task: String,
    /// Five-field cron pattern, like "0 9 * * 1-5".
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub cron: String,
    /// IANA time zone the pattern is read in (default UTC).
    #[arg(long)]
    pub timezone: Option<String>,
    /// Your own id for the schedule, passed to each run.
    #[arg(long)]
    pub external_id: Option<String>,
    /// Jitter window: each tick fires at a fixed offset within it after its cron time, like
    /// "30m", "2h" (at most 24h) or "30%" (of the interval to the next tick). Without it
    /// ticks fire at their cron time.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub window: Option<String>,
    /// A JSON object whose members each run's payload gets beside the scheduled ones, like
    /// '{"reportType":"daily"}'.
    #[arg(long, value_parser = json_object)]
    pub payload: Option<Value>,
    /// Each run's metadata, a JSON object.
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Value>,
    /// Each run's machine preset (micro, small-1x, small-2x, medium-1x, medium-2x, large-1x,
    /// large-2x).
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub machine: Option<String>,
    /// A tag added to each run (repeat for more, up to 10).
    #[arg(long = "tag", value_parser = NonEmptyStringValueParser::new())]
    pub tags: Vec<String>,
}

/// A flag's JSON object.
fn json_object(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("must be a JSON object, like '{\"key\":\"value\"}'".to_string()),
        Err(e) => Err(format!("is not JSON: {e}")),
    }
}

/// Arguments of `trigr schedules create`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleCreateArgs {
    #[command(flatten)]
    pub fields: ScheduleFields,
    /// Key naming the schedule: creating again with it updates the same schedule.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub dedup_key: String,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr schedules update`: each flag changes one setting, the others stay.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleUpdateArgs {
    /// The schedule's id (`sched_…`) or deduplication key.
    #[arg(value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,
    /// Trigger this task instead.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub task: Option<String>,
    /// New five-field cron pattern, like "0 9 * * 1-5".
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub cron: Option<String>,
    /// New IANA time zone the pattern is read in.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub timezone: Option<String>,
    /// New external id, passed to each run.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub external_id: Option<String>,
    /// Remove the external id.
    #[arg(long, conflicts_with = "external_id")]
    pub no_external_id: bool,
    /// New jitter window, like "30m", "2h" or "30%" (see `schedules create`).
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub window: Option<String>,
    /// Remove the window: ticks fire at their cron time.
    #[arg(long, conflicts_with = "window")]
    pub no_window: bool,
    /// New payload members of each run, a JSON object (see `schedules create`).
    #[arg(long, value_parser = json_object)]
    pub payload: Option<Value>,
    /// Remove the payload members.
    #[arg(long, conflicts_with = "payload")]
    pub no_payload: bool,
    /// New metadata of each run, a JSON object.
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Value>,
    /// Remove the metadata.
    #[arg(long, conflicts_with = "metadata")]
    pub no_metadata: bool,
    /// New machine preset of each run.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub machine: Option<String>,
    /// Remove the machine: runs get the task's own.
    #[arg(long, conflicts_with = "machine")]
    pub no_machine: bool,
    /// Tags added to each run, replacing the schedule's (repeat for more, up to 10).
    #[arg(long = "tag", value_parser = NonEmptyStringValueParser::new())]
    pub tags: Vec<String>,
    /// Remove the tags.
    #[arg(long, conflicts_with = "tags")]
    pub no_tags: bool,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr schedules timezones`.
#[derive(clap::Args, Debug, Clone)]
pub struct TimezonesArgs {
    /// Leave `UTC` out.
    #[arg(long)]
    pub exclude_utc: bool,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr schedules` subcommand and returns its output.
pub async fn execute(cmd: SchedulesCommand) -> anyhow::Result<String> {
    match cmd {
        SchedulesCommand::List(args) => list(args).await,
        SchedulesCommand::Get(args) => get(args).await,
        SchedulesCommand::Create(args) => create(args).await,
        SchedulesCommand::Update(args) => update(args).await,
        SchedulesCommand::Delete(args) => delete(args).await,
        SchedulesCommand::Activate(args) => set_active(args, true).await,
        SchedulesCommand::Deactivate(args) => set_active(args, false).await,
        SchedulesCommand::Timezones(args) => timezones(args).await,
    }
}

fn path(id: &str) -> String {
    format!("/api/v1/schedules/{}", encode::component(id))
}

fn not_found(id: &str) -> impl FnOnce() -> String + '_ {
    move || format!("Schedule {id} was not found.")
}

async fn list(args: SchedulesListArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let mut query = format!("page={}&perPage={}", args.page, args.per_page);
    if let Some(tag) = &args.tag {
        query.push_str(&format!("&tag={}", encode::component(tag)));
    }
    if let Some(active) = args.active {
        query.push_str(&format!("&active={active}"));
    }
    let answer = client.get(&format!("/api/v1/schedules?{query}")).await?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let page: ScheduleList = decode(answer, "GET /api/v1/schedules")?;
    let schedules = page.data;
    if schedules.is_empty() {
        return Ok("No schedules.\n".to_string());
    }
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.task.clone(),
                s.kind.clone(),
                s.generator.expression.clone(),
                s.timezone.clone(),
                s.window.clone().unwrap_or_else(|| "-".into()),
                if s.active { "yes" } else { "no" }.to_string(),
                s.next_run.map_or("-".into(), short_timestamp),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "ID", "TASK", "TYPE", "CRON", "TIMEZONE", "WINDOW", "ACTIVE", "NEXT RUN",
        ],
        &rows,
    );
    let total_pages = page.pagination.total_pages;
    if total_pages > 1 {
        out.push_str(&format!(
            "Page {} of {total_pages} ({} schedules).\n",
            args.page, page.pagination.count
        ));
    }
    Ok(out)
}

/// `key: value` lines for one schedule.
fn render_one(s: &Schedule) -> String {
    let mut lines = vec![
        ("id", s.id.clone()),
        ("task", s.task.clone()),
        ("type", s.kind.clone()),
        ("cron", s.generator.expression.clone()),
        ("when", s.generator.description.clone()),
        ("timezone", s.timezone.clone()),
        ("active", if s.active { "yes" } else { "no" }.to_string()),
        ("next run", s.next_run.map_or("-".into(), short_timestamp)),
    ];
    if let Some(w) = &s.window {
        lines.push(("window", w.clone()));
        lines.push((
            "fires at",
            s.next_run_effective_at.map_or("-".into(), short_timestamp),
        ));
    }
    if let Some(k) = &s.deduplication_key {
        lines.push(("deduplication key", k.clone()));
    }
    if let Some(e) = &s.external_id {
        lines.push(("external id", e.clone()));
    }
    if let Some(p) = &s.payload {
        lines.push(("payload", p.to_string()));
    }
    if let Some(m) = &s.metadata {
        lines.push(("metadata", m.to_string()));
    }
    if let Some(m) = &s.machine {
        lines.push(("machine", m.clone()));
    }
    if !s.tags.is_empty() {
        lines.push(("tags", s.tags.join(", ")));
    }
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

fn show(answer: Value, json: bool, request: &str) -> anyhow::Result<String> {
    if json {
        return Ok(output::json(&answer));
    }
    let s: Schedule = decode(answer, request)?;
    Ok(render_one(&s))
}

async fn get(args: ScheduleRefArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client
        .get(&path(&args.id))
        .await
        .map_err(|e| e.or_not_found(not_found(&args.id)))?;
    show(answer, args.json, "GET /api/v1/schedules/{id}")
}

fn body(fields: &ScheduleFields) -> ScheduleBody {
    ScheduleBody {
        task: fields.task.clone(),
        cron: fields.cron.clone(),
        timezone: fields.timezone.clone(),
        external_id: fields.external_id.clone(),
        deduplication_key: None,
        window: fields.window.clone().map(Value::String),
        payload: fields.payload.clone(),
        metadata: fields.metadata.clone(),
        machine: fields.machine.clone().map(Value::String),
        tags: (!fields.tags.is_empty()).then(|| Value::from(fields.tags.clone())),
    }
}

async fn create(args: ScheduleCreateArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let body = ScheduleBody {
        deduplication_key: Some(args.dedup_key.clone()),
        ..body(&args.fields)
    };
    let answer = client.post("/api/v1/schedules", &body).await?;
    show(answer, args.json, "POST /api/v1/schedules")
}

/// The update body: only what the flags change.
fn changes(args: &ScheduleUpdateArgs) -> ScheduleUpdate {
    let cleared = |clear: bool, value: &Option<String>| match (clear, value) {
        (true, _) => Some(Value::Null),
        (false, v) => v.clone().map(Value::String),
    };
    let cleared_json = |clear: bool, value: &Option<Value>| match (clear, value) {
        (true, _) => Some(Value::Null),
        (false, v) => v.clone(),
    };
    let tags = match (args.no_tags, args.tags.is_empty()) {
        (true, _) => Some(Value::Null),
        (false, true) => None,
        (false, false) => Some(Value::from(args.tags.clone())),
    };
    ScheduleUpdate {
        task: args.task.clone(),
        cron: args.cron.clone(),
        timezone: args.timezone.clone(),
        external_id: cleared(args.no_external_id, &args.external_id),
        deduplication_key: None,
        window: cleared(args.no_window, &args.window),
        payload: cleared_json(args.no_payload, &args.payload),
        metadata: cleared_json(args.no_metadata, &args.metadata),
        machine: cleared(args.no_machine, &args.machine),
        tags,
    }
}

async fn update(args: ScheduleUpdateArgs) -> anyhow::Result<String> {
    let body = changes(&args);
    if body == ScheduleUpdate::default() {
        anyhow::bail!(
            "Nothing to change: give --task, --cron, --timezone, --external-id, --no-external-id, --window, --no-window, --payload, --no-payload, --metadata, --no-metadata, --machine, --no-machine, --tag or --no-tags."
        );
    }
    let client = Api::connect(&args.conn)?;
    let answer = client
        .put(&path(&args.id), &body)
        .await
        .map_err(|e| e.or_not_found(not_found(&args.id)))?;
    show(answer, args.json, "PUT /api/v1/schedules/{id}")
}

async fn delete(args: ScheduleRefArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client
        .delete(&path(&args.id))
        .await
        .map_err(|e| e.or_not_found(not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    // The schedule deleted is the one asked for: an answer that does not name it still says so.
    let id = serde_json::from_value::<Id>(answer).map_or(args.id, |deleted| deleted.id);
    Ok(format!("Deleted schedule {id}.\n"))
}

async fn set_active(args: ScheduleRefArgs, active: bool) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let action = if active { "activate" } else { "deactivate" };
    let answer = client
        .post_empty(&format!("{}/{action}", path(&args.id)))
        .await
        .map_err(|e| e.or_not_found(not_found(&args.id)))?;
    show(answer, args.json, "POST /api/v1/schedules/{id}/…")
}

async fn timezones(args: TimezonesArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let query = if args.exclude_utc {
        "?excludeUtc=true"
    } else {
        ""
    };
    let answer = client.get(&format!("/api/v1/timezones{query}")).await?;
    if args.json {
        return Ok(output::json(&answer));
    }
    let zones: Timezones = decode(answer, "GET /api/v1/timezones")?;
    Ok(zones.timezones.iter().map(|z| format!("{z}\n")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_schedule_renders_as_lines() {
        let s: Schedule = serde_json::from_value(json!({
            "id": "sched_1", "type": "IMPERATIVE", "task": "t", "active": true,
            "deduplicationKey": "k", "externalId": null,
            "generator": {"type": "CRON", "expression": "0 9 * * *", "description": "At 09:00."},
            "timezone": "UTC", "nextRun": null, "environments": []
        }))
        .unwrap();
        let text = render_one(&s);
        assert!(text.contains("cron: 0 9 * * *\n"), "{text}");
        assert!(text.contains("next run: -\n"), "{text}");
        assert!(text.contains("deduplication key: k\n"), "{text}");
        assert!(!text.contains("external id"), "{text}");
        assert!(!text.contains("window"), "{text}");

        let s: Schedule = serde_json::from_value(json!({
            "id": "sched_1", "type": "IMPERATIVE", "task": "t", "active": true,
            "generator": {"type": "CRON", "expression": "0 9 * * *", "description": "At 09:00."},
            "timezone": "UTC", "nextRun": "2026-01-05T09:00:00.000Z",
            "nextRunEffectiveAt": "2026-01-05T09:12:34.000Z", "window": "30m",
            "environments": []
        }))
        .unwrap();
        let text = render_one(&s);
        assert!(text.contains("window: 30m\n"), "{text}");
        assert!(text.contains("fires at: "), "{text}");
    }

    #[test]
    fn the_window_goes_into_the_body() {
        let fields = ScheduleFields {
            task: "t".into(),
            cron: "0 * * * *".into(),
            timezone: None,
            external_id: None,
            window: Some("2h".into()),
            payload: None,
            metadata: None,
            machine: None,
            tags: vec![],
        };
        assert_eq!(
            serde_json::to_value(body(&fields)).expect("JSON"),
            json!({"task": "t", "cron": "0 * * * *", "window": "2h"})
        );
        let fields = ScheduleFields {
            window: None,
            ..fields
        };
        assert_eq!(body(&fields).window, None);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: SchedulesCommand,
    }

    fn update_args(extra: &[&str]) -> Result<ScheduleUpdateArgs, clap::Error> {
        let mut all = vec!["schedules", "update", "sched_1"];
        all.extend_from_slice(extra);
        match <Cli as clap::Parser>::try_parse_from(all)?.cmd {
            SchedulesCommand::Update(args) => Ok(args),
            other => panic!("not update: {other:?}"),
        }
    }

    #[test]
    fn an_update_sends_only_what_it_changes() {
        let args = update_args(&["--timezone", "Europe/Paris"]).expect("parse");
        assert_eq!(
            serde_json::to_value(changes(&args)).expect("JSON"),
            json!({"timezone": "Europe/Paris"})
        );
        let args = update_args(&["--cron", "0 * * * *", "--no-window", "--no-external-id"])
            .expect("parse");
        assert_eq!(
            serde_json::to_value(changes(&args)).expect("JSON"),
            json!({"cron": "0 * * * *", "window": null, "externalId": null})
        );
        let args = update_args(&[]).expect("parse");
        assert_eq!(changes(&args), ScheduleUpdate::default());
        assert!(update_args(&["--window", "5m", "--no-window"]).is_err());
        let args = update_args(&[
            "--payload",
            r#"{"a":1}"#,
            "--no-metadata",
            "--machine",
            "micro",
            "--tag",
            "x",
            "--tag",
            "y",
        ])
        .expect("parse");
        assert_eq!(
            serde_json::to_value(changes(&args)).expect("JSON"),
            json!({"payload": {"a": 1}, "metadata": null, "machine": "micro", "tags": ["x", "y"]})
        );
        let args = update_args(&["--no-tags", "--no-payload", "--no-machine"]).expect("parse");
        assert_eq!(
            serde_json::to_value(changes(&args)).expect("JSON"),
            json!({"payload": null, "machine": null, "tags": null})
        );
        assert!(update_args(&["--payload", "[1]"]).is_err());
        assert!(update_args(&["--tag", "x", "--no-tags"]).is_err());
    }
}
