//! Declarative schedules follow the tasks the environment serves: the current deployment's
//! (in development, the tasks of every version with workers, see
//! [`crate::serving::served_tasks`]). Called by every promotion (a registration that
//! promotes, `promote`, `rollback`) inside its transaction, while the environment is locked,
//! so two promotions never sync at once.

use trigr_store::{Schedule, ScheduleKind, ScheduledRunOptions};
use trigr_types::manifest::TaskManifest;
use trigr_types::{id, Millis};

use super::cron;
use crate::{Result, Txn};

/// Makes the environment's declarative schedules match `tasks`: one per task that declares
/// a schedule, created, changed (its next tick recomputed when the pattern, zone or window
/// changed; whether it is active is kept) or deleted.
pub(crate) fn sync(
    tx: &mut Txn<'_>,
    env_id: &str,
    tasks: &[TaskManifest],
    now: Millis,
) -> Result<()> {
    let existing = tx.declarative_schedules(env_id)?;
    for old in &existing {
        let still = tasks
            .iter()
            .any(|t| t.id == old.task_id && t.schedule.is_some());
        if !still {
            tx.delete_schedule(env_id, &old.id)?;
        }
    }
    for task in tasks {
        let Some(declared) = &task.schedule else {
            continue;
        };
        let spec = match cron::parse(&declared.cron, declared.timezone.as_deref()) {
            Ok(spec) => spec,
            Err(e) => {
                // Registration refuses such manifests; one stored before that is skipped.
                tracing::warn!("task '{}' has a bad schedule: {e}", task.id);
                continue;
            }
        };
        let pattern = declared.cron.trim().to_string();
        let timezone = declared
            .timezone
            .clone()
            .unwrap_or_else(|| "UTC".to_string());
        // Registration checks the window; one stored before that is dropped.
        let window = declared
            .window
            .as_deref()
            .and_then(|w| super::window::parse(w).ok());
        let window_text = window.as_ref().map(super::window::Window::text);
        match existing.iter().find(|s| s.task_id == task.id) {
            Some(old)
                if old.cron == pattern && old.timezone == timezone && old.window == window_text => {
            }
            Some(old) => {
                // Only the window changed: the pending tick stays, at its new time.
                let same_ticks = old.cron == pattern && old.timezone == timezone;
                let nominal = if same_ticks {
                    super::next_nominal(old)
                } else {
                    spec.next_after(now)
                };
                let mut s = old.clone();
                s.cron = pattern;
                s.timezone = timezone;
                s.window = window_text;
                s.next_run_at = if s.active {
                    nominal.map(|n| super::window::effective(&spec, window.as_ref(), &s.id, n))
                } else {
                    None
                };
                s.updated_at = now;
                tx.update_schedule(&s)?;
            }
            None => {
                let id = id::new("sched");
                let next_run_at = spec
                    .next_after(now)
                    .map(|n| super::window::effective(&spec, window.as_ref(), &id, n));
                tx.insert_schedule(&Schedule {
                    id,
                    env_id: env_id.to_string(),
                    task_id: task.id.clone(),
                    kind: ScheduleKind::Declarative,
                    active: true,
                    dedup_key: None,
                    external_id: None,
                    cron: pattern,
                    timezone,
                    next_run_at,
                    last_run_at: None,
                    created_at: now,
                    updated_at: now,
                    window: window_text,
                    run: ScheduledRunOptions::default(),
                })?;
            }
        }
    }
    Ok(())
}
