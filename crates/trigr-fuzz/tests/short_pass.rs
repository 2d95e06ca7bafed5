//! A short pass of every parser, so that `cargo test` runs the fuzzing targets: a few thousand
//! cases each, the same inputs on every run (the default seed).

use std::time::Duration;

use trigr_fuzz::{Budget, Report, Settings};

/// Cases per parser: under half a minute in all in a debug build (more while a parser has
/// slow cases, which proptest minimizes).
const CASES: u64 = 3_000;

#[test]
fn every_parser_passes_a_short_pass() {
    let settings = Settings {
        budget: Budget::Cases(CASES),
        shrink_time: Duration::from_secs(5),
        ..Settings::default()
    };
    let reports = trigr_fuzz::run(&settings, None, |_| {});
    assert_eq!(reports.len(), trigr_fuzz::targets::all().len());
    let failures: String = reports.iter().map(Report::failures_text).collect();
    assert!(failures.is_empty(), "the parsers failed:\n{failures}");
    for r in &reports {
        assert_eq!(r.cases, CASES, "{} ran {} cases", r.parser, r.cases);
    }
}
