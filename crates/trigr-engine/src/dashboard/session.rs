//! Dashboard sessions: started by a sign-in, read on every page, ended by signing out.

use trigr_store::{DashboardSession, Environment};
use trigr_types::id::sha256_hex;

use super::{new_secret, SESSION_TTL};
use crate::{Engine, Error, Result, Txn};

/// A started session: the secret for the cookie (shown once, stored hashed) and what it grants.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub secret: String,
    pub session: DashboardSession,
}

/// Starts a session granting `env_ids` inside a write, sweeping expired sign-ins first.
pub(super) fn start(tx: &mut Txn<'_>, env_ids: Vec<String>) -> Result<SignedIn> {
    let now = tx.now();
    tx.delete_expired_dashboard_sign_ins(now)?;
    let secret = new_secret("trs_");
    let session = DashboardSession {
        token_hash: sha256_hex(&secret),
        env_ids,
        created_at: now,
        expires_at: now + SESSION_TTL.as_millis() as i64,
    };
    tx.insert_dashboard_session(&session)?;
    Ok(SignedIn { secret, session })
}

impl Engine {
    /// Signs a browser in to the environment of a secret key the caller already checked.
    pub async fn sign_in_with_key(&self, env: &Environment) -> Result<SignedIn> {
        let env_ids = vec![env.id.clone()];
        self.write(move |tx| start(tx, env_ids)).await
    }

    /// The session of a cookie's secret, if it is current.
    pub async fn dashboard_session(&self, secret: &str) -> Result<Option<DashboardSession>> {
        let (hash, now) = (sha256_hex(secret), self.now());
        self.read(move |tx| Ok(tx.dashboard_session(&hash, now)?))
            .await
    }

    /// Ends the session of a cookie's secret; signing out twice is no error.
    pub async fn end_dashboard_session(&self, secret: &str) -> Result<()> {
        let hash = sha256_hex(secret);
        self.write(move |tx| Ok(tx.delete_dashboard_session(&hash)?))
            .await
            .map(|_| ())
    }

    /// The environments a session grants, in the order dev, staging, prod of each project;
    /// environments deleted since are left out.
    pub async fn session_environments(&self, env_ids: Vec<String>) -> Result<Vec<Environment>> {
        self.read(move |tx| {
            let mut envs: Vec<Environment> = tx
                .environments()?
                .into_iter()
                .filter(|e| env_ids.contains(&e.id))
                .collect();
            envs.sort_by_key(|e| (e.project_id.clone(), crate::projects::rank(&e.slug)));
            Ok(envs)
        })
        .await
        .and_then(|envs| {
            if envs.is_empty() {
                Err(Error::not_found("The session grants no environment"))
            } else {
                Ok(envs)
            }
        })
    }
}
