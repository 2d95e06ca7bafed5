//! `ai`: AI tool definitions. Each makes one task of an environment callable by a language
//! model: a tool name (what the model calls, `^[a-zA-Z0-9_-]{1,64}$` as the LLM APIs require),
//! a description (what the model reads to decide when to call it), the JSON Schema of its
//! arguments (which become the run's payload) and display options.
//!
//! When a definition gives no parameters, they are the task's payload schema, as declared by
//! the deployment serving the task; a task without one takes any object. A definition may only
//! name a task some deployment of the environment declares (`422` otherwise).
//!
//! The route checks what a client sent with [`check_spec`] and [`check_edit`], which bound
//! every field ([`MAX_DESCRIPTION_BYTES`], [`MAX_SCHEMA_BYTES`], [`MAX_SCHEMA_DEPTH`], …); the
//! commands (`create`, `update`, `delete`, `read`) take only checked values. An environment
//! holds at most [`MAX_TOOLS`] definitions, which is also why [`Engine::all_ai_tools`] needs
//! no paging.
//!
//! [`Engine::all_ai_tools`]: crate::Engine::all_ai_tools

mod create;
mod delete;
mod read;
mod task;
mod update;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trigr_store::AiTool;
use trigr_types::Millis;

use crate::{Error, Result};

/// The longest tool name, in characters (all ASCII).
pub const MAX_NAME_CHARS: usize = 64;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// The longest task id, in bytes.
pub const MAX_TASK_ID_BYTES: usize = 128;
/// The largest parameters schema, in bytes of its JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The deepest nesting of arrays and objects in a parameters schema.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// The longest display title, in bytes.
pub const MAX_TITLE_BYTES: usize = 200;
/// The most tool definitions an environment holds.
pub const MAX_TOOLS: usize = 100;

/// How a client shows a tool; every option is optional. The hints are those of MCP's tool
/// annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Display {
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The task only reads: calling it changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The task may destroy or overwrite data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
}

/// A new tool definition as a client sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub task_id: String,
    /// `None`: the task's payload schema.
    pub parameters: Option<Value>,
    pub display: Display,
}

/// A change to a tool definition: each field given replaces the stored one. Naming another
/// task without parameters takes that task's payload schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolEdit {
    pub description: Option<String>,
    pub task_id: Option<String>,
    pub parameters: Option<Value>,
    pub display: Option<Display>,
}

/// A stored tool definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDefinition {
    pub id: String,
    pub name: String,
    pub description: String,
    pub task_id: String,
    /// The JSON Schema of the arguments.
    pub parameters: Value,
    pub display: Display,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl ToolDefinition {
    /// The definition of a stored row.
    fn from_row(t: AiTool) -> Result<ToolDefinition> {
        let corrupt = |what: &str, e: serde_json::Error| {
            Error::Store(trigr_store::Error::Corrupt(format!(
                "ai tool {}: {what}: {e}",
                t.id
            )))
        };
        let parameters =
            serde_json::from_str(&t.parameters).map_err(|e| corrupt("parameters", e))?;
        let display = serde_json::from_str(&t.display).map_err(|e| corrupt("display", e))?;
        Ok(ToolDefinition {
            id: t.id,
            name: t.name,
            description: t.description,
            task_id: t.task_id,
            parameters,
            display,
            created_at: t.created_at,
            updated_at: t.updated_at,
        })
    }
}

/// A tool name: 1 to [`MAX_NAME_CHARS`] ASCII letters, digits, `_` or `-`, but not `export`.
pub fn check_name(name: &str) -> Result<()> {
    let valid = (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if name == "export" {
        return Err(Error::invalid(
            "name 'export' is reserved (GET /api/v1/ai/tools/export exports the tools)",
        ));
    }
    if !valid {
        return Err(Error::invalid(format!(
            "name must be 1 to {MAX_NAME_CHARS} ASCII letters, digits, '_' or '-' \
             (^[a-zA-Z0-9_-]{{1,64}}$)"
        )));
    }
    Ok(())
}

/// A text field: 1 to `max` bytes, no NUL or control character but newline and tab.
fn check_text(what: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if text.len() > max {
        return Err(Error::invalid(format!(
            "{what} is {} bytes long; the limit is {max}",
            text.len()
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(format!(
            "{what} must not contain NUL bytes or other control characters"
        )));
    }
    Ok(())
}

fn check_task_id(task_id: &str) -> Result<()> {
    check_text("taskId", task_id, MAX_TASK_ID_BYTES)?;
    if task_id.chars().any(char::is_whitespace) {
        return Err(Error::invalid("taskId must not contain whitespace"));
    }
    Ok(())
}

fn check_display(display: &Display) -> Result<()> {
    match &display.title {
        Some(title) => check_text("display.title", title, MAX_TITLE_BYTES),
        None => Ok(()),
    }
}

/// How deeply arrays and objects nest in `v`, counting stops once past `limit`.
fn depth(v: &Value, limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    let inner = match v {
        Value::Array(items) => items.iter().map(|i| depth(i, limit - 1)).max(),
        Value::Object(map) => map.values().map(|i| depth(i, limit - 1)).max(),
        _ => return 0,
    };
    1 + inner.unwrap_or(0)
}

/// The JSON Schema of a tool's arguments: at most [`MAX_SCHEMA_BYTES`] of JSON (413 beyond)
/// and [`MAX_SCHEMA_DEPTH`] levels, a valid JSON Schema of an object (`"type": "object"`, as
/// the LLM APIs require). `what` names it in the message.
pub fn check_parameters(what: &str, schema: &Value) -> Result<()> {
    let size = schema.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        return Err(Error::TooLarge(format!(
            "{what} is {size} bytes of JSON; the limit is {MAX_SCHEMA_BYTES}"
        )));
    }
    if depth(schema, MAX_SCHEMA_DEPTH + 1) > MAX_SCHEMA_DEPTH {
        return Err(Error::invalid(format!(
            "{what} nests deeper than {MAX_SCHEMA_DEPTH} levels"
        )));
    }
    if schema.get("type") != Some(&Value::String("object".into())) {
        return Err(Error::invalid(format!(
            "{what} must be a JSON Schema object with \"type\": \"object\" (tool arguments are an object)"
        )));
    }
    jsonschema::validator_for(schema)
        .map_err(|e| Error::invalid(format!("{what} is not a valid JSON Schema: {e}")))?;
    Ok(())
}

/// A new definition a client sent, checked but for its task's existence (the command's).
pub fn check_spec(spec: &ToolSpec) -> Result<()> {
    check_name(&spec.name)?;
    check_text("description", &spec.description, MAX_DESCRIPTION_BYTES)?;
    check_task_id(&spec.task_id)?;
    if let Some(p) = &spec.parameters {
        check_parameters("parameters", p)?;
    }
    check_display(&spec.display)
}

/// A change a client sent, checked but for its task's existence.
pub fn check_edit(edit: &ToolEdit) -> Result<()> {
    if let Some(d) = &edit.description {
        check_text("description", d, MAX_DESCRIPTION_BYTES)?;
    }
    if let Some(t) = &edit.task_id {
        check_task_id(t)?;
    }
    if let Some(p) = &edit.parameters {
        check_parameters("parameters", p)?;
    }
    match &edit.display {
        Some(d) => check_display(d),
        None => Ok(()),
    }
}

/// The schema a task without a payload schema takes: any object.
fn any_object() -> Value {
    serde_json::json!({"type": "object"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_llm_syntax() {
        for good in ["a", "get_weather", "send-email-2", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "dot.ted", "ümlaut", "a\0", &"x".repeat(65)] {
            assert!(matches!(check_name(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn parameters_are_bounded_object_schemas() {
        let ok = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        assert!(check_parameters("p", &ok).is_ok());
        assert!(check_parameters("p", &json!({"type": "string"})).is_err());
        assert!(check_parameters("p", &json!([1])).is_err());
        let bad_schema = json!({"type": "object", "minProperties": "many"});
        assert!(matches!(
            check_parameters("p", &bad_schema),
            Err(Error::Invalid(_))
        ));
        let mut deep = json!({});
        for _ in 0..MAX_SCHEMA_DEPTH {
            deep = json!({ "a": deep });
        }
        let deep = json!({"type": "object", "properties": deep});
        assert!(matches!(
            check_parameters("p", &deep),
            Err(Error::Invalid(_))
        ));
        let big = json!({"type": "object", "description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(matches!(
            check_parameters("p", &big),
            Err(Error::TooLarge(_))
        ));
    }

    #[test]
    fn texts_refuse_control_characters_and_excess() {
        assert!(check_text("d", "two\nlines\tand tab", 100).is_ok());
        assert!(check_text("d", "nul\0", 100).is_err());
        assert!(check_text("d", "   ", 100).is_err());
        assert!(check_text("d", &"x".repeat(101), 100).is_err());
    }
}
