//! The official `trigger.dev` CLI's login, against a real server on the store the suite runs
//! on, with personal access tokens made by the real binary (`trigr keys pat`):
//!
//! * `GET /api/v2/whoami` answers a token in the CLI's shape (an email its schema accepts,
//!   the project `?projectRef=` names), and refuses a missing, unknown or revoked token and a
//!   secret key with a 401 naming what is needed;
//! * `GET /api/v1/projects/{ref}/{env}` hands the token a secret key of the environment that
//!   works (it triggers a run, reads the CLI's `envvars`), the same one on every call, a new
//!   one once that was revoked; unknown projects are a 404, `preview` and unknown environments
//!   a 400; revoking the token ends its keys within a second;
//! * platform notifications are `{"notification": null}`, preview branches a 400;
//! * `trigr keys pat create | list | revoke` print, refuse and list what they should;
//! * `trigger.dev login`: an authorization code for a PKCE challenge, approved on the store
//!   (`trigr keys pat approve`), exchanged once for a token with the verifier and the approval
//!   code, `{"token": null}` before the approval.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn trigr(server: &TestServer, cmd: &[&str]) -> Output {
    let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    args.extend(store_args(server));
    Command::new(binary())
        .args(&args)
        .env_remove("TRIGR_DATA_DIR")
        .env_remove("TRIGR_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run trigr")
}

fn admin(server: &TestServer, cmd: &[&str]) -> String {
    let out = trigr(server, cmd);
    assert!(
        out.status.success(),
        "trigr {cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Makes a token with `trigr keys pat create`; returns it.
fn create_pat(server: &TestServer, extra: &[&str]) -> String {
    let mut cmd = vec!["keys", "pat", "create"];
    cmd.extend(extra);
    let out = admin(server, &cmd);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("TRIGGER_ACCESS_TOKEN="))
        .unwrap_or_else(|| panic!("no token in: {out}"))
        .to_string();
    assert!(token.starts_with("tr_pat_") && token.len() == 47, "{token}");
    token
}

/// The reference of the store's default project (`trigr projects list`).
fn default_ref(server: &TestServer) -> String {
    let text = admin(server, &["projects", "list"]);
    text.split_whitespace()
        .find(|w| w.starts_with("proj_"))
        .unwrap_or_else(|| panic!("no project reference in {text}"))
        .to_string()
}

async fn get_with(server: &TestServer, auth: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = server.http.get(server.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_as(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server.call_as(token, "GET", path, None).await
}

/// A refusal with this status whose `{"error"}` mentions `needle`.
fn assert_refused((status, body): (u16, Value), want: u16, needle: &str) {
    assert_eq!(status, want, "{body}");
    let error = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(
        error.contains(needle),
        "{error:?} should mention {needle:?}"
    );
}

/// Whether the server accepts `key` (a request that needs a secret key).
async fn accepted(server: &TestServer, key: &str) -> u16 {
    get_as(server, key, "/api/v1/runs?page%5Bsize%5D=1").await.0
}

/// Asks with `key` until the server refuses it, at most two seconds (servers read a key again
/// after half a second); returns the last status.
async fn refused_soon(server: &TestServer, key: &str) -> u16 {
    let since = Instant::now();
    loop {
        let status = accepted(server, key).await;
        if status != 200 || since.elapsed() > Duration::from_secs(2) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn whoami_answers_a_token_in_the_clis_shape() {
    let server = TestServer::start().await;
    let token = create_pat(&server, &["--name", "My Laptop"]);
    let project = default_ref(&server);

    let (status, me) = get_as(&server, &token, "/api/v2/whoami").await;
    assert_eq!(status, 200, "{me}");
    assert!(me["userId"].as_str().unwrap().starts_with("pat_"), "{me}");
    assert_eq!(me["email"], "my-laptop@trigr.invalid");
    assert_eq!(me["dashboardUrl"], format!("{}/dashboard", server.base_url));
    assert!(me.get("project").is_none(), "{me}");

    let path = format!("/api/v2/whoami?projectRef={project}");
    let (status, me) = get_as(&server, &token, &path).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["project"]["name"], "default", "{me}");
    assert!(me["project"]["orgTitle"].is_string(), "{me}");
    assert!(me["project"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/dashboard"));
    let (_, me) = get_as(&server, &token, "/api/v2/whoami?projectRef=proj_nothere").await;
    assert!(me.get("project").is_none(), "an unknown project: {me}");

    let with_email = create_pat(&server, &["--name", "ci", "--email", "ops@example.com"]);
    let (_, me) = get_as(&server, &with_email, "/api/v2/whoami").await;
    assert_eq!(me["email"], "ops@example.com");

    let (status, body) = get_as(&server, &token, "/api/v1/platform-notifications").await;
    assert_eq!((status, body), (200, json!({"notification": null})));
    let path = format!("/api/v1/projects/{project}/branches");
    let refused = server
        .call_as(&token, "POST", &path, Some(json!({"branch": "x"})))
        .await;
    assert_refused(refused, 400, "preview branches are not supported by trigr");

    let list = admin(&server, &["keys", "pat", "list"]);
    let line = list.lines().find(|l| l.contains("My Laptop")).unwrap();
    assert!(line.contains(&token[..11]), "{list}");
    assert!(line.contains("active") && !line.contains("never"), "{list}");
    assert!(
        list.lines().any(|l| l.contains("ops@example.com")),
        "{list}"
    );
    assert!(!list.contains(&token), "the list shows no whole token");
}

#[tokio::test]
async fn the_login_routes_refuse_anything_but_a_live_token() {
    let server = TestServer::start().await;
    let token = create_pat(&server, &["--name", "laptop"]);
    let project = default_ref(&server);
    let dev = format!("/api/v1/projects/{project}/dev");

    for path in ["/api/v2/whoami", "/api/v1/platform-notifications", &dev] {
        assert_refused(get_with(&server, None, path).await, 401, "tr_pat_");
        assert_refused(
            get_with(&server, Some("Basic abc"), path).await,
            401,
            "tr_pat_",
        );
        let unknown = format!("tr_pat_{}", "A".repeat(40));
        assert_refused(get_as(&server, &unknown, path).await, 401, "revoked");
        assert_refused(get_as(&server, "tr_pat_short", path).await, 401, "unknown");
        assert_refused(
            get_as(&server, DEV_KEY, path).await,
            401,
            "needs a personal access token",
        );
    }
    let branches = format!("/api/v1/projects/{project}/branches");
    let refused = server.call_as(DEV_KEY, "POST", &branches, None).await;
    assert_refused(refused, 401, "personal access token");

    assert_eq!(get_as(&server, &token, "/api/v2/whoami").await.0, 200);
    let out = admin(&server, &["keys", "pat", "revoke", &token[..11]]);
    assert!(out.contains("Revoked"), "{out}");
    // Refused at once: a token is read from the store on every call.
    for path in ["/api/v2/whoami", "/api/v1/platform-notifications", &dev] {
        assert_refused(get_as(&server, &token, path).await, 401, "revoked");
    }
}

#[tokio::test]
async fn a_token_is_handed_one_working_key_per_environment() {
    let server = TestServer::start().await;
    let token = create_pat(&server, &["--name", "laptop"]);
    let project = default_ref(&server);
    let dev = format!("/api/v1/projects/{project}/dev");

    let (status, handed) = get_as(&server, &token, &dev).await;
    assert_eq!(status, 200, "{handed}");
    let key = handed["apiKey"].as_str().unwrap().to_string();
    assert!(key.starts_with("tr_dev_") && key != DEV_KEY, "{handed}");
    assert_eq!(handed["apiUrl"], server.base_url);
    assert_eq!(handed["name"], "default");
    assert!(handed["projectId"].is_string(), "{handed}");
    assert!(
        handed.get("defaultRuntime").is_some_and(Value::is_null),
        "{handed}"
    );
    let (_, again) = get_as(&server, &token, &dev).await;
    assert_eq!(again["apiKey"], key, "the same key on a later call");

    // The key works wherever a dev key does.
    server.deploy(json!([{"id": "hello"}])).await;
    let (status, run) = server
        .call_as(
            &key,
            "POST",
            "/api/v1/tasks/hello/trigger",
            Some(json!({"payload": {"n": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(server.run(id).await["status"], "QUEUED");
    let (status, vars) = get_as(
        &server,
        &key,
        &format!("/api/v1/projects/{project}/envvars"),
    )
    .await;
    assert_eq!((status, vars), (200, json!({"variables": {}})));
    let other = server
        .call_as(
            &key,
            "POST",
            &format!("/api/v1/projects/{project}/envvars/dev"),
            Some(json!({"name": "GREETING", "value": "hi"})),
        )
        .await;
    assert_eq!(other.0, 200, "{}", other.1);
    let (_, vars) = get_as(
        &server,
        &key,
        &format!("/api/v1/projects/{project}/envvars"),
    )
    .await;
    assert_eq!(vars, json!({"variables": {"GREETING": "hi"}}));
    assert_refused(
        get_as(&server, &key, "/api/v1/projects/proj_other/envvars").await,
        400,
        "Invalid project ref",
    );

    // Other environments have keys of their own; `stg` and `staging` are one.
    let (_, prod) = get_as(&server, &token, &format!("/api/v1/projects/{project}/prod")).await;
    assert!(
        prod["apiKey"].as_str().unwrap().starts_with("tr_prod_"),
        "{prod}"
    );
    let (_, stg) = get_as(&server, &token, &format!("/api/v1/projects/{project}/stg")).await;
    let (_, staging) = get_as(
        &server,
        &token,
        &format!("/api/v1/projects/{project}/staging"),
    )
    .await;
    assert_eq!(stg["apiKey"], staging["apiKey"]);
    assert!(
        stg["apiKey"].as_str().unwrap().starts_with("tr_stg_"),
        "{stg}"
    );
    // Another token is handed another key.
    let other_token = create_pat(&server, &["--name", "desktop"]);
    let (_, theirs) = get_as(&server, &other_token, &dev).await;
    assert_ne!(theirs["apiKey"], key);

    assert_refused(
        get_as(
            &server,
            &token,
            &format!("/api/v1/projects/{project}/preview"),
        )
        .await,
        400,
        "preview environments are not supported by trigr",
    );
    assert_refused(
        get_as(&server, &token, &format!("/api/v1/projects/{project}/qa")).await,
        400,
        "unknown environment",
    );
    let (status, body) = get_as(&server, &token, "/api/v1/projects/proj_nothere/dev").await;
    assert_eq!((status, body), (404, json!({"error": "Project not found"})));

    // A handed key revoked on its own is replaced by a new one on the next call.
    let out = admin(&server, &["keys", "revoke", &key]);
    assert!(out.contains("Revoked"), "{out}");
    assert_ne!(refused_soon(&server, &key).await, 200);
    let (_, renewed) = get_as(&server, &token, &dev).await;
    let renewed = renewed["apiKey"].as_str().unwrap().to_string();
    assert_ne!(renewed, key);
    assert_eq!(accepted(&server, &renewed).await, 200);

    // Revoking the token ends every key it was handed, on every server within a second.
    let out = admin(&server, &["keys", "pat", "revoke", &token]);
    assert!(out.contains("3 secret key(s)"), "{out}");
    assert_eq!(refused_soon(&server, &renewed).await, 401);
    let prod_key = prod["apiKey"].as_str().unwrap();
    assert_eq!(refused_soon(&server, prod_key).await, 401);
    assert_eq!(
        accepted(&server, theirs["apiKey"].as_str().unwrap()).await,
        200
    );
    assert_eq!(accepted(&server, DEV_KEY).await, 200);
    let list = admin(&server, &["keys", "list"]);
    assert!(list.contains("revoked"), "{list}");
}

#[tokio::test]
async fn trigr_keys_pat_refuses_what_it_cannot_do() {
    let server = TestServer::start().await;
    let none = admin(&server, &["keys", "pat", "list"]);
    assert!(none.contains("No personal access tokens"), "{none}");

    for bad in [
        &["keys", "pat", "create", "--name", " "][..],
        &[
            "keys",
            "pat",
            "create",
            "--name",
            "x",
            "--email",
            "not-an-address",
        ],
        &["keys", "pat", "revoke", "tr_pat_Zzzz"],
    ] {
        let out = trigr(&server, bad);
        assert!(!out.status.success(), "{bad:?} should fail");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }

    let token = create_pat(&server, &["--name", "laptop"]);
    admin(&server, &["keys", "pat", "revoke", &token]);
    let twice = trigr(&server, &["keys", "pat", "revoke", &token]);
    assert!(!twice.status.success());
    let err = String::from_utf8_lossy(&twice.stderr);
    assert!(err.contains("already revoked"), "{err}");
    let list = admin(&server, &["keys", "pat", "list"]);
    assert!(list.contains("revoked") && list.contains("never"), "{list}");
}

/// RFC 7636's example PKCE pair (appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn exchange(server: &TestServer, body: Value) -> (u16, Value) {
    let resp = server
        .http
        .post(server.url("/api/v1/token"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn trigger_dev_login_is_approved_on_the_store_and_exchanged_once() {
    let server = TestServer::start().await;
    let start = |body: Value| {
        let req = server
            .http
            .post(server.url("/api/v1/authorization-code"))
            .json(&body);
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_refused(
        start(json!({"codeChallenge": "short", "codeChallengeMethod": "S256"})).await,
        400,
        "codeChallenge",
    );
    assert_refused(
        start(json!({"codeChallenge": CHALLENGE, "codeChallengeMethod": "plain"})).await,
        400,
        "S256",
    );
    assert_refused(start(json!({"codeChallenge": 5})).await, 400, "");
    assert_refused(
        start(json!({
            "codeChallenge": CHALLENGE, "codeChallengeMethod": "S256", "callbackPort": 80
        }))
        .await,
        400,
        "callbackPort",
    );

    let (status, login) = start(json!({
        "codeChallenge": CHALLENGE, "codeChallengeMethod": "S256", "callbackPort": 4321
    }))
    .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["approval"], "paste");
    let code = login["authorizationCode"].as_str().unwrap().to_string();
    let url = login["url"].as_str().unwrap();
    assert!(url.starts_with(&server.base_url), "{url}");
    let page = server.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&format!("trigr keys pat approve {code}")),
        "{page}"
    );

    // Waiting for approval: no token yet, whatever is sent.
    let (status, pending) = exchange(&server, json!({"authorizationCode": code})).await;
    assert_eq!((status, pending), (200, json!({"token": null})));
    let unknown = exchange(&server, json!({"authorizationCode": "nope"})).await;
    assert_refused(unknown, 404, "no login");

    let out = admin(
        &server,
        &["keys", "pat", "approve", &code, "--name", "browser login"],
    );
    let approval = out.lines().last().unwrap().trim().to_string();
    assert_eq!(approval.len(), 12, "{out}");
    let again = trigr(
        &server,
        &["keys", "pat", "approve", &code, "--name", "twice"],
    );
    assert!(!again.status.success(), "approved once");

    let body = |verifier: &str, approval: Option<&str>| {
        let mut b = json!({"authorizationCode": code, "codeVerifier": verifier});
        if let Some(a) = approval {
            b["approvalCode"] = json!(a);
        }
        b
    };
    assert_refused(
        exchange(&server, body(VERIFIER, None)).await,
        400,
        "approval code",
    );
    assert_refused(
        exchange(&server, body("wrong-verifier", Some(&approval))).await,
        400,
        "does not match",
    );
    assert_refused(
        exchange(&server, body(VERIFIER, Some("AAAAAAAAAAAA"))).await,
        400,
        "does not match",
    );
    let (status, answer) = exchange(&server, body(VERIFIER, Some(&approval))).await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["token"]["token"].as_str().unwrap().to_string();
    let shown = answer["token"]["obfuscatedToken"].as_str().unwrap();
    assert!(
        shown.starts_with(&token[..11]) && !shown.contains(&token),
        "{shown}"
    );
    assert_refused(
        exchange(&server, body(VERIFIER, Some(&approval))).await,
        409,
        "already",
    );

    let (status, me) = get_as(&server, &token, "/api/v2/whoami").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "browser-login@trigr.invalid");
    let list = admin(&server, &["keys", "pat", "list"]);
    assert!(list.contains("browser login"), "{list}");
}
