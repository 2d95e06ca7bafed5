//! Queues (`/api/v1/queues…`): list them with their counts, pause and resume them, override
//! and reset their concurrency limit — and make, edit and delete queues of your own.
//!
//! A queue is **defined in code** when a trigger or a deployment named it (every task has its
//! own, `task/<id>`): pausing it and overriding its limit work, but it cannot be renamed,
//! edited or deleted here (`409`). A queue made with [`Queues::create`] is marked
//! `source: "api"`; it can be edited ([`Queues::update`]) and deleted ([`Queues::delete`]).
//! A deletion is refused (`409`) while runs of the queue are not finished, unless forced:
//! then those runs move to their task's own queue.
//!
//! A queue is named by its id (`queue_…`), a task id (its task queue) or a custom queue's
//! name; the client encodes the name for the path.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use trigr_sdk::queues::{NewQueue, QueueChanges, QueueList};
//! let queues = client.queues();
//! let q = queues
//!     .create(NewQueue::new("reports").concurrency_limit(5).tags(["team-data"]))
//!     .await?;
//! queues.update(&q.id, QueueChanges::new().description("Nightly reports")).await?;
//! let tagged = queues.list(QueueList::new().tag("team-data")).await?;
//! assert_eq!(tagged.data.len(), 1);
//! queues.delete(&q.id, true).await?;
//! # Ok(()) }
//! ```

use reqwest::Method;
use serde_json::{json, Map, Value};
use trigr_types::wire::manage as wire;
pub use trigr_types::wire::manage::{Queue, QueueConcurrency, QueueDeleted};

use crate::error::Result;
use crate::http::{encode, Http, Tries};

/// The queues API of one client ([`Client::queues`](crate::Client::queues)).
#[derive(Clone, Debug)]
pub struct Queues {
    pub(crate) http: Http,
}

/// A queue to make: a name, and optionally a concurrency limit, a description and tags.
#[derive(Clone, Debug)]
pub struct NewQueue {
    fields: Map<String, Value>,
}

impl NewQueue {
    /// A queue named `name` (1 to 128 bytes; not starting with `task/` or `queue_`).
    pub fn new(name: impl Into<String>) -> NewQueue {
        let mut fields = Map::new();
        fields.insert("name".into(), json!(name.into()));
        NewQueue { fields }
    }
    /// At most `limit` runs of the queue at once (0 to 100000, at most the environment's).
    pub fn concurrency_limit(mut self, limit: i64) -> Self {
        self.fields.insert("concurrencyLimit".into(), json!(limit));
        self
    }
    /// What the queue is for (at most 1024 bytes).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.fields.insert("description".into(), json!(text.into()));
        self
    }
    /// Its tags (at most 10), to list queues by.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.fields.insert("tags".into(), json!(tags));
        self
    }
}

/// What to change on a queue made through the API; what is not given stays.
#[derive(Clone, Debug, Default)]
pub struct QueueChanges {
    fields: Map<String, Value>,
}

impl QueueChanges {
    pub fn new() -> QueueChanges {
        QueueChanges::default()
    }
    /// A new name (its runs carry it too).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.fields.insert("name".into(), json!(name.into()));
        self
    }
    /// A new concurrency limit.
    pub fn concurrency_limit(mut self, limit: i64) -> Self {
        self.fields.insert("concurrencyLimit".into(), json!(limit));
        self
    }
    /// Removes the queue's own limit: only the environment's applies.
    pub fn no_concurrency_limit(mut self) -> Self {
        self.fields.insert("concurrencyLimit".into(), Value::Null);
        self
    }
    /// A new description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.fields.insert("description".into(), json!(text.into()));
        self
    }
    /// Removes the description.
    pub fn no_description(mut self) -> Self {
        self.fields.insert("description".into(), Value::Null);
        self
    }
    /// Replaces the tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.fields.insert("tags".into(), json!(tags));
        self
    }
}

/// Which page of queues to list, and which queues.
#[derive(Clone, Debug)]
pub struct QueueList {
    page: u32,
    per_page: u32,
    tag: Option<String>,
}

impl Default for QueueList {
    fn default() -> QueueList {
        QueueList {
            page: 1,
            per_page: 25,
            tag: None,
        }
    }
}

impl QueueList {
    /// The first page of 25.
    pub fn new() -> QueueList {
        QueueList::default()
    }
    /// The page, from 1.
    pub fn page(mut self, page: u32) -> Self {
        self.page = page;
        self
    }
    /// Queues a page (1 to 100).
    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = per_page;
        self
    }
    /// Only the queues carrying `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
    fn query(&self) -> String {
        let mut q = format!("page={}&perPage={}", self.page, self.per_page);
        if let Some(tag) = &self.tag {
            q.push_str(&format!("&tag={}", encode(tag)));
        }
        q
    }
}

/// One page of queues, in name order.
#[derive(Clone, Debug)]
pub struct QueuePage {
    pub data: Vec<Queue>,
    /// This page, from 1.
    pub current_page: u64,
    /// How many pages there are.
    pub total_pages: u64,
    /// How many queues there are (carrying the tag, when one was given).
    pub count: u64,
}

/// The path of a queue: the name encoded twice, as the server reads it.
fn path(queue: &str) -> String {
    format!("/api/v1/queues/{}", encode(&encode(queue)))
}

impl Queues {
    /// Makes a queue, marked as made through the API. A queue of that name already is `409`.
    pub async fn create(&self, queue: NewQueue) -> Result<Queue> {
        self.http
            .call(
                Method::POST,
                "/api/v1/queues",
                Some(&Value::Object(queue.fields)),
                Tries::Once,
            )
            .await
    }

    /// A queue with its counts, by id, task id or custom queue name.
    pub async fn retrieve(&self, queue: &str) -> Result<Queue> {
        self.http
            .call(Method::GET, &path(queue), None, Tries::Transient)
            .await
    }

    /// A page of the environment's queues.
    pub async fn list(&self, list: QueueList) -> Result<QueuePage> {
        let path = format!("/api/v1/queues?{}", list.query());
        let page: wire::QueueList = self
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await?;
        Ok(QueuePage {
            current_page: page.pagination.current_page,
            total_pages: page.pagination.total_pages,
            count: u64::try_from(page.pagination.count).unwrap_or_default(),
            data: page.data,
        })
    }

    /// Changes a queue made through the API; a queue defined in code is `409`.
    pub async fn update(&self, queue: &str, changes: QueueChanges) -> Result<Queue> {
        self.http
            .call(
                Method::PATCH,
                &path(queue),
                Some(&Value::Object(changes.fields)),
                Tries::Transient,
            )
            .await
    }

    /// Deletes a queue made through the API. While runs of it are not finished this is `409`,
    /// unless `force` moves them to their task's own queue.
    pub async fn delete(&self, queue: &str, force: bool) -> Result<QueueDeleted> {
        let path = format!("{}?force={force}", path(queue));
        self.http
            .call(Method::DELETE, &path, None, Tries::Once)
            .await
    }

    /// Stops runs of the queue from starting (running ones go on; triggers are accepted).
    pub async fn pause(&self, queue: &str) -> Result<Queue> {
        self.pause_action(queue, "pause").await
    }

    /// Lets runs of a paused queue start again.
    pub async fn resume(&self, queue: &str) -> Result<Queue> {
        self.pause_action(queue, "resume").await
    }

    async fn pause_action(&self, queue: &str, action: &str) -> Result<Queue> {
        let path = format!("{}/pause", path(queue));
        let body = json!({ "action": action });
        self.http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await
    }

    /// Replaces the queue's limit with `limit` until reset (any queue, code or API).
    pub async fn override_concurrency_limit(&self, queue: &str, limit: i64) -> Result<Queue> {
        let path = format!("{}/concurrency/override", path(queue));
        let body = json!({ "concurrencyLimit": limit });
        self.http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await
    }

    /// Removes an override: the queue's own limit applies again.
    pub async fn reset_concurrency_limit(&self, queue: &str) -> Result<Queue> {
        let path = format!("{}/concurrency/reset", path(queue));
        self.http
            .call(Method::POST, &path, Some(&json!({})), Tries::Transient)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_twice_and_lists_carry_the_tag() {
        assert_eq!(path("my/queue"), "/api/v1/queues/my%252Fqueue");
        assert_eq!(
            QueueList::new().page(2).per_page(10).tag("a b").query(),
            "page=2&perPage=10&tag=a%20b"
        );
        let c = QueueChanges::new().no_concurrency_limit().tags(["x"]);
        assert_eq!(
            Value::Object(c.fields),
            json!({"concurrencyLimit": null, "tags": ["x"]})
        );
    }
}
