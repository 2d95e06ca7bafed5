//! What the queues API writes: description and origin kept, tags replaced and filtered on with
//! paging, renames carried into the queue's runs, live runs counted and moved per task, and a
//! deleted queue gone with its tags.

use trigr_store::Store;
use trigr_types::RunStatus;

use super::{insert_runs, read, sample_queue, sample_run, seed_env, write};

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn tag(store: &Store, queue_id: &str, list: &[&str]) {
    let (id, list) = (queue_id.to_string(), tags(list));
    write(store, move |tx| tx.set_queue_tags(&id, &list)).await
}

/// A queue made through the API reads back with its description and origin; tags are
/// replaced whole and the tag filter pages in name order within one environment.
pub async fn queue_api_tags_and_origin(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_o").await;
    let mut made = sample_queue("env_a", "b-reports");
    made.description = Some("nightly reports".to_string());
    made.from_api = true;
    for q in [
        made.clone(),
        sample_queue("env_a", "a-mail"),
        sample_queue("env_a", "c-other"),
        sample_queue("env_o", "a-mail"),
    ] {
        write(store, move |tx| tx.insert_queue(&q)).await;
    }
    let back = read(store, |tx| tx.queue_by_name("env_a", "b-reports"))
        .await
        .unwrap();
    assert_eq!(back.description.as_deref(), Some("nightly reports"));
    assert!(back.from_api);
    let code = read(store, |tx| tx.queue_by_name("env_a", "a-mail"))
        .await
        .unwrap();
    assert!(!code.from_api);
    assert_eq!(code.description, None);

    tag(store, &made.id, &["x", "old"]).await;
    tag(store, &made.id, &["team", "x"]).await;
    tag(store, &code.id, &["x"]).await;
    tag(store, "queue_env_o_a-mail", &["x"]).await;
    let id = made.id.clone();
    assert_eq!(
        read(store, move |tx| tx.queue_tags(&id)).await,
        tags(&["team", "x"])
    );

    let (page, total) = read(store, |tx| tx.queues_tagged("env_a", "x", 0, 1)).await;
    assert_eq!(total, 2);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].name, "a-mail");
    let (page, _) = read(store, |tx| tx.queues_tagged("env_a", "x", 1, 1)).await;
    assert_eq!(page[0].name, "b-reports");
    let (page, total) = read(store, |tx| tx.queues_tagged("env_a", "old", 0, 10)).await;
    assert_eq!((page.len(), total), (0, 0));

    // A rename and a new description are written by update_queue.
    let mut renamed = back.clone();
    renamed.name = "reports".to_string();
    renamed.description = None;
    write(store, move |tx| tx.update_queue(&renamed)).await;
    let again = read(store, |tx| tx.queue_by_name("env_a", "reports"))
        .await
        .unwrap();
    assert_eq!(again.id, made.id);
    assert_eq!(again.description, None);

    // Deleting takes the tags with it.
    let id = made.id.clone();
    write(store, move |tx| tx.delete_queue(&id)).await;
    let id = made.id.clone();
    assert!(read(store, move |tx| tx.queue_by_id("env_a", &id))
        .await
        .is_none());
    let id = made.id.clone();
    assert!(read(store, move |tx| tx.queue_tags(&id)).await.is_empty());
    let (_, total) = read(store, |tx| tx.queues_tagged("env_a", "x", 0, 10)).await;
    assert_eq!(total, 1);
}

/// Live runs are counted and their tasks listed; moving one task's live runs leaves its
/// finished runs and other tasks' runs where they were; a rename reaches every run.
pub async fn queue_api_live_runs_move(store: &Store) {
    seed_env(store, "env_a").await;
    let from = sample_queue("env_a", "shared");
    let to = sample_queue("env_a", "task/task-b");
    for q in [from.clone(), to.clone()] {
        write(store, move |tx| tx.insert_queue(&q)).await;
    }
    let mut runs = Vec::new();
    for (n, task, status) in [
        (1, "task-b", RunStatus::Queued),
        (2, "task-b", RunStatus::Executing),
        (3, "task-b", RunStatus::Completed),
        (4, "task-a", RunStatus::Delayed),
        (5, "task-a", RunStatus::Failed),
    ] {
        let mut r = sample_run("env_a", &from.id, n);
        r.task_id = task.to_string();
        r.queue_name = "shared".to_string();
        r.status = status;
        runs.push(r);
    }
    let runs = insert_runs(store, runs).await;
    let id = from.id.clone();
    assert_eq!(read(store, move |tx| tx.queue_live_runs(&id)).await, 3);
    let id = from.id.clone();
    assert_eq!(
        read(store, move |tx| tx.queue_live_tasks(&id, 10)).await,
        tags(&["task-a", "task-b"])
    );
    let id = from.id.clone();
    assert_eq!(
        read(store, move |tx| tx.queue_live_tasks(&id, 1)).await,
        tags(&["task-a"])
    );

    let (id, dest) = (from.id.clone(), to.clone());
    let moved = write(store, move |tx| tx.move_live_runs(&id, "task-b", &dest)).await;
    assert_eq!(moved, 2);
    for (run, queue) in [
        (&runs[0], &to),
        (&runs[1], &to),
        (&runs[2], &from),
        (&runs[3], &from),
    ] {
        let rid = run.id.clone();
        let back = read(store, move |tx| tx.run("env_a", &rid)).await.unwrap();
        assert_eq!(back.queue_id, queue.id);
        assert_eq!(back.queue_name, queue.name);
    }
    let id = from.id.clone();
    assert_eq!(read(store, move |tx| tx.queue_live_runs(&id)).await, 1);

    let id = from.id.clone();
    let renamed = write(store, move |tx| tx.rename_queue_runs(&id, "renamed")).await;
    assert_eq!(renamed, 3);
    let rid = runs[4].id.clone();
    let back = read(store, move |tx| tx.run("env_a", &rid)).await.unwrap();
    assert_eq!(back.queue_name, "renamed");
}
