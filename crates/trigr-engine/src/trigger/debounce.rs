//! `debounce`: triggers of one task in one environment with the same key coalesce into one
//! delayed run, as Trigger.dev 4.x does.
//!
//! The first trigger with a key makes a `DELAYED` run, due `delay` after it (or at the
//! trigger's own `delay`). Each later trigger with the key, while that run is still `DELAYED`,
//! makes no run: it pushes the run's due time to `delay` after itself (never earlier) and, in
//! `trailing` mode, replaces the run's payload and the options a trigger may change (metadata,
//! tags, max attempts, max duration, machine); in `leading` mode (the default) the first
//! trigger's data stays. A trigger that would push the run past `maxDelay` after its first
//! trigger leaves it to run when it is due and makes a new run, which takes the key. Once the
//! run has left `DELAYED` (started, canceled, ended), the next trigger makes a new run too.
//!
//! The key lives in the store (`debounce_keys`): `step` locks its row, so triggers with one
//! key, on any number of servers, decide one after another; a key nobody holds yet is claimed
//! with an insert that a concurrent claim makes a no-op, after which the winner's row is read.
//! The push is one conditional write on the run (still `DELAYED`).

use trigr_store::Run;
use trigr_types::wire::trigger::{DebounceMode, DebounceOption};
use trigr_types::{duration, id, Millis, RunStatus};

use super::options::{truncated, NewRun};
use crate::transition::rescheduled;
use crate::{Error, Result, Txn};

/// The longest debounce key, in bytes (upstream's limit).
pub const MAX_DEBOUNCE_KEY_LEN: usize = 512;
/// The shortest `debounce.delay` (upstream's minimum).
pub const MIN_DEBOUNCE_DELAY: Millis = 1_000;
/// The longest `debounce.delay` and `debounce.maxDelay`: one year.
pub const MAX_DEBOUNCE_DELAY: Millis = 365 * 86_400_000;

/// A checked `debounce` option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debounce {
    pub key: String,
    /// How long after each trigger the run waits for the next one.
    pub delay_ms: Millis,
    /// Whether later triggers replace the run's data.
    pub trailing: bool,
    /// How long after the run's first trigger later ones may still push it.
    pub max_delay_ms: Option<Millis>,
}

/// Checks the `debounce` option: a key of 1–512 bytes without NUL, a `delay` duration of at
/// least a second, and a `maxDelay` duration longer than the delay; both at most a year.
pub fn parse(option: Option<&DebounceOption>) -> Result<Option<Debounce>> {
    let Some(o) = option else { return Ok(None) };
    if o.key.is_empty() || o.key.len() > MAX_DEBOUNCE_KEY_LEN {
        return Err(Error::invalid(format!(
            "debounce.key must be 1-{MAX_DEBOUNCE_KEY_LEN} characters ({} given)",
            o.key.len()
        )));
    }
    if o.key.contains('\0') {
        return Err(Error::invalid(
            "debounce.key must not contain NUL characters",
        ));
    }
    let delay_ms = duration_of("debounce.delay", &o.delay)?;
    if delay_ms < MIN_DEBOUNCE_DELAY {
        return Err(Error::unprocessable(format!(
            "debounce.delay must be at least 1s ('{}' given)",
            truncated(&o.delay, 64)
        )));
    }
    let max_delay_ms = match &o.max_delay {
        Some(text) => Some(duration_of("debounce.maxDelay", text)?),
        None => None,
    };
    if max_delay_ms.is_some_and(|max| max <= delay_ms) {
        return Err(Error::unprocessable(
            "debounce.maxDelay must be longer than debounce.delay: a run is pushed back only \
             while it stays within maxDelay, so every trigger would make its own run",
        ));
    }
    Ok(Some(Debounce {
        key: o.key.clone(),
        delay_ms,
        trailing: o.mode == Some(DebounceMode::Trailing),
        max_delay_ms,
    }))
}

/// A duration of at most [`MAX_DEBOUNCE_DELAY`] (a date is refused: it is re-applied at
/// every trigger).
fn duration_of(field: &str, text: &str) -> Result<Millis> {
    let shown = truncated(text, 64);
    let ms = duration::parse(text).map_err(|_| {
        Error::unprocessable(format!(
            "Invalid {field} '{shown}': use a duration like 5s, 1m or 2h30m (units w d h hr m s)"
        ))
    })?;
    if ms > MAX_DEBOUNCE_DELAY {
        return Err(Error::unprocessable(format!(
            "Invalid {field} '{shown}': at most one year"
        )));
    }
    Ok(ms)
}

/// What a trigger with a debounce key does.
#[derive(Debug)]
pub(crate) enum Step {
    /// The key's run is still delayed: this trigger pushed it (or changed nothing), and that
    /// run is the answer.
    Coalesced(Box<Run>),
    /// A new run, with this id, which the key now names.
    New(String),
}

/// Decides (and writes) what a trigger with debounce key `d` does, before anything creates a
/// run: push the key's delayed run, or claim the key for a new run with a fresh id.
pub(crate) fn step(
    tx: &mut Txn<'_>,
    env_id: &str,
    new: &NewRun,
    d: &Debounce,
    now: Millis,
) -> Result<Step> {
    let run_id = id::new("run");
    let task_id = new.task_id.as_str();
    // Twice at most: a claim lost to a concurrent one is followed by reading the winner's
    // (locked) row, which a move always follows.
    for _ in 0..2 {
        let Some(held) = tx.debounce_run_id(env_id, task_id, &d.key)? else {
            if tx.claim_debounce_key(env_id, task_id, &d.key, &run_id, now)? {
                return Ok(Step::New(run_id));
            }
            continue;
        };
        if let Some(run) = push(tx, env_id, &held, new, d, now)? {
            return Ok(Step::Coalesced(Box::new(run)));
        }
        if tx.move_debounce_key(env_id, task_id, &d.key, &held, &run_id, now)? {
            return Ok(Step::New(run_id));
        }
    }
    Err(Error::Store(trigr_store::Error::Conflict(format!(
        "debounce key '{}' changed during the trigger",
        truncated(&d.key, 64)
    ))))
}

/// Pushes the key's run `run_id` if it is still `DELAYED` and the push stays within
/// `maxDelay`; returns the run as it now is, or `None` when the trigger needs a new run.
fn push(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    new: &NewRun,
    d: &Debounce,
    now: Millis,
) -> Result<Option<Run>> {
    let Some(run) = tx.run(env_id, run_id)? else {
        return Ok(None);
    };
    if run.status != RunStatus::Delayed {
        return Ok(None);
    }
    let due = now + d.delay_ms;
    if d.max_delay_ms.is_some_and(|max| due > run.created_at + max) {
        return Ok(None);
    }
    let later = run.delay_until.is_none_or(|t| due > t);
    if !later && !d.trailing {
        return Ok(Some(run));
    }
    let mut after = if later {
        rescheduled(&run, due, now)
    } else {
        run.clone()
    };
    if d.trailing {
        replace_data(&mut after, new);
    }
    after.updated_at = now;
    if !tx.update_delayed_run(&after)? {
        return Ok(None);
    }
    crate::events::record(tx, [(Some(&run), &after)])?;
    Ok(Some(after))
}

/// What a trailing trigger replaces in the run: its payload, and the metadata, tags, max
/// attempts, max duration and machine it gives.
fn replace_data(run: &mut Run, new: &NewRun) {
    run.payload = new.payload.clone();
    run.payload_type = new.payload_type.clone();
    if new.metadata.is_some() {
        run.metadata = new.metadata.clone();
        run.metadata_type = new.metadata_type.clone();
    }
    if !new.tags.is_empty() {
        run.tags = new.tags.clone();
    }
    if new.max_attempts.is_some() {
        run.max_attempts = new.max_attempts;
    }
    if new.max_duration_secs.is_some() {
        run.max_duration = new.max_duration_secs;
    }
    if new.machine.is_some() {
        run.machine = new.machine.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(key: &str, delay: &str, max: Option<&str>) -> DebounceOption {
        DebounceOption {
            key: key.into(),
            delay: delay.into(),
            mode: None,
            max_delay: max.map(Into::into),
        }
    }

    fn refused(o: DebounceOption) -> String {
        parse(Some(&o)).unwrap_err().to_string()
    }

    #[test]
    fn a_checked_option_keeps_its_durations() {
        let mut o = option("k", "5s", Some("1m"));
        o.mode = Some(DebounceMode::Trailing);
        let d = parse(Some(&o)).unwrap().unwrap();
        assert_eq!(
            d,
            Debounce {
                key: "k".into(),
                delay_ms: 5_000,
                trailing: true,
                max_delay_ms: Some(60_000)
            }
        );
        assert_eq!(parse(None).unwrap(), None);
    }

    #[test]
    fn bad_options_are_refused_naming_the_field() {
        assert!(refused(option("", "5s", None)).contains("debounce.key"));
        assert!(refused(option(&"k".repeat(513), "5s", None)).contains("debounce.key"));
        assert!(parse(Some(&option(&"k".repeat(512), "5s", None))).is_ok());
        assert!(refused(option("a\0b", "5s", None)).contains("NUL"));
        assert!(refused(option("k", "soon", None)).contains("debounce.delay"));
        assert!(refused(option("k", "2030-01-01T00:00:00Z", None)).contains("debounce.delay"));
        assert!(refused(option("k", "0s", None)).contains("at least 1s"));
        assert!(refused(option("k", "53w", None)).contains("one year"));
        assert!(refused(option("k", "99999999999999999999s", None)).contains("debounce.delay"));
        assert!(refused(option("k", "5s", Some("x"))).contains("debounce.maxDelay"));
        assert!(refused(option("k", "5s", Some("5s"))).contains("longer than"));
    }
}
