//! Input streams: typed data sent to a running task from outside.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use trigr_sdk::streams::{self, SendOptions};
//! # use trigr_sdk::IfVersion;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Approval { approved: bool }
//!
//! # async fn demo(ctx: trigr_sdk::Context, client: trigr_sdk::Client, run_id: &str)
//! # -> Result<(), trigr_sdk::TaskError> {
//! let approvals = streams::input::<Approval>("approval");
//!
//! // Inside the task: suspend until a message comes (or a day passes).
//! let answer = approvals.wait(&ctx, Duration::from_secs(86_400)).await?;
//!
//! // Anywhere else: send one, only if the run is on a version that understands it.
//! approvals
//!     .send(&client, run_id, &Approval { approved: true },
//!           SendOptions::new().if_version(IfVersion::matching(">=20250101.1")))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! **Messages are kept.** The server stores every message of a run's stream, numbered 1, 2,
//! 3, … in order of arrival. One sent before the task listens is read when it does; none is
//! lost while the run is suspended or between attempts.
//!
//! **Each consumer reads every message once, across replays.**
//! - [`once`](InputStream::once) and [`wait`](InputStream::wait) are durable waits at a journal
//!   position: the n-th call on a stream consumes the n-th message, and a re-executed run gets
//!   the same message back at the same call. A call that times out consumes nothing.
//! - Each [`on`](InputStream::on) handler is a consumer with a position kept by the server:
//!   it is called for every message in order, from the first one, and a message it finished is
//!   never handed to it again (a handler cut short by a crash sees the message again).
//!
//! `on` handlers and `once`/`wait` calls read independently: each sees every message.

mod listen;

use std::marker::PhantomData;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use listen::InputListener;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::http::{encode, Tries};
use crate::version::{resolve, IfVersion};

/// The input stream `id`, carrying messages of type `T`.
pub fn input<T>(id: impl Into<String>) -> InputStream<T> {
    InputStream {
        id: id.into(),
        kind: PhantomData,
    }
}

/// A named input stream of messages of type `T` (see the [module docs](self)).
pub struct InputStream<T> {
    id: String,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for InputStream<T> {
    fn clone(&self) -> Self {
        input(self.id.clone())
    }
}

impl<T> std::fmt::Debug for InputStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream").field("id", &self.id).finish()
    }
}

/// Options of [`InputStream::send`].
#[derive(Clone, Debug, Default)]
pub struct SendOptions {
    if_version: Option<IfVersion>,
}

impl SendOptions {
    /// No options: the message is delivered whatever the run's version.
    pub fn new() -> SendOptions {
        SendOptions::default()
    }

    /// Deliver only if the run is on a matching version; otherwise nothing is delivered and
    /// the send fails with [`Error::VersionMismatch`].
    pub fn if_version(mut self, guard: impl Into<IfVersion>) -> Self {
        self.if_version = Some(guard.into());
        self
    }
}

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    /// Its number on the stream (1, 2, 3, …).
    pub seq: i64,
    /// The version the run is locked to (`None` before it has one).
    #[serde(default)]
    pub run_version: Option<String>,
}

impl<T> InputStream<T> {
    /// The stream's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl<T: Serialize> InputStream<T> {
    /// Sends `data` to the run's stream. The run must not have finished (the server answers
    /// `400` then); a guard in `options` that does not hold fails with
    /// [`Error::VersionMismatch`] and delivers nothing.
    pub async fn send(
        &self,
        client: &Client,
        run_id: &str,
        data: &T,
        options: SendOptions,
    ) -> Result<Sent> {
        let data = serde_json::to_value(data).map_err(|e| Error::json("the message", e))?;
        let mut body = json!({ "data": data });
        if let Some(guard) = &options.if_version {
            let actual = match guard {
                IfVersion::Predicate(_) => client.retrieve_run(run_id).await?.version,
                IfVersion::Expression(_) => None,
            };
            body["ifVersion"] = json!(resolve(guard, Some(run_id), actual.as_deref())?);
        }
        let path = format!(
            "/realtime/v1/streams/{}/input/{}",
            encode(run_id),
            encode(&self.id)
        );
        // Not repeated on a lost answer: a second send would be a second message.
        client
            .http
            .call(Method::POST, &path, Some(&body), Tries::Once)
            .await
    }
}
