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

use serde_json::{json, Value};
use trigr_store::{Schedule, Tx};
use trigr_types::{format_time, Millis};

use super::cron::{self, CronSpec, UPCOMING};
use crate::trigger::{create_run, prepare, TriggerOptions};
use crate::{Engine, Error, Result};

/// What one pass did: runs triggered, and the environments that got them.
#[derive(Debug, Default)]
pub struct Ticked {
    pub runs: usize,
    pub envs: Vec<String>,
}

/// Fires at most `limit` due schedules.
pub(crate) fn fire_due(
    engine: &Engine,
    tx: &mut dyn Tx,
    now: Millis,
    limit: usize,
) -> Result<Ticked> {
    let mut ticked = Ticked::default();
    for s in tx.due_schedules(now, limit)? {
        let Some(due) = s.next_run_at else {
            continue;
        };
        let spec = match cron::parse(&s.cron, Some(&s.timezone)) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!("schedule {} cannot tick any more: {e}", s.id);
                tx.claim_schedule_tick(&s.id, due, None, due, now)?;
                continue;
            }
        };
        // The most recent tick that has come (catch-up fires only that one).
        let tick = spec
            .last_at_or_before(now)
            .filter(|t| *t >= due)
            .unwrap_or(due);
        let next = spec.next_after(now);
        if !tx.claim_schedule_tick(&s.id, due, next, tick, now)? {
            continue;
        }
        let Some(env) = tx.environment(&s.env_id)? else {
            continue;
        };
        let mut new = prepare(
            &s.task_id,
            Some(payload(&s, &spec, tick, now)),
            TriggerOptions::default(),
            engine.config.max_payload_bytes,
        )?;
        new.request_key = Some(format!("schedule:{}:{tick}", s.id));
        match create_run(engine, tx, &env, &new, now) {
            Ok(_) => {
                ticked.runs += 1;
                if !ticked.envs.contains(&env.id) {
                    ticked.envs.push(env.id.clone());
                }
            }
            // The task is not declared by the current deployment, or refuses the payload:
            // the tick is spent without a run.
            Err(e @ (Error::NotFound(_) | Error::Unprocessable(_) | Error::Invalid(_))) => {
                tracing::warn!("schedule {} could not trigger '{}': {e}", s.id, s.task_id);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(ticked)
}

/// The payload a scheduled run gets.
fn payload(s: &Schedule, spec: &CronSpec, tick: Millis, now: Millis) -> Value {
    let mut p = json!({
        "type": s.kind.as_str(),
        "timestamp": format_time(tick),
        "timezone": s.timezone,
        "scheduleId": s.id,
        "upcoming": spec
            .upcoming(tick.max(now), UPCOMING)
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
    p
}
