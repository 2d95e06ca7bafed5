//! Online backup and offline restore of a SQLite store (`trigr backup`, `trigr restore`).
//!
//! A backup is `VACUUM INTO` on a read transaction: a consistent copy of everything committed
//! when it began, taken while the server keeps writing (WAL readers never block the writer).
//! It is written next to its destination, synced, then renamed into place, so a backup file
//! is either whole or absent.
//!
//! A restore needs the store to itself: every process that opens the store holds a shared
//! lock on `<file>.lock`, and a restore takes it exclusively or refuses. The store it
//! replaces is first checkpointed (its WAL folded in) and kept beside it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::sql::Spelling;
use crate::{Error, Result};

/// How a process holds the store's lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Using the store: any number of processes at once.
    Shared,
    /// Replacing it: nobody else.
    Exclusive,
}

/// Takes the store's lock file without waiting.
pub fn lock(db: &Path, how: Lock) -> Result<File> {
    let path = lock_path(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::Open(format!("cannot open {}: {e}", path.display())))?;
    let taken = match how {
        Lock::Shared => file.try_lock_shared(),
        Lock::Exclusive => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Open(match how {
            Lock::Shared => format!(
                "{} is being restored (`trigr restore`); start again when it is done",
                db.display()
            ),
            Lock::Exclusive => format!(
                "{} is in use by a trigr server or command: stop it first",
                db.display()
            ),
        })),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::Open(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

fn lock_path(db: &Path) -> PathBuf {
    with_suffix(db, ".lock")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies the store at `db` to `dest` while it is in use; refuses to overwrite `dest`.
/// Returns the schema version of the copy.
pub fn backup(db: &Path, dest: &Path) -> Result<i64> {
    if !db.exists() {
        return Err(Error::Open(format!(
            "there is no store at {}",
            db.display()
        )));
    }
    if dest.exists() {
        return Err(Error::Open(format!(
            "{} exists: a backup never overwrites a file",
            dest.display()
        )));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let version = schema_version(&conn)?;
    let partial = with_suffix(dest, ".partial");
    let _ = std::fs::remove_file(&partial);
    let text = partial
        .to_str()
        .ok_or_else(|| Error::Open(format!("{} is not UTF-8", partial.display())))?;
    let copied = conn.execute("VACUUM INTO ?1", [text]);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    sync_file(&partial)?;
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    sync_dir(dest)?;
    Ok(version)
}

/// Puts the backup `src` in place as the store at `db`. An existing store is replaced only
/// with `force`, and is kept as `<file>.before-restore-<millis>`; returns that path.
pub fn restore(src: &Path, db: &Path, force: bool, now: i64) -> Result<Option<PathBuf>> {
    let version = check_backup(src)?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let _lock = lock(db, Lock::Exclusive)?;
    let kept = if db.exists() {
        if !force {
            return Err(Error::Open(format!(
                "{} already holds a store: pass --force to replace it (it is kept beside)",
                db.display()
            )));
        }
        Some(set_aside(db, now)?)
    } else {
        None
    };
    let partial = with_suffix(db, ".restoring");
    std::fs::copy(src, &partial).map_err(io(&partial))?;
    sync_file(&partial)?;
    std::fs::rename(&partial, db).map_err(io(db))?;
    sync_dir(db)?;
    tracing::info!(version, "restored {} from {}", db.display(), src.display());
    Ok(kept)
}

/// A backup must be a whole SQLite file of a trigr store this binary can open.
fn check_backup(src: &Path) -> Result<i64> {
    let conn = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::Open(format!("cannot open {}: {e}", src.display())))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| Error::Open(format!("{} is not a SQLite file: {e}", src.display())))?;
    if check != "ok" {
        return Err(Error::Open(format!(
            "{} is damaged: {check}",
            src.display()
        )));
    }
    let version = schema_version(&conn)
        .map_err(|_| Error::Open(format!("{} is not a trigr store", src.display())))?;
    crate::sql::check_schema_version(version)?;
    Ok(version)
}

fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        crate::sql::NEWEST_MIGRATION.text(Spelling::Sqlite),
        [],
        |r| r.get(0),
    )?)
}

/// Folds the WAL of the store into its file and moves the file (and what SQLite keeps
/// beside it) aside.
fn set_aside(db: &Path, now: i64) -> Result<PathBuf> {
    {
        let conn = Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    let kept = with_suffix(db, &format!(".before-restore-{now}"));
    std::fs::rename(db, &kept).map_err(io(db))?;
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(db, side));
    }
    Ok(kept)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Open(format!("{}: {e}", path.display()))
}
