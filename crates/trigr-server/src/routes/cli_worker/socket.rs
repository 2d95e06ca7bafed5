//! The CLI's push channel: Socket.IO (protocol 5, over Engine.IO 4, WebSocket transport only)
//! at `GET /socket.io/`, namespace `/dev-worker`. The CLI subscribes to the runs it executes
//! (`run:subscribe`, `run:unsubscribe`); the server emits `run:notify` for each new snapshot of
//! those runs as its write commits on this server ([`trigr_engine::Engine::snapshot_feed`]),
//! and the CLI reads the snapshot at once instead of at its next poll (every 5 s). A
//! notification missed (another server wrote the snapshot, or the feed ran ahead) only costs
//! that poll.
//!
//! Only what the CLI speaks is served: one namespace, text packets, Engine.IO pings every
//! [`PING_INTERVAL`]; a peer that answers no ping within [`PING_TIMEOUT`] is disconnected.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::error::{ApiError, ApiResult};
use crate::extract::Auth;
use crate::AppState;

/// The namespace the CLI connects to.
pub const NAMESPACE: &str = "/dev-worker";
pub const PING_INTERVAL: Duration = Duration::from_secs(25);
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest packet read from the CLI.
pub const MAX_PACKET: usize = 64 * 1024;
/// Most runs one connection follows.
pub const MAX_RUNS: usize = 1000;

/// `GET /socket.io/?EIO=4&transport=websocket`.
#[utoipa::path(
    get,
    path = "/socket.io/",
    tag = "cli",
    operation_id = "devSocket",
    security(("secretKey" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol: Socket.IO 5 over Engine.IO 4, namespace /dev-worker; `run:subscribe`/`run:unsubscribe` from the CLI, `run:notify` from the server"),
        (status = 400, description = "Not a WebSocket upgrade request", body = crate::openapi::schemas::ErrorBody),
        (status = 401, description = "No valid secret key", body = crate::openapi::schemas::ErrorBody),
        (status = 503, description = "As many WebSockets are open as the server serves connections", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn connect(
    State(state): State<AppState>,
    auth: Auth,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            e.status(),
            format!("GET /socket.io/ needs a WebSocket upgrade request (transport=websocket): {e}"),
        )
    })?;
    let slot = state.ws_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "As many WebSockets are open as this server serves: try again later",
        )
    })?;
    let env_id = auth.env_id;
    Ok(upgrade
        .max_message_size(MAX_PACKET)
        .max_frame_size(MAX_PACKET)
        .on_upgrade(move |socket| async move {
            serve(socket, state, env_id).await;
            drop(slot);
        }))
}

/// What the CLI says in an event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Runs {
    #[serde(default)]
    run_friendly_ids: Vec<String>,
}

/// A packet from the CLI, as far as the server acts on it.
#[derive(Debug, PartialEq)]
enum Packet {
    /// Engine.IO pong.
    Pong,
    /// Engine.IO ping (answered with a pong).
    Ping,
    Close,
    /// Socket.IO connect to a namespace.
    Connect(String),
    /// Socket.IO disconnect from a namespace.
    Disconnect,
    /// Socket.IO event: its name and its first argument.
    Event(String, Value),
    Other,
}

fn parse(text: &str) -> Packet {
    match text.as_bytes().first() {
        Some(b'1') => return Packet::Close,
        Some(b'2') => return Packet::Ping,
        Some(b'3') => return Packet::Pong,
        Some(b'4') => {}
        _ => return Packet::Other,
    }
    let rest = &text[1..];
    let (kind, rest) = match rest.as_bytes().first() {
        Some(k) => (*k, &rest[1..]),
        None => return Packet::Other,
    };
    // `/namespace,` then an optional ack id, then the data.
    let (namespace, data) = match rest.strip_prefix('/') {
        Some(_) => match rest.split_once(',') {
            Some((ns, d)) => (ns.to_string(), d),
            None => (rest.to_string(), ""),
        },
        None => ("/".to_string(), rest),
    };
    let data = data.trim_start_matches(|c: char| c.is_ascii_digit());
    match kind {
        b'0' => Packet::Connect(namespace),
        b'1' => Packet::Disconnect,
        b'2' => match serde_json::from_str::<Vec<Value>>(data) {
            Ok(mut items) if !items.is_empty() && namespace == NAMESPACE => {
                let name = items[0].as_str().unwrap_or("").to_string();
                let arg = if items.len() > 1 {
                    items.swap_remove(1)
                } else {
                    Value::Null
                };
                Packet::Event(name, arg)
            }
            _ => Packet::Other,
        },
        _ => Packet::Other,
    }
}

async fn serve(socket: WebSocket, state: AppState, env_id: String) {
    let (mut sink, mut incoming) = socket.split();
    let sid = trigr_types::id::new("sio");
    let open = json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": PING_INTERVAL.as_millis() as u64,
        "pingTimeout": PING_TIMEOUT.as_millis() as u64,
        "maxPayload": MAX_PACKET,
    });
    if sink.send(text(format!("0{open}"))).await.is_err() {
        return;
    }
    let mut feed = state.engine.snapshot_feed();
    let mut runs: HashSet<String> = HashSet::new();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let mut pong_due: Option<Instant> = None;
    loop {
        let deadline = pong_due.unwrap_or_else(|| Instant::now() + PING_INTERVAL * 4);
        tokio::select! {
            _ = ping.tick() => {
                if sink.send(text("2".to_string())).await.is_err() {
                    break;
                }
                pong_due.get_or_insert(Instant::now() + PING_TIMEOUT);
            }
            _ = tokio::time::sleep_until(deadline), if pong_due.is_some() => break,
            run = feed.recv() => match run {
                Ok(run_id) if runs.contains(&run_id) => {
                    let notify = json!(["run:notify", {"version": "1", "run": {"friendlyId": run_id}}]);
                    if sink.send(text(format!("42{NAMESPACE},{notify}"))).await.is_err() {
                        break;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            message = incoming.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(t) = message else {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                    continue;
                };
                match parse(t.as_str()) {
                    Packet::Pong => pong_due = None,
                    Packet::Ping => {
                        if sink.send(text("3".to_string())).await.is_err() {
                            break;
                        }
                    }
                    Packet::Close => break,
                    Packet::Connect(ns) if ns == NAMESPACE => {
                        let ok = json!({ "sid": trigr_types::id::new("sio") });
                        if sink.send(text(format!("40{NAMESPACE},{ok}"))).await.is_err() {
                            break;
                        }
                    }
                    Packet::Connect(ns) => {
                        let refused = json!({ "message": "Invalid namespace" });
                        let ns = if ns == "/" { String::new() } else { format!("{ns},") };
                        if sink.send(text(format!("44{ns}{refused}"))).await.is_err() {
                            break;
                        }
                    }
                    Packet::Disconnect => runs.clear(),
                    Packet::Event(name, arg) => follow(&mut runs, &name, arg, &env_id),
                    Packet::Other => {}
                }
            }
        }
    }
}

/// A `run:subscribe` or `run:unsubscribe` event.
fn follow(runs: &mut HashSet<String>, name: &str, arg: Value, env_id: &str) {
    let Ok(Runs { run_friendly_ids }) = serde_json::from_value::<Runs>(arg) else {
        return;
    };
    match name {
        "run:subscribe" => {
            for id in run_friendly_ids {
                if runs.len() >= MAX_RUNS {
                    tracing::debug!(env = %env_id, "a CLI follows {MAX_RUNS} runs; more are not notified");
                    break;
                }
                if id.len() <= 128 {
                    runs.insert(id);
                }
            }
        }
        "run:unsubscribe" => {
            for id in &run_friendly_ids {
                runs.remove(id);
            }
        }
        _ => {}
    }
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packets_the_cli_sends() {
        assert_eq!(parse("3"), Packet::Pong);
        assert_eq!(parse("2"), Packet::Ping);
        assert_eq!(parse("40/dev-worker,"), Packet::Connect(NAMESPACE.into()));
        assert_eq!(parse("40"), Packet::Connect("/".into()));
        assert_eq!(
            parse(r#"42/dev-worker,["run:subscribe",{"version":"1","runFriendlyIds":["run_a"]}]"#),
            Packet::Event(
                "run:subscribe".into(),
                json!({"version": "1", "runFriendlyIds": ["run_a"]})
            )
        );
        assert_eq!(
            parse(r#"42/dev-worker,7["run:unsubscribe",{"runFriendlyIds":[]}]"#),
            Packet::Event("run:unsubscribe".into(), json!({"runFriendlyIds": []}))
        );
        assert_eq!(parse(r#"42["run:subscribe",{}]"#), Packet::Other);
        assert_eq!(parse("42/dev-worker,not json"), Packet::Other);
        assert_eq!(parse(""), Packet::Other);
        assert_eq!(parse("4"), Packet::Other);
    }

    #[test]
    fn follows_at_most_its_limit() {
        let mut runs = HashSet::new();
        let ids: Vec<String> = (0..MAX_RUNS + 5).map(|i| format!("run_{i}")).collect();
        follow(
            &mut runs,
            "run:subscribe",
            json!({ "runFriendlyIds": ids }),
            "env",
        );
        assert_eq!(runs.len(), MAX_RUNS);
        follow(
            &mut runs,
            "run:unsubscribe",
            json!({ "runFriendlyIds": ["run_0"] }),
            "env",
        );
        assert!(!runs.contains("run_0"));
        follow(&mut runs, "run:subscribe", json!("not an object"), "env");
        assert_eq!(runs.len(), MAX_RUNS - 1);
    }
}
