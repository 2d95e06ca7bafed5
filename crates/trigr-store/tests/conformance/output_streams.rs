//! Conformance of [`trigr_store::tx::OutputStreamTx`]: output stream keys and chunks.

use trigr_store::{OutputChunk, Store};

use super::{read, write, NOW};

/// Chunk `index` of a run's stream, its body naming where it belongs.
pub fn sample_chunk(run_id: &str, key: &str, index: i64) -> OutputChunk {
    OutputChunk {
        run_id: run_id.to_string(),
        stream_key: key.to_string(),
        index,
        body: format!("{{\"run\":\"{run_id}\",\"key\":\"{key} ü\",\"index\":{index}}}"),
        created_at: NOW + index,
    }
}

async fn chunks(store: &Store, run: &str, key: &str, from: i64, limit: usize) -> Vec<OutputChunk> {
    let (run, key) = (run.to_string(), key.to_string());
    read(store, move |tx| tx.output_chunks(&run, &key, from, limit)).await
}

async fn insert(store: &Store, list: Vec<OutputChunk>) -> u64 {
    write(store, move |tx| tx.insert_output_chunks(&list)).await
}

async fn last(store: &Store, run: &str, key: &str) -> Option<i64> {
    let (run, key) = (run.to_string(), key.to_string());
    read(store, move |tx| tx.last_output_chunk(&run, &key)).await
}

/// Chunks are stored per run and key, read back in index order from any index, and an index
/// already stored keeps its first chunk.
pub async fn output_chunks(store: &Store) {
    let (run, other) = ("run_1", "run_2");
    assert!(chunks(store, run, "a", 0, 10).await.is_empty());
    assert_eq!(last(store, run, "a").await, None, "an empty stream");
    assert_eq!(insert(store, vec![]).await, 0, "nothing to insert");

    let a: Vec<OutputChunk> = (0..5).map(|i| sample_chunk(run, "a", i)).collect();
    let mut a1 = a[1].clone();
    a1.body = "[1,\"two\",{\"nested\":null}]".to_string();
    let a = vec![a[0].clone(), a1, a[2].clone(), a[3].clone(), a[4].clone()];
    // Inserted out of order, read back by index.
    assert_eq!(
        insert(
            store,
            vec![
                a[2].clone(),
                a[0].clone(),
                a[1].clone(),
                sample_chunk(run, "b", 0)
            ]
        )
        .await,
        4
    );
    assert_eq!(
        insert(
            store,
            vec![a[4].clone(), a[3].clone(), sample_chunk(other, "a", 0)]
        )
        .await,
        3
    );
    assert_eq!(chunks(store, run, "a", 0, 10).await, a);
    assert_eq!(chunks(store, run, "a", 3, 10).await, a[3..].to_vec());
    assert_eq!(
        chunks(store, run, "a", 0, 2).await,
        a[..2].to_vec(),
        "the limit"
    );
    assert!(chunks(store, run, "a", 5, 10).await.is_empty());
    assert!(chunks(store, run, "a", 0, 0).await.is_empty());
    assert_eq!(last(store, run, "a").await, Some(4));
    assert_eq!(last(store, run, "b").await, Some(0));
    assert_eq!(last(store, other, "a").await, Some(0));
    assert_eq!(last(store, other, "b").await, None);
    // Keys and runs do not mix.
    assert_eq!(
        chunks(store, run, "b", 0, 10).await,
        vec![sample_chunk(run, "b", 0)]
    );
    assert_eq!(
        chunks(store, other, "a", 0, 10).await,
        vec![sample_chunk(other, "a", 0)]
    );

    // Sending chunks again (a resumed writer) stores only the new ones and keeps the first
    // body of each index.
    let mut again = a[3].clone();
    again.body = "\"overwritten\"".to_string();
    let (n5, n6) = (sample_chunk(run, "a", 5), sample_chunk(run, "a", 6));
    assert_eq!(
        insert(
            store,
            vec![again, a[4].clone(), n5.clone(), n6.clone(), n5.clone()]
        )
        .await,
        2,
        "only indexes 5 and 6 are new"
    );
    let mut all = a.clone();
    all.extend([n5, n6]);
    assert_eq!(chunks(store, run, "a", 0, 100).await, all);
    let (r, k) = (run, "a");
    assert_eq!(
        write(store, move |tx| tx.output_chunks(r, k, 0, 100)).await,
        all,
        "the same in a write"
    );
    assert_eq!(
        write(store, move |tx| tx.last_output_chunk(r, k)).await,
        Some(6),
        "in a write"
    );
}

/// A run's stream keys are listed once each, in the order they were declared.
pub async fn output_stream_keys(store: &Store) {
    let keys = |run: &'static str| read(store, move |tx| tx.output_streams(run));
    assert!(keys("run_1").await.is_empty());
    let declared = write(store, |tx| {
        Ok(vec![
            tx.declare_output_stream("run_1", "tokens", NOW + 2)?,
            tx.declare_output_stream("run_1", "progress", NOW + 3)?,
            tx.declare_output_stream("run_1", "tokens", NOW + 4)?,
            tx.declare_output_stream("run_2", "z", NOW + 1)?,
            tx.declare_output_stream("run_1", "a", NOW + 3)?,
        ])
    })
    .await;
    assert_eq!(declared, [true, true, false, true, true]);
    assert_eq!(keys("run_1").await, ["tokens", "a", "progress"]);
    assert_eq!(keys("run_2").await, ["z"]);
    assert!(keys("run_3").await.is_empty());
    assert_eq!(
        write(store, |tx| tx.output_streams("run_1")).await,
        ["tokens", "a", "progress"]
    );
}
