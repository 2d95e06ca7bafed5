//! A write that repeats a row a unique index holds fails the same way on every backend: with
//! [`Error::Conflict`] (a concurrent writer got there first; running the command again
//! resolves it), and without a trace.

use trigr_store::{Error, Store};

use super::{
    get_run, insert_runs, read, sample_batch, sample_deployment, sample_run, seed, try_write,
    write, NOW, V1,
};

fn assert_conflict<T: std::fmt::Debug>(what: &str, result: trigr_store::Result<T>) {
    assert!(
        matches!(result, Err(Error::Conflict(_))),
        "{what}: {result:?}"
    );
}

pub async fn unique_violations_are_conflicts(store: &Store) {
    let (env, queue) = seed(store, "env_a").await;

    // Primary keys.
    let again = env.clone();
    let result = try_write(store, move |tx| tx.insert_environment(&again, NOW)).await;
    assert_conflict("environment id", result);
    let again = queue.clone();
    let result = try_write(store, move |tx| tx.insert_queue(&again)).await;
    assert_conflict("queue id", result);

    // A unique column, after another write in the same transaction: nothing of it is kept.
    let run = insert_runs(store, vec![sample_run(&env.id, &queue.id, 1)])
        .await
        .remove(0);
    let (other, again) = (sample_run(&env.id, &queue.id, 2), run.clone());
    let result = try_write(store, move |tx| {
        tx.insert_run(&other)?;
        tx.insert_run(&again)
    })
    .await;
    assert_conflict("run id", result);
    assert!(get_run(store, "env_a", "run_env_a_2").await.is_none());
    assert_eq!(get_run(store, "env_a", &run.id).await.unwrap().seq, run.seq);

    // Composite keys.
    let d = sample_deployment("env_a", V1, NOW);
    let mut again = d.clone();
    again.id = "dep_other".into();
    write(store, move |tx| tx.insert_deployment(&d)).await;
    let result = try_write(store, move |tx| tx.insert_deployment(&again)).await;
    assert_conflict("deployment version", result);
    write(store, |tx| {
        tx.insert_batch(&sample_batch("env_a", "batch_1"))?;
        tx.insert_batch_item("batch_1", 0, "run_env_a_1")
    })
    .await;
    let result = try_write(store, |tx| {
        tx.insert_batch_item("batch_1", 0, "run_env_a_1")
    })
    .await;
    assert_conflict("batch item index", result);
    assert_eq!(read(store, |tx| tx.batch_indexes("batch_1")).await, [0]);

    // A statement that skips a repeated row reports no conflict.
    let added_twice = write(store, |tx| {
        tx.insert_api_key("hash", "tr_dev_hash", "env_a", NOW)?;
        tx.insert_api_key("hash", "tr_dev_hash", "env_a", NOW)
    })
    .await;
    assert!(!added_twice);
}
