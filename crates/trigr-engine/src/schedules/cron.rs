//! Cron patterns and time zones: when a schedule ticks.
//!
//! Patterns are parsed by [`croner`] and zones come from [`chrono_tz`] (the IANA database
//! compiled in). `croner` was chosen because it reads the classic five-field syntax with
//! ranges, steps, lists, month and weekday names, `L` (last day / last weekday of the month),
//! `#` (nth weekday) and `W` (nearest weekday), searches in any `chrono` time zone, and defines
//! what happens at daylight saving changes (the Open Cron Pattern Specification, like
//! Vixie cron):
//!
//! * a wall-clock time that does not exist (spring forward) fires once, at the first minute
//!   after the gap the same day, for a pattern with a fixed minute and hour (`30 2 * * *` in
//!   `Europe/Berlin` on the last Sunday of March fires at 03:00 CEST, 01:00 UTC); a pattern
//!   with a wildcard or step in its minute or hour simply has no ticks in the gap;
//! * a wall-clock time that happens twice (fall back) fires once, at its first occurrence,
//!   for a fixed-time pattern; wildcard or step patterns fire in both passes.
//!
//! Seconds and years are not accepted (exactly five fields), nor the `@every` forms;
//! `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` are.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use trigr_types::Millis;

/// How many upcoming ticks a payload lists.
pub const UPCOMING: usize = 5;

/// A parsed pattern in its time zone.
#[derive(Clone, Debug)]
pub struct CronSpec {
    cron: Cron,
    tz: Tz,
}

/// Parses `pattern` (five fields) read in `timezone` (IANA, `UTC` when absent). The error is
/// a sentence naming the problem.
pub fn parse(pattern: &str, timezone: Option<&str>) -> Result<CronSpec, String> {
    let tz = parse_timezone(timezone.unwrap_or("UTC"))?;
    let trimmed = pattern.trim();
    if trimmed.is_empty() {
        return Err("the cron pattern is empty".into());
    }
    if trimmed.len() > 256 {
        return Err("the cron pattern is longer than 256 characters".into());
    }
    if trimmed.to_ascii_lowercase().starts_with("@every") {
        return Err(format!(
            "invalid cron pattern '{trimmed}': @every is not supported, use five fields"
        ));
    }
    // An empty item in a list (`1,,2`, `,`) matches nothing; refused here, it never costs a
    // search for a tick that does not exist.
    if let Some(field) = trimmed
        .split_whitespace()
        .find(|f| f.split(',').any(str::is_empty))
    {
        return Err(format!(
            "invalid cron pattern '{trimmed}': the field '{field}' has an empty item in its list"
        ));
    }
    check_ranges(trimmed)?;
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(trimmed)
        .map_err(|e| {
            format!(
                "invalid cron pattern '{trimmed}': {e} (five fields: minute hour day-of-month month day-of-week)"
            )
        })?;
    let spec = CronSpec { cron, tz };
    // Calendars repeat (every 400 years at the latest), so a pattern with no tick after one
    // fixed date has none at all.
    if spec.next_after(REFERENCE).is_none() {
        return Err(format!(
            "the cron pattern '{trimmed}' never fires: no date matches it"
        ));
    }
    Ok(spec)
}

/// The five fields: name and range of their numbers.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// Names the first number out of its field's range (`minute 61: must be 0–59`), or a step
/// of 0, in a pattern of five fields. Names (`MON`, `JAN`), `L`, `W` and `#` are left to the
/// parser, as is a pattern of another number of fields.
fn check_ranges(pattern: &str) -> Result<(), String> {
    let fields: Vec<&str> = pattern.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Ok(());
    }
    for (field, &(name, min, max)) in fields.iter().zip(FIELDS.iter()) {
        for item in field.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            if let Some(step) = step.and_then(|s| s.parse::<u64>().ok()) {
                if step == 0 {
                    return Err(format!(
                        "invalid cron pattern '{pattern}': {name} step 0: must be at least 1"
                    ));
                }
            }
            for bound in range.split('-') {
                // `5L`, `15W`, `1#2`: the number before the suffix.
                let digits: String = bound.chars().take_while(char::is_ascii_digit).collect();
                let Ok(n) = digits.parse::<u64>() else {
                    continue;
                };
                if n < u64::from(min) || n > u64::from(max) {
                    return Err(format!(
                        "invalid cron pattern '{pattern}': {name} {digits}: must be {min}–{max}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// 2000-01-01T00:00:00Z, where the check that a pattern ever fires starts.
const REFERENCE: Millis = 946_684_800_000;

/// An IANA time zone by its exact name.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name).map_err(|_| {
        format!("unknown time zone '{name}': use an IANA name such as Europe/Paris or UTC")
    })
}

/// Every IANA zone name the server knows, sorted.
pub fn timezones() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect();
    names.sort_unstable();
    names
}

impl CronSpec {
    /// A human description of the pattern ("At 09:00, on Monday …").
    pub fn describe(&self) -> String {
        self.cron.describe()
    }

    fn at(&self, t: Millis) -> DateTime<Tz> {
        self.tz.from_utc_datetime(
            &DateTime::<Utc>::from_timestamp_millis(t)
                .unwrap_or_default()
                .naive_utc(),
        )
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        self.cron
            .find_next_occurrence(&self.at(t), false)
            .ok()
            .map(|d| d.timestamp_millis())
    }

    /// The last tick at or before `t`.
    pub fn last_at_or_before(&self, t: Millis) -> Option<Millis> {
        self.cron
            .find_previous_occurrence(&self.at(t), true)
            .ok()
            .map(|d| d.timestamp_millis())
    }

    /// The next `n` ticks strictly after `t`.
    pub fn upcoming(&self, t: Millis, n: usize) -> Vec<Millis> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(iso: &str) -> Millis {
        DateTime::parse_from_rfc3339(iso)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn berlin_spring_forward_fires_after_the_gap() {
        let spec = parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let ticks = spec.upcoming(ms("2026-03-28T00:00:00Z"), 3);
        assert_eq!(
            ticks,
            vec![
                ms("2026-03-28T01:30:00Z"),
                ms("2026-03-29T01:00:00Z"),
                ms("2026-03-30T00:30:00Z")
            ]
        );
    }

    #[test]
    fn berlin_fall_back_fires_once() {
        let spec = parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let ticks = spec.upcoming(ms("2026-10-24T12:00:00Z"), 2);
        assert_eq!(
            ticks,
            vec![ms("2026-10-25T00:30:00Z"), ms("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_named() {
        assert!(parse("* * * *", None).unwrap_err().contains("five fields"));
        for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *"] {
            let err = parse(never, Some("Europe/Paris")).unwrap_err();
            assert!(err.contains("never fires"), "{never}: {err}");
        }
        assert!(parse("0 0 29 2 *", None).is_ok(), "leap days fire");
        for empty in [", * * * *", "0 0 , * *", "1,,2 * * * *", "* * * * 1,"] {
            let err = parse(empty, None).unwrap_err();
            assert!(err.contains("empty item"), "{empty}: {err}");
        }
        assert!(parse("0 0 0 * * *", None).is_err());
        assert!(parse("61 * * * *", None)
            .unwrap_err()
            .contains("61 * * * *"));
        for (pattern, said) in [
            ("61 * * * *", "minute 61: must be 0–59"),
            ("0 24 * * *", "hour 24: must be 0–23"),
            ("0 0 0 * *", "day-of-month 0: must be 1–31"),
            ("0 0 32W * *", "day-of-month 32: must be 1–31"),
            ("0 0 1 13 *", "month 13: must be 1–12"),
            ("0 0 * 1-13 *", "month 13: must be 1–12"),
            ("0 0 * * 8", "day-of-week 8: must be 0–7"),
            ("0 0 * * 9#2", "day-of-week 9: must be 0–7"),
            ("5,70 * * * *", "minute 70: must be 0–59"),
            ("*/0 * * * *", "minute step 0: must be at least 1"),
        ] {
            let err = parse(pattern, None).unwrap_err();
            assert!(err.contains(said), "{pattern}: {err}");
        }
        for fine in [
            "0 0 * * 7",
            "0 0 L * *",
            "0 0 * * 5L",
            "0 0 * * MON-FRI",
            "*/15 9-17 * JAN *",
        ] {
            assert!(parse(fine, None).is_ok(), "{fine}");
        }
        assert!(parse("* * * * *", Some("Mars/Base"))
            .unwrap_err()
            .contains("Mars/Base"));
        assert!(parse("0 9 * * MON-FRI", Some("America/New_York")).is_ok());
        assert!(parse("0 0 L * *", None).is_ok());
    }

    #[test]
    fn last_tick_at_or_before_includes_the_instant() {
        let spec = parse("0 * * * *", None).unwrap();
        let t = ms("2026-01-01T05:00:00Z");
        assert_eq!(spec.last_at_or_before(t), Some(t));
        assert_eq!(spec.last_at_or_before(t + 1), Some(t));
        assert_eq!(spec.next_after(t), Some(t + 3_600_000));
    }
}
