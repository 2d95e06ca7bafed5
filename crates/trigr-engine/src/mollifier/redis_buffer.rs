//! The buffer in Redis (`--redis-url`): the same FIFOs as the store's, each operation one Lua
//! script ([`super::redis_scripts`]) run atomically by the Redis server.
//!
//! An entry is acknowledged once Redis answered its `accept`; it is as durable as the Redis
//! server's persistence makes it: `appendonly yes` with `appendfsync always` gives the same
//! guarantee as the store (docs/mollifier.md). Every call is bounded by a timeout; an error
//! or a timeout is a store-unavailable error, so the trigger path fails open.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use trigr_store::{BufferCursor, BufferDepth, BufferedEntry};
use trigr_types::Millis;

use super::buffer::{Accepted, BoxFuture, MollifierBuffer};
use super::redis_scripts as lua;
use crate::{Error, Result};

/// Longest wait for one Redis call.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// The buffer in Redis.
#[derive(Clone)]
pub struct RedisBuffer {
    conn: ConnectionManager,
    prefix: String,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    accept: Script,
    pop: Script,
    claim_expired: Script,
    release: Script,
    entries: Script,
    by_runs: Script,
    by_keys: Script,
    of_batch: Script,
    depths: Script,
}

/// A Redis failure as the engine reports it: the buffer is unavailable.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Store(trigr_store::Error::Unavailable(format!("redis: {e}")))
}

/// Connects to Redis at `url` with bounded waits (a client that reconnects by itself).
pub async fn connect(url: &str) -> Result<ConnectionManager> {
    let client =
        redis::Client::open(url).map_err(|e| Error::invalid(format!("--redis-url: {e}")))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let conn = tokio::time::timeout(
        CALL_TIMEOUT * 4,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| unavailable("connecting timed out"))?
    .map_err(unavailable)?;
    Ok(conn)
}

/// The key prefix of a deployment named `name`: `{name}:m:`, the braces a Redis Cluster hash
/// tag keeping every key of the buffer in one slot (its scripts touch several). A name is 1 to
/// 64 letters, digits, `-`, `_` or `.`.
pub fn key_prefix(name: &str) -> std::result::Result<String, String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    match ok {
        true => Ok(format!("{{{name}}}:m:")),
        false => Err(format!(
            "'{name}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        )),
    }
}

impl RedisBuffer {
    /// The buffer under `prefix` (every key starts with it) on a connection.
    pub fn new(conn: ConnectionManager, prefix: &str) -> RedisBuffer {
        RedisBuffer {
            conn,
            prefix: prefix.to_string(),
            scripts: Scripts {
                accept: Script::new(lua::ACCEPT),
                pop: Script::new(&lua::pop()),
                claim_expired: Script::new(&lua::claim_expired()),
                release: Script::new(&lua::release()),
                entries: Script::new(lua::ENTRIES),
                by_runs: Script::new(lua::BY_RUNS),
                by_keys: Script::new(lua::BY_KEYS),
                of_batch: Script::new(lua::OF_BATCH),
                depths: Script::new(lua::DEPTHS),
            },
        }
    }

    /// Runs a script with `args` after the prefix, within the call timeout.
    async fn call(&self, script: &Script, args: &[&dyn ToArg]) -> Result<Value> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        for a in args {
            a.push(&mut inv);
        }
        let mut conn = self.conn.clone();
        tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async::<Value>(&mut conn))
            .await
            .map_err(|_| unavailable("call timed out"))?
            .map_err(unavailable)
    }

    async fn entries_of(&self, script: &Script, args: &[&dyn ToArg]) -> Result<Vec<BufferedEntry>> {
        let value = self.call(script, args).await?;
        entries(value)
    }

    async fn release(&self, run_id: &str, claimer: &str, mode: &str) -> Result<bool> {
        let v = self
            .call(&self.scripts.release, &[&run_id, &claimer, &mode])
            .await?;
        Ok(int(&v)? == 1)
    }
}

/// An argument of a script.
trait ToArg: Sync {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>);
}

impl ToArg for &str {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>) {
        inv.arg(*self);
    }
}

impl ToArg for String {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>) {
        inv.arg(self.as_str());
    }
}

impl ToArg for i64 {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>) {
        inv.arg(*self);
    }
}

impl MollifierBuffer for RedisBuffer {
    fn accept(&self, e: BufferedEntry) -> BoxFuture<'_, Result<Accepted>> {
        Box::pin(async move {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let args: [&dyn ToArg; 10] = [
                &e.run_id,
                &e.env_id,
                &e.org_id,
                &e.task_id,
                &opt(&e.idempotency_key),
                &opt(&e.request_key),
                &e.body,
                &e.created_at,
                &e.expires_at,
                &opt(&e.batch_id),
            ];
            let v = self.call(&self.scripts.accept, &args).await?;
            let Value::Array(items) = v else {
                return Err(unavailable(format!("accept answered {v:?}")));
            };
            let code = items.first().map(int).transpose()?.unwrap_or(-1);
            let other = || items.get(1).map(text).transpose();
            Ok(match code {
                0 => Accepted::Exists,
                1 => Accepted::RequestKey(other()?.unwrap_or_default()),
                2 => Accepted::IdempotencyKey(other()?.unwrap_or_default()),
                3 => Accepted::New,
                _ => return Err(unavailable(format!("accept answered {items:?}"))),
            })
        })
    }

    fn get<'a>(
        &'a self,
        env_id: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BufferedEntry>>> {
        Box::pin(async move {
            let found = self.entries_of(&self.scripts.by_runs, &[&run_id]).await?;
            Ok(found.into_iter().find(|e| e.env_id == env_id))
        })
    }

    fn by_keys<'a>(
        &'a self,
        env_id: &'a str,
        task_id: &'a str,
        idempotency_key: Option<&'a str>,
        request_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        Box::pin(async move {
            let (idem, req) = (idempotency_key.unwrap_or(""), request_key.unwrap_or(""));
            self.entries_of(&self.scripts.by_keys, &[&env_id, &task_id, &idem, &req])
                .await
        })
    }

    fn entries<'a>(
        &'a self,
        env_id: &'a str,
        from: BufferCursor,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        Box::pin(async move {
            let (dir, seq) = match from {
                BufferCursor::Below(s) => ("below", s),
                BufferCursor::Above(s) => ("above", s),
            };
            self.entries_of(&self.scripts.entries, &[&env_id, &dir, &seq, &limit])
                .await
        })
    }

    fn of_batch<'a>(
        &'a self,
        env_id: &'a str,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        Box::pin(async move {
            let mut found = self
                .entries_of(&self.scripts.of_batch, &[&env_id, &batch_id])
                .await?;
            found.sort_by_key(|e| e.seq);
            Ok(found)
        })
    }

    fn remove<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.release(run_id, "", "drop"))
    }

    fn pop_many<'a>(
        &'a self,
        env_id: &'a str,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        Box::pin(async move {
            let limit = limit.max(0);
            self.entries_of(
                &self.scripts.pop,
                &[&env_id, &claimer, &now, &until, &limit],
            )
            .await
        })
    }

    fn ack<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.release(run_id, claimer, "drop"))
    }

    fn requeue<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.release(run_id, claimer, "requeue"))
    }

    fn fail<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.release(run_id, claimer, "drop"))
    }

    fn claim_expired<'a>(
        &'a self,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        Box::pin(async move {
            self.entries_of(
                &self.scripts.claim_expired,
                &[&claimer, &now, &until, &limit],
            )
            .await
        })
    }

    fn depths(&self, limit: i64) -> BoxFuture<'_, Result<Vec<BufferDepth>>> {
        Box::pin(async move {
            let Value::Array(rows) = self.call(&self.scripts.depths, &[]).await? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let Value::Array(f) = row else { continue };
                if f.len() != 4 {
                    continue;
                }
                out.push(BufferDepth {
                    env_id: text(&f[0])?,
                    org_id: text(&f[1])?,
                    depth: int(&f[2])?,
                    oldest_at: int(&f[3])?,
                });
            }
            out.sort_by(|a, b| a.env_id.cmp(&b.env_id));
            out.truncate(usize::try_from(limit).unwrap_or(0));
            Ok(out)
        })
    }

    fn envs(&self, limit: i64) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let key = format!("{}envs", self.prefix);
            let mut cmd = redis::cmd("HGETALL");
            cmd.arg(&key);
            let pairs: Vec<(String, String)> =
                tokio::time::timeout(CALL_TIMEOUT, cmd.query_async(&mut conn))
                    .await
                    .map_err(|_| unavailable("call timed out"))?
                    .map_err(unavailable)?;
            let mut pairs = pairs;
            pairs.sort();
            pairs.truncate(usize::try_from(limit).unwrap_or(0));
            Ok(pairs)
        })
    }
}

/// The entries of a script's answer (an array of `HGETALL` answers).
fn entries(value: Value) -> Result<Vec<BufferedEntry>> {
    let Value::Array(rows) = value else {
        return Ok(Vec::new());
    };
    rows.into_iter().map(entry).collect()
}

/// One entry from its hash's fields.
fn entry(row: Value) -> Result<BufferedEntry> {
    let Value::Array(flat) = row else {
        return Err(unavailable("an entry is not a hash"));
    };
    let mut e = BufferedEntry {
        seq: 0,
        run_id: String::new(),
        env_id: String::new(),
        org_id: String::new(),
        task_id: String::new(),
        idempotency_key: None,
        request_key: None,
        body: String::new(),
        claim: None,
        attempts: 0,
        created_at: 0,
        expires_at: 0,
        batch_id: None,
    };
    let (mut claimer, mut until) = (String::new(), 0);
    let some = |s: String| (!s.is_empty()).then_some(s);
    for pair in flat.chunks_exact(2) {
        let (name, v) = (text(&pair[0])?, &pair[1]);
        match name.as_str() {
            "seq" => e.seq = int(v)?,
            "run" => e.run_id = text(v)?,
            "env" => e.env_id = text(v)?,
            "org" => e.org_id = text(v)?,
            "task" => e.task_id = text(v)?,
            "idem" => e.idempotency_key = some(text(v)?),
            "req" => e.request_key = some(text(v)?),
            "body" => e.body = text(v)?,
            "created" => e.created_at = int(v)?,
            "expires" => e.expires_at = int(v)?,
            "batch" => e.batch_id = some(text(v)?),
            "attempts" => e.attempts = int(v)?,
            "claimer" => claimer = text(v)?,
            "till" => until = int(v)?,
            _ => {}
        }
    }
    if !claimer.is_empty() {
        e.claim = Some((claimer, until));
    }
    Ok(e)
}

fn text(v: &Value) -> Result<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(unavailable),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(unavailable(format!("expected text, got {other:?}"))),
    }
}

fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => text(other)?
            .parse()
            .map_err(|e| unavailable(format!("expected a number: {e}"))),
    }
}
