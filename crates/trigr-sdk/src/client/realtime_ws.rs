//! The WebSocket transport of realtime subscriptions ([`super::realtime::Transport::WebSocket`]):
//! one socket per client (`GET /api/v1/realtime/ws`) carries all of its WebSocket
//! subscriptions.
//!
//! A *hub* task owns the socket. It opens it when the first subscription comes, sends a
//! `subscribe` for each subscription, and hands each `event` message to its subscription.
//! It remembers each subscription's last event id; when the socket drops it reconnects with
//! backoff and subscribes again from those cursors, so nothing is lost or repeated (the
//! server also ends a subscription it cannot continue with `closed`/`interrupted` and its
//! cursor: the hub resumes it the same way). A slow reader slows the socket: the hub waits
//! for room in the subscription's small queue before it reads on. The hub ends when its last
//! subscription ends, or when the client is closed ([`super::Client::close`]).

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::realtime::{RunEvent, SubscribeOptions, Subscription};
use crate::error::{ApiErrorKind, Error, Result};
use crate::http::Http;

/// Events waiting for a subscription's reader.
const PER_SUBSCRIPTION: usize = 16;
/// Requests waiting for the hub.
const COMMANDS: usize = 64;
/// How often the hub pings the server (the server also pings).
const PING_EVERY: Duration = Duration::from_secs(20);

/// What a subscription follows, as the protocol names it.
pub(crate) type Topic = Value;

/// A request to the hub.
enum Command {
    Subscribe(Sub),
    Unsubscribe(u64),
}

/// One subscription as the hub keeps it.
struct Sub {
    id: u64,
    topic: Topic,
    stop_on_completion: bool,
    /// The last event id handed over: where a new socket resumes.
    cursor: Option<i64>,
    out: mpsc::Sender<Result<RunEvent>>,
}

impl Sub {
    fn request(&self) -> Message {
        let mut m = json!({
            "type": "subscribe",
            "id": self.id.to_string(),
            "topic": self.topic,
            "stopOnCompletion": self.stop_on_completion,
        });
        if let Some(cursor) = self.cursor {
            m["cursor"] = json!(cursor);
        }
        Message::Text(m.to_string().into())
    }
}

/// The hub's command channel, kept in the client's lifecycle.
#[derive(Debug, Default)]
pub(crate) struct HubSlot {
    sender: std::sync::Mutex<Option<mpsc::Sender<Command>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// How a request of this transport is named in errors.
const REQUEST: &str = "GET /api/v1/realtime/ws";

/// The server refused a connection or a subscription.
fn refused(status: u16, message: String) -> Error {
    Error::Api {
        request: REQUEST.into(),
        status,
        code: None,
        message,
        request_id: None,
        kind: ApiErrorKind::of(status, None, None),
        no_retry: false,
    }
}

/// A WebSocket subscription of `topic`, registered with the hub when first polled (so it may
/// be made outside a runtime, like an SSE subscription).
pub(crate) fn subscribe(http: Http, topic: Topic, options: SubscribeOptions) -> Subscription {
    futures::stream::once(async move { register(http, topic, options) })
        .flatten()
        .boxed()
}

/// Hands the subscription to the client's hub; its events.
fn register(http: Http, topic: Topic, options: SubscribeOptions) -> Subscription {
    let (out, events) = mpsc::channel(PER_SUBSCRIPTION);
    let slot = http.ws_hub();
    let id = slot
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sub = Sub {
        id,
        topic,
        stop_on_completion: options.stop_on_completion,
        cursor: options.last_event_id,
        out,
    };
    let sender = hub(&http, slot);
    // A hub that just ended (its last subscription ended) is replaced.
    let sender = match sender.try_send(Command::Subscribe(sub)) {
        Ok(()) => sender,
        Err(e) => {
            let Command::Subscribe(sub) = e.into_inner() else {
                unreachable!("a subscribe command was sent")
            };
            *slot.sender.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let sender = hub(&http, slot);
            let _ = sender.try_send(Command::Subscribe(sub));
            sender
        }
    };
    let guard = Unsubscribe { id, sender };
    futures::stream::unfold((events, guard), |(mut events, guard)| async move {
        let item = events.recv().await?;
        Some((item, (events, guard)))
    })
    .boxed()
}

/// Tells the hub when a subscription is dropped.
struct Unsubscribe {
    id: u64,
    sender: mpsc::Sender<Command>,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let _ = self.sender.try_send(Command::Unsubscribe(self.id));
    }
}

/// The running hub's channel, starting one when there is none.
fn hub(http: &Http, slot: &HubSlot) -> mpsc::Sender<Command> {
    let mut sender = slot.sender.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = sender.as_ref().filter(|s| !s.is_closed()) {
        return s.clone();
    }
    let (tx, rx) = mpsc::channel(COMMANDS);
    tokio::spawn(run_hub(http.clone(), rx));
    *sender = Some(tx.clone());
    tx
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(http: &Http) -> Result<Socket> {
    let url = http.ws_url("/api/v1/realtime/ws");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Config(format!("realtime WebSocket URL {url}: {e}")))?;
    request
        .headers_mut()
        .insert(reqwest::header::AUTHORIZATION, http.auth_header());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_deref().unwrap_or_default();
            let message = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            Err(refused(status, message))
        }
        Err(e) => Err(Error::Unreachable {
            base: url,
            reason: e.to_string(),
        }),
    }
}

/// The hub: owns the socket until its last subscription ends or the client closes.
async fn run_hub(http: Http, mut commands: mpsc::Receiver<Command>) {
    let mut subs: HashMap<u64, Sub> = HashMap::new();
    let defaults = SubscribeOptions::default();
    let mut backoff = defaults.min_backoff;
    let mut failures = 0u32;
    loop {
        if http.is_closed() {
            return;
        }
        if failures > 0 {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = http.stopped() => return,
            }
            backoff = (backoff * 2).min(defaults.max_backoff);
        }
        let socket = tokio::select! {
            s = connect(&http) => s,
            () = http.stopped() => return,
        };
        let mut socket = match socket {
            Ok(socket) => socket,
            Err(e) if e.is_transient() => {
                failures += 1;
                continue;
            }
            Err(e) => {
                // Refused (a revoked key): every subscription ends with the error.
                let (status, message) = match &e {
                    Error::Api {
                        status, message, ..
                    } => (*status, message.clone()),
                    other => (400, other.to_string()),
                };
                for (_, sub) in subs.drain() {
                    let _ = sub.out.send(Err(refused(status, message.clone()))).await;
                }
                drain_refused(&mut commands, status, &message).await;
                return;
            }
        };
        let mut resent = true;
        for sub in subs.values() {
            resent &= socket.send(sub.request()).await.is_ok();
        }
        if resent {
            match serve(&http, &mut socket, &mut subs, &mut commands, &mut backoff).await {
                Served::Over => {
                    let _ = socket.close(None).await;
                    return;
                }
                Served::Dropped => {}
            }
        }
        failures += 1;
    }
}

/// Answers the subscriptions that come while a refused hub ends.
async fn drain_refused(commands: &mut mpsc::Receiver<Command>, status: u16, message: &str) {
    commands.close();
    while let Some(c) = commands.recv().await {
        if let Command::Subscribe(sub) = c {
            let _ = sub.out.send(Err(refused(status, message.into()))).await;
        }
    }
}

/// How a socket's life ended.
enum Served {
    /// The client closed, or no subscription is left.
    Over,
    /// The socket dropped: connect again.
    Dropped,
}

async fn serve(
    http: &Http,
    socket: &mut Socket,
    subs: &mut HashMap<u64, Sub>,
    commands: &mut mpsc::Receiver<Command>,
    backoff: &mut Duration,
) -> Served {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut open = true;
    loop {
        let ok = tokio::select! {
            () = http.stopped() => return Served::Over,
            c = commands.recv(), if open => match c {
                Some(Command::Subscribe(sub)) => {
                    let sent = socket.send(sub.request()).await.is_ok();
                    subs.insert(sub.id, sub);
                    sent
                }
                Some(Command::Unsubscribe(id)) => {
                    if subs.remove(&id).is_none() {
                        true
                    } else {
                        let m = json!({"type": "unsubscribe", "id": id.to_string()});
                        socket.send(Message::Text(m.to_string().into())).await.is_ok()
                    }
                }
                None => {
                    open = false;
                    true
                }
            },
            _ = ping.tick() => socket.send(Message::Text(r#"{"type":"ping"}"#.into())).await.is_ok(),
            m = socket.next() => match m {
                Some(Ok(Message::Text(text))) => {
                    *backoff = SubscribeOptions::default().min_backoff;
                    on_message(socket, subs, text.as_str()).await
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => false,
                Some(Ok(_)) => true,
            },
        };
        if subs.is_empty() {
            // Idle: no new requests; one already queued keeps this hub going.
            commands.close();
            open = true;
            if commands.is_empty() {
                return Served::Over;
            }
        }
        if !ok {
            return Served::Dropped;
        }
    }
}

/// Routes one server message; false when the socket should be dropped.
async fn on_message(socket: &mut Socket, subs: &mut HashMap<u64, Sub>, text: &str) -> bool {
    let Ok(m) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let Some(id) = m["id"].as_str().and_then(|id| id.parse::<u64>().ok()) else {
        return true; // pong, or a message of the connection
    };
    let Some(sub) = subs.get_mut(&id) else {
        return true; // a subscription dropped meanwhile
    };
    match m["type"].as_str() {
        Some("event") => {
            let cursor = m["cursor"].as_i64().unwrap_or(0);
            let event = super::realtime::to_event(
                REQUEST,
                cursor,
                m["event"].as_str().unwrap_or(""),
                m["data"].clone(),
            );
            match event {
                Ok(Some(event)) => {
                    sub.cursor = Some(cursor);
                    if sub.out.send(Ok(event)).await.is_err() {
                        subs.remove(&id);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = sub.out.send(Err(e)).await;
                    subs.remove(&id);
                }
            }
        }
        Some("closed") => match m["reason"].as_str() {
            // The server could not go on: the same subscription again from its cursor.
            Some("interrupted") => return socket.send(sub.request()).await.is_ok(),
            _ => {
                subs.remove(&id);
            }
        },
        Some("error") => {
            let status = m["status"].as_u64().unwrap_or(400) as u16;
            let message = m["error"].as_str().unwrap_or("").to_string();
            let _ = sub.out.send(Err(refused(status, message))).await;
            subs.remove(&id);
        }
        _ => {}
    }
    true
}
