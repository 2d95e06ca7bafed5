//! The store conformance suite on the PostgreSQL backend, plus what only PostgreSQL has.
//!
//! Each test gets a schema of its own in the database `TRIGR_TEST_DATABASE_URL` names
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end. When that
//! server cannot be reached the tests pass without running, saying so, unless
//! `TRIGR_REQUIRE_POSTGRES=1`.

mod conformance;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conformance::Fixture;
use trigr_store::Store;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh schema; every store opened on it finds its tables there (`search_path`).
struct PgFixture {
    base_url: String,
    schema: String,
}

impl PgFixture {
    /// The URL of the store: the base URL, with the schema as the search path.
    fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.schema
        )
    }
}

impl Fixture for PgFixture {
    fn open(&self) -> Store {
        Store::open(&self.url()).expect("open the PostgreSQL store")
    }

    fn open_observed(
        &self,
        observer: std::sync::Arc<dyn trigr_store::observe::CommitObserver>,
    ) -> Store {
        Store::open_observed(&self.url(), Some(observer)).expect("open the store")
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let (url, schema) = (self.base_url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let mut client = connect(&url).ok()?;
            client
                .batch_execute(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .ok()
        })
        .join();
    }
}

fn connect(url: &str) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    config
        .connect(postgres::NoTls)
        .map_err(|e| match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        })
}

/// A new schema name, unique across test processes.
fn schema_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fixture on a fresh schema, or `None` when the server is unreachable (and not required).
async fn fixture() -> Option<PgFixture> {
    let base_url = std::env::var("TRIGR_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let schema = schema_name();
    let (url, name) = (base_url.clone(), schema.clone());
    let created = tokio::task::spawn_blocking(move || {
        connect(&url)?
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .map_err(|e| e.to_string())
    })
    .await
    .expect("schema creation panicked");
    match created {
        Ok(()) => Some(PgFixture { base_url, schema }),
        Err(reason) if std::env::var("TRIGR_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("PostgreSQL is required (TRIGR_REQUIRE_POSTGRES=1) but unreachable: {reason}")
        }
        Err(reason) => {
            println!("PostgreSQL suite skipped: {reason} (set TRIGR_TEST_DATABASE_URL)");
            None
        }
    }
}

conformance::suite!(optional fixture);

/// Servers starting together on a new schema all open it, and the migrations are applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_open() {
    for round in 0..5 {
        let Some(fixture) = fixture().await else {
            return;
        };
        let url = fixture.url();
        let openers: Vec<_> = ["postgres://", "postgresql://"]
            .into_iter()
            .flat_map(|scheme| {
                let url = url.replacen("postgres://", scheme, 1);
                [url.clone(), url]
            })
            .map(|url| {
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
        let store = fixture.open();
        conformance::seed_env(&store, "env_a").await;
        store.close();
        let (base, schema) = (fixture.base_url.clone(), fixture.schema.clone());
        let rows = tokio::task::spawn_blocking(move || {
            connect(&base)
                .unwrap()
                .query(
                    &format!(
                        "SELECT version, COUNT(*), MIN(applied_at) FROM {schema}.schema_migrations \
                         GROUP BY version ORDER BY version"
                    ),
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let versions: Vec<(i64, i64)> = rows.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            versions,
            conformance::migration_numbers("postgres")
                .into_iter()
                .map(|v| (v, 1))
                .collect::<Vec<_>>(),
            "round {round}: each migration recorded once: {rows:?}"
        );
        assert!(rows.iter().all(|r| r.2 > 1_600_000_000_000), "{rows:?}");
    }
}

/// Priorities stored in whole seconds (before version 11) are kept in milliseconds after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_seconds_become_milliseconds() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let store = fixture.open();
    conformance::runs_with_priorities_in_seconds(&store).await;
    store.close();
    // Back to the schema before version 11, with the priorities in seconds.
    let (base, schema) = (fixture.base_url.clone(), fixture.schema.clone());
    tokio::task::spawn_blocking(move || {
        connect(&base)
            .unwrap()
            .batch_execute(&format!(
                "ALTER TABLE {schema}.runs RENAME COLUMN priority_ms TO priority; \
                 DELETE FROM {schema}.schema_migrations WHERE version = 11"
            ))
            .unwrap()
    })
    .await
    .unwrap();
    let store = fixture.open();
    conformance::migrated_priorities(&store).await;
    store.close();
}

/// A statement that fails poisons its transaction in PostgreSQL: a closure that ignores the
/// error and succeeds is not acknowledged, and nothing it did is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_statement_error_fails_the_write() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let store = fixture.open();
    let (_, q) = conformance::seed(&store, "env_a").await;
    conformance::insert_runs(&store, vec![conformance::sample_run("env_a", &q.id, 1)]).await;
    let qid = q.id.clone();
    let result = conformance::try_write(&store, move |tx| {
        tx.insert_api_key("hash_x", "tr_dev_x", "env_a", conformance::NOW)?;
        let duplicate = tx.insert_run(&conformance::sample_run("env_a", &qid, 1));
        assert!(matches!(duplicate, Err(trigr_store::Error::Conflict(_))));
        Ok(())
    })
    .await;
    assert!(
        matches!(result, Err(trigr_store::Error::Conflict(_))),
        "{result:?}"
    );
    assert!(conformance::read(&store, |tx| tx.env_by_key_hash("hash_x"))
        .await
        .is_none());
    store.close();
}

/// `lock_for_dequeue` makes a second dequeue of the same environment wait for the first one's
/// commit, and leaves other environments alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dequeue_lock_serializes_one_environment() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let store = fixture.open();
    let hold = Duration::from_millis(500);
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            conformance::write(&store, move |tx| {
                tx.lock_for_dequeue("env_a")?;
                std::thread::sleep(hold);
                Ok(std::time::Instant::now())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let other = conformance::write(&store, |tx| tx.lock_for_dequeue("env_b")).await;
    let other_took = started.elapsed();
    let second = conformance::write(&store, |tx| {
        tx.lock_for_dequeue("env_a")?;
        Ok(std::time::Instant::now())
    })
    .await;
    let first = first.await.unwrap();
    let _: () = other;
    assert!(second >= first, "the second dequeue ran inside the first");
    assert!(
        other_took < Duration::from_millis(300),
        "another environment waited {other_took:?}"
    );
    store.close();
}

/// Two servers' timer passes never fire one waitpoint both: a due waitpoint another
/// transaction holds is skipped, not waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_waitpoints_skip_those_another_writer_holds() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let store = fixture.open();
    conformance::seed_env(&store, "env_a").await;
    let mut due = Vec::new();
    for n in 1..=2 {
        let mut w = conformance::sample_waitpoint("env_a", n);
        w.due_at = Some(conformance::NOW + n);
        due.push(w);
    }
    conformance::insert_waitpoints(&store, due).await;
    let hold = Duration::from_millis(500);
    let first = {
        let store = store.clone();
        tokio::spawn(async move {
            conformance::write(&store, move |tx| {
                let got = tx.due_waitpoints(conformance::NOW + 10, 1)?;
                std::thread::sleep(hold);
                Ok(got.into_iter().map(|w| w.id).collect::<Vec<_>>())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let second: Vec<String> = conformance::write(&store, |tx| {
        Ok(tx
            .due_waitpoints(conformance::NOW + 10, 10)?
            .into_iter()
            .map(|w| w.id)
            .collect())
    })
    .await;
    let took = started.elapsed();
    let first = first.await.unwrap();
    assert_eq!(first, ["waitpoint_env_a_1"]);
    assert_eq!(second, ["waitpoint_env_a_2"], "the held one is skipped");
    assert!(took < Duration::from_millis(300), "waited {took:?}");
    store.close();
}

/// A sender holding a run never waits for an input waitpoint another writer holds (the timer
/// timing it out): it is skipped, so the two cannot deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_waitpoints_skip_those_another_writer_holds() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let store = fixture.open();
    conformance::seed_env(&store, "env_a").await;
    let mut waits = Vec::new();
    for n in 1..=2 {
        let mut w = conformance::sample_waitpoint("env_a", n);
        w.kind = trigr_store::WaitpointKind::Input;
        w.owner_run_id = Some("run_x".into());
        w.input = Some(trigr_store::InputWait {
            stream_id: "a".into(),
            after: 0,
        });
        waits.push(w);
    }
    conformance::insert_waitpoints(&store, waits).await;
    let hold = Duration::from_millis(500);
    let holder = {
        let store = store.clone();
        tokio::spawn(async move {
            conformance::write(&store, move |tx| {
                let held = tx.waitpoint("env_a", "waitpoint_env_a_1")?;
                std::thread::sleep(hold);
                Ok(held.map(|w| w.id))
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let seen: Vec<String> = conformance::write(&store, |tx| {
        Ok(tx
            .input_waitpoints("run_x", "a")?
            .into_iter()
            .map(|w| w.id)
            .collect())
    })
    .await;
    let took = started.elapsed();
    assert_eq!(holder.await.unwrap().as_deref(), Some("waitpoint_env_a_1"));
    assert_eq!(seen, ["waitpoint_env_a_2"], "the held one is skipped");
    assert!(took < Duration::from_millis(300), "waited {took:?}");
    store.close();
}
