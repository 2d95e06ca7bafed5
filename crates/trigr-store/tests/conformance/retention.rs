//! Retention: retention periods, the scan for finished runs past them (oldest first, each with
//! whether something still needs it), and the deletions of runs, batches, tokens and packets.

use trigr_store::{
    Batch, ExpiredRun, InputMessage, JournalEntry, JournalKind, LogEntry, OutputChunk, Packet, Run,
    Span, Store, SweepCursor, WaitpointKind, WaitpointStatus,
};
use trigr_types::{Millis, RunStatus};

use super::*;

/// Retention cutoff of these tests: runs finished before it are due.
const CUTOFF: Millis = NOW + 1_000;

fn finished(run: &mut Run, at: Millis) {
    run.status = RunStatus::Completed;
    run.finished_at = Some(at);
}

async fn expired(
    store: &Store,
    env_id: &str,
    cursor: SweepCursor,
    limit: usize,
) -> Vec<ExpiredRun> {
    let env_id = env_id.to_string();
    write(store, move |tx| {
        tx.expired_runs(&env_id, CUTOFF, cursor, limit)
    })
    .await
}

fn expired_ids(runs: &[ExpiredRun]) -> Vec<String> {
    runs.iter().map(|r| r.id.clone()).collect()
}

pub async fn retention_settings(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    assert_eq!(read(store, |tx| tx.retention_days("env_a")).await, None);
    assert_eq!(
        read(store, |tx| tx.retention_settings()).await,
        vec![("env_a".to_string(), None), ("env_b".to_string(), None)]
    );
    assert!(write(store, |tx| tx.set_retention_days("env_b", Some(7))).await);
    assert!(write(store, |tx| tx.set_retention_days("env_a", Some(0))).await);
    assert_eq!(read(store, |tx| tx.retention_days("env_b")).await, Some(7));
    assert_eq!(read(store, |tx| tx.retention_days("env_a")).await, Some(0));
    assert_eq!(
        read(store, |tx| tx.retention_settings()).await,
        vec![
            ("env_a".to_string(), Some(0)),
            ("env_b".to_string(), Some(7))
        ]
    );
    // Back to the server's default; an unknown environment changes nothing.
    assert!(write(store, |tx| tx.set_retention_days("env_b", None)).await);
    assert_eq!(read(store, |tx| tx.retention_days("env_b")).await, None);
    assert!(!write(store, |tx| tx.set_retention_days("env_zz", Some(3))).await);
    assert_eq!(read(store, |tx| tx.retention_days("env_zz")).await, None);
}

pub async fn expired_runs_oldest_first(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, qb) = seed(store, "env_b").await;
    let mut runs = Vec::new();
    // Finished at NOW + 500 - n: the later-made ones finished first.
    for n in 1..=5 {
        let mut r = sample_run("env_a", &q.id, n);
        finished(&mut r, NOW + 500 - n);
        r.tags = vec![format!("tag-{n}")];
        runs.push(r);
    }
    // Two at the same time: ordered by seq.
    let mut same = sample_run("env_a", &q.id, 6);
    finished(&mut same, NOW + 495);
    runs.push(same);
    // Finished at the cutoff (not before it), not finished, another environment.
    let mut at_cutoff = sample_run("env_a", &q.id, 7);
    finished(&mut at_cutoff, CUTOFF);
    runs.push(at_cutoff);
    runs.push(sample_run("env_a", &q.id, 8));
    let mut other = sample_run("env_b", &qb.id, 9);
    finished(&mut other, NOW);
    runs.push(other);
    let runs = insert_runs(store, runs).await;

    let all = expired(store, "env_a", SweepCursor::START, 100).await;
    // Oldest first: 5 (NOW+495) and 6 (NOW+495, made later), then 4, 3, 2, 1.
    assert_eq!(
        expired_ids(&all),
        names(&[
            "run_env_a_5",
            "run_env_a_6",
            "run_env_a_4",
            "run_env_a_3",
            "run_env_a_2",
            "run_env_a_1"
        ])
    );
    let first = &all[0];
    assert_eq!(first.seq, runs[4].seq);
    assert_eq!(first.finished_at, NOW + 495);
    assert_eq!(first.tags, vec!["tag-5".to_string()]);
    assert!(all.iter().all(|r| !r.needed), "{all:?}");

    // Pages: at most `limit`, then on from the cursor, even between runs finished together.
    let page = expired(store, "env_a", SweepCursor::START, 1).await;
    assert_eq!(expired_ids(&page), names(&["run_env_a_5"]));
    let next = expired(store, "env_a", SweepCursor::after(&page[0]), 2).await;
    assert_eq!(expired_ids(&next), names(&["run_env_a_6", "run_env_a_4"]));
    let rest = expired(store, "env_a", SweepCursor::after(&next[1]), 100).await;
    assert_eq!(
        expired_ids(&rest),
        names(&["run_env_a_3", "run_env_a_2", "run_env_a_1"])
    );
    assert!(expired(store, "env_a", SweepCursor::after(&rest[2]), 100)
        .await
        .is_empty());
    // Read without a write too.
    let snapshot = read(store, |tx| {
        tx.expired_runs("env_b", CUTOFF, SweepCursor::START, 10)
    })
    .await;
    assert_eq!(expired_ids(&snapshot), names(&["run_env_b_9"]));
}

pub async fn expired_runs_still_needed(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let run = |n: i64, done: Option<Millis>| {
        let mut r = sample_run("env_a", &q.id, n);
        if let Some(at) = done {
            finished(&mut r, at);
        }
        r
    };
    let mut runs = Vec::new();
    // 1 has a child (2) that has not finished; 3 is the root of 4, a grandchild through 5,
    // and 4 has not finished (so 5, its parent, is needed too).
    runs.push(run(1, Some(NOW)));
    let mut child = run(2, None);
    child.parent_run_id = Some("run_env_a_1".into());
    child.root_run_id = Some("run_env_a_1".into());
    runs.push(child);
    runs.push(run(3, Some(NOW)));
    let mut middle = run(5, Some(NOW));
    middle.parent_run_id = Some("run_env_a_3".into());
    middle.root_run_id = Some("run_env_a_3".into());
    runs.push(middle);
    let mut grandchild = run(4, None);
    grandchild.parent_run_id = Some("run_env_a_5".into());
    grandchild.root_run_id = Some("run_env_a_3".into());
    runs.push(grandchild);
    // 6 and 7 are children a wait lists: 6's wait is still waiting, 7's completed.
    runs.push(run(6, Some(NOW)));
    runs.push(run(7, Some(NOW)));
    // Batch 1: 8 finished long ago, 9 has not finished. Batch 2: 10 finished long ago, 11
    // after the cutoff. Batch 3: 12 and 13 both long ago.
    for (n, batch, done) in [
        (8, "batch_1", Some(NOW)),
        (9, "batch_1", None),
        (10, "batch_2", Some(NOW)),
        (11, "batch_2", Some(CUTOFF + 5)),
        (12, "batch_3", Some(NOW)),
        (13, "batch_3", Some(NOW + 1)),
    ] {
        let mut r = run(n, done);
        r.batch_id = Some(batch.to_string());
        r.batch_index = Some(n);
        runs.push(r);
    }
    // 16's own wait still waits for 2, which has not finished; 17's completed when 7 did.
    runs.push(run(16, Some(NOW)));
    runs.push(run(17, Some(NOW)));
    // A child that finished: its parent is needed by nobody.
    runs.push(run(14, Some(NOW)));
    let mut done_child = run(15, Some(NOW));
    done_child.parent_run_id = Some("run_env_a_14".into());
    done_child.root_run_id = Some("run_env_a_14".into());
    runs.push(done_child);
    insert_runs(store, runs).await;
    let mut waiting = sample_waitpoint("env_a", 1);
    waiting.kind = WaitpointKind::Batch;
    waiting.owner_run_id = Some("run_env_a_2".into());
    let mut done = sample_waitpoint("env_a", 2);
    done.kind = WaitpointKind::Run;
    done.status = WaitpointStatus::Completed;
    done.completed_at = Some(NOW);
    done.owner_run_id = Some("run_env_a_2".into());
    let mut own_live = sample_waitpoint("env_a", 3);
    own_live.kind = WaitpointKind::Batch;
    own_live.owner_run_id = Some("run_env_a_16".into());
    let mut own_done = sample_waitpoint("env_a", 4);
    own_done.kind = WaitpointKind::Run;
    own_done.status = WaitpointStatus::Completed;
    own_done.completed_at = Some(NOW);
    own_done.owner_run_id = Some("run_env_a_17".into());
    insert_waitpoints(store, vec![waiting, done, own_live, own_done]).await;
    write(store, |tx| {
        tx.insert_waitpoint_runs("waitpoint_env_a_1", &names(&["run_env_a_6", "run_env_a_9"]))?;
        tx.insert_waitpoint_runs("waitpoint_env_a_2", &names(&["run_env_a_7"]))?;
        tx.insert_waitpoint_runs("waitpoint_env_a_3", &names(&["run_env_a_2"]))?;
        tx.insert_waitpoint_runs("waitpoint_env_a_4", &names(&["run_env_a_7"]))
    })
    .await;

    let all = expired(store, "env_a", SweepCursor::START, 100).await;
    let needed: Vec<&str> = all
        .iter()
        .filter(|r| r.needed)
        .map(|r| r.id.as_str())
        .collect();
    let free: Vec<&str> = all
        .iter()
        .filter(|r| !r.needed)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        needed,
        [
            "run_env_a_1",
            "run_env_a_3",
            "run_env_a_5",
            "run_env_a_6",
            "run_env_a_8",
            "run_env_a_10",
            "run_env_a_16"
        ],
        "{all:?}"
    );
    assert_eq!(
        free,
        [
            "run_env_a_7",
            "run_env_a_12",
            "run_env_a_17",
            "run_env_a_14",
            "run_env_a_15",
            "run_env_a_13"
        ]
    );
}

/// A run with a row in every table that belongs to runs, and a token its journal waits on;
/// `n` numbers everything.
async fn run_with_everything(store: &Store, queue_id: &str, n: i64) -> Run {
    let id = format!("run_env_a_{n}");
    let mut r = sample_run("env_a", queue_id, n);
    finished(&mut r, NOW);
    r.tags = vec![format!("tag-{n}"), "shared".to_string()];
    let run = insert_runs(store, vec![r]).await.remove(0);
    let mut own = sample_waitpoint("env_a", n * 10);
    own.kind = WaitpointKind::Run;
    own.owner_run_id = Some(id.clone());
    let mut token = sample_waitpoint("env_a", n * 10 + 1);
    token.status = WaitpointStatus::Completed;
    token.completed_at = Some(NOW);
    insert_waitpoints(store, vec![own.clone(), token.clone()]).await;
    let journal = |pos: i64, waitpoint: &str| JournalEntry {
        run_id: id.clone(),
        position: pos,
        kind: JournalKind::Wait,
        name: format!("wait {pos}"),
        output: None,
        waitpoint_id: Some(waitpoint.to_string()),
        created_at: NOW,
        wait: None,
    };
    let entries = [journal(0, &own.id), journal(1, &token.id)];
    let (rid, wid) = (id.clone(), own.id.clone());
    write(store, move |tx| {
        for e in &entries {
            tx.insert_journal_entry(e)?;
        }
        tx.insert_waitpoint_runs(&wid, &[format!("child_of_{rid}")])?;
        tx.insert_logs(&[LogEntry {
            seq: 0,
            run_id: rid.clone(),
            time: NOW,
            level: "info".into(),
            message: "hello".into(),
            fields: None,
            attempt: 1,
            created_at: NOW,
        }])?;
        tx.insert_spans(&[Span {
            seq: 0,
            run_id: rid.clone(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: None,
            name: "attempt 1".into(),
            kind: "attempt".into(),
            start_ns: 1,
            end_ns: 2,
            status: "ok".into(),
            message: None,
            attributes: None,
            created_at: NOW,
        }])?;
        tx.insert_input_message(&InputMessage {
            run_id: rid.clone(),
            stream_id: "in".into(),
            seq: 1,
            data: "{}".into(),
            run_version: None,
            created_at: NOW,
        })?;
        tx.advance_input_cursor(&rid, "in", "worker", 1, NOW)?;
        tx.declare_output_stream(&rid, "out", NOW)?;
        tx.insert_output_chunks(&[OutputChunk {
            run_id: rid.clone(),
            stream_key: "out".into(),
            index: 0,
            body: "1".into(),
            created_at: NOW,
        }])?;
        Ok(())
    })
    .await;
    run
}

/// Whether anything of run `n` (made by [`run_with_everything`]) is left.
async fn remains(store: &Store, n: i64) -> Vec<&'static str> {
    let id = format!("run_env_a_{n}");
    let own = format!("waitpoint_env_a_{}", n * 10);
    read(store, move |tx| {
        let mut left = Vec::new();
        if tx.run("env_a", &id)?.is_some() {
            left.push("run");
        }
        if !tx.journal(&id)?.is_empty() {
            left.push("journal");
        }
        if !tx.logs(&id, None, 10)?.is_empty() {
            left.push("logs");
        }
        if tx.span_count(&id)? > 0 {
            left.push("spans");
        }
        if tx.last_input_seq(&id, "in")? > 0 {
            left.push("input messages");
        }
        if tx.input_cursor(&id, "in", "worker")? > 0 {
            left.push("input cursor");
        }
        if !tx.output_streams(&id)?.is_empty() {
            left.push("output streams");
        }
        if !tx.output_chunks(&id, "out", 0, 10)?.is_empty() {
            left.push("output chunks");
        }
        if tx.waitpoint("env_a", &own)?.is_some() {
            left.push("own waitpoint");
        }
        let tagged = tx.list_runs(
            "env_a",
            &RunFilter {
                tags: vec![format!("tag-{n}")],
                ..Default::default()
            },
            Page {
                size: 10,
                after_seq: None,
                before_seq: None,
            },
        )?;
        if !tagged.is_empty() {
            left.push("tagged");
        }
        Ok(left)
    })
    .await
}

pub async fn delete_runs_with_what_is_theirs(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let gone = run_with_everything(store, &q.id, 1).await;
    let kept = run_with_everything(store, &q.id, 2).await;
    // Another run's wait lists run 1 as a child (the wait completed).
    let mut other = sample_waitpoint("env_a", 99);
    other.kind = WaitpointKind::Batch;
    other.status = WaitpointStatus::Completed;
    other.completed_at = Some(NOW);
    other.owner_run_id = Some("run_env_a_2".into());
    insert_waitpoints(store, vec![other]).await;
    write(store, |tx| {
        tx.insert_waitpoint_runs(
            "waitpoint_env_a_99",
            &names(&["run_env_a_1", "run_env_a_2"]),
        )
    })
    .await;
    let everything = vec![
        "run",
        "journal",
        "logs",
        "spans",
        "input messages",
        "input cursor",
        "output streams",
        "output chunks",
        "own waitpoint",
        "tagged",
    ];
    assert_eq!(remains(store, 1).await, everything);

    let all = expired(store, "env_a", SweepCursor::START, 10).await;
    let first: Vec<ExpiredRun> = all.into_iter().filter(|r| r.id == gone.id).collect();
    assert_eq!(first.len(), 1);
    assert_eq!(write(store, move |tx| tx.delete_runs(&first)).await, 1);
    assert!(remains(store, 1).await.is_empty());
    assert_eq!(remains(store, 2).await, everything);
    let kept_id = kept.id.clone();
    let children = read(store, |tx| tx.runs_of_waitpoint("waitpoint_env_a_99")).await;
    assert_eq!(ids(&children), vec![kept_id]);
    // The other run's tag index still finds it by the tag both had.
    let shared = read(store, |tx| {
        tx.list_runs(
            "env_a",
            &RunFilter {
                tags: vec!["shared".into()],
                ..Default::default()
            },
            Page {
                size: 10,
                after_seq: None,
                before_seq: None,
            },
        )
    })
    .await;
    assert_eq!(ids(&shared), vec![kept.id.clone()]);
    // Nothing to delete deletes nothing.
    assert_eq!(write(store, |tx| tx.delete_runs(&[])).await, 0);

    // Run 1's token is no longer waited on by any journal; run 2's still is.
    assert_eq!(
        write(store, |tx| tx.delete_expired_tokens("env_a", CUTOFF, 10)).await,
        1
    );
    assert!(get_waitpoint(store, "env_a", "waitpoint_env_a_11")
        .await
        .is_none());
    assert!(get_waitpoint(store, "env_a", "waitpoint_env_a_21")
        .await
        .is_some());
}

pub async fn delete_expired_batches_tokens_and_packets(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    seed_env(store, "env_b").await;
    let batch = |env: &str, id: &str, updated_at: Millis| Batch {
        updated_at,
        ..sample_batch(env, id)
    };
    write(store, move |tx| {
        tx.insert_batch(&batch("env_a", "batch_old", NOW))?;
        tx.insert_batch(&batch("env_a", "batch_old_2", NOW + 1))?;
        tx.insert_batch(&batch("env_a", "batch_with_run", NOW))?;
        tx.insert_batch(&batch("env_a", "batch_new", CUTOFF))?;
        tx.insert_batch(&batch("env_b", "batch_other_env", NOW))?;
        // An item may name a run of no batch (an idempotency key found it).
        tx.insert_batch_item("batch_old", 0, "run_env_a_1")?;
        tx.insert_batch_item("batch_with_run", 0, "run_env_a_2")
    })
    .await;
    let mut in_batch = sample_run("env_a", &q.id, 2);
    in_batch.batch_id = Some("batch_with_run".into());
    in_batch.batch_index = Some(0);
    insert_runs(store, vec![sample_run("env_a", &q.id, 1), in_batch]).await;

    assert_eq!(
        write(store, |tx| tx.delete_expired_batches("env_a", CUTOFF, 1)).await,
        1
    );
    assert!(read(store, |tx| tx.batch("env_a", "batch_old"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.batch_indexes("batch_old"))
        .await
        .is_empty());
    assert_eq!(
        write(store, |tx| tx.delete_expired_batches("env_a", CUTOFF, 10)).await,
        1
    );
    assert_eq!(
        write(store, |tx| tx.delete_expired_batches("env_a", CUTOFF, 10)).await,
        0
    );
    for (env, id) in [
        ("env_a", "batch_with_run"),
        ("env_a", "batch_new"),
        ("env_b", "batch_other_env"),
    ] {
        assert!(
            read(store, move |tx| tx.batch(env, id)).await.is_some(),
            "{id} kept"
        );
    }
    assert_eq!(
        read(store, |tx| tx.batch_indexes("batch_with_run")).await,
        vec![0]
    );

    // Tokens: done before the cutoff, done after it, still waiting, of a run, of env_b.
    let token = |n: i64, status: WaitpointStatus, done: Option<Millis>| {
        let mut w = sample_waitpoint("env_a", n);
        w.status = status;
        w.completed_at = done;
        w
    };
    let mut owned = token(4, WaitpointStatus::Completed, Some(NOW));
    owned.kind = WaitpointKind::Datetime;
    owned.owner_run_id = Some("run_env_a_1".into());
    let mut other_env = sample_waitpoint("env_b", 5);
    other_env.status = WaitpointStatus::Completed;
    other_env.completed_at = Some(NOW);
    insert_waitpoints(
        store,
        vec![
            token(1, WaitpointStatus::Completed, Some(NOW)),
            token(2, WaitpointStatus::TimedOut, Some(NOW + 2)),
            token(3, WaitpointStatus::Completed, Some(CUTOFF)),
            token(6, WaitpointStatus::Waiting, None),
            owned,
            other_env,
        ],
    )
    .await;
    assert_eq!(
        write(store, |tx| tx.delete_expired_tokens("env_a", CUTOFF, 1)).await,
        1
    );
    assert_eq!(
        write(store, |tx| tx.delete_expired_tokens("env_a", CUTOFF, 10)).await,
        1
    );
    for (n, kept) in [(1, false), (2, false), (3, true), (4, true), (6, true)] {
        let there = get_waitpoint(store, "env_a", &format!("waitpoint_env_a_{n}"))
            .await
            .is_some();
        assert_eq!(there, kept, "token {n}");
    }
    assert!(get_waitpoint(store, "env_b", "waitpoint_env_b_5")
        .await
        .is_some());

    // Packets by upload time, per environment.
    let packet = |env: &str, path: &str, at: Millis| Packet {
        env_id: env.to_string(),
        path: path.to_string(),
        content_type: "application/json".into(),
        data: b"{}".to_vec(),
        created_at: at,
    };
    write(store, move |tx| {
        tx.put_packet(&packet("env_a", "old/payload.json", NOW))?;
        tx.put_packet(&packet("env_a", "old/2.json", NOW + 1))?;
        tx.put_packet(&packet("env_a", "new/payload.json", CUTOFF))?;
        tx.put_packet(&packet("env_b", "old/payload.json", NOW))
    })
    .await;
    assert_eq!(
        write(store, |tx| tx.delete_expired_packets("env_a", CUTOFF, 10)).await,
        2
    );
    assert!(read(store, |tx| tx.packet("env_a", "old/payload.json"))
        .await
        .is_none());
    assert!(read(store, |tx| tx.packet("env_a", "new/payload.json"))
        .await
        .is_some());
    assert!(read(store, |tx| tx.packet("env_b", "old/payload.json"))
        .await
        .is_some());
}
