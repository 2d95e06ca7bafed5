//! Public access tokens handed out with triggers and batches (`x-trigger-jwt`): HS256 JWTs
//! signed with the environment's secret key, as the official SDK expects.

use axum::http::{HeaderMap, HeaderValue};
use serde_json::json;

use crate::extract::Auth;

/// Headers carrying a token with these scopes, valid for an hour from `now_secs`.
pub fn headers(auth: &Auth, scopes: Vec<String>, now_secs: i64) -> HeaderMap {
    let claims = json!({
        "sub": auth.env_id,
        "pub": true,
        "scopes": scopes,
        "iss": "https://id.trigger.dev",
        "aud": "https://api.trigger.dev",
        "iat": now_secs,
        "exp": now_secs + 3600,
    });
    let mut h = HeaderMap::new();
    let key = jsonwebtoken::EncodingKey::from_secret(auth.key.as_bytes());
    if let Ok(token) = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key) {
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
