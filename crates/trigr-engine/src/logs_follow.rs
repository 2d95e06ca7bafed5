//! Following a run's logs: a read of the lines after a cursor that waits (up to a limit) for
//! the next line when there is none yet, unless the run is final (then none will come).
//!
//! A worker's append rings the run's signal ([`Engine::append_logs`]); a reader on another
//! server of the same database sees new lines on its next poll.

use std::time::Duration;

use trigr_store::LogEntry;

use crate::{Engine, Error, Result};

/// Longest wait of one read.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The name of the signal rung when lines are added to a run's log.
pub(crate) fn signal_name(run_id: &str) -> String {
    format!("run-logs:{run_id}")
}

/// A page of a run's log and whether the run was final when it was read.
#[derive(Clone, Debug)]
pub struct LogPage {
    pub lines: Vec<LogEntry>,
    /// More lines follow this page now.
    pub more: bool,
    pub run_final: bool,
}

impl Engine {
    /// Up to `size` lines after the cursor; when there is none and the run is not final,
    /// waits up to `wait` for one.
    pub async fn follow_run_logs(
        &self,
        env_id: &str,
        run_id: &str,
        after: Option<i64>,
        size: usize,
        wait: Duration,
    ) -> Result<LogPage> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let name = signal_name(run_id);
        let page = loop {
            let signal = self.notifier.env(&name);
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let page = self.log_page(env_id, run_id, after, size).await;
            let now = tokio::time::Instant::now();
            let done = match &page {
                Ok(p) => !p.lines.is_empty() || p.run_final,
                Err(_) => true,
            };
            if done || now >= deadline || self.notifier.is_closing() {
                break page;
            }
            let nap = (deadline - now).min(self.config.poll_interval);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        };
        self.notifier.release(&name);
        page
    }

    async fn log_page(
        &self,
        env_id: &str,
        run_id: &str,
        after: Option<i64>,
        size: usize,
    ) -> Result<LogPage> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            // The run first: a final run takes no more lines, so none can follow these.
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let mut lines = tx.logs(&run_id, after, size + 1)?;
            let more = lines.len() > size;
            lines.truncate(size);
            Ok(LogPage {
                lines,
                more,
                run_final: run.status.is_final(),
            })
        })
        .await
    }
}
