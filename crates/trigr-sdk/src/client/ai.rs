//! AI tools (`/api/v1/ai/tools…`): tool definitions made from tasks, exported in the shapes
//! the LLM APIs take, and [`Ai::execute`], which runs a model's tool call as a run of the
//! tool's task and answers the tool result to send back to the model.
//!
//! A definition names a task some deployment of the environment declares; its parameters
//! (the JSON Schema of the arguments, which become the run's payload) default to the task's
//! payload schema.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client, model_call: serde_json::Value) -> trigr_sdk::Result<()> {
//! use std::time::Duration;
//! use trigr_sdk::ai::{ExportFormat, NewTool};
//! let ai = client.ai();
//! ai.create(NewTool::new("get_weather", "The weather of a city", "weather")).await?;
//! let tools = ai.export(ExportFormat::OpenAi).await?; // the request's `tools`
//! // The model answered `{"id": "call_1", "type": "function", "function": {…}}`:
//! let result = ai.execute(&model_call, Duration::from_secs(60)).await?;
//! let message = result.message; // {"role": "tool", "tool_call_id": "call_1", "content": …}
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
pub use trigr_types::wire::ai::{
    AiTool, AiToolDeleted, AiToolDisplay, AiToolList, AnthropicTool, OpenAiTool,
};
use trigr_types::RunStatus;

use crate::client::poll::PollOptions;
use crate::client::types::TriggerOptions;
use crate::error::{Error, Result};
use crate::http::{encode, Tries};
use crate::Client;

/// The AI tools API of one client ([`Client::ai`](crate::Client::ai)).
#[derive(Clone, Debug)]
pub struct Ai {
    pub(crate) client: Client,
}

/// A tool definition to make.
#[derive(Clone, Debug)]
pub struct NewTool {
    fields: Map<String, Value>,
}

impl NewTool {
    /// A tool `name` (`^[a-zA-Z0-9_-]{1,64}$`) described to the model by `description`,
    /// triggering `task_id`; its parameters are the task's payload schema.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        task_id: impl Into<String>,
    ) -> NewTool {
        let mut fields = Map::new();
        fields.insert("name".into(), json!(name.into()));
        fields.insert("description".into(), json!(description.into()));
        fields.insert("taskId".into(), json!(task_id.into()));
        NewTool { fields }
    }
    /// The JSON Schema of the arguments (an object schema) instead of the task's.
    pub fn parameters(mut self, schema: Value) -> Self {
        self.fields.insert("parameters".into(), schema);
        self
    }
    /// How clients show it.
    pub fn display(mut self, display: AiToolDisplay) -> Self {
        self.fields.insert("display".into(), json!(display));
        self
    }
}

/// What to change on a definition; what is not given stays (the name always does).
#[derive(Clone, Debug, Default)]
pub struct ToolChanges {
    fields: Map<String, Value>,
}

impl ToolChanges {
    pub fn new() -> ToolChanges {
        ToolChanges::default()
    }
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.fields.insert("description".into(), json!(text.into()));
        self
    }
    /// Another task; without [`ToolChanges::parameters`], its payload schema.
    pub fn task_id(mut self, task_id: impl Into<String>) -> Self {
        self.fields.insert("taskId".into(), json!(task_id.into()));
        self
    }
    pub fn parameters(mut self, schema: Value) -> Self {
        self.fields.insert("parameters".into(), schema);
        self
    }
    pub fn display(mut self, display: AiToolDisplay) -> Self {
        self.fields.insert("display".into(), json!(display));
        self
    }
}

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// OpenAI's `tools`: `[{"type": "function", "function": {name, description, parameters}}]`.
    OpenAi,
    /// Anthropic's `tools`: `[{name, description, input_schema}]`.
    Anthropic,
}

/// A model's call of a tool, in either API's form.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolCall {
    /// `{"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}`.
    OpenAi {
        id: String,
        name: String,
        arguments: Value,
    },
    /// `{"type": "tool_use", "id", "name", "input"}`.
    Anthropic {
        id: String,
        name: String,
        input: Value,
    },
}

#[derive(Deserialize)]
struct OpenAiCall {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    function: OpenAiCallFunction,
}

#[derive(Deserialize)]
struct OpenAiCallFunction {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct AnthropicCall {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    name: String,
    input: Value,
}

impl ToolCall {
    /// Reads a tool call a model answered: OpenAI's (`"type": "function"`, its arguments
    /// JSON text) or Anthropic's (`"type": "tool_use"`).
    pub fn parse(call: &Value) -> Result<ToolCall> {
        let bad = |why: &str| Error::Config(format!("not a tool call: {why}"));
        match call.get("type").and_then(Value::as_str) {
            Some("function") => {
                let c: OpenAiCall = serde_json::from_value(call.clone())
                    .map_err(|e| Error::json("the OpenAI tool call", e))?;
                debug_assert_eq!(c.kind, "function");
                let arguments = match c.function.arguments.trim() {
                    "" => json!({}),
                    text => serde_json::from_str(text)
                        .map_err(|e| Error::json("the tool call's arguments", e))?,
                };
                Ok(ToolCall::OpenAi {
                    id: c.id,
                    name: c.function.name,
                    arguments,
                })
            }
            Some("tool_use") => {
                let c: AnthropicCall = serde_json::from_value(call.clone())
                    .map_err(|e| Error::json("the Anthropic tool call", e))?;
                debug_assert_eq!(c.kind, "tool_use");
                Ok(ToolCall::Anthropic {
                    id: c.id,
                    name: c.name,
                    input: c.input,
                })
            }
            _ => Err(bad(
                "\"type\" is neither \"function\" (OpenAI) nor \"tool_use\" (Anthropic)",
            )),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        match self {
            ToolCall::OpenAi { name, .. } | ToolCall::Anthropic { name, .. } => name,
        }
    }

    /// The arguments: the payload of the run.
    pub fn arguments(&self) -> &Value {
        match self {
            ToolCall::OpenAi { arguments, .. } => arguments,
            ToolCall::Anthropic { input, .. } => input,
        }
    }

    /// The tool result message answering this call, in its API's form.
    fn answer(&self, content: String, is_error: bool) -> Value {
        match self {
            ToolCall::OpenAi { id, .. } => {
                json!({"role": "tool", "tool_call_id": id, "content": content})
            }
            ToolCall::Anthropic { id, .. } => json!({
                "type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error
            }),
        }
    }
}

/// What [`Ai::execute`] answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The run the call made.
    pub run_id: String,
    /// Whether the run failed (or was cancelled, or expired) rather than completed.
    pub is_error: bool,
    /// The run's output as JSON text, or the failure's message.
    pub content: String,
    /// The message to send back to the model: OpenAI's
    /// `{"role": "tool", "tool_call_id", "content"}` or Anthropic's
    /// `{"type": "tool_result", "tool_use_id", "content", "is_error"}`.
    pub message: Value,
}

fn path(name: &str) -> String {
    format!("/api/v1/ai/tools/{}", encode(name))
}

impl Ai {
    /// Makes a definition (`201`); `409` when the name is taken, `422` when no deployment
    /// declares the task.
    pub async fn create(&self, tool: NewTool) -> Result<AiTool> {
        let body = Value::Object(tool.fields);
        let http = &self.client.http;
        http.call(Method::POST, "/api/v1/ai/tools", Some(&body), Tries::Once)
            .await
    }

    /// Page `page` (from 1) of `per_page` (1 to 100) definitions, by name.
    pub async fn list(&self, page: u32, per_page: u32) -> Result<AiToolList> {
        let path = format!("/api/v1/ai/tools?page={page}&perPage={per_page}");
        self.client
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// Every definition of the environment (at most 100), by name.
    pub async fn all(&self) -> Result<Vec<AiTool>> {
        Ok(self.list(1, 100).await?.data)
    }

    /// The definition named `name`.
    pub async fn retrieve(&self, name: &str) -> Result<AiTool> {
        self.client
            .http
            .call(Method::GET, &path(name), None, Tries::Transient)
            .await
    }

    /// Changes the definition named `name`.
    pub async fn update(&self, name: &str, changes: ToolChanges) -> Result<AiTool> {
        let body = Value::Object(changes.fields);
        self.client
            .http
            .call(Method::PATCH, &path(name), Some(&body), Tries::Transient)
            .await
    }

    /// Deletes the definition named `name`.
    pub async fn delete(&self, name: &str) -> Result<AiToolDeleted> {
        self.client
            .http
            .call(Method::DELETE, &path(name), None, Tries::Once)
            .await
    }

    /// Every definition in the shape an LLM API takes as its `tools`: a JSON array to put in
    /// the request as it is.
    pub async fn export(&self, format: ExportFormat) -> Result<Value> {
        let format = match format {
            ExportFormat::OpenAi => "openai",
            ExportFormat::Anthropic => "anthropic",
        };
        let path = format!("/api/v1/ai/tools/export?format={format}");
        self.client
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// Runs a model's tool call (OpenAI's or Anthropic's form, see [`ToolCall::parse`]):
    /// triggers the tool's task with the arguments as payload, waits for the run to finish
    /// (at most `timeout`, polling with [`Client::poll_run_with`]) and answers the tool
    /// result message. A failed run is a result with `is_error`, for the model to read; an
    /// unknown tool, a refused trigger or a run still going at `timeout` is an `Err`.
    pub async fn execute(&self, call: &Value, timeout: Duration) -> Result<ToolResult> {
        let call = ToolCall::parse(call)?;
        let tool = self.retrieve(call.name()).await?;
        let handle = self
            .client
            .trigger_id(&tool.task_id, call.arguments(), TriggerOptions::new())
            .await?;
        let run = self
            .client
            .poll_run_with(&handle.id, PollOptions::new().timeout(timeout))
            .await?;
        let (content, is_error) = match run.status {
            RunStatus::Completed => {
                let output = run.output.unwrap_or(Value::Null);
                (output.to_string(), false)
            }
            status => {
                let message = run.error.map(|e| e.message);
                let message = message.unwrap_or_else(|| format!("The run ended {status}"));
                (message, true)
            }
        };
        Ok(ToolResult {
            run_id: run.id,
            message: call.answer(content.clone(), is_error),
            is_error,
            content,
        })
    }
}
