//! Durations and points in time as the API accepts them.
//!
//! The grammar is one or more `<integer><unit>` groups with units `w d hr h m s`
//! (`"30s"`, `"1h30m"`, `"2d"`). A delay may also be an RFC 3339 date.

use crate::Millis;

/// A string that is neither a duration nor a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("'{0}' is not a duration: use groups like 30s, 10m, 1h30m, 2d or 1w")]
    BadDuration(String),
    #[error("'{0}' is neither a duration (like 10m or 1h30m) nor an ISO 8601 date")]
    BadDelay(String),
    #[error("the duration '{0}' is too long (at most 100 years)")]
    TooLong(String),
}

/// The longest duration accepted anywhere: 100 years.
pub const MAX: Millis = 100 * 365 * 86_400_000;

/// Parses `"1h30m"` into milliseconds (at most [`MAX`]).
pub fn parse(input: &str) -> Result<Millis, Error> {
    let bad = || Error::BadDuration(input.to_string());
    let s = input.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: i64 = s[start..i]
            .parse()
            .map_err(|_| Error::TooLong(input.to_string()))?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: i64 = match &s[unit_start..i] {
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "hr" | "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            _ => return Err(bad()),
        };
        let part = n
            .checked_mul(unit_ms)
            .ok_or_else(|| Error::TooLong(input.to_string()))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| Error::TooLong(input.to_string()))?;
    }
    if total > MAX {
        return Err(Error::TooLong(input.to_string()));
    }
    Ok(total)
}

/// Parses an RFC 3339 / ISO 8601 date into epoch milliseconds.
pub fn parse_date(input: &str) -> Option<Millis> {
    let s = input.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    // Dates without an offset are taken as UTC.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    None
}

/// Resolves a delay (duration or date) against `now` into the time the run becomes due.
/// A date in the past means no delay.
pub fn parse_delay(input: &str, now: Millis) -> Result<Millis, Error> {
    match parse(input) {
        Ok(ms) => Ok(now.saturating_add(ms)),
        Err(Error::TooLong(s)) => Err(Error::TooLong(s)),
        Err(_) => parse_date(input)
            .map(|at| at.max(now))
            .ok_or_else(|| Error::BadDelay(input.to_string())),
    }
}

/// `idempotencyKeyTTL`: exactly `<integer>(s|m|h|d)`; anything else is ignored and the
/// default of 30 days applies, as upstream does. A well-formed TTL over [`MAX`] is an error:
/// added to the current time it would overflow.
pub fn parse_idempotency_ttl(input: Option<&str>) -> Result<Millis, Error> {
    const DEFAULT: Millis = 30 * 86_400_000;
    let Some(s) = input else { return Ok(DEFAULT) };
    let s = s.trim();
    // The unit is the last character, which may take more than one byte.
    let unit_start = s.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = s.split_at(unit_start);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(DEFAULT);
    }
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Ok(DEFAULT),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|ms| *ms <= MAX)
        .ok_or_else(|| Error::TooLong(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(parse("30s"), Ok(30_000));
        assert_eq!(parse("1h30m"), Ok(5_400_000));
        assert_eq!(parse("2d"), Ok(172_800_000));
        assert_eq!(parse("1w"), Ok(604_800_000));
        assert_eq!(parse("1hr"), Ok(3_600_000));
        assert!(parse("").is_err());
        assert!(parse("10x").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("m10").is_err());
        assert!(parse("10").is_err());
        assert!(matches!(
            parse("99999999999999999999s"),
            Err(Error::TooLong(_))
        ));
        assert!(matches!(parse("5300w"), Err(Error::TooLong(_))));
        assert_eq!(parse("5200w"), Ok(5200 * 604_800_000));
    }

    #[test]
    fn delays() {
        let now = 1_000_000;
        assert_eq!(parse_delay("1m", now), Ok(now + 60_000));
        assert_eq!(parse_delay("1970-01-01T00:00:00Z", now), Ok(now));
        assert_eq!(
            parse_delay("2030-01-01T00:00:00.000Z", now),
            Ok(1_893_456_000_000)
        );
        assert!(matches!(
            parse_delay("tomorrow", now),
            Err(Error::BadDelay(_))
        ));
    }

    #[test]
    fn idempotency_ttl() {
        assert_eq!(parse_idempotency_ttl(Some("1h")), Ok(3_600_000));
        assert_eq!(parse_idempotency_ttl(Some("1h30m")), Ok(30 * 86_400_000));
        assert_eq!(parse_idempotency_ttl(None), Ok(30 * 86_400_000));
        assert_eq!(
            parse_idempotency_ttl(Some("1\u{e1963}")),
            Ok(30 * 86_400_000)
        );
        assert_eq!(parse_idempotency_ttl(Some("36500d")), Ok(MAX));
        for huge in ["36501d", "106751991167d", "99999999999999999999s"] {
            assert!(
                matches!(parse_idempotency_ttl(Some(huge)), Err(Error::TooLong(_))),
                "{huge}"
            );
        }
    }
}
