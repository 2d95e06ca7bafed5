//! `trigr_engine::schedules::window`: jitter windows (`30m`, `2h`, `30%`) with numbers past
//! every integer type. An accepted window is 1 minute to 24 hours or 1 to 100 %, prints back
//! to itself, and places each tick inside it, where its nominal time can be found again.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::select;
use trigr_engine::schedules::cron::{self, CronSpec};
use trigr_engine::schedules::window::{self, Window, MAX_WINDOW_MS};
use trigr_types::Millis;

use crate::gen::{mutated, number_text, text};
use crate::report::Report;
use crate::runner::{ensure, fuzz, Settings, Verdict};
use crate::targets::cron::server_now;

const UNITS: &[&str] = &["m", "h", "%", "s", "d", "", "M", "H", "é", "%%", " m"];
const PADS: &[&str] = &["", "", "", " ", "\t", "+", "-"];

fn window_text() -> BoxedStrategy<String> {
    let grammar = (select(PADS), number_text(), select(UNITS))
        .prop_map(|(pad, n, unit)| format!("{pad}{n}{unit}"));
    prop_oneof![
        6 => grammar.clone(),
        2 => mutated(grammar),
        1 => text(20),
        1 => (1usize..100).prop_map(|n| format!("{}m", "9".repeat(n))),
    ]
    .boxed()
}

/// Patterns ticking every minute, every 5 minutes (in a zone with daylight saving), hourly,
/// daily at 02:30 (through the gap and the repeated hour) and monthly.
fn specs() -> &'static [CronSpec] {
    static SPECS: OnceLock<Vec<CronSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        [
            ("* * * * *", "UTC"),
            ("*/5 * * * *", "Europe/Berlin"),
            ("0 * * * *", "America/New_York"),
            ("30 2 * * *", "Europe/Berlin"),
            ("0 0 1 * *", "Australia/Lord_Howe"),
        ]
        .iter()
        .filter_map(|(p, z)| cron::parse(p, Some(z)).ok())
        .collect()
    })
}

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 60 * MINUTE_MS;

/// `window::parse` and the times a parsed window gives.
pub fn parse(name: &'static str, settings: &Settings) -> Report {
    let input = (
        window_text(),
        "sched_[a-z0-9]{0,12}",
        0usize..5,
        server_now(),
        0i64..=2 * 86_400_000,
    );
    fuzz(name, settings, input, |(text, id, k, now, interval)| {
        let Ok(w) = window::parse(text) else {
            return Ok(());
        };
        in_range(text, &w)?;
        let back = window::parse(&w.text());
        ensure(back == Ok(w), "does not round-trip", || {
            format!(
                "{text:?} parsed as {w:?}, printed as {:?}, read back as {back:?}",
                w.text()
            )
        })?;
        let len = w.length(Some(*interval));
        ensure(
            (0..=*interval).contains(&len),
            "longer than the interval",
            || format!("{w:?}.length({interval}) = {len}"),
        )?;
        let spec = &specs()[*k % specs().len()];
        ticks_stay_inside(spec, &w, id, *now)
    })
}

/// The window's bounds and its length as its text says.
fn in_range(text: &str, w: &Window) -> Verdict {
    match *w {
        Window::Fixed { ms, text_n, hours } => {
            let unit = if hours { HOUR_MS } else { MINUTE_MS };
            ensure(
                (MINUTE_MS..=MAX_WINDOW_MS).contains(&ms) && ms == text_n as Millis * unit,
                "window out of range",
                || format!("{text:?} parsed as {w:?}"),
            )
        }
        Window::Percent(p) => ensure((1..=100).contains(&p), "window out of range", || {
            format!("{text:?} parsed as {w:?}")
        }),
    }
}

/// The tick after `now` fires inside its window, before the next tick, and maps back.
fn ticks_stay_inside(spec: &CronSpec, w: &Window, id: &str, now: Millis) -> Verdict {
    let (Some(nominal), Some(next)) = (
        spec.next_after(now),
        spec.next_after(now).and_then(|t| spec.next_after(t)),
    ) else {
        return Ok(());
    };
    let fires = window::effective(spec, Some(w), id, nominal);
    ensure(
        nominal <= fires && fires < next,
        "fires outside its window",
        || format!("{w:?}: tick {nominal} fires at {fires}, next tick {next}"),
    )?;
    let found = window::nominal_of(spec, Some(w), id, fires);
    ensure(found == nominal, "nominal tick lost", || {
        format!("{w:?}: tick {nominal} fires at {fires}, which maps back to {found}")
    })
}
