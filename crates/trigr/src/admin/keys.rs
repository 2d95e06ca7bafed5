//! `trigr keys`: the secret keys of every environment.

use clap::{Args, Subcommand};
use trigr_engine::keys::{EnvSelector, KeyState};
use trigr_types::duration;

use super::{table, time, StoreArgs};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List every environment's keys (their prefixes: keys are stored hashed).
    List(StoreArgs),
    /// Add a key to an environment; its other keys stay valid.
    Create(EnvArgs),
    /// Make a new key for an environment; its current keys stay valid for the grace period.
    Rotate(RotateArgs),
    /// Revoke one key at once, by the prefix `trigr keys list` shows or the whole key.
    Revoke(RevokeArgs),
    /// Personal access tokens for the trigger.dev CLI: create, list, revoke.
    #[command(subcommand)]
    Pat(super::pats::PatCommand),
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    /// Environment: dev, staging or prod.
    #[arg(long = "env", default_value = "dev")]
    pub env: String,
    /// Project name or reference (proj_…); the default project when not given.
    #[arg(long)]
    pub project: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// How long the old keys stay valid, like 24h, 30m or 7d; 0 ends them now.
    #[arg(long, default_value = "24h")]
    pub grace: String,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The key's prefix as `trigr keys list` shows it (tr_dev_AbCd), or the whole key.
    pub key: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn execute(cmd: KeysCommand) -> anyhow::Result<String> {
    match cmd {
        KeysCommand::List(store) => list(store).await,
        KeysCommand::Create(args) => {
            let engine = args.store.engine().await?;
            let key = engine.create_key(selector(&args)).await?;
            Ok(format!(
                "Created a {} key (shown once, stored hashed):\nTRIGGER_SECRET_KEY={key}\n",
                args.env
            ))
        }
        KeysCommand::Rotate(args) => rotate(args).await,
        KeysCommand::Pat(cmd) => super::pats::execute(cmd).await,
        KeysCommand::Revoke(args) => {
            let engine = args.store.engine().await?;
            let view = engine.revoke_key(args.key).await?;
            Ok(format!(
                "Revoked {} of {}/{}: every server refuses it within a second.\n",
                view.key.prefix.as_deref().unwrap_or("the key"),
                view.project,
                view.env_slug
            ))
        }
    }
}

fn selector(args: &EnvArgs) -> EnvSelector {
    EnvSelector {
        project: args.project.clone(),
        slug: args.env.clone(),
    }
}

async fn rotate(args: RotateArgs) -> anyhow::Result<String> {
    let grace = match args.grace.trim() {
        "0" => 0,
        g => duration::parse(g).map_err(|e| anyhow::anyhow!("--grace: {e}"))?,
    };
    let engine = args.env.store.engine().await?;
    let rotated = engine.rotate_keys(selector(&args.env), grace).await?;
    let old = match (rotated.replaced, grace) {
        (0, _) => "It had no other valid key.".to_string(),
        (n, 0) => format!("Its {n} other key(s) are no longer valid."),
        (n, _) => format!(
            "Its {n} other key(s) stay valid until {}.",
            time(rotated.old_keys_until)
        ),
    };
    Ok(format!(
        "New {} key (shown once, stored hashed):\nTRIGGER_SECRET_KEY={}\n{old}\n",
        args.env.env, rotated.key
    ))
}

async fn list(store: StoreArgs) -> anyhow::Result<String> {
    let engine = store.engine().await?;
    let now = engine.now();
    let projects = engine.projects().await?;
    let keys = engine.keys().await?;
    let mut rows = Vec::new();
    for p in &projects {
        for env in &p.environments {
            let mine: Vec<_> = keys.iter().filter(|k| k.key.env_id == env.id).collect();
            if mine.is_empty() {
                rows.push(vec![
                    p.project.name.clone(),
                    env.slug.clone(),
                    "(none)".into(),
                    String::new(),
                    String::new(),
                ]);
            }
            for k in mine {
                let state = match k.state(now) {
                    KeyState::Active => "active".to_string(),
                    KeyState::Expires(at) => format!("valid until {}", time(at)),
                    KeyState::Expired(at) => format!("expired {}", time(at)),
                    KeyState::Revoked(at) => format!("revoked {}", time(at)),
                };
                let prefix = match &k.key.prefix {
                    Some(p) => format!("{p}…"),
                    None => "(made before prefixes were kept)".into(),
                };
                rows.push(vec![
                    p.project.name.clone(),
                    env.slug.clone(),
                    prefix,
                    time(k.key.created_at),
                    state,
                ]);
            }
        }
    }
    Ok(table(&["PROJECT", "ENV", "KEY", "CREATED", "STATE"], &rows))
}
