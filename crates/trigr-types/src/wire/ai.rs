//! The bodies of the AI tools API (`/api/v1/ai/tools…`): tool definitions made from tasks,
//! and their exports in the shapes the LLM APIs take (OpenAI `tools` function definitions,
//! Anthropic `tools`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::OffsetPagination;
use super::Timestamp;

/// How a client shows a tool; every option is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiToolDisplay {
    /// A human-readable name (at most 200 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The task only reads: calling it changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The task may destroy or overwrite data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
}

/// Body of `POST /api/v1/ai/tools`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({
        "name": "get_weather",
        "description": "The current weather of a city",
        "taskId": "weather/current",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "display": {"title": "Weather", "readOnly": true}
    }))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAiToolBody {
    /// The tool name a model calls: `^[a-zA-Z0-9_-]{1,64}$`, unique in the environment.
    pub name: String,
    /// What the tool does, for the model (at most 4096 bytes).
    pub description: String,
    /// The task a call triggers; a deployment of the environment must declare it.
    pub task_id: String,
    /// The JSON Schema of the arguments (an object schema, at most 64 KiB and 32 levels);
    /// the task's payload schema when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<AiToolDisplay>,
}

/// Body of `PATCH /api/v1/ai/tools/{name}`: each field given replaces the stored one; the
/// name stays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAiToolBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Another task; without `parameters`, the tool takes its payload schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<AiToolDisplay>,
}

/// A tool definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AiTool {
    /// `aitool_…`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub task_id: String,
    /// The JSON Schema of the arguments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Value,
    pub display: AiToolDisplay,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Answer of `GET /api/v1/ai/tools`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiToolList {
    pub data: Vec<AiTool>,
    pub pagination: OffsetPagination,
}

/// The `function` of an [`OpenAiTool`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiFunction {
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Value,
}

/// One tool as OpenAI's `tools` takes it: `{"type": "function", "function": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiTool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: OpenAiFunction,
}

/// One tool as Anthropic's `tools` takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnthropicTool {
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input_schema: Value,
}

/// Answer of `GET /api/v1/ai/tools/export`: every definition in one format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum AiToolExport {
    /// `format=openai`.
    OpenAi(Vec<OpenAiTool>),
    /// `format=anthropic`.
    Anthropic(Vec<AnthropicTool>),
}

/// Answer of `DELETE /api/v1/ai/tools/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiToolDeleted {
    pub name: String,
    /// Always `true`.
    pub deleted: bool,
}
