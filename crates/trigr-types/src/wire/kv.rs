//! The bodies of an environment's key-value APIs: the cache (`/api/v1/cache/…`) and the
//! environment's metadata store (`/api/v1/env-metadata/…`). Values are any JSON; a time to
//! live (`ttl`) is a whole number of seconds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

/// Body of `PUT /api/v1/cache/entries/{key}` and `PUT /api/v1/env-metadata/entries/{key}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"value": {"worker": "w-1"}, "ttl": 300, "ifNotExists": true}))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvSetBody {
    /// Any JSON value.
    pub value: Value,
    /// Seconds until the entry expires: required in the cache, optional in the metadata store
    /// (kept until deleted without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Write only if no live entry holds the key (a lock: of concurrent writers exactly one
    /// writes). The cache only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_not_exists: Option<bool>,
}

/// One entry of a [`KvSetManyBody`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvSetItem {
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// Seconds until the entry expires.
    pub ttl: i64,
}

/// Body of `POST /api/v1/cache/set`: entries written all together or not at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"entries": [{"key": "config:endpoint", "value": "https://api.example.com", "ttl": 86400}]}))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvSetManyBody {
    pub entries: Vec<KvSetItem>,
}

/// Body of `POST /api/v1/cache/lookup`, `POST /api/v1/cache/delete` and
/// `POST /api/v1/env-metadata/lookup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"keys": ["config:api-key", "config:endpoint"]}))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvKeysBody {
    pub keys: Vec<String>,
    /// In a lookup, whether to answer with the values (default) or only with which keys
    /// have an entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<bool>,
}

/// An entry, as a read answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KvEntry {
    pub key: String,
    /// The value (left out of a lookup without values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// When it expires; absent when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Answer of a lookup: the keys asked for that have a live entry, in the order asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KvEntries {
    pub entries: Vec<KvEntry>,
}

/// Answer of a `PUT` of one entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KvWritten {
    pub key: String,
    /// False only with `ifNotExists`, when a live entry held the key (it is unchanged).
    pub written: bool,
    /// When the entry written expires; absent when it does not, or when nothing was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Answer of `POST /api/v1/cache/set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KvWrittenMany {
    /// How many entries were written (all of them).
    pub written: u64,
}

/// Answer of a delete: how many of the keys had a live entry (now deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KvDeleted {
    pub deleted: u64,
}
