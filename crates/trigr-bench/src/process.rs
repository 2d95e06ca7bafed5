//! A `trigr server` child process, for server options the in-process servers are not given.
//!
//! The servers of the benchmark run inside its process (see [`crate::server`]), configured
//! through `trigr_server::Config`. An option given to the benchmark as a server flag, such as
//! `--redis-url` (the mollifier's Redis buffer), is passed on the command line of the real
//! binary instead: `trigr server` found beside the `trigr-bench` executable
//! (`cargo build --release -p trigr -p trigr-bench` puts both in `target/release/`), on port
//! 0, with the benchmark's keys and mollifier settings. Its address is read from the
//! `trigr listening on http://…` line it prints; what it writes to stderr is kept (the last
//! lines) to explain a failed start. Stopping it kills it: its store is dropped right after.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::scenarios::Settings;
use crate::server::{KEY, STAGING_KEY};

/// How long the child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of the child's stderr kept for error messages.
const STDERR_LINES: usize = 20;
/// The line `trigr server` prints once it listens.
const LISTENING: &str = "trigr listening on http://";

/// A running `trigr server` child process.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `trigr server` on `database_url` (else on a store in `data_dir`) with the
    /// benchmark's keys and mollifier settings, plus `extra` arguments; returns once it prints
    /// its address.
    pub async fn start(
        database_url: Option<&str>,
        data_dir: &Path,
        settings: &Settings,
        extra: &[String],
    ) -> Result<ServerProcess> {
        let binary = binary()?;
        let mut args = vec![
            "server".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--dev-secret-key".into(),
            KEY.into(),
            "--staging-secret-key".into(),
            STAGING_KEY.into(),
            "--no-access-log".into(),
            "--mollifier".into(),
            settings.mollifier.as_str().into(),
        ];
        if let Some(url) = database_url {
            args.extend(["--database-url".into(), url.to_string()]);
        }
        if let Some(rate) = settings.mollifier_drain_rate {
            args.extend(["--mollifier-drain-rate".into(), rate.to_string()]);
        }
        if let Some(admit) = settings.mollifier_admit {
            args.extend(["--mollifier-admit".into(), admit.to_string()]);
        }
        if settings.metrics {
            args.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
        }
        args.extend(extra.iter().cloned());
        let mut child = Command::new(&binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = keep_tail(child.stderr.take());
        let addr = tokio::task::spawn_blocking({
            let stdout = child.stdout.take();
            move || wait_for_address(stdout)
        })
        .await?;
        match addr {
            Ok(addr) => Ok(ServerProcess { child, addr }),
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                let tail: Vec<String> = stderr
                    .and_then(|thread| thread.join().ok())
                    .map(Vec::from)
                    .unwrap_or_default();
                Err(e.context(format!(
                    "{} {} ({status}) wrote on stderr:\n{}",
                    binary.display(),
                    without_urls(&args).join(" "),
                    tail.join("\n")
                )))
            }
        }
    }

    /// The address the server listens on.
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `args` with the values of URL flags (which may hold passwords) left out.
fn without_urls(args: &[String]) -> Vec<String> {
    let mut shown = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        shown.push(match hide_next {
            true => "<url>".to_string(),
            false => arg.clone(),
        });
        hide_next = arg.ends_with("-url");
    }
    shown
}

/// `trigr` beside this executable.
fn binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding the trigr-bench executable")?;
    let binary = me.with_file_name(format!("trigr{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        bail!(
            "{} is missing: a server started with a server flag runs the trigr binary beside \
             trigr-bench (cargo build --release -p trigr -p trigr-bench)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Reads the child's stdout until it prints its address (within [`START_TIMEOUT`]), then
/// keeps reading it on the same thread until it closes, so the child never blocks on it.
fn wait_for_address(stdout: Option<impl Read + Send + 'static>) -> Result<SocketAddr> {
    let stdout = stdout.ok_or_else(|| anyhow!("the server's stdout was not captured"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("trigr-bench-server-stdout".into())
        .spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let (false, Some(addr)) = (sent, line.trim().strip_prefix(LISTENING)) {
                    sent = tx.send(addr.trim_end_matches('/').to_string()).is_ok();
                }
            }
        })
        .context("starting a thread for the server's stdout")?;
    let text = rx.recv_timeout(START_TIMEOUT).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => anyhow!(
            "the server did not print `{LISTENING}…` within {} s",
            START_TIMEOUT.as_secs()
        ),
        mpsc::RecvTimeoutError::Disconnected => {
            anyhow!("the server closed its stdout without printing `{LISTENING}…`")
        }
    })?;
    text.parse()
        .with_context(|| format!("the server printed an address that is not one: {text}"))
}

/// Reads the child's stderr on a thread of its own until it closes; the thread returns its
/// last [`STDERR_LINES`] lines.
fn keep_tail(stderr: Option<impl Read + Send + 'static>) -> Option<JoinHandle<VecDeque<String>>> {
    let stderr = stderr?;
    std::thread::Builder::new()
        .name("trigr-bench-server-stderr".into())
        .spawn(move || {
            let mut kept = VecDeque::with_capacity(STDERR_LINES);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if kept.len() == STDERR_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
            kept
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_left_out_of_messages() {
        let args: Vec<String> = [
            "server",
            "--database-url",
            "postgres://u:secret@h/db",
            "--redis-url",
            "redis://:pw@h:6379",
            "--mollifier",
            "on",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            without_urls(&args).join(" "),
            "server --database-url <url> --redis-url <url> --mollifier on"
        );
    }
}
