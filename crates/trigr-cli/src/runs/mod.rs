//! `trigr runs …`: list, show, cancel, replay, reschedule, tag and migrate runs, and print
//! their logs.

mod attempts;
mod cancel;
mod get;
mod list;
mod logs;
mod logs_follow;
mod migrate;
mod replay;
mod reschedule;
mod tag;
mod watch;

pub use cancel::RunsCancelArgs;
pub use get::RunsGetArgs;
pub use list::RunsListArgs;
pub use logs::RunsLogsArgs;
pub use migrate::RunsMigrateArgs;
pub use replay::RunsReplayArgs;
pub use reschedule::RunsRescheduleArgs;
pub use tag::RunsTagArgs;
pub use watch::RunsWatchArgs;

use crate::encode;

/// Subcommands of `trigr runs`.
#[derive(clap::Subcommand, Debug)]
pub enum RunsCommand {
    /// List runs, newest first.
    List(RunsListArgs),
    /// Show one run.
    Get(RunsGetArgs),
    /// Cancel a run and its unfinished child runs.
    Cancel(RunsCancelArgs),
    /// Start a new run from an earlier one, optionally with another payload, tags, queue or version.
    Replay(RunsReplayArgs),
    /// Move a delayed run's start to a new delay from now or a date.
    Reschedule(RunsRescheduleArgs),
    /// Add tags to a run.
    Tag(RunsTagArgs),
    /// Print a run's logs, oldest first: time, level, message and fields.
    Logs(RunsLogsArgs),
    /// Print a run's status and metadata changes as they happen; exits when the run ends.
    Watch(RunsWatchArgs),
    /// Move the runs of a version that no worker holds (queued, delayed, waiting, or queued
    /// for a retry) to another version.
    Migrate(RunsMigrateArgs),
}

/// Runs one `trigr runs` subcommand and returns its output.
pub async fn execute(cmd: RunsCommand) -> anyhow::Result<String> {
    match cmd {
        RunsCommand::List(args) => list::execute(args).await,
        RunsCommand::Get(args) => get::execute(args).await,
        RunsCommand::Cancel(args) => cancel::execute(args).await,
        RunsCommand::Replay(args) => replay::execute(args).await,
        RunsCommand::Reschedule(args) => reschedule::execute(args).await,
        RunsCommand::Tag(args) => tag::execute(args).await,
        RunsCommand::Logs(args) if args.follow => logs_follow::execute(args).await,
        RunsCommand::Logs(args) => logs::execute(args).await,
        RunsCommand::Watch(args) => watch::execute(args).await,
        RunsCommand::Migrate(args) => migrate::execute(args).await,
    }
}

/// `/api/{version}/runs/{id}{rest}` with the id encoded.
fn run_path(api: &str, id: &str, rest: &str) -> String {
    format!("/api/{api}/runs/{}{rest}", encode::component(id))
}

fn not_found(id: &str) -> String {
    format!("Run {id} was not found.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_paths_encode_the_id() {
        assert_eq!(run_path("v3", "run_abc", ""), "/api/v3/runs/run_abc");
        assert_eq!(
            run_path("v2", "a/b", "/cancel"),
            "/api/v2/runs/a%2Fb/cancel"
        );
    }
}
