//! `tokens`: waitpoints completed from outside (reference §4.2) — created, completed with
//! data (by the REST call or the token's callback URL), retrieved and listed. A token's
//! `timeout` is a due time the timers fire ([`crate::timers`]): it then ends `TIMED_OUT`.

use serde_json::Value;
use trigr_store::{Page, ReadTx, Run, Waitpoint, WaitpointFilter, WaitpointKind, WaitpointStatus};
use trigr_types::version_guard::VersionGuard;
use trigr_types::wire::rest::CreateToken;
use trigr_types::{duration, id, Millis, RunStatus};

use crate::delivery::{check_size, mismatch, parse_guard};
use crate::resume::complete_waitpoint;
use crate::trigger::{idempotency_ttl, tag_list, MAX_IDEMPOTENCY_KEY_LEN};
use crate::{Engine, Error, Result, Txn};

/// A checked request for a wait token (from [`check`]).
#[derive(Clone, Debug, Default)]
pub struct NewToken {
    /// 1 to 2048 characters, raw (not hashed).
    pub idempotency_key: Option<String>,
    /// How long the idempotency key holds.
    pub key_ttl: Millis,
    /// When the token times out.
    pub due_at: Option<Millis>,
    /// Distinct, sorted.
    pub tags: Vec<String>,
}

/// Checks the body of a token create at `now`: its tags, the idempotency key and its TTL,
/// and the timeout (a duration or a date), which becomes a due time.
pub fn check(req: CreateToken, now: Millis) -> Result<NewToken> {
    let tags = tag_list(req.tags.as_ref(), "Tokens")?;
    let key_ttl = idempotency_ttl(req.idempotency_key_ttl.as_deref())?;
    let due_at = match &req.timeout {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(duration::parse_delay(s, now).map_err(|e| {
            Error::unprocessable(format!(
                "Invalid timeout: {e} (use a duration like 10m or an ISO 8601 date)"
            ))
        })?),
        Some(_) => {
            return Err(Error::unprocessable(
                "Invalid timeout: use a duration like 10m or an ISO 8601 date",
            ))
        }
    };
    if let Some(k) = &req.idempotency_key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(Error::invalid(format!(
                "idempotencyKey must be 1-{MAX_IDEMPOTENCY_KEY_LEN} characters"
            )));
        }
    }
    Ok(NewToken {
        idempotency_key: req.idempotency_key,
        key_ttl,
        due_at,
        tags,
    })
}

/// What completing a token did.
#[derive(Clone, Debug)]
pub struct TokenCompletion {
    /// False when the token was already complete (nothing changed).
    pub completed: bool,
    /// The version of the run that was waiting on the token (`runVersion`), if any.
    pub run_version: Option<String>,
}

/// A created (or found again) token.
#[derive(Clone, Debug)]
pub struct TokenCreated {
    pub token: Waitpoint,
    /// The idempotency key matched an existing token.
    pub is_cached: bool,
}

impl Engine {
    pub async fn create_token(&self, env_id: &str, req: NewToken) -> Result<TokenCreated> {
        self.write_retrying(|| {
            let (env_id, req) = (env_id.to_string(), req.clone());
            move |tx: &mut Txn<'_>| {
                let now = tx.now();
                if let Some(key) = &req.idempotency_key {
                    if let Some(token) = tx.waitpoint_by_idempotency_key(&env_id, key)? {
                        if token.idempotency_expires_at.is_some_and(|t| t <= now) {
                            tx.clear_waitpoint_idempotency_key(&token.id)?;
                        } else {
                            return Ok(TokenCreated {
                                token,
                                is_cached: true,
                            });
                        }
                    }
                }
                let token = Waitpoint {
                    seq: 0,
                    id: id::new("waitpoint"),
                    env_id,
                    kind: WaitpointKind::Token,
                    status: WaitpointStatus::Waiting,
                    owner_run_id: None,
                    due_at: req.due_at,
                    idempotency_expires_at: req.idempotency_key.as_ref().map(|_| now + req.key_ttl),
                    idempotency_key: req.idempotency_key,
                    tags: req.tags,
                    output: None,
                    batch_id: None,
                    created_at: now,
                    updated_at: now,
                    completed_at: None,
                    input: None,
                };
                tx.insert_waitpoint(&token)?;
                Ok(TokenCreated {
                    token,
                    is_cached: false,
                })
            }
        })
        .await
    }

    /// Completes a token with `data`; every run waiting on it is queued again. With a guard,
    /// every run waiting on the token must be on a matching version (checked in the same
    /// transaction as the delivery); otherwise nothing changes and the answer is
    /// [`Error::VersionMismatch`]. A token already complete changes nothing, guard or not.
    pub async fn complete_token(
        &self,
        env_id: &str,
        token_id: &str,
        data: Value,
        if_version: Option<String>,
    ) -> Result<TokenCompletion> {
        let guard = parse_guard(if_version)?;
        let output = data.to_string();
        check_size(
            "The token data",
            output.len(),
            self.config.max_payload_bytes,
        )?;
        self.write_retrying(|| {
            let (env_id, token_id, output, guard) = (
                env_id.to_string(),
                token_id.to_string(),
                output.clone(),
                guard.clone(),
            );
            move |tx: &mut Txn<'_>| {
                let token = token_in(tx.store(), &env_id, &token_id)?;
                if token.status != WaitpointStatus::Waiting {
                    return Ok(TokenCompletion {
                        completed: false,
                        run_version: None,
                    });
                }
                let waiting = waiting_runs(tx.store(), &token)?;
                if let Some((guard, expr)) = &guard {
                    check_guard(guard, expr, &waiting)?;
                }
                let now = tx.now();
                let completed =
                    complete_waitpoint(tx, &token, WaitpointStatus::Completed, Some(output), now)?;
                if completed {
                    // The runs waiting on the token are queued again.
                    tx.wake(&env_id);
                }
                Ok(TokenCompletion {
                    completed,
                    run_version: waiting.into_iter().find_map(|r| r.version),
                })
            }
        })
        .await
    }

    /// A token and the version of the run waiting on it (if any).
    pub async fn token(&self, env_id: &str, token_id: &str) -> Result<(Waitpoint, Option<String>)> {
        let (env_id, token_id) = (env_id.to_string(), token_id.to_string());
        self.read(move |tx| {
            let token = token_in(tx, &env_id, &token_id)?;
            let version = waiting_version(tx, &token)?;
            Ok((token, version))
        })
        .await
    }

    /// The environment a token belongs to, whoever asks (for its callback URL).
    pub async fn token_environment(&self, token_id: &str) -> Result<String> {
        let token_id = token_id.to_string();
        self.read(move |tx| {
            tx.waitpoint_any_env(&token_id)?
                .filter(|w| w.kind == WaitpointKind::Token)
                .map(|w| w.env_id)
                .ok_or_else(|| not_found(&token_id))
        })
        .await
    }

    /// One page of tokens, newest first; `after`/`before` are token ids. `size + 1` are read
    /// so the caller knows whether another page exists.
    pub async fn list_tokens(
        &self,
        env_id: &str,
        filter: WaitpointFilter,
        size: usize,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Vec<(Waitpoint, Option<String>)>> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let mut seq_of = |id: Option<String>| -> Result<Option<i64>> {
                let Some(id) = id else { return Ok(None) };
                let token = tx.waitpoint(&env_id, &id)?.ok_or_else(|| {
                    Error::invalid(format!("The cursor '{id}' does not name a token"))
                })?;
                Ok(Some(token.seq))
            };
            let page = Page {
                size: size + 1,
                after_seq: seq_of(after)?,
                before_seq: seq_of(before)?,
            };
            let filter = WaitpointFilter {
                kind: Some(WaitpointKind::Token),
                ..filter
            };
            tx.list_waitpoints(&env_id, &filter, page)?
                .into_iter()
                .map(|token| {
                    let version = waiting_version(tx, &token)?;
                    Ok((token, version))
                })
                .collect()
        })
        .await
    }
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("Waitpoint {id} not found"))
}

/// The runs waiting on a token, suspended or holding the wait (none once it is complete).
fn waiting_runs(tx: &mut dyn ReadTx, token: &Waitpoint) -> Result<Vec<Run>> {
    if token.status != WaitpointStatus::Waiting {
        return Ok(Vec::new());
    }
    let mut runs = Vec::new();
    for run_id in tx.runs_waiting_on(&token.id)? {
        if let Some(run) = tx.run(&token.env_id, &run_id)? {
            // Suspended on it, or holding the wait while its attempt runs (a worker's held
            // wait, a task of the Trigger.dev CLI).
            if matches!(run.status, RunStatus::Waiting | RunStatus::Executing) {
                runs.push(run);
            }
        }
    }
    Ok(runs)
}

/// The version of the run waiting on a token (`runVersion`), if any run waits on it.
fn waiting_version(tx: &mut dyn ReadTx, token: &Waitpoint) -> Result<Option<String>> {
    Ok(waiting_runs(tx, token)?.into_iter().find_map(|r| r.version))
}

/// Every waiting run must match the guard; no waiting run is a mismatch (version `null`).
fn check_guard(guard: &VersionGuard, expr: &str, waiting: &[Run]) -> Result<()> {
    if waiting.is_empty() {
        return Err(mismatch(expr, None));
    }
    match waiting
        .iter()
        .find(|r| !guard.matches(r.version.as_deref()))
    {
        Some(run) => Err(mismatch(expr, Some(run))),
        None => Ok(()),
    }
}

/// A token of the environment (locked in a write).
fn token_in(tx: &mut dyn ReadTx, env_id: &str, token_id: &str) -> Result<Waitpoint> {
    tx.waitpoint(env_id, token_id)?
        .filter(|w| w.kind == WaitpointKind::Token)
        .ok_or_else(|| not_found(token_id))
}
