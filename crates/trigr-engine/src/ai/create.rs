//! Creating a tool definition.

use trigr_store::AiTool;
use trigr_types::id;

use super::{check_spec, task, ToolDefinition, ToolSpec, MAX_TOOLS};
use crate::{Engine, Error, Result};

impl Engine {
    /// Stores a new definition (checked here by [`check_spec`]): a `422` when no deployment
    /// declares its task, a `409` when its name is taken or the environment holds
    /// [`MAX_TOOLS`] definitions already. One conditional insert decides both.
    pub async fn create_ai_tool(&self, env_id: &str, spec: ToolSpec) -> Result<ToolDefinition> {
        check_spec(&spec)?;
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let parameters = task::parameters(tx, &env_id, &spec.task_id, spec.parameters)?;
            let now = tx.now();
            let row = AiTool {
                id: id::new("aitool"),
                env_id: env_id.clone(),
                name: spec.name,
                description: spec.description,
                task_id: spec.task_id,
                parameters: parameters.to_string(),
                display: serde_json::to_value(&spec.display)
                    .unwrap_or_default()
                    .to_string(),
                created_at: now,
                updated_at: now,
            };
            // The count the insert checks is the environment's alone while this is held.
            tx.lock_ai_tools(&env_id)?;
            if !tx.insert_ai_tool(&row, MAX_TOOLS)? {
                return Err(refusal(
                    tx.ai_tool(&env_id, &row.name)?.is_some(),
                    &row.name,
                ));
            }
            ToolDefinition::from_row(row)
        })
        .await
    }
}

/// Why an insert wrote nothing: the name is taken, or else the environment is full.
fn refusal(name_taken: bool, name: &str) -> Error {
    if name_taken {
        Error::Conflict(format!("A tool named '{name}' already exists"))
    } else {
        Error::Conflict(format!(
            "This environment has {MAX_TOOLS} tool definitions, the limit; delete one first"
        ))
    }
}
