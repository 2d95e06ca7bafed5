//! Workflow plans against a real in-process server and a real HTTP target the test starts
//! (`http_target/`): the built-in plan task served by an SDK worker, plans started through
//! `WorkflowExecutor`, state read through the client and the REST run while the plan runs.

mod http_target;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http_target::Target;
use serde_json::{json, Value};
use tokio::sync::Notify;
use trigr_sdk::testkit::TestServer;
use trigr_sdk::workflow::{
    plan_task, ActionErrorCode, ActionStatus, ExecutionPlan, HostPolicy, PlanOptions, StateManager,
    TrigrStateManager, WorkflowExecutor, WorkflowState, WorkflowStatus,
};
use trigr_sdk::{task, Error, RunStatus, RunningWorker};

fn plan(id: &str, actions: Value) -> ExecutionPlan {
    serde_json::from_value(json!({"id": id, "actions": actions})).expect("a plan")
}

/// An action calling `path` on the target, depending on `deps`.
fn get(target: &Target, id: &str, path: &str, deps: &[&str]) -> Value {
    json!({
        "id": id,
        "dependsOn": deps,
        "http": {"method": "GET", "url": format!("{}{path}", target.url), "timeoutMs": 10_000},
        "retry": {"attempts": 3, "backoff": {"initialMs": 10, "factor": 2, "maxMs": 50}}
    })
}

fn local_only() -> HostPolicy {
    HostPolicy::deny_all()
        .allow_host("127.0.0.1")
        .expect("an address")
}

async fn plan_worker(server: &TestServer, options: PlanOptions) -> RunningWorker {
    server
        .worker()
        .task(plan_task(options))
        .start()
        .await
        .expect("the plan worker starts")
}

async fn execute(server: &TestServer, plan: &ExecutionPlan) -> String {
    WorkflowExecutor::new(server.client())
        .execute(plan)
        .await
        .expect("the plan starts")
        .execution_id
}

/// The final state of a finished execution, read through the client.
async fn final_state(server: &TestServer, id: &str) -> (RunStatus, WorkflowState) {
    let run = server.wait_for_run(id).await;
    let state = server
        .client()
        .workflow_state(id)
        .await
        .expect("read the state")
        .expect("a plan execution");
    (run.status, state)
}

/// Polls `check` on the execution's state until it holds (at most 20 s).
async fn state_until(
    server: &TestServer,
    id: &str,
    what: &str,
    check: impl Fn(&WorkflowState) -> bool,
) -> WorkflowState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = server.client().workflow_state(id).await.expect("read");
        if let Some(state) = state.filter(|s| check(s)) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_diamond_runs_in_order_with_its_middle_in_parallel() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let p = plan(
        "diamond",
        json!([
            get(&target, "d", "/ok/d", &["b", "c"]),
            get(&target, "b", "/ok/b?delay_ms=300", &["a"]),
            get(&target, "c", "/ok/c?delay_ms=300", &["a"]),
            get(&target, "a", "/ok/a", &[]),
        ]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(state.status, WorkflowStatus::Completed);
    assert_eq!(state.execution_id, id);
    assert_eq!(state.plan_id, "diamond");
    assert_eq!(state.count(ActionStatus::Completed), 4);
    let d = &state.results["d"];
    assert_eq!(d.output.as_ref().expect("an output")["status"], json!(200));
    assert_eq!(
        d.output.as_ref().expect("an output")["body"]["name"],
        json!("d")
    );
    assert_eq!(d.attempts, 1);

    let seen = target.seen();
    let at = |action: &str| {
        seen.iter()
            .find(|s| s.key == format!("{id}:{action}"))
            .unwrap_or_else(|| panic!("{action} was not sent with its idempotency key"))
            .clone()
    };
    let (a, b, c, d) = (at("a"), at("b"), at("c"), at("d"));
    assert!(a.answered.expect("a answered") <= b.arrived && a.answered.expect("a") <= c.arrived);
    assert!(
        b.arrived < c.answered.expect("c") && c.arrived < b.answered.expect("b"),
        "b and c overlap"
    );
    assert!(d.arrived >= b.answered.expect("b").max(c.answered.expect("c")));
    assert!(target.per_key().values().all(|&n| n == 1), "each sent once");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_takes_its_timestamps_from_the_given_clock() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    // Each reading of the clock is one second after the one before, from 2030-01-01.
    let base = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let ticks = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let clock = {
        let ticks = ticks.clone();
        move || base + chrono::Duration::seconds(ticks.fetch_add(1, Ordering::SeqCst))
    };
    let options = PlanOptions::new().hosts(local_only()).clock(clock);
    let worker = plan_worker(&server, options).await;
    let p = plan(
        "clocked",
        json!([
            get(&target, "a", "/ok/a", &[]),
            get(&target, "b", "/ok/b", &["a"]),
        ]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(
        state.started_at, base,
        "the plan's start is the clock's first reading"
    );
    let readings = ticks.load(Ordering::SeqCst);
    let last = base + chrono::Duration::seconds(readings - 1);
    assert_eq!(
        state.completed_at,
        Some(last),
        "the plan's end is its last reading"
    );
    let (a, b) = (&state.results["a"], &state.results["b"]);
    for r in [a, b] {
        let (started, completed) = (
            r.started_at.expect("a start"),
            r.completed_at.expect("an end"),
        );
        assert!(
            base < started && started < completed && completed < last,
            "{r:?}"
        );
        let seconds = (completed - started).num_seconds();
        assert_eq!(r.duration_ms, Some(seconds as u64 * 1000), "{r:?}");
    }
    assert!(
        a.completed_at < b.started_at,
        "b starts after a ends, by the same clock"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wide_fan_out_keeps_to_the_parallelism_limit() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(
        &server,
        PlanOptions::new().hosts(local_only()).parallelism(5),
    )
    .await;
    let mut actions = vec![get(&target, "root", "/ok/root", &[])];
    let middle: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for m in &middle {
        actions.push(get(&target, m, &format!("/ok/{m}?delay_ms=100"), &["root"]));
    }
    let deps: Vec<&str> = middle.iter().map(String::as_str).collect();
    actions.push(get(&target, "join", "/ok/join", &deps));
    let id = execute(&server, &plan("fan", json!(actions))).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(state.count(ActionStatus::Completed), 22);
    assert_eq!(target.most_in_flight(), 5, "five at a time, and never more");
    let join = target
        .seen()
        .into_iter()
        .find(|s| s.path == "/ok/join")
        .expect("join");
    let last_middle = target
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/ok/m"))
        .filter_map(|s| s.answered)
        .max()
        .expect("middles");
    assert!(join.arrived >= last_middle, "the join waits for all");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_honour_retry_after_then_succeed() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let p = plan(
        "retries",
        json!([
            get(&target, "flaky", "/ok/flaky?fail=2", &[]),
            get(
                &target,
                "limited",
                "/ok/limited?fail=1&fail_status=429&retry_after=1",
                &[]
            ),
        ]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed, "{state:?}");
    assert_eq!(state.results["flaky"].attempts, 3);
    assert_eq!(state.results["limited"].attempts, 2);
    let limited: Vec<_> = target
        .seen()
        .into_iter()
        .filter(|s| s.path == "/ok/limited")
        .collect();
    assert_eq!(limited.len(), 2);
    let gap = limited[1].arrived - limited[0].answered.expect("answered");
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {gap:?}"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_failure_skips_its_dependents_and_fails_the_run() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let p = plan(
        "broken",
        json!([
            get(&target, "bad", "/status/400", &[]),
            get(&target, "down", "/status/503", &[]),
            get(&target, "after-bad", "/ok/x", &["bad"]),
            get(&target, "after-after", "/ok/y", &["after-bad"]),
            get(&target, "fine", "/ok/fine", &[]),
        ]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(
        state.status,
        WorkflowStatus::Failed,
        "the state says so too"
    );
    let r = &state.results;
    assert_eq!(r["bad"].status, ActionStatus::Failed);
    assert_eq!(
        r["bad"].error.as_ref().and_then(|e| e.code),
        Some(ActionErrorCode::ClientError)
    );
    assert_eq!(r["bad"].attempts, 1, "a 400 is not retried");
    assert_eq!(
        r["down"].error.as_ref().and_then(|e| e.code),
        Some(ActionErrorCode::ServerError)
    );
    assert_eq!(r["down"].attempts, 3, "a 503 is retried up to the limit");
    assert_eq!(r["after-bad"].status, ActionStatus::Skipped);
    assert_eq!(r["after-after"].status, ActionStatus::Skipped);
    assert_eq!(
        r["after-bad"].error.as_ref().and_then(|e| e.code),
        Some(ActionErrorCode::DependencyFailed)
    );
    assert_eq!(r["fine"].status, ActionStatus::Completed);
    assert!(!target
        .seen()
        .iter()
        .any(|s| s.path == "/ok/x" || s.path == "/ok/y"));
    let run = server.client().retrieve_run(&id).await.expect("the run");
    let error = run.error.expect("an error");
    assert_eq!(error.name.as_deref(), Some("PlanFailed"));
    assert!(
        error.message.contains("bad") && error.message.contains("down"),
        "{}",
        error.message
    );
    assert_eq!(
        run.attempt_count, 1,
        "a failed plan is not retried as a whole"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn continue_on_failure_lets_dependents_run() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let mut optional = get(&target, "optional", "/status/404", &[]);
    optional["continueOnFailure"] = json!(true);
    let p = plan(
        "tolerant",
        json!([optional, get(&target, "next", "/text", &["optional"])]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(state.status, WorkflowStatus::Completed);
    assert_eq!(state.results["optional"].status, ActionStatus::Failed);
    assert_eq!(state.results["next"].status, ActionStatus::Completed);
    assert_eq!(
        state.results["next"].output.as_ref().expect("output")["body"],
        json!("plain words"),
        "a text body stays text"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cycles_and_unknown_dependencies_are_refused_before_any_run() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let executor = WorkflowExecutor::new(server.client());
    let cyclic = plan(
        "cyclic",
        json!([
            get(&target, "a", "/ok/a", &["c"]),
            get(&target, "b", "/ok/b", &["a"]),
            get(&target, "c", "/ok/c", &["b"]),
        ]),
    );
    let err = executor.execute(&cyclic).await.expect_err("a cycle");
    assert!(matches!(err, Error::InvalidPlan(_)));
    assert_eq!(
        err.to_string(),
        "invalid plan: the dependencies form a cycle: a → c → b → a"
    );
    let unknown = plan("unknown", json!([get(&target, "a", "/ok/a", &["ghost"])]));
    let err = executor.execute(&unknown).await.expect_err("unknown");
    assert!(
        err.to_string()
            .contains("\"ghost\", which is not an action"),
        "{err}"
    );
    let runs = server
        .client()
        .list_runs(trigr_sdk::ListRuns::new())
        .await
        .expect("runs");
    assert!(runs.data.is_empty(), "no run exists");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_mid_plan_with_state_readable_while_it_runs() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let p = plan(
        "long",
        json!([
            get(&target, "quick", "/ok/quick", &[]),
            get(&target, "slow", "/ok/slow?delay_ms=30000", &[]),
            get(&target, "after", "/ok/after", &["slow", "quick"]),
        ]),
    );
    let id = execute(&server, &p).await;
    let live = state_until(&server, &id, "slow running, quick completed", |s| {
        s.results["slow"].status == ActionStatus::Running
            && s.results["quick"].status == ActionStatus::Completed
    })
    .await;
    assert_eq!(live.status, WorkflowStatus::Running);
    assert_eq!(live.results["after"].status, ActionStatus::Pending);
    assert!(live.results["slow"].started_at.is_some());
    let result = server
        .client()
        .action_result(&id, "quick")
        .await
        .expect("read")
        .expect("an action");
    assert_eq!(
        result.output.expect("output")["body"]["name"],
        json!("quick")
    );

    // The same state through the REST run, in the seed's spelling.
    let rest: Value = reqwest_get(&server, &format!("/api/v3/runs/{id}")).await;
    assert_eq!(rest["metadata"]["workflow"]["executionId"], json!(id));
    assert_eq!(
        rest["metadata"]["workflow"]["results"]["slow"]["status"],
        json!("running")
    );

    server.client().cancel_run(&id).await.expect("cancel");
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Canceled);
    assert_eq!(state.status, WorkflowStatus::Cancelled);
    assert_eq!(state.results["quick"].status, ActionStatus::Completed);
    assert_eq!(state.results["slow"].status, ActionStatus::Cancelled);
    assert_eq!(state.results["after"].status, ActionStatus::Cancelled);
    assert!(!target.seen().iter().any(|s| s.path == "/ok/after"));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

async fn reqwest_get(server: &TestServer, path: &str) -> Value {
    server
        .client()
        .get_json(path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_host_allowlist_refuses_by_default_and_private_addresses_unless_allowed() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let denied = plan_worker(&server, PlanOptions::new().hosts(HostPolicy::deny_all())).await;
    let id = execute(
        &server,
        &plan("denied", json!([get(&target, "a", "/ok/a", &[])])),
    )
    .await;
    let (_, state) = final_state(&server, &id).await;
    let error = state.results["a"].error.clone().expect("an error");
    assert_eq!(error.code, Some(ActionErrorCode::HostNotAllowed));
    assert!(
        error.message.contains("not in the allowlist"),
        "{}",
        error.message
    );
    denied.shutdown().await.expect("shutdown");

    // A host name that is allowed but resolves to loopback: refused at connection time.
    let port = target.url.rsplit(':').next().expect("a port");
    let named = HostPolicy::deny_all()
        .allow_host("localhost")
        .expect("a name");
    let worker = plan_worker(&server, PlanOptions::new().hosts(named.clone())).await;
    let via_name = json!([{"id": "a", "http": {"method": "GET", "url": format!("http://localhost:{port}/ok/a")},
        "retry": {"attempts": 1}}]);
    let id = execute(&server, &plan("private", via_name.clone())).await;
    let (_, state) = final_state(&server, &id).await;
    let error = state.results["a"].error.clone().expect("an error");
    assert_eq!(
        error.code,
        Some(ActionErrorCode::HostNotAllowed),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("private or reserved"),
        "{}",
        error.message
    );
    worker.shutdown().await.expect("shutdown");
    assert!(target.seen().is_empty(), "nothing reached the target");

    let allowed = named.allow_private_networks(true);
    let worker = plan_worker(&server, PlanOptions::new().hosts(allowed)).await;
    let id = execute(&server, &plan("allowed", via_name)).await;
    let (status, _) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Completed);
    assert_eq!(target.seen().len(), 1);
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_answer_times_out_with_its_code() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let worker = plan_worker(&server, PlanOptions::new().hosts(local_only())).await;
    let p = plan(
        "timeout",
        json!([{"id": "slow", "http": {"method": "POST", "url": format!("{}/ok/s?delay_ms=2000", target.url),
            "timeoutMs": 100, "body": {"n": 1}}, "retry": {"attempts": 2, "backoff": {"initialMs": 0}}}]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Failed);
    let slow = &state.results["slow"];
    assert_eq!(
        slow.error.as_ref().and_then(|e| e.code),
        Some(ActionErrorCode::Timeout)
    );
    assert_eq!(slow.attempts, 2);
    assert!(slow.duration_ms.expect("a duration") < 1500, "{slow:?}");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trigr_state_manager_keeps_state_in_the_run() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let p = plan(
        "managed",
        json!([
            get(&target, "a", "/ok/a", &[]),
            get(&target, "b", "/ok/b", &["a"])
        ]),
    );
    let (initialized, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (i, go) = (initialized.clone(), proceed.clone());
    let tracked = task("tracked").run(move |plan: ExecutionPlan, ctx| {
        let (i, go) = (i.clone(), go.clone());
        async move {
            let states = TrigrStateManager::for_run(&ctx);
            let state = states.initialize_state(&plan).await?;
            states
                .update_action_status(&state.execution_id, "a", ActionStatus::Running)
                .await?;
            i.notify_one();
            go.notified().await;
            Ok(())
        }
    });
    let worker = server
        .worker()
        .task(tracked.clone())
        .start()
        .await
        .expect("worker");
    let id = server
        .client()
        .trigger(&tracked, &p)
        .await
        .expect("trigger")
        .id;
    tokio::time::timeout(Duration::from_secs(20), initialized.notified())
        .await
        .expect("initialized");
    let outside = TrigrStateManager::new(server.client());
    let state = outside
        .get_execution_state(&id)
        .await
        .expect("read")
        .expect("state");
    assert_eq!(state.execution_id, id);
    assert_eq!(state.results["a"].status, ActionStatus::Running);
    assert_eq!(state.results["b"].status, ActionStatus::Pending);
    outside
        .update_action_status(&id, "b", ActionStatus::Skipped)
        .await
        .expect("update from outside");
    let err = outside
        .update_action_status(&id, "ghost", ActionStatus::Completed)
        .await
        .expect_err("unknown action");
    assert!(matches!(err, Error::UnknownAction { .. }), "{err}");
    let state = outside
        .get_execution_state(&id)
        .await
        .expect("read")
        .expect("state");
    assert_eq!(state.results["b"].status, ActionStatus::Skipped);
    proceed.notify_one();
    server.wait_for_run(&id).await;
    assert_eq!(
        outside
            .get_execution_state("run_nonexistent")
            .await
            .expect("read"),
        None
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_connections_rate_limits_and_large_bodies_have_their_codes() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let options = PlanOptions::new()
        .hosts(local_only())
        .max_response_bytes(64);
    let worker = plan_worker(&server, options).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("its address").port()
    };
    let mut refused = get(&target, "refused", "/x", &[]);
    refused["http"]["url"] = json!(format!("http://127.0.0.1:{closed}/x"));
    let p = plan(
        "codes",
        json!([
            refused,
            get(&target, "limited", "/ok/l?fail=5&fail_status=429", &[]),
            get(
                &target,
                "large",
                "/ok/a-name-long-enough-to-pass-the-sixty-four-byte-limit",
                &[]
            ),
        ]),
    );
    let id = execute(&server, &p).await;
    let (status, state) = final_state(&server, &id).await;
    assert_eq!(status, RunStatus::Failed);
    let code = |a: &str| state.results[a].error.as_ref().and_then(|e| e.code);
    assert_eq!(code("refused"), Some(ActionErrorCode::ConnectionFailed));
    assert_eq!(
        state.results["refused"].attempts, 3,
        "a refused connection is retried"
    );
    assert_eq!(code("limited"), Some(ActionErrorCode::RateLimited));
    assert_eq!(state.results["limited"].attempts, 3);
    assert_eq!(code("large"), Some(ActionErrorCode::ResponseTooLarge));
    assert_eq!(
        state.results["large"].attempts, 1,
        "a too large body is not retried"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}
