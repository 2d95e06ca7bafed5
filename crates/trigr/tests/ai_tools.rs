//! AI tool definitions (`/api/v1/ai/tools…`) against a real server, on the store the suite
//! runs on:
//!
//! * create, list (paged), retrieve, update and delete, environments apart;
//! * parameters defaulting to the task's payload schema (and to any object without one);
//! * every bound answered with a 4xx `{"error": …}` that leaves nothing written: name syntax,
//!   description length and control characters, schema size, depth and validity, a task no
//!   deployment declares (422), a taken name and the per-environment limit (409);
//! * the exports in exactly the shapes OpenAI and Anthropic take.

mod common;

use common::*;
use serde_json::{json, Value};

const WEATHER_SCHEMA: &str =
    r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#;

/// A server with a deployment declaring `weather` (with a payload schema) and `echo`.
async fn server() -> TestServer {
    let server = TestServer::start().await;
    let schema: Value = serde_json::from_str(WEATHER_SCHEMA).unwrap();
    server
        .deploy(json!([
            {"id": "weather", "payloadSchema": schema},
            {"id": "echo"},
            {"id": "scalar", "payloadSchema": {"type": "string"}},
        ]))
        .await;
    server
}

async fn refused(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
    needle: &str,
) {
    let (s, v) = server.call(method, path, body.clone()).await;
    assert_eq!(s, status, "{method} {path} {body:?}: {v}");
    let message = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence: {v}"));
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{method} {path}: '{message}' does not mention '{needle}'"
    );
}

async fn create(server: &TestServer, body: Value) -> Value {
    let (s, v) = server.call("POST", "/api/v1/ai/tools", Some(body)).await;
    assert_eq!(s, 201, "create: {v}");
    v
}

async fn names(server: &TestServer, query: &str) -> (Vec<String>, Value) {
    let (s, v) = server.get(&format!("/api/v1/ai/tools{query}")).await;
    assert_eq!(s, 200, "list: {v}");
    let names = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    (names, v["pagination"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_created_read_updated_and_deleted() {
    let server = server().await;
    let made = create(
        &server,
        json!({"name": "get_weather", "description": "The weather of a city", "taskId": "weather",
               "display": {"title": "Weather", "readOnly": true}}),
    )
    .await;
    assert!(
        made["id"].as_str().unwrap().starts_with("aitool_"),
        "{made}"
    );
    assert_eq!(made["taskId"], "weather");
    let schema: Value = serde_json::from_str(WEATHER_SCHEMA).unwrap();
    assert_eq!(
        made["parameters"], schema,
        "defaults to the task's payload schema"
    );
    assert_eq!(
        made["display"],
        json!({"title": "Weather", "readOnly": true})
    );

    let echo = create(
        &server,
        json!({"name": "echo-it", "description": "Echoes", "taskId": "echo"}),
    )
    .await;
    assert_eq!(
        echo["parameters"],
        json!({"type": "object"}),
        "a task without a schema takes any object"
    );
    assert_eq!(echo["display"], json!({}));

    let (s, got) = server.get("/api/v1/ai/tools/get_weather").await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got, made);

    // Paging by name.
    let (all, p) = names(&server, "").await;
    assert_eq!(all, ["echo-it", "get_weather"]);
    assert_eq!(p, json!({"currentPage": 1, "totalPages": 1, "count": 2}));
    let (second, p) = names(&server, "?page=2&perPage=1").await;
    assert_eq!(second, ["get_weather"]);
    assert_eq!(p, json!({"currentPage": 2, "totalPages": 2, "count": 2}));

    // Update: new parameters and description; then another task, taking its schema.
    let params = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    let (s, v) = server
        .call(
            "PATCH",
            "/api/v1/ai/tools/echo-it",
            Some(json!({"description": "Says it back", "parameters": params})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["description"].clone(), v["parameters"].clone()),
        (json!("Says it back"), params)
    );
    assert_eq!(v["id"], echo["id"]);
    let (s, v) = server
        .call(
            "PATCH",
            "/api/v1/ai/tools/echo-it",
            Some(json!({"taskId": "weather", "display": {"destructive": false}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["parameters"], schema);
    assert_eq!(v["display"], json!({"destructive": false}));
    assert_eq!(v["description"], "Says it back");

    // Another environment sees none of it.
    let (s, v) = server.get_as(STAGING_KEY, "/api/v1/ai/tools").await;
    assert_eq!((s, v["data"].clone()), (200, json!([])));
    let (s, _) = server
        .get_as(STAGING_KEY, "/api/v1/ai/tools/get_weather")
        .await;
    assert_eq!(s, 404);

    // Delete.
    let (s, v) = server
        .call("DELETE", "/api/v1/ai/tools/echo-it", None)
        .await;
    assert_eq!((s, v), (200, json!({"name": "echo-it", "deleted": true})));
    refused(
        &server,
        "DELETE",
        "/api/v1/ai/tools/echo-it",
        None,
        404,
        "echo-it",
    )
    .await;
    refused(
        &server,
        "GET",
        "/api/v1/ai/tools/echo-it",
        None,
        404,
        "echo-it",
    )
    .await;
    refused(
        &server,
        "PATCH",
        "/api/v1/ai/tools/echo-it",
        Some(json!({"description": "x"})),
        404,
        "echo-it",
    )
    .await;
    assert_eq!(names(&server, "").await.0, ["get_weather"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_take_the_llm_shapes() {
    let server = server().await;
    let (s, v) = server.get("/api/v1/ai/tools/export?format=openai").await;
    assert_eq!((s, v), (200, json!([])));
    create(
        &server,
        json!({"name": "get_weather", "description": "The weather", "taskId": "weather"}),
    )
    .await;
    create(&server, json!({"name": "echo", "description": "Echoes", "taskId": "echo", "display": {"title": "Echo"}})).await;
    let schema: Value = serde_json::from_str(WEATHER_SCHEMA).unwrap();

    let (s, v) = server.get("/api/v1/ai/tools/export?format=openai").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!([
            {"type": "function", "function": {"name": "echo", "description": "Echoes", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "get_weather", "description": "The weather", "parameters": schema}},
        ])
    );
    let (s, v) = server.get("/api/v1/ai/tools/export?format=anthropic").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!([
            {"name": "echo", "description": "Echoes", "input_schema": {"type": "object"}},
            {"name": "get_weather", "description": "The weather", "input_schema": schema},
        ])
    );
    for q in [
        "",
        "?format=gemini",
        "?format=openai&format=anthropic",
        "?format=OPENAI",
    ] {
        refused(
            &server,
            "GET",
            &format!("/api/v1/ai/tools/export{q}"),
            None,
            400,
            "format",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_definitions_are_refused_and_write_nothing() {
    let server = server().await;
    let base = json!({"name": "t", "description": "d", "taskId": "echo"});
    let with = |patch: Value| merge(base.clone(), patch);
    let post = "/api/v1/ai/tools";
    for (patch, status, needle) in [
        (json!({"name": ""}), 400, "name"),
        (json!({"name": "has space"}), 400, "name"),
        (json!({"name": "x".repeat(65)}), 400, "name"),
        (json!({"name": "nul\u{0}"}), 400, "name"),
        (json!({"name": "export"}), 400, "reserved"),
        (json!({"description": ""}), 400, "description"),
        (json!({"description": "x".repeat(4097)}), 400, "description"),
        (json!({"description": "bad\u{0}"}), 400, "description"),
        (json!({"taskId": ""}), 400, "taskId"),
        (json!({"taskId": "x".repeat(129)}), 400, "taskId"),
        (json!({"taskId": "missing"}), 422, "missing"),
        (json!({"taskId": "scalar"}), 422, "payload schema"),
        (json!({"parameters": {"type": "string"}}), 400, "object"),
        (json!({"parameters": [1, 2]}), 400, "object"),
        (
            json!({"parameters": {"type": "object", "minProperties": "many"}}),
            400,
            "valid JSON Schema",
        ),
        (
            json!({"parameters": {"type": "object", "description": "x".repeat(70_000)}}),
            413,
            "limit",
        ),
        (json!({"display": {"title": "x".repeat(201)}}), 400, "title"),
        (json!({"display": {"colour": "red"}}), 400, ""),
        (json!({"extra": 1}), 400, ""),
    ] {
        refused(&server, "POST", post, Some(with(patch)), status, needle).await;
    }
    let mut deep = json!({});
    for _ in 0..40 {
        deep = json!({"a": deep});
    }
    refused(
        &server,
        "POST",
        post,
        Some(with(
            json!({"parameters": {"type": "object", "properties": deep}}),
        )),
        400,
        "deeper",
    )
    .await;
    refused(
        &server,
        "GET",
        "/api/v1/ai/tools/bad%20name",
        None,
        400,
        "name",
    )
    .await;
    refused(
        &server,
        "GET",
        "/api/v1/ai/tools?perPage=0",
        None,
        400,
        "perPage",
    )
    .await;
    refused(
        &server,
        "GET",
        "/api/v1/ai/tools?page=99999999999",
        None,
        400,
        "page",
    )
    .await;
    assert_eq!(
        names(&server, "").await.0,
        Vec::<String>::new(),
        "nothing written"
    );

    // A taken name, and bad updates leave the tool as it was.
    let made = create(&server, base.clone()).await;
    refused(
        &server,
        "POST",
        post,
        Some(base.clone()),
        409,
        "already exists",
    )
    .await;
    for (patch, status, needle) in [
        (json!({"taskId": "missing"}), 422, "missing"),
        (json!({"parameters": {"type": "array"}}), 400, "object"),
        (json!({"description": "x".repeat(4097)}), 400, "description"),
        (json!({"name": "renamed"}), 400, ""),
    ] {
        refused(
            &server,
            "PATCH",
            "/api/v1/ai/tools/t",
            Some(patch),
            status,
            needle,
        )
        .await;
    }
    let (_, now) = server.get("/api/v1/ai/tools/t").await;
    assert_eq!(now, made);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_holds_at_most_a_hundred_tools() {
    let server = server().await;
    for i in 0..100 {
        create(
            &server,
            json!({"name": format!("t{i:03}"), "description": "d", "taskId": "echo"}),
        )
        .await;
    }
    refused(
        &server,
        "POST",
        "/api/v1/ai/tools",
        Some(json!({"name": "one-more", "description": "d", "taskId": "echo"})),
        409,
        "limit",
    )
    .await;
    let (_, p) = names(&server, "?perPage=100").await;
    assert_eq!(p["count"], 100);
    let (s, v) = server.get("/api/v1/ai/tools/export?format=anthropic").await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(100)));
    // A tool the others' names do not clash with goes in once one is deleted.
    let (s, _) = server.call("DELETE", "/api/v1/ai/tools/t000", None).await;
    assert_eq!(s, 200);
    create(
        &server,
        json!({"name": "one-more", "description": "d", "taskId": "echo"}),
    )
    .await;
}

/// The Rust client against a real worker: definitions made, changed, listed and exported
/// through `client.ai()`, and model tool calls in both APIs' forms executed as runs of the
/// tool's task, answered as the tool result messages those APIs take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_executes_model_tool_calls_on_a_real_worker() {
    use std::time::Duration;
    use trigr_sdk::ai::{AiToolDisplay, ExportFormat, NewTool, ToolChanges};
    use trigr_sdk::{task, Client, TaskError, Worker};

    let server = TestServer::start().await;
    let c = Client::new(&server.base_url, DEV_KEY).expect("client");
    let add = task("math/add")
        .payload_schema(json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}))
        .run(|p: Value, _ctx| async move {
            Ok(json!({"sum": p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)}))
        });
    let fail = task("city/lookup")
        .max_attempts(1)
        .run(|p: Value, _ctx| async move {
            Err::<Value, _>(TaskError::fatal(format!("no such city: {}", p["city"])))
        });
    let worker = Worker::new(c.clone())
        .poll_wait(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .task(add.clone())
        .task(fail.clone())
        .start()
        .await
        .expect("worker");

    let ai = c.ai();
    let made = ai
        .create(
            NewTool::new("add", "Adds two integers", "math/add").display(AiToolDisplay {
                title: Some("Add".into()),
                ..Default::default()
            }),
        )
        .await
        .expect("create");
    assert_eq!(
        made.parameters["required"],
        json!(["a", "b"]),
        "the task's schema"
    );
    ai.create(
        NewTool::new("lookup_city", "Finds a city", "city/lookup")
            .parameters(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
    )
    .await
    .expect("create");
    let changed = ai
        .update("add", ToolChanges::new().description("Adds a and b"))
        .await
        .expect("update");
    assert_eq!(changed.description, "Adds a and b");
    assert_eq!(ai.retrieve("add").await.expect("retrieve"), changed);
    let page = ai.list(1, 1).await.expect("list");
    assert_eq!((page.data.len(), page.pagination.count), (1, 2));
    let exported = ai.export(ExportFormat::Anthropic).await.expect("export");
    assert_eq!(exported[0]["name"], "add");
    assert_eq!(exported[0]["input_schema"], made.parameters);
    let exported = ai.export(ExportFormat::OpenAi).await.expect("export");
    assert_eq!(exported[1]["function"]["name"], "lookup_city");

    let limit = Duration::from_secs(30);
    let openai_call = json!({"id": "call_1", "type": "function",
        "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 40}"}});
    let r = ai.execute(&openai_call, limit).await.expect("execute");
    assert!(!r.is_error, "{r:?}");
    assert_eq!(
        r.message,
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"sum\":42}"})
    );
    let run = c.retrieve_run(&r.run_id).await.expect("run");
    assert_eq!(
        run.payload,
        Some(json!({"a": 2, "b": 40})),
        "the arguments are the payload"
    );

    let anthropic_call =
        json!({"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 2}});
    let r = ai.execute(&anthropic_call, limit).await.expect("execute");
    assert_eq!(
        r.message,
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"sum\":3}", "is_error": false})
    );

    let failing = json!({"type": "tool_use", "id": "toolu_2", "name": "lookup_city", "input": {"city": "Atlantis"}});
    let r = ai.execute(&failing, limit).await.expect("execute");
    assert!(r.is_error, "{r:?}");
    assert!(r.content.contains("no such city"), "{r:?}");
    assert_eq!(r.message["is_error"], json!(true));
    assert_eq!(r.message["tool_use_id"], "toolu_2");

    // Arguments the task's schema refuses, an unknown tool and a malformed call: errors.
    let bad_args = json!({"type": "tool_use", "id": "t", "name": "add", "input": {"a": "x"}});
    assert!(ai.execute(&bad_args, limit).await.is_err());
    let unknown = json!({"type": "tool_use", "id": "t", "name": "nope", "input": {}});
    assert!(ai.execute(&unknown, limit).await.is_err());
    for malformed in [
        json!({"type": "function", "id": "c", "function": {"name": "add", "arguments": "{not json"}}),
        json!({"type": "text", "text": "hi"}),
        json!({"type": "tool_use", "id": "t"}),
    ] {
        assert!(ai.execute(&malformed, limit).await.is_err(), "{malformed}");
    }
    ai.delete("lookup_city").await.expect("delete");
    assert!(ai.retrieve("lookup_city").await.is_err());
    worker.shutdown().await.expect("shutdown");
}
