//! Public access tokens (`Authorization: Bearer <jwt>` and `?access_token=`) and presigned
//! packet URLs, checked by the server's `jwt::verify` and `jwt::verify_blob` against a real
//! store. A token is accepted only when an independent check agrees: HS256, a signature by the
//! environment's signing secret (or, for public tokens, its secret key, which the server has
//! seen), not expired nor before its `nbf`, the right audience, environment and operation; a
//! well-formed token is accepted, and a presigned URL round-trips.

use proptest::sample::select;
use serde_json::{Map, Value};
use trigr_server::error::ApiError;
use trigr_server::parsers::{self, Auth, BlobClaims, LEEWAY_SECS};

use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict, Violation};
use crate::targets::client_error;
use crate::targets::server::{unix_now, Fixture};
use crate::targets::tokens::{part_json, signed_by, spec, Key, Secrets, AUDIENCE};

/// Slack on the clock between building a token and the server checking it, in seconds.
const SLACK_SECS: i64 = 2;

/// Public access tokens through `Authorization` or `verify`.
pub fn verify(name: &'static str, settings: &Settings) -> Report {
    let fixture = match Fixture::new() {
        Ok(f) => f,
        Err(why) => return Report::setup_failed(name, why),
    };
    fuzz(name, settings, spec(), |spec| {
        let secrets = fixture.secrets();
        let token = spec.token(&spec.public_claims(secrets.env_id, unix_now()), &secrets);
        let (seen, outcome) = fixture.authenticate(&token);
        match outcome {
            Ok(auth) => accepted_public(&seen, &auth, &secrets),
            Err(e) => refused(
                &e,
                spec.must_pass_public(&[Key::Signing, Key::SecretKey]),
                &token,
            ),
        }
    })
}

fn refused(e: &ApiError, must_pass: bool, token: &str) -> Verdict {
    client_error(e, token)?;
    ensure(!must_pass, "refuses a valid token", || {
        format!("{token:?} refused: {}", e.message)
    })
}

/// What an accepted credential must be.
fn accepted_public(token: &str, auth: &Auth, secrets: &Secrets<'_>) -> Verdict {
    let Some(scopes) = &auth.scopes else {
        return ensure(
            token == secrets.secret_key,
            "accepts a wrong secret key",
            || format!("{token:?} accepted as a secret key"),
        );
    };
    let claims = signed_claims(token, &[secrets.signing_secret, secrets.secret_key])?;
    ensure(
        claims.get("pub") == Some(&Value::Bool(true)),
        "accepts a private token",
        || format!("{token:?} has pub = {:?}", claims.get("pub")),
    )?;
    ensure(
        claims.get("sub").and_then(Value::as_str) == Some(secrets.env_id)
            && auth.env_id == secrets.env_id,
        "accepts another environment",
        || format!("{token:?} accepted for {}", auth.env_id),
    )?;
    let aud_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(a)) => a.iter().any(|x| x == AUDIENCE),
        Some(_) => false,
    };
    ensure(aud_ok, "accepts another audience", || {
        format!("{token:?} has aud = {:?}", claims.get("aud"))
    })?;
    let want: Option<Vec<String>> = match claims.get("scopes") {
        None => Some(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).ok(),
    };
    ensure(want.as_ref() == Some(scopes), "scopes changed", || {
        format!("{token:?} accepted with scopes {scopes:?}")
    })
}

/// The claims of a token the server accepted, once its form, algorithm, signature and times
/// are checked independently.
fn signed_claims(token: &str, keys: &[&str]) -> Result<Map<String, Value>, Violation> {
    ensure(
        token.split('.').count() == 3,
        "accepts a malformed token",
        || format!("{token:?}"),
    )?;
    let alg = part_json(token, 0).and_then(|h| h.get("alg").cloned());
    ensure(
        alg == Some(Value::from("HS256")),
        "accepts another algorithm",
        || format!("{token:?} has alg {alg:?}"),
    )?;
    ensure(signed_by(token, keys), "accepts a wrong signature", || {
        format!("{token:?} is not signed by any key of its environment")
    })?;
    let Some(Value::Object(claims)) = part_json(token, 1) else {
        return Err(Violation {
            kind: "accepts a malformed token".into(),
            detail: format!("{token:?}: the claims are not strict base64url of a JSON object"),
        });
    };
    times_ok(token, &claims)?;
    Ok(claims)
}

fn times_ok(token: &str, claims: &Map<String, Value>) -> Verdict {
    let now = unix_now() as f64;
    let leeway = (LEEWAY_SECS as i64 + SLACK_SECS) as f64;
    let exp = claims.get("exp").and_then(Value::as_f64);
    ensure(
        exp.is_some_and(|e| e >= now - leeway),
        "accepts an expired token",
        || format!("{token:?}: exp {exp:?}, now {now}"),
    )?;
    let nbf = claims.get("nbf").and_then(Value::as_f64);
    ensure(
        nbf.is_none_or(|n| n <= now + leeway),
        "accepts a token before its nbf",
        || format!("{token:?}: nbf {nbf:?}, now {now}"),
    )
}

/// Presigned packet URLs through `verify_blob`, and `sign_blob` then `verify_blob`.
pub fn verify_blob(name: &'static str, settings: &Settings) -> Report {
    let fixture = match Fixture::new() {
        Ok(f) => f,
        Err(why) => return Report::setup_failed(name, why),
    };
    let input = (spec(), select(&["put", "get"][..]));
    fuzz(name, settings, input, |(spec, op)| {
        let secrets = fixture.secrets();
        let token = spec.token(&spec.blob_claims(secrets.env_id, op, unix_now()), &secrets);
        match fixture.block_on(parsers::verify_blob(&token, op, &fixture.state)) {
            Ok(claims) => accepted_blob(&token, &claims, op, &secrets)?,
            Err(e) => refused(&e, spec.must_pass_blob(&[Key::Signing]), &token)?,
        }
        blob_round_trip(&fixture, &spec.path, op)
    })
}

fn accepted_blob(token: &str, got: &BlobClaims, op: &str, secrets: &Secrets<'_>) -> Verdict {
    let claims = signed_claims(token, &[secrets.signing_secret])?;
    ensure(
        got.op == op && claims.get("op").and_then(Value::as_str) == Some(op),
        "accepts another operation",
        || format!("{token:?} accepted for {op} with op {:?}", got.op),
    )?;
    ensure(
        got.sub == secrets.env_id
            && claims.get("sub").and_then(Value::as_str) == Some(secrets.env_id),
        "accepts another environment",
        || format!("{token:?} accepted for {}", got.sub),
    )
}

/// A URL the server signs verifies for its operation and path, and not for the other one.
fn blob_round_trip(fixture: &Fixture, path: &str, op: &str) -> Verdict {
    let token = parsers::sign_blob(&fixture.auth, path, op, unix_now());
    let back = fixture.block_on(parsers::verify_blob(&token, op, &fixture.state));
    ensure(
        back.as_ref().is_ok_and(|c| c.path == path && c.op == op),
        "presigned URL does not round-trip",
        || {
            format!(
                "sign_blob(path {path:?}, {op}) verified as {:?}",
                back.as_ref().map(|c| &c.path).map_err(|e| &e.message)
            )
        },
    )?;
    let other = if op == "put" { "get" } else { "put" };
    let crossed = fixture.block_on(parsers::verify_blob(&token, other, &fixture.state));
    ensure(crossed.is_err(), "accepts another operation", || {
        format!("a {op} URL for {path:?} verified for {other}")
    })
}
