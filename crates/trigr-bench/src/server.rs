//! The server under test: started in this process on a fresh temporary store, with a known dev
//! secret key, and stopped (store flushed, directory removed) after each scenario run.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::api::Api;

/// Dev environment key seeded into every benchmark store (`tr_dev_` + 24 alphanumerics).
pub const KEY: &str = "tr_dev_benchkey0000000000000001";

/// A running in-process server and a client for it.
pub struct BenchServer {
    running: trigr_server::Running,
    pub api: Api,
    // Declared last so it is removed after the server has stopped.
    _dir: tempfile::TempDir,
}

impl BenchServer {
    /// Starts a server on a new temporary data directory, listening on a free local port, with
    /// the default (durable) store settings, and waits until `/healthz` answers.
    pub async fn start() -> Result<BenchServer> {
        let dir = tempfile::Builder::new()
            .prefix("trigr-bench-")
            .tempdir()
            .context("creating the temporary data directory")?;
        let config = trigr_server::Config {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().to_path_buf(),
            dev_secret_key: Some(KEY.into()),
            ..Default::default()
        };
        let running = trigr_server::start(config)
            .await
            .context("starting the server")?;
        let api = Api::new(running.addr(), KEY)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !api.healthy().await {
            if Instant::now() > deadline {
                running.shutdown().await;
                bail!("GET /healthz did not answer 200 within 10 s of start");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(BenchServer {
            running,
            api,
            _dir: dir,
        })
    }

    /// Stops the server (finishing requests in flight and flushing the store) and removes the
    /// data directory.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}
