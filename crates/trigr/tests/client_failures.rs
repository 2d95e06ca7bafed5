//! The Rust client under failure, against a real server (`--test-clock`, so its fault switch
//! `POST /api/v1/test/faults` is served): typed errors with request ids, retries that honour
//! `Retry-After` and only repeat what is safe, a retried trigger that makes one run,
//! timeouts, cancellation, polling, request metrics and hooks, several environments and a
//! graceful close.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use trigr_sdk::client::{
    Backoff, Cancellation, PollOptions, RequestOptions, RetryConfig, MIN_INTERVAL,
};
use trigr_sdk::schedules::ScheduleOptions;
use trigr_sdk::{ApiErrorKind, Client, Error, ListRuns, TriggerOptions};

/// The waits a client asked its sleeper for; each is slept for 1 ms only.
#[derive(Clone, Default)]
struct Waits(Arc<Mutex<Vec<Duration>>>);

impl Waits {
    fn taken(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Now, in Unix milliseconds, as the client reads `x-ratelimit-reset`.
fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(now.as_millis()).unwrap()
}

/// A client of the dev environment whose retries wait through `waits`, with tiny delays.
fn client(server: &TestServer, waits: &Waits) -> Client {
    let waits = waits.clone();
    Client::builder(&server.base_url, DEV_KEY)
        .retry(
            RetryConfig::default()
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(4))
                .jitter(false),
        )
        .sleeper(move |d| {
            waits.0.lock().unwrap().push(d);
            tokio::time::sleep(Duration::from_millis(1))
        })
        .build()
        .expect("client")
}

/// Adds a fault rule; the server's answer.
async fn fault(server: &TestServer, rule: Value) -> (u16, Value) {
    server.post("/api/v1/test/faults", rule).await
}

async fn must_fault(server: &TestServer, rule: Value) {
    let (s, v) = fault(server, rule).await;
    assert_eq!(s, 200, "{v}");
}

fn manifest() -> Value {
    json!([{"id": "hello"}])
}

fn api_parts(e: &Error) -> (&str, u16, &str, Option<&str>, &ApiErrorKind) {
    match e {
        Error::Api {
            request,
            status,
            message,
            request_id,
            kind,
            ..
        } => (request, *status, message, request_id.as_deref(), kind),
        other => panic!("not an answer of the server: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_error_status_has_its_kind_and_request_id() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        logs: true,
        ..Default::default()
    })
    .await;
    let waits = Waits::default();
    let client = client(&server, &waits);
    server.deploy(manifest()).await;

    // 404, with the method, the path and the server's sentence.
    let e = client.retrieve_run("run_nosuchrun0001").await.unwrap_err();
    let (request, status, message, id, kind) = api_parts(&e);
    assert_eq!(request, "GET /api/v3/runs/run_nosuchrun0001");
    assert_eq!((status, kind), (404, &ApiErrorKind::NotFound));
    assert!(!message.is_empty());
    let id = id.expect("a request id").to_string();
    assert!(id.starts_with("req_"), "{id}");
    // The access log line of the request names the same id.
    let line = server
        .logs
        .as_ref()
        .unwrap()
        .wait_for(|l| l.contains(&id))
        .await
        .expect("an access log line with the request id");
    assert!(line.contains("404"), "{line}");

    // A sane id the client sends is echoed.
    let traced = client.with_options(
        RequestOptions::new()
            .header("x-request-id", "trace-abc-1")
            .unwrap(),
    );
    let e = traced.retrieve_run("run_nosuchrun0002").await.unwrap_err();
    assert_eq!(e.request_id(), Some("trace-abc-1"));
    assert!(e.to_string().ends_with(" (request trace-abc-1)"), "{e}");

    // 401.
    let stranger = Client::new(&server.base_url, "tr_dev_nosuchkey000000000000").unwrap();
    let e = stranger.retrieve_run("run_x").await.unwrap_err();
    assert_eq!(e.kind(), Some(ApiErrorKind::Authentication), "{e}");
    assert!(e.request_id().is_some());

    // 403: a public token of one run reading another.
    let trigger = |payload: i64| {
        server.trigger_raw(
            "hello",
            json!({"payload": payload.to_string(), "options": {"payloadType": "application/json"}}),
        )
    };
    let first = trigger(1).await;
    let token = first.header("x-trigger-jwt").expect("a public token");
    let other = trigger(2).await.pair().1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let public = Client::new(&server.base_url, &token).unwrap();
    let e = public.retrieve_run(&other).await.unwrap_err();
    assert_eq!(e.kind(), Some(ApiErrorKind::Permission), "{e}");

    // 409: completing with a lease the run does not have.
    let body = json!({"lease": "lease_wrong", "ok": true, "output": "1"});
    let e = client
        .post_json(
            &format!("/api/v1/worker/runs/{other}/complete"),
            Some(&body),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Some(ApiErrorKind::Conflict), "{e}");
    assert!(e.request_id().is_some());

    // 400 naming the field, and 422.
    let e = client
        .post_json(
            "/api/v1/test/faults",
            Some(&json!({"path": "/x", "status": 200})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        Some(ApiErrorKind::Validation {
            field: Some("status".into())
        }),
        "{e}"
    );
    assert_eq!(e.field(), Some("status"));
    let e = client
        .schedules()
        .create(
            "window",
            ScheduleOptions::new("hello", "0 * * * *").window("25h"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422), "{e}");
    assert_eq!(e.kind(), Some(ApiErrorKind::Validation { field: None }));

    // 429 with Retry-After, 429 with x-ratelimit-reset, and 5xx: retries off here.
    let once = client.with_options(RequestOptions::new().retry(RetryConfig::disabled()));
    must_fault(
        &server,
        json!({"path": "/api/v1/runs", "status": 429, "retryAfter": "12"}),
    )
    .await;
    let e = once.list_runs(ListRuns::new()).await.unwrap_err();
    assert_eq!(
        e.kind(),
        Some(ApiErrorKind::RateLimit {
            retry_after: Some(Duration::from_secs(12))
        })
    );
    assert!(e.request_id().is_some());
    let reset = unix_ms() + 30_000;
    must_fault(
        &server,
        json!({"path": "/api/v1/runs", "status": 429, "ratelimitReset": reset.to_string()}),
    )
    .await;
    let e = once.list_runs(ListRuns::new()).await.unwrap_err();
    let wait = e.retry_after().expect("a wait from x-ratelimit-reset");
    assert!(
        wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    must_fault(&server, json!({"path": "/api/v1/runs", "status": 500})).await;
    let e = once.list_runs(ListRuns::new()).await.unwrap_err();
    let (request, status, message, id, kind) = api_parts(&e);
    assert_eq!((request, status), ("GET /api/v1/runs", 500));
    assert!(message.contains("Injected"), "{message}");
    assert!(id.is_some());
    assert_eq!(kind, &ApiErrorKind::Server { retry_after: None });
    assert!(waits.taken().is_empty(), "nothing was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_honour_retry_after_and_the_policy() {
    let server = TestServer::start_with_clock().await;
    let waits = Waits::default();
    let client = client(&server, &waits);
    server.deploy(manifest()).await;
    let run = client
        .trigger_id("hello", &1, TriggerOptions::new())
        .await
        .unwrap();
    let path = format!("/api/v3/runs/{}", run.id);
    waits.taken();
    client.clear_request_history();

    // Two 429s asking for 7 s: the client waits exactly that, then gets the run.
    must_fault(
        &server,
        json!({"path": path, "method": "GET", "status": 429, "count": 2, "retryAfter": "7"}),
    )
    .await;
    let read = client
        .retrieve_run(&run.id)
        .await
        .expect("read after two 429s");
    assert_eq!(read.id, run.id);
    assert_eq!(waits.taken(), vec![Duration::from_secs(7); 2]);
    let record = client.request_history().pop().unwrap();
    assert_eq!((record.attempts, record.status), (3, Some(200)));

    // x-ratelimit-reset when there is no Retry-After.
    let reset = unix_ms() + 20_000;
    must_fault(
        &server,
        json!({"path": path, "status": 429, "ratelimitReset": reset.to_string()}),
    )
    .await;
    client.retrieve_run(&run.id).await.unwrap();
    let taken = waits.taken();
    assert_eq!(taken.len(), 1);
    assert!(
        taken[0] > Duration::from_secs(10) && taken[0] <= Duration::from_secs(20),
        "{taken:?}"
    );

    // 503 without a wait: the policy's own waits, growing and capped.
    must_fault(&server, json!({"path": path, "status": 503, "count": 4})).await;
    client.retrieve_run(&run.id).await.unwrap();
    let ms = Duration::from_millis;
    assert_eq!(waits.taken(), vec![ms(1), ms(2), ms(4), ms(4)]);

    // More failures than retries: the last answer is the error.
    must_fault(&server, json!({"path": path, "status": 503, "count": 10})).await;
    let e = client.retrieve_run(&run.id).await.unwrap_err();
    assert_eq!(e.kind(), Some(ApiErrorKind::Server { retry_after: None }));
    assert_eq!(client.request_history().pop().unwrap().attempts, 5);
    server.call("DELETE", "/api/v1/test/faults", None).await;
    waits.taken();

    // A wait longer than the policy accepts is not waited.
    must_fault(
        &server,
        json!({"path": path, "status": 429, "retryAfter": "3600"}),
    )
    .await;
    let e = client.retrieve_run(&run.id).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert!(waits.taken().is_empty());

    // A status the policy does not name is not retried; per-call policies override.
    must_fault(&server, json!({"path": path, "status": 502})).await;
    let only_429 =
        client.with_options(RequestOptions::new().retry(RetryConfig::default().statuses([429])));
    assert_eq!(
        only_429.retrieve_run(&run.id).await.unwrap_err().status(),
        Some(502)
    );
    must_fault(&server, json!({"path": path, "status": 503})).await;
    let off = client.with_options(RequestOptions::new().retry(RetryConfig::disabled()));
    assert_eq!(
        off.retrieve_run(&run.id).await.unwrap_err().status(),
        Some(503)
    );
    assert!(waits.taken().is_empty());

    // A client built with retries off sends once; turned on again it retries.
    let no_retries = Client::builder(&server.base_url, DEV_KEY)
        .enable_retries(false)
        .build()
        .unwrap();
    must_fault(
        &server,
        json!({"path": path, "status": 503, "retryAfter": "0"}),
    )
    .await;
    assert_eq!(
        no_retries.retrieve_run(&run.id).await.unwrap_err().status(),
        Some(503)
    );
    let again = Client::builder(&server.base_url, DEV_KEY)
        .enable_retries(false)
        .enable_retries(true)
        .build()
        .unwrap();
    must_fault(
        &server,
        json!({"path": path, "status": 503, "retryAfter": "0"}),
    )
    .await;
    again.retrieve_run(&run.id).await.expect("retried once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_not_safe_to_repeat_are_sent_once() {
    let server = TestServer::start_with_clock().await;
    let waits = Waits::default();
    let client = client(&server, &waits);
    server.deploy(manifest()).await;
    let run = client
        .trigger_id("hello", &1, TriggerOptions::new())
        .await
        .unwrap();

    // Replaying a run makes a new one each time: not retried.
    let replay = format!("/api/v1/runs/{}/replay", run.id);
    must_fault(
        &server,
        json!({"path": replay, "status": 503, "retryAfter": "0"}),
    )
    .await;
    let e = client.replay_run(&run.id).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(client.request_history().pop().unwrap().attempts, 1);
    // The rule was used up by that one send: the next replay goes through.
    client.replay_run(&run.id).await.expect("replay");

    // A raw POST is sent once too.
    must_fault(
        &server,
        json!({"path": replay, "status": 503, "retryAfter": "0"}),
    )
    .await;
    assert!(client.post_json(&replay, None).await.is_err());
    assert!(waits.taken().is_empty());
    let runs = client
        .list_runs(ListRuns::new().task("hello"))
        .await
        .unwrap();
    assert_eq!(runs.data.len(), 2, "the first run and one replay");

    // A raw PUT or DELETE is sent once, unless the caller says it is idempotent.
    let days = json!({"days": 7});
    let retention = "/api/v1/retention";
    for method in ["PUT", "DELETE"] {
        let rule = json!({"path": retention, "method": method, "status": 503, "retryAfter": "0"});
        must_fault(&server, rule.clone()).await;
        let once = match method {
            "PUT" => client.put_json(retention, &days).await,
            _ => client.delete_json(retention).await,
        };
        assert_eq!(once.unwrap_err().status(), Some(503), "{method}");
        assert_eq!(client.request_history().pop().unwrap().attempts, 1);
        must_fault(&server, rule).await;
        let repeated = match method {
            "PUT" => client.put_json_repeatable(retention, &days).await,
            _ => client.delete_json_repeatable(retention).await,
        };
        repeated.expect("retried past the fault");
        assert_eq!(client.request_history().pop().unwrap().attempts, 2);
    }

    // An answer saying `x-should-retry: false` (a trigr server's 4xx) is not retried, even
    // with its status in the policy's list.
    let eager = client.with_options(
        RequestOptions::new().retry(
            RetryConfig::default()
                .statuses([404])
                .base_delay(Duration::from_millis(1))
                .jitter(false),
        ),
    );
    let e = eager.retrieve_run("run_nosuchrun0003").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(!e.is_transient());
    assert_eq!(client.request_history().pop().unwrap().attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_trigger_makes_exactly_one_run() {
    let server = TestServer::start_with_clock().await;
    let waits = Waits::default();
    let client = client(&server, &waits);
    server.deploy(manifest()).await;
    // The server makes the run, then its answer is lost to a 503 (twice).
    must_fault(
        &server,
        json!({"path": "/api/v1/tasks/hello/trigger", "status": 503, "count": 2, "afterRoute": true}),
    )
    .await;
    let run = client
        .trigger_id("hello", &json!({"n": 1}), TriggerOptions::new())
        .await
        .expect("trigger after two lost answers");
    assert_eq!(waits.taken().len(), 2);
    let runs = client
        .list_runs(ListRuns::new().task("hello"))
        .await
        .unwrap();
    let ids: Vec<&str> = runs.data.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec![run.id.as_str()], "one run, the one answered");

    // Each trigger call has its own key: a second call is a second run.
    let second = client
        .trigger_id("hello", &json!({"n": 2}), TriggerOptions::new())
        .await
        .unwrap();
    assert_ne!(second.id, run.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_and_cancellation_end_requests() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(manifest()).await;
    let long_poll = json!({"version": version, "maxRuns": 1, "waitMs": 10_000});
    let dequeue = "/api/v1/worker/dequeue";

    // Per call.
    let client = Client::builder(&server.base_url, DEV_KEY)
        .enable_retries(false)
        .build()
        .unwrap();
    let quick = client.with_options(RequestOptions::new().timeout(Duration::from_millis(200)));
    let e = quick
        .post_json(dequeue, Some(&long_poll))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoAnswer { .. }), "{e}");

    // Per client.
    let impatient = Client::builder(&server.base_url, DEV_KEY)
        .request_timeout(Duration::from_millis(200))
        .enable_retries(false)
        .build()
        .unwrap();
    let e = impatient
        .post_json(dequeue, Some(&long_poll))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoAnswer { .. }), "{e}");

    // A per-call timeout bounds the whole call, retries included; the client's request
    // timeout bounds each send alone.
    must_fault(
        &server,
        json!({"path": "/api/v1/retention", "status": 503, "count": 1000}),
    )
    .await;
    let patient = Client::builder(&server.base_url, DEV_KEY)
        .retry(
            RetryConfig::default()
                .max_retries(100)
                .base_delay(Duration::from_millis(100))
                .multiplier(1.0)
                .max_delay(Duration::from_millis(100))
                .jitter(false),
        )
        .build()
        .unwrap();
    let bounded = patient.with_options(RequestOptions::new().timeout(Duration::from_millis(350)));
    let started = std::time::Instant::now();
    let e = bounded.retention().await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let attempts = patient.request_history().pop().unwrap().attempts;
    assert!((2..=4).contains(&attempts), "{attempts} sends");
    let (s, _) = server.call("DELETE", "/api/v1/test/faults", None).await;
    assert_eq!(s, 200);

    // Cancelled once the request is on its way (the interceptor says when).
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let sent_tx = Mutex::new(Some(sent_tx));
    let watched = Client::builder(&server.base_url, DEV_KEY)
        .interceptor(move |_| {
            if let Some(tx) = sent_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        })
        .build()
        .unwrap();
    let stop = Cancellation::new();
    let cancellable = watched.with_options(RequestOptions::new().cancellation(stop.clone()));
    let call = tokio::spawn(async move { cancellable.post_json(dequeue, Some(&long_poll)).await });
    sent_rx.await.unwrap();
    stop.cancel();
    let e = call.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e}");
    // A cancelled signal ends later calls at once.
    let cancelled = watched.with_options(RequestOptions::new().cancellation(stop));
    assert!(matches!(
        cancelled.retention().await.unwrap_err(),
        Error::Cancelled(_)
    ));
    watched.retention().await.expect("other calls go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poll_reads_until_final_as_the_options_say() {
    let server = TestServer::start_with_clock().await;
    let waits = Waits::default();
    let client = client(&server, &waits);
    let version = server.deploy(manifest()).await;
    let run = client
        .trigger_id("hello", &1, TriggerOptions::new())
        .await
        .unwrap();

    // Not final within the time limit: a timeout, every read given to the hook. This client
    // sleeps each wait for real, so the time limit is reached by waiting.
    let slept = Waits::default();
    let recorded = slept.clone();
    let real = Client::builder(&server.base_url, DEV_KEY)
        .sleeper(move |d| {
            recorded.0.lock().unwrap().push(d);
            tokio::time::sleep(d)
        })
        .build()
        .expect("client");
    let reads = Arc::new(AtomicUsize::new(0));
    let seen = reads.clone();
    let options = PollOptions::new()
        .interval(Duration::from_millis(10))
        .timeout(Duration::from_millis(300))
        .backoff(Backoff::Exponential {
            factor: 2.0,
            max: Duration::from_millis(40),
        })
        .on_poll(move |run, n| {
            assert_eq!(n as usize, seen.fetch_add(1, Ordering::SeqCst) + 1);
            assert!(!run.status.is_final());
        });
    let started = std::time::Instant::now();
    let e = real.poll_run_with(&run.id, options).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    // It does not give up before the limit: the last read is at (or after) the deadline.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // Each read but the last is followed by a wait: 10, 20, then 40 ms, the last one cut to
    // what was left of the limit; never more than the limit in all.
    let n = reads.load(Ordering::SeqCst);
    let taken = slept.taken();
    assert_eq!(taken.len(), n - 1, "{taken:?}");
    assert!(n >= 2, "{n} reads: {taken:?}");
    let expected = [10, 20, 40].into_iter().chain(std::iter::repeat(40));
    let (last, before) = taken.split_last().expect("waits");
    for (wait, ms) in before.iter().zip(expected.clone()) {
        assert_eq!(*wait, Duration::from_millis(ms), "{taken:?}");
    }
    let last_full = expected.clone().nth(before.len()).unwrap();
    assert!(*last <= Duration::from_millis(last_full), "{taken:?}");
    assert!(
        taken.iter().sum::<Duration>() <= Duration::from_millis(300),
        "{taken:?}"
    );

    // A zero interval is read as the 10 ms floor (every wait but the last, which is cut to
    // what is left of the limit); an endless limit is no limit.
    let floor = PollOptions::new()
        .interval(Duration::ZERO)
        .timeout(Duration::from_millis(200));
    let e = real.poll_run_with(&run.id, floor).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    let taken = slept.taken();
    let (_, floored) = taken.split_last().expect("a wait within 200 ms");
    assert!(floored.iter().all(|w| *w >= MIN_INTERVAL), "{taken:?}");
    let endless = PollOptions::new()
        .interval(Duration::from_millis(10))
        .timeout(Duration::MAX);
    let poller = real.clone();
    let run_id = run.id.clone();
    let endless_poll = tokio::spawn(async move { poller.poll_run_with(&run_id, endless).await });
    tokio::time::sleep(Duration::from_millis(15)).await;
    assert!(!endless_poll.is_finished(), "no limit: still reading");
    endless_poll.abort();

    // Finished: the poll ends with the final run.
    let leased = server.dequeue(&version, 1, 1000).await;
    let (s, v) = server.complete_ok(&leased[0], json!("\"done\"")).await;
    assert_eq!(s, 200, "{v}");
    let fixed = PollOptions::new()
        .interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(30));
    let done = client.poll_run_with(&run.id, fixed).await.unwrap();
    assert!(done.status.is_final(), "{}", done.status);
    // The old form still works.
    let again = client
        .poll_run(&run.id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again.status, done.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stats_hooks_and_interceptors() {
    let server = TestServer::start_with_clock().await;
    let records = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let (r, e, a) = (records.clone(), errors.clone(), answers.clone());
    let client = Client::builder(&server.base_url, DEV_KEY)
        .metrics_history(6)
        .enable_retries(false)
        .tracing_spans(true)
        .on_request(move |record| r.lock().unwrap().push(record.clone()))
        .on_error(move |error, record| {
            e.lock()
                .unwrap()
                .push((error.status(), record.endpoint.clone()))
        })
        .interceptor(|req| {
            if req.path.starts_with("/api/v3/runs/") {
                req.headers
                    .insert("x-request-id", "from-interceptor".parse().unwrap());
            }
        })
        .response_interceptor(move |answer| {
            let id = answer.headers.get("x-request-id");
            a.lock().unwrap().push((
                answer.method.to_string(),
                answer.path.to_string(),
                answer.status,
                id.and_then(|v| v.to_str().ok()).map(str::to_string),
            ))
        })
        .build()
        .unwrap();
    server.deploy(manifest()).await;
    let a = client
        .trigger_id("hello", &1, TriggerOptions::new())
        .await
        .unwrap();
    let b = client
        .trigger_id("hello", &2, TriggerOptions::new())
        .await
        .unwrap();
    client.retrieve_run(&a.id).await.unwrap();
    client.retrieve_run(&b.id).await.unwrap();
    for _ in 0..3 {
        client.retrieve_run("run_nosuchrun0003").await.unwrap_err();
    }
    client.retention().await.unwrap();

    let history = client.request_history();
    assert_eq!(history.len(), 6, "bounded to 6 of 8 calls");
    assert_eq!(records.lock().unwrap().len(), 8, "the hook saw every call");
    let answers = answers.lock().unwrap().clone();
    assert_eq!(
        answers.len(),
        8,
        "the response interceptor saw every answer"
    );
    assert_eq!(answers[0].0, "POST");
    assert_eq!(answers[0].1, "/api/v1/tasks/hello/trigger");
    assert_eq!(answers[0].2, 200);
    assert!(answers[0].3.is_some(), "each answer carries a request id");
    assert_eq!(
        (answers[2].2, answers[2].3.as_deref()),
        (200, Some("from-interceptor")),
        "the answer echoes the id the request interceptor set"
    );
    assert_eq!(answers[4].2, 404);
    let runs = &history[1];
    assert_eq!(runs.endpoint, "GET /api/v3/runs/{id}");
    assert_eq!(runs.request_id.as_deref(), Some("from-interceptor"));
    assert_eq!(
        *errors.lock().unwrap(),
        vec![(Some(404), "GET /api/v3/runs/{id}".to_string()); 3]
    );

    let stats = client.performance_stats();
    assert_eq!((stats.count, stats.successes, stats.failures), (6, 3, 3));
    assert!((stats.success_rate - 0.5).abs() < 1e-9);
    assert!((stats.failure_rate - 0.5).abs() < 1e-9);
    assert!(stats.p50 <= stats.p90 && stats.p90 <= stats.p95 && stats.p95 <= stats.p99);
    assert!(stats.mean > Duration::ZERO);
    let worst = stats.most_error_prone_endpoint.unwrap();
    assert_eq!(
        (worst.endpoint.as_str(), worst.failures, worst.count),
        ("GET /api/v3/runs/{id}", 3, 5)
    );
    let slowest = stats.slowest_endpoint.unwrap();
    assert!(
        [
            "GET /api/v3/runs/{id}",
            "POST /api/v1/tasks/hello/trigger",
            "GET /api/v1/retention"
        ]
        .contains(&slowest.endpoint.as_str()),
        "{slowest:?}"
    );
    client.clear_request_history();
    assert_eq!(client.performance_stats().count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn environments_custom_clients_and_close() {
    let server = TestServer::start_with_clock().await;
    server.deploy(manifest()).await;
    server.deploy_as(STAGING_KEY, manifest(), true).await;
    let dev = Client::builder(&server.base_url, DEV_KEY)
        .http_client(reqwest::Client::builder().build().unwrap())
        .build()
        .unwrap();
    let staging = dev.for_environment(STAGING_KEY).unwrap();
    let run = staging
        .trigger_id("hello", &1, TriggerOptions::new())
        .await
        .unwrap();
    assert_eq!(staging.retrieve_run(&run.id).await.unwrap().id, run.id);
    assert!(dev.retrieve_run(&run.id).await.unwrap_err().is_not_found());
    assert!(matches!(dev.for_environment(" "), Err(Error::Config(_))));
    // One history for both.
    assert_eq!(dev.request_history().len(), 3);

    // Close: a subscription ends, a call in flight is ended after the grace period, new
    // calls are refused.
    let mut events = staging.subscribe_to_run(&run.id);
    let first = events.next().await.expect("a snapshot").unwrap();
    assert_eq!(first.run.unwrap().id, run.id);
    let version = server.deploy(manifest()).await;
    let long_poll = json!({"version": version, "maxRuns": 1, "waitMs": 10_000});
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let sent_tx = Mutex::new(Some(sent_tx));
    let closing = Client::builder(&server.base_url, DEV_KEY)
        .interceptor(move |req| {
            if req.path == "/api/v1/worker/dequeue" {
                if let Some(tx) = sent_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
        })
        .build()
        .unwrap();
    let in_flight = closing.clone();
    let call = tokio::spawn(async move {
        in_flight
            .post_json("/api/v1/worker/dequeue", Some(&long_poll))
            .await
    });
    sent_rx.await.unwrap();
    assert_eq!(closing.close_within(Duration::from_millis(50)).await, 1);
    let ended = call.await.unwrap().unwrap_err();
    assert_eq!(
        ended.to_string(),
        "POST /api/v1/worker/dequeue was ended: the client was closed"
    );
    assert!(closing.is_closed());
    assert!(matches!(
        closing.retention().await,
        Err(Error::Cancelled(_))
    ));
    // Closing the dev client leaves the staging one open (they share the connection pool,
    // not the close signal); closing staging ends its subscription.
    assert_eq!(dev.close().await, 0, "nothing in flight");
    assert!(dev.is_closed() && !staging.is_closed());
    assert_eq!(staging.retrieve_run(&run.id).await.unwrap().id, run.id);
    assert!(matches!(dev.retention().await, Err(Error::Cancelled(_))));
    let staging_clone = staging.clone();
    staging.close().await;
    assert!(staging_clone.is_closed(), "clones share the signal");
    assert!(events.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_ids_and_the_fault_switch_refuse_bad_input() {
    let server = TestServer::start_with_clock().await;
    // A sane id is echoed; anything else is replaced.
    for (sent, echoed) in [("abc.DEF:1-2_3", true), ("has space", false)] {
        let r = server
            .send(Req::new("GET", "/api/v1/retention").header("x-request-id", sent))
            .await;
        let id = r.header("x-request-id").unwrap();
        assert_eq!(id == sent, echoed, "{id}");
        assert!(echoed || id.starts_with("req_"), "{id}");
    }
    let long = "a".repeat(129);
    let r = server
        .send(Req::new("GET", "/api/v1/retention").header("x-request-id", &long))
        .await;
    assert_ne!(r.header("x-request-id").unwrap(), long);
    // Unauthenticated and unknown paths get one too.
    let r = server
        .send(Req::new("GET", "/api/v1/retention").no_key())
        .await;
    assert!(r.header("x-request-id").is_some());

    let bad = [
        (json!({"path": "x", "status": 503}), "path"),
        (
            json!({"path": format!("/{}", "a".repeat(1000)), "status": 503}),
            "path",
        ),
        (json!({"path": "/x", "status": 200}), "status"),
        (json!({"path": "/x", "status": 600}), "status"),
        (json!({"path": "/x", "status": 503, "count": 0}), "count"),
        (json!({"path": "/x", "status": 503, "count": 1001}), "count"),
        (
            json!({"path": "/x", "status": 503, "method": "BREW"}),
            "method",
        ),
        (
            json!({"path": "/x", "status": 503, "retryAfter": "1\n2"}),
            "retryAfter",
        ),
        (
            json!({"path": "/x", "status": 503, "retryAfter": ""}),
            "retryAfter",
        ),
        (
            json!({"path": "/x", "status": 503, "ratelimitReset": "9".repeat(65)}),
            "ratelimitReset",
        ),
    ];
    for (body, field) in bad {
        let (s, v) = fault(&server, body.clone()).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    for body in [
        json!({"path": "/x", "status": 99999}),
        json!({"path": "/x", "status": 503, "count": -1}),
        json!({"path": "/x", "status": 503, "count": 5_000_000_000u64}),
        json!({"status": 503}),
        json!({"path": "/x\u{0}", "status": 503}),
        json!({"path": "/x", "status": 503, "retry_after": "1"}),
    ] {
        let (s, v) = fault(&server, body.clone()).await;
        assert!(s == 400 || s == 422, "{body}: {s} {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    // At most 100 rules; deleting them all makes room.
    for _ in 0..100 {
        must_fault(&server, json!({"path": "/nowhere", "status": 503})).await;
    }
    let (s, v) = fault(&server, json!({"path": "/nowhere", "status": 503})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = server.call("DELETE", "/api/v1/test/faults", None).await;
    assert_eq!((s, v["deleted"].clone()), (200, json!(100)));
    // No rule answers the test routes: a rule for everything can still be dropped.
    must_fault(&server, json!({"path": "/*", "status": 503, "count": 1000})).await;
    let (s, v) = server.call("DELETE", "/api/v1/test/faults", None).await;
    assert_eq!((s, v["deleted"].clone()), (200, json!(1)), "{v}");
    // A key is needed.
    let r = server
        .send(
            Req::new("POST", "/api/v1/test/faults")
                .no_key()
                .json(&json!({"path": "/x", "status": 503})),
        )
        .await;
    assert_eq!(r.status, 401);

    // A server without --test-clock has no fault switch.
    let plain = TestServer::start().await;
    let (s, _) = fault(&plain, json!({"path": "/x", "status": 503})).await;
    assert_eq!(s, 404);
    let (s, _) = plain.call("DELETE", "/api/v1/test/faults", None).await;
    assert_eq!(s, 404);
}

/// The fields of the `trigr.request` spans opened while it is the default subscriber.
#[derive(Clone, Default)]
struct SpanFields(Arc<Mutex<Vec<(String, String)>>>);

impl tracing::field::Visit for SpanFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}").trim_matches('"').to_string();
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_string(), value));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanFields {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "trigr.request" {
            attrs.record(&mut self.clone());
        }
    }

    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        values.record(&mut self.clone());
    }
}

// One thread, so the subscriber set for this test sees every span of its calls.
#[tokio::test(flavor = "current_thread")]
async fn calls_run_in_tracing_spans_when_asked() {
    use tracing_subscriber::layer::SubscriberExt;
    let server = TestServer::start_with_clock().await;
    let fields = SpanFields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let quiet = Client::new(&server.base_url, DEV_KEY).unwrap();
    quiet.retrieve_run("run_nosuchrun0004").await.unwrap_err();
    assert!(fields.0.lock().unwrap().is_empty(), "no spans unless asked");

    let traced = Client::builder(&server.base_url, DEV_KEY)
        .tracing_spans(true)
        .build()
        .unwrap();
    let e = traced.retrieve_run("run_nosuchrun0005").await.unwrap_err();
    let seen = fields.0.lock().unwrap().clone();
    let get = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {seen:?}"))
    };
    assert_eq!(get("method"), "GET");
    assert_eq!(get("endpoint"), "GET /api/v3/runs/{id}");
    assert_eq!(get("status"), "404");
    assert_eq!(get("attempts"), "1");
    assert_eq!(Some(get("request_id").as_str()), e.request_id());
}
