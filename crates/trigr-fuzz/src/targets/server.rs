//! A server's state inside this process, over a temporary SQLite store with one seeded
//! environment: what the parsers that look up environments (public access tokens, presigned
//! packet URLs) need.

use std::future::Future;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Request};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use trigr_engine::bootstrap::SeedKeys;
use trigr_engine::clock::SystemClock;
use trigr_engine::Engine;
use trigr_server::error::ApiError;
use trigr_server::parsers::{self, Auth};
use trigr_store::Store;

use crate::targets::tokens::Secrets;

/// The secret key of the fixture's `dev` environment.
pub const SECRET_KEY: &str = "tr_dev_fuzzfuzzfuzzfuzzfuzzfuzz";

/// A server state and the runtime its lookups run on.
pub struct Fixture {
    runtime: Runtime,
    pub state: parsers::AppState,
    /// The `dev` environment, as its secret key authenticates it.
    pub auth: Auth,
    _dir: TempDir,
}

impl Fixture {
    /// Opens a new store, seeds [`SECRET_KEY`] and authenticates with it once, as a client
    /// does before signing tokens with it.
    pub fn new() -> Result<Fixture, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let store = Store::open(&url).map_err(|e| format!("store: {e}"))?;
        let engine = Engine::new(store, Arc::new(SystemClock), Default::default());
        let seeds = SeedKeys {
            dev: Some(SECRET_KEY.into()),
            staging: None,
            prod: None,
        };
        runtime
            .block_on(engine.bootstrap(seeds, 10))
            .map_err(|e| format!("bootstrap: {e}"))?;
        let state = parsers::app_state(engine);
        let parts = bearer(SECRET_KEY).ok_or("the secret key is not a header value")?;
        let auth = runtime
            .block_on(parsers::authenticate(&parts, &state, false))
            .map_err(|e| format!("the seeded key does not authenticate: {}", e.message))?;
        Ok(Fixture {
            runtime,
            state,
            auth,
            _dir: dir,
        })
    }

    /// Runs a lookup to its end.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The environment and the keys its tokens may be signed with.
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets {
            env_id: &self.auth.env_id,
            signing_secret: &self.auth.signing_secret,
            secret_key: SECRET_KEY,
        }
    }

    /// Authenticates `credential` as a request's `Authorization: Bearer` header would, or,
    /// when it cannot be a header value, as a token verified directly (`?access_token=`).
    /// Returns the credential as the server saw it, and the outcome.
    pub fn authenticate(&self, credential: &str) -> (String, Result<Auth, ApiError>) {
        match bearer(credential) {
            Some(parts) => (
                credential.trim().to_string(),
                self.block_on(parsers::authenticate(&parts, &self.state, true)),
            ),
            None => (
                credential.to_string(),
                self.block_on(parsers::verify(credential, &self.state)),
            ),
        }
    }
}

/// The head of a request carrying `Authorization: Bearer <credential>`, if that is a valid
/// header value.
fn bearer(credential: &str) -> Option<Parts> {
    let value = HeaderValue::from_str(&format!("Bearer {credential}")).ok()?;
    let request = Request::builder()
        .header(header::AUTHORIZATION, value)
        .body(())
        .ok()?;
    Some(request.into_parts().0)
}

/// Seconds since the Unix epoch, as the token library reads the clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
