//! # trigr-fuzz
//!
//! Property-based fuzzing of every parser of client input in trigr, with [`proptest`]. Each
//! target generates hostile inputs for one parser — arbitrary text and bytes, and near-valid
//! inputs built from the parser's grammar and then edited — and checks three things:
//!
//! * **no panic**: every case runs under `catch_unwind`; a panic is a failure named by its
//!   location;
//! * **no hang**: a case over [`Settings::case_limit`] (1 s) fails as `slow`, and a case that
//!   never returns is caught by a watcher thread, which prints the input and ends the process
//!   after [`Settings::hang_limit`] (exit status 3);
//! * **properties** where the parser has them: valid inputs are accepted and round-trip
//!   (format, then parse), accepted durations equal the exact value of their text (so they
//!   never wrap) and stay under the 100-year cap, comparisons of versions and `ifVersion`
//!   guards are numeric part by part, a public access token is accepted only with the right
//!   signature, every refusal is a 4xx, and so on.
//!
//! Proptest minimizes each failure; failures are grouped by kind, so one frequent bug does
//! not hide the others (a parser stops after [`Settings::max_failures`] kinds).
//!
//! ## Parsers
//!
//! | target | parser | inputs |
//! |---|---|---|
//! | `types::duration::*` | `duration::parse`, `parse_delay`, `parse_date`, `parse_idempotency_ttl` | `1h30m` groups with numbers past `i64`, `106751991167d`, RFC 3339 dates with every field out of range |
//! | `types::version*` | `version::compare`, `VersionGuard::parse` | parts past `u64`, zero padding, up to 40 clauses, bad operators |
//! | `types::packet::to_value` | payload packets | JSON, SuperJSON and text; nesting 20 000 deep |
//! | `engine::deploy::validate_manifest` | deployment manifests | tasks with fields past their bounds, schemas with recursive references and bad patterns |
//! | `engine::schedules::*` | `cron::parse`, `window::parse` | fields with huge numbers, reversed ranges, steps of 0, `L` `W` `#`; mangled IANA zones; windows past `u64` |
//! | `engine::trigger::prepare` | trigger options | tens of thousands of tags, overflowing TTLs and delays, odd numbers |
//! | `engine::metadata::apply` | metadata operations | paths thousands of levels deep, forbidden keys, huge increments, sets that nest objects ever deeper |
//! | `server::*` | public access tokens, run list filters and cursors, NDJSON batch items, JSON bodies, `Last-Event-ID`, stream headers, offset pages, `access_token` | bad base64, `alg: none`, wrong keys, huge `exp`; NUL, invalid UTF-8, long lines, any chunking |
//!
//! ## Running
//!
//! ```text
//! cargo run --release -p trigr-fuzz -- --minutes 5      # the time shared by all parsers
//! cargo run --release -p trigr-fuzz -- --cases 100000   # cases per parser
//! cargo run --release -p trigr-fuzz -- --cases 5000 --only jwt --seed 7
//! ```
//!
//! The program prints a line per parser (cases, kinds of failure, minimizing steps, time, the
//! slowest case), then every failure with its minimized input and the slowest input of each
//! parser whose slowest case took 100 ms or more. The same `--seed` and `--cases` generate the
//! same inputs again. The exit status is 0 when nothing failed, 1 when a property failed, 3
//! when a case hung. `cargo test -p trigr-fuzz` runs a short pass of every parser.

pub mod gen;
mod panics;
pub mod report;
pub mod runner;
pub mod targets;
pub mod watchdog;

pub use report::{Failure, Report};
pub use runner::{Budget, Settings};

/// Runs every target whose name contains `only` (all of them without it), one after the
/// other; `on_report` sees each report as soon as its parser is done.
pub fn run(
    settings: &Settings,
    only: Option<&str>,
    mut on_report: impl FnMut(&Report),
) -> Vec<Report> {
    let targets: Vec<_> = targets::all()
        .into_iter()
        .filter(|t| only.is_none_or(|o| t.name.contains(o)))
        .collect();
    let each = settings.per_parser(targets.len());
    targets
        .iter()
        .map(|t| {
            let report = run_on_own_thread(t, &each);
            on_report(&report);
            report
        })
        .collect()
}

/// The stack of the thread each target runs on: a main thread's, whether the targets run from
/// the program or from a test (whose threads have less).
const STACK_BYTES: usize = 8 << 20;

fn run_on_own_thread(target: &targets::Target, settings: &Settings) -> Report {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(target.name.into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || (target.run)(target.name, settings));
        match thread.map(|t| t.join()) {
            Ok(Ok(report)) => report,
            Ok(Err(_)) => {
                Report::setup_failed(target.name, "the target panicked outside a case".into())
            }
            Err(e) => Report::setup_failed(target.name, format!("no thread to run on: {e}")),
        }
    })
}
