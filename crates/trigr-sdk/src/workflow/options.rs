//! [`PlanOptions`]: how [`Context::run_plan_with`](crate::Context::run_plan_with) runs a plan.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use trigr_types::plan::ActionResult;

use super::hosts::HostPolicy;
use super::http_action::DEFAULT_MAX_RESPONSE_BYTES;

/// The most actions of one plan that run at the same time, at most.
pub const MAX_PARALLELISM: usize = 256;

/// Called with the execution id and each action's result once it is journaled (not for results
/// replayed from the journal, nor for skipped actions).
pub type ResultHook = Arc<dyn Fn(&str, &ActionResult) + Send + Sync>;

/// Where a plan's timestamps come from: the wall clock unless [`PlanOptions::clock`] says
/// otherwise (a test's fixed or stepped clock).
#[derive(Clone)]
pub struct PlanClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl PlanClock {
    /// A clock that reads `now()`.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> PlanClock {
        PlanClock(Arc::new(now))
    }

    /// A clock that always reads `at`.
    pub fn fixed(at: DateTime<Utc>) -> PlanClock {
        PlanClock::new(move || at)
    }

    /// The time now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for PlanClock {
    fn default() -> Self {
        PlanClock(Arc::new(Utc::now))
    }
}

impl fmt::Debug for PlanClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlanClock")
    }
}

/// How a plan is run.
#[derive(Clone)]
pub struct PlanOptions {
    pub(crate) parallelism: usize,
    pub(crate) hosts: HostPolicy,
    pub(crate) max_response_bytes: usize,
    pub(crate) on_result: Option<ResultHook>,
    pub(crate) clock: PlanClock,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            parallelism: 10,
            hosts: HostPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            on_result: None,
            clock: PlanClock::default(),
        }
    }
}

impl fmt::Debug for PlanOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanOptions")
            .field("parallelism", &self.parallelism)
            .field("hosts", &self.hosts)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("on_result", &self.on_result.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

impl PlanOptions {
    /// The defaults: 10 actions at a time, any public host, bodies up to 1 MiB.
    pub fn new() -> PlanOptions {
        PlanOptions::default()
    }

    /// How many independent actions run at the same time (1–256; default 10).
    pub fn parallelism(mut self, actions: usize) -> PlanOptions {
        self.parallelism = actions.clamp(1, MAX_PARALLELISM);
        self
    }

    /// Which hosts the requests may reach (default: any host with a public address).
    pub fn hosts(mut self, policy: HostPolicy) -> PlanOptions {
        self.hosts = policy;
        self
    }

    /// Keeps response bodies up to `bytes` (default 1 MiB); a longer one fails its action.
    pub fn max_response_bytes(mut self, bytes: usize) -> PlanOptions {
        self.max_response_bytes = bytes;
        self
    }

    /// Calls `hook` with the execution id and each action's result once it is journaled.
    pub fn on_result(
        mut self,
        hook: impl Fn(&str, &ActionResult) + Send + Sync + 'static,
    ) -> PlanOptions {
        self.on_result = Some(Arc::new(hook));
        self
    }

    /// Takes the plan's timestamps (its start and end, each action's start, end and duration,
    /// and the wait an HTTP-date `Retry-After` asks for) from `now` instead of the wall clock.
    pub fn clock(mut self, now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> PlanOptions {
        self.clock = PlanClock::new(now);
        self
    }

    /// The time now, by this plan's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
