//! The environment's metadata store (`/api/v1/env-metadata/…`): named JSON values that belong
//! to the environment — shared settings, request context, feature switches — kept until
//! deleted, or until a time to live passes when set with one.
//!
//! **Not a run's metadata.** A run's metadata ([`Metadata`](crate::Metadata),
//! `ctx.metadata`) belongs to one run: it is sent to the run's worker and realtime
//! subscribers, changes with the run and is deleted with it. An environment's metadata
//! belongs to no run, is read and written by key from anywhere that holds a key of the
//! environment, and outlives every run.
//!
//! Keys and values have the cache's limits ([`cache`](crate::cache)).
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use std::time::Duration;
//! let metadata = client.env_metadata();
//! metadata.set("request-context", &serde_json::json!({"orgId": "org-456"}), None).await?;
//! metadata.set("user-session", &true, Some(Duration::from_secs(3600))).await?;
//! let context: Option<serde_json::Value> = metadata.get("request-context").await?;
//! assert!(metadata.has("request-context").await?);
//! metadata.delete("request-context").await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use trigr_types::wire::kv as wire;

use super::cache::{
    delete_entry, from_value, get_entry, lookup, put_entry, to_value, ttl_secs, Entry,
};
use crate::error::Result;
use crate::http::{Http, Tries};

const ENV_METADATA: &str = "/api/v1/env-metadata";

/// The environment metadata API of one client
/// ([`Client::env_metadata`](crate::Client::env_metadata)).
#[derive(Clone, Debug)]
pub struct EnvMetadata {
    pub(crate) http: Http,
}

impl EnvMetadata {
    /// Stores `value` under `key`, replacing any entry of the key; kept until deleted, or for
    /// `ttl` when given (whole seconds, a fraction rounded up).
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let body = wire::KvSetBody {
            value: to_value(key, value)?,
            ttl: ttl.map(ttl_secs),
            if_not_exists: None,
        };
        put_entry(&self.http, ENV_METADATA, key, &body, Tries::Transient).await?;
        Ok(())
    }

    /// The value under `key`, read as `T`; `None` when no live entry has the key.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match get_entry(&self.http, ENV_METADATA, key).await? {
            Some(e) => Ok(Some(from_value(key, e.value)?)),
            None => Ok(None),
        }
    }

    /// The entry under `key` with its expiry; `None` when no live entry has the key.
    pub async fn get_entry(&self, key: &str) -> Result<Option<Entry>> {
        get_entry(&self.http, ENV_METADATA, key).await
    }

    /// Whether a live entry has `key` (its value is not sent).
    pub async fn has(&self, key: &str) -> Result<bool> {
        Ok(!lookup(&self.http, ENV_METADATA, &[key], false)
            .await?
            .is_empty())
    }

    /// Deletes the entry under `key`; whether a live one was there.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        delete_entry(&self.http, ENV_METADATA, key).await
    }
}
