//! An environment's retention period: its own, or the server's default.

use crate::{Engine, Error, Result};

/// The longest retention period, in days (a hundred years).
pub const MAX_DAYS: i64 = 36_500;

/// An environment's retention period as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPeriod {
    /// Days finished runs are kept; 0 keeps them for good.
    pub days: u32,
    /// The server's default.
    pub default_days: u32,
    /// Whether the environment follows the server's default (it has no period of its own).
    pub is_default: bool,
}

/// Checks a retention period a client sent: whole days from 0 to [`MAX_DAYS`].
pub fn check(days: i64) -> Result<u32> {
    if !(0..=MAX_DAYS).contains(&days) {
        return Err(Error::invalid(format!(
            "days must be a whole number from 0 (keep finished runs for good) to {MAX_DAYS}, not {days}"
        )));
    }
    Ok(days as u32)
}

/// A stored period as days: out-of-range values (written by hand) are read as the nearest
/// valid one.
pub(crate) fn stored(days: i64) -> u32 {
    days.clamp(0, MAX_DAYS) as u32
}

impl Engine {
    /// The environment's retention period.
    pub async fn retention(&self, env_id: &str) -> Result<RetentionPeriod> {
        let env_id = env_id.to_string();
        let own = self.read(move |tx| Ok(tx.retention_days(&env_id)?)).await?;
        Ok(self.period(own))
    }

    /// Sets the environment's retention period (checked by [`check`]); `None` goes back to
    /// the server's default.
    pub async fn set_retention(&self, env_id: &str, days: Option<u32>) -> Result<RetentionPeriod> {
        let env_id = env_id.to_string();
        let own = days.map(i64::from);
        self.write(move |tx| {
            if !tx.set_retention_days(&env_id, own)? {
                return Err(Error::not_found(format!("No environment {env_id}")));
            }
            Ok(())
        })
        .await?;
        Ok(self.period(own))
    }

    fn period(&self, own: Option<i64>) -> RetentionPeriod {
        let default_days = self.config.retention_days;
        RetentionPeriod {
            days: own.map_or(default_days, stored),
            default_days,
            is_default: own.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_in_range() {
        assert_eq!(check(0).unwrap(), 0);
        assert_eq!(check(30).unwrap(), 30);
        assert_eq!(check(MAX_DAYS).unwrap(), MAX_DAYS as u32);
        for bad in [-1, MAX_DAYS + 1, i64::MIN, i64::MAX] {
            let e = check(bad).unwrap_err().to_string();
            assert!(e.contains("days must be a whole number"), "{e}");
        }
        assert_eq!(stored(-5), 0);
        assert_eq!(stored(i64::MAX), MAX_DAYS as u32);
    }
}
