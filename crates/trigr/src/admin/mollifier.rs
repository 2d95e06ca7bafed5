//! `trigr mollifier`: the mollifier of every environment (state, buffer, trip, overrides), and
//! the overrides of an environment or an organization, on the store. Servers read a changed
//! override within five seconds (at once on the server that stores it through the API).

use clap::{Args, Subcommand};
use trigr_engine::mollifier::overrides::Scope;
use trigr_engine::mollifier::status::EnvStatus;
use trigr_engine::mollifier::{Mode, Override};

use super::keys::EnvArgs;
use super::{table, StoreArgs};

#[derive(Subcommand, Debug)]
pub enum MollifierCommand {
    /// Every environment: override, buffer depth, oldest entry's age, tripped or not.
    Status(StoreArgs),
    /// Override an environment's (or with --org its organization's) mode and limits.
    Set(SetArgs),
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// on, off, shadow, or default (remove the override; other flags are then refused).
    pub mode: String,
    /// Triggers per second above which the environment trips.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threshold: Option<u32>,
    /// Milliseconds a tripped environment stays tripped.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=86_400_000))]
    pub hold_ms: Option<i64>,
    /// Set the override of the environment's organization instead.
    #[arg(long)]
    pub org: bool,
    #[command(flatten)]
    pub env: EnvArgs,
}

pub async fn execute(cmd: MollifierCommand) -> anyhow::Result<String> {
    match cmd {
        MollifierCommand::Status(store) => {
            let engine = store.engine().await?;
            Ok(status_table(&engine.mollifier_status(None).await?))
        }
        MollifierCommand::Set(args) => set(args).await,
    }
}

async fn set(args: SetArgs) -> anyhow::Result<String> {
    let settings = match args.mode.as_str() {
        "default" if args.threshold.is_some() || args.hold_ms.is_some() => {
            anyhow::bail!("`default` removes the override: pass no --threshold or --hold-ms")
        }
        "default" => None,
        m => Some(Override {
            mode: Some(Mode::parse(m).ok_or_else(|| {
                anyhow::anyhow!("mode must be on, off, shadow or default, not '{m}'")
            })?),
            threshold: args.threshold,
            hold_ms: args.hold_ms,
        }),
    };
    let engine = args.env.store.engine().await?;
    let env = engine
        .find_environment(trigr_engine::keys::EnvSelector {
            project: args.env.project.clone(),
            slug: args.env.env.clone(),
        })
        .await?;
    let (scope, what) = match args.org {
        true => (
            Scope::Organization(env.1.clone()),
            format!("organization {}", env.1),
        ),
        false => (
            Scope::Environment(env.0.clone()),
            format!("environment {}", args.env.env),
        ),
    };
    engine.set_mollifier_override(scope, settings).await?;
    Ok(match settings {
        Some(o) => format!("The mollifier of {what} is now {}\n", describe(&o)),
        None => format!("The mollifier of {what} follows the defaults again\n"),
    })
}

fn status_table(envs: &[EnvStatus]) -> String {
    let show = |o: &Option<Override>| o.as_ref().map_or_else(|| "-".into(), describe);
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|e| {
            vec![
                e.project.clone(),
                e.slug.clone(),
                e.env_id.clone(),
                show(&e.env_override),
                show(&e.org_override),
                e.depth.to_string(),
                e.oldest_age_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                if e.tripped_until.is_some() {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ]
        })
        .collect();
    table(
        &[
            "PROJECT",
            "ENV",
            "ID",
            "OVERRIDE",
            "ORG OVERRIDE",
            "DEPTH",
            "OLDEST",
            "TRIPPED",
        ],
        &rows,
    )
}

/// `mode=on threshold=500 holdMs=10000`, the fields an override sets.
fn describe(o: &Override) -> String {
    let mut parts = Vec::new();
    if let Some(m) = o.mode {
        parts.push(format!("mode={}", m.as_str()));
    }
    if let Some(t) = o.threshold {
        parts.push(format!("threshold={t}"));
    }
    if let Some(h) = o.hold_ms {
        parts.push(format!("holdMs={h}"));
    }
    parts.join(" ")
}
