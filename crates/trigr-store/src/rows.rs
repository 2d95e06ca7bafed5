//! What every backend reads back the same way: the column lists of each table and how a row
//! of them becomes a record (and, for runs, the values a record writes to them). A backend
//! only says how to read one column ([`Columns`]).

use trigr_types::RunStatus;

use crate::model::{
    Attempt, AttemptOutcome, Batch, Deployment, EnvKind, Environment, InputMessage, InputWait,
    JournalEntry, JournalKind, LogEntry, Queue, QueueKind, Run, Span, Waitpoint, WaitpointKind,
    WaitpointStatus,
};
use crate::sql::Value;
use crate::{Error, Result};

/// Reading column `i` of a result row, whatever the driver.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A text column written as any string, NUL included (a run's payload), read back as it
    /// was written, on a backend whose text cannot hold a NUL as well.
    fn opt_any_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn flag(&self, i: usize) -> Result<bool>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>>;
}

/// Reads a JSON text column into a value.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) const ENV_COLUMNS: &str =
    "id, project_id, slug, kind, concurrency_limit, current_version, signing_secret, \
    default_region";

pub(crate) fn environment(r: &impl Columns) -> Result<Environment> {
    Ok(Environment {
        id: r.text(0)?,
        project_id: r.text(1)?,
        slug: r.text(2)?,
        kind: EnvKind::parse(&r.text(3)?).unwrap_or(EnvKind::Development),
        concurrency_limit: r.int(4)?,
        current_version: r.opt_text(5)?,
        signing_secret: r.text(6)?,
        default_region: r.opt_text(7)?,
    })
}

pub(crate) const DEPLOYMENT_COLUMNS: &str =
    "id, env_id, version, day, manifest, created_at, promoted_at, content_hash";

pub(crate) fn deployment(r: &impl Columns) -> Result<Deployment> {
    Ok(Deployment {
        id: r.text(0)?,
        env_id: r.text(1)?,
        version: r.text(2)?,
        day: r.text(3)?,
        tasks: json_col(&r.text(4)?)?,
        created_at: r.int(5)?,
        promoted_at: r.opt_int(6)?,
        content_hash: r.opt_text(7)?,
    })
}

pub(crate) const QUEUE_COLUMNS: &str =
    "id, env_id, name, kind, base_limit, override_limit, overridden_at, paused, served_seq, created_at, \
    description, source";

pub(crate) fn queue(r: &impl Columns) -> Result<Queue> {
    Ok(Queue {
        id: r.text(0)?,
        env_id: r.text(1)?,
        name: r.text(2)?,
        kind: if r.text(3)? == "task" {
            QueueKind::Task
        } else {
            QueueKind::Custom
        },
        base_limit: r.opt_int(4)?,
        override_limit: r.opt_int(5)?,
        overridden_at: r.opt_int(6)?,
        paused: r.flag(7)?,
        served_seq: r.int(8)?,
        created_at: r.int(9)?,
        description: r.opt_text(10)?,
        from_api: r.text(11)? == "api",
    })
}

pub(crate) const BATCH_COLUMNS: &str =
    "id, env_id, run_count, idempotency_key, idempotency_key_user, \
    sealed, items_accepted, created_at, updated_at";

pub(crate) fn batch(r: &impl Columns) -> Result<Batch> {
    Ok(Batch {
        id: r.text(0)?,
        env_id: r.text(1)?,
        run_count: r.int(2)?,
        idempotency_key: r.opt_text(3)?,
        idempotency_key_user: r.opt_text(4)?,
        sealed: r.flag(5)?,
        items_accepted: r.int(6)?,
        created_at: r.int(7)?,
        updated_at: r.int(8)?,
    })
}

/// Every column of `runs` but `seq`, in insert order (see [`run_values`]).
macro_rules! run_insert_columns {
    () => {
        "id, env_id, task_id, queue_id, queue_name, ckey, status, \
        version, payload, payload_type, metadata, metadata_type, tags, idempotency_key, \
        idempotency_key_user, idempotency_scope, idempotency_expires_at, request_key, priority_ms, \
        queue_ts, available_at, delay_until, ttl, ttl_expires_at, max_attempts, max_duration, machine, \
        attempt, lease, lease_expires_at, timeout_at, output, output_type, error, parent_run_id, \
        root_run_id, depth, batch_id, batch_index, trigger_function, is_test, created_at, updated_at, \
        started_at, finished_at, resumed, attempt_started_at, heartbeat_at, trace_id, span_id, \
        parent_span_id, region"
    };
}

/// Every column of `runs` but `seq`, in insert order: the values of [`run_values`].
pub(crate) const RUN_INSERT_COLUMNS: &str = run_insert_columns!();

/// How many columns [`RUN_INSERT_COLUMNS`] names.
pub(crate) const RUN_INSERT_COUNT: usize = 52;

/// `seq` and then [`RUN_INSERT_COLUMNS`], as [`run`] reads them.
pub(crate) const RUN_COLUMNS: &str = concat!("seq, ", run_insert_columns!());

/// The values a run writes to [`RUN_INSERT_COLUMNS`], in that order, given its `status` as
/// text, its `payload` in the form the backend stores it (see `sql::Db::any_text`) and its
/// `tags` as JSON text.
pub(crate) fn run_values<'a>(
    r: &'a Run,
    status: &'a &'static str,
    payload: &'a Option<&'a str>,
    tags: &'a String,
) -> [&'a dyn Value; RUN_INSERT_COUNT] {
    [
        &r.id,
        &r.env_id,
        &r.task_id,
        &r.queue_id,
        &r.queue_name,
        &r.ckey,
        status,
        &r.version,
        payload,
        &r.payload_type,
        &r.metadata,
        &r.metadata_type,
        tags,
        &r.idempotency_key,
        &r.idempotency_key_user,
        &r.idempotency_scope,
        &r.idempotency_expires_at,
        &r.request_key,
        &r.priority_ms,
        &r.queue_ts,
        &r.available_at,
        &r.delay_until,
        &r.ttl,
        &r.ttl_expires_at,
        &r.max_attempts,
        &r.max_duration,
        &r.machine,
        &r.attempt,
        &r.lease,
        &r.lease_expires_at,
        &r.timeout_at,
        &r.output,
        &r.output_type,
        &r.error,
        &r.parent_run_id,
        &r.root_run_id,
        &r.depth,
        &r.batch_id,
        &r.batch_index,
        &r.trigger_function,
        &r.is_test,
        &r.created_at,
        &r.updated_at,
        &r.started_at,
        &r.finished_at,
        &r.resumed,
        &r.attempt_started_at,
        &r.heartbeat_at,
        &r.joined_trace_id,
        &r.minted_span_id,
        &r.parent_span_id,
        &r.region,
    ]
}

/// Statuses whose TTL can still expire the run.
/// Statuses of runs holding a concurrency slot (see `RunStatus::holds_slot`).
pub(crate) const HOLDING_STATUSES: &str = "('DEQUEUED', 'EXECUTING')";
/// Runs not final yet: waiting for a version, a delay, a slot or a waitpoint, or running.
pub(crate) const LIVE_STATUSES: &str =
    "('PENDING_VERSION', 'DELAYED', 'QUEUED', 'DEQUEUED', 'EXECUTING', 'WAITING')";
pub(crate) const TTL_STATUSES: &str = "('PENDING_VERSION', 'DELAYED', 'QUEUED')";

pub(crate) fn run(r: &impl Columns) -> Result<Run> {
    let status: RunStatus = r
        .text(7)?
        .parse()
        .map_err(|e: trigr_types::UnknownStatus| Error::Corrupt(e.to_string()))?;
    Ok(Run {
        seq: r.int(0)?,
        id: r.text(1)?,
        env_id: r.text(2)?,
        task_id: r.text(3)?,
        queue_id: r.text(4)?,
        queue_name: r.text(5)?,
        ckey: r.text(6)?,
        status,
        version: r.opt_text(8)?,
        payload: r.opt_any_text(9)?,
        payload_type: r.text(10)?,
        metadata: r.opt_text(11)?,
        metadata_type: r.text(12)?,
        tags: json_col(&r.text(13)?)?,
        idempotency_key: r.opt_text(14)?,
        idempotency_key_user: r.opt_text(15)?,
        idempotency_scope: r.opt_text(16)?,
        idempotency_expires_at: r.opt_int(17)?,
        request_key: r.opt_text(18)?,
        priority_ms: r.int(19)?,
        queue_ts: r.int(20)?,
        available_at: r.int(21)?,
        delay_until: r.opt_int(22)?,
        ttl: r.opt_text(23)?,
        ttl_expires_at: r.opt_int(24)?,
        max_attempts: r.opt_int(25)?,
        max_duration: r.opt_int(26)?,
        machine: r.opt_text(27)?,
        attempt: r.int(28)?,
        lease: r.opt_text(29)?,
        lease_expires_at: r.opt_int(30)?,
        timeout_at: r.opt_int(31)?,
        output: r.opt_text(32)?,
        output_type: r.opt_text(33)?,
        error: r.opt_text(34)?,
        parent_run_id: r.opt_text(35)?,
        root_run_id: r.opt_text(36)?,
        depth: r.int(37)?,
        batch_id: r.opt_text(38)?,
        batch_index: r.opt_int(39)?,
        trigger_function: r.text(40)?,
        is_test: r.flag(41)?,
        created_at: r.int(42)?,
        updated_at: r.int(43)?,
        started_at: r.opt_int(44)?,
        finished_at: r.opt_int(45)?,
        resumed: r.flag(46)?,
        attempt_started_at: r.opt_int(47)?,
        heartbeat_at: r.opt_int(48)?,
        joined_trace_id: r.opt_text(49)?,
        minted_span_id: r.opt_text(50)?,
        parent_span_id: r.opt_text(51)?,
        region: r.text(52)?,
    })
}

pub(crate) const WAITPOINT_COLUMNS: &str =
    "seq, id, env_id, kind, status, owner_run_id, due_at, idempotency_key, \
    idempotency_expires_at, tags, output, batch_id, created_at, updated_at, completed_at, \
    input_stream, input_after";

/// [`WAITPOINT_COLUMNS`] without `seq`, in insert order.
pub(crate) const WAITPOINT_INSERT_COLUMNS: &str =
    "id, env_id, kind, status, owner_run_id, due_at, idempotency_key, \
    idempotency_expires_at, tags, output, batch_id, created_at, updated_at, completed_at, \
    input_stream, input_after";

fn waitpoint_status(s: &str) -> Result<WaitpointStatus> {
    WaitpointStatus::parse(s)
        .ok_or_else(|| Error::Corrupt(format!("unknown waitpoint status '{s}'")))
}

pub(crate) fn waitpoint(r: &impl Columns) -> Result<Waitpoint> {
    let kind = r.text(3)?;
    Ok(Waitpoint {
        seq: r.int(0)?,
        id: r.text(1)?,
        env_id: r.text(2)?,
        kind: WaitpointKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown waitpoint kind '{kind}'")))?,
        status: waitpoint_status(&r.text(4)?)?,
        owner_run_id: r.opt_text(5)?,
        due_at: r.opt_int(6)?,
        idempotency_key: r.opt_text(7)?,
        idempotency_expires_at: r.opt_int(8)?,
        tags: json_col(&r.text(9)?)?,
        output: r.opt_text(10)?,
        batch_id: r.opt_text(11)?,
        created_at: r.int(12)?,
        updated_at: r.int(13)?,
        completed_at: r.opt_int(14)?,
        input: match (r.opt_text(15)?, r.opt_int(16)?) {
            (Some(stream_id), Some(after)) => Some(InputWait { stream_id, after }),
            _ => None,
        },
    })
}

pub(crate) const INPUT_MESSAGE_COLUMNS: &str =
    "run_id, stream_id, seq, data, run_version, created_at";

pub(crate) fn input_message(r: &impl Columns) -> Result<InputMessage> {
    Ok(InputMessage {
        run_id: r.text(0)?,
        stream_id: r.text(1)?,
        seq: r.int(2)?,
        data: r.text(3)?,
        run_version: r.opt_text(4)?,
        created_at: r.int(5)?,
    })
}

/// The journal's columns (prefixed `j.`), then the status and output of the waitpoint joined
/// as `w`.
pub(crate) const JOURNAL_COLUMNS: &str =
    "j.run_id, j.pos, j.kind, j.name, j.output, j.waitpoint_id, j.created_at, w.status, w.output";

/// `FROM` clause of [`JOURNAL_COLUMNS`].
pub(crate) const JOURNAL_FROM: &str =
    "journal AS j LEFT JOIN waitpoints AS w ON w.id = j.waitpoint_id";

pub(crate) fn journal_entry(r: &impl Columns) -> Result<JournalEntry> {
    let kind = r.text(2)?;
    let wait = match r.opt_text(7)? {
        Some(status) => Some((waitpoint_status(&status)?, r.opt_text(8)?)),
        None => None,
    };
    Ok(JournalEntry {
        run_id: r.text(0)?,
        position: r.int(1)?,
        kind: JournalKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown journal entry kind '{kind}'")))?,
        name: r.text(3)?,
        output: r.opt_text(4)?,
        waitpoint_id: r.opt_text(5)?,
        created_at: r.int(6)?,
        wait,
    })
}

pub(crate) const LOG_COLUMNS: &str =
    "seq, run_id, logged_at, level, message, fields, created_at, attempt";

pub(crate) fn log_entry(r: &impl Columns) -> Result<LogEntry> {
    Ok(LogEntry {
        seq: r.int(0)?,
        run_id: r.text(1)?,
        time: r.int(2)?,
        level: r.text(3)?,
        message: r.text(4)?,
        fields: r.opt_text(5)?,
        created_at: r.int(6)?,
        attempt: r.int(7)?,
    })
}

pub(crate) const SPAN_COLUMNS: &str = "seq, run_id, trace_id, span_id, parent_span_id, name, \
    kind, start_ns, end_ns, status, message, attributes, created_at";

pub(crate) fn span(r: &impl Columns) -> Result<Span> {
    Ok(Span {
        seq: r.int(0)?,
        run_id: r.text(1)?,
        trace_id: r.text(2)?,
        span_id: r.text(3)?,
        parent_span_id: r.opt_text(4)?,
        name: r.text(5)?,
        kind: r.text(6)?,
        start_ns: r.int(7)?,
        end_ns: r.int(8)?,
        status: r.text(9)?,
        message: r.opt_text(10)?,
        attributes: r.opt_text(11)?,
        created_at: r.int(12)?,
    })
}

pub(crate) const ATTEMPT_COLUMNS: &str =
    "run_id, number, started_at, ended_at, outcome, error, retry_at";

pub(crate) fn attempt(r: &impl Columns) -> Result<Attempt> {
    let outcome = r.text(4)?;
    Ok(Attempt {
        run_id: r.text(0)?,
        number: r.int(1)?,
        started_at: r.opt_int(2)?,
        ended_at: r.int(3)?,
        outcome: AttemptOutcome::parse(&outcome)
            .ok_or_else(|| Error::Corrupt(format!("attempt outcome '{outcome}'")))?,
        error: r.opt_text(5)?,
        retry_at: r.opt_int(6)?,
    })
}

pub(crate) const OUTPUT_CHUNK_COLUMNS: &str = "run_id, stream_key, idx, body, created_at";

pub(crate) fn output_chunk(r: &impl Columns) -> Result<crate::model::OutputChunk> {
    Ok(crate::model::OutputChunk {
        run_id: r.text(0)?,
        stream_key: r.text(1)?,
        index: r.int(2)?,
        body: r.text(3)?,
        created_at: r.int(4)?,
    })
}
