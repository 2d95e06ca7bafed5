//! `trigr keys pat`: personal access tokens, the operator's credentials for the official
//! `trigger.dev` CLI (`TRIGGER_ACCESS_TOKEN`).

use clap::{Args, Subcommand};

use super::{table, time, StoreArgs};

#[derive(Subcommand, Debug)]
pub enum PatCommand {
    /// Make a personal access token for the trigger.dev CLI; it reaches every project.
    Create(CreateArgs),
    /// List the personal access tokens (their prefixes: tokens are stored hashed).
    List(StoreArgs),
    /// Revoke a personal access token and the secret keys it was handed, at once.
    Revoke(RevokeArgs),
    /// Approve a `trigger.dev login`: prints the approval code to paste into the CLI.
    Approve(ApproveArgs),
}

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The authorization code the login's page shows.
    pub code: String,
    /// What the token is for, like the machine it is used on.
    #[arg(long)]
    pub name: String,
    /// The address `trigger.dev whoami` shows (default: NAME@trigr.invalid, NAME being the --name).
    #[arg(long)]
    pub email: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// What the token is for, like the machine it is used on.
    #[arg(long)]
    pub name: String,
    /// The address `trigger.dev whoami` shows (default: NAME@trigr.invalid, NAME being the --name).
    #[arg(long)]
    pub email: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The token's prefix as `trigr keys pat list` shows it (tr_pat_AbCd), or the whole token.
    pub token: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn execute(cmd: PatCommand) -> anyhow::Result<String> {
    match cmd {
        PatCommand::Create(args) => {
            let engine = args.store.engine().await?;
            let created = engine.create_pat(args.name, args.email).await?;
            Ok(format!(
                "Created the personal access token {} ({}), shown once and stored hashed. It \
                 reaches every project; give it to the trigger.dev CLI as\n\
                 TRIGGER_ACCESS_TOKEN={}\n",
                created.pat.prefix, created.pat.name, created.token
            ))
        }
        PatCommand::List(store) => {
            let engine = store.engine().await?;
            let rows: Vec<Vec<String>> = engine
                .pats()
                .await?
                .into_iter()
                .map(|p| {
                    vec![
                        format!("{}…", p.prefix),
                        p.name.escape_debug().to_string(),
                        trigr_engine::pats::email_of(&p),
                        time(p.created_at),
                        p.last_used_at.map(time).unwrap_or_else(|| "never".into()),
                        match p.revoked_at {
                            Some(at) => format!("revoked {}", time(at)),
                            None => "active".into(),
                        },
                    ]
                })
                .collect();
            if rows.is_empty() {
                return Ok(
                    "No personal access tokens yet: make one with `trigr keys pat create --name NAME`.\n"
                        .into(),
                );
            }
            Ok(table(
                &["TOKEN", "NAME", "EMAIL", "CREATED", "LAST USED", "STATE"],
                &rows,
            ))
        }
        PatCommand::Approve(args) => {
            let engine = args.store.engine().await?;
            let approval = engine
                .approve_pat_login(args.code, args.name, args.email)
                .await?;
            Ok(format!(
                "Approved. Paste this approval code into the trigger.dev CLI within 10 minutes \
                 (shown once); it makes a personal access token that reaches every project:\n\
                 {approval}\n"
            ))
        }
        PatCommand::Revoke(args) => {
            let engine = args.store.engine().await?;
            let revoked = engine.revoke_pat(args.token).await?;
            Ok(format!(
                "Revoked {} ({}) and the {} secret key(s) it was handed: every server refuses \
                 the token at once, and its keys within a second.\n",
                revoked.pat.prefix, revoked.pat.name, revoked.keys
            ))
        }
    }
}
