//! `trigr dashboard link`: a one-time sign-in link to the dashboard, made on the store.

use std::time::Duration;

use clap::{Args, Subcommand};
use trigr_engine::dashboard::LinkTarget;
use trigr_types::duration;

use super::{time, StoreArgs};

#[derive(Subcommand, Debug)]
pub enum DashboardCommand {
    /// Print a sign-in link to the dashboard that works once, until it expires.
    Link(LinkArgs),
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    /// The environment the link grants: dev, staging, prod (of --project, or of the default
    /// project) or an environment id. Without it and with --project, every environment of
    /// the project; without either, the default project's dev environment.
    #[arg(long = "env")]
    pub env: Option<String>,
    /// Project name or reference (proj_…).
    #[arg(long)]
    pub project: Option<String>,
    /// How long the link works, like 15m, 1h or 2d (at most 7 days).
    #[arg(long, default_value = "15m")]
    pub ttl: String,
    /// The address the dashboard is served at, to print the link with.
    #[arg(
        long,
        env = "TRIGR_PUBLIC_URL",
        default_value = "http://127.0.0.1:3030"
    )]
    pub url: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn execute(cmd: DashboardCommand) -> anyhow::Result<String> {
    match cmd {
        DashboardCommand::Link(args) => link(args).await,
    }
}

async fn link(args: LinkArgs) -> anyhow::Result<String> {
    let ttl = duration::parse(&args.ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    let ttl = Duration::from_millis(u64::try_from(ttl).unwrap_or(0));
    let target = match (args.env, args.project) {
        (Some(env), project) => LinkTarget::Env { env, project },
        (None, Some(project)) => LinkTarget::Project(project),
        (None, None) => LinkTarget::Env {
            env: "dev".into(),
            project: None,
        },
    };
    let engine = args.store.engine().await?;
    let (secret, envs) = engine.create_dashboard_link(target, ttl).await?;
    let granted: Vec<String> = envs.iter().map(|(p, e)| format!("{p}/{e}")).collect();
    let expires = engine.now() + ttl.as_millis() as i64;
    Ok(format!(
        "{}/dashboard/link/{secret}\n\nOpens the dashboard once, for {} until {}.\n",
        args.url.trim_end_matches('/'),
        granted.join(", "),
        time(expires)
    ))
}
