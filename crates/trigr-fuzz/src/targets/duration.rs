//! `trigr_types::duration`: the `1h30m` grammar, delays (a duration or a date), dates, and
//! `idempotencyKeyTTL`. Accepted durations must equal the exact value of their text (so they
//! never wrap) and stay within the 100-year cap; valid ones must be accepted.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use trigr_types::duration::{self, Error, MAX};
use trigr_types::{format_time, Millis};

use crate::gen::{mutated, number_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict, Violation};

/// Units of the grammar and near misses.
const UNITS: &[&str] = &[
    "w", "d", "hr", "h", "m", "s", "", "ms", "H", "y", "hrs", "min", "µs", "S",
];
const PADS: &[&str] = &["", "", "", " ", "\t", "\n", "\u{a0}"];

/// Milliseconds per unit of the documented grammar.
fn unit_ms(unit: &str) -> Option<i128> {
    Some(match unit {
        "w" => 7 * 86_400_000,
        "d" => 86_400_000,
        "hr" | "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return None,
    })
}

/// `1h30m`-like text: groups of a number and a unit, with odd padding between and around.
pub fn duration_text() -> BoxedStrategy<String> {
    let group = (number_text(), select(UNITS)).prop_map(|(n, u)| format!("{n}{u}"));
    let grammar = (select(PADS), vec(group, 1..6), select(PADS), select(PADS))
        .prop_map(|(lead, groups, sep, trail)| format!("{lead}{}{trail}", groups.join(sep)));
    prop_oneof![
        6 => grammar.clone(),
        2 => mutated(grammar),
        1 => text(32),
    ]
    .boxed()
}

/// The exact value of `input` under the documented grammar, without overflow (`None`: not a
/// duration).
fn exact_ms(input: &str) -> Option<i128> {
    let mut rest = input.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = &rest[digits..];
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        if digits == 0 {
            return None;
        }
        let unit = unit_ms(&after[..letters])?;
        let n: i128 = rest[..digits].parse().unwrap_or(i128::MAX);
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &after[letters..];
    }
    Some(total)
}

/// `duration::parse`: an accepted value is the exact one and at most [`MAX`]; a valid one is
/// accepted, and one over the cap is refused as too long.
pub fn parse(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, duration_text(), |input| {
        let got = duration::parse(input);
        match (got, exact_ms(input)) {
            (Ok(ms), Some(exact)) => {
                ensure(ms as i128 == exact, "wrapped", || {
                    format!("parse({input:?}) = {ms}, but the text says {exact} ms")
                })?;
                ensure((0..=MAX).contains(&ms), "over the 100-year cap", || {
                    format!("parse({input:?}) = {ms}")
                })
            }
            (Ok(ms), None) => Err(Violation {
                kind: "accepts a non-duration".into(),
                detail: format!("parse({input:?}) = {ms}"),
            }),
            (Err(e), Some(exact)) if exact <= MAX as i128 => Err(Violation {
                kind: "refuses a valid duration".into(),
                detail: format!("parse({input:?}) = {e}, the text says {exact} ms"),
            }),
            (Err(e), Some(_)) => ensure(matches!(e, Error::TooLong(_)), "wrong error", || {
                format!("parse({input:?}) over the cap answers {e:?}, not TooLong")
            }),
            (Err(_), None) => Ok(()),
        }
    })
}

/// A time around now, or any `i64`.
fn now() -> BoxedStrategy<Millis> {
    prop_oneof![
        3 => 946_684_800_000i64..4_102_444_800_000,
        1 => any::<i64>(),
        1 => select(&[0, i64::MAX, i64::MAX - MAX, i64::MIN][..]),
    ]
    .boxed()
}

const DATE_SEPARATORS: &[&str] = &["T", "t", " ", "_", ""];
const ZONES: &[&str] = &[
    "Z", "z", "", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "+99:99", "+0530", " UTC",
    "+1:00",
];

/// RFC 3339-like dates with every field pushed to and past its range.
pub fn date_text() -> BoxedStrategy<String> {
    let field = |max: u32| prop_oneof![4 => 0..max, 1 => any::<u32>()];
    let year = prop_oneof![
        4 => (0i64..10_000).prop_map(|y| format!("{y:04}")),
        1 => any::<i64>().prop_map(|y| y.to_string()),
        1 => (-300_000i64..300_000).prop_map(|y| format!("{y:+}")),
    ];
    let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{1,30}"];
    (
        year,
        field(14),
        field(33),
        select(DATE_SEPARATORS),
        field(26),
        field(62),
        field(62),
        fraction,
        select(ZONES),
    )
        .prop_map(|(y, mo, d, sep, h, mi, s, frac, zone)| {
            format!("{y}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
        .boxed()
}

/// `duration::parse_delay`: an accepted delay is never before now, and a duration delay is
/// exactly now plus the duration.
pub fn parse_delay(name: &'static str, settings: &Settings) -> Report {
    let input = prop_oneof![duration_text(), date_text(), mutated(date_text())];
    fuzz(name, settings, (input, now()), |(input, now)| {
        let Ok(at) = duration::parse_delay(input, *now) else {
            return Ok(());
        };
        ensure(at >= *now, "before now", || {
            format!("parse_delay({input:?}, {now}) = {at}")
        })?;
        match duration::parse(input) {
            Ok(ms) => ensure(at == now.saturating_add(ms), "not now + duration", || {
                format!("parse_delay({input:?}, {now}) = {at}, the duration is {ms} ms")
            }),
            Err(_) => Ok(()),
        }
    })
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the dates RFC 3339 can write.
const FIRST_DATE: Millis = -62_167_219_200_000;
const LAST_DATE: Millis = 253_402_300_799_999;

/// What `parse_date` is given: text, or a time to format and parse back.
#[derive(Clone, Debug)]
pub enum DateCase {
    Text(String),
    RoundTrip(Millis),
}

/// `duration::parse_date`: a formatted time parses back to itself; any accepted text gives a
/// time that round-trips too.
pub fn parse_date(name: &'static str, settings: &Settings) -> Report {
    let case = prop_oneof![
        2 => date_text().prop_map(DateCase::Text),
        1 => mutated(date_text()).prop_map(DateCase::Text),
        1 => text(40).prop_map(DateCase::Text),
        2 => (FIRST_DATE..=LAST_DATE).prop_map(DateCase::RoundTrip),
    ];
    fuzz(name, settings, case, |case| match case {
        DateCase::RoundTrip(ms) => round_trips(*ms),
        DateCase::Text(text) => match duration::parse_date(text) {
            Some(ms) if (FIRST_DATE..=LAST_DATE).contains(&ms) => round_trips(ms),
            _ => Ok(()),
        },
    })
}

fn round_trips(ms: Millis) -> Verdict {
    let text = format_time(ms);
    let back = duration::parse_date(&text);
    ensure(back == Some(ms), "date does not round-trip", || {
        format!("format_time({ms}) = {text:?}, parsed back as {back:?}")
    })
}

const TTL_UNITS: &[&str] = &["s", "m", "h", "d", "w", "", "S", "ms", "é", "日"];

/// `idempotencyKeyTTL` values: `<n><unit>` with odd numbers and units, edits, anything.
fn ttl_text() -> BoxedStrategy<Option<String>> {
    let grammar = (select(PADS), number_text(), select(TTL_UNITS), select(PADS))
        .prop_map(|(lead, n, unit, trail)| format!("{lead}{n}{unit}{trail}"));
    prop_oneof![
        1 => Just(None),
        6 => grammar.clone().prop_map(Some),
        2 => mutated(grammar).prop_map(Some),
        1 => duration_text().prop_map(Some),
        1 => text(16).prop_map(Some),
    ]
    .boxed()
}

/// The exact TTL `<digits>(s|m|h|d)` says (`None`: not of that form, so the default).
fn exact_ttl(input: &str) -> Option<i128> {
    let s = input.trim();
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mult = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    Some(
        digits
            .parse::<i128>()
            .unwrap_or(i128::MAX)
            .saturating_mul(mult),
    )
}

/// The TTL of a key without one, or with one not of the form `<n>(s|m|h|d)`: 30 days.
const DEFAULT_TTL: Millis = 30 * 86_400_000;

/// `duration::parse_idempotency_ttl`: an accepted TTL is the exact one (or the default for
/// other text), never over the 100-year cap, so `now + ttl` cannot overflow.
pub fn idempotency_ttl(name: &'static str, settings: &Settings) -> Report {
    fuzz(name, settings, ttl_text(), |input| {
        let exact = input.as_deref().and_then(exact_ttl);
        match duration::parse_idempotency_ttl(input.as_deref()) {
            Ok(ttl) => {
                ensure((0..=MAX).contains(&ttl), "over the 100-year cap", || {
                    format!("parse_idempotency_ttl({input:?}) = {ttl}")
                })?;
                let want = exact.unwrap_or(DEFAULT_TTL as i128);
                ensure(ttl as i128 == want, "wrapped", || {
                    format!("parse_idempotency_ttl({input:?}) = {ttl}, the text says {want}")
                })
            }
            Err(e) => ensure(
                exact.is_some_and(|x| x > MAX as i128),
                "refuses a valid TTL",
                || format!("parse_idempotency_ttl({input:?}) = {e}"),
            ),
        }
    })
}
