//! What a run found: a line per parser, then every failure with its minimized input.

use std::fmt::Write as _;
use std::time::Duration;

/// The longest input or message a report quotes, in characters.
const QUOTE_CHARS: usize = 1_500;

/// One kind of failure of a parser.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong: `panic at <file:line>`, `slow`, or the name of a broken property.
    pub kind: String,
    /// How, for the minimized input.
    pub detail: String,
    /// The minimized input (`Debug`, shortened).
    pub input: String,
    /// How many cases failed this way.
    pub seen: u64,
}

/// The outcome of one parser.
#[derive(Clone, Debug)]
pub struct Report {
    pub parser: &'static str,
    /// Cases generated and checked (minimizing steps not included).
    pub cases: u64,
    /// Cases proptest ran while minimizing failures.
    pub shrink_steps: u64,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    /// The longest case, and its input.
    pub slowest: Duration,
    pub slowest_input: String,
}

/// The header of the per-parser table.
pub fn header() -> String {
    format!(
        "{:<36} {:>10} {:>8} {:>8} {:>9} {:>10}",
        "parser", "cases", "failures", "shrinks", "time s", "slowest ms"
    )
}

impl Report {
    /// The report of a parser that could not be set up: one failure saying why.
    pub fn setup_failed(parser: &'static str, why: String) -> Report {
        Report {
            parser,
            cases: 0,
            shrink_steps: 0,
            failures: vec![Failure {
                kind: "setup failed".into(),
                detail: why,
                input: String::new(),
                seen: 1,
            }],
            elapsed: Duration::ZERO,
            slowest: Duration::ZERO,
            slowest_input: String::new(),
        }
    }

    /// The parser's line of the table.
    pub fn line(&self) -> String {
        format!(
            "{:<36} {:>10} {:>8} {:>8} {:>9.1} {:>10.2}",
            self.parser,
            self.cases,
            self.failures.len(),
            self.shrink_steps,
            self.elapsed.as_secs_f64(),
            self.slowest.as_secs_f64() * 1e3
        )
    }

    /// Every failure, with its minimized input.
    pub fn failures_text(&self) -> String {
        let mut out = String::new();
        for f in &self.failures {
            let _ = writeln!(
                out,
                "FAIL {}: {} ({} case{})\n  detail: {}\n  input:  {}",
                self.parser,
                f.kind,
                f.seen,
                if f.seen == 1 { "" } else { "s" },
                shorten(&f.detail),
                f.input
            );
        }
        out
    }
}

/// The slowest case of each parser whose slowest case took at least `over`.
pub fn slow_cases(reports: &[Report], over: Duration) -> String {
    let mut out = String::new();
    for r in reports.iter().filter(|r| r.slowest >= over) {
        let _ = writeln!(
            out,
            "SLOWEST {}: {:.1} ms
  input:  {}",
            r.parser,
            r.slowest.as_secs_f64() * 1e3,
            r.slowest_input
        );
    }
    out
}

/// The totals line under the table.
pub fn totals(reports: &[Report]) -> String {
    let cases: u64 = reports.iter().map(|r| r.cases).sum();
    let failures: usize = reports.iter().map(|r| r.failures.len()).sum();
    let secs: f64 = reports.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    format!(
        "{} parsers, {cases} cases, {failures} failures, {secs:.1} s ({:.0} cases/s)",
        reports.len(),
        cases as f64 / secs.max(1e-9)
    )
}

/// `text` cut to 1 500 characters, saying how long it was.
pub fn shorten(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= QUOTE_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(QUOTE_CHARS).collect();
    format!("{head}… ({chars} characters in all)")
}
