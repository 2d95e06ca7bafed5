//! Reading tool definitions: one, a page, or all of an environment (at most
//! [`MAX_TOOLS`], for the exports).

use super::update::not_found;
use super::{ToolDefinition, MAX_TOOLS};
use crate::{Engine, Result};

impl Engine {
    /// The definition named `name`; a `404` when there is none.
    pub async fn ai_tool(&self, env_id: &str, name: &str) -> Result<ToolDefinition> {
        let (env_id, name) = (env_id.to_string(), name.to_string());
        self.read(move |tx| match tx.ai_tool(&env_id, &name)? {
            Some(row) => ToolDefinition::from_row(row),
            None => Err(not_found(&name)),
        })
        .await
    }

    /// Page `page` (from 1) of `per_page` definitions by name, and how many there are.
    pub async fn list_ai_tools(
        &self,
        env_id: &str,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<ToolDefinition>, i64)> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let offset = page.saturating_sub(1).saturating_mul(per_page);
            let rows = tx.ai_tools(&env_id, offset, per_page)?;
            let total = tx.ai_tool_count(&env_id)?;
            let tools = rows.into_iter().map(ToolDefinition::from_row);
            Ok((tools.collect::<Result<Vec<_>>>()?, total))
        })
        .await
    }

    /// Every definition of the environment, by name.
    pub async fn all_ai_tools(&self, env_id: &str) -> Result<Vec<ToolDefinition>> {
        Ok(self.list_ai_tools(env_id, 1, MAX_TOOLS).await?.0)
    }
}
