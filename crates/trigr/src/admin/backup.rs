//! `trigr backup` and `trigr restore`: a consistent copy of the SQLite store, taken while
//! servers run, and putting one back in place.

use std::path::PathBuf;

use clap::Args;
use trigr_store::Store;

use super::StoreArgs;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// File to write; it must not exist.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A file `trigr backup` wrote.
    pub file: PathBuf,
    /// Replace an existing store (it is kept beside it as `trigr.db.before-restore-<time>`).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<String> {
    let url = args.store.url();
    let dest = args.file.clone();
    let version = tokio::task::spawn_blocking(move || Store::backup(&url, &dest)).await??;
    Ok(format!(
        "Backed up {} to {} (schema version {version}).\n",
        trigr_server::redacted(&args.store.url()),
        args.file.display()
    ))
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<String> {
    let url = args.store.url();
    let src = args.file.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let kept =
        tokio::task::spawn_blocking(move || Store::restore(&url, &src, args.force, now)).await??;
    let mut out = format!(
        "Restored {} from {}.\n",
        args.store.url().trim_start_matches("sqlite://"),
        args.file.display()
    );
    if let Some(kept) = kept {
        out.push_str(&format!(
            "The store it replaced is kept as {}.\n",
            kept.display()
        ));
    }
    Ok(out)
}
