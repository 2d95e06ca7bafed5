//! The DAG of a workflow plan's execution on its run page: one box per action, in columns by
//! depth (an action sits one column right of its deepest dependency), an arrow per dependency,
//! each box coloured by the action's status, with its tries, duration and error in a tooltip
//! and in a table below for screen readers and narrow screens.
//!
//! Drawn on the server as inline SVG (no script), inside the run's live part, so it follows
//! the plan as the page refreshes. The plan is the run's payload and the state is read as the
//! API reads it ([`WorkflowState::of_run`]); a payload that is not a valid plan draws nothing.

use std::collections::HashMap;

use maud::{html, Markup};
use trigr_store::Run;
use trigr_types::plan::{
    self, ActionResult, ActionStatus, ExecutionPlan, Limits, RunRecord, WorkflowState,
};

/// Box size and gaps, in SVG units (pixels at 100 %).
const NODE_W: usize = 168;
const NODE_H: usize = 40;
const COL_GAP: usize = 56;
const ROW_GAP: usize = 14;
const PAD: usize = 8;
/// Longest action id shown in full in a box; longer ones are cut with an ellipsis.
const LABEL_CHARS: usize = 20;

/// The plan and its state, when `run` executes a plan (the built-in plan task) whose payload
/// is a valid plan.
pub fn of_run(run: &Run) -> Option<(ExecutionPlan, WorkflowState)> {
    if run.task_id != plan::TASK_ID {
        return None;
    }
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str(t).ok());
    let payload: serde_json::Value = parse(run.payload.as_deref())?;
    let plan: ExecutionPlan = serde_json::from_value(payload.clone()).ok()?;
    plan::validate(&plan, &Limits::default()).ok()?;
    let (output, metadata) = (parse(run.output.as_deref()), parse(run.metadata.as_deref()));
    let state = WorkflowState::of_run(RunRecord {
        id: &run.id,
        status: run.status,
        payload: Some(&payload),
        output: output.as_ref(),
        metadata: metadata.as_ref(),
        created_at: chrono::DateTime::from_timestamp_millis(run.created_at)?,
        finished_at: run
            .finished_at
            .and_then(chrono::DateTime::from_timestamp_millis),
    })?;
    Some((plan, state))
}

/// Each action's place in the plan, by id.
fn index_of(plan: &ExecutionPlan) -> HashMap<&str, usize> {
    plan.actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect()
}

/// Each action's column: 0 for an action without dependencies, else one more than its
/// deepest dependency. `plan` is valid (ids unique, dependencies known, no cycle).
pub fn columns(plan: &ExecutionPlan) -> Vec<usize> {
    let index = index_of(plan);
    let order = plan::validate(plan, &Limits::default()).unwrap_or_default();
    let mut column = vec![0; plan.actions.len()];
    for i in order {
        column[i] = plan.actions[i]
            .depends_on
            .iter()
            .filter_map(|d| index.get(d.as_str()))
            .map(|&d| column[d] + 1)
            .max()
            .unwrap_or(0);
    }
    column
}

/// Where each action's box goes: its column, and its row within the column (plan order).
fn positions(plan: &ExecutionPlan) -> (Vec<(usize, usize)>, usize, usize) {
    let column = columns(plan);
    let mut filled: Vec<usize> = Vec::new();
    let mut at = Vec::with_capacity(column.len());
    for &c in &column {
        if filled.len() <= c {
            filled.resize(c + 1, 0);
        }
        at.push((c, filled[c]));
        filled[c] += 1;
    }
    let rows = filled.iter().copied().max().unwrap_or(0);
    (at, filled.len(), rows)
}

fn x_of(column: usize) -> usize {
    PAD + column * (NODE_W + COL_GAP)
}

fn y_of(row: usize) -> usize {
    PAD + row * (NODE_H + ROW_GAP)
}

/// The status class of an action's box, as the badges use them.
fn class(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Completed => "s-ok",
        ActionStatus::Failed => "s-bad",
        ActionStatus::Running => "s-run",
        ActionStatus::Cancelled => "s-wait",
        ActionStatus::Pending | ActionStatus::Skipped => "s-idle",
    }
}

fn label(id: &str) -> String {
    if id.chars().count() <= LABEL_CHARS {
        return id.to_string();
    }
    let cut: String = id.chars().take(LABEL_CHARS - 1).collect();
    format!("{cut}…")
}

/// One line about an action's result: status, tries, duration, error.
fn summary(r: Option<&ActionResult>) -> String {
    let Some(r) = r else {
        return "pending".into();
    };
    let tries = if r.attempts == 1 { "try" } else { "tries" };
    let mut text = format!("{}, {} {tries}", r.status.as_str(), r.attempts);
    if let Some(ms) = r.duration_ms {
        text.push_str(&format!(", {ms} ms"));
    }
    if let Some(e) = &r.error {
        text.push_str(&format!(": {}", e.message));
    }
    text
}

/// The panel: the drawing and the table of actions.
pub fn section(plan: &ExecutionPlan, state: &WorkflowState) -> Markup {
    let (at, columns, rows) = positions(plan);
    let width = x_of(columns) - COL_GAP + PAD;
    let height = y_of(rows) - ROW_GAP + PAD;
    let index = index_of(plan);
    html! {
        div.panel #plan {
            h2 { "Plan " span.mono { (plan.id) } " — " (state.status.as_str()) }
            p.muted {
                (state.count(ActionStatus::Completed)) " completed, "
                (state.count(ActionStatus::Running)) " running, "
                (state.count(ActionStatus::Pending)) " pending, "
                (state.count(ActionStatus::Failed)) " failed, "
                (state.count(ActionStatus::Skipped)) " skipped of " (plan.actions.len()) " actions"
            }
            div.dag {
                svg xmlns="http://www.w3.org/2000/svg" role="img" width=(width) height=(height)
                    viewBox=(format!("0 0 {width} {height}"))
                    aria-label=(format!("Dependency graph of plan {}", plan.id)) {
                    defs { marker #arrow viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7"
                        markerHeight="7" orient="auto" { path d="M0,0 L8,4 L0,8 z" {} } }
                    @for (i, action) in plan.actions.iter().enumerate() {
                        @for dep in action.depends_on.iter().filter_map(|d| index.get(d.as_str())) {
                            (edge(at[*dep], at[i]))
                        }
                    }
                    @for (i, action) in plan.actions.iter().enumerate() {
                        (node(&action.id, at[i], state.results.get(&action.id)))
                    }
                }
            }
            table.plan-actions {
                thead { tr { th { "Action" } th { "Depends on" } th { "Status" } } }
                tbody { @for action in &plan.actions {
                    @let result = state.results.get(&action.id);
                    tr data-action=(action.id) {
                        td.mono { (action.id) }
                        td.mono { (action.depends_on.join(", ")) }
                        td { span.badge.(class(result.map_or(ActionStatus::Pending, |r| r.status))) {
                            (summary(result))
                        } }
                    }
                } }
            }
        }
    }
}

/// An arrow from the right edge of a dependency's box to the left edge of its dependent's.
fn edge(from: (usize, usize), to: (usize, usize)) -> Markup {
    let (x1, y1) = (x_of(from.0) + NODE_W, y_of(from.1) + NODE_H / 2);
    let (x2, y2) = (x_of(to.0), y_of(to.1) + NODE_H / 2);
    let bend = (x2 - x1) / 2;
    let d = format!(
        "M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}",
        x1 + bend,
        x2 - bend
    );
    html! { path.dag-edge d=(d) marker-end="url(#arrow)" {} }
}

fn node(id: &str, (column, row): (usize, usize), result: Option<&ActionResult>) -> Markup {
    let status = result.map_or(ActionStatus::Pending, |r| r.status);
    let (x, y) = (x_of(column), y_of(row));
    html! {
        g.dag-node.(class(status)) data-action=(id) data-status=(status.as_str()) {
            title { (id) ": " (summary(result)) }
            rect x=(x) y=(y) width=(NODE_W) height=(NODE_H) rx="6" {}
            text x=(x + 10) y=(y + 17) { (label(id)) }
            text.dag-status x=(x + 10) y=(y + 32) { (status.as_str()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(actions: serde_json::Value) -> ExecutionPlan {
        serde_json::from_value(json!({"id": "p", "actions": actions})).expect("a plan")
    }

    fn get(id: &str, deps: &[&str]) -> serde_json::Value {
        json!({"id": id, "dependsOn": deps, "http": {"method": "GET", "url": "http://x/"}})
    }

    #[test]
    fn columns_follow_the_deepest_dependency() {
        // a → b → d, a → c → d, and e alone; listed out of order.
        let p = plan(json!([
            get("d", &["b", "c"]),
            get("b", &["a"]),
            get("a", &[]),
            get("c", &["a"]),
            get("e", &[]),
            get("f", &["a", "d"]),
        ]));
        assert_eq!(columns(&p), [2, 1, 0, 1, 0, 3]);
        let (at, cols, rows) = positions(&p);
        assert_eq!((cols, rows), (4, 2));
        assert_eq!(at, [(2, 0), (1, 0), (0, 0), (1, 1), (0, 1), (3, 0)]);
    }

    #[test]
    fn draws_each_action_with_its_status_and_escapes_nothing_it_should_not() {
        let p = plan(json!([get("fetch", &[]), get("store", &["fetch"])]));
        let at = chrono::DateTime::from_timestamp_millis(1_700_000_000_000).expect("time");
        let mut state = WorkflowState::initial("run_1", &p, plan::WorkflowStatus::Running, at);
        let fetch = state.results.get_mut("fetch").expect("fetch");
        fetch.status = ActionStatus::Failed;
        fetch.attempts = 3;
        fetch.error = Some(plan::ActionError {
            message: "<b>503</b> from upstream".into(),
            code: None,
        });
        let html = section(&p, &state).into_string();
        assert!(
            html.contains(r#"data-action="fetch" data-status="failed""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-action="store" data-status="pending""#),
            "{html}"
        );
        assert_eq!(html.matches("class=\"dag-edge\"").count(), 1, "{html}");
        assert!(html.contains("failed, 3 tries: &lt;b&gt;503&lt;/b&gt; from upstream"));
        assert!(!html.contains("<b>503"), "error text is escaped");
    }

    #[test]
    fn long_ids_are_cut_in_the_box_only() {
        let long = "a".repeat(40);
        assert_eq!(label(&long).chars().count(), LABEL_CHARS);
        assert!(label(&long).ends_with('…'));
        assert_eq!(label("short"), "short");
    }
}
