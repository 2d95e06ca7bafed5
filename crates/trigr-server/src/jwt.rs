//! Public access tokens: HS256 JWTs the server hands out with triggers and batches
//! (`x-trigger-jwt`), signed with the environment's signing secret, and verified when a browser
//! or a script presents one on a read route.
//!
//! Tokens that the official SDK signs itself (`auth.createPublicToken`) use the secret key as
//! the signing key. trigr stores only hashes of secret keys, so it verifies such tokens with the
//! keys it has seen on authenticated requests since it started — which includes the
//! `POST /api/v1/auth/jwt/claims` call the SDK makes right before signing.

use axum::http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{env_for_token, signing_secret_of, Auth};
use crate::AppState;

const ISSUER: &str = "https://id.trigger.dev";
const AUDIENCE: &str = "https://api.trigger.dev";

/// Headers carrying a token with these scopes, valid for an hour from `now_secs`.
pub fn headers(auth: &Auth, scopes: Vec<String>, now_secs: i64) -> HeaderMap {
    headers_valid_for(auth, scopes, now_secs, 3600)
}

/// [`headers`] with a token valid for `valid_secs`.
pub fn headers_valid_for(
    auth: &Auth,
    scopes: Vec<String>,
    now_secs: i64,
    valid_secs: i64,
) -> HeaderMap {
    let claims = json!({
        "sub": auth.env_id,
        "pub": true,
        "scopes": scopes,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now_secs,
        "exp": now_secs + valid_secs,
    });
    let mut h = HeaderMap::new();
    let key = EncodingKey::from_secret(auth.signing_secret.as_bytes());
    if let Ok(token) = jsonwebtoken::encode(&Header::default(), &claims, &key) {
        if let Ok(v) = HeaderValue::from_str(&token) {
            h.insert("x-trigger-jwt", v);
        }
    }
    let public = json!({ "sub": auth.env_id, "pub": true }).to_string();
    if let Ok(v) = HeaderValue::from_str(&public) {
        h.insert("x-trigger-jwt-claims", v);
    }
    h
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(rename = "pub", default)]
    public: bool,
    #[serde(default)]
    scopes: Vec<String>,
    /// Checked by the JWT library, which skips claims of another type than it expects:
    /// declared here, such a claim fails the decoding, and so the token.
    #[serde(flatten)]
    _times: TimeClaims,
    #[serde(default, rename = "aud")]
    _aud: Option<Audience>,
}

/// `exp` and `nbf` as whole seconds (`"nbf": 1e300` is refused, not skipped).
#[derive(Deserialize, serde::Serialize)]
pub struct TimeClaims {
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// `aud`: one audience or several (only its type is checked here).
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// HS256 with `exp` required, `nbf` honoured, both within [`LEEWAY_SECS`].
fn strict_validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v
}

fn invalid(why: &str) -> ApiError {
    ApiError::unauthorized(format!("Invalid public access token: {why}"))
}

/// Checks a public token's signature, expiry and audience; answers the environment and scopes.
pub async fn verify(token: &str, state: &AppState) -> Result<Auth, ApiError> {
    let mut peek = Validation::new(Algorithm::HS256);
    peek.insecure_disable_signature_validation();
    peek.validate_aud = false;
    peek.validate_exp = false;
    let unverified = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&[]), &peek)
        .map_err(|e| invalid(&e.to_string()))?;
    let env_id = unverified.claims.sub;
    if env_id.contains('\0') {
        return Err(invalid("its sub contains a NUL byte"));
    }
    let secret = signing_secret_of(state, &env_id)
        .await?
        .ok_or_else(|| invalid("unknown environment"))?;
    let mut validation = strict_validation();
    validation.set_audience(&[AUDIENCE]);
    let candidates = std::iter::once(secret.clone()).chain(state.keys.seen_keys(&env_id));
    let (signer, data) = candidates
        .filter_map(|key| {
            let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key.as_bytes()), &validation).ok()?;
            Some((key, data))
        })
        .next()
        .ok_or_else(|| {
            invalid("its signature, audience, expiry or not-before time does not check out (a token signed with a secret key is accepted once this server has seen that key)")
        })?;
    if signer != secret {
        // Signed with a secret key: only while that key is accepted.
        state
            .keys
            .by_key(&state.engine, &signer)
            .await
            .map_err(|_| invalid("the secret key that signed it was revoked or rotated out"))?;
    }
    if !data.claims.public {
        return Err(invalid("it is not a public token"));
    }
    env_for_token(state, &data.claims.sub, data.claims.scopes).await
}

/// What a presigned packet URL allows.
#[derive(serde::Serialize, Deserialize)]
pub struct BlobClaims {
    pub sub: String,
    pub path: String,
    /// `put` or `get`.
    pub op: String,
    #[serde(flatten)]
    pub times: TimeClaims,
}

/// A token for a presigned packet URL, valid for an hour.
pub fn sign_blob(auth: &Auth, path: &str, op: &str, now_secs: i64) -> String {
    let claims = BlobClaims {
        sub: auth.env_id.clone(),
        path: path.to_string(),
        op: op.to_string(),
        times: TimeClaims {
            exp: u64::try_from(now_secs + 3600).unwrap_or(0),
            nbf: None,
        },
    };
    let key = EncodingKey::from_secret(auth.signing_secret.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap_or_default()
}

/// Checks a presigned packet URL's token for `op`.
pub async fn verify_blob(token: &str, op: &str, state: &AppState) -> Result<BlobClaims, ApiError> {
    let bad = || {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "This packet URL is invalid or has expired",
        )
    };
    let mut peek = Validation::new(Algorithm::HS256);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    let unverified =
        jsonwebtoken::decode::<BlobClaims>(token, &DecodingKey::from_secret(&[]), &peek)
            .map_err(|_| bad())?;
    if unverified.claims.sub.contains('\0') {
        return Err(bad());
    }
    let secret = signing_secret_of(state, &unverified.claims.sub)
        .await?
        .ok_or_else(bad)?;
    let data = jsonwebtoken::decode::<BlobClaims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &strict_validation(),
    )
    .map_err(|_| bad())?;
    if data.claims.op != op {
        return Err(bad());
    }
    Ok(data.claims)
}
