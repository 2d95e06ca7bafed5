use serde::{Deserialize, Serialize};

use crate::Millis;

/// How a task's failed attempts are retried (the shape of Trigger.dev's `retry` option).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RetryPolicy {
    /// All attempts, the first included (1 = never retried).
    pub max_attempts: u32,
    pub factor: f64,
    pub min_timeout_in_ms: u64,
    pub max_timeout_in_ms: u64,
    /// Multiply each delay by a random factor in [1, 2).
    pub randomize: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            factor: 2.0,
            min_timeout_in_ms: 1_000,
            max_timeout_in_ms: 60_000,
            randomize: true,
        }
    }
}

/// The longest delay between two attempts: 30 days.
pub const MAX_TIMEOUT_MS: u64 = 30 * 86_400_000;

impl RetryPolicy {
    /// Delay before the attempt after `attempt` (1-based) failed; `jitter` is in [0, 1).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Millis {
        let exp = self.factor.powi(attempt.saturating_sub(1).min(64) as i32);
        let base = (self.min_timeout_in_ms as f64 * exp).min(self.max_timeout_in_ms as f64);
        let scaled = if self.randomize {
            base * (1.0 + jitter.clamp(0.0, 0.999_999))
        } else {
            base
        };
        scaled.min(self.max_timeout_in_ms as f64 * 2.0).round() as Millis
    }

    /// A sentence naming the first invalid field, if any.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return Err("retry.maxAttempts must be between 1 and 100".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0 && self.factor <= 100.0) {
            return Err("retry.factor must be between 1 and 100".into());
        }
        if self.max_timeout_in_ms > MAX_TIMEOUT_MS {
            return Err("retry.maxTimeoutInMs must be at most 2592000000 (30 days)".into());
        }
        if self.min_timeout_in_ms > self.max_timeout_in_ms {
            return Err("retry.minTimeoutInMs must not exceed retry.maxTimeoutInMs".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_and_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            factor: 2.0,
            min_timeout_in_ms: 1000,
            max_timeout_in_ms: 5000,
            randomize: false,
        };
        assert_eq!(p.backoff(1, 0.5), 1000);
        assert_eq!(p.backoff(2, 0.5), 2000);
        assert_eq!(p.backoff(3, 0.5), 4000);
        assert_eq!(p.backoff(4, 0.5), 5000);
        let r = RetryPolicy {
            randomize: true,
            ..p
        };
        let d = r.backoff(1, 0.5);
        assert_eq!(d, 1500);
    }
}
