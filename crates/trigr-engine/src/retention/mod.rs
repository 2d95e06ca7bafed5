//! `retention`: finished runs are deleted once they finished longer ago than their
//! environment's retention period.
//!
//! * [`settings`] reads and sets an environment's period: whole days from 0 (keep finished runs
//!   for good) to [`MAX_DAYS`], or the server's default (`trigr server --retention-days`,
//!   [`crate::Config::retention_days`], 30 days unless told otherwise).
//! * [`sweep`] deletes what outlived it, from the timer loop ([`crate::timers`]): each
//!   environment's finished runs oldest first, in writes of at most [`BATCH`] runs, each one
//!   short transaction, with everything that belongs only to them (`trigr_store::retention`);
//!   then the batches left without runs, the tokens no remaining run waits on and the uploaded
//!   packets older than the period.
//!
//! **What stays.** A finished run that something alive still needs is kept until that is over:
//! a child or descendant that has not finished (it may write the run's metadata and streams),
//! a wait that has not completed and lists it, a wait of its own still waiting for a run that
//! has not finished, another run of its batch that has not finished or finished within the
//! period (a batch goes as a whole). A token still waiting stays,
//! whatever its age.
//!
//! **Idempotency keys.** A deleted run's idempotency key goes with it: a trigger with that key
//! afterwards starts a new run, as after the key's own expiry. The same holds for a deleted
//! batch's key and a deleted token's key.
//!
//! **Run events** (what realtime subscribers replay) are kept a day
//! ([`crate::realtime::DEFAULT_RETENTION`]), never longer than the shortest retention period,
//! so none outlives its run.

pub mod settings;
pub mod sweep;

pub use settings::{check, RetentionPeriod, MAX_DAYS};
pub use sweep::{Sweeper, Swept, BATCH};

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Retention periods the server uses when not told otherwise.
pub const DEFAULT_DAYS: u32 = 30;

// Run events must not outlive the shortest retention period (a day).
const _: () = assert!(crate::realtime::DEFAULT_RETENTION.as_millis() <= DAY_MS as u128);
