//! The mollifier: burst smoothing on the trigger path (DESIGN §9, seed 003).
//!
//! A trigger that passed every check (request, payload schema, request and idempotency keys)
//! meets the [`gate`]: the global switch, the environment's or organization's override
//! ([`overrides`]), shadow mode and the [`trip`] evaluator decide `pass_through`, `shadow_log`
//! or `mollify`. A mollified trigger is answered at once with its run id and waits in its
//! environment's FIFO ([`buffer`]), durable before the answer; the [`drainer`] creates its run
//! later at a bounded rate ([`drain`]), the very run the trigger would have created, with the
//! same id. Until then the run is readable and cancellable ([`fallback`]). Entries that wait
//! longer than their time to live become `FAILED` runs. If the evaluator or the buffer fails,
//! the trigger goes straight to the engine (fail-open), counted in [`Stats`].

pub mod accept;
pub mod admission;
pub mod buffer;
pub mod drain;
pub mod drainer;
pub mod entry;
pub mod fallback;
pub mod gate;
pub mod listing;
pub mod overrides;
pub mod redis_buffer;
pub mod redis_scripts;
pub mod shared_trip;
pub mod status;
pub mod trip;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trigr_store::Lane;
use trigr_types::Millis;

pub use buffer::{Accepted, MollifierBuffer, StoreBuffer};
pub use gate::{Decision, Reason};
pub use overrides::Override;
pub use redis_buffer::RedisBuffer;
pub use trip::{Limits, LocalTripCounter, TripCounter, TripError};

/// The global switch (`--mollifier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Mollify tripped environments.
    On,
    /// No gate at all: nothing counted, nothing buffered.
    Off,
    /// Count and report what would be mollified, buffer nothing.
    Shadow,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "on" => Some(Mode::On),
            "off" => Some(Mode::Off),
            "shadow" => Some(Mode::Shadow),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "off",
            Mode::Shadow => "shadow",
        }
    }
}

/// Trigger requests of one tripped environment worked on at once, unless set.
pub const DEFAULT_ADMIT: usize = 4;

/// The mollifier's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    /// Default trip limits (an override may change them per environment or organization).
    pub limits: Limits,
    /// How long an entry may wait before it fails.
    pub entry_ttl: Duration,
    pub drain: drainer::DrainSettings,
    /// Trigger requests of one tripped environment worked on at once ([`admission`]); 0: no
    /// limit.
    pub admit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::On,
            limits: Limits {
                threshold: 1000,
                hold_ms: 10_000,
            },
            entry_ttl: Duration::from_secs(24 * 3600),
            drain: drainer::DrainSettings::default(),
            admit: DEFAULT_ADMIT,
        }
    }
}

impl Settings {
    /// Refuses settings that cannot work, with the reason.
    pub fn check(&self) -> Result<(), String> {
        if self.limits.threshold == 0 {
            return Err("the mollifier threshold must be at least 1 trigger per second".into());
        }
        if self.limits.hold_ms < 0 {
            return Err("the mollifier hold must not be negative".into());
        }
        if self.entry_ttl.is_zero() {
            return Err("the mollifier entry TTL must be positive".into());
        }
        self.drain.check()
    }
}

/// Counters of what the mollifier did, for metrics.
#[derive(Default)]
pub struct Stats {
    /// Decisions, by outcome (3) × reason (5).
    decisions: [AtomicU64; 15],
    pub buffered: AtomicU64,
    pub drained: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    /// Triggers sent straight to the engine because the buffer failed.
    pub buffer_fail_open: AtomicU64,
    /// Environments skipped for a tick because draining them failed.
    pub env_errors: AtomicU64,
    /// Trigger requests of a tripped environment that waited for an admission slot.
    pub admission_waits: AtomicU64,
    /// Milliseconds from acceptance to the run's creation, summed, and how many.
    pub drain_lag_ms_sum: AtomicU64,
}

const OUTCOMES: [&str; 3] = ["pass_through", "shadow_log", "mollify"];
const REASONS: [Reason; 5] = [
    Reason::Disabled,
    Reason::OverrideOff,
    Reason::BelowThreshold,
    Reason::Tripped,
    Reason::FailOpen,
];

impl Stats {
    fn count(&self, d: Decision) {
        let o = OUTCOMES.iter().position(|o| *o == d.outcome()).unwrap_or(0);
        let r = REASONS.iter().position(|r| *r == d.reason()).unwrap_or(0);
        self.decisions[o * REASONS.len() + r].fetch_add(1, Ordering::Relaxed);
    }

    /// Every decision count, as `(outcome, reason, count)`.
    pub fn decisions(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            for (r, reason) in REASONS.iter().enumerate() {
                let n = self.decisions[o * REASONS.len() + r].load(Ordering::Relaxed);
                out.push((*outcome, reason.label(), n));
            }
        }
        out
    }
}

/// A hash of an environment id, to tell environments apart without keeping their ids.
fn env_hash(env_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env_id.hash(&mut h);
    h.finish()
}

/// The mollifier of one server: its settings, evaluator, overrides, buffer and counters.
pub struct Mollifier {
    settings: Settings,
    counter: Arc<dyn TripCounter>,
    overrides: overrides::Cache,
    buffer: Arc<dyn MollifierBuffer>,
    stats: Stats,
    admission: Option<admission::Admission>,
    /// The last two environments (by id hash) whose trigger requests met
    /// [`Mollifier::admit`] while not tripped, newest first, and when (engine clock, ms).
    untripped_seen: std::sync::Mutex<[(u64, Millis); 2]>,
}

impl Mollifier {
    pub fn new(settings: Settings, buffer: Arc<dyn MollifierBuffer>) -> Mollifier {
        Mollifier {
            admission: (settings.admit > 0).then(|| admission::Admission::new(settings.admit)),
            untripped_seen: std::sync::Mutex::new([(0, Millis::MIN); 2]),
            settings,
            counter: Arc::new(LocalTripCounter::default()),
            overrides: overrides::Cache::default(),
            buffer,
            stats: Stats::default(),
        }
    }

    /// This mollifier with another trip evaluator (a shared one, or a test's).
    pub fn with_counter(mut self, counter: Arc<dyn TripCounter>) -> Mollifier {
        self.counter = counter;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn buffer(&self) -> &Arc<dyn MollifierBuffer> {
        &self.buffer
    }

    /// How long an entry may wait, in milliseconds.
    pub fn entry_ttl_ms(&self) -> Millis {
        Millis::try_from(self.settings.entry_ttl.as_millis()).unwrap_or(Millis::MAX)
    }

    /// Whether the global switch is off (the trigger path then skips the gate entirely).
    pub fn is_off(&self) -> bool {
        self.settings.mode == Mode::Off
    }

    /// The gate's decision for one trigger of `env_id` at `now`, counted.
    pub fn gate(&self, env_id: &str, now: Millis) -> Decision {
        let o = self.overrides.for_env(env_id);
        let limits = o.limits(self.settings.limits);
        let d = gate::decide(self.settings.mode, o.mode, || {
            self.counter.hit(env_id, now, limits)
        });
        self.stats.count(d);
        d
    }

    /// Whether `env_id` is tripped at `now` (status).
    pub fn is_tripped(&self, env_id: &str, now: Millis) -> bool {
        self.counter.is_tripped(env_id, now)
    }

    /// The store lane of `env_id`'s writes at `now`: [`Lane::Bulk`] while its triggers are
    /// being buffered (the mollifier on for it, and tripped), so that its burst — the
    /// buffering, the draining and its workers' dequeues and completions — yields to every
    /// other environment's writes; [`Lane::Live`] otherwise, at the cost of one comparison
    /// when the mollifier is off.
    pub fn lane(&self, env_id: &str, now: Millis) -> Lane {
        gate::lane(
            self.settings.mode,
            || self.counter.is_tripped(env_id, now),
            || self.overrides.for_env(env_id).mode,
        )
    }

    /// One of `env_id`'s admission slots while its triggers are being buffered (the
    /// [`lane`](Mollifier::lane) is bulk) and another environment triggered within the last
    /// [`admission::OTHERS_ACTIVE_MS`], waited for when all are taken; `None` at once
    /// otherwise, or with no admission limit. A burst with nobody else to yield to keeps the
    /// whole server.
    pub async fn admit(&self, env_id: &str, now: Millis) -> Option<admission::Admitted> {
        let admission = self.admission.as_ref()?;
        if !self.yields_to_others(env_id, now) {
            return None;
        }
        let waited = || {
            self.stats.admission_waits.fetch_add(1, Ordering::Relaxed);
        };
        Some(admission.enter(env_id, waited).await)
    }

    /// Whether `env_id` is tripped while another environment triggered within the last
    /// [`admission::OTHERS_ACTIVE_MS`]; a trigger of an environment that is not tripped is
    /// noted for the next call.
    fn yields_to_others(&self, env_id: &str, now: Millis) -> bool {
        let env = env_hash(env_id);
        let tripped = self.lane(env_id, now) == Lane::Bulk;
        let mut seen = self
            .untripped_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !tripped {
            if seen[0].0 != env {
                seen[1] = seen[0];
            }
            seen[0] = (env, now);
            return false;
        }
        seen.iter()
            .any(|&(e, at)| e != env && now.saturating_sub(at) <= admission::OTHERS_ACTIVE_MS)
    }

    /// The override in force for `env_id` (its own fields, else its organization's).
    pub fn override_for(&self, env_id: &str) -> Override {
        self.overrides.for_env(env_id)
    }
}
