//! `trigr-fuzz`: runs the property-based fuzzing targets and prints what they found (see the
//! library documentation).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use trigr_fuzz::{report, Budget, Settings};

/// Cases at least this long are listed with their input after the table.
const SLOW_CASE: Duration = Duration::from_millis(100);

/// Property-based fuzzing of every parser of client input.
#[derive(Parser)]
#[command(name = "trigr-fuzz")]
struct Args {
    /// Total time, shared equally by the parsers.
    #[arg(long, conflicts_with = "cases")]
    minutes: Option<f64>,
    /// Cases per parser (1000 when neither this nor --minutes is given).
    #[arg(long)]
    cases: Option<u64>,
    /// Seed of the generated inputs.
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
    /// Only the parsers whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Print the parsers and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for t in trigr_fuzz::targets::all() {
            println!("{}", t.name);
        }
        return ExitCode::SUCCESS;
    }
    let budget = match (args.minutes, args.cases) {
        (Some(m), _) if !(m.is_finite() && m > 0.0) => {
            eprintln!("--minutes must be a positive number");
            return ExitCode::from(2);
        }
        (Some(m), _) => Budget::Time(Duration::from_secs_f64(m * 60.0)),
        (None, cases) => Budget::Cases(cases.unwrap_or(1_000)),
    };
    let settings = Settings {
        budget,
        seed: args.seed,
        ..Settings::default()
    };
    println!("seed {}, {budget:?} per run", settings.seed);
    println!("{}", report::header());
    let reports = trigr_fuzz::run(&settings, args.only.as_deref(), |r| {
        println!("{}", r.line())
    });
    println!("{}", report::totals(&reports));
    print!("\n{}", report::slow_cases(&reports, SLOW_CASE));
    let mut failed = false;
    for r in reports.iter().filter(|r| !r.failures.is_empty()) {
        print!("\n{}", r.failures_text());
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
