//! [`Client::poll_run_with`]: reads a run until it is final, with the interval, backoff,
//! time limit and per-read hook of [`PollOptions`].

use std::sync::Arc;
use std::time::Duration;

use super::types::Run;
use super::Client;
use crate::error::{Error, Result};

/// How the wait between two reads grows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backoff {
    /// The same interval every time.
    Fixed,
    /// The interval multiplied by `factor` (at least 1) after each read, up to `max`.
    Exponential {
        /// What each wait is multiplied by.
        factor: f64,
        /// The longest wait.
        max: Duration,
    },
}

/// The shortest wait between two reads: a zero interval would read without pause.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// A hook given each read of the run and its number (from 1).
pub type OnPoll = Arc<dyn Fn(&Run, u32) + Send + Sync>;

/// How [`Client::poll_run_with`] reads a run.
///
/// ```no_run
/// # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
/// use std::time::Duration;
/// use trigr_sdk::client::{Backoff, PollOptions};
///
/// let options = PollOptions::new()
///     .interval(Duration::from_millis(250))
///     .timeout(Duration::from_secs(60))
///     .backoff(Backoff::Exponential { factor: 1.5, max: Duration::from_secs(5) })
///     .on_poll(|run, n| println!("read {n}: {}", run.status));
/// let run = client.poll_run_with("run_…", options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PollOptions {
    interval: Duration,
    timeout: Duration,
    backoff: Backoff,
    on_poll: Option<OnPoll>,
}

impl Default for PollOptions {
    /// Every 1 s (fixed) for up to 10 minutes.
    fn default() -> PollOptions {
        PollOptions {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(600),
            backoff: Backoff::Fixed,
            on_poll: None,
        }
    }
}

impl std::fmt::Debug for PollOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollOptions")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("on_poll", &self.on_poll.is_some())
            .finish()
    }
}

impl PollOptions {
    /// The defaults: every 1 s, fixed, for up to 10 minutes.
    pub fn new() -> PollOptions {
        PollOptions::default()
    }

    /// The wait after the first read; a zero interval is read as [`MIN_INTERVAL`].
    pub fn interval(mut self, interval: Duration) -> PollOptions {
        self.interval = interval;
        self
    }

    /// How long to keep reading before failing with [`Error::Timeout`]; a limit too far off
    /// to be a point in time (such as `Duration::MAX`) means no limit.
    pub fn timeout(mut self, timeout: Duration) -> PollOptions {
        self.timeout = timeout;
        self
    }

    /// How the wait grows.
    pub fn backoff(mut self, backoff: Backoff) -> PollOptions {
        self.backoff = backoff;
        self
    }

    /// Called with each read of the run (final or not) and its number.
    pub fn on_poll(mut self, hook: impl Fn(&Run, u32) + Send + Sync + 'static) -> PollOptions {
        self.on_poll = Some(Arc::new(hook));
        self
    }

    /// The wait after `wait`.
    fn next(&self, wait: Duration) -> Duration {
        match self.backoff {
            Backoff::Fixed => wait,
            Backoff::Exponential { factor, max } => {
                let factor = if factor.is_finite() {
                    factor.max(1.0)
                } else {
                    1.0
                };
                let next = wait.as_secs_f64() * factor;
                Duration::try_from_secs_f64(next.min(max.as_secs_f64()).max(0.0)).unwrap_or(max)
            }
        }
    }
}

impl Client {
    /// Reads the run again and again until it is final, as `options` say; fails with
    /// [`Error::Timeout`] when it is not final within the time limit. The waits go through
    /// the client's [`Sleeper`](crate::client::Sleeper), and end with [`Error::Cancelled`]
    /// when the client is closed.
    pub async fn poll_run_with(&self, run_id: &str, options: PollOptions) -> Result<Run> {
        let deadline = tokio::time::Instant::now().checked_add(options.timeout);
        let mut wait = options.interval.max(MIN_INTERVAL);
        let mut reads = 0u32;
        loop {
            let run = self.retrieve_run(run_id).await?;
            reads = reads.saturating_add(1);
            if let Some(hook) = &options.on_poll {
                hook(&run, reads);
            }
            if run.status.is_final() {
                return Ok(run);
            }
            let pause = match deadline {
                None => wait,
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if remaining.is_zero() {
                        return Err(Error::Timeout(format!(
                            "run {run_id} is still {} after {:?} ({reads} reads)",
                            run.status, options.timeout
                        )));
                    }
                    wait.min(remaining)
                }
            };
            self.pause(pause).await?;
            wait = options.next(wait).max(MIN_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_as_the_backoff_says() {
        let fixed = PollOptions::new().interval(Duration::from_millis(10));
        assert_eq!(
            fixed.next(Duration::from_millis(10)),
            Duration::from_millis(10)
        );
        let growing = fixed.backoff(Backoff::Exponential {
            factor: 2.0,
            max: Duration::from_millis(30),
        });
        assert_eq!(
            growing.next(Duration::from_millis(10)),
            Duration::from_millis(20)
        );
        assert_eq!(
            growing.next(Duration::from_millis(20)),
            Duration::from_millis(30)
        );
        let odd = PollOptions::new().backoff(Backoff::Exponential {
            factor: f64::NAN,
            max: Duration::from_secs(1),
        });
        assert_eq!(
            odd.next(Duration::from_millis(10)),
            Duration::from_millis(10)
        );
    }
}
