//! Versions in the dev loop, with real SDK workers on a real server, on SQLite and on
//! PostgreSQL (`on_sqlite::…`, `on_postgres::…`; the PostgreSQL ones use
//! `TRIGR_TEST_DATABASE_URL`, a fresh schema per test, and pass with a note when it is not
//! there unless `TRIGR_REQUIRE_POSTGRES=1`).
//!
//! * `workers_side_by_side_serve_the_union_of_their_tasks`: an example's worker started next
//!   to one's own worker no longer takes its tasks away: each task runs on the worker that
//!   declares it, and a child run of the other worker's task goes there too.
//! * `a_migrated_run_replays_its_journal_on_the_new_version`: runs waiting on a version whose
//!   worker is gone move to a rebuilt one with `migrate_runs`; the one whose code is the same
//!   resumes without running its journaled step again, the one whose code changed fails with
//!   the non-determinism error.

mod pg;

use pg::Schema;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trigr_sdk::testkit::{Builder, TestServer};
use trigr_sdk::{task, MigrateRuns, RunStatus, Task, TaskRef};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A test server on a backend, and its schema on PostgreSQL (dropped after the server).
struct Env {
    server: TestServer,
    _schema: Option<Schema>,
}

impl Env {
    async fn start(backend: Backend) -> Option<Env> {
        let builder = Builder::default().test_clock(true);
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(tokio::task::block_in_place(|| Schema::create("sdkv"))?),
        };
        let builder = match &schema {
            Some(s) => builder.database_url(s.url()),
            None => builder,
        };
        Some(Env {
            server: builder.start().await,
            _schema: schema,
        })
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    workers_side_by_side_serve_the_union_of_their_tasks,
    a_migrated_run_replays_its_journal_on_the_new_version,
);

async fn workers_side_by_side_serve_the_union_of_their_tasks(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let server = &env.server;
    let process_order = task("process-order")
        .run(|order: u32, _ctx| async move { Ok(format!("order {order} processed")) });
    let own = server
        .worker()
        .task(process_order.clone())
        .build_id(Some("own".into()))
        .start()
        .await
        .expect("own worker");

    // The example registers later: its version is current now.
    let process = TaskRef::<u32, String>::new("process-order");
    let hello = task("hello").run(move |name: String, ctx| {
        let process = process.clone();
        async move {
            let child = ctx.trigger_and_wait(&process, &7).await?.into_result()?;
            Ok(format!("Hello {name}, {child}"))
        }
    });
    let example = server
        .worker()
        .task(hello.clone())
        .build_id(Some("example".into()))
        .start()
        .await
        .expect("example worker");
    assert_ne!(own.version(), example.version());

    let client = server.client();
    let handle = client.trigger(&process_order, &1).await.expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.version.as_deref(), Some(own.version()));
    assert_eq!(
        run.output_as::<String>().expect("output").as_deref(),
        Some("order 1 processed")
    );

    // The example's task calls the other worker's task as a child.
    let handle = client
        .trigger(&hello, &"Ada".to_string())
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.version.as_deref(), Some(example.version()));
    assert_eq!(
        run.output_as::<String>().expect("output").as_deref(),
        Some("Hello Ada, order 7 processed")
    );
    own.shutdown().await.expect("shutdown");
    example.shutdown().await.expect("shutdown");
}

/// A task that journals a step, waits an hour, and returns the step's result; `first` names
/// its first step (another name is another code).
fn order_task(id: &str, first: &'static str, charges: Arc<AtomicUsize>) -> Task<u32, String> {
    task(id).run(move |n: u32, ctx| {
        let charges = charges.clone();
        async move {
            let charge: String = ctx
                .step(first, || async move {
                    charges.fetch_add(1, Ordering::SeqCst);
                    Ok(format!("ch_{n}"))
                })
                .await?;
            ctx.wait_for(Duration::from_secs(3600)).await?;
            Ok(format!("shipped with {charge}"))
        }
    })
}

async fn a_migrated_run_replays_its_journal_on_the_new_version(backend: Backend) {
    let Some(env) = Env::start(backend).await else {
        return;
    };
    let server = &env.server;
    let charges = Arc::new(AtomicUsize::new(0));
    let old = server
        .worker()
        .task(order_task("same", "charge", charges.clone()))
        .task(order_task("changed", "charge", charges.clone()))
        .build_id(Some("old".into()))
        .start()
        .await
        .expect("old worker");
    let old_version = old.version().to_string();
    let client = server.client();
    let same = client
        .trigger(&TaskRef::<u32, String>::new("same"), &1)
        .await
        .expect("trigger");
    let changed = client
        .trigger(&TaskRef::<u32, String>::new("changed"), &2)
        .await
        .expect("trigger");
    server.wait_for_status(&same.id, RunStatus::Waiting).await;
    server
        .wait_for_status(&changed.id, RunStatus::Waiting)
        .await;
    assert_eq!(charges.load(Ordering::SeqCst), 2);
    old.shutdown().await.expect("shutdown");

    // A rebuild: "same" keeps its code, "changed" now reaches another step first.
    let new = server
        .worker()
        .task(order_task("same", "charge", charges.clone()))
        .task(order_task("changed", "refund", charges.clone()))
        .build_id(Some("new".into()))
        .start()
        .await
        .expect("new worker");
    assert_ne!(new.version(), old_version);

    let moved = client
        .migrate_runs(&MigrateRuns {
            from: old_version.clone(),
            to: new.version().to_string(),
            ..Default::default()
        })
        .await
        .expect("migrate");
    assert_eq!((moved.moved, moved.executing), (2, 0), "{moved:?}");
    assert!(
        moved.skipped.is_empty() && moved.next_cursor.is_none(),
        "{moved:?}"
    );
    for id in [&same.id, &changed.id] {
        let run = client.retrieve_run(id).await.expect("run");
        assert_eq!(run.status, RunStatus::Waiting, "still waiting: {run:?}");
        assert_eq!(run.version.as_deref(), Some(new.version()));
    }

    server.advance_clock(Duration::from_secs(3600)).await;
    let run = server.wait_for_run(&same.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output_as::<String>().expect("output").as_deref(),
        Some("shipped with ch_1"),
        "the journaled step's result"
    );
    let run = server.wait_for_run(&changed.id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.expect("an error");
    assert_eq!(
        error.name.as_deref(),
        Some("NonDeterminismError"),
        "{error:?}"
    );
    assert!(
        error.message.contains("\"charge\"") && error.message.contains("\"refund\""),
        "{}",
        error.message
    );
    assert_eq!(
        charges.load(Ordering::SeqCst),
        2,
        "no journaled step ran again, and the changed step never ran"
    );
    new.shutdown().await.expect("shutdown");
}
