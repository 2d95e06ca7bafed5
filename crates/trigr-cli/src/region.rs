//! `trigr region …`: the environment's default region, where runs that name no region go and
//! what workers that name none serve.

use trigr_sdk::DefaultRegion;

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::output;

/// Subcommands of `trigr region`.
#[derive(clap::Subcommand, Debug)]
pub enum RegionCommand {
    /// Show the environment's default region.
    Get(RegionShowArgs),
    /// Send the runs triggered from now on without a region to REGION, and give it the workers
    /// that name none.
    Set(RegionSetArgs),
    /// Follow the server's default region (`default`) again.
    Reset(RegionShowArgs),
}

/// Arguments of `trigr region get` and `trigr region reset`.
#[derive(clap::Args, Debug, Clone)]
pub struct RegionShowArgs {
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Arguments of `trigr region set`.
#[derive(clap::Args, Debug, Clone)]
pub struct RegionSetArgs {
    /// 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or a digit.
    #[arg(value_name = "REGION")]
    pub region: String,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Runs one `trigr region` subcommand and returns its output.
pub async fn execute(cmd: RegionCommand) -> anyhow::Result<String> {
    let (region, json) = match cmd {
        RegionCommand::Get(args) => {
            let api = Api::connect(&args.conn)?;
            let region = api.sdk().default_region().await;
            (region.map_err(ApiError::from)?, args.json)
        }
        RegionCommand::Set(args) => {
            let api = Api::connect(&args.conn)?;
            let region = api.sdk().set_default_region(&args.region).await;
            (region.map_err(ApiError::from)?, args.json)
        }
        RegionCommand::Reset(args) => {
            let api = Api::connect(&args.conn)?;
            let region = api.sdk().reset_default_region().await;
            (region.map_err(ApiError::from)?, args.json)
        }
    };
    if json {
        return Ok(output::json(&serde_json::to_value(region)?));
    }
    Ok(describe(&region))
}

/// The default region in a sentence.
pub fn describe(r: &DefaultRegion) -> String {
    let source = if r.is_default {
        "the server's default"
    } else {
        "this environment's own"
    };
    format!(
        "Runs that name no region go to region '{}' ({source}).\n",
        r.region
    )
}
