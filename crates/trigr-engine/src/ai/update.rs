//! Changing a tool definition. Its name stays: a model's calls name it.

use super::{check_edit, task, ToolDefinition, ToolEdit};
use crate::{Engine, Error, Result};

impl Engine {
    /// Applies the change (checked here by [`check_edit`]) to the definition named `name`: a
    /// `404` when there is none, a `422` when the task it names (new or kept, when new
    /// parameters or another task are given) is declared by no deployment.
    pub async fn update_ai_tool(
        &self,
        env_id: &str,
        name: &str,
        edit: ToolEdit,
    ) -> Result<ToolDefinition> {
        check_edit(&edit)?;
        let (env_id, name) = (env_id.to_string(), name.to_string());
        self.write(move |tx| {
            // Read, change, write back: another edit of the tool waits, so none is lost.
            tx.lock_ai_tools(&env_id)?;
            let Some(mut row) = tx.ai_tool(&env_id, &name)? else {
                return Err(not_found(&name));
            };
            if edit.task_id.is_some() || edit.parameters.is_some() {
                let task_id = edit.task_id.unwrap_or(row.task_id);
                let parameters = task::parameters(tx, &env_id, &task_id, edit.parameters)?;
                row.task_id = task_id;
                row.parameters = parameters.to_string();
            }
            if let Some(description) = edit.description {
                row.description = description;
            }
            if let Some(display) = edit.display {
                row.display = serde_json::to_value(&display)
                    .unwrap_or_default()
                    .to_string();
            }
            row.updated_at = tx.now();
            if !tx.update_ai_tool(&row)? {
                return Err(not_found(&name));
            }
            ToolDefinition::from_row(row)
        })
        .await
    }
}

/// The `404` of a name no definition has.
pub(super) fn not_found(name: &str) -> Error {
    Error::not_found(format!("No AI tool named '{name}'"))
}
