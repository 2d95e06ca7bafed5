//! Input streams over HTTP (`POST /realtime/v1/streams/{runId}/input/{streamId}`, worker
//! protocol §7.3 `input` waits and §7.6 consumer reads): messages kept in order until read,
//! guards checked against the run's version in the delivering transaction, a deploy of N+1
//! while runs of N wait, and the bad input the endpoints refuse.

mod common;

use common::*;
use serde_json::{json, Value};

fn send_path(run_id: &str, stream: &str) -> String {
    format!("/realtime/v1/streams/{run_id}/input/{}", enc(stream))
}

async fn send(server: &TestServer, run_id: &str, stream: &str, body: Value) -> Resp {
    server
        .send(Req::new("POST", &send_path(run_id, stream)).json(&body))
        .await
}

/// Dequeues exactly one run of `version`.
async fn one(server: &TestServer, version: &str) -> Value {
    let mut got = server.dequeue(version, 10, 0).await;
    assert_eq!(got.len(), 1, "expected one run of {version}: {got:?}");
    got.remove(0)
}

/// A wait on the input stream at `position`.
async fn input_wait(server: &TestServer, run: &Value, position: u32, wait: Value) -> Value {
    let id = run["runId"].as_str().unwrap();
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/waits"),
            json!({"lease": run["lease"], "position": position, "name": "input:approval",
                   "suspend": true, "wait": wait}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn assert_mismatch(r: &Resp, run_id: &str, expected: &str, actual: Option<&str>) {
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["runId"], json!(run_id), "{}", r.text);
    assert_eq!(r.json["expectedVersion"], json!(expected), "{}", r.text);
    assert_eq!(r.json["actualVersion"], json!(actual), "{}", r.text);
    assert_eq!(r.header("x-should-retry").as_deref(), Some("false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_of_n_plus_1_leaves_waiting_runs_on_n_and_guards_refuse_mismatched_sends() {
    let server = TestServer::start().await;
    let n = server.deploy(tasks(&["review"])).await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let id = server.trigger("review", json!({}), json!({})).await;
        let run = one(&server, &n).await;
        let w = input_wait(
            &server,
            &run,
            0,
            json!({"type": "input", "streamId": "approval"}),
        )
        .await;
        assert_eq!(
            (w["status"].clone(), w["suspended"].clone()),
            (json!("WAITING"), json!(true)),
            "{w}"
        );
        waiting.push(id);
    }
    let n1 = server.deploy(tasks(&["review"])).await;
    assert_ne!(n, n1);
    for id in &waiting {
        assert_eq!(
            server.run(id).await["version"],
            json!(n),
            "a waiting run moved"
        );
    }

    // Guarded for N+1, in the body and in the header: refused, nothing stored or woken.
    let r = send(
        &server,
        &waiting[0],
        "approval",
        json!({"data": {"v": 2}, "ifVersion": n1}),
    )
    .await;
    assert_mismatch(&r, &waiting[0], &n1, Some(&n));
    let r = server
        .send(
            Req::new("POST", &send_path(&waiting[0], "approval"))
                .header("X-Trigger-If-Version", &format!(">={n1}"))
                .json(&json!({"data": {"v": 2}})),
        )
        .await;
    assert_mismatch(&r, &waiting[0], &format!(">={n1}"), Some(&n));
    assert_eq!(server.status(&waiting[0]).await, "WAITING");
    let why = server.run(&waiting[0]).await["waitingFor"].clone();
    assert_eq!(why["reason"], json!("WAITING"), "{why}");
    assert!(
        why["message"]
            .as_str()
            .unwrap()
            .contains("input stream \"approval\""),
        "{why}"
    );
    assert!(server.dequeue(&n, 10, 0).await.is_empty());

    // Unguarded, and guarded for N: delivered as message 1, the runs resume on N only.
    let r = send(&server, &waiting[0], "approval", json!({"data": {"v": 1}})).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"ok": true, "seq": 1, "runVersion": n})),
        "{}",
        r.text
    );
    let r = send(
        &server,
        &waiting[1],
        "approval",
        json!({"data": {"v": 1, "i": 1}, "ifVersion": format!("{n},>=20000101.1")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        server.dequeue(&n1, 10, 0).await.is_empty(),
        "N+1 got a run of N"
    );
    let mut resumed = server.dequeue(&n, 10, 0).await;
    resumed.sort_by_key(|r| r["runId"].as_str().unwrap().to_string());
    let mut ids = waiting.clone();
    ids.sort();
    assert_eq!(
        resumed
            .iter()
            .map(|r| r["runId"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    for run in &resumed {
        let entry = &run["journal"][0];
        assert_eq!(entry["status"], json!("COMPLETED"), "{entry}");
        assert_eq!(entry["output"]["seq"], json!(1), "{entry}");
        assert_eq!(
            entry["output"]["data"]["v"],
            json!(1),
            "the refused message was delivered: {entry}"
        );
        assert_eq!(entry["output"]["runVersion"], json!(n));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_wait_for_their_reader_in_order_and_each_wait_takes_the_next() {
    let server = TestServer::start_with_clock().await;
    let v = server.deploy(tasks(&["chat"])).await;
    let id = server.trigger("chat", json!({}), json!({})).await;
    for i in 1..=3 {
        let r = send(&server, &id, "chat", json!({"data": format!("m{i}")})).await;
        assert_eq!(r.json["seq"], json!(i), "{}", r.text);
    }
    // Another stream of the same run is numbered on its own.
    let r = send(&server, &id, "other", json!({"data": null})).await;
    assert_eq!(r.json["seq"], json!(1), "{}", r.text);
    let run = one(&server, &v).await;
    let mut after = 0;
    for (pos, want) in ["m1", "m2", "m3"].iter().enumerate() {
        let w = input_wait(
            &server,
            &run,
            pos as u32,
            json!({"type": "input", "streamId": "chat", "after": after}),
        )
        .await;
        assert_eq!(w["status"], json!("COMPLETED"), "{w}");
        assert_eq!(w["output"]["data"], json!(want));
        after = w["output"]["seq"].as_i64().unwrap();
    }
    // Asking again at a journaled position answers the same message.
    let w = input_wait(
        &server,
        &run,
        1,
        json!({"type": "input", "streamId": "chat", "after": 1}),
    )
    .await;
    assert_eq!(w["output"]["data"], json!("m2"));

    // Nothing left: a wait with a timeout suspends, then times out with the clock.
    let w = input_wait(
        &server,
        &run,
        3,
        json!({"type": "input", "streamId": "chat", "after": 3, "timeoutMs": 60_000}),
    )
    .await;
    assert_eq!(w["suspended"], json!(true), "{w}");
    server.advance(60_001).await;
    assert_eq!(server.status(&id).await, "QUEUED");
    let run = one(&server, &v).await;
    let entry = &run["journal"][3];
    assert_eq!(entry["status"], json!("TIMED_OUT"), "{entry}");
    assert!(
        entry["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input stream \"chat\""),
        "{entry}"
    );
    // The next message is for the next wait; a timed-out wait consumed nothing.
    let w = input_wait(
        &server,
        &run,
        4,
        json!({"type": "input", "streamId": "chat", "after": 3}),
    )
    .await;
    assert_eq!(w["status"], json!("WAITING"));
    let r = send(&server, &id, "chat", json!({"data": "m4"})).await;
    assert_eq!(r.json["seq"], json!(4), "{}", r.text);
    let run = one(&server, &v).await;
    assert_eq!(run["journal"][4]["output"]["data"], json!("m4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_from_its_position_and_acks_move_it_forward() {
    let server = TestServer::start().await;
    let v = server.deploy(tasks(&["watch"])).await;
    let id = server.trigger("watch", json!({}), json!({})).await;
    let run = one(&server, &v).await;
    let lease = run["lease"].as_str().unwrap().to_string();
    for i in 1..=3 {
        send(&server, &id, "events", json!({"data": i})).await;
    }
    let read_path = |consumer: &str| {
        format!("/api/v1/worker/runs/{id}/input/events?lease={lease}&consumer={consumer}&waitMs=0")
    };
    let (s, r) = server.get(&read_path("on:0")).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["position"], json!(0));
    let data: Vec<Value> = r["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].clone())
        .collect();
    assert_eq!(data, vec![json!(1), json!(2), json!(3)]);
    let ack_path = format!("/api/v1/worker/runs/{id}/input/events/ack");
    let ack = |seq: i64| {
        server.post(
            &ack_path,
            json!({"lease": lease, "consumer": "on:0", "seq": seq}),
        )
    };
    assert_eq!(ack(1).await, (200, json!({"recorded": true})));
    assert_eq!(ack(2).await, (200, json!({"recorded": true})));
    assert_eq!(ack(2).await, (200, json!({"recorded": false})));
    let (s, v) = ack(9).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("1-3"), "{v}");
    let (_, r) = server.get(&read_path("on:0")).await;
    assert_eq!(r["position"], json!(2));
    assert_eq!(r["messages"].as_array().unwrap().len(), 1);
    // Another consumer starts from the beginning.
    let (_, r) = server.get(&read_path("on:1")).await;
    assert_eq!(r["messages"].as_array().unwrap().len(), 3);
    // A waiting read returns as soon as a message comes.
    assert_eq!(ack(3).await, (200, json!({"recorded": true})));
    let waiting_read = {
        let url = server.url(&format!(
            "/api/v1/worker/runs/{id}/input/events?lease={lease}&consumer=on:0&waitMs=20000"
        ));
        let key = DEV_KEY.to_string();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let started = std::time::Instant::now();
    send(&server, &id, "events", json!({"data": 4})).await;
    let r = waiting_read.await.unwrap();
    assert!(
        started.elapsed().as_secs() < 10,
        "the read waited for its timeout"
    );
    let last = r["messages"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["data"], json!(4), "{r}");

    // A stale lease reads nothing.
    let (s, v) = server
        .get(&format!(
            "/api/v1/worker/runs/{id}/input/events?lease=nope&consumer=on:0"
        ))
        .await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_refuse_bad_input_and_leave_nothing_behind() {
    let server = TestServer::start().await;
    // A run with no version yet (nothing is deployed): any guard is a mismatch, and an
    // unguarded message is kept for it.
    let pending = server.trigger("t", json!({}), json!({})).await;
    let guard = ">=20000101.1";
    let r = send(
        &server,
        &pending,
        "s",
        json!({"data": 1, "ifVersion": guard}),
    )
    .await;
    assert_mismatch(&r, &pending, guard, None);
    let r = send(&server, &pending, "s", json!({"data": 1})).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"ok": true, "seq": 1, "runVersion": null})),
        "{}",
        r.text
    );
    let v = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;

    // Unknown run.
    let r = send(&server, "run_nope", "s", json!({"data": 1})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // A malformed guard names its bad part; body and header must agree.
    let r = send(
        &server,
        &id,
        "s",
        json!({"data": 1, "ifVersion": ">=2024x"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("2024x"), "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &send_path(&id, "s"))
                .header("X-Trigger-If-Version", "1.*")
                .json(&json!({"data": 1, "ifVersion": "2.*"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Not JSON, the wrong shape, an oversized message.
    let r = server
        .send(Req::new("POST", &send_path(&id, "s")).raw_body("application/json", "{nope"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = send(&server, &id, "s", json!({"data": 1, "ifVersion": 5})).await;
    assert!(matches!(r.status, 400 | 422), "{}", r.text);
    let big = "x".repeat(4 * 1024 * 1024);
    let r = send(&server, &id, "s", json!({"data": big})).await;
    assert_eq!(r.status, 413, "{}", r.text);
    // A stream id too long.
    let r = send(&server, &id, &"s".repeat(200), json!({"data": 1})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("1-128"), "{}", r.text);
    // Nothing was stored by any refusal: the first accepted message is number 1.
    let r = send(&server, &id, "s", json!({"data": "first"})).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"ok": true, "seq": 1, "runVersion": v})),
        "{}",
        r.text
    );

    // A public token from the trigger answer may send to its run only.
    let t = server
        .trigger_raw(
            "t",
            json!({"payload": "{}", "options": {"payloadType": "application/json"}}),
        )
        .await;
    let jwt = t.header("x-trigger-jwt").expect("x-trigger-jwt");
    let own = t.json["id"].as_str().unwrap().to_string();
    let r = server
        .send(
            Req::new("POST", &send_path(&own, "s"))
                .key(&jwt)
                .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &send_path(&id, "s"))
                .key(&jwt)
                .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &send_path(&id, "s"))
                .no_key()
                .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // A finished run takes no more messages.
    let run = server.dequeue(&v, 1, 0).await.remove(0);
    assert_eq!(server.complete_ok(&run, json!(1)).await.0, 200);
    let done = run["runId"].as_str().unwrap();
    let r = send(&server, done, "s", json!({"data": 1})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("completed run"), "{}", r.text);
}
