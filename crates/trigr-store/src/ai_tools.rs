//! An environment's AI tool definitions (`trigr_engine::ai`): each makes one task callable by
//! a language model, under a tool name unique in the environment.
//!
//! **Every write is one statement.** [`AiToolTx::insert_ai_tool`] writes only while the
//! environment has fewer tools than the limit the caller passes and no tool holds the name, so
//! two concurrent creations can never both take a name, and the limit holds on SQLite (one
//! writer) exactly.

use trigr_types::Millis;

use crate::Result;

/// One tool definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AiTool {
    /// `aitool_…`.
    pub id: String,
    pub env_id: String,
    /// The tool name a model calls it by, unique in the environment.
    pub name: String,
    pub description: String,
    /// The task a call triggers.
    pub task_id: String,
    /// The JSON Schema of the arguments, as JSON text.
    pub parameters: String,
    /// The display options, a JSON object as text.
    pub display: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Reading an environment's tools.
pub trait AiToolRead {
    /// The tool of this name, if any.
    fn ai_tool(&mut self, env_id: &str, name: &str) -> Result<Option<AiTool>>;
    /// At most `limit` tools from the `offset`-th, by name.
    fn ai_tools(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<Vec<AiTool>>;
    /// How many tools the environment has.
    fn ai_tool_count(&mut self, env_id: &str) -> Result<i64>;
}

/// Writing an environment's tools.
pub trait AiToolTx {
    /// Makes the writers of the environment's tools that come later in other transactions
    /// wait until this one ends: taken before a change that reads, then writes (a count against
    /// the limit, an edit of a row read first). Nothing else waits for it.
    fn lock_ai_tools(&mut self, env_id: &str) -> Result<()>;
    /// Adds the tool when its environment has fewer than `max` tools and none of its name;
    /// false (and nothing written) otherwise.
    fn insert_ai_tool(&mut self, tool: &AiTool, max: usize) -> Result<bool>;
    /// Replaces the description, task, parameters, display and `updated_at` of the tool with
    /// this id; false when there is none.
    fn update_ai_tool(&mut self, tool: &AiTool) -> Result<bool>;
    /// Deletes the tool of this name; false when there is none.
    fn delete_ai_tool(&mut self, env_id: &str, name: &str) -> Result<bool>;
}
