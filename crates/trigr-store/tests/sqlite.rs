//! The store conformance suite on the embedded SQLite backend, plus what only SQLite has.

mod conformance;

use conformance::Fixture;
use tempfile::TempDir;
use trigr_store::Store;

/// A fresh database file in its own temporary directory.
struct SqliteFixture {
    dir: TempDir,
}

impl SqliteFixture {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("t.db")
    }
}

impl Fixture for SqliteFixture {
    fn open(&self) -> Store {
        Store::open(&format!("sqlite://{}/t.db", self.dir.path().display()))
            .expect("open the SQLite store")
    }

    fn open_observed(
        &self,
        observer: std::sync::Arc<dyn trigr_store::observe::CommitObserver>,
    ) -> Store {
        Store::open_observed(
            &format!("sqlite://{}/t.db", self.dir.path().display()),
            Some(observer),
        )
        .expect("open the store")
    }
}

async fn fixture() -> SqliteFixture {
    SqliteFixture {
        dir: tempfile::tempdir().expect("temporary directory"),
    }
}

conformance::suite!(fixture);

/// Each migration is recorded once, however often the file is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_migrations_record_each_version_once() {
    let fixture = fixture().await;
    for _ in 0..3 {
        let store = fixture.open();
        conformance::write(&store, |tx| tx.has_environments()).await;
        store.close();
    }
    let conn = rusqlite::Connection::open(fixture.path()).unwrap();
    let mut st = conn
        .prepare("SELECT version, COUNT(*), MIN(applied_at) FROM schema_migrations GROUP BY version ORDER BY version")
        .unwrap();
    let rows: Vec<(i64, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let versions: Vec<(i64, i64)> = rows.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(
        versions,
        conformance::migration_numbers("sqlite")
            .into_iter()
            .map(|v| (v, 1))
            .collect::<Vec<_>>(),
        "each migration once: {rows:?}"
    );
    // Recorded in epoch milliseconds.
    assert!(rows.iter().all(|r| r.2 > 1_600_000_000_000), "{rows:?}");
}

/// A database made by the first schema version is brought up to date with its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_database_is_migrated() {
    let fixture = fixture().await;
    {
        let conn = rusqlite::Connection::open(fixture.path()).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 1700000000000);
             INSERT INTO organizations (id, slug, created_at) VALUES ('org_1', 'o', 1);
             INSERT INTO projects (id, org_id, ref, name, created_at) VALUES ('proj_env_a', 'org_1', 'r', 'P', 1);
             INSERT INTO environments (id, project_id, slug, kind, concurrency_limit, running, signing_secret, created_at)
                 VALUES ('env_a', 'proj_env_a', 'dev', 'dev', 7, 3, 's', 1);
             INSERT INTO concurrency_slots VALUES ('q', '', 3);",
        )
        .unwrap();
    }
    let store = fixture.open();
    let env = conformance::read(&store, |tx| tx.environment("env_a"))
        .await
        .unwrap();
    assert_eq!(env.concurrency_limit, 7);
    // Counts now come from the runs: none hold a slot.
    assert_eq!(
        conformance::read(&store, |tx| tx.env_running("env_a")).await,
        0
    );
    assert_eq!(
        conformance::read(&store, |tx| tx.slot_running("q", "")).await,
        0
    );
    store.close();
}

/// Priorities stored in whole seconds (before version 11) are kept in milliseconds after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_seconds_become_milliseconds() {
    let fixture = fixture().await;
    let store = fixture.open();
    conformance::runs_with_priorities_in_seconds(&store).await;
    store.close();
    // Back to the schema before version 11, with the priorities in seconds.
    {
        let conn = rusqlite::Connection::open(fixture.path()).unwrap();
        conn.execute_batch(
            "ALTER TABLE runs RENAME COLUMN priority_ms TO priority;
             DELETE FROM schema_migrations WHERE version = 11;",
        )
        .unwrap();
    }
    let store = fixture.open();
    conformance::migrated_priorities(&store).await;
    store.close();
}

/// Both URL spellings open the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_forms() {
    let fixture = fixture().await;
    let store = fixture.open();
    conformance::seed_env(&store, "env_a").await;
    store.close();
    let short = Store::open(&format!("sqlite:{}", fixture.path().display())).unwrap();
    assert!(conformance::read(&short, |tx| tx.environment("env_a"))
        .await
        .is_some());
    short.close();
    assert!(Store::open("postgres://localhost/trigr").is_err());
}

/// The store runs in WAL mode with full fsync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_mode() {
    let fixture = fixture().await;
    let store = fixture.open();
    conformance::seed_env(&store, "env_a").await;
    let conn = rusqlite::Connection::open(fixture.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    store.close();
}

/// Two processes starting on a new database at once both open it.
#[test]
fn concurrent_first_open() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let openers: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    Store::open(&url)
                        .map(|store| store.close())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}
