//! The bodies of the environment variable APIs: Trigger.dev's `envvars` routes
//! (`/api/v1/projects/{ref}/envvars/{slug}/…`) and the route tasks read their environment's
//! values through (`/api/v1/worker/env-vars`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A variable in list and retrieve answers; a secret one's value is `<redacted>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"name": "API_URL", "value": "https://api.example.com", "isSecret": false}))
)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarValue {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_secret: bool,
}

/// Body of `POST /api/v1/projects/{ref}/envvars/{slug}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"name": "API_KEY", "value": "s3cret", "isSecret": true}))
)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarCreateBody {
    /// Letters, digits and `_`, not starting with a digit, at most 256 bytes.
    pub name: String,
    /// At most 64 KiB.
    pub value: String,
    /// Redact the value in list and retrieve answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secret: Option<bool>,
}

/// Body of `PUT /api/v1/projects/{ref}/envvars/{slug}/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"value": "https://api.example.com/v2"}))
)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarUpdateBody {
    /// At most 64 KiB.
    pub value: String,
}

/// Body of `POST /api/v1/projects/{ref}/envvars/{slug}/import`: every variable is written, or
/// none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"variables": {"API_URL": "https://api.example.com", "REGION": "eu"}, "override": true}))
)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarImportBody {
    /// Names and values, at most 500.
    pub variables: BTreeMap<String, String>,
    /// Replace the values of existing variables (default false: they keep theirs).
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_existing: Option<bool>,
    /// Mark every imported variable secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_secret: Option<bool>,
    /// A preview branch's parent variables: trigr has no preview branches, so only an empty
    /// map is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_variables: Option<BTreeMap<String, String>>,
    /// Where the variables came from (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

/// The answer of create, update, delete and import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVarSuccess {
    /// Always true.
    pub success: bool,
}

/// The answer of `GET /api/v1/worker/env-vars`: every variable of the key's environment with
/// its value, secret ones included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVarValues {
    pub variables: BTreeMap<String, String>,
}
