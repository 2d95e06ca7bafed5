//! The Redis buffer's operations, one Lua script each, so each is atomic on the Redis server.
//!
//! Every key starts with the buffer's prefix (`ARGV[1]`, a Redis Cluster hash tag keeps them
//! in one slot). Per entry a hash `e:{run}`; per environment a sorted set of every entry by
//! its place (`all:{env}`), of its free entries (`q:{env}`) and of its claimed entries by
//! claim deadline (`c:{env}`); one sorted set of every entry by expiry (`exp`); a hash of the
//! environments with entries and their organization (`envs`); a key per request key
//! (`r:{env}:{key}`) and per idempotency key (`k:{env}:{task length}:{task}:{key}`) naming
//! the entry's run; a set per batch (`b:{env}:{batch}`); and the counter of places (`seq`).

/// Drops an entry and everything pointing at it (`drop(P, run)`), shared by the scripts that
/// remove entries.
const DROP: &str = r#"
local function drop(P, run)
  local e = P .. 'e:' .. run
  local f = redis.call('HMGET', e, 'env', 'task', 'idem', 'req', 'batch')
  local env = f[1]
  if not env then return 0 end
  redis.call('ZREM', P .. 'q:' .. env, run)
  redis.call('ZREM', P .. 'c:' .. env, run)
  redis.call('ZREM', P .. 'all:' .. env, run)
  redis.call('ZREM', P .. 'exp', run)
  if f[4] ~= '' then
    local k = P .. 'r:' .. env .. ':' .. f[4]
    if redis.call('GET', k) == run then redis.call('DEL', k) end
  end
  if f[3] ~= '' then
    local k = P .. 'k:' .. env .. ':' .. #f[2] .. ':' .. f[2] .. ':' .. f[3]
    if redis.call('GET', k) == run then redis.call('DEL', k) end
  end
  if f[5] ~= '' then redis.call('SREM', P .. 'b:' .. env .. ':' .. f[5], run) end
  redis.call('DEL', e)
  if redis.call('ZCARD', P .. 'all:' .. env) == 0 then redis.call('HDEL', P .. 'envs', env) end
  return 1
end
"#;

/// Claims an entry for a drainer (`claim(P, run, env, claimer, till)`), returning its fields.
const CLAIM: &str = r#"
local function claim(P, run, env, claimer, till)
  local e = P .. 'e:' .. run
  redis.call('ZREM', P .. 'q:' .. env, run)
  redis.call('ZADD', P .. 'c:' .. env, till, run)
  redis.call('HSET', e, 'claimer', claimer, 'till', till)
  return redis.call('HGETALL', e)
end
"#;

/// `accept(P, run, env, org, task, idem, req, body, created, expires, batch)`:
/// `{0}` when the run id is held, `{1, run}` / `{2, run}` when another entry holds the request
/// / idempotency key, `{3, seq}` once added.
pub const ACCEPT: &str = r#"
local P, run, env, org, task = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local idem, req, batch = ARGV[6], ARGV[7], ARGV[11]
local e = P .. 'e:' .. run
if redis.call('EXISTS', e) == 1 then return {0} end
local rkey = P .. 'r:' .. env .. ':' .. req
local ikey = P .. 'k:' .. env .. ':' .. #task .. ':' .. task .. ':' .. idem
if req ~= '' then
  local other = redis.call('GET', rkey)
  if other then return {1, other} end
end
if idem ~= '' then
  local other = redis.call('GET', ikey)
  if other then return {2, other} end
end
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', e, 'seq', seq, 'run', run, 'env', env, 'org', org, 'task', task,
  'idem', idem, 'req', req, 'body', ARGV[8], 'created', ARGV[9], 'expires', ARGV[10],
  'batch', batch, 'attempts', 0, 'claimer', '', 'till', 0)
redis.call('ZADD', P .. 'q:' .. env, seq, run)
redis.call('ZADD', P .. 'all:' .. env, seq, run)
redis.call('ZADD', P .. 'exp', ARGV[10], run)
redis.call('HSET', P .. 'envs', env, org)
if req ~= '' then redis.call('SET', rkey, run) end
if idem ~= '' then redis.call('SET', ikey, run) end
if batch ~= '' then redis.call('SADD', P .. 'b:' .. env .. ':' .. batch, run) end
return {3, seq}
"#;

/// `pop(P, env, claimer, now, until, limit)`: claims that ran out go back to the FIFO in their
/// place (their holder named until another claims them), then up to `limit` of the oldest unexpired free entries are claimed, oldest first.
pub fn pop() -> String {
    format!(
        "{CLAIM}{}",
        r#"
local P, env, claimer = ARGV[1], ARGV[2], ARGV[3]
local now, till, limit = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local q, c = P .. 'q:' .. env, P .. 'c:' .. env
for _, run in ipairs(redis.call('ZRANGEBYSCORE', c, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', c, run)
  local seq = redis.call('HGET', P .. 'e:' .. run, 'seq')
  -- Free again, though its last holder may still acknowledge it, as in the store.
  if seq then redis.call('ZADD', q, seq, run) end
end
local out = {}
local offset = 0
while #out < limit and offset < limit + 1000 do
  local runs = redis.call('ZRANGE', q, offset, offset + limit - 1)
  if #runs == 0 then break end
  offset = offset + #runs
  for _, run in ipairs(runs) do
    if #out < limit then
      local expires = tonumber(redis.call('HGET', P .. 'e:' .. run, 'expires'))
      if expires and expires > now then
        out[#out + 1] = claim(P, run, env, claimer, till)
        offset = offset - 1
      end
    end
  end
end
return out
"#
    )
}

/// `claim_expired(P, claimer, now, until, limit)`: up to `limit` entries whose time to live ran
/// out and that no drainer holds, claimed.
pub fn claim_expired() -> String {
    format!(
        "{CLAIM}{}",
        r#"
local P, claimer, now, till = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out = {}
for _, run in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))) do
  local f = redis.call('HMGET', P .. 'e:' .. run, 'env', 'claimer', 'till')
  if not f[1] then
    redis.call('ZREM', P .. 'exp', run)
  elseif f[2] == '' or tonumber(f[3]) <= now then
    out[#out + 1] = claim(P, run, f[1], claimer, till)
  end
end
return out
"#
    )
}

/// `release(P, run, claimer, mode)`: for the drainer holding the entry (any holder when
/// `claimer` is empty), `drop` removes it and `requeue` gives it back in its place, counting
/// the attempt. `1` when it did, `0` otherwise.
pub fn release() -> String {
    format!(
        "{DROP}{}",
        r#"
local P, run, claimer, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local e = P .. 'e:' .. run
local f = redis.call('HMGET', e, 'env', 'claimer', 'seq')
if not f[1] then return 0 end
if claimer ~= '' and f[2] ~= claimer then return 0 end
if mode == 'drop' then return drop(P, run) end
redis.call('ZREM', P .. 'c:' .. f[1], run)
redis.call('ZADD', P .. 'q:' .. f[1], f[3], run)
redis.call('HSET', e, 'claimer', '', 'till', 0)
redis.call('HINCRBY', e, 'attempts', 1)
return 1
"#
    )
}

/// `entries(P, env, direction, seq, limit)`: up to `limit` entries below `seq`, newest first
/// (`below`), or above it, oldest first (`above`).
pub const ENTRIES: &str = r#"
local P, env, dir, seq, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local all = P .. 'all:' .. env
local runs
if dir == 'below' then
  runs = redis.call('ZREVRANGEBYSCORE', all, '(' .. seq, '-inf', 'LIMIT', 0, limit)
else
  runs = redis.call('ZRANGEBYSCORE', all, '(' .. seq, '+inf', 'LIMIT', 0, limit)
end
local out = {}
for _, run in ipairs(runs) do out[#out + 1] = redis.call('HGETALL', P .. 'e:' .. run) end
return out
"#;

/// `by_runs(P, run…)`: the entries of these runs that exist.
pub const BY_RUNS: &str = r#"
local out = {}
for i = 2, #ARGV do
  local f = redis.call('HGETALL', ARGV[1] .. 'e:' .. ARGV[i])
  if #f > 0 then out[#out + 1] = f end
end
return out
"#;

/// `by_keys(P, env, task, idem, req)`: the entries holding the request key, then the
/// idempotency key.
pub const BY_KEYS: &str = r#"
local P, env, task, idem, req = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {}
local function add(k)
  local run = redis.call('GET', k)
  if run then
    local f = redis.call('HGETALL', P .. 'e:' .. run)
    if #f > 0 then out[#out + 1] = f end
  end
end
if req ~= '' then add(P .. 'r:' .. env .. ':' .. req) end
if idem ~= '' then add(P .. 'k:' .. env .. ':' .. #task .. ':' .. task .. ':' .. idem) end
return out
"#;

/// `of_batch(P, env, batch)`: the entries that are items of a batch.
pub const OF_BATCH: &str = r#"
local P = ARGV[1]
local out = {}
for _, run in ipairs(redis.call('SMEMBERS', P .. 'b:' .. ARGV[2] .. ':' .. ARGV[3])) do
  local f = redis.call('HGETALL', P .. 'e:' .. run)
  if #f > 0 then out[#out + 1] = f end
end
return out
"#;

/// `depths(P)`: every environment with entries, as `{env, org, depth, oldest created}`.
pub const DEPTHS: &str = r#"
local P = ARGV[1]
local envs = redis.call('HGETALL', P .. 'envs')
local out = {}
for i = 1, #envs, 2 do
  local env = envs[i]
  local all = P .. 'all:' .. env
  local first = redis.call('ZRANGE', all, 0, 0)
  local oldest = '0'
  if first[1] then oldest = redis.call('HGET', P .. 'e:' .. first[1], 'created') or '0' end
  out[#out + 1] = {env, envs[i + 1], redis.call('ZCARD', all), oldest}
end
return out
"#;
