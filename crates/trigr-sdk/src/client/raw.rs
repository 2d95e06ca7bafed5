//! Requests to any endpoint of the management API by its path, for what the typed methods of
//! [`Client`] do not cover: they send the client's key and API version, read the JSON answer
//! and turn error answers into [`Error::Api`](crate::Error::Api) like every other call.
//!
//! `path` starts with `/` and may carry a query string (`/api/v1/queues?page=2`); its
//! segments and query values must already be percent-encoded. A `GET` is retried under the
//! client's [`RetryConfig`](crate::client::RetryConfig). A `POST`, `PUT` or `DELETE` is sent
//! once, since the client cannot know whether that endpoint is safe to repeat (a `PUT` of
//! metadata operations may increment or append); for a `PUT` or `DELETE` the caller knows to
//! be idempotent, [`Client::put_json_repeatable`] and [`Client::delete_json_repeatable`] retry.

use reqwest::Method;
use serde_json::Value;

use super::Client;
use crate::error::Result;
use crate::http::{EventStream, Tries};

impl Client {
    /// `GET path`: the JSON body of the success answer (`null` when the body is empty).
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        self.http
            .send(Method::GET, path, None, Tries::Transient)
            .await
    }

    /// `POST path`, with a JSON body or with none: the JSON body of the success answer.
    pub async fn post_json(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.http.send(Method::POST, path, body, Tries::Once).await
    }

    /// `PUT path` with a JSON body, sent once: the JSON body of the success answer.
    pub async fn put_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.http
            .send(Method::PUT, path, Some(body), Tries::Once)
            .await
    }

    /// `PUT path` with a JSON body the caller knows is idempotent, so it is retried under the
    /// client's [`RetryConfig`](crate::client::RetryConfig): the JSON body of the success answer.
    pub async fn put_json_repeatable(&self, path: &str, body: &Value) -> Result<Value> {
        self.http
            .send(Method::PUT, path, Some(body), Tries::Transient)
            .await
    }

    /// `DELETE path`, sent once: the JSON body of the success answer.
    pub async fn delete_json(&self, path: &str) -> Result<Value> {
        self.http
            .send(Method::DELETE, path, None, Tries::Once)
            .await
    }

    /// `DELETE path` the caller knows is idempotent, so it is retried under the client's
    /// [`RetryConfig`](crate::client::RetryConfig): the JSON body of the success answer.
    pub async fn delete_json_repeatable(&self, path: &str) -> Result<Value> {
        self.http
            .send(Method::DELETE, path, None, Tries::Transient)
            .await
    }

    /// Opens `GET path` as a server-sent event stream, resuming after `last_event_id` (sent as
    /// `Last-Event-ID`). An error answer fails here; a success gives the body to read event by
    /// event, with no time limit. For the typed, reconnecting subscriptions of runs and
    /// batches, see [`realtime`](crate::realtime).
    pub async fn open_events(&self, path: &str, last_event_id: Option<i64>) -> Result<EventStream> {
        self.http.open_events(path, last_event_id).await
    }
}
