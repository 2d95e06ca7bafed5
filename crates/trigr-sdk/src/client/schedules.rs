//! Cron schedules made through the management API (`/api/v1/schedules…`): each fires runs of
//! one task on a five-field cron pattern read in a time zone, optionally spread over a jitter
//! window.
//!
//! [`Schedules`] creates (upsert by deduplication key), retrieves, lists (optionally by tag
//! and activity, [`ScheduleFilter`]), updates, deletes, activates and deactivates them. A
//! schedule may give each run it fires payload members, metadata, a machine and tags
//! ([`ScheduleOptions::payload`] and its neighbours). A task can also declare its own schedule in its manifest
//! ([`TaskBuilder::cron`](crate::TaskBuilder::cron)).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use trigr_types::wire::manage as wire;

use crate::error::Result;
use crate::http::{encode, Http, Tries};

/// The schedule API of one client ([`Client::schedules`](crate::Client::schedules)).
#[derive(Clone, Debug)]
pub struct Schedules {
    pub(crate) http: Http,
}

/// What a schedule runs and when: the body of a create or an update. A create sets every
/// setting (a zone left out is UTC, a window left out is none); an update changes the task and
/// the pattern and what else is given, and keeps the rest.
#[derive(Clone, Debug)]
pub struct ScheduleOptions {
    fields: Map<String, Value>,
}

impl ScheduleOptions {
    /// Runs of `task` on the five-field cron pattern `cron` (`"0 9 * * 1-5"`), in UTC, at each
    /// tick's cron time.
    pub fn new(task: impl Into<String>, cron: impl Into<String>) -> ScheduleOptions {
        let mut fields = Map::new();
        fields.insert("task".into(), json!(task.into()));
        fields.insert("cron".into(), json!(cron.into()));
        ScheduleOptions { fields }
    }
    /// The IANA time zone the pattern is read in (`"Europe/Paris"`).
    pub fn timezone(mut self, zone: impl Into<String>) -> Self {
        self.fields.insert("timezone".into(), json!(zone.into()));
        self
    }
    /// Your own id for the schedule, passed to each run.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.fields.insert("externalId".into(), json!(id.into()));
        self
    }
    /// A jitter window: each tick fires at a deterministic offset within it after its cron
    /// time. `"30m"`, `"2h"` (1 minute to 24 hours) or `"30%"` (of the interval to the next
    /// tick). Without it, ticks fire at their cron time (an update without it keeps the
    /// schedule's window; [`ScheduleOptions::no_window`] removes it).
    pub fn window(mut self, window: impl Into<String>) -> Self {
        self.fields.insert("window".into(), json!(window.into()));
        self
    }
    /// On an update, removes the schedule's window: ticks fire at their cron time.
    pub fn no_window(mut self) -> Self {
        self.fields.insert("window".into(), Value::Null);
        self
    }
    /// On an update, removes the schedule's external id.
    pub fn no_external_id(mut self) -> Self {
        self.fields.insert("externalId".into(), Value::Null);
        self
    }
    /// Members (a JSON object) each scheduled run's payload gets beside the scheduled ones
    /// (`timestamp`, `lastTimestamp`, `timezone`, `scheduleId`, `externalId`, `upcoming` and
    /// `type` are reserved).
    pub fn payload(mut self, payload: Value) -> Self {
        self.fields.insert("payload".into(), payload);
        self
    }
    /// Each scheduled run's metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.fields.insert("metadata".into(), metadata);
        self
    }
    /// Each scheduled run's machine preset (`"micro"`, `"small-1x"`, … `"large-2x"`).
    pub fn machine(mut self, machine: impl Into<String>) -> Self {
        self.fields.insert("machine".into(), json!(machine.into()));
        self
    }
    /// Tags added to each scheduled run (up to 10, each 1-128 characters). On an update they
    /// replace the schedule's; an empty list removes them.
    pub fn tags<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.fields.insert("tags".into(), json!(tags));
        self
    }
    /// On an update, removes the schedule's payload members.
    pub fn no_payload(mut self) -> Self {
        self.fields.insert("payload".into(), Value::Null);
        self
    }
    /// On an update, removes the schedule's run metadata.
    pub fn no_metadata(mut self) -> Self {
        self.fields.insert("metadata".into(), Value::Null);
        self
    }
    /// On an update, removes the schedule's machine (runs get the task's own).
    pub fn no_machine(mut self) -> Self {
        self.fields.insert("machine".into(), Value::Null);
        self
    }
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

/// How a schedule's times are generated: `kind` `CRON`, the cron pattern (`expression`) and
/// the pattern in words (`description`, "At 09:00 …").
pub use trigr_types::wire::manage::ScheduleGenerator as Generator;

/// A schedule as the server shows it (read as [`wire::Schedule`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "wire::Schedule")]
pub struct Schedule {
    /// `sched_…`.
    pub id: String,
    /// `IMPERATIVE` (made through the API) or `DECLARATIVE` (declared by a task).
    pub kind: String,
    /// The task it triggers.
    pub task: String,
    /// Whether it ticks.
    pub active: bool,
    /// The key it was created with (imperative schedules).
    pub deduplication_key: Option<String>,
    /// Your own id for it.
    pub external_id: Option<String>,
    /// Its pattern.
    pub generator: Generator,
    /// IANA time zone of the pattern.
    pub timezone: String,
    /// Its jitter window (`"30m"`, `"2h"`, `"30%"`), if any.
    pub window: Option<String>,
    /// The next tick's cron (nominal) time; `None` when inactive or when there is none.
    pub next_run: Option<DateTime<Utc>>,
    /// When the next tick fires (its cron time plus the window's offset; the cron time
    /// without a window).
    pub next_run_effective_at: Option<DateTime<Utc>>,
    /// The members each run's payload gets beside the scheduled ones, if any.
    pub payload: Option<Value>,
    /// Each run's metadata, if any.
    pub metadata: Option<Value>,
    /// Each run's machine preset, if any.
    pub machine: Option<String>,
    /// The tags added to each run (sorted).
    pub tags: Vec<String>,
}

/// Which schedules [`Schedules::list_filtered`] returns: all by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleFilter {
    tag: Option<String>,
    active: Option<bool>,
}

impl ScheduleFilter {
    /// Every schedule.
    pub fn new() -> ScheduleFilter {
        ScheduleFilter::default()
    }
    /// Only the schedules carrying `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
    /// Only the active (`true`) or the inactive (`false`) schedules.
    pub fn active(mut self, active: bool) -> Self {
        self.active = Some(active);
        self
    }
    fn query(&self) -> String {
        let mut q = String::new();
        if let Some(tag) = &self.tag {
            q.push_str(&format!("&tag={}", encode(tag)));
        }
        if let Some(active) = self.active {
            q.push_str(&format!("&active={active}"));
        }
        q
    }
}

impl From<wire::Schedule> for Schedule {
    fn from(s: wire::Schedule) -> Schedule {
        Schedule {
            id: s.id,
            kind: s.kind,
            task: s.task,
            active: s.active,
            deduplication_key: s.deduplication_key,
            external_id: s.external_id,
            generator: s.generator,
            timezone: s.timezone,
            window: s.window,
            next_run: s.next_run.map(|t| t.to_datetime()),
            next_run_effective_at: s.next_run_effective_at.map(|t| t.to_datetime()),
            payload: s.payload,
            metadata: s.metadata,
            machine: s.machine,
            tags: s.tags,
        }
    }
}

/// One page of schedules, oldest first.
#[derive(Clone, Debug)]
pub struct SchedulePage {
    /// The schedules.
    pub data: Vec<Schedule>,
    /// This page, from 1.
    pub current_page: u64,
    /// How many pages there are.
    pub total_pages: u64,
    /// How many schedules there are.
    pub count: u64,
}

fn path(id: &str) -> String {
    format!("/api/v1/schedules/{}", encode(id))
}

impl Schedules {
    /// Creates a schedule, or updates the one with the same `deduplication_key`.
    pub async fn create(
        &self,
        deduplication_key: impl Into<String>,
        options: ScheduleOptions,
    ) -> Result<Schedule> {
        let mut body = options.to_json();
        body["deduplicationKey"] = json!(deduplication_key.into());
        self.http
            .call(
                Method::POST,
                "/api/v1/schedules",
                Some(&body),
                Tries::Transient,
            )
            .await
    }

    /// A schedule by id (`sched_…`) or deduplication key.
    pub async fn retrieve(&self, id: &str) -> Result<Schedule> {
        self.http
            .call(Method::GET, &path(id), None, Tries::Transient)
            .await
    }

    /// One page (from 1) of the environment's schedules, `per_page` (1–100) at a time.
    pub async fn list(&self, page: u32, per_page: u32) -> Result<SchedulePage> {
        self.list_filtered(&ScheduleFilter::new(), page, per_page)
            .await
    }

    /// One page (from 1) of the schedules `filter` lets through, `per_page` (1–100) at a
    /// time.
    pub async fn list_filtered(
        &self,
        filter: &ScheduleFilter,
        page: u32,
        per_page: u32,
    ) -> Result<SchedulePage> {
        let path = format!(
            "/api/v1/schedules?page={page}&perPage={per_page}{}",
            filter.query()
        );
        let list: wire::ScheduleList = self
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await?;
        Ok(SchedulePage {
            current_page: list.pagination.current_page,
            total_pages: list.pagination.total_pages,
            count: u64::try_from(list.pagination.count).unwrap_or_default(),
            data: list.data.into_iter().map(Schedule::from).collect(),
        })
    }

    /// Sets the task and pattern of a schedule, and the time zone, external id and window
    /// given (`no_window`, `no_external_id` remove them); what is not given stays.
    pub async fn update(&self, id: &str, options: ScheduleOptions) -> Result<Schedule> {
        self.http
            .call(
                Method::PUT,
                &path(id),
                Some(&options.to_json()),
                Tries::Transient,
            )
            .await
    }

    /// Deletes a schedule made through the API; returns its id.
    pub async fn delete(&self, id: &str) -> Result<String> {
        let answer = self
            .http
            .send(Method::DELETE, &path(id), None, Tries::Once)
            .await?;
        Ok(answer["id"].as_str().unwrap_or(id).to_string())
    }

    /// Makes a schedule tick again, from its next tick after now.
    pub async fn activate(&self, id: &str) -> Result<Schedule> {
        let path = format!("{}/activate", path(id));
        self.http
            .call(Method::POST, &path, None, Tries::Transient)
            .await
    }

    /// Stops a schedule from ticking.
    pub async fn deactivate(&self, id: &str) -> Result<Schedule> {
        let path = format!("{}/deactivate", path(id));
        self.http
            .call(Method::POST, &path, None, Tries::Transient)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_reference() {
        let o = ScheduleOptions::new("report", "0 9 * * 1-5")
            .timezone("Europe/Paris")
            .external_id("u1")
            .window("30m");
        assert_eq!(
            o.to_json(),
            json!({"task": "report", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris",
                   "externalId": "u1", "window": "30m"})
        );
        assert!(ScheduleOptions::new("t", "* * * * *")
            .to_json()
            .get("window")
            .is_none());
        let o = ScheduleOptions::new("t", "* * * * *")
            .payload(json!({"a": 1}))
            .metadata(json!({"b": 2}))
            .machine("micro")
            .tags(["x", "y"]);
        assert_eq!(
            o.to_json(),
            json!({"task": "t", "cron": "* * * * *", "payload": {"a": 1}, "metadata": {"b": 2},
                   "machine": "micro", "tags": ["x", "y"]})
        );
        assert_eq!(
            ScheduleFilter::new().tag("a b").active(false).query(),
            "&tag=a%20b&active=false"
        );
        assert_eq!(ScheduleFilter::new().query(), "");
    }

    #[test]
    fn a_schedule_reads_with_and_without_a_window() {
        let s: Schedule = serde_json::from_value(json!({
            "id": "sched_1", "type": "IMPERATIVE", "task": "t", "active": true,
            "deduplicationKey": "k", "externalId": null,
            "generator": {"type": "CRON", "expression": "0 * * * *", "description": "Every hour"},
            "timezone": "UTC", "window": "2h",
            "nextRun": "2026-01-01T01:00:00.000Z", "nextRunEffectiveAt": "2026-01-01T01:12:00.000Z",
            "environments": []
        }))
        .expect("schedule");
        assert_eq!(s.window.as_deref(), Some("2h"));
        assert_eq!(
            s.next_run_effective_at.unwrap() - s.next_run.unwrap(),
            chrono::Duration::minutes(12)
        );
        let s: Schedule = serde_json::from_value(json!({
            "id": "sched_1", "type": "DECLARATIVE", "task": "t", "active": false,
            "deduplicationKey": null, "externalId": null,
            "generator": {"type": "CRON", "expression": "0 * * * *", "description": "Every hour"},
            "timezone": "UTC", "nextRun": null, "nextRunEffectiveAt": null, "environments": []
        }))
        .expect("schedule");
        assert_eq!(s.window, None);
        assert_eq!(s.next_run_effective_at, None);
    }
}
