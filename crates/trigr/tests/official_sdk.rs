//! Runs the official `@trigger.dev/sdk` (npm, pinned in `tests/official-sdk/package.json`)
//! against a real `trigr server`: `node --test tests/official-sdk/sdk.test.mjs`.
//!
//! Needs `node` and `npm` on the PATH. The npm dependencies are installed with `npm ci` the
//! first time (they stay in `tests/official-sdk/node_modules`, which git ignores).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::node::{npm_ci, repo_dir, require_tool, show};
use common::TestServer;

/// Variables that would change what the SDK sends or where it sends it.
const SDK_ENV_TO_CLEAR: &[&str] = &[
    "TRIGGER_VERSION",
    "TRIGGER_ACCESS_TOKEN",
    "TRIGGER_PREVIEW_BRANCH",
    "TRIGGER_DEV_BRANCH",
    "VERCEL_GIT_COMMIT_REF",
    "TRIGGER_EXTERNAL_DEPLOYMENT_ID",
    "TRIGGER_AUTOMATIC_SKEW_VERSION_PROTECTION",
    "TRIGGER_STREAM_URL",
    "TRIGGER_V2_REALTIME_STREAMS",
    "NODE_OPTIONS",
];

fn run_node_tests(dir: &Path, base_url: &str, idempotency_out: &Path, project_ref: &str) -> Output {
    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-reporter=spec", "sdk.test.mjs"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("TRIGGER_API_URL", base_url)
        .env("TRIGGER_SECRET_KEY", common::DEV_KEY)
        .env("TRIGR_PROD_SECRET_KEY", common::PROD_KEY)
        .env("TRIGR_IDEMPOTENCY_OUT", idempotency_out)
        .env("TRIGR_PROJECT_REF", project_ref)
        .env("NO_COLOR", "1");
    for name in SDK_ENV_TO_CLEAR {
        cmd.env_remove(name);
    }
    cmd.output().expect("spawn node --test")
}

#[tokio::test(flavor = "multi_thread")]
async fn official_sdk_manages_runs() {
    require_tool("node");
    let dir = repo_dir("tests/official-sdk");
    assert!(
        dir.join("package.json").exists(),
        "missing {}",
        dir.join("package.json").display()
    );

    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || npm_ci(&install_dir, &["@trigger.dev/sdk"]))
        .await
        .expect("npm ci task");

    let server = TestServer::start().await;
    let base_url = server.base_url.clone();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("idempotency.json");
    let node_out = out.clone();
    let project = common::default_project_ref(&server);
    let output =
        tokio::task::spawn_blocking(move || run_node_tests(&dir, &base_url, &node_out, &project))
            .await
            .expect("node --test task");
    assert!(
        output.status.success(),
        "the official SDK test failed\n{}",
        show(&output)
    );
    // Print the report on success too (visible with --nocapture).
    println!("{}", String::from_utf8_lossy(&output.stdout));
    same_idempotency_keys_as_the_rust_client(&server, &out).await;
    drop(server);
}

/// The keys the official SDK made (written by its suite) are the ones the Rust client makes,
/// and a trigger from Rust with one dedupes to the run the official SDK made with it.
async fn same_idempotency_keys_as_the_rust_client(server: &TestServer, written: &Path) {
    use trigr_sdk::idempotency_keys::{create, Scope};
    let text = std::fs::read_to_string(written).expect("the keys the official SDK made");
    let node: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let global = create(["cross-sdk", "42"], &Scope::Global);
    assert_eq!(node["global"], serde_json::json!(global));
    assert_eq!(
        node["run"],
        serde_json::json!(create(["cross-sdk-run"], &Scope::Global))
    );
    assert_eq!(
        node["attempt"],
        serde_json::json!(create(["cross", "sdk"], &Scope::Global))
    );

    let client = trigr_sdk::Client::new(&server.base_url, common::DEV_KEY).expect("client");
    let options = || trigr_sdk::TriggerOptions::new().idempotency_key(&global);
    let from_rust = client
        .trigger_id(
            "sdk-other",
            &serde_json::json!({ "from": "rust" }),
            options(),
        )
        .await
        .expect("trigger from Rust");
    assert_eq!(serde_json::json!(from_rust.id), node["runId"]);
    assert!(from_rust.is_cached);
    client
        .idempotency_keys()
        .reset("sdk-other", &global)
        .await
        .expect("reset");
    let after_reset = client
        .trigger_id(
            "sdk-other",
            &serde_json::json!({ "from": "rust" }),
            options(),
        )
        .await
        .expect("trigger after the reset");
    assert_ne!(serde_json::json!(after_reset.id), node["runId"]);
}
