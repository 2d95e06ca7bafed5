//! Firing due schedules, from the timer loop ([`crate::timers`]).
//!
//! **Exactly one run per tick.** A tick is claimed by one conditional write on the schedule
//! row (its next tick moves from the due time to the following one only if it is still the due
//! time), and the run is created in the same transaction; a server that loses the race writes
//! nothing. The run also carries a request key `schedule:<id>:<tick ms>` (unique per
//! environment) as a second guard.
//!
//! **Catch-up.** When several ticks were missed (the servers were down, or the clock jumped),
//! one run is triggered for the most recent missed tick (its `lastTimestamp` is the tick fired
//! before), and the schedule continues from the next tick after now: never a storm.
//!
//! **Windows.** A schedule's due time is the effective time of its next tick (nominal time
//! plus the window's offset), so a tick never fires before its effective time. A window never
//! reaches the next tick ([`super::window`]), so catch-up counts a missed tick only once its
//! effective time has come: when the most recent nominal tick's effective time is still
//! ahead, the tick before it is fired and that one stays the next, to fire at its own time.
//! The payload's `timestamp`, `lastTimestamp` and `upcoming` are nominal times.
//!
//! **Run options.** The run gets the schedule's metadata, machine and tags, and its payload
//! members beside the scheduled ones ([`super::run_options`]).

use serde_json::{json, Value};
use trigr_store::Schedule;
use trigr_types::{format_time, Millis};

use super::cron::{self, CronSpec, UPCOMING};
use super::window::{self, Window};
use crate::trigger::{create_run, NewRun};
use crate::{Error, Result, Txn};

/// Fires at most `limit` due schedules; returns how many runs they triggered (each wakes
/// its environment's workers).
pub(crate) fn fire_due(tx: &mut Txn<'_>, now: Millis, limit: usize) -> Result<usize> {
    let mut runs = 0;
    for s in tx.due_schedules(now, limit)? {
        let Some(due) = s.next_run_at else {
            continue;
        };
        if due > now {
            continue;
        }
        let spec = match cron::parse(&s.cron, Some(&s.timezone)) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!("schedule {} cannot tick any more: {e}", s.id);
                tx.claim_schedule_tick(&s.id, due, None, due, now)?;
                continue;
            }
        };
        let w = super::window_of(&s);
        let (tick, next) = pick(&spec, w.as_ref(), &s.id, due, now);
        let next_due = next.map(|n| window::effective(&spec, w.as_ref(), &s.id, n));
        if !tx.claim_schedule_tick(&s.id, due, next_due, tick, now)? {
            continue;
        }
        let Some(env) = tx.environment(&s.env_id)? else {
            continue;
        };
        let mut new = NewRun::new(
            &s.task_id,
            Some(payload(&s, &spec, tick, next, now)),
            None,
            tx.config().max_payload_bytes,
        )?;
        new.request_key = Some(format!("schedule:{}:{tick}", s.id));
        new.metadata = s.run.metadata.clone();
        new.machine = s.run.machine.clone();
        new.tags = s.run.tags.clone();
        match create_run(tx, &env, &new, now) {
            Ok(_) => {
                runs += 1;
            }
            // The task is not declared by the current deployment, or refuses the payload:
            // the tick is spent without a run.
            Err(e @ (Error::NotFound(_) | Error::Unprocessable(_) | Error::Invalid(_))) => {
                tracing::warn!("schedule {} could not trigger '{}': {e}", s.id, s.task_id);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(runs)
}

/// The tick to fire for a schedule due (effective time) at `due`, and the nominal tick after
/// it. The most recent tick whose effective time has come is fired (catch-up fires only
/// that one); a later tick whose effective time is still ahead is kept as the next.
fn pick(
    spec: &CronSpec,
    w: Option<&Window>,
    id: &str,
    due: Millis,
    now: Millis,
) -> (Millis, Option<Millis>) {
    let nominal = window::nominal_of(spec, w, id, due);
    let latest = spec
        .last_at_or_before(now)
        .filter(|t| *t >= nominal)
        .unwrap_or(nominal);
    if latest == nominal || window::effective(spec, w, id, latest) <= now {
        return (latest, spec.next_after(now));
    }
    // `latest` has not come yet; the tick before it has (a window never reaches the next
    // tick), and is at or after the due one.
    let before = spec
        .last_at_or_before(latest - 1)
        .filter(|t| *t >= nominal)
        .unwrap_or(nominal);
    (before, Some(latest))
}

/// The payload a scheduled run gets; times are nominal.
fn payload(
    s: &Schedule,
    spec: &CronSpec,
    tick: Millis,
    next: Option<Millis>,
    now: Millis,
) -> Value {
    // The next five ticks from the one after this (which may be before now when its
    // effective time is still ahead).
    let from = next.map_or(tick.max(now), |n| n - 1);
    let mut p = json!({
        "type": s.kind.as_str(),
        "timestamp": format_time(tick),
        "timezone": s.timezone,
        "scheduleId": s.id,
        "upcoming": spec
            .upcoming(from, UPCOMING)
            .into_iter()
            .map(format_time)
            .collect::<Vec<_>>(),
    });
    if let Some(last) = s.last_run_at {
        p["lastTimestamp"] = json!(format_time(last));
    }
    if let Some(ext) = &s.external_id {
        p["externalId"] = json!(ext);
    }
    merge_user_payload(&mut p, s.run.payload.as_deref());
    p
}

/// Adds the schedule's payload members to the scheduled payload `p`; the scheduled members
/// win (a stored payload names none of them).
fn merge_user_payload(p: &mut Value, user: Option<&str>) {
    let Some(Ok(Value::Object(user))) = user.map(serde_json::from_str::<Value>) else {
        return;
    };
    if let Value::Object(p) = p {
        for (k, v) in user {
            p.entry(k).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;
    /// 2026-01-01T00:00:00Z.
    const T0: Millis = 1_767_225_600_000;

    #[test]
    fn catch_up_fires_the_latest_tick_that_has_come() {
        let spec = cron::parse("0 * * * *", None).unwrap();
        // No window: the most recent tick, then the next after now.
        assert_eq!(
            pick(&spec, None, "sched_a", T0 + HOUR, T0 + 11 * HOUR + 5),
            (T0 + 11 * HOUR, Some(T0 + 12 * HOUR))
        );
        let w = window::parse("100%").unwrap();
        let eff = |t: Millis| window::effective(&spec, Some(&w), "sched_a", t);
        let due = eff(T0 + HOUR);
        let eleven = eff(T0 + 11 * HOUR);
        assert!(
            eleven > T0 + 11 * HOUR,
            "this id has a non-zero offset at 11:00"
        );
        // At 11:00 the 11:00 tick has not come: 10:00 fires, 11:00 stays next.
        assert_eq!(
            pick(&spec, Some(&w), "sched_a", due, T0 + 11 * HOUR),
            (T0 + 10 * HOUR, Some(T0 + 11 * HOUR))
        );
        assert_eq!(
            pick(&spec, Some(&w), "sched_a", due, eleven - 1),
            (T0 + 10 * HOUR, Some(T0 + 11 * HOUR))
        );
        // Once it has come, it fires.
        assert_eq!(
            pick(&spec, Some(&w), "sched_a", due, eleven),
            (T0 + 11 * HOUR, Some(T0 + 12 * HOUR))
        );
        // On time: the due tick itself.
        assert_eq!(
            pick(&spec, Some(&w), "sched_a", due, due),
            (T0 + HOUR, Some(T0 + 2 * HOUR))
        );
    }
}
