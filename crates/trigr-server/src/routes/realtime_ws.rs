//! Realtime over WebSocket: `GET /api/v1/realtime/ws`, one connection carrying many
//! subscriptions (the protocol is in `docs/api.md`).
//!
//! The caller is authenticated before the upgrade, like the SSE routes; each subscription is
//! then checked against the caller's scopes as the matching SSE route would check it. A
//! subscription is an SSE stream ([`super::events`]) written as JSON text messages tagged
//! with the subscription's id, so it resumes from the same cursor (the last event id).
//!
//! Backpressure: every subscription hands its messages to one queue per connection of
//! [`QUEUE`] messages, which one writer empties into the socket. When the client reads
//! slower than events come, the queue fills and the subscriptions wait for room; while
//! they wait they take nothing from the live feed, which moves on without them, and they
//! catch up from the store by their cursor when the client reads again. Nothing is dropped
//! and the server holds at most the queue plus one step's messages (a page of stored
//! events) per subscription. A peer that sends nothing for three ping intervals (it answers
//! no ping) is disconnected.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use trigr_engine::selection::Selection;

use super::events::{self, Stream, Wire, CLOSING};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, StreamAuth};
use crate::AppState;

/// Most subscriptions one connection carries at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Longest client message read as a request; a longer one gets an error message.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Longest client message or frame the socket accepts at all; a longer one closes the
/// connection (close code 1009) before it is buffered.
pub const MAX_FRAME: usize = 64 * 1024;
/// Longest subscription id.
pub const MAX_ID: usize = 128;
/// Subscription messages waiting for the socket, per connection.
pub const QUEUE: usize = 32;
/// Replies (pong, errors, pings) waiting for the socket, per connection; a client that
/// fills it without reading is disconnected.
const CONTROL_QUEUE: usize = 64;
/// Ping intervals a peer may stay silent; it is disconnected at the next ping time.
const SILENT_PINGS: u32 = 3;

/// `GET /api/v1/realtime/ws`.
#[utoipa::path(
    get,
    path = "/api/v1/realtime/ws",
    tag = "realtime",
    operation_id = "realtimeWebSocket",
    security(("secretKey" = []), ("publicAccessToken" = []), ("accessTokenQuery" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol: JSON text messages, `subscribe`/`unsubscribe`/`ping` from the client, `subscribed`/`event`/`closed`/`error`/`pong` from the server (docs/api.md)"),
        (status = 400, description = "Not a WebSocket upgrade request", body = crate::openapi::schemas::ErrorBody),
        (status = 401, description = "No valid secret key or public access token", body = crate::openapi::schemas::ErrorBody),
        (status = 503, description = "As many WebSockets are open as the server serves connections", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn connect(
    State(state): State<AppState>,
    StreamAuth(auth): StreamAuth,
    Credential(credential): Credential,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            e.status(),
            format!("GET /api/v1/realtime/ws needs a WebSocket upgrade request: {e}"),
        )
    })?;
    let slot = state.ws_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "As many realtime WebSockets are open as this server serves: try again later",
        )
    })?;
    let ping = state.ws_ping;
    Ok(upgrade
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            serve(socket, state, Holder { auth, credential }, ping).await;
            drop(slot);
        }))
}

/// The credential the upgrade request carried, checked again while the connection lasts.
pub struct Credential(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Credential {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        crate::extract::stream_credential(parts)
            .map(Credential)
            .ok_or_else(|| ApiError::unauthorized("Invalid or Missing API key"))
    }
}

/// Who holds a connection: what the credential allowed when it opened, and the credential,
/// checked again at each message and ping (a token may expire, a key be revoked).
struct Holder {
    auth: Auth,
    credential: String,
}

/// A client message.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum Request {
    #[serde(rename_all = "camelCase")]
    Subscribe {
        id: String,
        topic: Topic,
        cursor: Option<i64>,
        #[serde(default)]
        stop_on_completion: bool,
    },
    Unsubscribe {
        id: String,
    },
    Ping,
}

/// What a subscription follows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum Topic {
    Run(String),
    Tag(String),
    Tags(Vec<String>),
    Batch(String),
}

/// Messages of one connection to its writer.
#[derive(Clone)]
struct Outbox {
    events: mpsc::Sender<Message>,
    control: mpsc::Sender<Message>,
}

impl Outbox {
    /// A reply; false when the client does not read its replies (or the writer is gone).
    fn reply(&self, message: Value) -> bool {
        self.control
            .try_send(Message::Text(message.to_string().into()))
            .is_ok()
    }

    /// A subscription's message, waiting for room in the queue; false when the connection
    /// is gone.
    async fn send(&self, text: Bytes) -> bool {
        let Ok(text) = Utf8Bytes::try_from(text) else {
            return true; // never: every message is JSON text
        };
        self.events.send(Message::Text(text)).await.is_ok()
    }
}

/// The error message of a subscription (or, without an id, of the connection).
fn error(id: Option<&str>, status: u16, message: &str) -> Value {
    json!({ "type": "error", "id": id, "status": status, "error": message })
}

async fn serve(socket: WebSocket, state: AppState, holder: Holder, ping: Duration) {
    let (mut sink, mut incoming) = socket.split();
    let (events, mut events_rx) = mpsc::channel::<Message>(QUEUE);
    let (control, mut control_rx) = mpsc::channel::<Message>(CONTROL_QUEUE);
    let outbox = Outbox { events, control };
    let writer = tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                biased;
                m = control_rx.recv() => m,
                m = events_rx.recv() => m,
            };
            let Some(message) = message else { break };
            let close = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || close {
                break;
            }
        }
    });
    let mut connection = Connection {
        state,
        auth: holder.auth,
        credential: holder.credential,
        outbox,
        subscriptions: HashMap::new(),
    };
    let mut pings = tokio::time::interval_at(Instant::now() + ping, ping);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Ping intervals that passed with nothing from the peer.
    let mut silent = 0;
    let mut closing = Box::pin(connection.state.engine.signal(CLOSING).notified_owned());
    closing.as_mut().enable();
    loop {
        let message = tokio::select! {
            m = incoming.next() => m,
            _ = pings.tick() => {
                silent += 1;
                if silent > SILENT_PINGS {
                    tracing::debug!("closing a silent realtime WebSocket");
                    break;
                }
                if !connection.still_authorised().await {
                    break;
                }
                if !connection.outbox.reply_message(Message::Ping(Bytes::new())) {
                    break;
                }
                continue;
            }
            _ = &mut closing => break,
        };
        silent = 0;
        let keep = match message {
            Some(Ok(Message::Text(text))) => {
                connection.still_authorised().await && connection.on_text(text.as_str())
            }
            Some(Ok(Message::Binary(_))) => connection.outbox.reply(error(
                None,
                400,
                "Send JSON text messages, not binary ones",
            )),
            Some(Ok(Message::Close(_))) | None => false,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
            Some(Err(e)) => {
                tracing::debug!("realtime WebSocket read failed: {e}");
                let _ = connection
                    .outbox
                    .reply_message(Message::Close(Some(CloseFrame {
                        code: close_code(e),
                        reason: Utf8Bytes::from_static("unreadable message"),
                    })));
                false
            }
        };
        if !keep {
            break;
        }
    }
    connection.end();
    // Let the writer send a close frame it has; it ends when every sender is gone, or is
    // ended when a peer that does not read holds it longer than a ping interval.
    drop(connection);
    let abort = writer.abort_handle();
    if tokio::time::timeout(ping, writer).await.is_err() {
        abort.abort();
    }
}

/// 1009 (message too big) for an oversized message, 1002 (protocol error) otherwise.
fn close_code(e: axum::Error) -> u16 {
    use tokio_tungstenite::tungstenite::Error;
    match e.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Capacity(_)) => 1009,
        _ => 1002,
    }
}

impl Outbox {
    fn reply_message(&self, message: Message) -> bool {
        self.control.try_send(message).is_ok()
    }
}

/// The subscriptions of one connection.
struct Connection {
    state: AppState,
    auth: Auth,
    /// The credential the connection opened with ([`Holder`]).
    credential: String,
    outbox: Outbox,
    subscriptions: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    /// Whether the connection's credential is still good: a public token not expired, a
    /// secret key not revoked, for the same environment. When it is not, the client is told
    /// (`error` 401, then close code 1008) and the connection ends with its subscriptions. A
    /// store that cannot answer now is no reason to end it.
    async fn still_authorised(&mut self) -> bool {
        let why = match crate::extract::recheck(&self.state, &self.credential).await {
            Ok(auth) if auth.env_id == self.auth.env_id => return true,
            Ok(_) => "The credential of this connection now names another environment".into(),
            Err(e) if e.status.is_server_error() => return true,
            Err(e) => e.message,
        };
        let _ = self.outbox.reply(error(
            None,
            401,
            &format!("{why}: connect again with a valid key or token"),
        ));
        let _ = self.outbox.reply_message(Message::Close(Some(CloseFrame {
            code: 1008,
            reason: Utf8Bytes::from_static("credential expired or revoked"),
        })));
        false
    }

    /// Handles one text message; false ends the connection.
    fn on_text(&mut self, text: &str) -> bool {
        if text.len() > MAX_MESSAGE {
            return self.outbox.reply(error(
                None,
                400,
                &format!(
                    "A message may be at most {MAX_MESSAGE} bytes, got {}",
                    text.len()
                ),
            ));
        }
        if text.contains('\0') {
            return self
                .outbox
                .reply(error(None, 400, "Messages may not contain NUL characters"));
        }
        match serde_json::from_str::<Request>(text) {
            Ok(Request::Ping) => self.outbox.reply(json!({ "type": "pong" })),
            Ok(Request::Unsubscribe { id }) => self.unsubscribe(id),
            Ok(Request::Subscribe {
                id,
                topic,
                cursor,
                stop_on_completion,
            }) => self.subscribe(id, topic, cursor, stop_on_completion),
            Err(e) => self.outbox.reply(error(
                request_id(text).as_deref(),
                400,
                &format!("Not a message of this protocol: {e}"),
            )),
        }
    }

    fn subscribe(
        &mut self,
        id: String,
        topic: Topic,
        cursor: Option<i64>,
        stop_on_completion: bool,
    ) -> bool {
        if let Err(problem) = check_id(&id) {
            return self.outbox.reply(error(None, 400, &problem));
        }
        self.subscriptions.retain(|_, task| !task.is_finished());
        if self.subscriptions.contains_key(&id) {
            return self.outbox.reply(error(
                Some(&id),
                409,
                &format!("Subscription {id} is already open on this connection"),
            ));
        }
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return self.outbox.reply(error(
                Some(&id),
                429,
                &format!("At most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            ));
        }
        if cursor.is_some_and(|c| c < 0) {
            return self
                .outbox
                .reply(error(Some(&id), 400, "cursor must be a whole number"));
        }
        let opts = events::Options {
            last_event_id: cursor,
            stop_on_completion,
            tags: Vec::new(),
        };
        let task = tokio::spawn(run_subscription(
            self.state.clone(),
            self.auth.clone(),
            self.outbox.clone(),
            id.clone(),
            topic,
            opts,
        ));
        self.subscriptions.insert(id, task);
        true
    }

    fn unsubscribe(&mut self, id: String) -> bool {
        match self.subscriptions.remove(&id) {
            Some(task) => {
                task.abort();
                self.outbox
                    .reply(json!({ "type": "closed", "id": id, "reason": "unsubscribed" }))
            }
            None => self.outbox.reply(error(
                Some(&id),
                404,
                &format!("No subscription {id} on this connection"),
            )),
        }
    }

    /// Ends every subscription.
    fn end(&mut self) {
        for (_, task) in self.subscriptions.drain() {
            task.abort();
        }
    }
}

/// The `id` of a message that did not parse, when it has a usable one.
fn request_id(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let id = value.get("id")?.as_str()?;
    check_id(id).ok().map(|()| id.to_string())
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(format!(
            "A subscription id is 1 to {MAX_ID} bytes, got {}",
            id.len()
        ));
    }
    if id.contains('\0') {
        return Err("A subscription id may not contain NUL characters".into());
    }
    Ok(())
}

/// A subscription: checked and opened, then its events until it ends.
async fn run_subscription(
    state: AppState,
    auth: Auth,
    outbox: Outbox,
    id: String,
    topic: Topic,
    opts: events::Options,
) {
    let wire = WsWire::new(&id);
    let opened = async {
        let selection = selection(&state, &auth, topic).await?;
        events::open(&state.engine, &auth, selection, opts, wire).await
    };
    let mut stream = match opened.await {
        Ok(stream) => stream,
        Err(e) => {
            let _ = outbox.reply(error(Some(&id), e.status.as_u16(), &e.message));
            return;
        }
    };
    let subscribed = json!({ "type": "subscribed", "id": id }).to_string();
    if !outbox.send(Bytes::from(subscribed)).await {
        return;
    }
    if !forward(&mut stream, &outbox).await {
        return;
    }
    let reason = if stream.completed() {
        "completed"
    } else {
        "interrupted"
    };
    let closed = json!({ "type": "closed", "id": id, "reason": reason, "cursor": stream.cursor() });
    let _ = outbox.send(Bytes::from(closed.to_string())).await;
}

/// Sends the stream's messages until it ends (true) or the connection is gone (false).
async fn forward(stream: &mut Stream<WsWire>, outbox: &Outbox) -> bool {
    while let Some(frames) = stream.next_frames().await {
        for frame in frames {
            if !outbox.send(frame).await {
                return false;
            }
        }
    }
    true
}

async fn selection(state: &AppState, auth: &Auth, topic: Topic) -> ApiResult<Selection> {
    let named = match &topic {
        Topic::Run(s) | Topic::Tag(s) | Topic::Batch(s) => std::slice::from_ref(s),
        Topic::Tags(tags) => tags.as_slice(),
    };
    if named.iter().any(|s| s.is_empty() || s.contains('\0')) {
        return Err(ApiError::bad_request(
            "A topic names non-empty ids and tags without NUL characters",
        ));
    }
    match topic {
        Topic::Run(run_id) => events::run_selection(&state.engine, auth, run_id).await,
        Topic::Tag(tag) => events::tags_selection(auth, vec![tag]),
        Topic::Tags(tags) => events::tags_selection(auth, tags),
        Topic::Batch(batch_id) => events::batch_selection(auth, batch_id),
    }
}

/// Events as JSON text messages tagged with the subscription's id.
struct WsWire {
    /// The subscription id as a JSON string.
    id: String,
}

impl WsWire {
    fn new(id: &str) -> WsWire {
        WsWire {
            id: Value::from(id).to_string(),
        }
    }
}

impl Wire for WsWire {
    fn event(&self, cursor: i64, event: &str, data: &str) -> Bytes {
        // `data` is JSON already; `event` is one of the fixed event names.
        Bytes::from(format!(
            r#"{{"type":"event","id":{},"cursor":{cursor},"event":"{event}","data":{data}}}"#,
            self.id
        ))
    }

    fn note(&self, text: &str) -> Option<Bytes> {
        let note = format!(
            r#"{{"type":"note","id":{},"message":{}}}"#,
            self.id,
            Value::from(text)
        );
        Some(Bytes::from(note))
    }

    /// The connection pings by itself.
    fn keep_alive(&self) -> Option<Bytes> {
        None
    }
}
