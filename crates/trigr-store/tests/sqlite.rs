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
}

async fn fixture() -> SqliteFixture {
    SqliteFixture {
        dir: tempfile::tempdir().expect("temporary directory"),
    }
}

conformance::suite!(fixture);

/// Each migration is recorded once, however often the file is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_migrations_record_version_1_once() {
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
    assert_eq!(rows.len(), 1, "one migration recorded: {rows:?}");
    let (version, count, applied_at) = rows[0];
    assert_eq!((version, count), (1, 1));
    // Recorded in epoch milliseconds.
    assert!(applied_at > 1_600_000_000_000, "applied_at {applied_at}");
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
