//! Admin commands: they work on the store itself (the data directory or `--database-url`),
//! not over the network, so only someone with access to the store can run them. They are safe
//! while servers run on the same store; every server sees their changes within a second.

mod backup;
mod dashboard;
mod keys;
mod mollifier;
mod pats;
mod projects;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use trigr_engine::clock::SystemClock;
use trigr_engine::Engine;
use trigr_store::Store;

pub use backup::{BackupArgs, RestoreArgs};
pub use dashboard::DashboardCommand;
pub use keys::KeysCommand;
pub use mollifier::MollifierCommand;
pub use projects::ProjectsCommand;

/// Where the store is: the same flags and variables as `trigr server`.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "TRIGR_DATA_DIR", default_value = ".trigr")]
    pub data_dir: PathBuf,
    /// Database URL, e.g. sqlite://path/to/trigr.db or postgres://host/db
    /// (default: DATA_DIR/trigr.db).
    #[arg(long, env = "TRIGR_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The store's URL, a SQLite path made absolute.
    pub fn url(&self) -> String {
        trigr_server::database_url(self.database_url.as_deref(), &self.data_dir)
    }

    /// Opens an existing store (an admin command never creates one by mistake).
    async fn engine(&self) -> anyhow::Result<Engine> {
        let url = self.url();
        if let Some(file) = url.strip_prefix("sqlite://") {
            if !std::path::Path::new(file).exists() {
                anyhow::bail!(
                    "there is no store at {file}: start `trigr server` once, or pass the \
                     --data-dir (or --database-url) the server uses"
                );
            }
        }
        let store = tokio::task::spawn_blocking(move || Store::open(&url)).await??;
        Ok(Engine::new(
            store,
            Arc::new(SystemClock),
            trigr_engine::Config::default(),
        ))
    }
}

/// Admin commands of `trigr`.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// List, create, rotate and revoke the secret keys of environments (on the store).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List and create projects, each with dev, staging and prod environments (on the store).
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Copy the SQLite store to a file while servers run.
    Backup(BackupArgs),
    /// Put a backup in place as the SQLite store (no server may be running on it).
    Restore(RestoreArgs),
    /// Sign-in links to the dashboard (on the store).
    #[command(subcommand)]
    Dashboard(DashboardCommand),
    /// Burst smoothing: every environment's state, and overrides (on the store).
    #[command(subcommand)]
    Mollifier(MollifierCommand),
}

/// Runs an admin command and returns what it prints.
pub async fn execute(cmd: AdminCommand) -> anyhow::Result<String> {
    match cmd {
        AdminCommand::Keys(cmd) => keys::execute(cmd).await,
        AdminCommand::Projects(cmd) => projects::execute(cmd).await,
        AdminCommand::Backup(args) => backup::backup(args).await,
        AdminCommand::Restore(args) => backup::restore(args).await,
        AdminCommand::Dashboard(cmd) => dashboard::execute(cmd).await,
        AdminCommand::Mollifier(cmd) => mollifier::execute(cmd).await,
    }
}

/// A time as the admin commands print it.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}
