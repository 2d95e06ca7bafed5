//! `trigr ai-tools …`: the environment's AI tool definitions — list them, show one, make one
//! from a task, delete one, and export them all in the shape an LLM API takes as its `tools`
//! (to paste into a request or a config). `trigr mcp` serves the same tools to MCP clients.

use clap::builder::NonEmptyStringValueParser;
use trigr_sdk::ai::{AiTool, ExportFormat, NewTool};

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;
use crate::table;
use crate::trigger::{json_text, parse_json_flag};

/// Subcommands of `trigr ai-tools`.
#[derive(clap::Subcommand, Debug)]
pub enum AiToolsCommand {
    /// List the definitions: name, task, description.
    List(AiToolsListArgs),
    /// Show one definition as JSON (its parameters included).
    Get(AiToolNameArgs),
    /// Make a tool from a task; its parameters are the task's payload schema unless given.
    Create(AiToolCreateArgs),
    /// Delete a definition.
    Delete(AiToolNameArgs),
    /// Print every definition as an LLM API's `tools` array (JSON).
    Export(AiToolsExportArgs),
}

/// Arguments of `trigr ai-tools list`.
#[derive(clap::Args, Debug, Clone)]
pub struct AiToolsListArgs {
    /// Print the definitions as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments naming one definition.
#[derive(clap::Args, Debug, Clone)]
pub struct AiToolNameArgs {
    /// The tool's name.
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr ai-tools create`.
#[derive(clap::Args, Debug, Clone)]
pub struct AiToolCreateArgs {
    /// The tool's name, as a model calls it (letters, digits, `_` and `-`, at most 64).
    #[arg(value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub name: String,

    /// The task a call triggers.
    #[arg(long, value_name = "TASK", value_parser = NonEmptyStringValueParser::new())]
    pub task: String,

    /// What the tool does, for the model.
    #[arg(long, value_name = "TEXT", value_parser = NonEmptyStringValueParser::new())]
    pub description: String,

    /// The JSON Schema of the arguments (an object schema), `@FILE` or `-`; the task's payload
    /// schema without it.
    #[arg(long, value_name = "SCHEMA", allow_hyphen_values = true)]
    pub parameters: Option<String>,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr ai-tools export`.
#[derive(clap::Args, Debug, Clone)]
pub struct AiToolsExportArgs {
    /// The API whose `tools` shape to print.
    #[arg(long, value_enum, default_value_t = Format::Openai)]
    pub format: Format,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// The shapes an export can take.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[{"type": "function", "function": {name, description, parameters}}]`.
    Openai,
    /// `[{name, description, input_schema}]`.
    Anthropic,
}

/// Runs one `trigr ai-tools` subcommand and returns its output.
pub async fn execute(cmd: AiToolsCommand) -> anyhow::Result<String> {
    match cmd {
        AiToolsCommand::List(args) => {
            let api = Api::connect(&args.conn)?;
            let tools = api.sdk().ai().all().await.map_err(ApiError::from)?;
            if args.json {
                return Ok(output::json(&serde_json::to_value(&tools)?));
            }
            Ok(render(&tools))
        }
        AiToolsCommand::Get(args) => {
            let api = Api::connect(&args.conn)?;
            let tool = api.sdk().ai().retrieve(&args.name).await;
            let tool = tool.map_err(|e| ApiError::from(e).or_not_found(|| missing(&args.name)))?;
            Ok(output::json(&serde_json::to_value(&tool)?))
        }
        AiToolsCommand::Create(args) => create(args).await,
        AiToolsCommand::Delete(args) => {
            let api = Api::connect(&args.conn)?;
            let deleted = api.sdk().ai().delete(&args.name).await;
            deleted.map_err(|e| ApiError::from(e).or_not_found(|| missing(&args.name)))?;
            Ok(format!("Deleted AI tool {}.\n", args.name))
        }
        AiToolsCommand::Export(args) => {
            let api = Api::connect(&args.conn)?;
            let format = match args.format {
                Format::Openai => ExportFormat::OpenAi,
                Format::Anthropic => ExportFormat::Anthropic,
            };
            let tools = api.sdk().ai().export(format).await;
            Ok(output::json(&tools.map_err(ApiError::from)?))
        }
    }
}

async fn create(args: AiToolCreateArgs) -> anyhow::Result<String> {
    let mut tool = NewTool::new(&args.name, &args.description, &args.task);
    if let Some(schema) = &args.parameters {
        let text = json_text("--parameters", schema)?;
        tool = tool.parameters(parse_json_flag("--parameters", &text)?);
    }
    let api = Api::connect(&args.conn)?;
    let made = api.sdk().ai().create(tool).await.map_err(ApiError::from)?;
    Ok(format!(
        "Created AI tool {} (task {}).\n",
        made.name, made.task_id
    ))
}

fn missing(name: &str) -> String {
    format!("AI tool {name} was not found.")
}

fn render(tools: &[AiTool]) -> String {
    if tools.is_empty() {
        return "No AI tools.\n".to_string();
    }
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|t| vec![t.name.clone(), t.task_id.clone(), t.description.clone()])
        .collect();
    table::render(&["NAME", "TASK", "DESCRIPTION"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{task, TestServer};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn creates_lists_exports_and_deletes_tools() {
        let server = TestServer::start().await;
        server.deploy(vec![task("lookup")]).await;
        let create_args = |name: &str, task: &str| AiToolCreateArgs {
            name: name.into(),
            task: task.into(),
            description: "Looks up an order".into(),
            parameters: Some(r#"{"type":"object","properties":{"id":{"type":"string"}}}"#.into()),
            conn: server.conn(),
        };
        let text = execute(AiToolsCommand::Create(create_args("find_order", "lookup"))).await;
        assert_eq!(
            text.expect("create"),
            "Created AI tool find_order (task lookup).\n"
        );
        let err = execute(AiToolsCommand::Create(create_args("other", "nope"))).await;
        let err = err.expect_err("a task no deployment declares").to_string();
        assert!(err.contains("(422)"), "{err}");

        let list = AiToolsListArgs {
            json: false,
            conn: server.conn(),
        };
        let text = execute(AiToolsCommand::List(list)).await.expect("list");
        let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(&row[..2], ["find_order", "lookup"], "{text}");

        let export = |format| AiToolsExportArgs {
            format,
            conn: server.conn(),
        };
        let text = execute(AiToolsCommand::Export(export(Format::Openai))).await;
        let tools: Value = serde_json::from_str(&text.expect("export")).expect("JSON");
        assert_eq!(tools[0]["type"], "function");
        assert_eq!(tools[0]["function"]["name"], "find_order");
        let text = execute(AiToolsCommand::Export(export(Format::Anthropic))).await;
        let tools: Value = serde_json::from_str(&text.expect("export")).expect("JSON");
        assert_eq!(
            tools[0]["input_schema"]["properties"]["id"],
            json!({"type": "string"})
        );

        let name = |name: &str| AiToolNameArgs {
            name: name.into(),
            conn: server.conn(),
        };
        let text = execute(AiToolsCommand::Get(name("find_order"))).await;
        let tool: Value = serde_json::from_str(&text.expect("get")).expect("JSON");
        assert_eq!(tool["taskId"], "lookup");
        let text = execute(AiToolsCommand::Delete(name("find_order"))).await;
        assert_eq!(text.expect("delete"), "Deleted AI tool find_order.\n");
        let err = execute(AiToolsCommand::Get(name("find_order"))).await;
        assert_eq!(
            err.expect_err("gone").to_string(),
            "AI tool find_order was not found."
        );
        server.stop().await;
    }
}
