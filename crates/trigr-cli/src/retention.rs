//! `trigr retention …`: how long the environment keeps finished runs, with their logs,
//! journal and streams, before the server deletes them.

use trigr_sdk::Retention;

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;

/// Subcommands of `trigr retention`.
#[derive(clap::Subcommand, Debug)]
pub enum RetentionCommand {
    /// Show how long finished runs are kept.
    Get(RetentionShowArgs),
    /// Keep finished runs DAYS days after they finish (0: keep them for good); older ones are
    /// deleted from then on.
    Set(RetentionSetArgs),
    /// Follow the server's default (`trigr server --retention-days`) again.
    Reset(RetentionShowArgs),
}

/// Arguments of `trigr retention get` and `trigr retention reset`.
#[derive(clap::Args, Debug, Clone)]
pub struct RetentionShowArgs {
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr retention set`.
#[derive(clap::Args, Debug, Clone)]
pub struct RetentionSetArgs {
    /// Days a run is kept after it finished, from 0 (for good) to 36500.
    #[arg(value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub days: u32,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr retention` subcommand and returns its output.
pub async fn execute(cmd: RetentionCommand) -> anyhow::Result<String> {
    let (period, json) = match cmd {
        RetentionCommand::Get(args) => {
            let api = Api::connect(&args.conn)?;
            (
                api.sdk().retention().await.map_err(ApiError::from)?,
                args.json,
            )
        }
        RetentionCommand::Set(args) => {
            let api = Api::connect(&args.conn)?;
            let period = api.sdk().set_retention(args.days).await;
            (period.map_err(ApiError::from)?, args.json)
        }
        RetentionCommand::Reset(args) => {
            let api = Api::connect(&args.conn)?;
            (
                api.sdk().reset_retention().await.map_err(ApiError::from)?,
                args.json,
            )
        }
    };
    if json {
        return Ok(output::json(&serde_json::to_value(period)?));
    }
    Ok(describe(&period))
}

/// The period in a sentence.
pub fn describe(p: &Retention) -> String {
    let kept = match p.days {
        0 => "Finished runs are kept for good".to_string(),
        1 => "Finished runs are kept 1 day after they finish".to_string(),
        n => format!("Finished runs are kept {n} days after they finish"),
    };
    let source = if p.is_default {
        "the server's default".to_string()
    } else {
        let default = match p.default_days {
            0 => "to keep them for good".to_string(),
            1 => "1 day".to_string(),
            n => format!("{n} days"),
        };
        format!("this environment's own period; the server's default is {default}")
    };
    format!("{kept} ({source}).\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_as_sentences() {
        let p = |days, default_days, is_default| Retention {
            days,
            default_days,
            is_default,
        };
        assert_eq!(
            describe(&p(30, 30, true)),
            "Finished runs are kept 30 days after they finish (the server's default).\n"
        );
        assert_eq!(
            describe(&p(1, 30, false)),
            "Finished runs are kept 1 day after they finish (this environment's own period; the server's default is 30 days).\n"
        );
        assert_eq!(
            describe(&p(0, 7, false)),
            "Finished runs are kept for good (this environment's own period; the server's default is 7 days).\n"
        );
    }
}
