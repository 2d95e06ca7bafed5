//! `--compare <rev>`: the same scenarios measured on another revision and on the running
//! binary, alternately, on this machine in one sitting, reported as ratios.
//!
//! 1. The revision is resolved to a commit with `git rev-parse` in the checkout this binary was
//!    built from (or, when that is gone, the one around the working directory).
//! 2. Its bench is built once and kept: a detached git worktree at
//!    `<target>/compare/<commit>/src` and its own target directory
//!    `<target>/compare/<commit>/target`, where `<target>` is `$CARGO_TARGET_DIR` or the
//!    checkout's `target/` (git-ignored). The build is `nice cargo build --release -p
//!    trigr-bench` with the cargo that runs this binary (`$CARGO`) when there is one; its output
//!    goes to stderr and to `<target>/compare/<commit>/build.log`. When the worktree is there
//!    and its binary is built, nothing is built.
//! 3. Both benches run `--rounds` times (3 by default), base then current, each with `--json`
//!    and the scenario options given here. The current side is the running binary (on Linux
//!    through `/proc/self/exe`, so a rebuild of `target/release` in the meantime changes
//!    nothing). Options the base bench does not list in its `-h` are given to neither
//!    side, with a note on stderr; `--only` scenarios it does not know are left out of its
//!    runs only (their figures show `-` on its side). The database URL goes to both in
//!    `TRIGR_BENCH_DATABASE_URL`, the Redis URL (when given) in `TRIGR_BENCH_REDIS_URL`.
//! 4. Per figure: every run's value, the median of each side, the ratio current/base, and
//!    which way is better (`*_ms` lower, `*_per_s` higher). The verdict is `better` or `worse`
//!    only when the two sides' values do not overlap at all, otherwise `overlap`; it needs 3
//!    rounds at least. Chance alone separates 3 values from 3 one time in 10 (5 from 5: 1 in
//!    126), so a claim rests on the ratio, repeated, rather than on one verdict.
//!
//! Clean-up: `git worktree remove --force target/compare/<commit>/src`, then
//! `rm -rf target/compare/<commit>` (or all of `target/compare`) and `git worktree prune`.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use serde::Serialize;
use serde_json::{json, Value};

use crate::report::FIGURES;
use crate::stats::{fmt_num, median};
use crate::Args;

/// Values a side needs before a verdict is given: with fewer, chance alone separates the
/// sides too often (2 against 2: 1 time in 3).
pub const MIN_VERDICT_RUNS: usize = 3;

/// How often `n` values of one side and `m` of the other, all drawn from the same
/// distribution, come out with no overlap (either side above): 2 / C(n + m, n).
pub fn chance_of_separation(n: usize, m: usize) -> f64 {
    let mut arrangements = 1.0;
    for i in 0..n {
        arrangements = arrangements * (m + n - i) as f64 / (i + 1) as f64;
    }
    (2.0 / arrangements).min(1.0)
}

/// Lines of a failed build's output quoted in the error.
const BUILD_TAIL_LINES: usize = 30;

/// Which way a figure improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput (`*_per_s`).
    Higher,
    /// Latency (`*_ms`).
    Lower,
    /// A figure whose name says neither.
    Unknown,
}

impl Better {
    /// From the figure's key: `*_per_s` is a rate, `*_ms` and `*_s` a duration, `*_lost` a
    /// count of losses, `*_mb` memory and `*_per_10k` a cost per 10,000 runs.
    pub fn of(key: &str) -> Better {
        let lower = ["_ms", "_s", "_lost", "_mb", "_per_10k"];
        if key.ends_with("_per_s") {
            Better::Higher
        } else if lower.iter().any(|end| key.ends_with(end)) {
            Better::Lower
        } else {
            Better::Unknown
        }
    }

    fn word(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
            Better::Unknown => "?",
        }
    }
}

/// Current over base; `None` when either is missing or the base is 0 or not a number.
pub fn ratio(base: Option<f64>, current: Option<f64>) -> Option<f64> {
    match (base, current) {
        (Some(b), Some(c)) if b != 0.0 && b.is_finite() && c.is_finite() => Some(c / b),
        _ => None,
    }
}

/// The median of `values`, `None` when there are none.
fn median_of(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| median(values))
}

/// The values each figure took over the runs of one side, in the order the figures appeared.
#[derive(Debug, Default)]
pub struct Samples(Vec<(String, Vec<f64>)>);

impl Samples {
    /// Adds the figures of one run.
    pub fn add(&mut self, run: &[(String, f64)]) {
        for (key, value) in run {
            match self.0.iter_mut().find(|(k, _)| k == key) {
                Some((_, values)) => values.push(*value),
                None => self.0.push((key.clone(), vec![*value])),
            }
        }
    }

    fn get(&self, key: &str) -> &[f64] {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// One figure of the comparison.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub key: String,
    pub better: Better,
    pub base: Vec<f64>,
    pub current: Vec<f64>,
}

impl Row {
    pub fn base_median(&self) -> Option<f64> {
        median_of(&self.base)
    }

    pub fn current_median(&self) -> Option<f64> {
        median_of(&self.current)
    }

    pub fn ratio(&self) -> Option<f64> {
        ratio(self.base_median(), self.current_median())
    }

    /// `better` or `worse` when every value of one side beats every value of the other
    /// ([`MIN_VERDICT_RUNS`] values a side at least), `overlap` when they do not; `None` when
    /// that cannot be said.
    pub fn verdict(&self) -> Option<&'static str> {
        if self.base.len() < MIN_VERDICT_RUNS
            || self.current.len() < MIN_VERDICT_RUNS
            || self.better == Better::Unknown
        {
            return None;
        }
        let lo = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let went_up = if lo(&self.current) > hi(&self.base) {
            true
        } else if hi(&self.current) < lo(&self.base) {
            false
        } else {
            return Some("overlap");
        };
        Some(if went_up == (self.better == Better::Higher) {
            "better"
        } else {
            "worse"
        })
    }

    /// Decimals shown: the figure's own when the bench knows it, else 2 for `_ms`, 0 for others.
    fn decimals(&self) -> usize {
        FIGURES
            .iter()
            .find(|f| f.key == self.key)
            .map_or(if self.key.ends_with("_ms") { 2 } else { 0 }, |f| {
                f.decimals
            })
    }
}

/// The figures of both sides, one row each: the figures this bench knows in its table order,
/// then any others (the base's first) in the order they came. A figure one side lacks has no
/// values on that side.
pub fn merge(base: &Samples, current: &Samples) -> Vec<Row> {
    let mut keys: Vec<&str> = FIGURES
        .iter()
        .map(|f| f.key)
        .filter(|k| !base.get(k).is_empty() || !current.get(k).is_empty())
        .collect();
    for (key, _) in base.0.iter().chain(&current.0) {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|key| Row {
            key: key.to_string(),
            better: Better::of(key),
            base: base.get(key).to_vec(),
            current: current.get(key).to_vec(),
        })
        .collect()
}

/// The numeric figures of a bench's `--json` output (its last non-blank line, a JSON object).
pub fn parse_report(stdout: &str) -> Result<Vec<(String, f64)>> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("it printed nothing on stdout"))?;
    let object: serde_json::Map<String, Value> = serde_json::from_str(line.trim())
        .with_context(|| format!("its last line is not a JSON object: {line}"))?;
    Ok(object
        .into_iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k, v)))
        .collect())
}

/// The long options a bench's `-h` lists (`--runs`, `--only`, …).
pub fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| l.split_whitespace().take(2))
        .map(|t| t.trim_end_matches(','))
        .filter(|t| t.starts_with("--") && t.len() > 2)
        .map(str::to_string)
        .collect()
}

/// The `[possible values: …]` a bench's `-h` lists for `flag`, if it lists any.
pub fn possible_values(help: &str, flag: &str) -> Option<Vec<String>> {
    let start = help
        .lines()
        .position(|l| l.split_whitespace().next() == Some(flag))?;
    let mut text = String::new();
    for line in help.lines().skip(start) {
        if !text.is_empty() && line.trim_start().starts_with('-') {
            break;
        }
        text.push_str(line);
        text.push(' ');
    }
    let list = text.split_once("[possible values:")?.1.split_once(']')?.0;
    Some(
        list.split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// An option given to both benches.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub name: &'static str,
    pub value: Option<String>,
}

impl Flag {
    fn new(name: &'static str, value: impl ToString) -> Flag {
        Flag {
            name,
            value: Some(value.to_string()),
        }
    }

    fn push_to(&self, argv: &mut Vec<String>) {
        argv.push(self.name.to_string());
        argv.extend(self.value.clone());
    }
}

fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The scenario options of `args` other than `--only`: those given, or differing from their
/// default. The database and Redis URLs are not among them (they go in the environment).
pub fn scenario_flags(args: &Args) -> Vec<Flag> {
    let mut flags = Vec::new();
    if let Some(runs) = args.runs {
        flags.push(Flag::new("--runs", runs));
    }
    if args.quick {
        flags.push(Flag {
            name: "--quick",
            value: None,
        });
    }
    if args.repeat != 1 {
        flags.push(Flag::new("--repeat", args.repeat));
    }
    if !args.backend.is_empty() {
        let names: Vec<String> = args.backend.iter().map(value_name).collect();
        flags.push(Flag::new("--backend", names.join(",")));
    }
    if let Some(secs) = args.latency_secs {
        flags.push(Flag::new("--latency-secs", secs));
    }
    if args.sse_subscribers != crate::scenarios::sse::SUBSCRIBERS as u64 {
        flags.push(Flag::new("--sse-subscribers", args.sse_subscribers));
    }
    if let Some(runs) = args.dashboard_runs {
        flags.push(Flag::new("--dashboard-runs", runs));
    }
    if let Some(triggers) = args.burst_triggers {
        flags.push(Flag::new("--burst-triggers", triggers));
    }
    if args.timeout_secs != crate::DEFAULT_TIMEOUT_SECS {
        flags.push(Flag::new("--timeout-secs", args.timeout_secs));
    }
    for (on, name) in [(args.metrics, "--metrics"), (args.otlp, "--otlp")] {
        if on {
            flags.push(Flag { name, value: None });
        }
    }
    flags
}

/// What each side is run with.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// Arguments of the base bench; `None` when it knows none of the scenarios asked for.
    pub base: Option<Vec<String>>,
    /// Arguments of the current bench.
    pub current: Vec<String>,
    /// Notes on what was left out, for stderr.
    pub notes: Vec<String>,
}

/// The arguments of both sides: `flags` the base bench supports (`base_flags`, from its
/// `-h`), `--only` with the scenarios `only` names (those the base knows, `base_scenarios`,
/// on its side), and `--json`.
pub fn plan(
    flags: &[Flag],
    only: &[String],
    base_flags: &BTreeSet<String>,
    base_scenarios: Option<&[String]>,
) -> Result<Plan> {
    if !base_flags.contains("--json") {
        bail!("the base revision's bench has no --json option, so its figures cannot be read");
    }
    let mut notes = Vec::new();
    let mut common = Vec::new();
    for flag in flags {
        if base_flags.contains(flag.name) {
            flag.push_to(&mut common);
        } else {
            notes.push(format!(
                "{} is left out on both sides: the base revision's bench does not take it",
                flag.name
            ));
        }
    }
    let mut current = common.clone();
    let mut base = Some(common);
    if !only.is_empty() {
        if base_flags.contains("--only") {
            current.push("--only".into());
            current.push(only.join(","));
            let known: Vec<String> = match base_scenarios {
                Some(known) => only.iter().filter(|s| known.contains(s)).cloned().collect(),
                None => only.to_vec(),
            };
            let unknown: Vec<&String> = only.iter().filter(|s| !known.contains(s)).collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
                notes.push(format!(
                    "the base revision's bench has no {} scenario: its figures show - on the base side",
                    names.join(", ")
                ));
            }
            if known.is_empty() {
                base = None;
            } else if let Some(argv) = base.as_mut() {
                argv.push("--only".into());
                argv.push(known.join(","));
            }
        } else {
            notes.push(
                "--only is left out on both sides: the base revision's bench does not take it"
                    .into(),
            );
        }
    }
    current.push("--json".into());
    if let Some(argv) = base.as_mut() {
        argv.push("--json".into());
    }
    Ok(Plan {
        base,
        current,
        notes,
    })
}

/// What was compared, and the result.
pub struct Comparison {
    pub rev: String,
    pub commit: String,
    pub base_exe: PathBuf,
    pub current_exe: PathBuf,
    pub rounds: u32,
    pub plan: Plan,
    pub rows: Vec<Row>,
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_string(), |v| fmt_num(v, decimals))
}

fn each(values: &[f64], decimals: usize) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    let each: Vec<String> = values.iter().map(|v| fmt_num(*v, decimals)).collect();
    each.join(" / ")
}

impl Comparison {
    /// The table: a heading naming both sides, one line per figure (medians and ratio), then
    /// every run's value.
    pub fn table(&self) -> String {
        let short = &self.commit[..self.commit.len().min(12)];
        let mut lines = vec![
            format!(
                "base     {} ({short}): {}",
                self.rev,
                self.base_exe.display()
            ),
            format!("current  {}", self.current_exe.display()),
            format!(
                "{} round{}, base then current in each; a value is one bench run's figure",
                self.rounds,
                if self.rounds == 1 { "" } else { "s" }
            ),
        ];
        let runs = self.rounds as usize;
        if runs >= MIN_VERDICT_RUNS {
            lines.push(format!(
                "verdict better/worse: no value of one side reaches the other's (chance alone \
                 does that 1 time in {:.0} with {runs} rounds)",
                1.0 / chance_of_separation(runs, runs)
            ));
        }
        lines.push(String::new());
        let width = self
            .rows
            .iter()
            .map(|r| r.key.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        lines.push(format!(
            "{:<width$}  {:<6}  {:>14}  {:>14}  {:>12}  verdict",
            "figure", "better", "base median", "current median", "current/base"
        ));
        for row in &self.rows {
            let d = row.decimals();
            let line = format!(
                "{:<width$}  {:<6}  {:>14}  {:>14}  {:>12}  {}",
                row.key,
                row.better.word(),
                cell(row.base_median(), d),
                cell(row.current_median(), d),
                row.ratio().map_or("-".to_string(), |r| format!("{r:.3}")),
                row.verdict().unwrap_or("-"),
            );
            lines.push(line.trim_end().to_string());
        }
        lines.push(String::new());
        lines.push(format!("{:<width$}  {:<7}  each run", "figure", "side"));
        for row in &self.rows {
            let d = row.decimals();
            lines.push(format!(
                "{:<width$}  {:<7}  {}",
                row.key,
                "base",
                each(&row.base, d)
            ));
            lines.push(format!(
                "{:<width$}  {:<7}  {}",
                "",
                "current",
                each(&row.current, d)
            ));
        }
        for note in &self.plan.notes {
            lines.push(format!("\nnote: {note}"));
        }
        lines.join("\n")
    }

    /// The comparison as one JSON object: `figures.<key>` holds `better`, `base` and `current`
    /// (every run's value), `base_median`, `current_median`, `ratio` and `verdict` (null when
    /// a side has no value).
    pub fn to_json(&self) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|row| {
                (
                    row.key.clone(),
                    json!({
                        "better": row.better,
                        "base": row.base,
                        "current": row.current,
                        "base_median": row.base_median(),
                        "current_median": row.current_median(),
                        "ratio": row.ratio(),
                        "verdict": row.verdict(),
                    }),
                )
            })
            .collect();
        json!({
            "base": {
                "rev": self.rev,
                "commit": self.commit,
                "exe": self.base_exe,
                "args": self.plan.base,
            },
            "current": {
                "exe": self.current_exe,
                "args": self.plan.current,
            },
            "rounds": self.rounds,
            "notes": self.plan.notes,
            "figures": figures,
        })
    }
}

/// Runs `git` in `dir`; its trimmed stdout, or an error quoting its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The top of the git checkout of the current tree.
fn checkout() -> Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        built_from.to_path_buf(),
        std::env::current_dir().context("reading the working directory")?,
    ];
    for dir in candidates.iter().filter(|d| d.is_dir()) {
        if let Ok(top) = git(dir, &["rev-parse", "--show-toplevel"]) {
            return Ok(PathBuf::from(top));
        }
    }
    bail!(
        "--compare needs the trigr git checkout: neither {} nor the working directory is in one",
        built_from.display()
    )
}

/// The directory all compared revisions live under: `<target>/compare`.
fn compare_dir(repo: &Path) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo.join("target"),
    };
    let target = if target.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(&target))
            .unwrap_or(target)
    } else {
        target
    };
    target.join("compare")
}

/// Makes sure `src` is a worktree of `repo` at `commit`.
fn ensure_worktree(repo: &Path, src: &Path, commit: &str) -> Result<()> {
    if src.join(".git").exists() {
        let head = git(src, &["rev-parse", "HEAD"])?;
        if head != commit {
            bail!(
                "{} is a worktree at {head}, not at {commit}; remove it with `git worktree \
                 remove --force {}` and run again",
                src.display(),
                src.display()
            );
        }
        return Ok(());
    }
    if src.exists()
        && std::fs::read_dir(src)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists but is not a git worktree; remove it and run again",
            src.display()
        );
    }
    // A worktree whose directory was deleted is still registered until pruned.
    git(repo, &["worktree", "prune"])?;
    let src_text = src.to_string_lossy();
    eprintln!("compare: git worktree add --detach {src_text} {commit}");
    git(repo, &["worktree", "add", "--detach", &src_text, commit])?;
    Ok(())
}

/// Builds the bench of the worktree `src` into `target` (`nice cargo build --release -p
/// trigr-bench`), its output going to stderr and to `log`. On failure, the error quotes the
/// last lines of that output.
fn build(src: &Path, target: &Path, log: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new("nice");
    command
        .arg(&cargo)
        .args(["build", "--release", "-p", "trigr-bench"])
        .current_dir(src)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped());
    eprintln!(
        "compare: building the base bench in {} (nice {} build --release -p trigr-bench, \
         CARGO_TARGET_DIR={}); output also in {}",
        src.display(),
        cargo.to_string_lossy(),
        target.display(),
        log.display()
    );
    let mut child = command
        .spawn()
        .with_context(|| format!("starting nice {}", cargo.to_string_lossy()))?;
    let mut log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut tail: VecDeque<String> = VecDeque::new();
    let stderr = child.stderr.take().expect("stderr is piped");
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading the build's output")?;
        eprintln!("{line}");
        writeln!(log_file, "{line}").ok();
        if tail.len() == BUILD_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().collect();
        bail!(
            "cargo build --release -p trigr-bench of the base revision failed ({status}) in {}; \
             the last lines of its output (all of it in {}):\n{}",
            src.display(),
            log.display(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// The base bench of `commit`, built unless it already is.
fn base_bench(repo: &Path, commit: &str) -> Result<PathBuf> {
    let root = compare_dir(repo).join(commit);
    let src = root.join("src");
    let target = root.join("target");
    let exe = target
        .join("release")
        .join(format!("trigr-bench{}", std::env::consts::EXE_SUFFIX));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    ensure_worktree(repo, &src, commit)?;
    if exe.is_file() {
        eprintln!("compare: reusing {}", exe.display());
    } else {
        build(&src, &target, &root.join("build.log"))?;
        if !exe.is_file() {
            bail!("cargo build succeeded but {} is not there", exe.display());
        }
    }
    Ok(exe)
}

/// The binary of the current side: this very executable.
fn current_bench() -> Result<(PathBuf, PathBuf)> {
    let shown = std::env::current_exe().context("finding the running executable")?;
    let self_exe = Path::new("/proc/self/exe");
    let run = if cfg!(target_os = "linux") && self_exe.exists() {
        self_exe.to_path_buf()
    } else {
        shown.clone()
    };
    Ok((run, shown))
}

/// Output of `exe` run with `args` (it must succeed).
fn output_of(exe: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            exe.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One bench run: its figures. Its progress lines go to stderr as they come. `shown` is the
/// path named in messages (`exe` may be `/proc/self/exe`).
fn run_side(
    exe: &Path,
    shown: &Path,
    argv: &[String],
    args: &Args,
    what: &str,
) -> Result<Vec<(String, f64)>> {
    eprintln!("compare: {what}: {} {}", shown.display(), argv.join(" "));
    let mut command = Command::new(exe);
    command.env("TRIGR_BENCH_DATABASE_URL", &args.database_url);
    if let Some(url) = &args.redis_url {
        command.env("TRIGR_BENCH_REDIS_URL", url);
    }
    let out = command
        .args(argv)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("{what}: starting {}", shown.display()))?;
    if !out.status.success() {
        bail!(
            "{what}: {} failed ({}); its output is above",
            shown.display(),
            out.status
        );
    }
    parse_report(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("{what}: reading the figures of {}", shown.display()))
}

/// `--compare <rev>`: builds (or reuses) the bench of `rev`, runs both benches alternately
/// and prints the comparison.
pub fn run(args: &Args, rev: &str) -> Result<()> {
    let repo = checkout()?;
    let commit = git(
        &repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| {
        anyhow!(
            "unknown revision {rev:?}: git rev-parse finds no commit of that name in {}",
            repo.display()
        )
    })?;
    if cfg!(debug_assertions) {
        bail!(
            "--compare measures this binary as the current side, and this is a debug build: \
             run it as `cargo run --release -p trigr-bench -- --compare {rev}`"
        );
    }
    let base_exe = base_bench(&repo, &commit)?;
    let (current_run, current_exe) = current_bench()?;

    let help = output_of(&base_exe, &["-h"])?;
    let base_flags = help_flags(&help);
    let base_scenarios = possible_values(&help, "--only");
    let only: Vec<String> = args.only.iter().map(value_name).collect();
    let plan = plan(
        &scenario_flags(args),
        &only,
        &base_flags,
        base_scenarios.as_deref(),
    )?;
    for note in &plan.notes {
        eprintln!("compare: note: {note}");
    }

    let short = &commit[..commit.len().min(12)];
    let (mut base, mut current) = (Samples::default(), Samples::default());
    for round in 1..=args.rounds {
        if let Some(argv) = &plan.base {
            let what = format!("round {round}/{}, base {rev} ({short})", args.rounds);
            base.add(&run_side(&base_exe, &base_exe, argv, args, &what)?);
        }
        let what = format!("round {round}/{}, current", args.rounds);
        current.add(&run_side(
            &current_run,
            &current_exe,
            &plan.current,
            args,
            &what,
        )?);
    }

    let comparison = Comparison {
        rev: rev.to_string(),
        commit,
        base_exe,
        current_exe,
        rounds: args.rounds,
        rows: merge(&base, &current),
        plan,
    };
    if args.json {
        println!("{}", comparison.to_json());
    } else {
        println!("{}", comparison.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn samples(runs: &[&[(&str, f64)]]) -> Samples {
        let mut s = Samples::default();
        for run in runs {
            let run: Vec<(String, f64)> = run.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            s.add(&run);
        }
        s
    }

    fn set(flags: &[&str]) -> BTreeSet<String> {
        flags.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn direction_from_the_name() {
        assert_eq!(Better::of("e2e_runs_per_s"), Better::Higher);
        assert_eq!(Better::of("sse_fanout_events_per_s"), Better::Higher);
        assert_eq!(Better::of("pg2_trigger_to_dequeue_p99_ms"), Better::Lower);
        assert_eq!(Better::of("disk_fsync_p50_ms"), Better::Lower);
        assert_eq!(Better::of("pg_burst_drain_s"), Better::Lower);
        assert_eq!(Better::of("burst_lost"), Better::Lower);
        assert_eq!(Better::of("something_else"), Better::Unknown);
        for f in FIGURES {
            assert_ne!(Better::of(f.key), Better::Unknown, "{}", f.key);
        }
    }

    #[test]
    fn ratio_is_current_over_base() {
        assert_eq!(ratio(Some(200.0), Some(300.0)), Some(1.5));
        assert_eq!(ratio(Some(2.0), Some(1.0)), Some(0.5));
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
        assert_eq!(ratio(Some(0.0), Some(1.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(1.0)), None);
    }

    #[test]
    fn medians_of_each_side() {
        let row = Row {
            key: "e2e_runs_per_s".into(),
            better: Better::Higher,
            base: vec![100.0, 300.0, 200.0],
            current: vec![400.0, 250.0, 260.0, 240.0],
        };
        assert_eq!(row.base_median(), Some(200.0));
        assert_eq!(row.current_median(), Some(255.0));
        assert_eq!(row.ratio(), Some(1.275));
        let empty = Row {
            base: vec![],
            ..row
        };
        assert_eq!(empty.base_median(), None);
        assert_eq!(empty.ratio(), None);
        assert_eq!(empty.verdict(), None);
    }

    #[test]
    fn verdict_needs_disjoint_values_and_knows_the_direction() {
        let row = |key: &str, base: &[f64], current: &[f64]| Row {
            key: key.into(),
            better: Better::of(key),
            base: base.to_vec(),
            current: current.to_vec(),
        };
        let (low, high) = (&[1.0, 2.0, 2.5][..], &[3.0, 4.0, 3.5][..]);
        assert_eq!(row("e2e_runs_per_s", low, high).verdict(), Some("better"));
        assert_eq!(row("e2e_runs_per_s", high, low).verdict(), Some("worse"));
        assert_eq!(row("resume_p50_ms", low, high).verdict(), Some("worse"));
        assert_eq!(row("resume_p50_ms", high, low).verdict(), Some("better"));
        assert_eq!(
            row("e2e_runs_per_s", &[1.0, 3.0, 2.0], &[2.5, 4.0, 5.0]).verdict(),
            Some("overlap")
        );
        assert_eq!(
            row("e2e_runs_per_s", &[1.0, 2.0], &[3.0, 4.0]).verdict(),
            None
        );
        assert_eq!(row("odd", low, high).verdict(), None);
    }

    #[test]
    fn chance_of_no_overlap() {
        assert!((chance_of_separation(2, 2) - 1.0 / 3.0).abs() < 1e-12);
        assert!((chance_of_separation(3, 3) - 0.1).abs() < 1e-12);
        assert!((chance_of_separation(5, 5) - 2.0 / 252.0).abs() < 1e-12);
        assert!((chance_of_separation(3, 2) - 0.2).abs() < 1e-12);
        assert_eq!(chance_of_separation(1, 1), 1.0);
    }

    #[test]
    fn merge_keeps_figures_of_one_side_only() {
        let base = samples(&[
            &[("e2e_runs_per_s", 100.0), ("old_figure_per_s", 5.0)],
            &[("e2e_runs_per_s", 110.0), ("old_figure_per_s", 6.0)],
            &[("e2e_runs_per_s", 105.0), ("old_figure_per_s", 7.0)],
        ]);
        let current = samples(&[
            &[
                ("trigger_to_dequeue_p50_ms", 1.5),
                ("e2e_runs_per_s", 120.0),
            ],
            &[
                ("trigger_to_dequeue_p50_ms", 1.7),
                ("e2e_runs_per_s", 130.0),
            ],
            &[
                ("trigger_to_dequeue_p50_ms", 1.6),
                ("e2e_runs_per_s", 125.0),
            ],
        ]);
        let rows = merge(&base, &current);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "e2e_runs_per_s",
                "trigger_to_dequeue_p50_ms",
                "old_figure_per_s"
            ]
        );
        assert_eq!(rows[0].base, [100.0, 110.0, 105.0]);
        assert_eq!(rows[0].current, [120.0, 130.0, 125.0]);
        assert_eq!(rows[0].ratio(), Some(125.0 / 105.0));
        assert!(rows[1].base.is_empty());
        assert_eq!(rows[1].ratio(), None);
        assert_eq!(rows[1].better, Better::Lower);
        assert!(rows[2].current.is_empty());

        let comparison = Comparison {
            rev: "abc".into(),
            commit: "abcdef0123456789".into(),
            base_exe: "/old/trigr-bench".into(),
            current_exe: "/new/trigr-bench".into(),
            rounds: 3,
            plan: Plan {
                base: Some(vec!["--json".into()]),
                current: vec!["--json".into()],
                notes: vec![],
            },
            rows,
        };
        let table = comparison.table();
        let p50 = table
            .lines()
            .find(|l| l.starts_with("trigger_to_dequeue_p50_ms"))
            .unwrap();
        assert!(p50.contains("lower"), "{table}");
        assert!(p50.contains(" - "), "{table}");
        assert!(p50.contains("1.60"), "{table}");
        let e2e = table
            .lines()
            .find(|l| l.starts_with("e2e_runs_per_s"))
            .unwrap();
        assert!(
            e2e.contains("higher") && e2e.contains("105") && e2e.contains("1.190"),
            "{table}"
        );
        assert!(table.contains("100 / 110 / 105"), "{table}");
        assert!(table.contains("1 time in 10 with 3 rounds"), "{table}");

        let json = comparison.to_json();
        let e2e = &json["figures"]["e2e_runs_per_s"];
        assert_eq!(e2e["better"], "higher");
        assert_eq!(e2e["base_median"], 105.0);
        assert_eq!(e2e["current_median"], 125.0);
        assert_eq!(e2e["verdict"], "better");
        let p50 = &json["figures"]["trigger_to_dequeue_p50_ms"];
        assert!(p50["base_median"].is_null() && p50["ratio"].is_null());
        assert_eq!(p50["better"], "lower");
        assert_eq!(json["base"]["commit"], "abcdef0123456789");
    }

    #[test]
    fn report_lines_are_read() {
        let figures = parse_report(
            "\n{\"e2e_runs_per_s\":5123.0,\"trigger_to_dequeue_p50_ms\":1.25,\"note\":\"x\"}\n\n",
        )
        .unwrap();
        assert_eq!(
            figures,
            [
                ("e2e_runs_per_s".to_string(), 5123.0),
                ("trigger_to_dequeue_p50_ms".to_string(), 1.25)
            ]
        );
        assert!(parse_report("").is_err());
        assert!(parse_report("table\n").is_err());
    }

    const HELP: &str = "\
Benchmark of trigr servers started in this process on temporary durable stores

Usage: trigr-bench [OPTIONS]

Options:
      --runs <RUNS>
          Runs created by each throughput scenario [default: 20000, or 2000 with --quick]
      --quick
          A small single pass for CI
      --json
          Print the figures as one JSON line instead of a table
      --only <ONLY>
          Run only these scenarios (comma-separated) [possible values: trigger, batch, e2e,
          sdk-e2e, latency]
      --timeout-secs <TIMEOUT_SECS>
          Longest one scenario run may take [default: 600]
  -h, --help
          Print help (see a summary with '-h')
  -V, --version
          Print version
";

    #[test]
    fn help_is_read() {
        assert_eq!(
            help_flags(HELP),
            set(&[
                "--help",
                "--json",
                "--only",
                "--quick",
                "--runs",
                "--timeout-secs",
                "--version"
            ])
        );
        assert_eq!(
            possible_values(HELP, "--only").unwrap(),
            ["trigger", "batch", "e2e", "sdk-e2e", "latency"]
        );
        assert_eq!(possible_values(HELP, "--runs"), None);
        assert_eq!(possible_values(HELP, "--backend"), None);
        let one_line =
            "  --only <ONLY>  Run only these [possible values: e2e, latency]\n  -h, --help";
        assert_eq!(
            possible_values(one_line, "--only").unwrap(),
            ["e2e", "latency"]
        );
    }

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("trigr-bench").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn compare_options_parse() {
        let a = args(&["--compare", "21a98ac", "--only", "e2e,latency"]);
        assert_eq!(a.compare.as_deref(), Some("21a98ac"));
        assert_eq!(a.rounds, 3);
        let a = args(&["--compare", "HEAD~1", "--rounds", "5", "--json"]);
        assert_eq!(a.rounds, 5);
        assert!(a.json);
        // --rounds means nothing without --compare, and at least one round is needed.
        assert!(Args::try_parse_from(["trigr-bench", "--rounds", "2"]).is_err());
        assert!(Args::try_parse_from(["trigr-bench", "--compare", "x", "--rounds", "0"]).is_err());
        // The plain benchmark's options are what they were.
        let a = args(&["--quick"]);
        assert!(a.quick && a.compare.is_none());
    }

    #[test]
    fn only_given_or_changed_options_are_passed_on() {
        assert!(scenario_flags(&args(&["--compare", "x"])).is_empty());
        assert!(scenario_flags(&args(&["--compare", "x", "--timeout-secs", "600"])).is_empty());
        let flags = scenario_flags(&args(&[
            "--compare",
            "x",
            "--quick",
            "--runs",
            "500",
            "--repeat",
            "2",
            "--backend",
            "pg,sqlite",
            "--latency-secs",
            "1.5",
            "--sse-subscribers",
            "10",
            "--timeout-secs",
            "60",
            "--database-url",
            "postgres://secret@db/x",
        ]));
        let mut argv = Vec::new();
        for f in &flags {
            f.push_to(&mut argv);
        }
        assert_eq!(
            argv.join(" "),
            "--runs 500 --quick --repeat 2 --backend postgres,sqlite --latency-secs 1.5 \
             --sse-subscribers 10 --timeout-secs 60"
        );
    }

    #[test]
    fn plan_passes_what_both_sides_take() {
        let flags = vec![
            Flag::new("--runs", 500),
            Flag {
                name: "--quick",
                value: None,
            },
            Flag::new("--sse-subscribers", 10),
        ];
        let only = vec!["e2e".to_string(), "loopback".to_string()];
        let known = ["e2e".to_string(), "latency".to_string()];
        let old = set(&["--runs", "--quick", "--json", "--only", "--help"]);
        let plan = plan(&flags, &only, &old, Some(&known)).unwrap();
        assert_eq!(
            plan.base.unwrap().join(" "),
            "--runs 500 --quick --only e2e --json"
        );
        assert_eq!(
            plan.current.join(" "),
            "--runs 500 --quick --only e2e,loopback --json"
        );
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);
        assert!(plan.notes[0].contains("--sse-subscribers"));
        assert!(plan.notes[1].contains("loopback"));

        // No scenario the base knows: it is not run, the current side is.
        let plan2 = super::plan(&[], &["loopback".to_string()], &old, Some(&known)).unwrap();
        assert_eq!(plan2.base, None);
        assert_eq!(plan2.current.join(" "), "--only loopback --json");

        // Everything, when no --only is given or the base's scenarios are not listed.
        let plan3 = super::plan(&[], &only, &old, None).unwrap();
        assert_eq!(plan3.base.unwrap().join(" "), "--only e2e,loopback --json");
        let plan4 = super::plan(&[], &[], &old, Some(&known)).unwrap();
        assert_eq!(plan4.base.unwrap(), ["--json"]);

        // A base without --json cannot be read.
        assert!(super::plan(&[], &[], &set(&["--only"]), None).is_err());
    }
}
