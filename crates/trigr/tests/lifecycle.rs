//! Process lifecycle: health, first-start keys, clean shutdown, durability across SIGTERM and
//! SIGKILL.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

/// A server started without seeded keys, with its stdout lines.
struct Bare {
    child: Child,
    base_url: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Bare {
    fn start(data_dir: &std::path::Path) -> Bare {
        let mut child = Command::new(binary())
            .arg("server")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("TRIGR_DEV_SECRET_KEY")
            .env_remove("TRIGR_STAGING_SECRET_KEY")
            .env_remove("TRIGR_PROD_SECRET_KEY")
            .env_remove("TRIGR_DATABASE_URL")
            .env_remove("TRIGR_LISTEN")
            .env_remove("TRIGR_DATA_DIR")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn trigr server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let base_url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("server did not print its address");
            seen.push(line.clone());
            if let Some(addr) = line.strip_prefix("trigr listening on ") {
                break addr.trim().to_string();
            }
        };
        Bare {
            child,
            base_url,
            lines: rx,
            seen,
        }
    }

    /// Keys printed as `TRIGGER_SECRET_KEY=…` so far.
    fn keys(&mut self) -> Vec<String> {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen
            .iter()
            .filter_map(|l| l.split("TRIGGER_SECRET_KEY=").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_string()
            })
            .collect()
    }

    /// Waits (on stdout, up to 30 s) until at least `n` keys were printed.
    fn wait_keys(&mut self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let k = self.keys();
            if k.len() >= n || std::time::Instant::now() > deadline {
                return k;
            }
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(l);
            }
        }
    }

    fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status_with(http: &reqwest::Client, base: &str, key: &str) -> u16 {
    send_to(http, base, Req::new("GET", "/api/v1/runs").key(key))
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_needs_no_key() {
    let server = TestServer::start().await;
    let r = server.send(Req::new("GET", "/healthz").no_key()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_start_prints_keys_once_and_they_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut first = Bare::start(dir.path());
    let keys = first.wait_keys(2);
    let dev = keys
        .iter()
        .find(|k| k.starts_with("tr_dev_"))
        .unwrap_or_else(|| panic!("no dev key printed: {:?}", first.seen))
        .clone();
    let prod = keys
        .iter()
        .find(|k| k.starts_with("tr_prod_"))
        .unwrap_or_else(|| panic!("no prod key printed: {:?}", first.seen))
        .clone();
    for k in [&dev, &prod] {
        let body = k.split_once('_').unwrap().1.split_once('_').unwrap().1;
        assert_eq!(body.len(), 24, "key {k}: 24 characters after the prefix");
        assert!(body.chars().all(|c| c.is_ascii_alphanumeric()), "key {k}");
    }
    assert_ne!(dev, DEV_KEY);
    assert_eq!(status_with(&http, &first.base_url, &dev).await, 200);
    assert_eq!(status_with(&http, &first.base_url, &prod).await, 200);
    assert_eq!(
        status_with(&http, &first.base_url, DEV_KEY).await,
        401,
        "unseeded server does not know the test key"
    );
    // A run made with the printed dev key.
    let r = send_to(
        &http,
        &first.base_url,
        Req::new("POST", "/api/v1/tasks/t/trigger").key(&dev).json(&json!({"payload": "{\"json\":1}", "options": {"payloadType": "application/super+json"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = r.json["id"].as_str().unwrap().to_string();
    assert!(first.terminate(), "clean exit on SIGTERM");

    let mut second = Bare::start(dir.path());
    // By the time the server answers, anything it prints at start is out.
    assert_eq!(
        status_with(&http, &second.base_url, &dev).await,
        200,
        "the printed dev key survives a restart"
    );
    assert_eq!(status_with(&http, &second.base_url, &prod).await, 200);
    let again = second.keys();
    assert!(again.is_empty(), "no new keys on a second start: {again:?}");
    let r = send_to(
        &http,
        &second.base_url,
        Req::new("GET", &format!("/api/v3/runs/{run}")).key(&dev),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], json!("PENDING_VERSION"));
    assert!(second.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_exits_cleanly_and_keeps_every_acknowledged_run() {
    let mut server = TestServer::start().await;
    let version = server
        .deploy(
            json!([{"id": "t"}, {"id": "q", "queue": {"name": "custom", "concurrencyLimit": 3}}]),
        )
        .await;
    let futs = (0..100).map(|i| {
        server.try_trigger(
            "t",
            json!({"i": i}),
            json!({"tags": [format!("n{}", i % 4)]}),
        )
    });
    let mut ids = Vec::new();
    for (s, v) in futures::future::join_all(futs).await {
        assert_eq!(s, 200, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let got = server.dequeue(&version, 2, 0).await;
    assert_eq!(
        server.complete_ok(&got[0], json!({"done": true})).await.0,
        200
    );
    let done = got[0]["runId"].as_str().unwrap().to_string();
    let held = got[1]["runId"].as_str().unwrap().to_string();
    let (s, _) = server
        .post(
            "/api/v1/queues/custom/pause",
            json!({"type": "custom", "action": "pause"}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(server.terminate(), "SIGTERM exits with success");

    let restarted = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        ..Default::default()
    })
    .await;
    let listed: HashSet<String> = restarted.list_ids("").await.into_iter().collect();
    for id in &ids {
        assert!(
            listed.contains(id),
            "run {id} acknowledged before SIGTERM is gone"
        );
    }
    assert_eq!(listed.len(), 100);
    let r = restarted.run(&done).await;
    assert_eq!(r["status"], json!("COMPLETED"));
    assert_eq!(r["output"], json!({"done": true}));
    assert_eq!(restarted.status(&held).await, "DEQUEUED");
    let sample = restarted.run(&ids[17]).await;
    assert_eq!(sample["payload"], json!({"i": 17}));
    assert_eq!(sample["tags"], json!(["n1"]));
    let (_, cur) = restarted.get("/api/v1/deployments/current").await;
    assert_eq!(cur["version"], json!(version));
    let (_, q) = restarted.get("/api/v1/queues/custom?type=custom").await;
    assert_eq!(q["paused"], json!(true), "pause survives a restart: {q}");
    assert_eq!(q["concurrencyLimit"], json!(3));
    // The restarted server keeps working: the next run goes to the same version.
    let got = restarted.dequeue(&version, 1, 0).await;
    assert_eq!(got.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_trigger() {
    let mut server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut loops = Vec::new();
    for w in 0..6 {
        let http = server.http.clone();
        let base = server.base_url.clone();
        let acked = acked.clone();
        let stop = stop.clone();
        let enough = enough.clone();
        loops.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let body = json!({"payload": json!({"w": w, "i": i}).to_string(), "options": {"payloadType": "application/json"}});
                let req = http
                    .post(format!("{base}/api/v1/tasks/t/trigger"))
                    .bearer_auth(DEV_KEY)
                    .json(&body)
                    .send()
                    .await;
                let Ok(resp) = req else { break };
                if resp.status().as_u16() != 200 {
                    break;
                }
                let Ok(v) = resp.json::<serde_json::Value>().await else { break };
                let mut a = acked.lock().unwrap();
                a.push(v["id"].as_str().unwrap().to_string());
                if a.len() >= 300 {
                    enough.notify_one();
                }
            }
        }));
    }
    enough.notified().await;
    // Kill while triggers are still in flight.
    server.kill();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for l in loops {
        let _ = l.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let restarted = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        ..Default::default()
    })
    .await;
    let listed: HashSet<String> = restarted.list_ids("").await.into_iter().collect();
    let missing: Vec<&String> = acked.iter().filter(|id| !listed.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged runs lost after SIGKILL: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(restarted.status(&acked[0]).await, "QUEUED");

    // Kill again right after a completion is acknowledged: it survives too.
    let mut restarted = restarted;
    let (_, cur) = restarted.get("/api/v1/deployments/current").await;
    let version = cur["version"].as_str().unwrap().to_string();
    let got = restarted.dequeue(&version, 1, 0).await;
    assert_eq!(restarted.complete_ok(&got[0], json!("kept")).await.0, 200);
    restarted.kill();
    let third = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        ..Default::default()
    })
    .await;
    let r = third.run(got[0]["runId"].as_str().unwrap()).await;
    assert_eq!(r["status"], json!("COMPLETED"));
    assert_eq!(r["output"], json!("kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_does_not_wait_for_parked_long_polls() {
    let mut server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let http = server.http.clone();
    let base = server.base_url.clone();
    let parked = tokio::spawn(async move {
        http.post(format!("{base}/api/v1/worker/dequeue"))
            .bearer_auth(DEV_KEY)
            .json(&json!({"version": version, "maxRuns": 1, "waitMs": 30000}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = std::time::Instant::now();
    let ok = tokio::task::spawn_blocking(move || {
        let ok = server.terminate();
        (ok, server)
    })
    .await
    .unwrap();
    let took = start.elapsed();
    assert!(ok.0, "clean exit");
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?} with a parked 30 s long-poll"
    );
    let answer = parked.await.unwrap();
    eprintln!("parked long-poll ended with {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_keeps_acknowledged_batch_items() {
    let mut server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 300, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let items: Vec<serde_json::Value> = (0..150)
        .map(|i| json!({"index": i, "task": "t", "payload": format!("{{\"json\":{i}}}"), "options": {"payloadType": "application/super+json"}}))
        .collect();
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(false));
    let (_, b) = server.get(&format!("/api/v2/batches/{id}")).await;
    let before: Vec<serde_json::Value> = b["runs"].as_array().unwrap().clone();
    assert_eq!(before.len(), 150);
    server.kill();

    let restarted = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        ..Default::default()
    })
    .await;
    let (s, b) = restarted.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["runs"].as_array().unwrap(),
        &before,
        "acknowledged items survive SIGKILL"
    );
    // The rest of the stream completes the batch after the restart.
    let rest: Vec<serde_json::Value> = (0..300)
        .map(|i| json!({"index": i, "task": "t", "payload": format!("{{\"json\":{i}}}"), "options": {"payloadType": "application/super+json"}}))
        .collect();
    let r = restarted.send_items(&id, &rest).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(true));
    assert_eq!(r.json["itemsAccepted"], json!(150));
    assert_eq!(r.json["itemsDeduplicated"], json!(150));
}
