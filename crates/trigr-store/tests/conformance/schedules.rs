//! Cron schedules ([`trigr_store::tx::ScheduleTx`]).

use trigr_store::{Error, Schedule, ScheduleFilter, ScheduleKind, ScheduledRunOptions};
use trigr_types::Millis;

use super::{read, seed_env, try_write, write, NOW};
use trigr_store::Store;

pub fn sample_schedule(
    env_id: &str,
    id: &str,
    kind: ScheduleKind,
    next: Option<Millis>,
) -> Schedule {
    Schedule {
        id: id.to_string(),
        env_id: env_id.to_string(),
        task_id: format!("task-{id}"),
        kind,
        active: true,
        dedup_key: match kind {
            ScheduleKind::Imperative => Some(format!("key-{id}")),
            ScheduleKind::Declarative => None,
        },
        external_id: Some(format!("ext-{id}")),
        cron: "30 2 * * 1-5".to_string(),
        timezone: "Europe/Berlin".to_string(),
        next_run_at: next,
        last_run_at: None,
        created_at: NOW,
        updated_at: NOW,
        window: None,
        run: ScheduledRunOptions::default(),
    }
}

async fn insert(store: &Store, s: &Schedule) {
    let s = s.clone();
    write(store, move |tx| tx.insert_schedule(&s)).await;
}

pub async fn schedule_round_trip(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    let mut a = sample_schedule("env_a", "sched_a", ScheduleKind::Imperative, Some(NOW + 10));
    a.last_run_at = Some(NOW - 5);
    a.window = Some("30m".to_string());
    let mut d = sample_schedule("env_a", "sched_d", ScheduleKind::Declarative, None);
    d.created_at = NOW + 1;
    d.external_id = None;
    d.active = false;
    insert(store, &a).await;
    insert(store, &d).await;

    let (got_a, by_key, other_env, missing) = read(store, |tx| {
        Ok((
            tx.schedule("env_a", "sched_a")?,
            tx.schedule_by_dedup_key("env_a", "key-sched_a")?,
            tx.schedule("env_b", "sched_a")?,
            tx.schedule_by_dedup_key("env_a", "nope")?,
        ))
    })
    .await;
    assert_eq!(got_a.as_ref(), Some(&a));
    assert_eq!(by_key.as_ref(), Some(&a));
    assert_eq!(
        other_env, None,
        "another environment's schedule is invisible"
    );
    assert_eq!(missing, None);

    let declared = write(store, |tx| tx.declarative_schedules("env_a")).await;
    assert_eq!(declared, vec![d.clone()]);

    let (page1, total) = read(store, |tx| {
        tx.schedules("env_a", &ScheduleFilter::default(), 0, 1)
    })
    .await;
    assert_eq!((page1, total), (vec![a.clone()], 2));
    let (page2, _) = read(store, |tx| {
        tx.schedules("env_a", &ScheduleFilter::default(), 1, 10)
    })
    .await;
    assert_eq!(page2, vec![d.clone()]);
    let (none, zero) = read(store, |tx| {
        tx.schedules("env_b", &ScheduleFilter::default(), 0, 10)
    })
    .await;
    assert!(none.is_empty());
    assert_eq!(zero, 0);

    let mut changed = a.clone();
    changed.task_id = "other".into();
    changed.cron = "0 * * * *".into();
    changed.timezone = "UTC".into();
    changed.external_id = None;
    changed.active = false;
    changed.next_run_at = None;
    changed.last_run_at = Some(NOW + 3);
    changed.updated_at = NOW + 7;
    changed.window = Some("15%".to_string());
    let c = changed.clone();
    assert!(write(store, move |tx| tx.update_schedule(&c)).await);
    let got = read(store, |tx| tx.schedule("env_a", "sched_a")).await;
    assert_eq!(got, Some(changed.clone()));
    // An update clears the window.
    changed.window = None;
    let c = changed.clone();
    assert!(write(store, move |tx| tx.update_schedule(&c)).await);
    let got = read(store, |tx| tx.schedule("env_a", "sched_a")).await;
    assert_eq!(got, Some(changed));
    let mut ghost = a.clone();
    ghost.id = "sched_ghost".into();
    assert!(!write(store, move |tx| tx.update_schedule(&ghost)).await);

    assert!(write(store, |tx| tx.delete_schedule("env_a", "sched_a")).await);
    assert!(!write(store, |tx| tx.delete_schedule("env_a", "sched_a")).await);
    assert!(
        !write(store, |tx| tx.delete_schedule("env_b", "sched_d")).await,
        "a delete sees only its environment"
    );
    assert_eq!(
        read(store, |tx| tx.schedule("env_a", "sched_a")).await,
        None
    );
}

pub async fn schedule_uniqueness(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    let a = sample_schedule("env_a", "sched_a", ScheduleKind::Imperative, Some(NOW));
    insert(store, &a).await;
    let mut same_key = sample_schedule("env_a", "sched_b", ScheduleKind::Imperative, Some(NOW));
    same_key.dedup_key = a.dedup_key.clone();
    let err = try_write(store, move |tx| tx.insert_schedule(&same_key))
        .await
        .expect_err("a deduplication key is unique in its environment");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // The same key in another environment is another schedule.
    let mut elsewhere = sample_schedule("env_b", "sched_c", ScheduleKind::Imperative, Some(NOW));
    elsewhere.dedup_key = a.dedup_key.clone();
    insert(store, &elsewhere).await;

    let d = sample_schedule("env_a", "sched_d", ScheduleKind::Declarative, Some(NOW));
    insert(store, &d).await;
    let mut twin = sample_schedule("env_a", "sched_e", ScheduleKind::Declarative, Some(NOW));
    twin.task_id = d.task_id.clone();
    let err = try_write(store, move |tx| tx.insert_schedule(&twin))
        .await
        .expect_err("a task has one declarative schedule");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

pub async fn due_schedules_and_claims(store: &Store) {
    seed_env(store, "env_a").await;
    assert_eq!(read(store, |tx| tx.next_schedule_due()).await, None);
    let mut early = sample_schedule("env_a", "sched_1", ScheduleKind::Imperative, Some(NOW - 20));
    early.window = Some("2h".to_string());
    let due = sample_schedule("env_a", "sched_2", ScheduleKind::Declarative, Some(NOW));
    let later = sample_schedule("env_a", "sched_3", ScheduleKind::Imperative, Some(NOW + 50));
    let mut inactive =
        sample_schedule("env_a", "sched_4", ScheduleKind::Imperative, Some(NOW - 90));
    inactive.active = false;
    let never = sample_schedule("env_a", "sched_5", ScheduleKind::Imperative, None);
    for s in [&early, &due, &later, &inactive, &never] {
        insert(store, s).await;
    }
    assert_eq!(
        read(store, |tx| tx.next_schedule_due()).await,
        Some(NOW - 20)
    );

    let found = write(store, |tx| tx.due_schedules(NOW, 10)).await;
    let ids: Vec<_> = found.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["sched_1", "sched_2"],
        "active and due, earliest first"
    );
    assert_eq!(
        found[0], early,
        "a due schedule reads back whole, window included"
    );
    let one = write(store, |tx| tx.due_schedules(NOW, 1)).await;
    assert_eq!(one.len(), 1);

    // A claim is a compare-and-set on the next tick.
    assert!(
        write(store, |tx| tx.claim_schedule_tick(
            "sched_1",
            NOW - 20,
            Some(NOW + 40),
            NOW - 20,
            NOW
        ))
        .await
    );
    assert!(
        !write(store, |tx| tx.claim_schedule_tick(
            "sched_1",
            NOW - 20,
            Some(NOW + 40),
            NOW - 20,
            NOW
        ))
        .await,
        "a tick is claimed once"
    );
    let claimed = read(store, |tx| tx.schedule("env_a", "sched_1"))
        .await
        .unwrap();
    assert_eq!(claimed.next_run_at, Some(NOW + 40));
    assert_eq!(claimed.last_run_at, Some(NOW - 20));
    assert_eq!(claimed.updated_at, NOW);
    assert_eq!(
        claimed.window.as_deref(),
        Some("2h"),
        "a claim keeps the window"
    );
    assert!(
        !write(store, |tx| tx.claim_schedule_tick(
            "sched_4",
            NOW - 90,
            None,
            NOW - 90,
            NOW
        ))
        .await,
        "an inactive schedule is not claimed"
    );
    // A claim may leave no next tick.
    assert!(
        write(store, |tx| tx
            .claim_schedule_tick("sched_2", NOW, None, NOW, NOW))
        .await
    );
    let ids: Vec<_> = write(store, |tx| tx.due_schedules(NOW + 45, 10))
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["sched_1"]);
    assert_eq!(
        read(store, |tx| tx.next_schedule_due()).await,
        Some(NOW + 40)
    );

    // Two writers claiming the same tick at once: exactly one wins.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        set.spawn(async move {
            store
                .write(|tx| {
                    tx.due_schedules(NOW + 45, 10)?;
                    tx.claim_schedule_tick("sched_1", NOW + 40, Some(NOW + 100), NOW + 40, NOW + 45)
                })
                .await
        });
    }
    let mut wins = 0;
    while let Some(r) = set.join_next().await {
        if r.expect("join").expect("claim") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

/// What a schedule gives its runs reads back as written; a list filters by tag and by
/// activity (counting only what it lets through), and the tags follow updates and deletes.
pub async fn schedule_run_options_and_filters(store: &Store) {
    seed_env(store, "env_a").await;
    let mut a = sample_schedule("env_a", "sched_a", ScheduleKind::Imperative, Some(NOW));
    a.run = ScheduledRunOptions {
        payload: Some(r#"{"reportType":"daily"}"#.to_string()),
        metadata: Some(r#"{"owner":"finance"}"#.to_string()),
        machine: Some("medium-1x".to_string()),
        tags: vec!["finance".to_string(), "report".to_string()],
    };
    let mut b = sample_schedule("env_a", "sched_b", ScheduleKind::Imperative, Some(NOW));
    b.created_at = NOW + 1;
    b.active = false;
    b.run.tags = vec!["finance".to_string()];
    let mut c = sample_schedule("env_a", "sched_c", ScheduleKind::Imperative, Some(NOW));
    c.created_at = NOW + 2;
    insert(store, &a).await;
    insert(store, &b).await;
    insert(store, &c).await;
    assert_eq!(
        read(store, |tx| tx.schedule("env_a", "sched_a")).await,
        Some(a.clone())
    );

    let list = |tag: Option<&str>, active: Option<bool>, offset: usize, limit: usize| {
        let filter = ScheduleFilter {
            tag: tag.map(str::to_string),
            active,
        };
        async move {
            let (page, total) = read(store, move |tx| {
                tx.schedules("env_a", &filter, offset, limit)
            })
            .await;
            (page.into_iter().map(|s| s.id).collect::<Vec<_>>(), total)
        }
    };
    assert_eq!(
        list(None, None, 0, 10).await,
        (ids(&["sched_a", "sched_b", "sched_c"]), 3)
    );
    assert_eq!(
        list(Some("finance"), None, 0, 10).await,
        (ids(&["sched_a", "sched_b"]), 2)
    );
    assert_eq!(
        list(Some("finance"), None, 1, 1).await,
        (ids(&["sched_b"]), 2)
    );
    assert_eq!(
        list(Some("finance"), Some(true), 0, 10).await,
        (ids(&["sched_a"]), 1)
    );
    assert_eq!(list(None, Some(false), 0, 10).await, (ids(&["sched_b"]), 1));
    assert_eq!(
        list(None, Some(true), 0, 10).await,
        (ids(&["sched_a", "sched_c"]), 2)
    );
    assert_eq!(list(Some("nope"), None, 0, 10).await, (vec![], 0));

    // An update replaces the tags: the filter follows.
    let mut changed = a.clone();
    changed.run.tags = vec!["ops".to_string()];
    changed.run.machine = None;
    let u = changed.clone();
    assert!(write(store, move |tx| tx.update_schedule(&u)).await);
    assert_eq!(
        read(store, |tx| tx.schedule("env_a", "sched_a")).await,
        Some(changed)
    );
    assert_eq!(
        list(Some("finance"), None, 0, 10).await,
        (ids(&["sched_b"]), 1)
    );
    assert_eq!(list(Some("ops"), None, 0, 10).await, (ids(&["sched_a"]), 1));
    // A deleted schedule's tags go with it: a new one of the same id starts without them.
    assert!(write(store, |tx| tx.delete_schedule("env_a", "sched_a")).await);
    assert_eq!(list(Some("ops"), None, 0, 10).await, (vec![], 0));
    insert(
        store,
        &sample_schedule("env_a", "sched_a", ScheduleKind::Imperative, None),
    )
    .await;
    assert_eq!(list(Some("ops"), None, 0, 10).await, (vec![], 0));
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
