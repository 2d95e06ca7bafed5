//! Jitter windows: a schedule with a window fires each tick at `nominal + offset` instead of
//! at its nominal cron time, which spreads many schedules on one pattern (`0 * * * *`) over
//! the window instead of firing them all at the same instant.
//!
//! * A window is `<n>m` or `<n>h` (1 minute to 24 hours), or `<n>%` (1 to 100) of the
//!   interval from the tick to the next one.
//! * The window never reaches the next tick: its length is capped at the interval from the
//!   tick to the next nominal tick (a `%` window is a share of that interval). So each tick
//!   fires before the next tick's nominal time, ticks keep their order, and none is skipped or
//!   fired twice because of a window.
//! * The offset is deterministic: a hash of the schedule id and the nominal tick time, modulo
//!   the window's length in milliseconds. Every server computes the same effective time, and
//!   the nominal tick can be found again from it ([`nominal_of`]).
//!
//! The hash (64-bit FNV-1a, then the SplitMix64 finalizer) must stay as it is: a schedule's
//! stored next run is an effective time, read back with it.

use trigr_types::Millis;

use super::cron::CronSpec;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 60 * MINUTE_MS;
/// Longest window in time: 24 hours.
pub const MAX_WINDOW_MS: Millis = 24 * HOUR_MS;

/// A parsed window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// A length in milliseconds (from `<n>m` or `<n>h`).
    Fixed {
        ms: Millis,
        text_n: u32,
        hours: bool,
    },
    /// A share (1-100 %) of the interval from the tick to the next one.
    Percent(u32),
}

const FORMS: &str = "use \"<n>m\" or \"<n>h\" (1 minute to 24 hours) or \"<n>%\" (1 to 100), such as \"30m\", \"2h\" or \"30%\"";

/// Parses a window (`30m`, `2h`, `30%`). The error is a sentence naming the value and the
/// problem.
pub fn parse(text: &str) -> Result<Window, String> {
    if text.chars().count() > 64 {
        return Err(format!(
            "invalid window: it is longer than 64 characters; {FORMS}"
        ));
    }
    let bad = |why: &str| format!("invalid window '{text}': {why}; {FORMS}");
    let Some(unit) = text.chars().last() else {
        return Err(bad("it is empty"));
    };
    let digits = &text[..text.len() - unit.len_utf8()];
    if !matches!(unit, 'm' | 'h' | '%') {
        return Err(bad("it must end with m, h or %"));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the amount must be a whole number"));
    }
    let n: u64 = digits.parse().map_err(|_| bad("the amount is too large"))?;
    if n == 0 {
        return Err(bad("it must be at least 1m, 1h or 1%"));
    }
    match unit {
        '%' => {
            if n > 100 {
                return Err(bad("a share is at most 100%"));
            }
            Ok(Window::Percent(n as u32))
        }
        _ => {
            let hours = unit == 'h';
            let unit_ms = if hours { HOUR_MS } else { MINUTE_MS };
            let too_long = || bad("a window is at most 24 hours");
            let ms = Millis::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(unit_ms))
                .filter(|ms| *ms <= MAX_WINDOW_MS)
                .ok_or_else(too_long)?;
            Ok(Window::Fixed {
                ms,
                text_n: u32::try_from(n).map_err(|_| too_long())?,
                hours,
            })
        }
    }
}

impl Window {
    /// The canonical text (`30m`, `2h`, `30%`; leading zeros dropped).
    pub fn text(&self) -> String {
        match self {
            Window::Fixed {
                text_n,
                hours: true,
                ..
            } => format!("{text_n}h"),
            Window::Fixed { text_n, .. } => format!("{text_n}m"),
            Window::Percent(p) => format!("{p}%"),
        }
    }

    /// The window's length in milliseconds for a tick followed by the next one after
    /// `interval` milliseconds (`None`: no next tick). Never more than the interval.
    pub fn length(&self, interval: Option<Millis>) -> Millis {
        match (self, interval) {
            (Window::Fixed { ms, .. }, Some(i)) => (*ms).min(i.max(0)),
            (Window::Fixed { ms, .. }, None) => *ms,
            (Window::Percent(p), Some(i)) => {
                i.max(0) / 100 * (*p as Millis) + i.max(0) % 100 * (*p as Millis) / 100
            }
            (Window::Percent(_), None) => 0,
        }
    }
}

/// A deterministic offset in `[0, length)` for the tick at `nominal` of schedule `id`.
pub fn offset(id: &str, nominal: Millis, length: Millis) -> Millis {
    if length <= 1 {
        return 0;
    }
    (hash(id, nominal) % length as u64) as Millis
}

/// When the tick at `nominal` fires: `nominal` plus its offset in the window (`nominal`
/// itself without a window).
pub fn effective(spec: &CronSpec, window: Option<&Window>, id: &str, nominal: Millis) -> Millis {
    let Some(w) = window else {
        return nominal;
    };
    let interval = spec.next_after(nominal).map(|next| next - nominal);
    nominal + offset(id, nominal, w.length(interval))
}

/// The nominal tick whose effective time is `effective` (the inverse of [`effective`]).
/// Since a window never reaches the next tick, it is the last tick at or before `effective`;
/// that is checked, and when it does not hold (a pattern's odd corner) the ticks before it
/// are searched. Falls back to `effective` itself.
pub fn nominal_of(
    spec: &CronSpec,
    window: Option<&Window>,
    id: &str,
    effective_at: Millis,
) -> Millis {
    if window.is_none() {
        return effective_at;
    }
    let matches = |t: Millis| t <= effective_at && effective(spec, window, id, t) == effective_at;
    let candidate = spec.last_at_or_before(effective_at);
    if let Some(t) = candidate.filter(|t| matches(*t)) {
        return t;
    }
    // From the tick before the candidate, or a day back, whichever is earlier.
    let before = candidate.and_then(|c| spec.last_at_or_before(c - 1));
    let mut at = (effective_at - MAX_WINDOW_MS).min(before.unwrap_or(Millis::MAX)) - 1;
    for _ in 0..2_000 {
        match spec.next_after(at) {
            Some(t) if t <= effective_at => {
                if matches(t) {
                    return t;
                }
                at = t;
            }
            _ => break,
        }
    }
    effective_at
}

/// 64-bit FNV-1a over the id, a separator and the tick's big-endian bytes, then the
/// SplitMix64 finalizer to spread the bits.
fn hash(id: &str, nominal: Millis) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in id
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(nominal.to_be_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::cron;
    use super::*;

    #[test]
    fn good_windows_parse_to_their_canonical_text() {
        for (text, canonical) in [
            ("1m", "1m"),
            ("30m", "30m"),
            ("1440m", "1440m"),
            ("2h", "2h"),
            ("24h", "24h"),
            ("030m", "30m"),
            ("1%", "1%"),
            ("30%", "30%"),
            ("100%", "100%"),
        ] {
            let w = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(w.text(), canonical);
        }
        assert_eq!(
            parse("90m").unwrap(),
            Window::Fixed {
                ms: 90 * MINUTE_MS,
                text_n: 90,
                hours: false
            }
        );
        assert_eq!(parse("50%").unwrap(), Window::Percent(50));
    }

    #[test]
    fn bad_windows_are_named() {
        for (text, why) in [
            ("", "empty"),
            ("0m", "at least"),
            ("0h", "at least"),
            ("0%", "at least"),
            ("25h", "24 hours"),
            ("1441m", "24 hours"),
            ("101%", "100%"),
            ("abc", "end with"),
            ("m", "whole number"),
            ("-5m", "whole number"),
            ("1.5h", "whole number"),
            ("30s", "end with"),
            ("30", "end with"),
            (" 30m", "whole number"),
            ("30 m", "whole number"),
            ("99999999999999999999999m", "too large"),
            ("2d", "end with"),
            ("30é", "end with"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(&format!("'{text}'")), "{text}: {err}");
            assert!(err.contains(why), "{text}: {err} should say {why}");
        }
    }

    #[test]
    fn a_long_window_is_not_echoed() {
        let err = parse(&"9".repeat(500)).unwrap_err();
        assert!(err.contains("longer than 64"), "{err}");
        for huge in [
            "18446744073709551615m",
            "9223372036854775808h",
            "4294967296m",
        ] {
            let err = parse(huge).unwrap_err();
            assert!(err.contains("at most 24 hours"), "{huge}: {err}");
        }
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn lengths_are_capped_at_the_interval() {
        let hour = Some(HOUR_MS);
        assert_eq!(parse("30m").unwrap().length(hour), 30 * MINUTE_MS);
        assert_eq!(parse("2h").unwrap().length(hour), HOUR_MS);
        assert_eq!(parse("2h").unwrap().length(None), 2 * HOUR_MS);
        assert_eq!(parse("50%").unwrap().length(hour), 30 * MINUTE_MS);
        assert_eq!(parse("100%").unwrap().length(hour), HOUR_MS);
        assert_eq!(parse("1%").unwrap().length(Some(150)), 1);
        assert_eq!(parse("50%").unwrap().length(None), 0);
    }

    #[test]
    fn offsets_are_deterministic_and_within_the_window() {
        let len = 30 * MINUTE_MS;
        let a = offset("sched_a", 1_700_000_000_000, len);
        assert_eq!(a, offset("sched_a", 1_700_000_000_000, len), "same inputs");
        // Pinned (checked with an independent implementation): every server and every
        // version must compute this same value.
        assert_eq!(hash("sched_a", 1_700_000_000_000), 0x0ec0_36fa_50b7_be82);
        let mut distinct = std::collections::HashSet::new();
        for i in 0..200 {
            let o = offset(&format!("sched_{i}"), 1_700_000_000_000, len);
            assert!((0..len).contains(&o));
            distinct.insert(o);
            let o = offset("sched_a", 1_700_000_000_000 + i * HOUR_MS, len);
            assert!((0..len).contains(&o));
        }
        assert!(distinct.len() > 150, "offsets spread: {}", distinct.len());
        assert_eq!(offset("x", 5, 0), 0);
        assert_eq!(offset("x", 5, 1), 0);
    }

    #[test]
    fn effective_times_stay_before_the_next_tick_and_map_back() {
        let spec = cron::parse("*/5 * * * *", Some("Europe/Berlin")).unwrap();
        for text in ["1m", "4m", "5m", "24h", "100%", "50%", "1%"] {
            let w = parse(text).unwrap();
            let mut t = spec.next_after(1_774_000_000_000).unwrap();
            for _ in 0..300 {
                let next = spec.next_after(t).unwrap();
                let eff = effective(&spec, Some(&w), "sched_x", t);
                assert!(eff >= t && eff < next, "{text}: {t} -> {eff} (next {next})");
                assert_eq!(nominal_of(&spec, Some(&w), "sched_x", eff), t, "{text}");
                t = next;
            }
        }
        // No window: the nominal time itself.
        assert_eq!(effective(&spec, None, "sched_x", 42), 42);
        assert_eq!(nominal_of(&spec, None, "sched_x", 42), 42);
    }

    #[test]
    fn daylight_saving_days_map_back() {
        // Berlin's spring-forward (2026-03-29) and fall-back (2026-10-25) days: a daily
        // pattern with a 24h window, and a half-hourly one (both passes of the repeated hour)
        // with a 100% window.
        for (pattern, text, steps) in [("30 2 * * *", "24h", 5), ("*/30 * * * *", "100%", 120)] {
            let spec = cron::parse(pattern, Some("Europe/Berlin")).unwrap();
            let w = parse(text).unwrap();
            for from in [1_774_700_000_000i64, 1_792_300_000_000, 1_792_800_000_000] {
                let mut t = spec.next_after(from).unwrap();
                for _ in 0..steps {
                    let next = spec.next_after(t).unwrap();
                    let eff = effective(&spec, Some(&w), "sched_dst", t);
                    assert!(eff >= t && eff < next, "{pattern}: {t} -> {eff}");
                    assert_eq!(
                        nominal_of(&spec, Some(&w), "sched_dst", eff),
                        t,
                        "{pattern}"
                    );
                    t = next;
                }
            }
        }
    }
}
