//! Workflow plans (DESIGN §10): a JSON plan of HTTP actions with dependencies, validated before
//! any run exists, and the state of its execution.
//!
//! * [`model`] — [`ExecutionPlan`], [`Action`], [`HttpAction`], [`ActionRetry`];
//! * [`validate`](mod@validate) — [`validate()`]: unique ids, known dependencies, no cycle, bounds;
//! * [`state`] — [`WorkflowState`] and [`ActionResult`], as the runner publishes them;
//! * [`schema`] — the JSON Schema of plans and states, for other languages.

pub mod model;
pub mod state;
pub mod validate;

pub use model::{Action, ActionRetry, Backoff, ExecutionPlan, HttpAction, HttpMethod};
pub use state::{
    ActionError, ActionErrorCode, ActionResult, ActionStatus, RunRecord, WorkflowState,
    WorkflowStatus, METADATA_KEY,
};
pub use validate::{validate, Error, Limits};

/// The id of the built-in plan task, which `trigr worker --plans` serves and `POST
/// /api/v1/plans` triggers.
pub const TASK_ID: &str = "trigr-plan";

/// The JSON Schemas of the plan types.
pub mod schema {
    use serde_json::Value;

    use super::{ExecutionPlan, WorkflowState};

    /// The JSON Schema (draft 2020-12) of an [`ExecutionPlan`].
    pub fn plan() -> Value {
        schemars::schema_for!(ExecutionPlan).to_value()
    }

    /// The JSON Schema (draft 2020-12) of a [`WorkflowState`].
    pub fn state() -> Value {
        schemars::schema_for!(WorkflowState).to_value()
    }

    #[cfg(test)]
    mod tests {
        /// `docs/schemas/` holds the schemas as published; set `TRIGR_WRITE_SCHEMAS=1` to
        /// rewrite them after changing the types.
        #[test]
        fn the_published_schemas_are_the_types_schemas() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas");
            for (file, schema) in [
                ("execution-plan.schema.json", super::plan()),
                ("workflow-state.schema.json", super::state()),
            ] {
                let text = format!("{}\n", serde_json::to_string_pretty(&schema).expect("json"));
                let path = dir.join(file);
                if std::env::var("TRIGR_WRITE_SCHEMAS").as_deref() == Ok("1") {
                    std::fs::write(&path, &text).expect("write the schema");
                }
                let published = std::fs::read_to_string(&path).expect("the published schema");
                assert_eq!(
                    published, text,
                    "{file} is stale: run with TRIGR_WRITE_SCHEMAS=1"
                );
            }
        }

        #[test]
        fn the_plan_schema_names_the_wire_fields() {
            let schema = super::plan();
            let text = schema.to_string();
            for field in ["dependsOn", "continueOnFailure", "timeoutMs", "initialMs"] {
                assert!(text.contains(field), "{field} missing from {text}");
            }
            assert_eq!(schema["required"], serde_json::json!(["id", "actions"]));
            let state = super::state().to_string();
            assert!(
                state.contains("executionId") && state.contains("durationMs"),
                "{state}"
            );
        }
    }
}
