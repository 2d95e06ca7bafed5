//! The environment's cache (`/api/v1/cache/…`): JSON values under string keys, each with a
//! time to live, shared by everything that holds a key of the environment — other services,
//! and tasks through [`Context::cache`](crate::Context::cache).
//!
//! [`Cache`] reads ([`get`](Cache::get), [`get_many`](Cache::get_many),
//! [`has`](Cache::has)), writes ([`set`](Cache::set), [`set_many`](Cache::set_many), all or
//! nothing), deletes ([`delete`](Cache::delete), [`delete_many`](Cache::delete_many)), and
//! takes locks ([`set_if_not_exists`](Cache::set_if_not_exists): of any number of concurrent
//! callers, on any server of the database, exactly one gets `true`).
//!
//! Limits, checked by the server: a key is 1 to 512 bytes without control characters; a
//! value is at most 256 KiB of JSON (`413` beyond); a time to live is whole seconds from 1 to
//! a year (a fraction of a second is rounded up); one call names at most 100 keys. An entry is
//! gone the moment its time to live has passed.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use std::time::Duration;
//! let cache = client.cache();
//! cache.set("user:profile:123", &serde_json::json!({"name": "Ada"}), Duration::from_secs(3600)).await?;
//! let profile: Option<serde_json::Value> = cache.get("user:profile:123").await?;
//! if cache.set_if_not_exists("job:lock:123", &"worker-1", Duration::from_secs(300)).await? {
//!     // this caller holds the lock for five minutes, or until it deletes the key
//!     cache.delete("job:lock:123").await?;
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use trigr_types::wire::kv as wire;

use crate::error::{Error, Result};
use crate::http::{encode, Http, Tries};

const CACHE: &str = "/api/v1/cache";

/// An entry as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    /// The value.
    pub value: Value,
    /// When it expires; `None` when it does not.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Entry {
    pub(crate) fn from_wire(e: wire::KvEntry) -> Entry {
        Entry {
            key: e.key,
            value: e.value.unwrap_or(Value::Null),
            expires_at: e.expires_at.map(|t| t.to_datetime()),
        }
    }
}

/// One entry of [`Cache::set_many`].
#[derive(Clone, Debug, PartialEq)]
pub struct CacheItem {
    key: String,
    value: Value,
    ttl: Duration,
}

impl CacheItem {
    /// `value` under `key` for `ttl`.
    pub fn new<T: Serialize + ?Sized>(
        key: impl Into<String>,
        value: &T,
        ttl: Duration,
    ) -> Result<CacheItem> {
        let key = key.into();
        Ok(CacheItem {
            value: to_value(&key, value)?,
            key,
            ttl,
        })
    }
}

/// The cache API of one client ([`Client::cache`](crate::Client::cache)).
#[derive(Clone, Debug)]
pub struct Cache {
    pub(crate) http: Http,
}

/// A time to live as whole seconds, a fraction rounded up.
pub(crate) fn ttl_secs(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

pub(crate) fn to_value<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|source| Error::Json {
        what: format!("the value of key '{key}'"),
        source,
    })
}

pub(crate) fn from_value<T: DeserializeOwned>(key: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|source| Error::Json {
        what: format!("the value of key '{key}'"),
        source,
    })
}

/// The path of one key's entry under `base`.
pub(crate) fn entry_path(base: &str, key: &str) -> String {
    format!("{base}/entries/{}", encode(key))
}

/// The live entry of `key` under `base`, `None` when there is none. Read through the lookup
/// route, so that a miss is an answer (not a failed call in the request metrics), and a bad
/// key (empty, say) is the server's 400 rather than a route it does not have.
pub(crate) async fn get_entry(http: &Http, base: &str, key: &str) -> Result<Option<Entry>> {
    let found = lookup(http, base, &[key], true).await?;
    Ok(found
        .into_iter()
        .find(|e| e.key == key)
        .map(Entry::from_wire))
}

/// The keys of `keys` with a live entry under `base`, with values or without.
pub(crate) async fn lookup(
    http: &Http,
    base: &str,
    keys: &[&str],
    values: bool,
) -> Result<Vec<wire::KvEntry>> {
    let body = wire::KvKeysBody {
        keys: keys.iter().map(|k| k.to_string()).collect(),
        values: (!values).then_some(false),
    };
    let body = serde_json::to_value(&body).expect("the body always serializes");
    let path = format!("{base}/lookup");
    let found: wire::KvEntries = http
        .call(Method::POST, &path, Some(&body), Tries::Transient)
        .await?;
    Ok(found.entries)
}

/// Writes one entry under `base`; whether it was written.
pub(crate) async fn put_entry(
    http: &Http,
    base: &str,
    key: &str,
    body: &wire::KvSetBody,
    tries: Tries,
) -> Result<bool> {
    let body = serde_json::to_value(body).expect("the body always serializes");
    let written: wire::KvWritten = http
        .call(Method::PUT, &entry_path(base, key), Some(&body), tries)
        .await?;
    Ok(written.written)
}

/// Deletes one entry under `base`; whether a live one was there.
pub(crate) async fn delete_entry(http: &Http, base: &str, key: &str) -> Result<bool> {
    let deleted: wire::KvDeleted = http
        .call(Method::DELETE, &entry_path(base, key), None, Tries::Once)
        .await?;
    Ok(deleted.deleted > 0)
}

impl Cache {
    /// Stores `value` under `key` for `ttl`, replacing any entry of the key.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<()> {
        let body = wire::KvSetBody {
            value: to_value(key, value)?,
            ttl: Some(ttl_secs(ttl)),
            if_not_exists: None,
        };
        put_entry(&self.http, CACHE, key, &body, Tries::Transient).await?;
        Ok(())
    }

    /// Stores `value` under `key` for `ttl` only if no live entry holds the key: a lock.
    /// Exactly one of any number of concurrent callers gets `true`; the others get `false`
    /// and change nothing. The lock is released by [`Cache::delete`] or when `ttl` passes.
    pub async fn set_if_not_exists<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool> {
        let body = wire::KvSetBody {
            value: to_value(key, value)?,
            ttl: Some(ttl_secs(ttl)),
            if_not_exists: Some(true),
        };
        // Sent once: a repeat after a lost answer would find the caller's own entry.
        put_entry(&self.http, CACHE, key, &body, Tries::Once).await
    }

    /// The value under `key`, read as `T`; `None` when no live entry has the key.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match get_entry(&self.http, CACHE, key).await? {
            Some(e) => Ok(Some(from_value(key, e.value)?)),
            None => Ok(None),
        }
    }

    /// The entry under `key` with its expiry; `None` when no live entry has the key.
    pub async fn get_entry(&self, key: &str) -> Result<Option<Entry>> {
        get_entry(&self.http, CACHE, key).await
    }

    /// The live entries of these keys (at most 100, distinct), in the order asked; keys
    /// without one are left out.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Entry>> {
        let found = lookup(&self.http, CACHE, keys, true).await?;
        Ok(found.into_iter().map(Entry::from_wire).collect())
    }

    /// Whether a live entry has `key` (its value is not sent).
    pub async fn has(&self, key: &str) -> Result<bool> {
        Ok(!lookup(&self.http, CACHE, &[key], false).await?.is_empty())
    }

    /// Stores the entries (at most 100, keys distinct) in one transaction: all of them or,
    /// when the server refuses one, none.
    pub async fn set_many(&self, items: &[CacheItem]) -> Result<u64> {
        let body = wire::KvSetManyBody {
            entries: items
                .iter()
                .map(|i| wire::KvSetItem {
                    key: i.key.clone(),
                    value: i.value.clone(),
                    ttl: ttl_secs(i.ttl),
                })
                .collect(),
        };
        let body = serde_json::to_value(&body).expect("the body always serializes");
        let path = format!("{CACHE}/set");
        let written: wire::KvWrittenMany = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await?;
        Ok(written.written)
    }

    /// Deletes the entry under `key`; whether a live one was there.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        delete_entry(&self.http, CACHE, key).await
    }

    /// Deletes the entries of these keys (at most 100, distinct) in one transaction; how
    /// many were alive.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let body = wire::KvKeysBody {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            values: None,
        };
        let body = serde_json::to_value(&body).expect("the body always serializes");
        let path = format!("{CACHE}/delete");
        let deleted: wire::KvDeleted = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Once)
            .await?;
        Ok(deleted.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_seconds_rounded_up() {
        assert_eq!(ttl_secs(Duration::from_secs(10)), 10);
        assert_eq!(ttl_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
        assert_eq!(ttl_secs(Duration::ZERO), 0);
    }

    #[test]
    fn keys_are_one_path_segment() {
        assert_eq!(
            entry_path(CACHE, "a/b c"),
            "/api/v1/cache/entries/a%2Fb%20c"
        );
    }
}
