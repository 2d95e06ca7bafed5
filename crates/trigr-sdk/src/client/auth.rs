//! Public access tokens minted by the client, like `auth.createPublicToken` of the official
//! SDK: an HS256 JWT signed locally with the client's secret key, carrying the environment
//! the server names (`POST /api/v1/auth/jwt/claims`), the scopes asked for and an expiry.
//!
//! A browser or script presenting the token may do only what its scopes name — for
//! [`PublicToken::read_run`], read that one run (and subscribe to it); anything else is
//! refused with 403, and everything after the expiry with 401. The server accepts a token
//! signed with a secret key while that key is valid and it has seen the key (which the
//! claims call makes sure of).
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use std::time::Duration;
//! use trigr_sdk::auth::PublicToken;
//! let token = client
//!     .auth()
//!     .create_public_token(PublicToken::new().read_run("run_1234").expires_in(Duration::from_secs(3600)))
//!     .await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::http::{Http, Tries};

/// The issuer and audience the official SDK writes, which the server checks.
const ISSUER: &str = "https://id.trigger.dev";
const AUDIENCE: &str = "https://api.trigger.dev";
/// How long a token lives unless told (the official SDK's default).
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// The auth API of one client ([`Client::auth`](crate::Client::auth)).
#[derive(Clone, Debug)]
pub struct Auth {
    pub(crate) http: Http,
}

/// When a token stops being valid.
#[derive(Clone, Copy, Debug)]
enum Expiry {
    In(Duration),
    At(DateTime<Utc>),
}

/// What a public token allows and until when: no scope at all unless one is added.
#[derive(Clone, Debug)]
pub struct PublicToken {
    scopes: Vec<String>,
    expiry: Expiry,
}

impl Default for PublicToken {
    fn default() -> Self {
        PublicToken {
            scopes: Vec::new(),
            expiry: Expiry::In(DEFAULT_EXPIRY),
        }
    }
}

impl PublicToken {
    /// A token with no scopes, valid for [`DEFAULT_EXPIRY`].
    pub fn new() -> PublicToken {
        PublicToken::default()
    }

    /// Adds a scope as the server spells it (`read:runs:run_…`, `read:tags:vip`,
    /// `write:tasks:send-email`, `admin`, …).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// May read this run.
    pub fn read_run(self, run_id: &str) -> Self {
        self.scope(format!("read:runs:{run_id}"))
    }

    /// May read every run of the environment.
    pub fn read_all_runs(self) -> Self {
        self.scope("read:runs")
    }

    /// May read the runs with this tag.
    pub fn read_tag(self, tag: &str) -> Self {
        self.scope(format!("read:tags:{tag}"))
    }

    /// May read this batch and its runs.
    pub fn read_batch(self, batch_id: &str) -> Self {
        self.scope(format!("read:batch:{batch_id}"))
    }

    /// May read the runs of this task.
    pub fn read_task(self, task_id: &str) -> Self {
        self.scope(format!("read:tasks:{task_id}"))
    }

    /// May trigger this task.
    pub fn trigger_task(self, task_id: &str) -> Self {
        self.scope(format!("write:tasks:{task_id}"))
    }

    /// Valid for this long from now (whole seconds).
    pub fn expires_in(mut self, valid: Duration) -> Self {
        self.expiry = Expiry::In(valid);
        self
    }

    /// Valid until this time.
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expiry = Expiry::At(at);
        self
    }

    /// The expiry in seconds since the epoch, counted from `now`.
    fn exp(&self, now: DateTime<Utc>) -> Result<i64> {
        match self.expiry {
            Expiry::At(at) => Ok(at.timestamp()),
            Expiry::In(valid) => i64::try_from(valid.as_secs())
                .ok()
                .and_then(|secs| now.timestamp().checked_add(secs))
                .ok_or_else(|| Error::Config("the token's lifetime is too long".into())),
        }
    }
}

/// `POST /api/v1/auth/jwt/claims`.
#[derive(Deserialize)]
struct ServerClaims {
    sub: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(rename = "pub")]
    public: bool,
    scopes: &'a [String],
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl Auth {
    /// A public access token signed with the client's secret key.
    pub async fn create_public_token(&self, token: PublicToken) -> Result<String> {
        let now = Utc::now();
        let exp = token.exp(now)?;
        let server: ServerClaims = self
            .http
            .call(
                Method::POST,
                "/api/v1/auth/jwt/claims",
                None,
                Tries::Transient,
            )
            .await?;
        let claims = Claims {
            sub: &server.sub,
            public: true,
            scopes: &token.scopes,
            iss: ISSUER,
            aud: AUDIENCE,
            iat: now.timestamp(),
            exp,
        };
        let secret = self.http.secret_key();
        let key = EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&Header::default(), &claims, &key)
            .map_err(|e| Error::Config(format!("the token cannot be signed: {e}")))
    }
}
