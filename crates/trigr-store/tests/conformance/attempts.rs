//! Attempt history: the attempts of a run that ended without completing it.

use trigr_store::{Attempt, AttemptOutcome, Error, Store};
use trigr_types::RunStatus;

use super::{get_run, insert_runs, read, sample_run, seed, try_write, write, NOW};

fn attempt(run_id: &str, number: i64, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        run_id: run_id.to_string(),
        number,
        started_at: Some(NOW + number * 100),
        ended_at: NOW + number * 100 + 50,
        outcome,
        error: Some(format!(
            "{{\"message\":\"attempt {number} ü\",\"name\":\"Error\"}}"
        )),
        retry_at: Some(NOW + number * 100 + 75),
    }
}

/// Attempts read back by number with every field; an attempt number is recorded once, and a
/// write that records one twice leaves nothing of itself, the run's transition included.
pub async fn attempts_round_trip(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let run = insert_runs(store, vec![sample_run("env_a", &q.id, 1)])
        .await
        .remove(0);
    let second = attempt(&run.id, 2, AttemptOutcome::LeaseLost);
    let first = Attempt {
        started_at: None,
        ..attempt(&run.id, 1, AttemptOutcome::Failed)
    };
    let third = Attempt {
        error: None,
        retry_at: None,
        ..attempt(&run.id, 3, AttemptOutcome::Canceled)
    };
    let other = attempt("run_other", 1, AttemptOutcome::TimedOut);
    let rows = vec![second.clone(), first.clone(), other.clone(), third.clone()];
    write(store, move |tx| {
        for a in &rows {
            tx.insert_attempt(a)?;
        }
        Ok(())
    })
    .await;

    let id = run.id.clone();
    let got = read(store, move |tx| tx.attempts(&id)).await;
    assert_eq!(got, vec![first.clone(), second, third], "by number");
    let got = read(store, |tx| tx.attempts("run_other")).await;
    assert_eq!(got, vec![other]);
    assert!(read(store, |tx| tx.attempts("run_none")).await.is_empty());
    for outcome in AttemptOutcome::ALL {
        assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(outcome));
    }

    // The run's transition and its attempt row commit together or not at all.
    let mut after = run.clone();
    after.status = RunStatus::Failed;
    after.finished_at = Some(NOW + 1_000);
    let again = first.clone();
    let failed = try_write(store, move |tx| {
        assert!(tx.update_run(&after, RunStatus::Queued, None)?);
        tx.insert_attempt(&again)
    })
    .await;
    assert!(matches!(failed, Err(Error::Conflict(_))), "{failed:?}");
    let stored = get_run(store, "env_a", &run.id).await.unwrap();
    assert_eq!(
        stored.status,
        RunStatus::Queued,
        "the transition rolled back"
    );
    let id = run.id.clone();
    assert_eq!(read(store, move |tx| tx.attempts(&id)).await.len(), 3);
}
