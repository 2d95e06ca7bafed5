//! `trigr_engine::schedules::cron`: five-field patterns (huge numbers, reversed ranges, steps
//! of 0, names, `L`, `W`, `#`, nicknames) in IANA time zones (exact, mangled, made up). An
//! accepted pattern must tick, in order, after the time asked, and fast.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use trigr_engine::schedules::cron::{self, UPCOMING};
use trigr_types::Millis;

use crate::gen::{mutated, number_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};

/// Field forms that are valid somewhere, near misses, and numbers past every range.
const FIELD_FORMS: &[&str] = &[
    "*",
    "?",
    "L",
    "LW",
    "5L",
    "L-3",
    "1#3",
    "6#5",
    "7#1",
    "0#1",
    "15W",
    "W",
    "*/0",
    "*/1",
    "*/61",
    "0/0",
    "-1",
    "5-1",
    "1-5/2",
    "0-59",
    "0-60",
    "24",
    "31",
    "32",
    "13",
    "7",
    "8",
    "0",
    "1,2,3",
    "1,,2",
    ",",
    "1-",
    "-",
    "/",
    "*/",
    "MON",
    "tue",
    "SUN-SAT",
    "sat",
    "JAN",
    "dec",
    "Feb-Jan",
    "FOO",
    "MON#2",
    "JAN/2",
    "4294967296",
    "18446744073709551616",
];
const NICKNAMES: &[&str] = &[
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@midnight",
    "@reboot",
    "@every 5m",
    "@EVERY 1h",
    "@ daily",
    "@daily extra",
    "@",
    "@@daily",
];
const FIELD_SEPARATORS: &[&str] = &[" ", " ", " ", "  ", "\t", "\n", "\u{a0}"];

/// One field: mostly forms that could be valid, sometimes anything.
fn field() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just("*".to_string()),
        3 => (0u32..32).prop_map(|n| n.to_string()),
        2 => (0u32..32, 0u32..32).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => (0u32..70).prop_map(|s| format!("*/{s}")),
        1 => (0u32..70, 0u32..70, 0u32..70).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
        1 => vec(0u32..70, 1..6).prop_map(|l| {
            l.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        }),
        3 => select(FIELD_FORMS).prop_map(String::from),
        1 => number_text(),
    ]
    .boxed()
}

/// A cron pattern: five fields, or three to eight, a nickname, edits, anything.
pub fn pattern() -> BoxedStrategy<String> {
    let five = vec(field(), 5..=5).prop_map(|f| f.join(" "));
    let any_count = (vec(field(), 3..9), select(FIELD_SEPARATORS)).prop_map(|(f, sep)| f.join(sep));
    prop_oneof![
        8 => five.clone(),
        2 => any_count,
        1 => select(NICKNAMES).prop_map(String::from),
        2 => mutated(five),
        1 => text(40),
        1 => (250usize..300).prop_map(|n| format!("0 0 * * {}", "1,".repeat(n / 2))),
    ]
    .boxed()
}

/// Zone names that are not quite IANA names, or are odd ones.
const ODD_ZONES: &[&str] = &[
    "utc",
    "UTC ",
    " UTC",
    "Etc/GMT+14",
    "Etc/GMT-14",
    "Etc/GMT+15",
    "EST5EDT",
    "Factory",
    "US/Pacific-New",
    "../../etc/localtime",
    "/etc/localtime",
    "Europe/Paris\0",
    "Europe//Paris",
    "Europe/Paris/",
    "+01:00",
    "GMT+1",
    "Z",
    "",
    "Antarctica/Troll",
    "Pacific/Kiritimati",
    "Australia/Lord_Howe",
    "America/Argentina/ComodRivadavia",
];

fn known_zone() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    select(names).prop_map(String::from)
}

/// A time zone: absent, any IANA name, one with its letters' case flipped, odd or made up.
pub fn timezone() -> BoxedStrategy<Option<String>> {
    let flipped = (known_zone(), any::<u64>()).prop_map(|(name, bits)| {
        name.chars()
            .enumerate()
            .map(|(i, c)| match bits >> (i % 64) & 1 {
                1 if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
                1 => c.to_ascii_lowercase(),
                _ => c,
            })
            .collect::<String>()
    });
    prop_oneof![
        2 => Just(None),
        6 => known_zone().prop_map(Some),
        1 => flipped.prop_map(Some),
        1 => select(ODD_ZONES).prop_map(|z| Some(z.to_string())),
        1 => mutated(known_zone()).prop_map(Some),
        1 => text(30).prop_map(Some),
    ]
    .boxed()
}

/// A server time between 2000 and 2100.
pub fn server_now() -> impl Strategy<Value = Millis> {
    946_684_800_000i64..4_102_444_800_000
}

/// `cron::parse` and the ticks of what it accepts: a pattern that parses ticks after any time
/// of this century, strictly after it, in increasing order.
pub fn parse(name: &'static str, settings: &Settings) -> Report {
    let input = (pattern(), timezone(), server_now());
    fuzz(name, settings, input, |(pattern, zone, now)| {
        let Ok(spec) = cron::parse(pattern, zone.as_deref()) else {
            return Ok(());
        };
        let _ = spec.describe();
        let next = spec.next_after(*now);
        ensure(next.is_some(), "never fires", || {
            format!("{pattern:?} in {zone:?} parsed, but has no tick after {now}")
        })?;
        ticks_in_order(&spec.upcoming(*now, UPCOMING), *now, pattern)?;
        let last = spec.last_at_or_before(*now);
        ensure(
            last.is_none_or(|t| t <= *now),
            "last tick after now",
            || format!("{pattern:?} in {zone:?}: last tick at or before {now} is {last:?}"),
        )
    })
}

fn ticks_in_order(ticks: &[Millis], now: Millis, pattern: &str) -> Verdict {
    let mut previous = now;
    for &t in ticks {
        ensure(t > previous, "ticks out of order", || {
            format!("{pattern:?} after {now}: {ticks:?}")
        })?;
        previous = t;
    }
    Ok(())
}
