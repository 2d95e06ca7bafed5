//! `trigr mcp` driven over standard input and output by a test client, against a real
//! server: initialize, the tool list (built-in tools and the environment's AI tool
//! definitions), triggering a task, reading, listing and cancelling runs, reading logs, and a
//! worker's run through an AI tool; and hostile input — an over-long line, text that is not
//! JSON, a message that is not a request, an unknown method, wrong parameters — each answered
//! with a JSON-RPC error while the server reads on.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

struct Mcp {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: i64,
}

impl Mcp {
    fn start(server: &TestServer) -> Mcp {
        let mut child = Command::new(binary())
            .arg("mcp")
            .env("TRIGGER_API_URL", &server.base_url)
            .env("TRIGGER_SECRET_KEY", DEV_KEY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("trigr mcp starts");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Mcp {
            child,
            stdin,
            lines,
            next_id: 0,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carries JSON only: {line}: {e}"))
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(format!("{msg}\n").as_bytes()).await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    async fn result(&mut self, method: &str, params: Value) -> Value {
        let a = self.request(method, params).await;
        assert!(a.get("error").is_none(), "{method}: {a}");
        a["result"].clone()
    }

    /// A tool call's result, parsed from its text when it is JSON.
    async fn call(&mut self, name: &str, arguments: Value) -> (bool, Value) {
        let r = self
            .result("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        let text = r["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"));
        let body = serde_json::from_str(text).unwrap_or_else(|_| json!(text));
        (r["isError"] == json!(true), body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_uses_tasks_runs_and_ai_tools() {
    use trigr_sdk::{task, Client, Worker};

    let server = TestServer::start().await;
    let c = Client::new(&server.base_url, DEV_KEY).expect("client");
    let double = task("double").run(|n: Value, ctx| async move {
        ctx.logger.info("doubling");
        Ok(json!({"twice": n["n"].as_i64().unwrap_or(0) * 2}))
    });
    let worker = Worker::new(c.clone())
        .poll_wait(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .task(double.clone())
        .start()
        .await
        .expect("worker");
    c.ai()
        .create(trigr_sdk::ai::NewTool::new("double_it", "Doubles n", "double").parameters(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        ))
        .await
        .expect("tool");

    let mut mcp = Mcp::start(&server);
    let init = mcp
        .result("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}))
        .await;
    assert_eq!(init["protocolVersion"], "2025-06-18");
    assert_eq!(init["serverInfo"]["name"], "trigr");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    mcp.send_raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await;
    assert_eq!(mcp.result("ping", json!({})).await, json!({}));

    let listed = mcp.result("tools/list", json!({})).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list_tasks",
            "trigger_task",
            "get_run",
            "list_runs",
            "cancel_run",
            "get_run_logs",
            "double_it"
        ]
    );
    let ai_tool = &listed["tools"][6];
    assert_eq!(ai_tool["inputSchema"]["required"], json!(["n"]));

    let (err, tasks) = mcp.call("list_tasks", json!({})).await;
    assert!(!err, "{tasks}");
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .contains(&json!("double")),
        "{tasks}"
    );

    // Trigger, follow the run to its end, read it and its logs, list it.
    let (err, t) = mcp
        .call(
            "trigger_task",
            json!({"taskId": "double", "payload": {"n": 4}}),
        )
        .await;
    assert!(!err, "{t}");
    let run_id = t["runId"].as_str().unwrap().to_string();
    let (err, logs) = mcp
        .call(
            "get_run_logs",
            json!({"runId": run_id, "follow": true, "waitSeconds": 30}),
        )
        .await;
    assert!(!err, "{logs}");
    assert!(logs.to_string().contains("doubling"), "{logs}");
    let (err, run) = mcp.call("get_run", json!({"runId": run_id})).await;
    assert!(!err, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["output"], json!({"twice": 8}));
    let (err, runs) = mcp
        .call("list_runs", json!({"taskId": "double", "limit": 5}))
        .await;
    assert!(!err, "{runs}");
    assert!(runs.to_string().contains(&run_id), "{runs}");

    // The AI tool runs its task with the arguments.
    let (err, out) = mcp.call("double_it", json!({"n": 21})).await;
    assert!(!err, "{out}");
    assert_eq!(out, json!({"twice": 42}));

    // Cancel a delayed run; a finished or unknown run is an error result, not a crash.
    let delayed = server
        .trigger("double", json!({"n": 1}), json!({"delay": "1h"}))
        .await;
    let (err, _) = mcp.call("cancel_run", json!({"runId": delayed})).await;
    assert!(!err);
    assert_eq!(server.status(&delayed).await, "CANCELED");
    let (err, _) = mcp.call("get_run", json!({"runId": "run_unknown"})).await;
    assert!(err, "an unknown run is an error result");

    worker.shutdown().await.expect("shutdown");
    drop(mcp.stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), mcp.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_json_rpc_errors_and_the_server_reads_on() {
    let server = TestServer::start().await;
    let mut mcp = Mcp::start(&server);
    let code = |a: &Value| {
        a["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error: {a}"))
    };

    let mut long = vec![b'x'; 1024 * 1024 + 10];
    long.push(b'\n');
    mcp.send_raw(&long).await;
    assert_eq!(code(&mcp.answer().await), -32600);
    mcp.send_raw(b"{not json\n").await;
    assert_eq!(code(&mcp.answer().await), -32700);
    mcp.send_raw(b"{\"id\": \xff\xfe}\n").await;
    assert_eq!(
        code(&mcp.answer().await),
        -32700,
        "a line that is not UTF-8"
    );
    mcp.send_raw(b"[1,2]\n").await;
    assert_eq!(code(&mcp.answer().await), -32600);
    mcp.send_raw(b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}\n")
        .await;
    assert_eq!(code(&mcp.answer().await), -32600);
    mcp.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}\n")
        .await;
    assert_eq!(code(&mcp.answer().await), -32600);
    assert_eq!(code(&mcp.request("no/such", json!({})).await), -32601);
    assert_eq!(code(&mcp.request("tools/call", json!({})).await), -32602);
    assert_eq!(
        code(&mcp.request("tools/call", json!({"name": "nope"})).await),
        -32602
    );
    assert_eq!(
        code(
            &mcp.request("tools/call", json!({"name": "get_run", "arguments": {}}))
                .await
        ),
        -32602
    );
    assert_eq!(
        code(
            &mcp.request("tools/call", json!({"name": "get_run", "arguments": [1]}))
                .await
        ),
        -32602
    );
    assert_eq!(
        code(
            &mcp.request(
                "tools/call",
                json!({"name": "list_runs", "arguments": {"limit": 100000}})
            )
            .await
        ),
        -32602
    );
    assert_eq!(
        code(
            &mcp.request(
                "tools/call",
                json!({"name": "trigger_task", "arguments": {"taskId": "a\u{0}b"}})
            )
            .await
        ),
        -32602
    );
    assert_eq!(code(&mcp.request("ping", json!([1])).await), -32602);
    // Still serving.
    assert_eq!(mcp.result("ping", json!({})).await, json!({}));
    drop(mcp.stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), mcp.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status}");
}
