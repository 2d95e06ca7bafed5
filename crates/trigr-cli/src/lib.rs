//! Client commands of the `trigr` command-line tool: `trigr trigger`, `trigr runs …`,
//! `trigr batches …`, `trigr queues …`, `trigr env-vars …`, `trigr deployments …`,
//! `trigr schedules …`, `trigr retention …`, `trigr plans …`, `trigr cache …`,
//! `trigr env-metadata …`, `trigr ai-tools …`, the built-in worker, `trigr worker --plans`,
//! and the MCP server on standard input and output, `trigr mcp` ([`mcp`]).
//!
//! The commands talk to a trigr server (or any server speaking the Trigger.dev v4 management
//! API) over HTTP with JSON bodies. Like the official Trigger.dev tools they read the server
//! address from `TRIGGER_API_URL` (default `http://127.0.0.1:3030`) and the environment's secret
//! key from `TRIGGER_SECRET_KEY`; the `--api-url` and `--secret-key` flags of every command
//! override both.
//!
//! Each command builds its whole output as text ([`execute`]) and [`run`] prints it, so the
//! commands can be tested without a terminal. Errors are complete sentences meant to be shown
//! to the user unchanged, for example "Run run_abc was not found.".
//!
//! Layout:
//! * [`api`]: the connection flags, and the SDK's client ([`trigr_sdk::Client`]) with its
//!   errors worded for the terminal,
//! * [`encode`]: percent-encoding of path segments and query strings,
//! * [`trigger`], [`runs`], [`batches`], [`queues`], [`env_vars`], [`deployments`],
//!   [`plans`], [`kv`], [`ai_tools`]: one module per command group,
//! * [`table`] and [`output`]: text rendering.

pub mod ai_tools;
pub mod api;
pub mod batches;
pub mod deployments;
pub mod encode;
pub mod env_vars;
pub mod kv;
pub mod mcp;
pub mod output;
pub mod plans;
pub mod queues;
pub mod region;
pub mod retention;
pub mod runs;
pub mod schedules;
pub mod table;
pub mod trigger;

#[cfg(test)]
mod testserver;

pub use api::ConnectionArgs;
pub use deployments::{DeploymentsArgs, DeploymentsCommand, PromoteArgs};
pub use queues::{QueueArgs, QueueKind, QueuesCommand, QueuesListArgs};
pub use runs::{
    RunsCancelArgs, RunsCommand, RunsGetArgs, RunsListArgs, RunsLogsArgs, RunsReplayArgs,
};
pub use trigger::TriggerArgs;

/// Client commands of `trigr` (everything except `server`).
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Trigger a run of a task.
    Trigger(TriggerArgs),
    /// Inspect and manage runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Inspect and manage queues.
    #[command(subcommand)]
    Queues(QueuesCommand),
    /// Show a batch's counts, cancel its runs.
    #[command(subcommand)]
    Batches(batches::BatchesCommand),
    /// The environment's variables: list, get, set, delete, import a .env file.
    #[command(subcommand, name = "env-vars")]
    EnvVars(env_vars::EnvVarsCommand),
    /// Inspect deployments, promote a version or roll back.
    #[command(subcommand)]
    Deployments(DeploymentsCommand),
    /// Manage cron schedules.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Show or set how long the environment keeps finished runs.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Show or set the environment's default region.
    #[command(subcommand)]
    Region(region::RegionCommand),
    /// Start workflow plans on the built-in plan task and follow them.
    #[command(subcommand)]
    Plans(plans::PlansCommand),
    /// Read and write the environment's cache: entries with a time to live, and locks.
    #[command(subcommand)]
    Cache(kv::CacheCommand),
    /// Read and write the environment's metadata (not a run's metadata).
    #[command(subcommand)]
    EnvMetadata(kv::EnvMetadataCommand),
    /// The environment's AI tool definitions: list, get, create, delete, export.
    #[command(subcommand, name = "ai-tools")]
    AiTools(ai_tools::AiToolsCommand),
    /// Run the built-in worker: `--plans` serves the plan task.
    Worker(plans::WorkerArgs),
    /// Serve the Model Context Protocol on standard input and output: tasks, runs, logs and
    /// the environment's AI tools as MCP tools.
    Mcp(mcp::McpArgs),
}

/// Runs one client command and prints its output on standard output.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let cmd = match cmd {
        Command::Worker(args) => return plans::worker(args).await,
        Command::Mcp(args) => return mcp::serve(args).await,
        cmd => cmd,
    };
    let text = execute(cmd).await?;
    output::print(&text)
}

/// Runs one client command and returns what it would print.
pub async fn execute(cmd: Command) -> anyhow::Result<String> {
    match cmd {
        Command::Trigger(args) => trigger::execute(args).await,
        Command::Runs(cmd) => runs::execute(cmd).await,
        Command::Queues(cmd) => queues::execute(cmd).await,
        Command::Batches(cmd) => batches::execute(cmd).await,
        Command::EnvVars(cmd) => env_vars::execute(cmd).await,
        Command::Deployments(cmd) => deployments::execute(cmd).await,
        Command::Schedules(cmd) => schedules::execute(cmd).await,
        Command::Retention(cmd) => retention::execute(cmd).await,
        Command::Region(cmd) => region::execute(cmd).await,
        Command::Plans(cmd) => plans::execute(cmd).await,
        Command::Cache(cmd) => kv::execute_cache(cmd).await,
        Command::AiTools(cmd) => ai_tools::execute(cmd).await,
        Command::EnvMetadata(cmd) => kv::execute_env_metadata(cmd).await,
        Command::Worker(_) => {
            anyhow::bail!("trigr worker runs until stopped and prints nothing to return")
        }
        Command::Mcp(_) => {
            anyhow::bail!("trigr mcp serves standard input and output and returns nothing")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// Stand-in for the binary's parser, with the settings a binary typically uses.
    #[derive(Parser, Debug)]
    #[command(name = "trigr", version, propagate_version = true)]
    struct Cli {
        #[command(subcommand)]
        cmd: Command,
    }

    fn parse(args: &[&str]) -> Command {
        let mut all = vec!["trigr"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all) {
            Ok(cli) => cli.cmd,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn trigger_flags_parse() {
        let cmd = parse(&[
            "trigger",
            "hello",
            "--payload",
            "{}",
            "--tag",
            "a",
            "--tag",
            "b",
            "--version",
            "v1",
            "--machine",
            "small-1x",
            "--api-url",
            "http://x:1",
            "--secret-key",
            "tr_dev_k",
        ]);
        let Command::Trigger(args) = cmd else {
            panic!("not trigger")
        };
        assert_eq!(args.task, "hello");
        assert_eq!(args.tags, ["a", "b"]);
        assert_eq!(args.version.as_deref(), Some("v1"));
        assert_eq!(args.conn.api_url, "http://x:1");
        assert_eq!(args.conn.secret_key.as_deref(), Some("tr_dev_k"));
    }

    #[test]
    fn runs_list_splits_statuses() {
        let cmd = parse(&[
            "runs",
            "list",
            "--status",
            "queued,EXECUTING",
            "--limit",
            "5",
        ]);
        let Command::Runs(RunsCommand::List(args)) = cmd else {
            panic!("not runs list")
        };
        assert_eq!(args.status, ["queued", "EXECUTING"]);
        assert_eq!(args.limit, 5);
    }

    #[test]
    fn bad_values_are_rejected_by_the_parser() {
        let mut all = vec!["trigr"];
        for bad in [
            &["trigger", "t", "--machine", "huge"][..],
            &["trigger", "t", "--max-attempts", "0"],
            &["runs", "list", "--status", "DONE"],
            &["runs", "list", "--limit", "101"],
            &["queues", "pause", "q", "--type", "id"],
        ] {
            all.truncate(1);
            all.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&all).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn deployments_commands_parse() {
        let cmd = parse(&["deployments", "promote", "20260102.3", "--json"]);
        let Command::Deployments(DeploymentsCommand::Promote(args)) = cmd else {
            panic!("not promote")
        };
        assert_eq!(args.version, "20260102.3");
        assert!(args.json);
        let cmd = parse(&["deployments", "rollback"]);
        assert!(matches!(
            cmd,
            Command::Deployments(DeploymentsCommand::Rollback(_))
        ));
    }

    #[test]
    fn queue_type_is_optional() {
        let cmd = parse(&["queues", "resume", "task/hello"]);
        let Command::Queues(QueuesCommand::Resume(args)) = cmd else {
            panic!("not resume")
        };
        assert_eq!(args.name, "task/hello");
        assert!(args.kind.is_none());
    }
}
