//! The store conformance suite: behaviour every backend must show, written against the
//! [`Store`] and [`Tx`] interfaces only.
//!
//! A backend's test file implements [`Fixture`] (a fresh, empty database per test) and calls
//! [`suite!`] with an async function making one; the macro generates one `#[tokio::test]` per
//! conformance test. A new test is added here, as a `pub async fn`, and named in the macro.

#![allow(dead_code)]

mod output_streams;
pub use output_streams::*;
mod schedules;
pub use schedules::*;
mod run_events;
pub use run_events::*;
mod payload_text;
pub use payload_text::*;
mod unique_violations;
pub use unique_violations::*;
mod retention;
pub use retention::*;
mod attempts;
pub use attempts::*;
mod dashboard;
pub use dashboard::*;
mod metrics;
pub use metrics::*;
mod mollifier;
pub use mollifier::*;
mod lanes;
pub use lanes::*;
mod ai_tools;
mod kv;
pub use ai_tools::*;
pub use kv::*;
mod env_vars;
pub use env_vars::*;
mod queue_api;
pub use queue_api::*;
mod pats;
pub use pats::*;

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::task::JoinSet;
use trigr_store::{
    Batch, BufferCursor, BufferedEntry, Deployment, EnvKind, Environment, Error, InputMessage,
    InputWait, JournalEntry, JournalKind, LogEntry, Page, Queue, QueueKind, ReadTx, Run, RunFilter,
    Span, Store, Tx, Waitpoint, WaitpointFilter, WaitpointKind, WaitpointStatus,
};
use trigr_types::manifest::{QueueManifest, TaskManifest};
use trigr_types::{Millis, RetryPolicy, RunStatus};

/// One test's database: a new, empty one per test (a file in a temporary directory for
/// SQLite, a fresh database or schema for a server).
pub trait Fixture {
    /// Opens a new handle on this fixture's database: every call sees the same data, including
    /// after an earlier handle was closed.
    fn open(&self) -> Store;
    /// [`Fixture::open`], telling `observer` of every commit.
    fn open_observed(
        &self,
        observer: std::sync::Arc<dyn trigr_store::observe::CommitObserver>,
    ) -> Store;
}

/// Generates one `#[tokio::test]` per conformance test, each on a fresh fixture made by
/// `$fixture().await`. With `optional`, `$fixture().await` gives an `Option` instead, and
/// every test passes at once on `None` (a database server that is not there).
macro_rules! suite {
    ($fixture:path) => {
        $crate::conformance::suite!(@tests [Some($fixture().await)]);
    };
    (optional $fixture:path) => {
        $crate::conformance::suite!(@tests [$fixture().await]);
    };
    (@tests [$make:expr]) => {
        $crate::conformance::suite!(@store [$make];
            environments_and_keys,
            environment_settings,
            run_round_trip,
            run_payloads_keep_any_text,
            run_tags,
            update_run_compare_and_set,
            update_run_writes_mutable_state,
            update_runs_in_one_go,
            update_runs_over_writes_what_changed,
            lists_are_written_in_one_go,
            list_runs_filters,
            list_runs_pages,
            ready_runs,
            due_delayed,
            due_ttl,
            due_leases_and_timeouts,
            next_timer,
            unlocked_and_unstarted_runs,
            parked_runs_by_version,
            children,
            idempotency_keys,
            request_keys,
            queues,
            dequeue_order,
            concurrency_slots,
            queue_counts,
            batches,
            batch_items,
            deployments,
            deployments_by_content_hash,
            group_commit_isolates_failed_writes,
            panicking_write_is_rolled_back,
            failed_write_leaves_no_trace,
            update_run_writes_max_duration,
            waitpoint_round_trip,
            update_waitpoint_compare_and_set,
            list_waitpoints_filters_and_pages,
            due_waitpoints_and_timers,
            waitpoint_child_runs,
            journal_entries,
            journal_waits_show_their_waitpoint,
            run_logs,
            run_spans,
            snapshot_chains,
            attempts_round_trip,
            dashboard_sessions,
            dashboard_links_work_once,
            dashboard_finished_buckets,
            waitpoint_lock_serializes_completers,
            input_messages,
            input_cursors,
            input_waitpoints,
            worker_presence,
            output_chunks,
            output_stream_keys,
            schedule_round_trip,
            schedule_uniqueness,
            schedule_run_options_and_filters,
            due_schedules_and_claims,
            run_events_numbered_in_commit_order,
            run_events_concurrent_writers_never_number_backwards,
            run_events_pruned_by_age,
            pruned_run_events_name_no_run,
            retention_settings,
            expired_runs_oldest_first,
            expired_runs_still_needed,
            delete_runs_with_what_is_theirs,
            delete_expired_batches_tokens_and_packets,
            unique_violations_are_conflicts,
            queue_loads_across_environments,
            queue_api_tags_and_origin,
            queue_api_live_runs_move,
            versions_with_workers_since,
            buffer_accept_is_idempotent,
            buffer_requeue_keeps_fifo,
            trip_counts_are_summed_over_servers,
            buffer_operations_match_a_model,
            live_writes_go_before_queued_bulk_writes,
            kv_entries_expire_exactly,
            ai_tools_are_kept_per_environment_within_a_limit,
            pats_are_kept_hashed_used_and_revoked,
            pat_env_keys_are_kept_per_token_and_environment,
            pat_logins_are_approved_then_exchanged_once,
            concurrent_ai_tool_inserts_never_pass_the_limit,
            kv_put_if_absent_only_where_absent,
            kv_put_if_absent_has_one_winner,
            kv_delete_counts_live_entries,
            kv_expired_entries_reclaimed_in_batches,
            env_vars_put_and_read_back,
            env_vars_conditional_writes,
            env_var_insert_has_one_winner,
            env_var_lock_serializes_writers,
        );
        $crate::conformance::suite!(@fixture [$make];
            reopening_keeps_data,
            acknowledged_writes_survive_close,
            commits_are_observed,
        );
    };
    (@store [$make:expr]; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(fixture) = $make else { return };
            let store = $crate::conformance::Fixture::open(&fixture);
            $crate::conformance::$name(&store).await;
            store.close();
        }
    )*};
    (@fixture [$make:expr]; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(fixture) = $make else { return };
            $crate::conformance::$name(&fixture).await;
        }
    )*};
}
pub(crate) use suite;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

pub const NOW: Millis = 1_700_000_000_000;
pub const V1: &str = "20240101.1";
pub const V2: &str = "20240101.2";

/// How long any single store call may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `f` in a write transaction and expects it to succeed.
pub async fn write<R, F>(store: &Store, f: F) -> R
where
    F: FnOnce(&mut dyn Tx) -> trigr_store::Result<R> + Send + 'static,
    R: Send + 'static,
{
    tokio::time::timeout(PATIENCE, store.write(f))
        .await
        .expect("write hung")
        .expect("write failed")
}

/// Runs `f` in a write transaction and returns its result as is.
pub async fn try_write<R, F>(store: &Store, f: F) -> trigr_store::Result<R>
where
    F: FnOnce(&mut dyn Tx) -> trigr_store::Result<R> + Send + 'static,
    R: Send + 'static,
{
    tokio::time::timeout(PATIENCE, store.write(f))
        .await
        .expect("write hung")
}

/// Runs `f` on a read snapshot and expects it to succeed.
pub async fn read<R, F>(store: &Store, f: F) -> R
where
    F: FnOnce(&mut dyn ReadTx) -> trigr_store::Result<R> + Send + 'static,
    R: Send + 'static,
{
    tokio::time::timeout(PATIENCE, store.read(f))
        .await
        .expect("read hung")
        .expect("read failed")
}

pub fn environment(env_id: &str) -> Environment {
    Environment {
        id: env_id.to_string(),
        project_id: format!("proj_{env_id}"),
        slug: "dev".to_string(),
        kind: EnvKind::Development,
        concurrency_limit: 25,
        current_version: None,
        signing_secret: format!("secret_{env_id}"),
        default_region: None,
    }
}

/// Inserts an organization, a project and an environment `env_id`.
pub async fn seed_env(store: &Store, env_id: &str) -> Environment {
    let env = environment(env_id);
    let e = env.clone();
    write(store, move |tx| {
        tx.insert_organization(&format!("org_{}", e.id), &format!("org-{}", e.id), NOW)?;
        tx.insert_project(
            &e.project_id,
            &format!("org_{}", e.id),
            &format!("proj_ref_{}", e.id),
            &format!("Project {}", e.id),
            NOW,
        )?;
        tx.insert_environment(&e, NOW)
    })
    .await;
    env
}

pub fn sample_queue(env_id: &str, name: &str) -> Queue {
    Queue {
        id: format!("queue_{env_id}_{}", name.replace('/', "_")),
        env_id: env_id.to_string(),
        name: name.to_string(),
        kind: if name.starts_with("task/") {
            QueueKind::Task
        } else {
            QueueKind::Custom
        },
        base_limit: None,
        override_limit: None,
        overridden_at: None,
        paused: false,
        served_seq: 0,
        created_at: NOW,
        description: None,
        from_api: false,
    }
}

pub async fn seed_queue(store: &Store, env_id: &str, name: &str) -> Queue {
    let q = sample_queue(env_id, name);
    let q2 = q.clone();
    write(store, move |tx| tx.insert_queue(&q2)).await;
    q
}

/// Inserts an environment `env_id` with the queue `task/task-a`.
pub async fn seed(store: &Store, env_id: &str) -> (Environment, Queue) {
    let env = seed_env(store, env_id).await;
    let queue = seed_queue(store, env_id, "task/task-a").await;
    (env, queue)
}

/// A `QUEUED` run of `task-a` on version [`V1`], created at `NOW + n`, with no options.
pub fn sample_run(env_id: &str, queue_id: &str, n: i64) -> Run {
    Run {
        seq: 0,
        id: format!("run_{env_id}_{n}"),
        env_id: env_id.to_string(),
        task_id: "task-a".to_string(),
        queue_id: queue_id.to_string(),
        queue_name: "task/task-a".to_string(),
        ckey: String::new(),
        status: RunStatus::Queued,
        version: Some(V1.to_string()),
        payload: Some(format!("{{\"n\":{n}}}")),
        payload_type: "application/json".to_string(),
        metadata: None,
        metadata_type: "application/json".to_string(),
        tags: Vec::new(),
        idempotency_key: None,
        idempotency_key_user: None,
        idempotency_scope: None,
        idempotency_expires_at: None,
        request_key: None,
        priority_ms: 0,
        queue_ts: NOW + n,
        available_at: NOW,
        delay_until: None,
        ttl: None,
        ttl_expires_at: None,
        max_attempts: None,
        max_duration: None,
        machine: None,
        attempt: 0,
        lease: None,
        lease_expires_at: None,
        timeout_at: None,
        output: None,
        output_type: None,
        error: None,
        parent_run_id: None,
        root_run_id: None,
        depth: 0,
        batch_id: None,
        batch_index: None,
        trigger_function: "trigger".to_string(),
        is_test: false,
        created_at: NOW + n,
        updated_at: NOW + n,
        started_at: None,
        finished_at: None,
        resumed: false,
        attempt_started_at: None,
        heartbeat_at: None,
        joined_trace_id: None,
        minted_span_id: None,
        parent_span_id: None,
        region: "default".to_string(),
    }
}

/// A run with every optional field set to a distinctive value.
pub fn full_run(env_id: &str, queue_id: &str) -> Run {
    Run {
        seq: 0,
        id: format!("run_{env_id}_full"),
        env_id: env_id.to_string(),
        task_id: "email/send-welcome".to_string(),
        queue_id: queue_id.to_string(),
        queue_name: "emails".to_string(),
        ckey: "customer-42".to_string(),
        status: RunStatus::Executing,
        version: Some("20240315.7".to_string()),
        payload: Some("{\"to\":\"zoë@example.com\",\"quote\":\"\\\"hi\\\"\"}".to_string()),
        payload_type: "application/super+json".to_string(),
        metadata: Some("{\"progress\":0.5}".to_string()),
        metadata_type: "application/x-metadata".to_string(),
        tags: vec!["customer:42".to_string(), "région:eu".to_string()],
        idempotency_key: Some("idem-hash-1".to_string()),
        idempotency_key_user: Some("my-key".to_string()),
        idempotency_scope: Some("global".to_string()),
        idempotency_expires_at: Some(NOW + 86_400_000),
        request_key: Some("request-key-1".to_string()),
        priority_ms: 30_000,
        queue_ts: NOW - 30_000,
        available_at: NOW + 5,
        delay_until: Some(NOW + 1_000),
        ttl: Some("10m".to_string()),
        ttl_expires_at: Some(NOW + 600_000),
        max_attempts: Some(7),
        max_duration: Some(300),
        machine: Some("medium-1x".to_string()),
        attempt: 2,
        lease: Some("lease_full".to_string()),
        lease_expires_at: Some(NOW + 30_000),
        timeout_at: Some(NOW + 300_000),
        output: Some("{\"ok\":true}".to_string()),
        output_type: Some("application/json".to_string()),
        error: Some("{\"message\":\"boom\",\"name\":\"Error\"}".to_string()),
        parent_run_id: Some("run_parent".to_string()),
        root_run_id: Some("run_root".to_string()),
        depth: 2,
        batch_id: Some("batch_full".to_string()),
        batch_index: Some(3),
        trigger_function: "batchTriggerAndWait".to_string(),
        is_test: true,
        created_at: NOW - 1,
        updated_at: NOW + 2,
        started_at: Some(NOW + 3),
        finished_at: Some(NOW + 4),
        resumed: true,
        attempt_started_at: Some(NOW + 6),
        heartbeat_at: Some(NOW + 7),
        joined_trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_string()),
        minted_span_id: Some("00f067aa0ba902b7".to_string()),
        parent_span_id: Some("b7ad6b7169203331".to_string()),
        region: "eu-central-1".to_string(),
    }
}

/// Inserts runs, one write each, and returns them with their seq set.
pub async fn insert_runs(store: &Store, runs: Vec<Run>) -> Vec<Run> {
    let mut out = Vec::with_capacity(runs.len());
    for mut run in runs {
        let r = run.clone();
        run.seq = write(store, move |tx| tx.insert_run(&r)).await;
        out.push(run);
    }
    out
}

/// Priorities of the runs `migrated_priorities` checks, in seconds (as stored before
/// migration 11) and in milliseconds (after it).
const PRIORITIES: [(i64, i64, i64); 3] = [(1, 5, 5_000), (2, 0, 0), (3, -2, -2_000)];

/// Runs whose `priority_ms` holds whole seconds, as a store before migration 11 kept them; the
/// caller then rewinds its backend's schema to before 11 and reopens the store.
pub async fn runs_with_priorities_in_seconds(store: &Store) {
    let (env, queue) = seed(store, "env_a").await;
    let runs = PRIORITIES
        .iter()
        .map(|&(n, seconds, _)| {
            let mut r = sample_run(&env.id, &queue.id, n);
            r.priority_ms = seconds;
            r
        })
        .collect();
    insert_runs(store, runs).await;
}

/// After migration 11 ran again: the seconds became milliseconds.
pub async fn migrated_priorities(store: &Store) {
    for (n, _, ms) in PRIORITIES {
        let run = get_run(store, "env_a", &format!("run_env_a_{n}"))
            .await
            .unwrap();
        assert_eq!(run.priority_ms, ms, "run {n}");
    }
}

pub async fn get_run(store: &Store, env_id: &str, id: &str) -> Option<Run> {
    let (env_id, id) = (env_id.to_string(), id.to_string());
    read(store, move |tx| tx.run(&env_id, &id)).await
}

pub fn ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.id.clone()).collect()
}

/// The numbers of a backend's migration files, in order: each must be recorded once.
pub fn migration_numbers(backend: &str) -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut numbers: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.split('_').next()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers.last(), Some(&trigr_store::SCHEMA_VERSION));
    numbers
}

pub fn names(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Asserts that two runs agree on every field.
pub fn assert_run_eq(actual: &Run, expected: &Run) {
    // Destructured without `..`: a new field of `Run` must be added here.
    let Run {
        seq,
        id,
        env_id,
        task_id,
        queue_id,
        queue_name,
        ckey,
        status,
        version,
        payload,
        payload_type,
        metadata,
        metadata_type,
        tags,
        idempotency_key,
        idempotency_key_user,
        idempotency_scope,
        idempotency_expires_at,
        request_key,
        priority_ms,
        queue_ts,
        available_at,
        delay_until,
        ttl,
        ttl_expires_at,
        max_attempts,
        max_duration,
        machine,
        attempt,
        lease,
        lease_expires_at,
        timeout_at,
        output,
        output_type,
        error,
        parent_run_id,
        root_run_id,
        depth,
        batch_id,
        batch_index,
        trigger_function,
        is_test,
        created_at,
        updated_at,
        started_at,
        finished_at,
        resumed,
        attempt_started_at,
        heartbeat_at,
        joined_trace_id,
        minted_span_id,
        parent_span_id,
        region,
    } = expected;
    macro_rules! same {
        ($($field:ident),*) => {$(
            assert_eq!(
                &actual.$field, $field,
                "run {}: field `{}` differs", expected.id, stringify!($field)
            );
        )*};
    }
    same!(
        seq,
        id,
        env_id,
        task_id,
        queue_id,
        queue_name,
        ckey,
        status,
        version,
        payload,
        payload_type,
        metadata,
        metadata_type,
        tags,
        idempotency_key,
        idempotency_key_user,
        idempotency_scope,
        idempotency_expires_at,
        request_key,
        priority_ms,
        queue_ts,
        available_at,
        delay_until,
        ttl,
        ttl_expires_at,
        max_attempts,
        max_duration,
        machine,
        attempt,
        lease,
        lease_expires_at,
        timeout_at,
        output,
        output_type,
        error,
        parent_run_id,
        root_run_id,
        depth,
        batch_id,
        batch_index,
        trigger_function,
        is_test,
        created_at,
        updated_at,
        started_at,
        finished_at,
        resumed,
        attempt_started_at,
        heartbeat_at,
        joined_trace_id,
        minted_span_id,
        parent_span_id,
        region
    );
}

pub fn assert_env_eq(actual: &Environment, expected: &Environment) {
    let Environment {
        id,
        project_id,
        slug,
        kind,
        concurrency_limit,
        current_version,
        signing_secret,
        default_region,
    } = expected;
    assert_eq!(&actual.id, id);
    assert_eq!(&actual.project_id, project_id);
    assert_eq!(&actual.slug, slug);
    assert_eq!(&actual.kind, kind);
    assert_eq!(&actual.concurrency_limit, concurrency_limit);
    assert_eq!(&actual.current_version, current_version);
    assert_eq!(&actual.signing_secret, signing_secret);
    assert_eq!(&actual.default_region, default_region);
}

pub fn assert_queue_eq(actual: &Queue, expected: &Queue) {
    let Queue {
        id,
        env_id,
        name,
        kind,
        base_limit,
        override_limit,
        overridden_at,
        paused,
        served_seq,
        created_at,
        description,
        from_api,
    } = expected;
    assert_eq!(&actual.description, description);
    assert_eq!(&actual.from_api, from_api);
    assert_eq!(&actual.id, id);
    assert_eq!(&actual.env_id, env_id);
    assert_eq!(&actual.name, name);
    assert_eq!(&actual.kind, kind);
    assert_eq!(&actual.base_limit, base_limit);
    assert_eq!(&actual.override_limit, override_limit);
    assert_eq!(&actual.overridden_at, overridden_at);
    assert_eq!(&actual.paused, paused);
    assert_eq!(&actual.served_seq, served_seq);
    assert_eq!(&actual.created_at, created_at);
}

pub fn assert_batch_eq(actual: &Batch, expected: &Batch) {
    let Batch {
        id,
        env_id,
        run_count,
        idempotency_key,
        idempotency_key_user,
        sealed,
        items_accepted,
        created_at,
        updated_at,
    } = expected;
    assert_eq!(&actual.id, id);
    assert_eq!(&actual.env_id, env_id);
    assert_eq!(&actual.run_count, run_count);
    assert_eq!(&actual.idempotency_key, idempotency_key);
    assert_eq!(&actual.idempotency_key_user, idempotency_key_user);
    assert_eq!(&actual.sealed, sealed);
    assert_eq!(&actual.items_accepted, items_accepted);
    assert_eq!(&actual.created_at, created_at);
    assert_eq!(&actual.updated_at, updated_at);
}

pub fn assert_deployment_eq(actual: &Deployment, expected: &Deployment) {
    let Deployment {
        id,
        env_id,
        version,
        day,
        tasks,
        created_at,
        promoted_at,
        content_hash,
    } = expected;
    assert_eq!(&actual.content_hash, content_hash);
    assert_eq!(&actual.id, id);
    assert_eq!(&actual.env_id, env_id);
    assert_eq!(&actual.version, version);
    assert_eq!(&actual.day, day);
    assert_eq!(&actual.tasks, tasks);
    assert_eq!(&actual.created_at, created_at);
    assert_eq!(&actual.promoted_at, promoted_at);
}

/// All runs of an environment, newest first.
pub async fn all_runs(store: &Store, env_id: &str) -> Vec<Run> {
    list(store, env_id, RunFilter::default(), 10_000).await
}

pub async fn list(store: &Store, env_id: &str, filter: RunFilter, size: usize) -> Vec<Run> {
    page(
        store,
        env_id,
        filter,
        Page {
            size,
            after_seq: None,
            before_seq: None,
        },
    )
    .await
}

pub async fn page(store: &Store, env_id: &str, filter: RunFilter, page: Page) -> Vec<Run> {
    let env_id = env_id.to_string();
    read(store, move |tx| tx.list_runs(&env_id, &filter, page)).await
}

// ---------------------------------------------------------------------------------------------
// Environments and keys
// ---------------------------------------------------------------------------------------------

pub async fn environments_and_keys(store: &Store) {
    assert!(!read(store, |tx| tx.has_environments()).await);
    assert!(read(store, |tx| tx.environments()).await.is_empty());

    let mut env = environment("env_a");
    env.current_version = Some(V1.to_string());
    env.kind = EnvKind::Production;
    env.slug = "prod".to_string();
    let e = env.clone();
    write(store, move |tx| {
        tx.insert_organization("org_1", "acme", NOW)?;
        tx.insert_project(&e.project_id, "org_1", "proj_ref_abc", "Acme", NOW)?;
        tx.insert_environment(&e, NOW)
    })
    .await;
    let other = seed_env(store, "env_b").await;

    assert!(read(store, |tx| tx.has_environments()).await);
    let stored = read(store, |tx| tx.environment("env_a"))
        .await
        .expect("env_a");
    assert_env_eq(&stored, &env);
    assert!(read(store, |tx| tx.environment("env_missing"))
        .await
        .is_none());
    let all = read(store, |tx| tx.environments()).await;
    let mut all_ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    all_ids.sort();
    assert_eq!(all_ids, names(&["env_a", "env_b"]));
    let projects = read(store, |tx| tx.projects()).await;
    let mut seen: Vec<_> = projects
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                p.org_id.clone(),
                p.project_ref.clone(),
                p.name.clone(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                env.project_id.clone(),
                "org_1".into(),
                "proj_ref_abc".into(),
                "Acme".into()
            ),
            (
                other.project_id.clone(),
                "org_env_b".into(),
                "proj_ref_env_b".into(),
                "Project env_b".into()
            ),
        ]
    );
    assert!(projects.iter().all(|p| p.created_at == NOW));

    // Keys: a hash is added once.
    assert_eq!(read(store, |tx| tx.api_key_count("env_a")).await, 0);
    assert!(
        write(store, |tx| tx.insert_api_key(
            "hash_1",
            "tr_dev_hash_1",
            "env_a",
            NOW
        ))
        .await
    );
    assert!(
        !write(store, |tx| tx.insert_api_key(
            "hash_1",
            "tr_dev_hash_1",
            "env_a",
            NOW
        ))
        .await
    );
    // The same hash cannot name another environment either.
    assert!(
        !write(store, |tx| tx.insert_api_key(
            "hash_1",
            "tr_dev_hash_1",
            "env_b",
            NOW
        ))
        .await
    );
    assert!(
        write(store, |tx| tx.insert_api_key(
            "hash_2",
            "tr_dev_hash_2",
            "env_a",
            NOW
        ))
        .await
    );
    assert!(
        write(store, |tx| tx.insert_api_key(
            "hash_3",
            "tr_dev_hash_3",
            "env_b",
            NOW
        ))
        .await
    );
    assert_eq!(read(store, |tx| tx.api_key_count("env_a")).await, 2);
    assert_eq!(read(store, |tx| tx.api_key_count("env_b")).await, 1);

    let (found, ends) = read(store, |tx| tx.env_by_key_hash("hash_1"))
        .await
        .expect("hash_1 names an environment");
    assert_env_eq(&found, &env);
    assert_eq!(ends, None);
    let (found, _) = read(store, |tx| tx.env_by_key_hash("hash_3"))
        .await
        .expect("hash_3 names an environment");
    assert_env_eq(&found, &other);
    assert!(read(store, |tx| tx.env_by_key_hash("hash_unknown"))
        .await
        .is_none());

    // Rotation: every key of env_a valid then gets that end; a key already ending sooner
    // keeps its end; env_b is untouched.
    assert_eq!(
        write(store, |tx| tx.expire_api_keys("env_a", NOW + 500)).await,
        2
    );
    assert_eq!(
        write(store, |tx| tx.expire_api_keys("env_a", NOW + 900)).await,
        0
    );
    assert_eq!(
        write(store, |tx| tx.expire_api_keys("env_a", NOW + 100)).await,
        2
    );
    let (_, ends) = read(store, |tx| tx.env_by_key_hash("hash_1"))
        .await
        .unwrap();
    assert_eq!(ends, Some(NOW + 100));
    assert_eq!(
        read(store, |tx| tx.env_by_key_hash("hash_3"))
            .await
            .unwrap()
            .1,
        None
    );
    // Revocation: once; it ends the key at once, even inside a grace period.
    assert!(write(store, |tx| tx.revoke_api_key("hash_1", NOW + 50)).await);
    assert!(!write(store, |tx| tx.revoke_api_key("hash_1", NOW + 60)).await);
    assert!(!write(store, |tx| tx.revoke_api_key("hash_unknown", NOW)).await);
    assert_eq!(
        read(store, |tx| tx.env_by_key_hash("hash_1"))
            .await
            .unwrap()
            .1,
        Some(NOW + 50)
    );
    // A revoked key is not given a later end by a rotation.
    write(store, |tx| tx.expire_api_keys("env_a", NOW + 20)).await;
    let keys = read(store, |tx| tx.api_keys()).await;
    let key = |h: &str| keys.iter().find(|k| k.key_hash == h).unwrap().clone();
    assert_eq!(keys.len(), 3);
    assert_eq!(key("hash_1").revoked_at, Some(NOW + 50));
    assert_eq!(key("hash_1").expires_at, Some(NOW + 100));
    assert_eq!(key("hash_2").expires_at, Some(NOW + 20));
    assert_eq!(key("hash_2").prefix.as_deref(), Some("tr_dev_hash_2"));
    assert_eq!(key("hash_3").env_id, "env_b");
    assert_eq!(key("hash_3").ends_at(), None);
}

pub async fn environment_settings(store: &Store) {
    let env = seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;

    write(store, |tx| tx.set_env_concurrency_limit("env_a", 3)).await;
    write(store, |tx| tx.set_current_version("env_a", V2)).await;
    let a = read(store, |tx| tx.environment("env_a")).await.unwrap();
    assert_eq!(a.concurrency_limit, 3);
    assert_eq!(a.current_version.as_deref(), Some(V2));
    assert_eq!(a.signing_secret, env.signing_secret);
    let locked = write(store, |tx| tx.environment_for_update("env_a"))
        .await
        .unwrap();
    assert_env_eq(&locked, &a);
    assert!(write(store, |tx| tx.environment_for_update("env_x"))
        .await
        .is_none());
    let shared = write(store, |tx| tx.environment_for_share("env_a"))
        .await
        .unwrap();
    assert_env_eq(&shared, &a);
    assert!(write(store, |tx| tx.environment_for_share("env_x"))
        .await
        .is_none());
    let b = read(store, |tx| tx.environment("env_b")).await.unwrap();
    assert_eq!(b.concurrency_limit, 25);
    assert_eq!(b.current_version, None);

    // Two environments of one project cannot share a slug.
    let mut dup = environment("env_dup");
    dup.project_id = env.project_id.clone();
    assert!(try_write(store, move |tx| tx.insert_environment(&dup, NOW))
        .await
        .is_err());
    assert!(read(store, |tx| tx.environment("env_dup")).await.is_none());
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

pub async fn run_round_trip(store: &Store) {
    let (_, queue) = seed(store, "env_a").await;
    seed(store, "env_b").await;

    let mut full = full_run("env_a", &queue.id);
    let r = full.clone();
    full.seq = write(store, move |tx| tx.insert_run(&r)).await;
    assert!(full.seq > 0, "seq is positive, got {}", full.seq);

    let stored = get_run(store, "env_a", &full.id).await.expect("stored run");
    assert_run_eq(&stored, &full);
    // Inside a write transaction too.
    let id = full.id.clone();
    let in_write = write(store, move |tx| tx.run("env_a", &id)).await.unwrap();
    assert_run_eq(&in_write, &full);

    // A run with every option unset.
    let bare = insert_runs(store, vec![sample_run("env_a", &queue.id, 1)]).await;
    let stored = get_run(store, "env_a", &bare[0].id).await.unwrap();
    assert_run_eq(&stored, &bare[0]);
    assert!(stored.seq > full.seq, "seq grows with every insert");

    // Runs belong to their environment.
    assert!(get_run(store, "env_b", &full.id).await.is_none());
    assert!(get_run(store, "env_a", "run_missing").await.is_none());

    // Every status round-trips.
    let mut runs = Vec::new();
    for (i, status) in RunStatus::ALL.iter().enumerate() {
        let mut run = sample_run("env_a", &queue.id, 100 + i as i64);
        run.status = *status;
        runs.push(run);
    }
    for run in insert_runs(store, runs).await {
        let stored = get_run(store, "env_a", &run.id).await.unwrap();
        assert_run_eq(&stored, &run);
    }

    // Run ids are unique.
    let dup = sample_run("env_a", &queue.id, 1);
    assert!(try_write(store, move |tx| tx.insert_run(&dup))
        .await
        .is_err());
}

/// `insert_runs`, `insert_batch_items`, `insert_buffered_all` and `delete_buffered_runs`
/// write what the one-at-a-time writes would, in order (PostgreSQL writes them as arrays and
/// multi-row inserts of several sizes: 90 runs take each size).
pub async fn lists_are_written_in_one_go(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    write(store, |tx| {
        tx.insert_batch(&sample_batch("env_a", "batch_1"))
    })
    .await;
    let mut runs: Vec<Run> = (1..=90).map(|n| sample_run("env_a", &q.id, n)).collect();
    runs[0] = full_run("env_a", &q.id);
    runs[5].tags = names(&["blue", "green"]);
    runs[70].tags = names(&["blue"]);
    runs[89].payload = Some("with a \u{0} NUL".into());
    let batch: Vec<(i64, String)> = vec![(2, runs[3].id.clone()), (0, runs[1].id.clone())];
    let (to_insert, items) = (runs.clone(), batch.clone());
    let seqs = write(store, move |tx| {
        let seqs = tx.insert_runs(&to_insert.iter().collect::<Vec<_>>())?;
        let items: Vec<(i64, &str)> = items.iter().map(|(i, r)| (*i, r.as_str())).collect();
        tx.insert_batch_items("batch_1", &items)?;
        Ok(seqs)
    })
    .await;
    assert_eq!(seqs.len(), 90);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs in order: {seqs:?}"
    );
    for (run, seq) in runs.iter_mut().zip(&seqs) {
        run.seq = *seq;
        let stored = get_run(store, "env_a", &run.id).await.unwrap();
        assert_run_eq(&stored, run);
    }
    let blue = RunFilter {
        tags: names(&["blue"]),
        ..RunFilter::default()
    };
    assert_eq!(
        ids(&list(store, "env_a", blue, 50).await),
        [runs[70].id.clone(), runs[5].id.clone()]
    );
    assert_eq!(read(store, |tx| tx.batch_indexes("batch_1")).await, [0, 2]);
    let of_batch = read(store, |tx| tx.runs_of_batch("batch_1")).await;
    assert_eq!(ids(&of_batch), [runs[1].id.clone(), runs[3].id.clone()]);

    // Buffer entries keep their order; one whose run id is held already is skipped.
    let entry = |n: i64, body: &str| BufferedEntry {
        seq: 0,
        run_id: format!("run_buffered_{n}"),
        env_id: "env_a".into(),
        org_id: "org".into(),
        task_id: "t".into(),
        idempotency_key: (n == 3).then(|| "key".to_string()),
        request_key: None,
        body: body.into(),
        claim: None,
        attempts: 0,
        created_at: NOW,
        expires_at: NOW + 60_000,
        batch_id: (n == 2).then(|| "batch_1".to_string()),
    };
    write(store, move |tx| tx.insert_buffered(&entry(2, "first"))).await;
    let entries = vec![
        entry(4, "{}"),
        entry(2, "again"),
        entry(1, "{}"),
        entry(3, "{}"),
    ];
    write(store, move |tx| tx.insert_buffered_all(&entries)).await;
    let buffered = || {
        read(store, |tx| {
            tx.buffered_entries("env_a", BufferCursor::Above(0), 100)
        })
    };
    let got = buffered().await;
    let order: Vec<&str> = got.iter().map(|e| e.run_id.as_str()).collect();
    assert_eq!(
        order,
        [
            "run_buffered_2",
            "run_buffered_4",
            "run_buffered_1",
            "run_buffered_3"
        ]
    );
    assert_eq!(got[0].body, "first");
    assert_eq!(got[3].idempotency_key.as_deref(), Some("key"));
    assert_eq!(got[0].batch_id.as_deref(), Some("batch_1"));
    write(store, |tx| {
        tx.delete_buffered_runs(&["run_buffered_4", "run_buffered_3", "run_missing"])
    })
    .await;
    let left: Vec<String> = buffered().await.into_iter().map(|e| e.run_id).collect();
    assert_eq!(left, names(&["run_buffered_2", "run_buffered_1"]));
}

pub async fn run_tags(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qb) = seed(store, "env_b").await;
    let mut r1 = sample_run("env_a", &q.id, 1);
    r1.tags = names(&["blue", "shared"]);
    let mut r2 = sample_run("env_a", &q.id, 2);
    r2.tags = names(&["green"]);
    let r3 = sample_run("env_a", &q.id, 3);
    let mut rb = sample_run("env_b", &qb.id, 1);
    rb.tags = names(&["blue"]);
    let runs = insert_runs(store, vec![r1, r2, r3, rb]).await;

    let stored = get_run(store, "env_a", &runs[0].id).await.unwrap();
    assert_eq!(stored.tags, names(&["blue", "shared"]));
    assert!(get_run(store, "env_a", &runs[2].id)
        .await
        .unwrap()
        .tags
        .is_empty());

    let by_tag = |tags: &[&str]| RunFilter {
        tags: names(tags),
        ..RunFilter::default()
    };
    assert_eq!(
        ids(&list(store, "env_a", by_tag(&["blue"]), 50).await),
        names(&["run_env_a_1"])
    );
    assert_eq!(
        ids(&list(store, "env_b", by_tag(&["blue"]), 50).await),
        names(&["run_env_b_1"])
    );
    assert!(list(store, "env_a", by_tag(&["red"]), 50).await.is_empty());

    // set_tags adds tags that filters then find.
    let mut r3 = runs[2].clone();
    r3.tags = names(&["green", "late"]);
    let r = r3.clone();
    write(store, move |tx| tx.set_tags(&r)).await;
    let stored = get_run(store, "env_a", &r3.id).await.unwrap();
    assert_eq!(stored.tags, names(&["green", "late"]));
    assert_eq!(
        ids(&list(store, "env_a", by_tag(&["late"]), 50).await),
        names(&["run_env_a_3"])
    );
    assert_eq!(
        ids(&list(store, "env_a", by_tag(&["green"]), 50).await),
        names(&["run_env_a_3", "run_env_a_2"])
    );
}

pub async fn update_run_compare_and_set(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let run = insert_runs(store, vec![sample_run("env_a", &q.id, 1)])
        .await
        .remove(0);

    let cas = |after: Run, status: RunStatus, lease: Option<&'static str>| {
        let store = store.clone();
        async move { write(&store, move |tx| tx.update_run(&after, status, lease)).await }
    };

    // QUEUED, no lease -> DEQUEUED with lease L1.
    let mut dequeued = run.clone();
    dequeued.status = RunStatus::Dequeued;
    dequeued.attempt = 1;
    dequeued.lease = Some("L1".to_string());
    dequeued.lease_expires_at = Some(NOW + 30_000);
    dequeued.started_at = Some(NOW + 10);
    dequeued.updated_at = NOW + 10;
    assert!(cas(dequeued.clone(), RunStatus::Queued, None).await);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &dequeued);

    // The same transition again finds another status: refused, nothing written.
    let mut other = dequeued.clone();
    other.status = RunStatus::Canceled;
    other.lease = None;
    other.finished_at = Some(NOW + 99);
    assert!(!cas(other.clone(), RunStatus::Queued, None).await);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &dequeued);
    // Right status, wrong lease.
    assert!(!cas(other.clone(), RunStatus::Dequeued, Some("L0")).await);
    // Right status, no lease expected but one is held.
    assert!(!cas(other.clone(), RunStatus::Dequeued, None).await);
    // Right lease, wrong status.
    assert!(!cas(other.clone(), RunStatus::Executing, Some("L1")).await);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &dequeued);

    // Right status and lease.
    let mut executing = dequeued.clone();
    executing.status = RunStatus::Executing;
    executing.lease_expires_at = Some(NOW + 60_000);
    executing.updated_at = NOW + 20;
    assert!(cas(executing.clone(), RunStatus::Dequeued, Some("L1")).await);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &executing);

    // Back to no lease; then a lease is expected where there is none.
    let mut waiting = executing.clone();
    waiting.status = RunStatus::Queued;
    waiting.lease = None;
    waiting.lease_expires_at = None;
    waiting.updated_at = NOW + 30;
    assert!(cas(waiting.clone(), RunStatus::Executing, Some("L1")).await);
    assert!(!cas(other.clone(), RunStatus::Queued, Some("L1")).await);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &waiting);

    // Two writers racing from the same snapshot: exactly one wins.
    let mut a = waiting.clone();
    a.status = RunStatus::Dequeued;
    a.lease = Some("LA".to_string());
    let mut b = waiting.clone();
    b.status = RunStatus::Dequeued;
    b.lease = Some("LB".to_string());
    let (wa, wb) = tokio::join!(
        cas(a.clone(), RunStatus::Queued, None),
        cas(b.clone(), RunStatus::Queued, None)
    );
    assert!(wa ^ wb, "exactly one writer wins: {wa} {wb}");
    let stored = get_run(store, "env_a", &run.id).await.unwrap();
    assert_run_eq(&stored, if wa { &a } else { &b });

    // An unknown run is not updated.
    let mut ghost = sample_run("env_a", &q.id, 2);
    ghost.status = RunStatus::Completed;
    assert!(!cas(ghost, RunStatus::Queued, None).await);
    assert!(get_run(store, "env_a", "run_env_a_2").await.is_none());
}

/// Every field the engine changes through `update_run` is written.
pub async fn update_run_writes_mutable_state(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let mut before = sample_run("env_a", &q.id, 1);
    before.status = RunStatus::PendingVersion;
    before.version = None;
    before.tags = names(&["t1"]);
    let before = insert_runs(store, vec![before]).await.remove(0);

    let mut after = before.clone();
    after.status = RunStatus::Executing;
    after.version = Some(V2.to_string());
    after.metadata = Some("{\"step\":2}".to_string());
    after.metadata_type = "application/super+json".to_string();
    after.idempotency_key = Some("idem-later".to_string());
    after.idempotency_expires_at = Some(NOW + 1_000_000);
    after.queue_ts = NOW + 77;
    after.available_at = NOW + 88;
    after.delay_until = Some(NOW + 99);
    after.ttl_expires_at = Some(NOW + 111);
    after.attempt = 4;
    after.lease = Some("lease_x".to_string());
    after.lease_expires_at = Some(NOW + 222);
    after.timeout_at = Some(NOW + 333);
    after.output = Some("\"done\"".to_string());
    after.output_type = Some("text/plain".to_string());
    after.error = Some("{\"message\":\"previous attempt\"}".to_string());
    after.tags = names(&["t1"]);
    after.updated_at = NOW + 444;
    after.started_at = Some(NOW + 555);
    after.finished_at = Some(NOW + 666);
    after.resumed = true;
    after.attempt_started_at = Some(NOW + 777);
    after.heartbeat_at = Some(NOW + 888);
    let a = after.clone();
    assert!(
        write(store, move |tx| tx.update_run(
            &a,
            RunStatus::PendingVersion,
            None
        ))
        .await
    );

    let stored = get_run(store, "env_a", &before.id).await.unwrap();
    assert_eq!(stored.status, RunStatus::Executing);
    assert_eq!(stored.version, after.version);
    assert_eq!(stored.metadata, after.metadata);
    assert_eq!(stored.metadata_type, after.metadata_type);
    assert_eq!(stored.idempotency_key, after.idempotency_key);
    assert_eq!(stored.idempotency_expires_at, after.idempotency_expires_at);
    assert_eq!(stored.queue_ts, after.queue_ts);
    assert_eq!(stored.available_at, after.available_at);
    assert_eq!(stored.delay_until, after.delay_until);
    assert_eq!(stored.ttl_expires_at, after.ttl_expires_at);
    assert_eq!(stored.attempt, after.attempt);
    assert_eq!(stored.lease, after.lease);
    assert_eq!(stored.lease_expires_at, after.lease_expires_at);
    assert_eq!(stored.timeout_at, after.timeout_at);
    assert_eq!(stored.output, after.output);
    assert_eq!(stored.output_type, after.output_type);
    assert_eq!(stored.error, after.error);
    assert_eq!(stored.tags, after.tags);
    assert_eq!(stored.updated_at, after.updated_at);
    assert_eq!(stored.started_at, after.started_at);
    assert_eq!(stored.finished_at, after.finished_at);
    assert!(stored.resumed);
    assert_eq!(stored.attempt_started_at, after.attempt_started_at);
    assert_eq!(stored.heartbeat_at, after.heartbeat_at);
    // Fields fixed at trigger time are unchanged.
    assert_eq!(stored.seq, before.seq);
    assert_eq!(stored.task_id, before.task_id);
    assert_eq!(stored.queue_id, before.queue_id);
    assert_eq!(stored.payload, before.payload);
    assert_eq!(stored.created_at, before.created_at);

    // Clearing optional fields writes NULLs back.
    let mut cleared = stored.clone();
    cleared.status = RunStatus::Queued;
    cleared.metadata = None;
    cleared.idempotency_key = None;
    cleared.idempotency_expires_at = None;
    cleared.delay_until = None;
    cleared.ttl_expires_at = None;
    cleared.lease = None;
    cleared.lease_expires_at = None;
    cleared.timeout_at = None;
    cleared.output = None;
    cleared.output_type = None;
    cleared.error = None;
    cleared.started_at = None;
    cleared.finished_at = None;
    cleared.resumed = false;
    cleared.attempt_started_at = None;
    cleared.heartbeat_at = None;
    let c = cleared.clone();
    assert!(
        write(store, move |tx| tx.update_run(
            &c,
            RunStatus::Executing,
            Some("lease_x")
        ))
        .await
    );
    assert_run_eq(
        &get_run(store, "env_a", &before.id).await.unwrap(),
        &cleared,
    );
}

/// A deployment locking a run to a version may give it the task's `maxDuration`.
/// `update_runs` is `update_run` for many: each compare-and-set judged on its own, every
/// mutable field written; `runs_by_ids` reads a set of runs of one environment.
pub async fn update_runs_in_one_go(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    seed(store, "env_o").await;
    let runs = insert_runs(
        store,
        (1..=4).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let foreign = insert_runs(
        store,
        vec![sample_run("env_o", "queue_env_o_task_task-a", 9)],
    )
    .await;

    let mut ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    ids.push("run_missing".into());
    ids.push(foreign[0].id.clone());
    let ids2 = ids.clone();
    let mut found: Vec<String> = write(store, move |tx| tx.runs_by_ids("env_a", &ids2))
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    found.sort();
    let mut want: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    want.sort();
    assert_eq!(
        found, want,
        "only the environment's runs, unknown ids left out"
    );
    let by_read = read(store, move |tx| tx.runs_by_ids("env_a", &ids)).await;
    assert_eq!(by_read.len(), 4);

    // Every field update_run writes, on each run differently.
    let afters: Vec<Run> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| changed_everywhere(r, i as i64))
        .collect();
    // Run 3 expects the wrong status and run 4 a lease it does not hold: both are left alone.
    let expect = [
        (RunStatus::Queued, None),
        (RunStatus::Queued, None),
        (RunStatus::Executing, None),
        (RunStatus::Queued, Some("L9")),
    ];
    let a2 = afters.clone();
    let written = write(store, move |tx| {
        let updates: Vec<_> = a2.iter().zip(expect).map(|(a, (s, l))| (a, s, l)).collect();
        tx.update_runs(&updates)
    })
    .await;
    assert_eq!(written, [true, true, false, false]);
    for (i, run) in runs.iter().enumerate() {
        let stored = get_run(store, "env_a", &run.id).await.unwrap();
        if written[i] {
            assert_run_eq(&stored, &afters[i]);
        } else {
            assert_run_eq(&stored, run);
        }
    }
    // An empty list writes nothing.
    assert!(write(store, |tx| tx.update_runs(&[])).await.is_empty());
}

/// `r` with every field [`RunTx::update_run`] writes changed, differently for each `i`.
fn changed_everywhere(r: &Run, i: i64) -> Run {
    let mut a = r.clone();
    a.status = RunStatus::Dequeued;
    a.version = Some(format!("2024010{i}.1"));
    a.metadata = Some(format!("{{\"i\":{i}}}"));
    a.metadata_type = "application/super+json".into();
    a.idempotency_key = None;
    a.idempotency_expires_at = Some(NOW + i);
    a.queue_ts = NOW + 10 + i;
    a.available_at = NOW + 20 + i;
    a.delay_until = Some(NOW + 30 + i);
    a.ttl_expires_at = None;
    a.attempt = 1 + i;
    a.lease = Some(format!("lease-{i}"));
    a.lease_expires_at = Some(NOW + 40 + i);
    a.timeout_at = Some(NOW + 50 + i);
    a.output = Some(format!("{i}"));
    a.output_type = Some("application/json".into());
    a.error = Some(format!("e{i}"));
    a.updated_at = NOW + 60 + i;
    a.started_at = Some(NOW + 70 + i);
    a.finished_at = None;
    a.max_duration = Some(100 + i);
    a.resumed = i % 2 == 0;
    a.attempt_started_at = Some(NOW + 80 + i);
    a.heartbeat_at = (i % 2 == 1).then_some(NOW + 90 + i);
    a
}

/// `update_runs_over` writes what changed between a run as read and as it should be, as a
/// compare-and-set on the status and lease read, found by `seq` or, without one, by id.
pub async fn update_runs_over_writes_what_changed(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let runs = insert_runs(
        store,
        (1..=5).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let mut befores = runs.clone();
    // Run 3 is read with another status and run 4 with a lease it does not hold: both are
    // left alone. Run 5 is known by id only.
    befores[2].status = RunStatus::Executing;
    befores[3].lease = Some("L9".into());
    befores[4].seq = 0;
    let mut afters: Vec<Run> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| changed_everywhere(r, i as i64))
        .collect();
    // Run 2 changes nothing but its update time.
    afters[1] = runs[1].clone();
    afters[1].updated_at = NOW + 500;
    let (b2, a2) = (befores.clone(), afters.clone());
    let written = write(store, move |tx| {
        let pairs: Vec<_> = b2.iter().zip(&a2).collect();
        tx.update_runs_over(&pairs)
    })
    .await;
    assert_eq!(written, [true, true, false, false, true]);
    for (i, run) in runs.iter().enumerate() {
        let stored = get_run(store, "env_a", &run.id).await.unwrap();
        assert_run_eq(&stored, if written[i] { &afters[i] } else { run });
    }

    assert!(write(store, |tx| tx.update_runs_over(&[])).await.is_empty());
}

pub async fn update_run_writes_max_duration(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let mut run = sample_run("env_a", &q.id, 1);
    run.status = RunStatus::PendingVersion;
    run.version = None;
    let run = insert_runs(store, vec![run]).await.remove(0);
    let mut after = run.clone();
    after.status = RunStatus::Queued;
    after.version = Some(V1.to_string());
    after.max_duration = Some(45);
    let a = after.clone();
    assert!(
        write(store, move |tx| tx.update_run(
            &a,
            RunStatus::PendingVersion,
            None
        ))
        .await
    );
    let stored = get_run(store, "env_a", &run.id).await.unwrap();
    assert_eq!(stored.max_duration, Some(45));
}

pub async fn list_runs_filters(store: &Store) {
    let (_, q1) = seed(store, "env_a").await;
    let q2 = seed_queue(store, "env_a", "shared").await;
    let (_, qo) = seed(store, "env_o").await;

    let mut r1 = sample_run("env_a", &q1.id, 1);
    r1.tags = names(&["x"]);
    r1.machine = Some("small-1x".to_string());
    let mut r2 = sample_run("env_a", &q2.id, 2);
    r2.task_id = "task-b".to_string();
    r2.status = RunStatus::Executing;
    r2.version = Some(V2.to_string());
    r2.tags = names(&["y"]);
    r2.machine = Some("medium-1x".to_string());
    r2.is_test = true;
    let mut r3 = sample_run("env_a", &q1.id, 3);
    r3.status = RunStatus::Completed;
    r3.tags = names(&["x", "y"]);
    r3.batch_id = Some("batch_1".to_string());
    r3.batch_index = Some(0);
    let mut r4 = sample_run("env_a", &q2.id, 4);
    r4.task_id = "task-c".to_string();
    r4.status = RunStatus::Failed;
    r4.version = Some(V2.to_string());
    r4.batch_id = Some("batch_1".to_string());
    r4.batch_index = Some(1);
    r4.request_key = Some("schedule:sched_1:1700000000000".to_string());
    r4.idempotency_key = Some("hashed-key".to_string());
    r4.idempotency_key_user = Some("order-7".to_string());
    let mut r5 = sample_run("env_a", &q1.id, 5);
    r5.status = RunStatus::PendingVersion;
    r5.version = None;
    r5.tags = names(&["z"]);
    r5.request_key = Some("schedule:sched_10:1700000000000".to_string());
    r5.region = "eu".to_string();
    r1.idempotency_key = Some("order-7".to_string());
    // Another environment's run matches every filter below but must never appear.
    let mut o = sample_run("env_o", &qo.id, 1);
    o.tags = names(&["x", "y", "z"]);
    o.machine = Some("small-1x".to_string());
    o.batch_id = Some("batch_1".to_string());
    o.batch_index = Some(2);
    o.created_at = NOW + 2;
    o.request_key = Some("schedule:sched_1:1700000000000".to_string());
    o.idempotency_key = Some("order-7".to_string());
    o.region = "eu".to_string();
    insert_runs(store, vec![r1, r2, r3, r4, r5, o]).await;

    let check = |filter: RunFilter, expected: &'static [&'static str]| {
        let store = store.clone();
        async move {
            let got = ids(&list(&store, "env_a", filter.clone(), 100).await);
            let want: Vec<String> = expected.iter().map(|n| format!("run_env_a_{n}")).collect();
            assert_eq!(got, want, "filter {filter:?}");
        }
    };
    let f = RunFilter::default;

    check(f(), &["5", "4", "3", "2", "1"]).await;
    check(
        RunFilter {
            statuses: vec![RunStatus::Queued, RunStatus::Failed],
            ..f()
        },
        &["4", "1"],
    )
    .await;
    check(
        RunFilter {
            statuses: vec![RunStatus::PendingVersion],
            ..f()
        },
        &["5"],
    )
    .await;
    check(
        RunFilter {
            statuses: vec![RunStatus::Canceled],
            ..f()
        },
        &[],
    )
    .await;
    check(
        RunFilter {
            tasks: names(&["task-a"]),
            ..f()
        },
        &["5", "3", "1"],
    )
    .await;
    check(
        RunFilter {
            tasks: names(&["task-b", "task-c"]),
            ..f()
        },
        &["4", "2"],
    )
    .await;
    // Tags: any of them; a run with several matching tags appears once.
    check(
        RunFilter {
            tags: names(&["y"]),
            ..f()
        },
        &["3", "2"],
    )
    .await;
    check(
        RunFilter {
            tags: names(&["x", "y"]),
            ..f()
        },
        &["3", "2", "1"],
    )
    .await;
    check(
        RunFilter {
            versions: names(&[V2]),
            ..f()
        },
        &["4", "2"],
    )
    .await;
    check(
        RunFilter {
            versions: names(&[V1, V2]),
            ..f()
        },
        &["4", "3", "2", "1"],
    )
    .await;
    check(
        RunFilter {
            batch_id: Some("batch_1".to_string()),
            ..f()
        },
        &["4", "3"],
    )
    .await;
    check(
        RunFilter {
            batch_id: Some("batch_other".to_string()),
            ..f()
        },
        &[],
    )
    .await;
    // The schedule that made a run, read from its request key: an exact id, not a prefix.
    check(
        RunFilter {
            schedule_id: Some("sched_1".to_string()),
            ..f()
        },
        &["4"],
    )
    .await;
    check(
        RunFilter {
            schedule_id: Some("sched_".to_string()),
            ..f()
        },
        &[],
    )
    .await;
    // An idempotency key, held or as the caller gave it, whatever the task.
    check(
        RunFilter {
            idempotency_key: Some("order-7".to_string()),
            ..f()
        },
        &["4", "1"],
    )
    .await;
    check(
        RunFilter {
            idempotency_key: Some("hashed-key".to_string()),
            ..f()
        },
        &["4"],
    )
    .await;
    check(
        RunFilter {
            queue_ids: vec![q2.id.clone()],
            ..f()
        },
        &["4", "2"],
    )
    .await;
    check(
        RunFilter {
            queue_ids: vec![q1.id.clone(), q2.id.clone()],
            ..f()
        },
        &["5", "4", "3", "2", "1"],
    )
    .await;
    check(
        RunFilter {
            machines: names(&["small-1x"]),
            ..f()
        },
        &["1"],
    )
    .await;
    check(
        RunFilter {
            machines: names(&["small-1x", "medium-1x"]),
            ..f()
        },
        &["2", "1"],
    )
    .await;
    check(
        RunFilter {
            regions: names(&["eu"]),
            ..f()
        },
        &["5"],
    )
    .await;
    check(
        RunFilter {
            regions: names(&["eu", "default"]),
            ..f()
        },
        &["5", "4", "3", "2", "1"],
    )
    .await;
    check(
        RunFilter {
            is_test: Some(true),
            ..f()
        },
        &["2"],
    )
    .await;
    check(
        RunFilter {
            is_test: Some(false),
            ..f()
        },
        &["5", "4", "3", "1"],
    )
    .await;
    // Creation bounds are inclusive.
    check(
        RunFilter {
            created_from: Some(NOW + 2),
            ..f()
        },
        &["5", "4", "3", "2"],
    )
    .await;
    check(
        RunFilter {
            created_to: Some(NOW + 3),
            ..f()
        },
        &["3", "2", "1"],
    )
    .await;
    check(
        RunFilter {
            created_from: Some(NOW + 2),
            created_to: Some(NOW + 3),
            ..f()
        },
        &["3", "2"],
    )
    .await;
    check(
        RunFilter {
            created_from: Some(NOW + 6),
            ..f()
        },
        &[],
    )
    .await;
    // Filters combine with AND.
    check(
        RunFilter {
            tasks: names(&["task-a"]),
            statuses: vec![RunStatus::Queued, RunStatus::Completed],
            tags: names(&["y"]),
            ..f()
        },
        &["3"],
    )
    .await;
    check(
        RunFilter {
            versions: names(&[V2]),
            is_test: Some(false),
            queue_ids: vec![q2.id.clone()],
            ..f()
        },
        &["4"],
    )
    .await;

    // The other environment sees its own run only.
    assert_eq!(
        ids(&list(store, "env_o", f(), 100).await),
        names(&["run_env_o_1"])
    );
}

pub async fn list_runs_pages(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qo) = seed(store, "env_o").await;
    let mut runs = Vec::new();
    for n in 1..=10 {
        runs.push(sample_run("env_a", &q.id, n));
        // Interleaved runs of another environment leave gaps in the seqs.
        if n % 3 == 0 {
            runs.push(sample_run("env_o", &qo.id, n));
        }
    }
    let inserted = insert_runs(store, runs).await;
    let seq_of = |n: i64| {
        inserted
            .iter()
            .find(|r| r.id == format!("run_env_a_{n}"))
            .unwrap()
            .seq
    };
    let want =
        |ns: &[i64]| -> Vec<String> { ns.iter().map(|n| format!("run_env_a_{n}")).collect() };
    let pg = |size: usize, after: Option<i64>, before: Option<i64>| Page {
        size,
        after_seq: after,
        before_seq: before,
    };
    let f = RunFilter::default;

    // Size limit, newest first.
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, None, None)).await),
        want(&[10, 9, 8])
    );
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(1, None, None)).await),
        want(&[10])
    );
    assert_eq!(
        page(store, "env_a", f(), pg(100, None, None)).await.len(),
        10
    );

    // after_seq: strictly older runs, newest first.
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, Some(seq_of(8)), None)).await),
        want(&[7, 6, 5])
    );
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, Some(seq_of(5)), None)).await),
        want(&[4, 3, 2])
    );
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, Some(seq_of(2)), None)).await),
        want(&[1])
    );
    assert!(page(store, "env_a", f(), pg(3, Some(seq_of(1)), None))
        .await
        .is_empty());

    // before_seq: the nearest strictly newer runs, still newest first.
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, None, Some(seq_of(5)))).await),
        want(&[8, 7, 6])
    );
    assert_eq!(
        ids(&page(store, "env_a", f(), pg(3, None, Some(seq_of(8)))).await),
        want(&[10, 9])
    );
    assert!(page(store, "env_a", f(), pg(3, None, Some(seq_of(10))))
        .await
        .is_empty());

    // Walking forward then back returns the same pages.
    let first = page(store, "env_a", f(), pg(4, None, None)).await;
    let second = page(
        store,
        "env_a",
        f(),
        pg(4, Some(first.last().unwrap().seq), None),
    )
    .await;
    assert_eq!(ids(&second), want(&[6, 5, 4, 3]));
    let back = page(store, "env_a", f(), pg(4, None, Some(second[0].seq))).await;
    assert_eq!(ids(&back), ids(&first));

    // Cursors combine with filters.
    let window = RunFilter {
        created_from: Some(NOW + 2),
        created_to: Some(NOW + 9),
        ..f()
    };
    assert_eq!(
        ids(&page(store, "env_a", window.clone(), pg(2, Some(seq_of(3)), None)).await),
        want(&[2])
    );
    assert_eq!(
        ids(&page(store, "env_a", window.clone(), pg(2, Some(seq_of(6)), None)).await),
        want(&[5, 4])
    );
    assert_eq!(
        ids(&page(store, "env_a", window.clone(), pg(5, None, Some(seq_of(7)))).await),
        want(&[9, 8])
    );
    assert_eq!(
        ids(&page(store, "env_a", window, pg(2, None, Some(seq_of(6)))).await),
        want(&[8, 7])
    );
}

pub async fn ready_runs(store: &Store) {
    let (_, q1) = seed(store, "env_a").await;
    let q2 = seed_queue(store, "env_a", "other").await;
    let mk =
        |n: i64, queue: &Queue, version: Option<&str>, status: RunStatus, ts: i64, avail: i64| {
            let mut r = sample_run("env_a", &queue.id, n);
            r.version = version.map(str::to_string);
            r.status = status;
            r.queue_ts = NOW + ts;
            r.available_at = NOW + avail;
            r
        };
    insert_runs(
        store,
        vec![
            mk(1, &q1, Some(V1), RunStatus::Queued, -10, 0),
            mk(2, &q1, Some(V1), RunStatus::Queued, -20, -5),
            // Same queue_ts as 1, inserted later: after it.
            mk(3, &q1, Some(V1), RunStatus::Queued, -10, -100),
            // Not available yet.
            mk(4, &q1, Some(V1), RunStatus::Queued, -15, 1),
            mk(5, &q1, Some(V2), RunStatus::Queued, -30, 0),
            mk(6, &q2, Some(V1), RunStatus::Queued, -30, 0),
            mk(7, &q1, Some(V1), RunStatus::Delayed, -30, -100),
            mk(8, &q1, Some(V1), RunStatus::Executing, -30, 0),
            mk(9, &q1, None, RunStatus::Queued, -30, 0),
            mk(10, &q1, Some(V1), RunStatus::Completed, -30, 0),
            // Another region.
            {
                let mut r = mk(11, &q1, Some(V1), RunStatus::Queued, -30, 0);
                r.region = "eu".to_string();
                r
            },
        ],
    )
    .await;
    let in_region = |queue: String, region: &'static str, now: Millis, limit: usize| {
        let store = store.clone();
        async move {
            ids(&read(&store, move |tx| {
                tx.ready_runs(&queue, V1, region, now, limit)
            })
            .await)
        }
    };
    let ready = |queue: String, version: &'static str, now: Millis, limit: usize| {
        let store = store.clone();
        async move {
            ids(&read(&store, move |tx| {
                tx.ready_runs(&queue, version, "default", now, limit)
            })
            .await)
        }
    };
    let want =
        |ns: &[i64]| -> Vec<String> { ns.iter().map(|n| format!("run_env_a_{n}")).collect() };

    assert_eq!(ready(q1.id.clone(), V1, NOW, 10).await, want(&[2, 1, 3]));
    assert_eq!(ready(q1.id.clone(), V1, NOW, 2).await, want(&[2, 1]));
    // available_at == now counts as available.
    assert_eq!(
        ready(q1.id.clone(), V1, NOW + 1, 10).await,
        want(&[2, 4, 1, 3])
    );
    assert_eq!(ready(q1.id.clone(), V1, NOW - 6, 10).await, want(&[3]));
    assert_eq!(ready(q1.id.clone(), V2, NOW, 10).await, want(&[5]));
    assert_eq!(ready(q2.id.clone(), V1, NOW, 10).await, want(&[6]));
    assert!(ready(q2.id.clone(), V2, NOW, 10).await.is_empty());
    assert!(ready("queue_missing".into(), V1, NOW, 10).await.is_empty());
    // Each region sees its own runs only.
    assert_eq!(in_region(q1.id.clone(), "eu", NOW, 10).await, want(&[11]));
    assert!(in_region(q1.id.clone(), "us", NOW, 10).await.is_empty());
}

pub async fn due_delayed(store: &Store) {
    let (_, qa) = seed(store, "env_a").await;
    let (_, qb) = seed(store, "env_b").await;
    let delayed = |env: &str, q: &Queue, n: i64, avail: i64| {
        let mut r = sample_run(env, &q.id, n);
        r.status = RunStatus::Delayed;
        r.available_at = NOW + avail;
        r.delay_until = Some(NOW + avail);
        r
    };
    let mut queued = sample_run("env_a", &qa.id, 4);
    queued.available_at = NOW - 1_000;
    let mut pending = delayed("env_a", &qa, 5, -1_000);
    pending.status = RunStatus::PendingVersion;
    insert_runs(
        store,
        vec![
            delayed("env_a", &qa, 1, -10),
            delayed("env_a", &qa, 2, 0),
            delayed("env_a", &qa, 3, 10),
            queued,
            pending,
            // Timers are global: every environment's runs are due.
            delayed("env_b", &qb, 1, -20),
        ],
    )
    .await;
    let due = |now: Millis, limit: usize| {
        let store = store.clone();
        async move { ids(&read(&store, move |tx| tx.due_delayed(now, limit)).await) }
    };
    assert_eq!(
        due(NOW, 10).await,
        names(&["run_env_b_1", "run_env_a_1", "run_env_a_2"])
    );
    assert_eq!(due(NOW, 1).await, names(&["run_env_b_1"]));
    assert_eq!(
        due(NOW + 10, 10).await,
        names(&["run_env_b_1", "run_env_a_1", "run_env_a_2", "run_env_a_3"])
    );
    assert!(due(NOW - 21, 10).await.is_empty());
}

pub async fn due_ttl(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let with_ttl = |n: i64, status: RunStatus, expires: Option<i64>| {
        let mut r = sample_run("env_a", &q.id, n);
        r.status = status;
        r.ttl = expires.map(|_| "1m".to_string());
        r.ttl_expires_at = expires.map(|e| NOW + e);
        r
    };
    insert_runs(
        store,
        vec![
            with_ttl(1, RunStatus::Queued, Some(-5)),
            with_ttl(2, RunStatus::Delayed, Some(-10)),
            with_ttl(3, RunStatus::PendingVersion, Some(0)),
            with_ttl(4, RunStatus::Queued, Some(5)),
            with_ttl(5, RunStatus::Queued, None),
            // Started or finished runs no longer expire.
            with_ttl(6, RunStatus::Dequeued, Some(-50)),
            with_ttl(7, RunStatus::Executing, Some(-50)),
            with_ttl(8, RunStatus::Waiting, Some(-50)),
            with_ttl(9, RunStatus::Completed, Some(-50)),
            with_ttl(10, RunStatus::Expired, Some(-50)),
            with_ttl(11, RunStatus::Canceled, Some(-50)),
        ],
    )
    .await;
    let due = |now: Millis, limit: usize| {
        let store = store.clone();
        async move { ids(&read(&store, move |tx| tx.due_ttl(now, limit)).await) }
    };
    let want =
        |ns: &[i64]| -> Vec<String> { ns.iter().map(|n| format!("run_env_a_{n}")).collect() };
    assert_eq!(due(NOW, 10).await, want(&[2, 1, 3]));
    assert_eq!(due(NOW, 2).await, want(&[2, 1]));
    assert_eq!(due(NOW + 5, 10).await, want(&[2, 1, 3, 4]));
    assert!(due(NOW - 11, 10).await.is_empty());
}

pub async fn due_leases_and_timeouts(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qb) = seed(store, "env_b").await;
    let leased = |env: &str, q: &Queue, n: i64, lease: Option<i64>, timeout: Option<i64>| {
        let mut r = sample_run(env, &q.id, n);
        r.status = RunStatus::Executing;
        r.attempt = 1;
        r.lease = lease.map(|_| format!("lease_{n}"));
        r.lease_expires_at = lease.map(|l| NOW + l);
        r.timeout_at = timeout.map(|t| NOW + t);
        r
    };
    insert_runs(
        store,
        vec![
            leased("env_a", &q, 1, Some(-5), Some(100)),
            leased("env_a", &q, 2, Some(0), Some(-30)),
            leased("env_a", &q, 3, Some(5), Some(0)),
            leased("env_a", &q, 4, None, None),
            leased("env_b", &qb, 1, Some(-50), Some(-1)),
        ],
    )
    .await;
    let leases = |now: Millis, limit: usize| {
        let store = store.clone();
        async move { ids(&read(&store, move |tx| tx.due_leases(now, limit)).await) }
    };
    let timeouts = |now: Millis, limit: usize| {
        let store = store.clone();
        async move { ids(&read(&store, move |tx| tx.due_timeouts(now, limit)).await) }
    };
    assert_eq!(
        leases(NOW, 10).await,
        names(&["run_env_b_1", "run_env_a_1", "run_env_a_2"])
    );
    assert_eq!(leases(NOW, 2).await, names(&["run_env_b_1", "run_env_a_1"]));
    assert_eq!(
        leases(NOW + 5, 10).await,
        names(&["run_env_b_1", "run_env_a_1", "run_env_a_2", "run_env_a_3"])
    );
    assert!(leases(NOW - 51, 10).await.is_empty());

    assert_eq!(
        timeouts(NOW, 10).await,
        names(&["run_env_a_2", "run_env_b_1", "run_env_a_3"])
    );
    assert_eq!(timeouts(NOW, 1).await, names(&["run_env_a_2"]));
    assert_eq!(
        timeouts(NOW + 100, 10).await,
        names(&["run_env_a_2", "run_env_b_1", "run_env_a_3", "run_env_a_1"])
    );
    assert!(timeouts(NOW - 31, 10).await.is_empty());
}

pub async fn next_timer(store: &Store) {
    assert_eq!(read(store, |tx| tx.next_timer()).await, None);
    let (_, q) = seed(store, "env_a").await;

    // Nothing with a timer: still none.
    let mut plain = sample_run("env_a", &q.id, 1);
    plain.available_at = NOW - 1_000;
    // A TTL on a finished run is no timer.
    let mut done = sample_run("env_a", &q.id, 2);
    done.status = RunStatus::Completed;
    done.ttl_expires_at = Some(NOW + 10);
    insert_runs(store, vec![plain, done]).await;
    assert_eq!(read(store, |tx| tx.next_timer()).await, None);

    let mut delayed = sample_run("env_a", &q.id, 3);
    delayed.status = RunStatus::Delayed;
    delayed.available_at = NOW + 500;
    let mut ttl = sample_run("env_a", &q.id, 4);
    ttl.ttl_expires_at = Some(NOW + 400);
    let mut exec = sample_run("env_a", &q.id, 5);
    exec.status = RunStatus::Executing;
    exec.lease = Some("L".to_string());
    exec.lease_expires_at = Some(NOW + 300);
    exec.timeout_at = Some(NOW + 200);
    exec.ttl_expires_at = Some(NOW + 100);
    let inserted = insert_runs(store, vec![delayed, ttl, exec]).await;
    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 200));

    // Timers go away as runs change.
    let exec = inserted[2].clone();
    let mut no_timeout = exec.clone();
    no_timeout.timeout_at = None;
    let a = no_timeout.clone();
    assert!(
        write(store, move |tx| tx.update_run(
            &a,
            RunStatus::Executing,
            Some("L")
        ))
        .await
    );
    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 300));
    let mut no_lease = no_timeout.clone();
    no_lease.status = RunStatus::Completed;
    no_lease.lease = None;
    no_lease.lease_expires_at = None;
    let a = no_lease.clone();
    assert!(
        write(store, move |tx| tx.update_run(
            &a,
            RunStatus::Executing,
            Some("L")
        ))
        .await
    );
    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 400));
    let mut expired = inserted[1].clone();
    expired.status = RunStatus::Expired;
    let a = expired.clone();
    assert!(write(store, move |tx| tx.update_run(&a, RunStatus::Queued, None)).await);
    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 500));
    let mut queued = inserted[0].clone();
    queued.status = RunStatus::Queued;
    let a = queued.clone();
    assert!(write(store, move |tx| tx.update_run(&a, RunStatus::Delayed, None)).await);
    assert_eq!(read(store, |tx| tx.next_timer()).await, None);
}

pub async fn unlocked_and_unstarted_runs(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qo) = seed(store, "env_o").await;
    let mk =
        |env: &str, q: &Queue, n: i64, status: RunStatus, version: Option<&str>, attempt: i64| {
            let mut r = sample_run(env, &q.id, n);
            r.status = status;
            r.version = version.map(str::to_string);
            r.attempt = attempt;
            r
        };
    insert_runs(
        store,
        vec![
            mk("env_a", &q, 1, RunStatus::PendingVersion, None, 0),
            mk("env_a", &q, 2, RunStatus::Delayed, None, 0),
            mk("env_a", &q, 3, RunStatus::Delayed, Some(V1), 0),
            mk("env_a", &q, 4, RunStatus::Queued, Some(V1), 0),
            mk("env_a", &q, 5, RunStatus::Queued, Some(V2), 0),
            mk("env_a", &q, 6, RunStatus::Queued, Some(V1), 1),
            mk("env_a", &q, 7, RunStatus::Executing, Some(V1), 1),
            mk("env_a", &q, 8, RunStatus::Completed, Some(V1), 0),
            mk("env_a", &q, 9, RunStatus::Delayed, Some(V1), 2),
            mk("env_a", &q, 10, RunStatus::Canceled, None, 0),
            mk("env_o", &qo, 1, RunStatus::PendingVersion, None, 0),
            mk("env_o", &qo, 2, RunStatus::Queued, Some(V1), 0),
        ],
    )
    .await;
    let want =
        |ns: &[i64]| -> Vec<String> { ns.iter().map(|n| format!("run_env_a_{n}")).collect() };

    let unlocked = read(store, |tx| tx.unlocked_runs("env_a")).await;
    assert_eq!(ids(&unlocked), want(&[1, 2]));
    assert_eq!(
        ids(&read(store, |tx| tx.unlocked_runs("env_o")).await),
        names(&["run_env_o_1"])
    );

    let not_on_v2 = read(store, |tx| tx.unstarted_runs_not_on("env_a", V2)).await;
    assert_eq!(ids(&not_on_v2), want(&[3, 4]));
    let not_on_v1 = read(store, |tx| tx.unstarted_runs_not_on("env_a", V1)).await;
    assert_eq!(ids(&not_on_v1), want(&[5]));
    let not_on_v3 = read(store, |tx| tx.unstarted_runs_not_on("env_a", "20240101.3")).await;
    assert_eq!(ids(&not_on_v3), want(&[3, 4, 5]));
}

pub async fn parked_runs_by_version(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qo) = seed(store, "env_o").await;
    let mk =
        |env: &str, q: &Queue, n: i64, status: RunStatus, version: Option<&str>, task: &str| {
            let mut r = sample_run(env, &q.id, n);
            r.status = status;
            r.version = version.map(str::to_string);
            r.task_id = task.to_string();
            r
        };
    insert_runs(
        store,
        vec![
            mk("env_a", &q, 1, RunStatus::Queued, Some(V1), "a"),
            mk("env_a", &q, 2, RunStatus::Delayed, Some(V1), "b"),
            mk("env_a", &q, 3, RunStatus::Waiting, Some(V1), "a"),
            mk("env_a", &q, 4, RunStatus::Executing, Some(V1), "a"),
            mk("env_a", &q, 5, RunStatus::Dequeued, Some(V1), "b"),
            mk("env_a", &q, 6, RunStatus::Completed, Some(V1), "a"),
            mk("env_a", &q, 7, RunStatus::Queued, Some(V2), "a"),
            mk("env_a", &q, 8, RunStatus::PendingVersion, None, "a"),
            mk("env_a", &q, 9, RunStatus::Queued, Some(V1), "b"),
            mk("env_o", &qo, 1, RunStatus::Queued, Some(V1), "a"),
            mk("env_o", &qo, 2, RunStatus::Executing, Some(V1), "a"),
        ],
    )
    .await;
    let want =
        |ns: &[i64]| -> Vec<String> { ns.iter().map(|n| format!("run_env_a_{n}")).collect() };

    let all = read(store, |tx| tx.parked_runs("env_a", V1, None, 0, 100)).await;
    assert_eq!(
        ids(&all),
        want(&[1, 2, 3, 9]),
        "queued, delayed and waiting, by seq"
    );
    let of_a = read(store, |tx| tx.parked_runs("env_a", V1, Some("a"), 0, 100)).await;
    assert_eq!(ids(&of_a), want(&[1, 3]));
    let of_none = read(store, |tx| tx.parked_runs("env_a", V1, Some("c"), 0, 100)).await;
    assert!(of_none.is_empty());
    assert_eq!(
        ids(&read(store, |tx| tx.parked_runs("env_a", V2, None, 0, 100)).await),
        want(&[7])
    );

    // Pages: at most `limit`, from after a seq.
    let first = read(store, |tx| tx.parked_runs("env_a", V1, None, 0, 2)).await;
    assert_eq!(ids(&first), want(&[1, 2]));
    let after = first[1].seq;
    let rest = read(store, move |tx| tx.parked_runs("env_a", V1, None, after, 2)).await;
    assert_eq!(ids(&rest), want(&[3, 9]));
    let last = rest[1].seq;
    assert!(
        read(store, move |tx| tx.parked_runs("env_a", V1, None, last, 2))
            .await
            .is_empty()
    );

    assert_eq!(
        ids(&read(store, |tx| tx.parked_runs("env_o", V1, None, 0, 100)).await),
        names(&["run_env_o_1"])
    );
    assert_eq!(
        read(store, |tx| tx.parked_versions("env_a")).await,
        names(&[V1, V2]),
        "each version with parked runs once, not the pending run's"
    );
    assert_eq!(
        read(store, |tx| tx.parked_versions("env_o")).await,
        names(&[V1])
    );
    assert!(read(store, |tx| tx.parked_versions("env_x"))
        .await
        .is_empty());
    assert_eq!(read(store, |tx| tx.leased_on_version("env_a", V1)).await, 2);
    assert_eq!(read(store, |tx| tx.leased_on_version("env_a", V2)).await, 0);
    assert_eq!(read(store, |tx| tx.leased_on_version("env_o", V1)).await, 1);

    // A run that leaves the parked statuses leaves the list.
    let mut run = all[0].clone();
    run.status = RunStatus::Executing;
    run.attempt = 1;
    let written = write(store, move |tx| {
        tx.update_run(&run, RunStatus::Queued, None)
    })
    .await;
    assert!(written);
    assert_eq!(
        ids(&read(store, |tx| tx.parked_runs("env_a", V1, None, 0, 100)).await),
        want(&[2, 3, 9])
    );
    assert_eq!(read(store, |tx| tx.leased_on_version("env_a", V1)).await, 3);
}

pub async fn children(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let parent = sample_run("env_a", &q.id, 1);
    let mut c1 = sample_run("env_a", &q.id, 2);
    c1.parent_run_id = Some(parent.id.clone());
    c1.root_run_id = Some(parent.id.clone());
    c1.depth = 1;
    let mut grandchild = sample_run("env_a", &q.id, 3);
    grandchild.parent_run_id = Some(c1.id.clone());
    grandchild.root_run_id = Some(parent.id.clone());
    grandchild.depth = 2;
    let mut c2 = sample_run("env_a", &q.id, 4);
    c2.parent_run_id = Some(parent.id.clone());
    c2.root_run_id = Some(parent.id.clone());
    c2.depth = 1;
    insert_runs(store, vec![parent, c1, grandchild, c2]).await;

    let kids = read(store, |tx| tx.children("run_env_a_1")).await;
    assert_eq!(ids(&kids), names(&["run_env_a_2", "run_env_a_4"]));
    let kids = read(store, |tx| tx.children("run_env_a_2")).await;
    assert_eq!(ids(&kids), names(&["run_env_a_3"]));
    assert!(read(store, |tx| tx.children("run_env_a_4"))
        .await
        .is_empty());
}

pub async fn idempotency_keys(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qo) = seed(store, "env_o").await;
    let keyed = |env: &str, q: &Queue, n: i64, task: &str| {
        let mut r = sample_run(env, &q.id, n);
        r.task_id = task.to_string();
        r.idempotency_key = Some("key-hash-1".to_string());
        r.idempotency_key_user = Some("k1".to_string());
        r.idempotency_scope = Some("global".to_string());
        r.idempotency_expires_at = Some(NOW + 60_000);
        r
    };
    let first = insert_runs(store, vec![keyed("env_a", &q, 1, "task-a")])
        .await
        .remove(0);

    let by_key = |env: &'static str, task: &'static str, key: &'static str| {
        let store = store.clone();
        async move { read(&store, move |tx| tx.run_by_idempotency_key(env, task, key)).await }
    };
    assert_run_eq(
        &by_key("env_a", "task-a", "key-hash-1").await.unwrap(),
        &first,
    );
    assert!(by_key("env_a", "task-b", "key-hash-1").await.is_none());
    assert!(by_key("env_o", "task-a", "key-hash-1").await.is_none());
    assert!(by_key("env_a", "task-a", "key-hash-2").await.is_none());

    // A second live run with the same (environment, task, key) is refused.
    let dup = keyed("env_a", &q, 2, "task-a");
    assert!(try_write(store, move |tx| tx.insert_run(&dup))
        .await
        .is_err());
    assert!(get_run(store, "env_a", "run_env_a_2").await.is_none());
    // Another task or another environment may use the key.
    insert_runs(
        store,
        vec![
            keyed("env_a", &q, 3, "task-b"),
            keyed("env_o", &qo, 1, "task-a"),
        ],
    )
    .await;
    assert_eq!(
        by_key("env_a", "task-b", "key-hash-1").await.unwrap().id,
        "run_env_a_3"
    );
    assert_eq!(
        by_key("env_o", "task-a", "key-hash-1").await.unwrap().id,
        "run_env_o_1"
    );

    // Clearing the key releases it; the caller's own key stays for display.
    let seq = first.seq;
    write(store, move |tx| tx.clear_idempotency_key(seq)).await;
    let cleared = get_run(store, "env_a", &first.id).await.unwrap();
    assert_eq!(cleared.idempotency_key, None);
    assert_eq!(cleared.idempotency_key_user.as_deref(), Some("k1"));
    assert!(by_key("env_a", "task-a", "key-hash-1").await.is_none());
    // Other runs keep theirs.
    assert!(by_key("env_a", "task-b", "key-hash-1").await.is_some());

    let again = insert_runs(store, vec![keyed("env_a", &q, 2, "task-a")])
        .await
        .remove(0);
    assert_run_eq(
        &by_key("env_a", "task-a", "key-hash-1").await.unwrap(),
        &again,
    );
}

pub async fn request_keys(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qo) = seed(store, "env_o").await;
    let mut a = sample_run("env_a", &q.id, 1);
    a.request_key = Some("req-1".to_string());
    let a = insert_runs(store, vec![a]).await.remove(0);

    let found = read(store, |tx| tx.run_by_request_key("env_a", "req-1"))
        .await
        .unwrap();
    assert_run_eq(&found, &a);
    assert!(read(store, |tx| tx.run_by_request_key("env_o", "req-1"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.run_by_request_key("env_a", "req-2"))
        .await
        .is_none());

    // One run per request key in an environment.
    let mut dup = sample_run("env_a", &q.id, 2);
    dup.request_key = Some("req-1".to_string());
    assert!(try_write(store, move |tx| tx.insert_run(&dup))
        .await
        .is_err());
    assert!(get_run(store, "env_a", "run_env_a_2").await.is_none());
    let mut other_env = sample_run("env_o", &qo.id, 1);
    other_env.request_key = Some("req-1".to_string());
    insert_runs(store, vec![other_env]).await;
    assert_eq!(
        read(store, |tx| tx.run_by_request_key("env_o", "req-1"))
            .await
            .unwrap()
            .id,
        "run_env_o_1"
    );
    // Runs without a request key do not collide.
    insert_runs(
        store,
        vec![sample_run("env_a", &q.id, 3), sample_run("env_a", &q.id, 4)],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

pub async fn queues(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let mut custom = sample_queue("env_a", "emails");
    custom.base_limit = Some(5);
    custom.override_limit = Some(2);
    custom.overridden_at = Some(NOW + 7);
    custom.paused = true;
    custom.served_seq = 12;
    custom.created_at = NOW + 1;
    let task = sample_queue("env_a", "task/send");
    for q in [
        custom.clone(),
        task.clone(),
        sample_queue("env_o", "emails"),
    ] {
        write(store, move |tx| tx.insert_queue(&q)).await;
    }

    let by_name = read(store, |tx| tx.queue_by_name("env_a", "emails"))
        .await
        .unwrap();
    assert_queue_eq(&by_name, &custom);
    assert_eq!(by_name.limit(), Some(2));
    let by_name = read(store, |tx| tx.queue_by_name("env_a", "task/send"))
        .await
        .unwrap();
    assert_queue_eq(&by_name, &task);
    assert_eq!(by_name.kind, QueueKind::Task);
    let id = custom.id.clone();
    let by_id = read(store, move |tx| tx.queue_by_id("env_a", &id))
        .await
        .unwrap();
    assert_queue_eq(&by_id, &custom);
    // Queues belong to their environment.
    let id = custom.id.clone();
    assert!(read(store, move |tx| tx.queue_by_id("env_o", &id))
        .await
        .is_none());
    assert_eq!(
        read(store, |tx| tx.queue_by_name("env_o", "emails"))
            .await
            .unwrap()
            .id,
        "queue_env_o_emails"
    );
    assert!(read(store, |tx| tx.queue_by_name("env_a", "missing"))
        .await
        .is_none());

    // A name is unique in an environment.
    let mut dup = sample_queue("env_a", "emails");
    dup.id = "queue_dup".to_string();
    assert!(try_write(store, move |tx| tx.insert_queue(&dup))
        .await
        .is_err());

    // update_queue writes limits and pause, never the round-robin position, which only
    // mark_served moves.
    let mut updated = custom.clone();
    updated.base_limit = None;
    updated.override_limit = None;
    updated.overridden_at = None;
    updated.paused = false;
    let mut u = updated.clone();
    u.served_seq = 40;
    write(store, move |tx| tx.update_queue(&u)).await;
    let stored = read(store, |tx| tx.queue_by_name("env_a", "emails"))
        .await
        .unwrap();
    assert_queue_eq(&stored, &updated);
    assert_eq!(stored.limit(), None);
    let id = custom.id.clone();
    write(store, move |tx| tx.mark_served(&id, 40)).await;
    updated.served_seq = 40;
    // queue_for_update reads the same queue (locking it in a write) and, like queue_by_id,
    // only in its environment.
    let id = custom.id.clone();
    let locked = write(store, move |tx| tx.queue_for_update("env_a", &id))
        .await
        .unwrap();
    assert_queue_eq(&locked, &updated);
    let id = custom.id.clone();
    assert!(write(store, move |tx| tx.queue_for_update("env_o", &id))
        .await
        .is_none());
    let mut updated2 = updated.clone();
    updated2.base_limit = Some(9);
    let u = updated2.clone();
    write(store, move |tx| tx.update_queue(&u)).await;
    let stored = read(store, |tx| tx.queue_by_name("env_a", "emails"))
        .await
        .unwrap();
    assert_queue_eq(&stored, &updated2);
    assert_eq!(stored.limit(), Some(9));
    // The other environment's queue of the same name is untouched.
    let other = read(store, |tx| tx.queue_by_name("env_o", "emails"))
        .await
        .unwrap();
    assert_queue_eq(&other, &sample_queue("env_o", "emails"));

    // Paging by name with the total.
    for name in ["b-queue", "a-queue", "c-queue"] {
        let q = sample_queue("env_a", name);
        write(store, move |tx| tx.insert_queue(&q)).await;
    }
    let page = |offset: usize, limit: usize| {
        let store = store.clone();
        async move {
            let (qs, total) = read(&store, move |tx| tx.queues("env_a", offset, limit)).await;
            (qs.into_iter().map(|q| q.name).collect::<Vec<_>>(), total)
        }
    };
    assert_eq!(
        page(0, 100).await,
        (
            names(&["a-queue", "b-queue", "c-queue", "emails", "task/send"]),
            5
        )
    );
    assert_eq!(page(1, 2).await, (names(&["b-queue", "c-queue"]), 5));
    assert_eq!(page(4, 2).await, (names(&["task/send"]), 5));
    assert_eq!(page(5, 2).await, (Vec::new(), 5));
    assert_eq!(
        read(store, |tx| tx.queues("env_o", 0, 10)).await.1,
        1,
        "the total counts one environment"
    );
    assert_eq!(read(store, |tx| tx.queues("env_x", 0, 10)).await.1, 0);
}

pub async fn dequeue_order(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    assert!(read(store, |tx| tx.dequeue_order("env_a")).await.is_empty());
    assert_eq!(read(store, |tx| tx.next_served_seq("env_a")).await, 1);

    let mk = |name: &str, served: i64, paused: bool| {
        let mut q = sample_queue("env_a", name);
        q.served_seq = served;
        q.paused = paused;
        q
    };
    let mut other = sample_queue("env_o", "o");
    other.served_seq = 100;
    for q in [
        mk("q-late", 7, false),
        mk("q-early", 2, false),
        mk("q-paused", 1, true),
        mk("q-mid", 4, false),
        other,
    ] {
        write(store, move |tx| tx.insert_queue(&q)).await;
    }
    let order = || {
        let store = store.clone();
        async move {
            read(&store, |tx| tx.dequeue_order("env_a"))
                .await
                .into_iter()
                .map(|q| q.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(order().await, names(&["q-early", "q-mid", "q-late"]));
    assert_eq!(read(store, |tx| tx.next_served_seq("env_a")).await, 8);
    assert_eq!(read(store, |tx| tx.next_served_seq("env_o")).await, 101);

    // Serving a queue moves it to the back; unpausing brings one back in.
    let early = read(store, |tx| tx.queue_by_name("env_a", "q-early"))
        .await
        .unwrap();
    write(store, move |tx| tx.mark_served(&early.id, 8)).await;
    let mut paused = read(store, |tx| tx.queue_by_name("env_a", "q-paused"))
        .await
        .unwrap();
    paused.paused = false;
    write(store, move |tx| tx.update_queue(&paused)).await;
    assert_eq!(
        order().await,
        names(&["q-paused", "q-mid", "q-late", "q-early"])
    );
    assert_eq!(read(store, |tx| tx.next_served_seq("env_a")).await, 9);
    let mut mid = read(store, |tx| tx.queue_by_name("env_a", "q-mid"))
        .await
        .unwrap();
    mid.paused = true;
    write(store, move |tx| tx.update_queue(&mid)).await;
    assert_eq!(order().await, names(&["q-paused", "q-late", "q-early"]));
}

/// Slots held are counted from the runs `DEQUEUED` or `EXECUTING`, per queue and concurrency
/// key, and per environment.
pub async fn concurrency_slots(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let q2 = seed_queue(store, "env_a", "other").await;
    seed(store, "env_o").await;
    let slot = |queue: &Queue, ckey: &'static str| {
        let store = store.clone();
        let id = queue.id.clone();
        async move { read(&store, move |tx| tx.slot_running(&id, ckey)).await }
    };
    let env_running = |env: &'static str| {
        let store = store.clone();
        async move { read(&store, move |tx| tx.env_running(env)).await }
    };
    assert_eq!(slot(&q, "").await, 0);
    assert_eq!(env_running("env_a").await, 0);
    let mk = |n: i64, queue: &Queue, ckey: &str, status: RunStatus| {
        let mut r = sample_run(&queue.env_id, &queue.id, n);
        r.ckey = ckey.to_string();
        r.status = status;
        r
    };
    let oq = read(store, |tx| tx.queue_by_name("env_o", "task/task-a"))
        .await
        .unwrap();
    let runs = insert_runs(
        store,
        vec![
            mk(1, &q, "", RunStatus::Dequeued),
            mk(2, &q, "", RunStatus::Executing),
            mk(3, &q, "", RunStatus::Queued),
            mk(4, &q, "", RunStatus::Completed),
            mk(5, &q, "user-1", RunStatus::Executing),
            mk(6, &q, "user-2", RunStatus::Delayed),
            mk(7, &q2, "", RunStatus::Dequeued),
            mk(8, &oq, "", RunStatus::Executing),
        ],
    )
    .await;
    assert_eq!(slot(&q, "").await, 2);
    assert_eq!(slot(&q, "user-1").await, 1);
    assert_eq!(slot(&q, "user-2").await, 0);
    assert_eq!(slot(&q2, "").await, 1);
    assert_eq!(env_running("env_a").await, 4);
    assert_eq!(env_running("env_o").await, 1);
    assert_eq!(env_running("env_x").await, 0);

    // A transition out of a holding status frees the slot at once, in the same transaction.
    let mut done = runs[1].clone();
    done.status = RunStatus::Completed;
    let (id, seen) = (
        q.id.clone(),
        write(store, move |tx| {
            assert!(tx.update_run(&done, RunStatus::Executing, None)?);
            Ok::<_, trigr_store::Error>((
                tx.slot_running(&done.queue_id, "")?,
                tx.env_running("env_a")?,
            ))
        })
        .await,
    );
    assert_eq!(seen, (1, 3));
    assert_eq!(read(store, move |tx| tx.slot_running(&id, "")).await, 1);
    // And a transition into one takes a slot.
    let mut taken = runs[2].clone();
    taken.status = RunStatus::Dequeued;
    taken.lease = Some("L".into());
    write(store, move |tx| {
        tx.update_run(&taken, RunStatus::Queued, None)
    })
    .await;
    assert_eq!(slot(&q, "").await, 2);
    assert_eq!(env_running("env_a").await, 4);
    // Another queue's slots are apart.
    assert_eq!(
        read(store, |tx| tx.slot_running("queue_other", "")).await,
        0
    );
}

pub async fn queue_counts(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let q2 = seed_queue(store, "env_a", "other").await;
    let id = q.id.clone();
    assert_eq!(read(store, move |tx| tx.queue_counts(&id)).await, (0, 0));
    let mk = |n: i64, queue: &Queue, status: RunStatus| {
        let mut r = sample_run("env_a", &queue.id, n);
        r.status = status;
        r
    };
    insert_runs(
        store,
        vec![
            mk(1, &q, RunStatus::Queued),
            mk(2, &q, RunStatus::Queued),
            // Queued but not available yet still counts as queued.
            {
                let mut r = mk(3, &q, RunStatus::Queued);
                r.available_at = NOW + 1_000_000;
                r
            },
            mk(4, &q, RunStatus::Delayed),
            mk(5, &q, RunStatus::Executing),
            mk(6, &q, RunStatus::Completed),
            mk(7, &q2, RunStatus::Queued),
        ],
    )
    .await;
    // Running counts the runs holding a slot, over all concurrency keys.
    insert_runs(
        store,
        vec![
            mk(8, &q, RunStatus::Dequeued),
            {
                let mut r = mk(9, &q, RunStatus::Executing);
                r.ckey = "k1".into();
                r
            },
            mk(10, &q2, RunStatus::Executing),
        ],
    )
    .await;
    let id = q.id.clone();
    assert_eq!(read(store, move |tx| tx.queue_counts(&id)).await, (3, 3));
    let id = q2.id.clone();
    assert_eq!(read(store, move |tx| tx.queue_counts(&id)).await, (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

pub fn sample_batch(env_id: &str, id: &str) -> Batch {
    Batch {
        id: id.to_string(),
        env_id: env_id.to_string(),
        run_count: 3,
        idempotency_key: None,
        idempotency_key_user: None,
        sealed: false,
        items_accepted: 0,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub async fn batches(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let mut keyed = sample_batch("env_a", "batch_1");
    keyed.run_count = 7;
    keyed.idempotency_key = Some("batch-key-hash".to_string());
    keyed.idempotency_key_user = Some("batch-key".to_string());
    keyed.created_at = NOW + 1;
    keyed.updated_at = NOW + 2;
    let plain = sample_batch("env_a", "batch_2");
    for b in [keyed.clone(), plain.clone()] {
        write(store, move |tx| tx.insert_batch(&b)).await;
    }

    assert_batch_eq(
        &read(store, |tx| tx.batch("env_a", "batch_1"))
            .await
            .unwrap(),
        &keyed,
    );
    assert_batch_eq(
        &read(store, |tx| tx.batch("env_a", "batch_2"))
            .await
            .unwrap(),
        &plain,
    );
    assert!(read(store, |tx| tx.batch("env_o", "batch_1"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.batch("env_a", "batch_3"))
        .await
        .is_none());

    assert_batch_eq(
        &read(store, |tx| {
            tx.batch_by_idempotency_key("env_a", "batch-key-hash")
        })
        .await
        .unwrap(),
        &keyed,
    );
    assert!(read(store, |tx| tx
        .batch_by_idempotency_key("env_o", "batch-key-hash"))
    .await
    .is_none());
    assert!(read(store, |tx| tx
        .batch_by_idempotency_key("env_a", "batch-key"))
    .await
    .is_none());

    // One batch per key and environment; batches without a key do not collide.
    let mut dup = sample_batch("env_a", "batch_dup");
    dup.idempotency_key = Some("batch-key-hash".to_string());
    assert!(try_write(store, move |tx| tx.insert_batch(&dup))
        .await
        .is_err());
    assert!(read(store, |tx| tx.batch("env_a", "batch_dup"))
        .await
        .is_none());
    let mut elsewhere = sample_batch("env_o", "batch_o");
    elsewhere.idempotency_key = Some("batch-key-hash".to_string());
    let e = elsewhere.clone();
    write(store, move |tx| tx.insert_batch(&e)).await;
    write(store, |tx| {
        tx.insert_batch(&sample_batch("env_a", "batch_3"))
    })
    .await;

    // update_batch writes the sealing state.
    let mut sealed = keyed.clone();
    sealed.sealed = true;
    sealed.items_accepted = 7;
    sealed.updated_at = NOW + 50;
    let s = sealed.clone();
    write(store, move |tx| tx.update_batch(&s)).await;
    assert_batch_eq(
        &read(store, |tx| tx.batch("env_a", "batch_1"))
            .await
            .unwrap(),
        &sealed,
    );
    assert_batch_eq(
        &read(store, |tx| tx.batch("env_a", "batch_2"))
            .await
            .unwrap(),
        &plain,
    );

    // The environment's batches, newest first (ties by id), paged by (created_at, id).
    let listed = |before: Option<(i64, &'static str)>, limit: usize| {
        let store = store.clone();
        async move {
            read(&store, move |tx| tx.batches("env_a", before, limit))
                .await
                .into_iter()
                .map(|b| b.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(None, 10).await, ["batch_1", "batch_3", "batch_2"]);
    assert_eq!(listed(None, 2).await, ["batch_1", "batch_3"]);
    assert_eq!(listed(Some((NOW, "batch_3")), 10).await, ["batch_2"]);
    assert_eq!(listed(Some((NOW + 1, "batch_1")), 1).await, ["batch_3"]);
    assert!(listed(Some((NOW, "batch_2")), 10).await.is_empty());
}

pub async fn batch_items(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    write(store, |tx| {
        tx.insert_batch(&sample_batch("env_a", "batch_1"))
    })
    .await;
    write(store, |tx| {
        tx.insert_batch(&sample_batch("env_a", "batch_2"))
    })
    .await;
    assert!(read(store, |tx| tx.batch_indexes("batch_1"))
        .await
        .is_empty());
    assert!(read(store, |tx| tx.runs_of_batch("batch_1"))
        .await
        .is_empty());

    // A run triggered before the batch (an idempotency key may name it).
    let older = sample_run("env_a", &q.id, 1);
    let in_batch = |n: i64, index: i64| {
        let mut r = sample_run("env_a", &q.id, n);
        r.batch_id = Some("batch_1".to_string());
        r.batch_index = Some(index);
        r.trigger_function = "batchTrigger".to_string();
        r
    };
    let runs = insert_runs(store, vec![older, in_batch(2, 2), in_batch(3, 0)]).await;
    // Items arrive out of order.
    write(store, |tx| {
        tx.insert_batch_item("batch_1", 2, "run_env_a_2")?;
        tx.insert_batch_item("batch_1", 0, "run_env_a_3")
    })
    .await;
    write(store, |tx| {
        tx.insert_batch_item("batch_1", 1, "run_env_a_1")
    })
    .await;
    write(store, |tx| {
        tx.insert_batch_item("batch_2", 0, "run_env_a_1")
    })
    .await;

    assert_eq!(
        read(store, |tx| tx.batch_indexes("batch_1")).await,
        vec![0, 1, 2]
    );
    assert_eq!(read(store, |tx| tx.batch_indexes("batch_2")).await, vec![0]);
    let of_batch = read(store, |tx| tx.runs_of_batch("batch_1")).await;
    assert_eq!(
        ids(&of_batch),
        names(&["run_env_a_3", "run_env_a_1", "run_env_a_2"])
    );
    assert_run_eq(&of_batch[1], &runs[0]);
    assert_run_eq(&of_batch[2], &runs[1]);
    assert_eq!(
        ids(&read(store, |tx| tx.runs_of_batch("batch_2")).await),
        names(&["run_env_a_1"])
    );

    // An index is taken once.
    assert!(try_write(store, |tx| tx.insert_batch_item(
        "batch_1",
        1,
        "run_env_a_2"
    ))
    .await
    .is_err());
    assert_eq!(
        read(store, |tx| tx.batch_indexes("batch_1")).await,
        vec![0, 1, 2]
    );
    // As is a batch position among runs.
    let dup = in_batch(4, 0);
    assert!(try_write(store, move |tx| tx.insert_run(&dup))
        .await
        .is_err());

    // Each status of the batch's runs, counted.
    let counts = read(store, |tx| tx.batch_status_counts("batch_1")).await;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let runs = read(store, |tx| tx.runs_of_batch("batch_1")).await;
    assert_eq!(total, runs.len() as i64);
    assert!(total > 0);
    for (status, n) in &counts {
        let have = runs.iter().filter(|r| r.status.as_str() == status).count() as i64;
        assert_eq!(*n, have, "runs {status}");
    }
    assert_eq!(
        read(store, |tx| tx.batch_status_counts("batch_2")).await,
        [("QUEUED".to_string(), 1)]
    );
    assert!(read(store, |tx| tx.batch_status_counts("batch_none"))
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

pub fn manifest() -> Vec<TaskManifest> {
    vec![
        TaskManifest {
            id: "email/send".to_string(),
            queue: Some(QueueManifest {
                name: "emails".to_string(),
                concurrency_limit: Some(4),
            }),
            retry: Some(RetryPolicy {
                max_attempts: 5,
                factor: 1.5,
                min_timeout_in_ms: 250,
                max_timeout_in_ms: 9_000,
                randomize: false,
            }),
            max_duration: Some(120),
            machine: Some("small-2x".to_string()),
            payload_schema: Some(serde_json::json!({
                "type": "object",
                "required": ["to"],
                "properties": {"to": {"type": "string"}, "n": {"type": "number", "maximum": 1.5e3}}
            })),
            schedule: Some(trigr_types::manifest::ScheduleManifest {
                cron: "30 2 * * 1-5".to_string(),
                timezone: Some("Europe/Berlin".to_string()),
                window: Some("30m".to_string()),
            }),
            file_path: Some("src/trigger/émail.ts".to_string()),
            export_name: Some("sendEmail".to_string()),
        },
        TaskManifest {
            id: "bare".to_string(),
            queue: None,
            retry: None,
            max_duration: None,
            machine: None,
            payload_schema: None,
            schedule: None,
            file_path: None,
            export_name: None,
        },
    ]
}

pub fn sample_deployment(env_id: &str, version: &str, created_at: Millis) -> Deployment {
    Deployment {
        id: format!("dep_{env_id}_{version}"),
        env_id: env_id.to_string(),
        version: version.to_string(),
        day: version.split('.').next().unwrap().to_string(),
        tasks: manifest(),
        created_at,
        promoted_at: None,
        content_hash: None,
    }
}

/// A deployment is found again by the hash of its code: the newest of that hash, in its own
/// environment only.
pub async fn deployments_by_content_hash(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let mk = |env: &str, version: &str, at: Millis, hash: Option<&str>| {
        let mut d = sample_deployment(env, version, at);
        d.content_hash = hash.map(str::to_string);
        d
    };
    let old = mk("env_a", "20240101.1", NOW + 1, Some("h1"));
    let newer = mk("env_a", "20240101.2", NOW + 2, Some("h1"));
    let other = mk("env_a", "20240101.3", NOW + 3, Some("h2"));
    let plain = mk("env_a", "20240101.4", NOW + 4, None);
    for d in [old, newer.clone(), other.clone(), plain] {
        write(store, move |tx| tx.insert_deployment(&d)).await;
    }
    let got = read(store, |tx| tx.deployment_by_hash("env_a", "h1"))
        .await
        .unwrap();
    assert_deployment_eq(&got, &newer);
    let got = read(store, |tx| tx.deployment_by_hash("env_a", "h2"))
        .await
        .unwrap();
    assert_deployment_eq(&got, &other);
    assert!(read(store, |tx| tx.deployment_by_hash("env_a", "h3"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.deployment_by_hash("env_o", "h1"))
        .await
        .is_none());
}

pub async fn deployments(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let d1 = sample_deployment("env_a", "20240101.1", NOW + 1);
    let mut d2 = sample_deployment("env_a", "20240101.2", NOW + 2);
    d2.tasks = Vec::new();
    let mut d3 = sample_deployment("env_a", "20240102.1", NOW + 3);
    d3.promoted_at = Some(NOW + 4);
    let o1 = sample_deployment("env_o", "20240101.1", NOW + 10);
    for d in [d1.clone(), d2.clone(), d3.clone(), o1.clone()] {
        write(store, move |tx| tx.insert_deployment(&d)).await;
    }

    let got = read(store, |tx| tx.deployment("env_a", "20240101.1"))
        .await
        .unwrap();
    assert_deployment_eq(&got, &d1);
    assert_eq!(
        got.task("email/send").unwrap().payload_schema,
        manifest()[0].payload_schema
    );
    assert!(got.task("missing").is_none());
    assert_deployment_eq(
        &read(store, |tx| tx.deployment("env_a", "20240101.2"))
            .await
            .unwrap(),
        &d2,
    );
    assert_deployment_eq(
        &read(store, |tx| tx.deployment("env_o", "20240101.1"))
            .await
            .unwrap(),
        &o1,
    );
    assert!(read(store, |tx| tx.deployment("env_o", "20240101.2"))
        .await
        .is_none());

    let newest = read(store, |tx| tx.deployments("env_a", 10)).await;
    assert_eq!(
        newest.iter().map(|d| d.version.clone()).collect::<Vec<_>>(),
        names(&["20240102.1", "20240101.2", "20240101.1"])
    );
    assert_deployment_eq(&newest[0], &d3);
    assert_deployment_eq(&newest[2], &d1);
    let two = read(store, |tx| tx.deployments("env_a", 2)).await;
    assert_eq!(
        two.iter().map(|d| d.version.clone()).collect::<Vec<_>>(),
        names(&["20240102.1", "20240101.2"])
    );
    assert!(read(store, |tx| tx.deployments("env_x", 10))
        .await
        .is_empty());
    assert_eq!(
        read(store, |tx| tx.deployment_versions("env_a", 10)).await,
        names(&["20240102.1", "20240101.2", "20240101.1"]),
        "the versions alone, in the same order"
    );
    assert_eq!(
        read(store, |tx| tx.deployment_versions("env_a", 1)).await,
        names(&["20240102.1"])
    );
    assert!(read(store, |tx| tx.deployment_versions("env_x", 10))
        .await
        .is_empty());

    assert_eq!(
        read(store, |tx| tx.count_deployments_on_day("env_a", "20240101")).await,
        2
    );
    assert_eq!(
        read(store, |tx| tx.count_deployments_on_day("env_a", "20240102")).await,
        1
    );
    assert_eq!(
        read(store, |tx| tx.count_deployments_on_day("env_o", "20240101")).await,
        1
    );
    assert_eq!(
        read(store, |tx| tx.count_deployments_on_day("env_a", "20240103")).await,
        0
    );

    write(store, |tx| tx.set_promoted("env_a", "20240101.2", NOW + 20)).await;
    assert_eq!(
        read(store, |tx| tx.deployment("env_a", "20240101.2"))
            .await
            .unwrap()
            .promoted_at,
        Some(NOW + 20)
    );
    assert_eq!(
        read(store, |tx| tx.deployment("env_a", "20240101.1"))
            .await
            .unwrap()
            .promoted_at,
        None
    );
    assert_eq!(
        read(store, |tx| tx.deployment("env_o", "20240101.1"))
            .await
            .unwrap()
            .promoted_at,
        None
    );

    // A version is deployed once per environment.
    let dup = sample_deployment("env_a", "20240101.1", NOW + 30);
    let mut dup = dup;
    dup.id = "dep_dup".to_string();
    assert!(try_write(store, move |tx| tx.insert_deployment(&dup))
        .await
        .is_err());
    assert_eq!(read(store, |tx| tx.deployments("env_a", 10)).await.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Transactions: group commit, failures, durability
// ---------------------------------------------------------------------------------------------

/// An error of a write closure in these tests.
#[derive(Debug)]
pub enum Failure {
    Store(Error),
    Refused(usize),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Store(e)
    }
}

/// Many concurrent writes: the ones whose closure fails leave nothing behind, the others are
/// all committed and readable as soon as they are acknowledged.
pub async fn group_commit_isolates_failed_writes(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let mut set = JoinSet::new();
    for i in 0..200usize {
        let store = store.clone();
        let mut run = sample_run("env_a", &q.id, i as i64);
        run.tags = vec![format!("t{}", i % 7)];
        set.spawn(async move {
            let r = run.clone();
            let result = tokio::time::timeout(
                PATIENCE,
                store.write(move |tx| -> Result<i64, Failure> {
                    let seq = tx.insert_run(&r)?;
                    // The closure also sees its own write.
                    assert!(tx.run("env_a", &r.id)?.is_some());
                    if i % 10 == 0 {
                        return Err(Failure::Refused(i));
                    }
                    Ok(seq)
                }),
            )
            .await
            .expect("write hung");
            match result {
                Ok(seq) => {
                    assert_ne!(i % 10, 0, "write {i} should have failed");
                    // Read-your-writes: acknowledged means visible.
                    let stored = get_run(&store, "env_a", &run.id)
                        .await
                        .unwrap_or_else(|| panic!("acknowledged run {i} is not readable"));
                    run.seq = seq;
                    assert_run_eq(&stored, &run);
                    Some(seq)
                }
                Err(Failure::Refused(j)) => {
                    assert_eq!(i, j);
                    assert_eq!(i % 10, 0, "write {i} should have succeeded");
                    assert!(get_run(&store, "env_a", &run.id).await.is_none());
                    None
                }
                Err(Failure::Store(e)) => panic!("write {i} failed in the store: {e}"),
            }
        });
    }
    let mut seqs = BTreeSet::new();
    while let Some(joined) = set.join_next().await {
        if let Some(seq) = joined.expect("writer task panicked") {
            assert!(seqs.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(seqs.len(), 180);

    let all = all_runs(store, "env_a").await;
    assert_eq!(all.len(), 180);
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<BTreeSet<_>>(),
        seqs,
        "the stored runs are exactly the acknowledged ones"
    );
    for run in &all {
        let n: usize = run.id.rsplit('_').next().unwrap().parse().unwrap();
        assert_ne!(n % 10, 0, "{} was rolled back but exists", run.id);
    }
    // The tag index holds only committed runs.
    let tagged = list(
        store,
        "env_a",
        RunFilter {
            tags: names(&["t0"]),
            ..RunFilter::default()
        },
        1_000,
    )
    .await;
    let expected = (0..200).filter(|i| i % 7 == 0 && i % 10 != 0).count();
    assert_eq!(tagged.len(), expected);
}

/// A closure that panics is rolled back, its caller gets an error, and the store keeps working.
pub async fn panicking_write_is_rolled_back(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let mut set = JoinSet::new();
    for i in 0..40i64 {
        let store = store.clone();
        let run = sample_run("env_a", &q.id, i);
        set.spawn(async move {
            let id = run.id.clone();
            let result = tokio::time::timeout(
                PATIENCE,
                store.write(move |tx| -> trigr_store::Result<()> {
                    tx.insert_run(&run)?;
                    if i == 17 {
                        panic!("a write closure failed unexpectedly");
                    }
                    Ok(())
                }),
            )
            .await
            .expect("write hung");
            (i, id, result.is_ok())
        });
    }
    while let Some(joined) = set.join_next().await {
        let (i, id, ok) = joined.unwrap();
        assert_eq!(ok, i != 17, "write {i}");
        assert_eq!(
            get_run(store, "env_a", &id).await.is_some(),
            i != 17,
            "run {i}"
        );
    }
    assert_eq!(all_runs(store, "env_a").await.len(), 39);

    // A lone panicking write.
    let run = sample_run("env_a", &q.id, 100);
    let result = tokio::time::timeout(
        PATIENCE,
        store.write(move |tx| -> trigr_store::Result<()> {
            tx.insert_run(&run)?;
            panic!("a write closure failed unexpectedly");
        }),
    )
    .await
    .expect("write hung");
    assert!(result.is_err());
    assert!(get_run(store, "env_a", "run_env_a_100").await.is_none());

    // A panicking read answers with an error too.
    let result = tokio::time::timeout(
        PATIENCE,
        store.read(|tx| -> trigr_store::Result<()> {
            tx.environment("env_a")?;
            panic!("a read closure failed unexpectedly");
        }),
    )
    .await
    .expect("read hung");
    assert!(result.is_err());

    // Later writes still commit.
    insert_runs(store, vec![sample_run("env_a", &q.id, 101)]).await;
    assert!(get_run(store, "env_a", "run_env_a_101").await.is_some());
    assert_eq!(all_runs(store, "env_a").await.len(), 40);
}

/// A closure that fails after several writes leaves none of them behind.
pub async fn failed_write_leaves_no_trace(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let run = insert_runs(store, vec![sample_run("env_a", &q.id, 1)])
        .await
        .remove(0);
    let (qid, r) = (q.id.clone(), run.clone());
    let result = try_write(store, move |tx| -> trigr_store::Result<()> {
        let mut after = r.clone();
        after.status = RunStatus::Dequeued;
        after.lease = Some("L".to_string());
        assert!(tx.update_run(&after, RunStatus::Queued, None)?);
        tx.insert_run(&sample_run("env_a", &qid, 2))?;
        tx.set_current_version("env_a", V2)?;
        tx.insert_batch(&sample_batch("env_a", "batch_1"))?;
        tx.insert_deployment(&sample_deployment("env_a", V2, NOW))?;
        tx.insert_api_key("hash_x", "tr_dev_hash_x", "env_a", NOW)?;
        let mut q2 = sample_queue("env_a", "new-queue");
        q2.id = "queue_new".to_string();
        tx.insert_queue(&q2)?;
        // A statement that fails: the run id is taken.
        tx.insert_run(&sample_run("env_a", &qid, 1))?;
        Ok(())
    })
    .await;
    assert!(result.is_err());

    let env = read(store, |tx| tx.environment("env_a")).await.unwrap();
    assert_eq!(read(store, |tx| tx.env_running("env_a")).await, 0);
    assert_eq!(env.current_version, None);
    let id = q.id.clone();
    assert_eq!(read(store, move |tx| tx.slot_running(&id, "")).await, 0);
    assert_run_eq(&get_run(store, "env_a", &run.id).await.unwrap(), &run);
    assert!(get_run(store, "env_a", "run_env_a_2").await.is_none());
    assert!(read(store, |tx| tx.batch("env_a", "batch_1"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.deployment("env_a", V2)).await.is_none());
    assert!(read(store, |tx| tx.env_by_key_hash("hash_x"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.queue_by_name("env_a", "new-queue"))
        .await
        .is_none());
    assert_eq!(all_runs(store, "env_a").await.len(), 1);
}

/// Opening a database again keeps everything (and does not apply the migrations twice).
pub async fn reopening_keeps_data(fixture: &impl Fixture) {
    let store = fixture.open();
    let (env, q) = seed(&store, "env_a").await;
    write(&store, |tx| {
        tx.insert_api_key("hash_1", "tr_dev_hash_1", "env_a", NOW)
    })
    .await;
    write(&store, |tx| {
        tx.insert_deployment(&sample_deployment("env_a", V1, NOW))
    })
    .await;
    let run = insert_runs(&store, vec![full_run("env_a", &q.id)])
        .await
        .remove(0);
    store.close();

    for _ in 0..2 {
        let store = fixture.open();
        assert_env_eq(
            &read(&store, |tx| tx.environment("env_a")).await.unwrap(),
            &env,
        );
        assert_eq!(
            read(&store, |tx| tx.env_by_key_hash("hash_1"))
                .await
                .unwrap()
                .0
                .id,
            "env_a"
        );
        assert_queue_eq(
            &read(&store, |tx| tx.queue_by_name("env_a", "task/task-a"))
                .await
                .unwrap(),
            &q,
        );
        assert_deployment_eq(
            &read(&store, |tx| tx.deployment("env_a", V1)).await.unwrap(),
            &sample_deployment("env_a", V1, NOW),
        );
        assert_run_eq(&get_run(&store, "env_a", &run.id).await.unwrap(), &run);
        // New writes continue the sequence.
        let n = all_runs(&store, "env_a").await.len() as i64;
        let next = insert_runs(&store, vec![sample_run("env_a", &q.id, n)])
            .await
            .remove(0);
        assert!(next.seq > run.seq);
        store.close();
    }
    let store = fixture.open();
    assert_eq!(all_runs(&store, "env_a").await.len(), 3);
    store.close();
}

/// Every acknowledged write is there after `close` and a reopen; writes after `close` fail.
pub async fn acknowledged_writes_survive_close(fixture: &impl Fixture) {
    let store = fixture.open();
    let (_, q) = seed(&store, "env_a").await;
    let mut set = JoinSet::new();
    for i in 0..100i64 {
        let store = store.clone();
        let mut run = sample_run("env_a", &q.id, i);
        run.status = RunStatus::Delayed;
        set.spawn(async move {
            let r = run.clone();
            run.seq = tokio::time::timeout(PATIENCE, store.write(move |tx| tx.insert_run(&r)))
                .await
                .expect("write hung")
                .expect("write failed");
            run
        });
    }
    let mut acked = Vec::new();
    while let Some(joined) = set.join_next().await {
        acked.push(joined.unwrap());
    }
    store.close();
    let late = sample_run("env_a", &q.id, 1_000);
    let after_close = tokio::time::timeout(PATIENCE, store.write(move |tx| tx.insert_run(&late)))
        .await
        .expect("a write after close hung");
    assert!(after_close.is_err(), "a write after close must fail");

    let store = fixture.open();
    for run in &acked {
        let stored = get_run(&store, "env_a", &run.id)
            .await
            .unwrap_or_else(|| panic!("acknowledged run {} was lost", run.id));
        assert_run_eq(&stored, run);
    }
    assert!(get_run(&store, "env_a", "run_env_a_1000").await.is_none());
    assert_eq!(all_runs(&store, "env_a").await.len(), 100);

    // Close while writes are in flight: whatever was acknowledged is kept, nothing else.
    let mut set = JoinSet::new();
    for i in 200..260i64 {
        let store = store.clone();
        let run = sample_run("env_a", &q.id, i);
        set.spawn(async move {
            let id = run.id.clone();
            let ok = tokio::time::timeout(PATIENCE, store.write(move |tx| tx.insert_run(&run)))
                .await
                .expect("write hung")
                .is_ok();
            (id, ok)
        });
    }
    // Close once the first write is acknowledged, with the others anywhere on their way.
    let first = set.join_next().await.unwrap().unwrap();
    assert!(first.1, "a write before close succeeds");
    let closing = store.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .unwrap();
    let mut outcomes = vec![first];
    while let Some(joined) = set.join_next().await {
        outcomes.push(joined.unwrap());
    }

    let store = fixture.open();
    for (id, ok) in &outcomes {
        assert_eq!(
            get_run(&store, "env_a", id).await.is_some(),
            *ok,
            "run {id}: stored iff acknowledged"
        );
    }
    let kept = outcomes.iter().filter(|(_, ok)| *ok).count();
    assert_eq!(all_runs(&store, "env_a").await.len(), 100 + kept);
    store.close();
}

// ---------------------------------------------------------------------------------------------
// Durable execution: waitpoints, journals, logs
// ---------------------------------------------------------------------------------------------

/// A `WAITING` token of `env_id` created at `NOW + n`.
pub fn sample_waitpoint(env_id: &str, n: i64) -> Waitpoint {
    Waitpoint {
        seq: 0,
        id: format!("waitpoint_{env_id}_{n}"),
        env_id: env_id.to_string(),
        kind: WaitpointKind::Token,
        status: WaitpointStatus::Waiting,
        owner_run_id: None,
        due_at: None,
        idempotency_key: None,
        idempotency_expires_at: None,
        tags: Vec::new(),
        output: None,
        batch_id: None,
        created_at: NOW + n,
        updated_at: NOW + n,
        completed_at: None,
        input: None,
    }
}

/// Inserts waitpoints, one write each, and returns them with their seq read back.
pub async fn insert_waitpoints(store: &Store, wps: Vec<Waitpoint>) -> Vec<Waitpoint> {
    let mut out = Vec::new();
    for w in wps {
        let w2 = w.clone();
        write(store, move |tx| tx.insert_waitpoint(&w2)).await;
        out.push(
            get_waitpoint(store, &w.env_id, &w.id)
                .await
                .expect("stored"),
        );
    }
    out
}

pub async fn get_waitpoint(store: &Store, env_id: &str, id: &str) -> Option<Waitpoint> {
    let (env_id, id) = (env_id.to_string(), id.to_string());
    read(store, move |tx| tx.waitpoint(&env_id, &id)).await
}

fn wp_ids(wps: &[Waitpoint]) -> Vec<String> {
    wps.iter().map(|w| w.id.clone()).collect()
}

pub async fn waitpoint_round_trip(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    let mut full = sample_waitpoint("env_a", 1);
    full.kind = WaitpointKind::Datetime;
    full.owner_run_id = Some("run_owner".into());
    full.due_at = Some(NOW + 3_600_000);
    full.idempotency_key = Some("raw key ü".into());
    full.idempotency_expires_at = Some(NOW + 86_400_000);
    full.tags = names(&["a", "b:c"]);
    full.output = Some("{\"x\":1}".into());
    full.batch_id = Some("batch_1".into());
    full.completed_at = Some(NOW + 9);
    let stored = insert_waitpoints(store, vec![full.clone()]).await.remove(0);
    assert!(stored.seq > 0);
    full.seq = stored.seq;
    assert_eq!(stored, full);
    // In a write too, and from any environment by id.
    let in_write = write(store, |tx| tx.waitpoint("env_a", "waitpoint_env_a_1")).await;
    assert_eq!(in_write.as_ref(), Some(&full));
    let any = read(store, |tx| tx.waitpoint_any_env("waitpoint_env_a_1")).await;
    assert_eq!(any.as_ref(), Some(&full));
    assert!(get_waitpoint(store, "env_b", &full.id).await.is_none());
    assert!(read(store, |tx| tx.waitpoint_any_env("waitpoint_nope"))
        .await
        .is_none());

    // Every kind and status round-trips.
    let mut others = Vec::new();
    let kinds = [
        WaitpointKind::Token,
        WaitpointKind::Datetime,
        WaitpointKind::Run,
        WaitpointKind::Batch,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let mut w = sample_waitpoint("env_a", 10 + i as i64);
        w.kind = kind;
        w.status = WaitpointStatus::ALL[i % 3];
        others.push(w);
    }
    for (w, stored) in others
        .clone()
        .into_iter()
        .zip(insert_waitpoints(store, others).await)
    {
        assert_eq!(stored.kind, w.kind);
        assert_eq!(stored.status, w.status);
    }

    // Idempotency keys: found per environment, unique per environment, released by clearing.
    let found = read(store, |tx| {
        tx.waitpoint_by_idempotency_key("env_a", "raw key ü")
    })
    .await;
    assert_eq!(found.map(|w| w.id), Some(full.id.clone()));
    assert!(read(store, |tx| tx
        .waitpoint_by_idempotency_key("env_b", "raw key ü"))
    .await
    .is_none());
    let mut dup = sample_waitpoint("env_a", 20);
    dup.idempotency_key = Some("raw key ü".into());
    let d = dup.clone();
    assert!(try_write(store, move |tx| tx.insert_waitpoint(&d))
        .await
        .is_err());
    let mut other_env = sample_waitpoint("env_b", 20);
    other_env.idempotency_key = Some("raw key ü".into());
    insert_waitpoints(store, vec![other_env]).await;
    write(store, |tx| {
        tx.clear_waitpoint_idempotency_key("waitpoint_env_a_1")
    })
    .await;
    assert!(read(store, |tx| tx
        .waitpoint_by_idempotency_key("env_a", "raw key ü"))
    .await
    .is_none());
    insert_waitpoints(store, vec![dup]).await;
    // Ids are unique.
    let again = sample_waitpoint("env_a", 20);
    assert!(try_write(store, move |tx| tx.insert_waitpoint(&again))
        .await
        .is_err());
}

pub async fn update_waitpoint_compare_and_set(store: &Store) {
    seed_env(store, "env_a").await;
    let mut w = sample_waitpoint("env_a", 1);
    w.due_at = Some(NOW + 100);
    w.tags = names(&["t"]);
    let w = insert_waitpoints(store, vec![w]).await.remove(0);

    let mut done = w.clone();
    done.status = WaitpointStatus::Completed;
    done.output = Some("{\"ok\":true}".into());
    done.updated_at = NOW + 5;
    done.completed_at = Some(NOW + 5);
    // Expecting the wrong status writes nothing.
    let d = done.clone();
    assert!(
        !write(store, move |tx| tx
            .update_waitpoint(&d, WaitpointStatus::Completed))
        .await
    );
    assert_eq!(get_waitpoint(store, "env_a", &w.id).await.unwrap(), w);
    let d = done.clone();
    assert!(
        write(store, move |tx| tx
            .update_waitpoint(&d, WaitpointStatus::Waiting))
        .await
    );
    assert_eq!(get_waitpoint(store, "env_a", &w.id).await.unwrap(), done);
    // A second completion loses.
    let mut timed_out = done.clone();
    timed_out.status = WaitpointStatus::TimedOut;
    timed_out.output = Some("{\"message\":\"late\"}".into());
    let t = timed_out.clone();
    assert!(
        !write(store, move |tx| tx
            .update_waitpoint(&t, WaitpointStatus::Waiting))
        .await
    );
    assert_eq!(get_waitpoint(store, "env_a", &w.id).await.unwrap(), done);
    // Clearing writes NULLs back; fixed fields stay.
    let mut cleared = done.clone();
    cleared.due_at = None;
    cleared.output = None;
    cleared.completed_at = None;
    cleared.tags = names(&["ignored"]);
    let c = cleared.clone();
    assert!(
        write(store, move |tx| tx
            .update_waitpoint(&c, WaitpointStatus::Completed))
        .await
    );
    let stored = get_waitpoint(store, "env_a", &w.id).await.unwrap();
    assert_eq!(stored.due_at, None);
    assert_eq!(stored.output, None);
    assert_eq!(stored.completed_at, None);
    assert_eq!(stored.tags, names(&["t"]), "tags are fixed at creation");
}

pub async fn list_waitpoints_filters_and_pages(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    let mut wps = Vec::new();
    for n in 1..=6 {
        let mut w = sample_waitpoint("env_a", n);
        w.status = WaitpointStatus::ALL[(n % 3) as usize];
        w.tags = if n % 2 == 0 {
            names(&["even", "all"])
        } else {
            names(&["all"])
        };
        w.idempotency_key = Some(format!("key-{n}"));
        wps.push(w);
    }
    let mut datetime = sample_waitpoint("env_a", 7);
    datetime.kind = WaitpointKind::Datetime;
    wps.push(datetime);
    wps.push(sample_waitpoint("env_b", 8));
    let wps = insert_waitpoints(store, wps).await;
    let list = |filter: WaitpointFilter, page: Page| {
        read(store, move |tx| tx.list_waitpoints("env_a", &filter, page))
    };
    let all = Page {
        size: 100,
        after_seq: None,
        before_seq: None,
    };
    let tokens = WaitpointFilter {
        kind: Some(WaitpointKind::Token),
        ..Default::default()
    };
    // Newest first, this environment only, tokens only.
    let got = list(tokens.clone(), all).await;
    assert_eq!(
        wp_ids(&got),
        names(&[
            "waitpoint_env_a_6",
            "waitpoint_env_a_5",
            "waitpoint_env_a_4",
            "waitpoint_env_a_3",
            "waitpoint_env_a_2",
            "waitpoint_env_a_1"
        ])
    );
    assert_eq!(list(WaitpointFilter::default(), all).await.len(), 7);
    // Status: n % 3 == 0 → WAITING, 1 → COMPLETED, 2 → TIMED_OUT.
    let f = WaitpointFilter {
        statuses: vec![WaitpointStatus::Waiting, WaitpointStatus::TimedOut],
        ..tokens.clone()
    };
    assert_eq!(
        wp_ids(&list(f, all).await),
        names(&[
            "waitpoint_env_a_6",
            "waitpoint_env_a_5",
            "waitpoint_env_a_3",
            "waitpoint_env_a_2"
        ])
    );
    let f = WaitpointFilter {
        idempotency_key: Some("key-4".into()),
        ..tokens.clone()
    };
    assert_eq!(wp_ids(&list(f, all).await), names(&["waitpoint_env_a_4"]));
    let f = WaitpointFilter {
        tags: names(&["even", "nope"]),
        ..tokens.clone()
    };
    assert_eq!(
        wp_ids(&list(f, all).await),
        names(&[
            "waitpoint_env_a_6",
            "waitpoint_env_a_4",
            "waitpoint_env_a_2"
        ])
    );
    let f = WaitpointFilter {
        created_from: Some(NOW + 2),
        created_to: Some(NOW + 3),
        ..tokens.clone()
    };
    assert_eq!(
        wp_ids(&list(f, all).await),
        names(&["waitpoint_env_a_3", "waitpoint_env_a_2"])
    );
    // Pages by seq, both ways.
    let seq_of = |n: usize| wps[n - 1].seq;
    let page = Page {
        size: 2,
        after_seq: Some(seq_of(5)),
        before_seq: None,
    };
    assert_eq!(
        wp_ids(&list(tokens.clone(), page).await),
        names(&["waitpoint_env_a_4", "waitpoint_env_a_3"])
    );
    let page = Page {
        size: 2,
        after_seq: None,
        before_seq: Some(seq_of(2)),
    };
    assert_eq!(
        wp_ids(&list(tokens.clone(), page).await),
        names(&["waitpoint_env_a_4", "waitpoint_env_a_3"])
    );
}

pub async fn due_waitpoints_and_timers(store: &Store) {
    seed_env(store, "env_a").await;
    let mut soon = sample_waitpoint("env_a", 1);
    soon.kind = WaitpointKind::Datetime;
    soon.owner_run_id = Some("run_x".into());
    soon.due_at = Some(NOW + 100);
    let mut later = sample_waitpoint("env_a", 2);
    later.due_at = Some(NOW + 200);
    let mut done = sample_waitpoint("env_a", 3);
    done.status = WaitpointStatus::Completed;
    done.due_at = Some(NOW + 50);
    let mut untimed = sample_waitpoint("env_a", 4);
    untimed.kind = WaitpointKind::Run;
    insert_waitpoints(store, vec![soon, later, done, untimed]).await;

    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 100));
    assert!(write(store, |tx| tx.due_waitpoints(NOW + 99, 10))
        .await
        .is_empty());
    let due = write(store, |tx| tx.due_waitpoints(NOW + 200, 10)).await;
    assert_eq!(
        wp_ids(&due),
        names(&["waitpoint_env_a_1", "waitpoint_env_a_2"]),
        "earliest first, WAITING only"
    );
    assert_eq!(
        write(store, |tx| tx.due_waitpoints(NOW + 200, 1))
            .await
            .len(),
        1
    );

    // Disarming a run's datetime waits clears their timers (tokens are not the run's).
    assert_eq!(
        write(store, |tx| tx.disarm_waitpoints_of("run_other")).await,
        0
    );
    assert_eq!(write(store, |tx| tx.disarm_waitpoints_of("run_x")).await, 1);
    assert_eq!(
        get_waitpoint(store, "env_a", "waitpoint_env_a_1")
            .await
            .unwrap()
            .due_at,
        None
    );
    assert_eq!(read(store, |tx| tx.next_timer()).await, Some(NOW + 200));
    // A completed waitpoint is no timer.
    let mut w = get_waitpoint(store, "env_a", "waitpoint_env_a_2")
        .await
        .unwrap();
    w.status = WaitpointStatus::TimedOut;
    assert!(
        write(store, move |tx| tx
            .update_waitpoint(&w, WaitpointStatus::Waiting))
        .await
    );
    assert_eq!(read(store, |tx| tx.next_timer()).await, None);
    assert!(write(store, |tx| tx.due_waitpoints(NOW + 1_000, 10))
        .await
        .is_empty());
}

pub async fn waitpoint_child_runs(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let runs = insert_runs(
        store,
        (1..=4).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let mut one = sample_waitpoint("env_a", 1);
    one.kind = WaitpointKind::Run;
    let mut batch = sample_waitpoint("env_a", 2);
    batch.kind = WaitpointKind::Batch;
    let mut done = sample_waitpoint("env_a", 3);
    done.kind = WaitpointKind::Run;
    done.status = WaitpointStatus::Completed;
    insert_waitpoints(store, vec![one, batch, done]).await;
    write(store, |tx| {
        tx.insert_waitpoint_runs("waitpoint_env_a_1", &names(&["run_env_a_2"]))?;
        // Item order, not run order; a run may be awaited twice.
        tx.insert_waitpoint_runs(
            "waitpoint_env_a_2",
            &names(&["run_env_a_3", "run_env_a_1", "run_env_a_2"]),
        )?;
        tx.insert_waitpoint_runs("waitpoint_env_a_3", &names(&["run_env_a_4"]))?;
        tx.insert_waitpoint_runs("waitpoint_env_a_3", &[])
    })
    .await;
    let kids = read(store, |tx| tx.runs_of_waitpoint("waitpoint_env_a_2")).await;
    assert_eq!(
        ids(&kids),
        names(&["run_env_a_3", "run_env_a_1", "run_env_a_2"])
    );
    assert_run_eq(&kids[1], &runs[0]);
    let kids = write(store, |tx| tx.runs_of_waitpoint("waitpoint_env_a_1")).await;
    assert_eq!(ids(&kids), names(&["run_env_a_2"]));
    assert!(read(store, |tx| tx.runs_of_waitpoint("waitpoint_none"))
        .await
        .is_empty());

    let awaiting = |run_ids: Vec<String>| write(store, move |tx| tx.waitpoints_awaiting(&run_ids));
    assert_eq!(
        wp_ids(&awaiting(names(&["run_env_a_2"])).await),
        names(&["waitpoint_env_a_1", "waitpoint_env_a_2"])
    );
    assert_eq!(
        wp_ids(&awaiting(names(&["run_env_a_1", "run_env_a_3"])).await),
        names(&["waitpoint_env_a_2"]),
        "each waitpoint once"
    );
    assert!(
        awaiting(names(&["run_env_a_4"])).await.is_empty(),
        "completed waitpoints await nothing"
    );
    assert!(awaiting(Vec::new()).await.is_empty());
    // A duplicate item index is refused.
    assert!(try_write(store, |tx| tx
        .insert_waitpoint_runs("waitpoint_env_a_1", &names(&["run_env_a_3"])))
    .await
    .is_err());
}

fn step(run_id: &str, position: i64, name: &str, output: &str) -> JournalEntry {
    JournalEntry {
        run_id: run_id.to_string(),
        position,
        kind: JournalKind::Step,
        name: name.to_string(),
        output: Some(output.to_string()),
        waitpoint_id: None,
        created_at: NOW + position,
        wait: None,
    }
}

pub async fn journal_entries(store: &Store) {
    seed_env(store, "env_a").await;
    let entries = vec![
        step("run_1", 2, "third", "null"),
        step("run_1", 0, "first", "{\"id\":\"ch_1\"}"),
        step("run_1", 1, "second ü", "[1,2]"),
        step("run_2", 0, "other run", "1"),
    ];
    let e = entries.clone();
    write(store, move |tx| {
        for entry in &e {
            tx.insert_journal_entry(entry)?;
        }
        Ok(())
    })
    .await;
    let journal = read(store, |tx| tx.journal("run_1")).await;
    assert_eq!(
        journal,
        vec![entries[1].clone(), entries[2].clone(), entries[0].clone()]
    );
    let in_write = write(store, |tx| tx.journal("run_1")).await;
    assert_eq!(in_write, journal);
    assert_eq!(
        read(store, |tx| tx.journal_entry("run_1", 1)).await,
        Some(entries[2].clone())
    );
    assert!(read(store, |tx| tx.journal_entry("run_1", 3))
        .await
        .is_none());
    assert!(read(store, |tx| tx.journal("run_3")).await.is_empty());
    assert_eq!(
        read(store, |tx| tx.last_journal_position("run_3")).await,
        None
    );
    let last = journal.last().map(|e| e.position);
    assert_eq!(
        read(store, |tx| tx.last_journal_position("run_1")).await,
        last
    );

    // A position is written once; the failed write leaves nothing behind.
    let dup = step("run_1", 1, "again", "2");
    let extra = step("run_1", 5, "extra", "3");
    let result = try_write(store, move |tx| {
        tx.insert_journal_entry(&extra)?;
        tx.insert_journal_entry(&dup)
    })
    .await;
    assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    assert_eq!(read(store, |tx| tx.journal("run_1")).await, journal);
}

pub async fn journal_waits_show_their_waitpoint(store: &Store) {
    seed_env(store, "env_a").await;
    let token = insert_waitpoints(store, vec![sample_waitpoint("env_a", 1)])
        .await
        .remove(0);
    let wait = |run_id: &str, position: i64| JournalEntry {
        run_id: run_id.to_string(),
        position,
        kind: JournalKind::Wait,
        name: "approval".into(),
        output: None,
        waitpoint_id: Some(token.id.clone()),
        created_at: NOW,
        wait: None,
    };
    let (w1, w2, w3) = (wait("run_1", 0), wait("run_1", 1), wait("run_2", 4));
    write(store, move |tx| {
        tx.insert_journal_entry(&w1)?;
        tx.insert_journal_entry(&w2)?;
        tx.insert_journal_entry(&w3)
    })
    .await;
    let entry = read(store, |tx| tx.journal_entry("run_2", 4))
        .await
        .unwrap();
    assert_eq!(entry.wait, Some((WaitpointStatus::Waiting, None)));
    assert_eq!(
        read(store, |tx| tx.runs_waiting_on("waitpoint_env_a_1")).await,
        names(&["run_1", "run_2"]),
        "each run once"
    );
    assert!(read(store, |tx| tx.runs_waiting_on("waitpoint_other"))
        .await
        .is_empty());

    let mut done = token.clone();
    done.status = WaitpointStatus::Completed;
    done.output = Some("{\"approved\":true}".into());
    assert!(
        write(store, move |tx| tx
            .update_waitpoint(&done, WaitpointStatus::Waiting))
        .await
    );
    let journal = read(store, |tx| tx.journal("run_1")).await;
    assert_eq!(journal.len(), 2);
    for e in journal {
        assert_eq!(
            e.wait,
            Some((
                WaitpointStatus::Completed,
                Some("{\"approved\":true}".into())
            ))
        );
        assert_eq!(e.kind, JournalKind::Wait);
        assert_eq!(e.output, None);
    }
}

pub async fn run_logs(store: &Store) {
    seed_env(store, "env_a").await;
    let line = |run_id: &str, n: i64, level: &str| LogEntry {
        seq: 0,
        run_id: run_id.to_string(),
        time: NOW - n,
        level: level.to_string(),
        message: format!("line {n} ü"),
        fields: (n % 2 == 0).then(|| format!("{{\"n\":{n}}}")),
        created_at: NOW,
        attempt: n / 2,
    };
    let first: Vec<LogEntry> = (0..3).map(|n| line("run_1", n, "info")).collect();
    let f = first.clone();
    write(store, move |tx| {
        tx.insert_logs(&f)?;
        tx.insert_logs(&[line("run_2", 9, "error")])?;
        tx.insert_logs(&[])
    })
    .await;
    let second: Vec<LogEntry> = (3..5).map(|n| line("run_1", n, "warn")).collect();
    let s2 = second.clone();
    write(store, move |tx| tx.insert_logs(&s2)).await;

    let all = read(store, |tx| tx.logs("run_1", None, 100)).await;
    let messages: Vec<&str> = all.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        ["line 0 ü", "line 1 ü", "line 2 ü", "line 3 ü", "line 4 ü"],
        "order of arrival"
    );
    for (got, want) in all.iter().zip(first.iter().chain(second.iter())) {
        assert!(got.seq > 0);
        assert_eq!(
            (
                &got.run_id,
                got.time,
                &got.level,
                &got.fields,
                got.created_at,
                got.attempt
            ),
            (
                &want.run_id,
                want.time,
                &want.level,
                &want.fields,
                want.created_at,
                want.attempt
            )
        );
    }
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let page = read(store, move |tx| tx.logs("run_1", Some(all[1].seq), 2)).await;
    let messages: Vec<&str> = page.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["line 2 ü", "line 3 ü"]);
    assert_eq!(read(store, |tx| tx.logs("run_2", None, 100)).await.len(), 1);
    assert!(read(store, |tx| tx.logs("run_3", None, 100))
        .await
        .is_empty());
}

pub async fn run_spans(store: &Store) {
    seed_env(store, "env_a").await;
    let span = |run_id: &str, n: i64| Span {
        seq: 0,
        run_id: run_id.to_string(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_string(),
        span_id: format!("00f067aa0ba9020{n}"),
        parent_span_id: (n > 0).then(|| "00f067aa0ba90200".to_string()),
        name: format!("step {n} ü"),
        kind: if n == 0 { "attempt" } else { "step" }.to_string(),
        start_ns: 1_700_000_000_000_000_000 + n,
        end_ns: 1_700_000_000_000_000_100 + n,
        status: if n == 2 { "error" } else { "ok" }.to_string(),
        message: (n == 2).then(|| "it broke".to_string()),
        attributes: (n % 2 == 1).then(|| format!("{{\"n\":{n}}}")),
        created_at: NOW,
    };
    let first: Vec<Span> = (0..3).map(|n| span("run_1", n)).collect();
    let f = first.clone();
    write(store, move |tx| {
        tx.insert_spans(&f)?;
        tx.insert_spans(&[span("run_2", 9)])?;
        tx.insert_spans(&[])
    })
    .await;
    let all = read(store, |tx| tx.spans("run_1", 100)).await;
    assert_eq!(all.len(), 3);
    for (got, want) in all.iter().zip(&first) {
        assert!(got.seq > 0);
        assert_eq!(
            Span {
                seq: 0,
                ..got.clone()
            },
            *want,
            "round trip, in order"
        );
    }
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(read(store, |tx| tx.spans("run_1", 2)).await.len(), 2);
    assert_eq!(read(store, |tx| tx.span_count("run_1")).await, 3);
    assert_eq!(read(store, |tx| tx.span_count("run_2")).await, 1);
    assert_eq!(read(store, |tx| tx.span_count("run_3")).await, 0);
    assert!(read(store, |tx| tx.spans("run_3", 100)).await.is_empty());
}

/// A run's snapshot chain: appended in order, read newest, by id and after a seq; a second
/// writer of the same seq conflicts and leaves the first.
pub async fn snapshot_chains(store: &Store) {
    use trigr_store::{Snapshot, SnapshotStatus};
    let snap = |run_id: &str, seq: i64, status: SnapshotStatus, waitpoints: &[&str]| Snapshot {
        run_id: run_id.to_string(),
        seq,
        id: format!("snapshot_{run_id}_{seq}"),
        status,
        lease: (status != SnapshotStatus::Queued).then(|| "lease_1".to_string()),
        attempt: 1,
        waitpoints: waitpoints.iter().map(|w| w.to_string()).collect(),
        created_at: NOW + seq,
    };
    let chain = vec![
        snap("run_1", 1, SnapshotStatus::PendingExecuting, &[]),
        snap("run_1", 2, SnapshotStatus::Executing, &[]),
        snap("run_1", 3, SnapshotStatus::ExecutingWithWaitpoints, &[]),
        snap(
            "run_1",
            4,
            SnapshotStatus::Executing,
            &["waitpoint_a", "waitpoint_ü"],
        ),
    ];
    let c = chain.clone();
    write(store, move |tx| {
        for s in &c {
            tx.insert_snapshot(s)?;
        }
        tx.insert_snapshot(&snap("run_2", 1, SnapshotStatus::Queued, &[]))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.latest_snapshot("run_1")).await,
        Some(chain[3].clone())
    );
    assert_eq!(
        read(store, |tx| tx.snapshot("run_1", "snapshot_run_1_2")).await,
        Some(chain[1].clone())
    );
    assert_eq!(
        read(store, |tx| tx.snapshot("run_2", "snapshot_run_1_2")).await,
        None
    );
    assert_eq!(
        read(store, |tx| tx.snapshots("run_1", 1, 2)).await,
        chain[1..3].to_vec()
    );
    assert_eq!(read(store, |tx| tx.snapshots("run_1", 0, 100)).await, chain);
    assert_eq!(read(store, |tx| tx.latest_snapshot("run_3")).await, None);
    let taken = snap("run_1", 4, SnapshotStatus::Finished, &[]);
    let result = try_write(store, move |tx| tx.insert_snapshot(&taken)).await;
    assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    assert_eq!(
        read(store, |tx| tx.latest_snapshot("run_1")).await,
        Some(chain[3].clone())
    );
}

/// Two writers completing a waitpoint's children at once: each locks the waitpoint before
/// reading the other children, so the second to commit sees every child ended.
pub async fn waitpoint_lock_serializes_completers(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let mut runs = Vec::new();
    for n in 1..=2 {
        let mut r = sample_run("env_a", &q.id, n);
        r.status = RunStatus::Executing;
        r.lease = Some(format!("L{n}"));
        runs.push(r);
    }
    insert_runs(store, runs).await;
    let mut batch = sample_waitpoint("env_a", 1);
    batch.kind = WaitpointKind::Batch;
    insert_waitpoints(store, vec![batch]).await;
    write(store, |tx| {
        tx.insert_waitpoint_runs("waitpoint_env_a_1", &names(&["run_env_a_1", "run_env_a_2"]))
    })
    .await;

    let mut writers = JoinSet::new();
    for n in 1..=2 {
        let store = store.clone();
        writers.spawn(async move {
            write(&store, move |tx| {
                let id = format!("run_env_a_{n}");
                let run = tx.run("env_a", &id)?.expect("run");
                let mut done = run.clone();
                done.status = RunStatus::Completed;
                done.lease = None;
                assert!(tx.update_run(&done, RunStatus::Executing, run.lease.as_deref())?);
                let mut completed = 0;
                for w in tx.waitpoints_awaiting(&[id])? {
                    let kids = tx.runs_of_waitpoint(&w.id)?;
                    if kids.iter().all(|k| k.status.is_final()) {
                        let mut after = w.clone();
                        after.status = WaitpointStatus::Completed;
                        if tx.update_waitpoint(&after, WaitpointStatus::Waiting)? {
                            completed += 1;
                        }
                    }
                }
                Ok(completed)
            })
            .await
        });
    }
    let mut completions = 0;
    while let Some(done) = writers.join_next().await {
        completions += done.expect("writer");
    }
    assert_eq!(completions, 1, "exactly one writer completes the waitpoint");
    let w = get_waitpoint(store, "env_a", "waitpoint_env_a_1")
        .await
        .unwrap();
    assert_eq!(w.status, WaitpointStatus::Completed);
}

// ---------------------------------------------------------------------------------------------
// Input streams and worker presence
// ---------------------------------------------------------------------------------------------

/// Message `seq` of a run's stream, its data naming where it belongs.
pub fn sample_input(run_id: &str, stream_id: &str, seq: i64) -> InputMessage {
    InputMessage {
        run_id: run_id.to_string(),
        stream_id: stream_id.to_string(),
        seq,
        data: format!("{{\"run\":\"{run_id}\",\"stream\":\"{stream_id} ü\",\"seq\":{seq}}}"),
        run_version: Some(V1.to_string()),
        created_at: NOW + seq,
    }
}

/// Messages are numbered per run and stream and read back in order, with their data.
pub async fn input_messages(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    insert_runs(
        store,
        (1..=2).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let (run, other_run) = ("run_env_a_1", "run_env_a_2");
    let last = |run_id: &'static str, stream_id: &'static str| {
        read(store, move |tx| tx.last_input_seq(run_id, stream_id))
    };
    let messages = |run_id: &'static str, stream_id: &'static str, after: i64, limit: usize| {
        read(store, move |tx| {
            tx.input_messages(run_id, stream_id, after, limit)
        })
    };
    assert_eq!(last(run, "a").await, 0, "an empty stream");
    assert_eq!(
        write(store, move |tx| tx.last_input_seq(run, "a")).await,
        0,
        "an empty stream, in a write"
    );
    assert!(messages(run, "a", 0, 10).await.is_empty());

    let a1 = sample_input(run, "a", 1);
    let mut a2 = sample_input(run, "a", 2);
    a2.run_version = None;
    a2.data = "[1,\"two\",{\"nested\":null}]".to_string();
    let a3 = sample_input(run, "a", 3);
    let b1 = sample_input(run, "b", 1);
    let mut o1 = sample_input(other_run, "a", 1);
    o1.run_version = Some(V2.to_string());
    let (first, rest) = (
        vec![a1.clone(), b1.clone(), o1.clone()],
        vec![a3.clone(), a2.clone()],
    );
    write(store, move |tx| {
        for m in &first {
            tx.insert_input_message(m)?;
        }
        Ok(())
    })
    .await;
    // Read back by number, not by order of insertion.
    write(store, move |tx| {
        for m in &rest {
            tx.insert_input_message(m)?;
        }
        Ok(())
    })
    .await;

    let all_a = vec![a1.clone(), a2.clone(), a3.clone()];
    assert_eq!(messages(run, "a", 0, 10).await, all_a);
    assert_eq!(
        write(store, move |tx| tx.input_messages(run, "a", 0, 10)).await,
        all_a,
        "the same in a write"
    );
    assert_eq!(messages(run, "a", 2, 10).await, vec![a3.clone()]);
    assert!(messages(run, "a", 3, 10).await.is_empty());
    assert!(messages(run, "a", 7, 10).await.is_empty());
    assert_eq!(
        messages(run, "a", 0, 2).await,
        vec![a1.clone(), a2.clone()],
        "the limit"
    );
    assert_eq!(messages(run, "a", 1, 1).await, vec![a2.clone()]);
    assert!(messages(run, "a", 0, 0).await.is_empty());

    assert_eq!(last(run, "a").await, 3);
    assert_eq!(last(run, "b").await, 1);
    assert_eq!(last(other_run, "a").await, 1);
    assert_eq!(last(other_run, "b").await, 0);
    assert_eq!(last(run, "c").await, 0);
    assert_eq!(last("run_none", "a").await, 0);
    // Streams and runs do not mix.
    assert_eq!(messages(run, "b", 0, 10).await, vec![b1.clone()]);
    assert_eq!(messages(other_run, "a", 0, 10).await, vec![o1.clone()]);
    assert!(messages(other_run, "b", 0, 10).await.is_empty());
    assert!(messages("run_none", "a", 0, 10).await.is_empty());

    // A number is given once: a duplicate fails instead of overwriting, and its write leaves
    // nothing behind.
    let mut dup = sample_input(run, "a", 2);
    dup.data = "\"overwritten\"".to_string();
    let extra = sample_input(run, "a", 4);
    let result = try_write(store, move |tx| {
        tx.insert_input_message(&extra)?;
        tx.insert_input_message(&dup)
    })
    .await;
    assert!(result.is_err(), "a duplicate message was accepted");
    assert_eq!(messages(run, "a", 0, 10).await, all_a);
    assert_eq!(last(run, "a").await, 3);
    // Another stream or run may use the same number.
    let (b2, o2) = (sample_input(run, "b", 2), sample_input(other_run, "a", 2));
    let (b, o) = (b2.clone(), o2.clone());
    write(store, move |tx| {
        tx.insert_input_message(&b)?;
        tx.insert_input_message(&o)
    })
    .await;
    assert_eq!(messages(run, "b", 1, 10).await, vec![b2]);
    assert_eq!(messages(other_run, "a", 0, 10).await, vec![o1, o2]);
    assert_eq!(messages(run, "a", 0, 10).await, all_a);
}

/// A consumer's position only moves forward, and each (run, stream, consumer) has its own.
pub async fn input_cursors(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    insert_runs(
        store,
        (1..=2).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let (run, other_run) = ("run_env_a_1", "run_env_a_2");
    let cursor = |run_id: &'static str, stream_id: &'static str, consumer: &'static str| {
        read(store, move |tx| {
            tx.input_cursor(run_id, stream_id, consumer)
        })
    };
    let advance =
        |run_id: &'static str, stream_id: &'static str, consumer: &'static str, to: i64| {
            write(store, move |tx| {
                tx.advance_input_cursor(run_id, stream_id, consumer, to, NOW + to)
            })
        };
    assert_eq!(cursor(run, "a", "main").await, 0, "no cursor yet");
    assert_eq!(
        write(store, move |tx| tx.input_cursor(run, "a", "main")).await,
        0,
        "no cursor yet, in a write"
    );

    assert!(advance(run, "a", "main", 1).await);
    assert_eq!(cursor(run, "a", "main").await, 1);
    assert!(!advance(run, "a", "main", 1).await, "already there");
    assert_eq!(cursor(run, "a", "main").await, 1);
    assert!(advance(run, "a", "main", 3).await);
    assert_eq!(cursor(run, "a", "main").await, 3);
    assert!(!advance(run, "a", "main", 2).await, "never back");
    assert_eq!(cursor(run, "a", "main").await, 3);
    assert_eq!(
        write(store, move |tx| tx.input_cursor(run, "a", "main")).await,
        3,
        "the same in a write"
    );

    // Consumers, streams and runs are independent.
    assert_eq!(cursor(run, "a", "other").await, 0);
    assert_eq!(cursor(run, "b", "main").await, 0);
    assert_eq!(cursor(other_run, "a", "main").await, 0);
    assert!(advance(run, "a", "other", 2).await);
    assert!(advance(run, "b", "main", 1).await);
    assert!(advance(other_run, "a", "main", 5).await);
    assert_eq!(cursor(run, "a", "other").await, 2);
    assert_eq!(cursor(run, "b", "main").await, 1);
    assert_eq!(cursor(other_run, "a", "main").await, 5);
    assert_eq!(cursor(run, "a", "main").await, 3);
    assert_eq!(cursor(other_run, "b", "main").await, 0);
    // One consumer at 3 does not stop another from moving to 3.
    assert!(advance(run, "a", "other", 3).await);
    assert_eq!(cursor(run, "a", "other").await, 3);

    // Within one write: each call sees the one before.
    let moves = write(store, move |tx| {
        Ok([
            tx.advance_input_cursor(run, "c", "main", 4, NOW)?,
            tx.advance_input_cursor(run, "c", "main", 4, NOW)?,
            tx.advance_input_cursor(run, "c", "main", 6, NOW)?,
            tx.advance_input_cursor(run, "c", "main", 5, NOW)?,
        ])
    })
    .await;
    assert_eq!(moves, [true, false, true, false]);
    assert_eq!(cursor(run, "c", "main").await, 6);
}

/// Input waitpoints keep what they read, and a run's `WAITING` ones are found by stream.
pub async fn input_waitpoints(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    insert_runs(
        store,
        (1..=2).map(|n| sample_run("env_a", &q.id, n)).collect(),
    )
    .await;
    let (run, other_run) = ("run_env_a_1", "run_env_a_2");
    let input_wait = |n: i64, owner: &str, stream_id: &str, after: i64| {
        let mut w = sample_waitpoint("env_a", n);
        w.kind = WaitpointKind::Input;
        w.owner_run_id = Some(owner.to_string());
        w.input = Some(InputWait {
            stream_id: stream_id.to_string(),
            after,
        });
        w
    };
    // Ids in an order their creation order is not: "…_10" sorts before "…_9".
    let mut first_a = input_wait(9, run, "a", 2);
    first_a.due_at = Some(NOW + 60_000);
    first_a.tags = names(&["input"]);
    let on_b = input_wait(2, run, "b", 0);
    let mut completed_a = input_wait(3, run, "a", 0);
    completed_a.status = WaitpointStatus::Completed;
    completed_a.output = Some("{\"seq\":1}".to_string());
    completed_a.completed_at = Some(NOW + 4);
    let mut timed_out_a = input_wait(4, run, "a", 1);
    timed_out_a.status = WaitpointStatus::TimedOut;
    timed_out_a.output = Some("{\"message\":\"timed out\"}".to_string());
    let token = sample_waitpoint("env_a", 5);
    let mut datetime = sample_waitpoint("env_a", 6);
    datetime.kind = WaitpointKind::Datetime;
    datetime.owner_run_id = Some(run.to_string());
    datetime.due_at = Some(NOW + 1_000);
    let of_other_run = input_wait(7, other_run, "a", 0);
    let second_a = input_wait(10, run, "a", 3);
    let all = vec![
        first_a,
        on_b,
        completed_a,
        timed_out_a,
        token,
        datetime,
        of_other_run,
        second_a,
    ];
    let stored = insert_waitpoints(store, all.clone()).await;
    // Every field round-trips, `input` included; a waitpoint that reads no stream has none.
    for (mut want, got) in all.into_iter().zip(stored.iter()) {
        assert!(got.seq > 0);
        want.seq = got.seq;
        assert_eq!(got, &want);
    }
    let by_id = |id: &str| stored.iter().find(|w| w.id == id).unwrap().clone();
    let first_a = by_id("waitpoint_env_a_9");
    let second_a = by_id("waitpoint_env_a_10");
    assert_eq!(first_a.kind, WaitpointKind::Input);
    assert_eq!(
        first_a.input,
        Some(InputWait {
            stream_id: "a".to_string(),
            after: 2
        })
    );
    assert_eq!(
        get_waitpoint(store, "env_a", "waitpoint_env_a_9").await,
        Some(first_a.clone())
    );
    assert_eq!(
        write(store, |tx| tx.waitpoint("env_a", "waitpoint_env_a_9")).await,
        Some(first_a.clone()),
        "the same in a write"
    );
    assert_eq!(
        read(store, |tx| tx.waitpoint_any_env("waitpoint_env_a_2"))
            .await
            .and_then(|w| w.input),
        Some(InputWait {
            stream_id: "b".to_string(),
            after: 0
        })
    );
    for id in ["waitpoint_env_a_5", "waitpoint_env_a_6"] {
        let w = get_waitpoint(store, "env_a", id).await.unwrap();
        assert_eq!(w.input, None, "{id}");
        assert_ne!(w.kind, WaitpointKind::Input, "{id}");
    }

    let waiting = |run_id: &'static str, stream_id: &'static str| {
        write(store, move |tx| tx.input_waitpoints(run_id, stream_id))
    };
    // Only the run's WAITING ones on the stream, in creation order, whole.
    let got = waiting(run, "a").await;
    assert_eq!(got, vec![first_a.clone(), second_a.clone()]);
    assert!(got.iter().all(|w| w.kind == WaitpointKind::Input));
    assert_eq!(
        read(store, move |tx| tx.input_waitpoints(run, "a")).await,
        got,
        "the same in a read"
    );
    assert_eq!(
        wp_ids(&waiting(run, "b").await),
        names(&["waitpoint_env_a_2"])
    );
    assert_eq!(
        wp_ids(&waiting(other_run, "a").await),
        names(&["waitpoint_env_a_7"])
    );
    assert!(waiting(other_run, "b").await.is_empty());
    assert!(waiting(run, "c").await.is_empty());
    assert!(waiting("run_none", "a").await.is_empty());

    // Input waitpoints are listed by their kind.
    let inputs = WaitpointFilter {
        kind: Some(WaitpointKind::Input),
        ..Default::default()
    };
    let page = Page {
        size: 100,
        after_seq: None,
        before_seq: None,
    };
    assert_eq!(
        wp_ids(&read(store, move |tx| tx.list_waitpoints("env_a", &inputs, page)).await),
        names(&[
            "waitpoint_env_a_10",
            "waitpoint_env_a_7",
            "waitpoint_env_a_4",
            "waitpoint_env_a_3",
            "waitpoint_env_a_2",
            "waitpoint_env_a_9"
        ])
    );

    // Once completed, a waitpoint is no longer waiting; what it read stays.
    let mut done = first_a.clone();
    done.status = WaitpointStatus::Completed;
    done.output = Some("{\"seq\":3}".to_string());
    done.updated_at = NOW + 20;
    done.completed_at = Some(NOW + 20);
    let d = done.clone();
    assert!(
        write(store, move |tx| tx
            .update_waitpoint(&d, WaitpointStatus::Waiting))
        .await
    );
    assert_eq!(waiting(run, "a").await, vec![second_a]);
    assert_eq!(
        get_waitpoint(store, "env_a", "waitpoint_env_a_9").await,
        Some(done)
    );
}

/// When a worker of each version last asked for runs: the latest time, per environment.
pub async fn worker_presence(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let seen = |env_id: &'static str| read(store, move |tx| tx.workers_seen(env_id));
    let touch = |env_id: &'static str, version: &'static str, at: Millis| {
        write(store, move |tx| tx.touch_worker(env_id, version, at))
    };
    let expect = |pairs: &[(&str, Millis)]| -> Vec<(String, Millis)> {
        pairs.iter().map(|(v, at)| (v.to_string(), *at)).collect()
    };
    assert!(seen("env_a").await.is_empty());
    assert!(write(store, |tx| tx.workers_seen("env_a")).await.is_empty());

    touch("env_a", "v1", NOW + 100).await;
    assert_eq!(seen("env_a").await, expect(&[("v1", NOW + 100)]));
    touch("env_a", "v2", NOW + 50).await;
    assert_eq!(
        seen("env_a").await,
        expect(&[("v1", NOW + 100), ("v2", NOW + 50)])
    );
    // An older time does not go back; the same time changes nothing.
    touch("env_a", "v1", NOW + 80).await;
    touch("env_a", "v2", NOW + 50).await;
    assert_eq!(
        seen("env_a").await,
        expect(&[("v1", NOW + 100), ("v2", NOW + 50)])
    );
    touch("env_a", "v1", NOW + 150).await;
    assert_eq!(
        seen("env_a").await,
        expect(&[("v1", NOW + 150), ("v2", NOW + 50)])
    );
    assert_eq!(
        write(store, |tx| tx.workers_seen("env_a")).await,
        expect(&[("v1", NOW + 150), ("v2", NOW + 50)]),
        "the same in a write"
    );
    // Another environment sees nothing of it, and has its own.
    assert!(seen("env_o").await.is_empty());
    touch("env_o", "v1", NOW + 999).await;
    assert_eq!(seen("env_o").await, expect(&[("v1", NOW + 999)]));
    assert_eq!(
        seen("env_a").await,
        expect(&[("v1", NOW + 150), ("v2", NOW + 50)])
    );

    // By version, not by time or arrival; several touches in one write.
    write(store, |tx| {
        tx.touch_worker("env_a", "v0", NOW + 10)?;
        tx.touch_worker("env_a", "v0", NOW + 5)?;
        tx.touch_worker("env_a", "v2", NOW + 60)
    })
    .await;
    assert_eq!(
        seen("env_a").await,
        expect(&[("v0", NOW + 10), ("v1", NOW + 150), ("v2", NOW + 60)])
    );
}
