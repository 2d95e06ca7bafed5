//! `server_rss_mb`, `server_cpu_s_per_10k`: what the server itself costs for the e2e workload.
//!
//! The e2e scenario runs with the server inside the benchmark, so its clients' and workers'
//! costs mix with the server's. Here the same workload ([`super::e2e::run`], SQLite) runs
//! against the real `trigr server` binary as a child process, and the kernel's accounts of
//! that process are read: its peak resident memory (`VmHWM` of `/proc/<pid>/status`) after
//! the workload, and the CPU time it used during it (user plus system, from
//! `/proc/<pid>/stat`), per 10,000 runs. The goals: at most 50 MB and 1.5 CPU-seconds
//! per 10,000 runs.

use anyhow::{anyhow, bail, Context, Result};

use super::{e2e, Outcome, Settings};
use crate::api::Api;
use crate::report::{SERVER_CPU_S_PER_10K, SERVER_RSS_MB};

/// Clock ticks per second of the CPU times in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux
/// whatever the kernel's own tick rate).
const TICKS_PER_S: f64 = 100.0;

pub async fn run(apis: &[Api], pids: &[u32], settings: &Settings) -> Result<Outcome> {
    let [pid] = pids else {
        bail!("the server-cost scenario wants one server process, got {pids:?}");
    };
    let before = cpu_seconds(*pid)?;
    let workload = e2e::run(apis, settings).await?;
    let cpu = cpu_seconds(*pid)? - before;
    let rss_mb = peak_rss_kb(*pid)? as f64 / 1024.0;
    let per_10k = cpu * 10_000.0 / settings.runs as f64;
    Ok(Outcome {
        figures: vec![(&SERVER_RSS_MB, rss_mb), (&SERVER_CPU_S_PER_10K, per_10k)],
        detail: format!(
            "server process: peak {rss_mb:.1} MB resident, {cpu:.2} CPU-s for the workload ({})",
            workload.detail
        ),
    })
}

/// User plus system CPU time the process used so far, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("/proc/{pid}/stat has no command name: {stat}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line are 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| anyhow!("/proc/{pid}/stat field {} unreadable: {stat}", i + 3))
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_S)
}

/// The process's peak resident set size so far, in KiB.
pub(super) fn peak_rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("/proc/{pid}/status has no VmHWM line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_a_peak() {
        let pid = std::process::id();
        let spent = cpu_seconds(pid).unwrap();
        assert!(spent >= 0.0);
        let busy: u64 = (0..5_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        assert!(cpu_seconds(pid).unwrap() >= spent);
        assert!(peak_rss_kb(pid).unwrap() > 0);
    }
}
