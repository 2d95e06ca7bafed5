//! `schedules`: cron schedules that fire runs of a task.
//!
//! * **Declarative** schedules come from the current deployment's manifest (a task's
//!   `schedule`); every promotion makes the environment's declarative schedules match the new
//!   current deployment, in the promotion's transaction (`declarative`). The API may
//!   activate or deactivate them, not change or delete them.
//! * **Imperative** schedules are made through the API (upsert by deduplication key).
//!
//! [`tick`] fires the due ones from the timer loop; [`cron`] says when a pattern ticks;
//! [`window`] spreads a schedule's ticks over its jitter window.
//!
//! A schedule's stored next run (`next_run_at`) is the **effective** time of its next tick
//! (the nominal cron time plus the window's offset; the nominal time without a window): the
//! time the timer loop fires it. [`next_nominal`] finds the nominal time again.

pub mod cron;
pub(crate) mod declarative;
pub mod run_options;
pub mod tick;
pub mod window;

use serde_json::Value;
use trigr_store::{
    Environment, ReadTx, Schedule, ScheduleFilter, ScheduleKind, ScheduledRunOptions,
};
use trigr_types::wire::rest::{ScheduleBody, ScheduleUpdate};
use trigr_types::{id, Millis};

use crate::{Engine, Error, Result, Txn};

/// Longest deduplication key and external id.
pub const MAX_KEY_LEN: usize = 1024;
/// Largest page of a schedule list.
pub const MAX_PER_PAGE: usize = 100;

/// What a caller sends to create or update an imperative schedule.
#[derive(Clone, Debug, Default)]
pub struct ScheduleInput {
    pub task: String,
    pub cron: String,
    pub timezone: Option<String>,
    pub external_id: Option<String>,
    /// Required to create; an update keeps the schedule's own.
    pub dedup_key: Option<String>,
    /// Jitter window (`30m`, `2h`, `30%`); `None` fires each tick at its nominal time. An
    /// update replaces it (`None` clears it).
    pub window: Option<String>,
    /// What each run it fires is given (checked by [`run_options`]); an update replaces it.
    pub run: ScheduledRunOptions,
}

/// What a caller changes in an imperative schedule: `None` keeps the schedule's value; for
/// the external id and the window, `Some(None)` removes it.
#[derive(Clone, Debug, Default)]
pub struct ScheduleChange {
    pub task: Option<String>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub external_id: Option<Option<String>>,
    /// When given, the schedule's own key (a key does not change).
    pub dedup_key: Option<String>,
    pub window: Option<Option<String>>,
    /// What each run it fires is given: `None` keeps each option, `Some(None)` removes it.
    pub run: run_options::RunOptionsChange,
}

/// Checks the body of a schedule create: the window, when given, is a string (its form and
/// the pattern, zone and task are checked by the command).
pub fn check(body: ScheduleBody) -> Result<ScheduleInput> {
    let run = run_options::check(&body)?;
    let window = match body.window {
        None => None,
        Some(w) => window_value(w)?,
    };
    Ok(ScheduleInput {
        task: body.task,
        cron: body.cron,
        timezone: body.timezone,
        external_id: body.external_id,
        run,
        dedup_key: body.deduplication_key,
        window,
    })
}

/// Checks the body of a schedule update: the external id and the window, when given, are a
/// string or `null`.
pub fn check_update(body: ScheduleUpdate) -> Result<ScheduleChange> {
    let run = run_options::check_change(&body)?;
    let external_id = match body.external_id {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(e)) => Some(Some(e)),
        Some(other) => {
            return Err(Error::unprocessable(format!(
                "invalid externalId: it must be a string, or null to remove it, not {}",
                kind_of(&other)
            )))
        }
    };
    Ok(ScheduleChange {
        task: body.task,
        cron: body.cron,
        timezone: body.timezone,
        external_id,
        run,
        dedup_key: body.deduplication_key,
        window: body.window.map(window_value).transpose()?,
    })
}

/// A window as sent: a string, or `null` for none.
fn window_value(w: Value) -> Result<Option<String>> {
    match w {
        Value::Null => Ok(None),
        Value::String(w) => Ok(Some(w)),
        other => Err(Error::unprocessable(format!(
            "invalid window: window must be a string such as \"30m\", \"2h\" or \"30%\", not {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The human description of a schedule's pattern, or the pattern itself when it no longer
/// parses.
pub fn describe(s: &Schedule) -> String {
    cron::parse(&s.cron, Some(&s.timezone))
        .map(|c| c.describe())
        .unwrap_or_else(|_| s.cron.clone())
}

/// A schedule's window as stored, parsed; `None` without one (or when it no longer parses).
pub fn window_of(s: &Schedule) -> Option<window::Window> {
    s.window.as_deref().and_then(|w| window::parse(w).ok())
}

/// The nominal time of a schedule's next tick (its stored next run is the effective time).
pub fn next_nominal(s: &Schedule) -> Option<Millis> {
    let effective = s.next_run_at?;
    let Some(w) = window_of(s) else {
        return Some(effective);
    };
    match cron::parse(&s.cron, Some(&s.timezone)) {
        Ok(spec) => Some(window::nominal_of(&spec, Some(&w), &s.id, effective)),
        Err(_) => Some(effective),
    }
}

/// The effective time of `s`'s tick at `nominal` (its window applied).
fn effective_of(s: &Schedule, spec: &cron::CronSpec, nominal: Option<Millis>) -> Option<Millis> {
    let w = window_of(s);
    nominal.map(|n| window::effective(spec, w.as_ref(), &s.id, n))
}

impl Engine {
    /// Creates an imperative schedule, or updates the one with the same deduplication key.
    /// Returns it and whether it was created.
    pub async fn upsert_schedule(
        &self,
        env_id: &str,
        input: ScheduleInput,
    ) -> Result<(Schedule, bool)> {
        check_input(&input)?;
        run_options::check_sizes(&input.run, &self.config)?;
        let Some(key) = input.dedup_key.clone() else {
            return Err(Error::invalid("deduplicationKey is required"));
        };
        self.write_retrying(|| {
            let (env_id, input, key) = (env_id.to_string(), input.clone(), key.clone());
            move |tx: &mut Txn<'_>| {
                let now = tx.now();
                let env = env_of(tx, &env_id)?;
                check_task(tx, &env, &input.task)?;
                if let Some(existing) = tx.schedule_by_dedup_key(&env.id, &key)? {
                    let s = apply_update(existing, &input, now)?;
                    tx.update_schedule(&s)?;
                    return Ok((s, false));
                }
                let spec = cron::parse(&input.cron, input.timezone.as_deref())
                    .map_err(Error::Unprocessable)?;
                let mut s = Schedule {
                    id: id::new("sched"),
                    env_id: env.id.clone(),
                    task_id: input.task.clone(),
                    kind: ScheduleKind::Imperative,
                    active: true,
                    dedup_key: Some(key),
                    external_id: input.external_id.clone(),
                    cron: input.cron.trim().to_string(),
                    timezone: timezone_of(&input),
                    next_run_at: None,
                    last_run_at: None,
                    created_at: now,
                    updated_at: now,
                    window: window_text(&input)?,
                    run: input.run.clone(),
                };
                s.next_run_at = effective_of(&s, &spec, spec.next_after(now));
                tx.insert_schedule(&s)?;
                Ok((s, true))
            }
        })
        .await
    }

    /// Changes what `change` gives of an imperative schedule (task, pattern, time zone,
    /// external id, window); the rest stays as it is.
    pub async fn update_schedule(
        &self,
        env_id: &str,
        id_or_key: &str,
        change: ScheduleChange,
    ) -> Result<Schedule> {
        run_options::check_change_sizes(&change.run, &self.config)?;
        let (env_id, id_or_key) = (env_id.to_string(), id_or_key.to_string());
        self.write(move |tx| {
            let now = tx.now();
            let env = env_of(tx, &env_id)?;
            let existing = find(tx.store(), &env.id, &id_or_key)?;
            if existing.kind == ScheduleKind::Declarative {
                return Err(declarative_refused(&existing));
            }
            let input = merged(&existing, &change)?;
            check_input(&input)?;
            // A schedule keeps a task the current deployment no longer declares until the
            // task is changed.
            if change.task.is_some() {
                check_task(tx, &env, &input.task)?;
            }
            let s = apply_update(existing, &input, now)?;
            tx.update_schedule(&s)?;
            Ok(s)
        })
        .await
    }

    /// A schedule by id or deduplication key.
    pub async fn schedule(&self, env_id: &str, id_or_key: &str) -> Result<Schedule> {
        let (env_id, id_or_key) = (env_id.to_string(), id_or_key.to_string());
        self.read(move |tx| find(tx, &env_id, &id_or_key)).await
    }

    /// A page (from 1) of the environment's schedules that `filter` lets through, oldest
    /// first, and their total count.
    pub async fn list_schedules(
        &self,
        env_id: &str,
        filter: ScheduleFilter,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<Schedule>, i64)> {
        run_options::check_tag_filter(filter.tag.as_deref())?;
        let env_id = env_id.to_string();
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let offset = page.max(1).saturating_sub(1).saturating_mul(per_page);
        self.read(move |tx| Ok(tx.schedules(&env_id, &filter, offset, per_page)?))
            .await
    }

    /// Deletes an imperative schedule; returns its id.
    pub async fn delete_schedule(&self, env_id: &str, id_or_key: &str) -> Result<String> {
        let (env_id, id_or_key) = (env_id.to_string(), id_or_key.to_string());
        self.write(move |tx| {
            let s = find(tx.store(), &env_id, &id_or_key)?;
            if s.kind == ScheduleKind::Declarative {
                return Err(declarative_refused(&s));
            }
            tx.delete_schedule(&env_id, &s.id)?;
            Ok(s.id)
        })
        .await
    }

    /// Activates or deactivates a schedule. An activated schedule ticks from now on: ticks
    /// missed while it was inactive are not fired.
    pub async fn set_schedule_active(
        &self,
        env_id: &str,
        id_or_key: &str,
        active: bool,
    ) -> Result<Schedule> {
        let (env_id, id_or_key) = (env_id.to_string(), id_or_key.to_string());
        self.write(move |tx| {
            let now = tx.now();
            let mut s = find(tx.store(), &env_id, &id_or_key)?;
            if s.active == active {
                return Ok(s);
            }
            s.active = active;
            s.next_run_at = if active {
                cron::parse(&s.cron, Some(&s.timezone))
                    .ok()
                    .and_then(|c| effective_of(&s, &c, c.next_after(now)))
            } else {
                None
            };
            s.updated_at = now;
            tx.update_schedule(&s)?;
            Ok(s)
        })
        .await
    }
}

fn env_of(tx: &mut Txn<'_>, env_id: &str) -> Result<Environment> {
    tx.environment(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))
}

/// A schedule by id (`sched_…`) or deduplication key; 404 otherwise.
fn find(tx: &mut dyn ReadTx, env_id: &str, id_or_key: &str) -> Result<Schedule> {
    let found = match tx.schedule(env_id, id_or_key)? {
        Some(s) => Some(s),
        None => tx.schedule_by_dedup_key(env_id, id_or_key)?,
    };
    found.ok_or_else(|| Error::not_found(format!("Schedule {id_or_key} not found")))
}

fn declarative_refused(s: &Schedule) -> Error {
    Error::unprocessable(format!(
        "Cannot update a declarative schedule: {} is declared by task '{}' of the current deployment; change the task's cron instead",
        s.id, s.task_id
    ))
}

/// The schedule's settings with `change` applied.
fn merged(s: &Schedule, change: &ScheduleChange) -> Result<ScheduleInput> {
    if let Some(key) = &change.dedup_key {
        if s.dedup_key.as_ref() != Some(key) {
            return Err(Error::unprocessable(format!(
                "deduplicationKey cannot be changed: schedule {} keeps {}",
                s.id,
                s.dedup_key.as_deref().unwrap_or("none")
            )));
        }
    }
    Ok(ScheduleInput {
        task: change.task.clone().unwrap_or_else(|| s.task_id.clone()),
        cron: change.cron.clone().unwrap_or_else(|| s.cron.clone()),
        timezone: Some(
            change
                .timezone
                .clone()
                .unwrap_or_else(|| s.timezone.clone()),
        ),
        external_id: change
            .external_id
            .clone()
            .unwrap_or_else(|| s.external_id.clone()),
        dedup_key: None,
        window: change.window.clone().unwrap_or_else(|| s.window.clone()),
        run: change.run.applied_to(&s.run),
    })
}

fn timezone_of(input: &ScheduleInput) -> String {
    input.timezone.clone().unwrap_or_else(|| "UTC".to_string())
}

/// The caller's window in its canonical text; `422` naming the problem.
fn window_text(input: &ScheduleInput) -> Result<Option<String>> {
    input
        .window
        .as_deref()
        .map(|w| window::parse(w).map(|w| w.text()))
        .transpose()
        .map_err(Error::Unprocessable)
}

/// Checks what needs no store; the errors name the field.
fn check_input(input: &ScheduleInput) -> Result<()> {
    if input.task.is_empty() || input.task.len() > 128 {
        return Err(Error::unprocessable(
            "task must be a task id of 1-128 characters",
        ));
    }
    if let Some(k) = &input.dedup_key {
        if k.is_empty() || k.len() > MAX_KEY_LEN {
            return Err(Error::unprocessable(format!(
                "deduplicationKey must be 1-{MAX_KEY_LEN} characters"
            )));
        }
    }
    if input
        .external_id
        .as_ref()
        .is_some_and(|e| e.len() > MAX_KEY_LEN)
    {
        return Err(Error::unprocessable(format!(
            "externalId must be at most {MAX_KEY_LEN} characters"
        )));
    }
    cron::parse(&input.cron, input.timezone.as_deref()).map_err(Error::Unprocessable)?;
    window_text(input)?;
    Ok(())
}

/// Once a deployment is current, a schedule's task must be one that a trigger reaches: one
/// the current deployment declares, or in development one any version declares
/// ([`crate::serving`]).
fn check_task(tx: &mut Txn<'_>, env: &Environment, task: &str) -> Result<()> {
    let version = match crate::serving::version_for(tx, env, task) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(()),
        Err(Error::NotFound(message)) => return Err(Error::Unprocessable(message)),
        Err(e) => return Err(e),
    };
    let declared = tx
        .loaded_deployment(&env.id, &version)?
        .is_some_and(|d| d.task(task).is_some());
    if declared {
        return Ok(());
    }
    match crate::serving::not_declared(tx, env, task, &version)? {
        Error::NotFound(message) => Err(Error::Unprocessable(message)),
        e => Err(e),
    }
}

/// The schedule with the caller's new settings; its next tick is recomputed when the pattern
/// or the zone changed. When only the window changed, the pending tick stays the same and
/// gets its effective time in the new window (it fires on the next pass if that has come).
fn apply_update(mut s: Schedule, input: &ScheduleInput, now: Millis) -> Result<Schedule> {
    if s.kind == ScheduleKind::Declarative {
        return Err(declarative_refused(&s));
    }
    let spec = cron::parse(&input.cron, input.timezone.as_deref()).map_err(Error::Unprocessable)?;
    let cron = input.cron.trim().to_string();
    let timezone = timezone_of(input);
    let window = window_text(input)?;
    let nominal = if s.cron != cron || s.timezone != timezone || s.next_run_at.is_none() {
        if s.active {
            spec.next_after(now)
        } else {
            None
        }
    } else {
        next_nominal(&s)
    };
    s.task_id = input.task.clone();
    s.cron = cron;
    s.timezone = timezone;
    s.external_id = input.external_id.clone();
    s.window = window;
    s.run = input.run.clone();
    s.next_run_at = effective_of(&s, &spec, nominal);
    s.updated_at = now;
    Ok(s)
}
