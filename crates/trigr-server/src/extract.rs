//! Request extractors: the caller's environment (from its secret key) and JSON bodies whose
//! every failure is a clear 4xx; and the check that keeps NUL bytes out of URLs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use serde::de::DeserializeOwned;
use trigr_engine::Engine;
use trigr_store::{EnvKind, Environment, Run};
use trigr_types::id::sha256_hex;

use crate::error::ApiError;
use crate::AppState;

/// Most keys cached at once; past it, entries due for a recheck are dropped first.
const MAX_CACHED_KEYS: usize = 10_000;

/// The environment a request acts in, and what the credential may do there.
#[derive(Clone, Debug)]
pub struct Auth {
    pub env_id: String,
    pub slug: String,
    pub kind: EnvKind,
    /// Signs the public tokens handed out with triggers and batches.
    pub signing_secret: String,
    /// Scopes of a public access token; `None` for a secret key, which may do everything.
    pub scopes: Option<Vec<String>>,
}

impl Auth {
    fn from_env(env: Environment, scopes: Option<Vec<String>>) -> Auth {
        crate::middleware::access_log::record_env(&env.id);
        Auth {
            env_id: env.id,
            slug: env.slug,
            kind: env.kind,
            signing_secret: env.signing_secret,
            scopes,
        }
    }

    /// Whether the credential grants one of these scopes (a secret key grants all).
    pub fn allows(&self, wanted: &[String]) -> bool {
        match &self.scopes {
            None => true,
            Some(have) => have.iter().any(|s| s == "admin" || wanted.contains(s)),
        }
    }

    /// Whether the credential may read this run.
    pub fn may_read_run(&self, run: &Run) -> bool {
        let mut wanted = vec![
            "read:runs".to_string(),
            format!("read:runs:{}", run.id),
            format!("read:tasks:{}", run.task_id),
        ];
        wanted.extend(run.tags.iter().map(|t| format!("read:tags:{t}")));
        wanted.extend(run.batch_id.iter().map(|b| format!("read:batch:{b}")));
        self.allows(&wanted)
    }

    pub fn forbidden(&self, what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("This public access token may not {what}"),
        )
    }
}

/// How long a key looked up in the store is trusted before it is looked up again: a key
/// revoked or rotated on any server of a cluster (or by `trigr keys` on the store itself) is
/// refused everywhere within this time.
pub const KEY_RECHECK: Duration = Duration::from_millis(500);

/// A key as last read from the store.
#[derive(Clone)]
struct CachedKey {
    env: Environment,
    /// From when the key is no longer accepted (expired or revoked), if ever.
    ends_at: Option<trigr_types::Millis>,
    read_at: Instant,
}

/// Environments by key hash (read again after [`KEY_RECHECK`]) and by id (cached forever:
/// signing secrets never change).
#[derive(Default)]
pub struct KeyCache {
    by_key: Mutex<HashMap<String, CachedKey>>,
    by_id: Mutex<HashMap<String, Environment>>,
    /// Secret keys seen on authenticated requests since this process started, by environment:
    /// the only way to verify tokens the SDK signs with a secret key, since the store keeps
    /// only hashes. Never written anywhere.
    seen_keys: Mutex<HashMap<String, Vec<String>>>,
}

impl KeyCache {
    /// The environment of a secret key that is accepted now.
    pub(crate) async fn by_key(&self, engine: &Engine, key: &str) -> Result<Environment, ApiError> {
        let hash = sha256_hex(key);
        let cached = self
            .by_key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .filter(|c| c.read_at.elapsed() < KEY_RECHECK)
            .cloned();
        let cached = match cached {
            Some(c) => c,
            None => {
                let h = hash.clone();
                let found = engine.read(move |tx| Ok(tx.env_by_key_hash(&h)?)).await?;
                let Some((env, ends_at)) = found else {
                    return Err(ApiError::unauthorized(
                        "Invalid API key: no environment has this secret key",
                    ));
                };
                let c = CachedKey {
                    env,
                    ends_at,
                    read_at: Instant::now(),
                };
                let mut cache = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= MAX_CACHED_KEYS {
                    cache.retain(|_, c| c.read_at.elapsed() < KEY_RECHECK);
                }
                cache.insert(hash, c.clone());
                c
            }
        };
        if cached.ends_at.is_some_and(|end| end <= engine.now()) {
            return Err(ApiError::unauthorized(
                "Invalid API key: this secret key was revoked or rotated out (see `trigr keys list`)",
            ));
        }
        Ok(cached.env)
    }

    fn remember(&self, env_id: &str, key: &str) {
        let mut seen = self.seen_keys.lock().unwrap_or_else(|p| p.into_inner());
        let keys = seen.entry(env_id.to_string()).or_default();
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }

    /// Keys that may have signed a token of this environment.
    pub fn seen_keys(&self, env_id: &str) -> Vec<String> {
        let seen = self.seen_keys.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(env_id).cloned().unwrap_or_default()
    }

    async fn by_id(&self, engine: &Engine, id: &str) -> Result<Option<Environment>, ApiError> {
        if id.contains('\0') {
            // No environment has one (PostgreSQL could not even be asked).
            return Ok(None);
        }
        if let Some(env) = self.by_id.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(env.clone()));
        }
        let i = id.to_string();
        let env = engine.read(move |tx| Ok(tx.environment(&i)?)).await?;
        if let Some(env) = &env {
            self.by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.to_string(), env.clone());
        }
        Ok(env)
    }
}

fn credential(parts: &Parts) -> Result<String, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "Invalid or Missing API key: send Authorization: Bearer <secret key>",
            )
        })?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::unauthorized("Invalid or Missing API key: the Authorization header must be 'Bearer <secret key>'"))
}

fn is_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3 && !credential.starts_with("tr_")
}

pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
    allow_public: bool,
) -> Result<Auth, ApiError> {
    let cred = credential(parts)?;
    if is_jwt(&cred) {
        if !allow_public {
            return Err(ApiError::unauthorized(
                "This endpoint needs a secret key: public access tokens are not accepted here",
            ));
        }
        return crate::jwt::verify(&cred, state).await;
    }
    let env = state.keys.by_key(&state.engine, &cred).await?;
    state.keys.remember(&env.id, &cred);
    Ok(Auth::from_env(env, None))
}

/// Looks up an environment for a verified public token.
pub async fn env_for_token(
    state: &AppState,
    env_id: &str,
    scopes: Vec<String>,
) -> Result<Auth, ApiError> {
    let env = state
        .keys
        .by_id(&state.engine, env_id)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("Invalid public access token: unknown environment")
        })?;
    Ok(Auth::from_env(env, Some(scopes)))
}

pub async fn signing_secret_of(state: &AppState, env_id: &str) -> Result<Option<String>, ApiError> {
    Ok(state
        .keys
        .by_id(&state.engine, env_id)
        .await?
        .map(|e| e.signing_secret))
}

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// A secret key only.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        authenticate(parts, &AppState::from_ref(state), false).await
    }
}

/// A secret key or a public access token (JWT), on the routes that accept tokens (reading
/// runs and batches, triggering, cancelling); each route checks the token's scopes.
pub struct KeyOrToken(pub Auth);

impl<S> FromRequestParts<S> for KeyOrToken
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        authenticate(parts, &AppState::from_ref(state), true)
            .await
            .map(KeyOrToken)
    }
}

/// Like [`KeyOrToken`], and a public access token may also come as the `access_token` query
/// parameter, for clients that cannot set headers (a browser's `EventSource`). Secret keys
/// are never taken from a URL, where logs and histories keep them.
pub struct StreamAuth(pub Auth);

impl<S> FromRequestParts<S> for StreamAuth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return authenticate(parts, &state, true).await.map(StreamAuth);
        }
        let Some(token) = query_token(parts.uri.query().unwrap_or("")) else {
            return Err(ApiError::unauthorized(
                "Invalid or Missing API key: send Authorization: Bearer <key or public access token>, or ?access_token=<public access token>",
            ));
        };
        if !is_jwt(&token) {
            return Err(ApiError::unauthorized(
                "access_token must be a public access token: secret keys go in the Authorization header, never in a URL",
            ));
        }
        crate::jwt::verify(&token, &state).await.map(StreamAuth)
    }
}

/// The credential a stream request carries: its `Authorization: Bearer …`, else its
/// `access_token` query parameter (what [`StreamAuth`] checked).
pub fn stream_credential(parts: &Parts) -> Option<String> {
    if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        return credential(parts).ok();
    }
    query_token(parts.uri.query().unwrap_or(""))
}

/// Checks a stream credential again, as [`StreamAuth`] checked it when the stream opened: a
/// public token's signature and expiry, a secret key not revoked (read again after at most
/// half a second). For connections that outlive a request (the realtime WebSocket).
pub async fn recheck(state: &AppState, credential: &str) -> Result<Auth, ApiError> {
    if is_jwt(credential) {
        return crate::jwt::verify(credential, state).await;
    }
    let env = state.keys.by_key(&state.engine, credential).await?;
    Ok(Auth::from_env(env, None))
}

/// The `access_token` query parameter, decoded.
pub fn query_token(query: &str) -> Option<String> {
    url_pairs(query)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        Some((decode(k)?, decode(v)?))
    })
}

/// A NUL byte in a URL, which can only arrive percent-encoded: a raw one is not a valid URL,
/// and no other escape decodes to it.
const NUL_IN_URL: &str = "%00";

/// What holds a NUL byte in this URL (the path, or a query parameter named), said in a
/// sentence; `None` when nothing does. Checked for every request before any route sees it
/// (`crate::middleware`): ids, names and filters are text, and PostgreSQL's text cannot hold
/// a NUL.
pub fn nul_in_url(uri: &Uri) -> Option<String> {
    if uri.path().contains(NUL_IN_URL) {
        return Some("The path contains a NUL byte (%00)".to_string());
    }
    let query = uri.query().filter(|q| q.contains(NUL_IN_URL))?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name.contains(NUL_IN_URL) {
            Some("A query parameter name contains a NUL byte (%00)".to_string())
        } else if value.contains(NUL_IN_URL) {
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            Some(format!(
                "The query parameter {name} contains a NUL byte (%00)"
            ))
        } else {
            None
        }
    })
}

/// A whole-number query parameter from `min` to `max`; anything else (negative, fractional,
/// not a number, too large) is a 400 naming the parameter and its range.
pub fn whole_number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be a whole number from {min} to {max}, got '{value}'"
            ))
        })
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

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        Unread(req).json().await.map(Json)
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

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        Unread(req).optional_json().await.map(OptionalJson)
    }
}

/// A request body not read yet. Routes that accept public access tokens take their body this
/// way, check the token's scopes, and only then read it: a token that may not do what it
/// asks costs no body read.
pub struct Unread(Request);

impl<S: Send + Sync> FromRequest<S> for Unread {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Unread(req))
    }
}

impl Unread {
    /// The body as [`Json`] reads it.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        parse_json(&body_bytes(self.0, &()).await?)
    }

    /// The body as [`OptionalJson`] reads it.
    pub async fn optional_json<T: DeserializeOwned>(self) -> Result<Option<T>, ApiError> {
        let bytes = body_bytes(self.0, &()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(&bytes).map(Some)
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

/// Parses a JSON object body (or one NDJSON line) into `T`; every failure is a 400 naming the
/// problem:
/// - anything but an object (serde's derived structs would take an array too);
/// - malformed JSON, or a wrong shape (naming the member);
/// - data after the value;
/// - a NUL in any string or member name outside the caller's own data
///   ([`DATA_MEMBERS`]): PostgreSQL's text cannot hold one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_non_object(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // Parsed without keeping track of where it is; only a body that fails is parsed again
    // to name the member at fault.
    let value = match T::deserialize(&mut de) {
        Ok(value) => value,
        Err(_) => {
            let mut again = serde_json::Deserializer::from_slice(bytes);
            let e = serde_path_to_error::deserialize::<_, T>(&mut again)
                .err()
                .map_or_else(
                    || ApiError::bad_request("Invalid request body"),
                    invalid_body,
                );
            return Err(e);
        }
    };
    de.end().map_err(|e| {
        ApiError::bad_request(format!("The body has data after its JSON value: {e}"))
    })?;
    if may_hold_nul(bytes) {
        refuse_nul_outside_data(bytes)?;
    }
    Ok(value)
}

fn invalid_body(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        ApiError::bad_request(format!("The body is not valid JSON: {inner}"))
    } else if path == "." {
        ApiError::bad_request(format!("Invalid request body: {inner}"))
    } else {
        ApiError::bad_request(format!("Invalid request body: {path}: {inner}"))
    }
}

/// A body that starts with anything but `{` (after whitespace). An empty body is left to the
/// parser, which says so.
fn refuse_non_object(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let what = match first {
        None | Some(b'{') => return Ok(()),
        Some(b'[') => ", not an array",
        Some(b'"') => ", not a string",
        Some(_) => "",
    };
    Err(ApiError::bad_request(format!(
        "The body must be a JSON object{what}"
    )))
}

/// Members whose values are the caller's own data: payloads, outputs, metadata, token and
/// input-stream data, metadata operation values, attempt errors and log fields. They are
/// stored as JSON text, where a NUL is an escape, or (a text payload) in a column that keeps
/// any string, so a NUL in them is kept as sent.
pub const DATA_MEMBERS: &[&str] = &[
    "payload", "output", "data", "metadata", "value", "error", "fields",
];

/// The only way a JSON text carries a NUL: a raw control character is not valid JSON.
const NUL_ESCAPE: &str = "\\u0000";

/// Whether the body may hold a NUL in a string: a fast scan for [`NUL_ESCAPE`]. It also
/// matches an escaped backslash followed by `u0000`, which is not a NUL; the walk of
/// [`refuse_nul_outside_data`] decides.
fn may_hold_nul(bytes: &[u8]) -> bool {
    // The escape is ASCII, and no byte of a multi-byte UTF-8 character is: a search of the
    // bytes finds exactly the escapes.
    memchr::memmem::find(bytes, NUL_ESCAPE.as_bytes()).is_some()
}

/// A 400 naming the first string or member name outside [`DATA_MEMBERS`] that holds a NUL.
fn refuse_nul_outside_data(bytes: &[u8]) -> Result<(), ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    match nul_outside_data(&value, "") {
        Some(problem) => Err(ApiError::bad_request(problem)),
        None => Ok(()),
    }
}

/// Where `v` (at `path`, `""` for the body) holds a NUL outside the caller's data, said in a
/// sentence. The depth is bounded by the parser's nesting limit.
fn nul_outside_data(v: &serde_json::Value, path: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => {
            Some(format!("{path} contains a NUL byte"))
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_outside_data(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(members) => members.iter().find_map(|(name, item)| {
            if name.contains('\0') {
                return Some(if path.is_empty() {
                    "A member name of the body contains a NUL byte".to_string()
                } else {
                    format!("A member name in {path} contains a NUL byte")
                });
            }
            if DATA_MEMBERS.contains(&name.as_str()) {
                return None;
            }
            let inner = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            nul_outside_data(item, &inner)
        }),
        _ => None,
    }
}
