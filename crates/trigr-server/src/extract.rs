//! Request extractors: the caller's environment (from its secret key) and JSON bodies whose
//! every failure is a clear 4xx.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use trigr_engine::Engine;
use trigr_store::{EnvKind, Environment};
use trigr_types::id::sha256_hex;

use crate::error::ApiError;
use crate::AppState;

/// The environment a request acts in, and the key that proved it.
#[derive(Clone, Debug)]
pub struct Auth {
    pub env_id: String,
    pub slug: String,
    pub kind: EnvKind,
    /// The secret key as presented (signs the public tokens the API hands out).
    pub key: String,
}

/// Keys never change once stored, so a key → environment lookup is cached forever.
#[derive(Default)]
pub struct KeyCache {
    map: Mutex<HashMap<String, Environment>>,
}

impl KeyCache {
    async fn lookup(&self, engine: &Engine, key: &str) -> Result<Option<Environment>, ApiError> {
        let hash = sha256_hex(key);
        if let Some(env) = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
        {
            return Ok(Some(env.clone()));
        }
        let h = hash.clone();
        let env = engine.read(move |tx| Ok(tx.env_by_key_hash(&h)?)).await?;
        if let Some(env) = &env {
            self.map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash, env.clone());
        }
        Ok(env)
    }
}

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "Invalid or Missing API key: send Authorization: Bearer <secret key>",
                )
            })?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Invalid or Missing API key: the Authorization header must be 'Bearer <secret key>'"))?;
        let env = state
            .keys
            .lookup(&state.engine, key)
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("Invalid API key: no environment has this secret key")
            })?;
        Ok(Auth {
            env_id: env.id,
            slug: env.slug,
            kind: env.kind,
            key: key.to_string(),
        })
    }
}

/// A JSON body; malformed JSON or a wrong shape is a 400 naming the problem, an oversized
/// body a 413.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be absent (empty), as on cancel and replay.
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is over the size limit of this server",
            )
        } else {
            ApiError::bad_request(format!("Could not read the request body: {rejection}"))
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("The body is not valid JSON: {e}"))
        } else {
            ApiError::bad_request(format!("Invalid request body: {e}"))
        }
    })
}
