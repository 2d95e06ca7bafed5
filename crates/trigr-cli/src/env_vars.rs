//! `trigr env-vars …`: the environment variables of the key's environment — list, get, set,
//! delete, and import a `.env` file (all or nothing). Each command names the project by its
//! reference (`--project`, or `TRIGGER_PROJECT_REF`); the environment is the key's own
//! (`--env` names it explicitly: `dev`, `stg`, `prod`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use trigr_sdk::env_vars::parse_dotenv;

use crate::api::{Api, ApiError, ConnectionArgs};
use crate::{output, table};

/// Subcommands of `trigr env-vars`.
#[derive(clap::Subcommand, Debug)]
pub enum EnvVarsCommand {
    /// List the variables (secret values show as `<redacted>`).
    List(EnvVarsListArgs),
    /// Show one variable.
    Get(EnvVarsNameArgs),
    /// Set a variable: create it, or give it a new value.
    Set(EnvVarsSetArgs),
    /// Delete a variable.
    Delete(EnvVarsNameArgs),
    /// Import the variables of a .env file, all or none.
    Import(EnvVarsImportArgs),
}

/// Which environment: the project reference and the slug.
#[derive(clap::Args, Debug, Clone)]
pub struct Where {
    /// The project's reference (proj_…).
    #[arg(long, env = "TRIGGER_PROJECT_REF", value_name = "REF")]
    pub project: String,
    /// The environment: dev, stg or prod (default: the secret key's).
    #[arg(long, value_name = "SLUG")]
    pub env: Option<String>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

impl Where {
    /// The slug: `--env`, else the one the secret key's prefix names.
    fn slug(&self) -> String {
        if let Some(env) = &self.env {
            return env.clone();
        }
        let key = self.conn.secret_key.as_deref().unwrap_or_default();
        let prefix = key.strip_prefix("tr_").and_then(|k| k.split('_').next());
        prefix.unwrap_or("dev").to_string()
    }
}

/// Arguments of `trigr env-vars list`.
#[derive(clap::Args, Debug, Clone)]
pub struct EnvVarsListArgs {
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub at: Where,
}

/// Arguments of `trigr env-vars get` and `trigr env-vars delete`.
#[derive(clap::Args, Debug, Clone)]
pub struct EnvVarsNameArgs {
    /// The variable's name.
    pub name: String,
    #[command(flatten)]
    pub at: Where,
}

/// Arguments of `trigr env-vars set`.
#[derive(clap::Args, Debug, Clone)]
pub struct EnvVarsSetArgs {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Mark a new variable secret (its value is redacted when listed).
    #[arg(long)]
    pub secret: bool,
    #[command(flatten)]
    pub at: Where,
}

/// Arguments of `trigr env-vars import`.
#[derive(clap::Args, Debug, Clone)]
pub struct EnvVarsImportArgs {
    /// The .env file: NAME=value lines.
    pub file: PathBuf,
    /// Replace the values of variables that exist (default: they keep theirs).
    #[arg(long)]
    pub r#override: bool,
    /// Mark every imported variable secret.
    #[arg(long)]
    pub secret: bool,
    #[command(flatten)]
    pub at: Where,
}

/// Runs one `trigr env-vars` subcommand and returns its output.
pub async fn execute(cmd: EnvVarsCommand) -> anyhow::Result<String> {
    match cmd {
        EnvVarsCommand::List(a) => list(a).await,
        EnvVarsCommand::Get(a) => {
            let api = Api::connect(&a.at.conn)?;
            let slug = a.at.slug();
            let var = api
                .sdk()
                .env_vars()
                .retrieve(&a.at.project, &slug, &a.name)
                .await;
            Ok(format!("{}\n", var.map_err(ApiError::from)?.value))
        }
        EnvVarsCommand::Set(a) => set(a).await,
        EnvVarsCommand::Delete(a) => {
            let api = Api::connect(&a.at.conn)?;
            let slug = a.at.slug();
            let done = api
                .sdk()
                .env_vars()
                .delete(&a.at.project, &slug, &a.name)
                .await;
            done.map_err(ApiError::from)?;
            Ok(format!("Deleted {}.\n", a.name))
        }
        EnvVarsCommand::Import(a) => import(a).await,
    }
}

async fn list(a: EnvVarsListArgs) -> anyhow::Result<String> {
    let api = Api::connect(&a.at.conn)?;
    let vars = api.sdk().env_vars().list(&a.at.project, &a.at.slug()).await;
    let vars = vars.map_err(ApiError::from)?;
    if a.json {
        return Ok(output::json(&serde_json::to_value(&vars)?));
    }
    if vars.is_empty() {
        return Ok("No environment variables.\n".to_string());
    }
    let rows: Vec<Vec<String>> = vars
        .into_iter()
        .map(|v| vec![v.name, v.value, if v.is_secret { "yes" } else { "" }.into()])
        .collect();
    Ok(table::render(&["NAME", "VALUE", "SECRET"], &rows))
}

/// Updates the variable, or creates it when there is none. With `--secret` it is written as
/// an import of one variable, so an existing plain variable becomes secret too (an update
/// keeps a variable's secrecy).
async fn set(a: EnvVarsSetArgs) -> anyhow::Result<String> {
    let api = Api::connect(&a.at.conn)?;
    let (vars, slug) = (api.sdk().env_vars(), a.at.slug());
    if a.secret {
        let one = BTreeMap::from([(a.name.clone(), a.value.clone())]);
        let written = vars.import(&a.at.project, &slug, &one, true, true).await;
        written.map_err(ApiError::from)?;
        return Ok(format!("Set {} (secret).\n", a.name));
    }
    let updated = vars.update(&a.at.project, &slug, &a.name, &a.value).await;
    match updated {
        Ok(()) => Ok(format!("Updated {}.\n", a.name)),
        Err(e) if e.status() == Some(404) => {
            let created = vars.create(&a.at.project, &slug, &a.name, &a.value, a.secret);
            created.await.map_err(ApiError::from)?;
            Ok(format!("Created {}.\n", a.name))
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

async fn import(a: EnvVarsImportArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let vars: BTreeMap<String, String> =
        parse_dotenv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let api = Api::connect(&a.at.conn)?;
    let slug = a.at.slug();
    let done = api
        .sdk()
        .env_vars()
        .import(&a.at.project, &slug, &vars, a.r#override, a.secret)
        .await;
    done.map_err(ApiError::from)?;
    Ok(format!("Imported {} variables.\n", vars.len()))
}
