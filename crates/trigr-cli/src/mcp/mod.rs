//! `trigr mcp`: a Model Context Protocol server on standard input and output, so that an MCP
//! client (a chat application, an IDE) can use a trigr environment: list its tasks, trigger them,
//! read, list and cancel runs, read a run's logs, and call each of the environment's AI tool
//! definitions as a tool of its own (the `tools` module).
//!
//! The transport is JSON-RPC 2.0, one message a line. Only protocol messages go to standard
//! output; diagnostics go to standard error. Every input is checked: a line over
//! [`MAX_LINE_BYTES`] (discarded up to its end), text that is not JSON, a message that is not
//! a JSON-RPC request, an unknown method and wrong parameters are each answered with a
//! JSON-RPC error (codes -32700, -32600, -32601, -32602) and the server reads on.

mod tools;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::api::{Api, ConnectionArgs};

/// The longest line read, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// The protocol version answered to `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// Arguments of `trigr mcp`.
#[derive(clap::Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// A JSON-RPC error: a code and a sentence.
#[derive(Debug)]
pub(crate) struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    pub(crate) fn params(message: impl Into<String>) -> RpcError {
        RpcError {
            code: INVALID_PARAMS,
            message: message.into(),
        }
    }
}

/// Serves MCP on standard input and output until standard input ends.
pub async fn serve(args: McpArgs) -> anyhow::Result<()> {
    let api = Api::connect(&args.conn)?;
    serve_on(&api, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves MCP on `input` and `output` until `input` ends.
pub async fn serve_on(
    api: &Api,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let mut reader = BufReader::new(input);
    loop {
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        let answer = if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            skip_line(&mut reader).await?;
            Some(error(
                Value::Null,
                INVALID_REQUEST,
                format!("The message is over {MAX_LINE_BYTES} bytes"),
            ))
        } else {
            answer_line(api, &line).await
        };
        if let Some(answer) = answer {
            let mut text = answer.to_string();
            text.push('\n');
            output.write_all(text.as_bytes()).await?;
            output.flush().await?;
        }
    }
}

/// Reads and drops the rest of an over-long line, in bounded chunks.
async fn skip_line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> std::io::Result<()> {
    loop {
        let mut chunk = Vec::new();
        let n = reader.take(64 * 1024).read_until(b'\n', &mut chunk).await?;
        if n == 0 || chunk.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// The answer to one line; `None` for a notification (and a blank line).
async fn answer_line(api: &Api, line: &[u8]) -> Option<Value> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Some(error(
            Value::Null,
            PARSE_ERROR,
            "Not JSON: the line is not UTF-8",
        ));
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let message: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, PARSE_ERROR, format!("Not JSON: {e}"))),
    };
    let id = message.get("id").cloned();
    let valid_id = matches!(&id, None | Some(Value::String(_) | Value::Number(_)));
    let method = message.get("method").and_then(Value::as_str);
    let (Some(method), true, Some("2.0")) = (
        method,
        valid_id,
        message.get("jsonrpc").and_then(Value::as_str),
    ) else {
        let id = id.filter(|_| valid_id).unwrap_or(Value::Null);
        return Some(error(
            id,
            INVALID_REQUEST,
            "Not a JSON-RPC 2.0 request: it needs \"jsonrpc\": \"2.0\", a string \"method\" and a string or number \"id\"",
        ));
    };
    let params = message.get("params").cloned().unwrap_or(json!({}));
    let Some(id) = id else {
        if method != "notifications/initialized" {
            eprintln!("trigr mcp: ignoring notification {method}");
        }
        return None;
    };
    Some(match dispatch(api, method, params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error(id, e.code, e.message),
    })
}

async fn dispatch(api: &Api, method: &str, params: Value) -> Result<Value, RpcError> {
    if !params.is_object() {
        return Err(RpcError::params("params must be an object"));
    }
    match method {
        "initialize" => Ok(json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "trigr", "version": env!("CARGO_PKG_VERSION")},
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools::list(api).await})),
        "tools/call" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::params("tools/call needs a string \"name\""))?;
            let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
            if !arguments.is_object() {
                return Err(RpcError::params("arguments must be an object"));
            }
            tools::call(api, name, arguments).await
        }
        other => Err(RpcError {
            code: METHOD_NOT_FOUND,
            message: format!("Unknown method '{other}'"),
        }),
    }
}
