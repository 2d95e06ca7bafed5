//! `trigr runs migrate`: move the runs of one version that no worker holds to another version.

use clap::builder::NonEmptyStringValueParser;
use serde_json::json;
use trigr_sdk::{MigrateRuns, RunsMigrated};

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;

/// Arguments of `trigr runs migrate`.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true)]
pub struct RunsMigrateArgs {
    /// The version the runs are locked to now (like 20260102.1).
    #[arg(long, value_name = "VERSION", value_parser = NonEmptyStringValueParser::new())]
    pub from: String,

    /// The version to move them to; it must declare each moved run's task.
    #[arg(long, value_name = "VERSION", value_parser = NonEmptyStringValueParser::new())]
    pub to: String,

    /// Move only the runs of this task.
    #[arg(long, value_name = "TASK", value_parser = NonEmptyStringValueParser::new())]
    pub task: Option<String>,

    /// Print the totals as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Most calls one command makes (each looks at up to 10,000 runs).
const MAX_CALLS: usize = 10_000;

pub(super) async fn execute(args: RunsMigrateArgs) -> anyhow::Result<String> {
    let api = Api::connect(&args.conn)?;
    let mut request = MigrateRuns {
        from: args.from.clone(),
        to: args.to.clone(),
        task: args.task.clone(),
        ..Default::default()
    };
    let mut total: Option<RunsMigrated> = None;
    for _ in 0..MAX_CALLS {
        let answer = api.sdk().migrate_runs(&request).await.map_err(ApiError)?;
        let next = answer.next_cursor.clone();
        total = Some(match total {
            None => answer,
            Some(t) => add(t, answer),
        });
        match next {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    let Some(total) = total else {
        anyhow::bail!("No migration call was made.");
    };
    if args.json {
        return Ok(output::json(&json!({
            "from": total.from,
            "to": total.to,
            "moved": total.moved,
            "skipped": total.skipped,
            "executing": total.executing,
        })));
    }
    Ok(render(&total))
}

/// Two answers of one migration as one: counts added, the last count of executing runs.
fn add(mut a: RunsMigrated, b: RunsMigrated) -> RunsMigrated {
    a.moved += b.moved;
    for s in b.skipped {
        match a.skipped.iter_mut().find(|have| have.task == s.task) {
            Some(have) => have.runs += s.runs,
            None => a.skipped.push(s),
        }
    }
    a.executing = b.executing;
    a.next_cursor = b.next_cursor;
    a
}

fn render(m: &RunsMigrated) -> String {
    let mut out = format!(
        "Moved {} run(s) from version {} to {}.\n",
        m.moved, m.from, m.to
    );
    for s in &m.skipped {
        out.push_str(&format!(
            "Left {} run(s) of task '{}' on {}: version {} does not declare it.\n",
            s.runs, s.task, m.from, m.to
        ));
    }
    if m.executing > 0 {
        out.push_str(&format!(
            "{} run(s) of {} are executing: they finish there, or move when you run this again \
             once they wait or are queued for a retry.\n",
            m.executing, m.from
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trigr_sdk::MigrationSkipped;

    fn answer(moved: u64, skipped: &[(&str, u64)], executing: i64) -> RunsMigrated {
        RunsMigrated {
            from: "1".into(),
            to: "2".into(),
            moved,
            skipped: skipped
                .iter()
                .map(|(task, runs)| MigrationSkipped {
                    task: task.to_string(),
                    runs: *runs,
                })
                .collect(),
            executing,
            next_cursor: None,
        }
    }

    #[test]
    fn pages_add_up() {
        let total = add(
            answer(3, &[("a", 1)], 4),
            answer(2, &[("a", 2), ("b", 1)], 1),
        );
        assert_eq!(total, answer(5, &[("a", 3), ("b", 1)], 1));
    }

    #[test]
    fn renders_moved_skipped_and_executing() {
        assert_eq!(
            render(&answer(0, &[], 0)),
            "Moved 0 run(s) from version 1 to 2.\n"
        );
        let text = render(&answer(5, &[("old-task", 2)], 1));
        assert!(
            text.contains("Moved 5 run(s) from version 1 to 2."),
            "{text}"
        );
        assert!(
            text.contains("Left 2 run(s) of task 'old-task' on 1: version 2 does not declare it."),
            "{text}"
        );
        assert!(text.contains("1 run(s) of 1 are executing"), "{text}");
    }
}
