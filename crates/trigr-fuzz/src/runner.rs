//! Runs one parser's property over generated inputs. Every case runs under `catch_unwind`, is
//! timed against [`Settings::case_limit`] and watched for hangs; proptest minimizes each
//! failure, and failures are grouped by kind so that one frequent bug does not hide others.

use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::report::{shorten, Failure, Report};
use crate::{panics, watchdog};

/// How much of each parser to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// This many cases per parser.
    Cases(u64),
    /// As many cases as fit in this time, per parser.
    Time(Duration),
}

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub budget: Budget,
    /// Seeds every batch of cases; the same seed and case budget generate the same inputs.
    pub seed: u64,
    /// A case that takes longer fails as `slow`.
    pub case_limit: Duration,
    /// A case that runs longer ends the process (see [`crate::watchdog`]); one that ends
    /// before is a `slow` failure like any case over `case_limit`, and is minimized.
    pub hang_limit: Duration,
    /// The longest time spent minimizing one failure.
    pub shrink_time: Duration,
    /// A parser stops after this many kinds of failure.
    pub max_failures: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budget: Budget::Cases(1_000),
            seed: 0x7419_f0a2,
            case_limit: Duration::from_secs(1),
            hang_limit: Duration::from_secs(60),
            shrink_time: Duration::from_secs(20),
            max_failures: 4,
        }
    }
}

impl Settings {
    /// The settings of one of `parsers` parsers: a time budget is shared equally.
    pub fn per_parser(&self, parsers: usize) -> Settings {
        let budget = match self.budget {
            Budget::Time(total) => Budget::Time(total / parsers.max(1) as u32),
            cases => cases,
        };
        Settings {
            budget,
            ..self.clone()
        }
    }
}

/// One property that one input breaks: `kind` names what went wrong (failures are grouped by
/// it), `detail` says how.
#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: String,
    pub detail: String,
}

/// What a property says of one input.
pub type Verdict = Result<(), Violation>;

/// `Ok` when `holds`; otherwise a violation of `kind` that `detail` describes.
pub fn ensure(holds: bool, kind: &str, detail: impl FnOnce() -> String) -> Verdict {
    if holds {
        Ok(())
    } else {
        Err(Violation {
            kind: kind.to_string(),
            detail: detail(),
        })
    }
}

/// Cases per proptest run: a run stops at its first failure, the next one goes on.
const BATCH: u64 = 256;

/// Runs `property` on inputs from `strategy` within the budget of `settings`.
pub fn fuzz<S>(
    parser: &'static str,
    settings: &Settings,
    strategy: S,
    property: impl Fn(&S::Value) -> Verdict,
) -> Report
where
    S: Strategy,
    S::Value: Debug + Send + Sync + 'static,
{
    panics::install();
    watchdog::start(settings.hang_limit);
    let progress = Progress::new(parser, settings);
    let mut batch = 0;
    while !progress.done() {
        let mut runner = TestRunner::new_with_rng(
            config(settings, progress.batch_size()),
            rng(settings.seed, parser, batch),
        );
        let outcome = runner.run(&strategy, |input| progress.case(input, &property));
        progress.finish_batch(outcome, &property);
        batch += 1;
    }
    progress.report()
}

fn config(settings: &Settings, cases: u64) -> Config {
    Config {
        cases: cases as u32,
        failure_persistence: None,
        fork: false,
        timeout: 0,
        max_shrink_time: settings.shrink_time.as_millis() as u32,
        max_shrink_iters: 5_000,
        max_global_rejects: 1_000_000,
        max_local_rejects: 1_000_000,
        verbose: 0,
        ..Config::default()
    }
}

/// The generator of batch `batch` of `parser`.
fn rng(seed: u64, parser: &str, batch: u64) -> TestRng {
    let name = parser.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut state = seed ^ name ^ batch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut bytes = [0u8; 16];
    for half in bytes.chunks_mut(8) {
        state = splitmix64(state);
        half.copy_from_slice(&state.to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::XorShift, &bytes)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The state of one parser's run, shared with proptest's runner (which takes a `Fn`).
struct Progress<'s> {
    parser: &'static str,
    settings: &'s Settings,
    started: Instant,
    cases: Cell<u64>,
    shrink_steps: Cell<u64>,
    slowest: Cell<Duration>,
    slowest_input: RefCell<String>,
    /// The kind of failure this batch is minimizing, once a case failed.
    minimizing: RefCell<Option<String>>,
    failures: RefCell<Vec<Failure>>,
}

impl<'s> Progress<'s> {
    fn new(parser: &'static str, settings: &'s Settings) -> Self {
        Progress {
            parser,
            settings,
            started: Instant::now(),
            cases: Cell::new(0),
            shrink_steps: Cell::new(0),
            slowest: Cell::new(Duration::ZERO),
            slowest_input: RefCell::new(String::new()),
            minimizing: RefCell::new(None),
            failures: RefCell::new(Vec::new()),
        }
    }

    fn out_of_time(&self) -> bool {
        matches!(self.settings.budget, Budget::Time(t) if self.started.elapsed() >= t)
    }

    fn done(&self) -> bool {
        let enough = match self.settings.budget {
            Budget::Cases(n) => self.cases.get() >= n,
            Budget::Time(_) => self.out_of_time(),
        };
        enough || self.failures.borrow().len() >= self.settings.max_failures
    }

    fn batch_size(&self) -> u64 {
        match self.settings.budget {
            Budget::Cases(n) => n.saturating_sub(self.cases.get()).clamp(1, BATCH),
            Budget::Time(_) => BATCH,
        }
    }

    /// One call from proptest: a new case, or a step of minimizing a failure.
    fn case<V>(&self, input: V, property: &impl Fn(&V) -> Verdict) -> Result<(), TestCaseError>
    where
        V: Debug + Send + Sync + 'static,
    {
        let minimizing = self.minimizing.borrow().clone();
        if minimizing.is_none() && self.out_of_time() {
            return Ok(());
        }
        let input = Arc::new(input);
        let (verdict, took) = self.timed(&input, property);
        match &minimizing {
            Some(_) => self.shrink_steps.set(self.shrink_steps.get() + 1),
            None => {
                self.cases.set(self.cases.get() + 1);
                if took > self.slowest.get() {
                    self.slowest.set(took);
                    *self.slowest_input.borrow_mut() = shorten(&format!("{input:?}"));
                }
            }
        }
        let Err(violation) = verdict else {
            return Ok(());
        };
        if let Some(kind) = minimizing {
            // Only the failure being minimized counts: others come up in later batches.
            return if violation.kind == kind {
                Err(TestCaseError::fail(kind))
            } else {
                Ok(())
            };
        }
        if self.seen_again(&violation.kind) {
            return Ok(());
        }
        *self.minimizing.borrow_mut() = Some(violation.kind.clone());
        Err(TestCaseError::fail(violation.kind))
    }

    /// Runs the property on one input, under the watchdog, with panics caught and the time
    /// limit applied.
    fn timed<V>(&self, input: &Arc<V>, property: &impl Fn(&V) -> Verdict) -> (Verdict, Duration)
    where
        V: Debug + Send + Sync + 'static,
    {
        watchdog::begin(self.parser, input.clone());
        let start = Instant::now();
        let outcome = panics::catch(|| property(input));
        let took = start.elapsed();
        watchdog::end();
        let verdict = match outcome {
            Ok(Ok(())) if took > self.settings.case_limit => Err(Violation {
                kind: "slow".into(),
                detail: format!(
                    "took {:.2} s (limit {:.2} s)",
                    took.as_secs_f64(),
                    self.settings.case_limit.as_secs_f64()
                ),
            }),
            Ok(verdict) => verdict,
            Err(caught) => Err(Violation {
                kind: format!("panic at {}", caught.location),
                detail: caught.message,
            }),
        };
        (verdict, took)
    }

    /// Counts a failure of a kind already reported; false for a new kind.
    fn seen_again(&self, kind: &str) -> bool {
        let mut failures = self.failures.borrow_mut();
        match failures.iter_mut().find(|f| f.kind == kind) {
            Some(f) => {
                f.seen += 1;
                true
            }
            None => false,
        }
    }

    /// Records how a batch ended: its minimized failure, if any.
    fn finish_batch<V>(&self, outcome: Result<(), TestError<V>>, property: &impl Fn(&V) -> Verdict)
    where
        V: Debug + Send + Sync + 'static,
    {
        let kind = self.minimizing.borrow_mut().take();
        let failure = match (outcome, kind) {
            (Ok(()), _) => return,
            (Err(TestError::Fail(_, minimal)), Some(kind)) => {
                let input = shorten(&format!("{minimal:?}"));
                // Once more, for the message that belongs to the minimized input.
                let (verdict, _) = self.timed(&Arc::new(minimal), property);
                let detail = match verdict {
                    Err(v) if v.kind == kind => v.detail,
                    _ => "the minimized input passed when run again (a flaky failure)".into(),
                };
                Failure {
                    kind,
                    detail,
                    input,
                    seen: 1,
                }
            }
            (Err(e), _) => Failure {
                kind: "generator gave up".into(),
                detail: e.to_string(),
                input: String::new(),
                seen: 1,
            },
        };
        self.failures.borrow_mut().push(failure);
    }

    fn report(self) -> Report {
        Report {
            parser: self.parser,
            cases: self.cases.get(),
            shrink_steps: self.shrink_steps.get(),
            slowest: self.slowest.get(),
            slowest_input: self.slowest_input.into_inner(),
            elapsed: self.started.elapsed(),
            failures: self.failures.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cases: u64) -> Settings {
        Settings {
            budget: Budget::Cases(cases),
            shrink_time: Duration::from_secs(10),
            ..Settings::default()
        }
    }

    #[test]
    fn a_passing_property_runs_every_case() {
        let report = fuzz("always", &settings(700), 0u32..10, |_| Ok(()));
        assert_eq!(report.cases, 700);
        assert!(report.failures.is_empty());
    }

    #[test]
    fn a_broken_property_is_reported_with_its_minimal_input() {
        let report = fuzz("below 500", &settings(2_000), 0u32..100_000, |n| {
            ensure(*n < 500, "too big", || format!("{n} is not below 500"))
        });
        assert_eq!(report.failures.len(), 1);
        let f = &report.failures[0];
        assert_eq!((f.kind.as_str(), f.input.as_str()), ("too big", "500"));
        assert_eq!(f.detail, "500 is not below 500");
        assert!(
            f.seen > 1,
            "later failures of the kind are counted: {}",
            f.seen
        );
        assert_eq!(report.cases, 2_000, "the run goes on after a failure");
    }

    #[test]
    fn panics_are_caught_and_named_by_their_location() {
        let report = fuzz("panics", &settings(100), 0u32..1_000, |n| {
            assert!(*n < 100, "n = {n}");
            Ok(())
        });
        let f = &report.failures[0];
        assert!(f.kind.starts_with("panic at "), "{}", f.kind);
        assert!(f.kind.contains("runner.rs"), "{}", f.kind);
        assert_eq!((f.input.as_str(), f.detail.as_str()), ("100", "n = 100"));
    }

    #[test]
    fn kinds_of_failure_are_kept_apart() {
        let report = fuzz("two bugs", &settings(3_000), 0u32..10_000, |n| {
            ensure(*n % 2 == 1 || *n < 1_000, "even", || n.to_string())?;
            ensure(*n % 2 == 0 || *n < 1_000, "odd", || n.to_string())
        });
        let mut kinds: Vec<_> = report.failures.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["even", "odd"]);
    }

    #[test]
    fn a_time_budget_is_shared_by_the_parsers() {
        let total = Settings {
            budget: Budget::Time(Duration::from_secs(60)),
            ..Settings::default()
        };
        assert_eq!(
            total.per_parser(4).budget,
            Budget::Time(Duration::from_secs(15))
        );
        assert_eq!(settings(9).per_parser(4).budget, Budget::Cases(9));
    }
}
