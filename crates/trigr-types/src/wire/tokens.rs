//! The answers of the wait token API (reference §4.2).

use serde::{Deserialize, Serialize};

use super::common::CursorPagination;
use super::Timestamp;

/// Answer of `POST /api/v1/waitpoints/tokens`: a new wait token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    pub id: String,
    /// `true` when the idempotency key named an existing token.
    pub is_cached: bool,
    /// The token's callback URL.
    pub url: String,
}

/// Answer of a token's completion (the REST call or its callback URL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenCompleted {
    pub success: bool,
    /// `true` when the token was already done; nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub already_completed: Option<bool>,
    /// The version of the run that was waiting, `null` when none was.
    pub run_version: Option<String>,
}

/// A wait token, as retrieve and list show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// `waitpoint_…`.
    pub id: String,
    /// The token's callback URL.
    pub url: String,
    /// `WAITING`, `COMPLETED` or `TIMED_OUT`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub timeout_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key_expires_at: Option<Timestamp>,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    /// The version of the run waiting on the token, `null` when none waits.
    pub run_version: Option<String>,
    /// Once done (retrieve only): the output as a JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub output: Option<String>,
    /// Once done (retrieve only): `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub output_type: Option<String>,
    /// Once done (retrieve only): `true` when the token timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub output_is_error: Option<bool>,
}

/// Answer of `GET /api/v1/waitpoints/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub data: Vec<Token>,
    pub pagination: CursorPagination,
}
