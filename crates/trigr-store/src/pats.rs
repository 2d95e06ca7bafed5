//! Personal access tokens (`tr_pat_…`): operator credentials that reach every project, for the
//! official `trigger.dev` CLI's login calls (`trigr_engine::pats`).
//!
//! A token is kept as its hash and the start that was shown, like a secret key; it is revoked,
//! never deleted. The secret key a token was handed for an environment is a [`PatEnvKey`]: an
//! ordinary `api_keys` row, and the key itself sealed by the engine with the server's
//! encryption key (the store never sees it in the clear), so the same key is handed out again.

use trigr_types::Millis;

use crate::Result;

/// A personal access token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalAccessToken {
    /// `pat_…`.
    pub id: String,
    /// What the operator called it (`--name`).
    pub name: String,
    /// The address `whoami` answers with, when one was given.
    pub email: Option<String>,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The start of the token as it was shown: `tr_pat_` and four characters.
    pub prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// The secret key a token was handed for one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatEnvKey {
    pub pat_id: String,
    pub env_id: String,
    /// The hash of the key: its `api_keys` row.
    pub key_hash: String,
    /// The key, sealed by the engine.
    pub sealed_key: String,
    pub created_at: Millis,
}

/// A login of the `trigger.dev` CLI (`trigger.dev login`) waiting for an operator's approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatLogin {
    /// Hex SHA-256 of the authorization code.
    pub code_hash: String,
    /// The CLI's PKCE challenge: base64url of the SHA-256 of its verifier.
    pub challenge: String,
    pub created_at: Millis,
    /// After this, the login can be neither approved nor exchanged.
    pub expires_at: Millis,
    /// Hex SHA-256 of the approval code, once approved.
    pub approval_hash: Option<String>,
    /// The name and email of the token the approval makes.
    pub name: Option<String>,
    pub email: Option<String>,
    pub approved_at: Option<Millis>,
    /// The token made when the CLI exchanged the approval (once).
    pub pat_id: Option<String>,
}

/// Reading personal access tokens.
pub trait PatRead {
    /// The token with this hash, revoked or not.
    fn pat_by_hash(&mut self, token_hash: &str) -> Result<Option<PersonalAccessToken>>;
    /// Every token, oldest first.
    fn pats(&mut self) -> Result<Vec<PersonalAccessToken>>;
    /// The key handed to a token for an environment, if any.
    fn pat_env_key(&mut self, pat_id: &str, env_id: &str) -> Result<Option<PatEnvKey>>;
    /// Every key handed to a token, by environment.
    fn pat_env_keys(&mut self, pat_id: &str) -> Result<Vec<PatEnvKey>>;
    /// The slug of an organization (what `whoami` shows as its title).
    fn organization_slug(&mut self, org_id: &str) -> Result<Option<String>>;
    /// The login with this code hash, expired or not.
    fn pat_login(&mut self, code_hash: &str) -> Result<Option<PatLogin>>;
}

/// Writing personal access tokens.
pub trait PatTx {
    /// Makes the writers of this token's keys that come later in other transactions wait until
    /// this one ends: taken before a read that decides whether to mint a key, so two first
    /// calls for the same environment cannot both mint one. Nothing else waits for it.
    fn lock_pat(&mut self, id: &str) -> Result<()>;
    /// Adds a token; false (and nothing written) when its id or hash is taken.
    fn insert_pat(&mut self, pat: &PersonalAccessToken) -> Result<bool>;
    /// Records a use of the token at `at` (a later time wins).
    fn touch_pat(&mut self, id: &str, at: Millis) -> Result<()>;
    /// Revokes the token; false when it is unknown or already revoked.
    fn revoke_pat(&mut self, id: &str, now: Millis) -> Result<bool>;
    /// Keeps `key` as the token's key for its environment, replacing the one kept before.
    fn put_pat_env_key(&mut self, key: &PatEnvKey) -> Result<()>;
    /// Forgets the logins that expired at or before `now`; returns how many.
    fn delete_expired_pat_logins(&mut self, now: Millis) -> Result<usize>;
    /// Adds a login while fewer than `max` logins are kept; false (and nothing written)
    /// otherwise, or when its code hash is taken.
    fn insert_pat_login(&mut self, login: &PatLogin, max: usize) -> Result<bool>;
    /// Approves a login not approved yet and not expired at `now`; false otherwise.
    fn approve_pat_login(
        &mut self,
        code_hash: &str,
        approval_hash: &str,
        name: &str,
        email: Option<&str>,
        now: Millis,
    ) -> Result<bool>;
    /// Records the token an approved login was exchanged for, once; false when the login is
    /// not approved, was exchanged already, or expired at `now`.
    fn finish_pat_login(&mut self, code_hash: &str, pat_id: &str, now: Millis) -> Result<bool>;
}
