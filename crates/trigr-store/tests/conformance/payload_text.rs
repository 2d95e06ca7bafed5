//! A run's payload is the caller's text, kept exactly: a NUL (which PostgreSQL's text cannot
//! hold) and the character its encoding starts with included.

use trigr_store::Store;

use super::{assert_run_eq, get_run, insert_runs, sample_run, seed};

pub async fn run_payloads_keep_any_text(store: &Store) {
    let (_, queue) = seed(store, "env_a").await;
    let texts = [
        "",
        "plain",
        "a\0b",
        "\0",
        "\u{1}",
        "\u{1}0",
        "\u{1}1\0\u{1}",
        "x\u{1}0",
        "é\0ü",
    ];
    let runs = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut run = sample_run("env_a", &queue.id, i as i64);
            run.payload = Some(text.to_string());
            run.payload_type = "text/plain".to_string();
            run
        })
        .collect();
    for run in insert_runs(store, runs).await {
        let stored = get_run(store, "env_a", &run.id).await.expect("stored run");
        assert_run_eq(&stored, &run);
    }
}
