//! A temporary trigr server in this process, for tests of your own tasks (feature `testkit`).
//!
//! ```no_run
//! use trigr_sdk::{task, testkit::TestServer};
//!
//! #[tokio::test]
//! async fn greets() {
//!     let server = TestServer::start().await;
//!     let hello = task("hello").run(|name: String, _ctx| async move { Ok(format!("Hi {name}")) });
//!     let worker = server.worker().task(hello.clone()).start().await.unwrap();
//!     let handle = server.client().trigger(&hello, &"Ada".to_string()).await.unwrap();
//!     let run = server.wait_for_run(&handle.id).await;
//!     assert_eq!(run.output_as::<String>().unwrap().as_deref(), Some("Hi Ada"));
//!     worker.shutdown().await.unwrap();
//!     server.stop().await;
//! }
//! ```
//!
//! The server keeps its runs in a SQLite file in a temporary directory, removed by
//! [`TestServer::stop`], and has one known dev key ([`KEY`]). [`TestServer::builder`] runs it
//! on another database (PostgreSQL) or with a manual clock, moved by
//! [`TestServer::advance_clock`], so that tests of long waits and time-outs do not wait:
//!
//! ```no_run
//! # use std::time::Duration;
//! # use trigr_sdk::{task, testkit::TestServer, RunStatus};
//! # async fn demo() {
//! let server = TestServer::builder().test_clock(true).start().await;
//! let nap = task("nap").run(|_: (), ctx| async move { ctx.wait_for(Duration::from_secs(3600)).await?; Ok(()) });
//! let worker = server.worker().task(nap.clone()).start().await.unwrap();
//! let handle = server.client().trigger(&nap, &()).await.unwrap();
//! server.wait_for_status(&handle.id, RunStatus::Waiting).await;
//! server.advance_clock(Duration::from_secs(3600)).await;
//! assert_eq!(server.wait_for_run(&handle.id).await.status, RunStatus::Completed);
//! # worker.shutdown().await.unwrap();
//! # }
//! ```

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::http::Tries;
use crate::{Client, Run, RunStatus, Worker};

/// The dev environment's secret key on every test server.
pub const KEY: &str = "tr_dev_sdktest00000000000000001";

/// Settings of a test server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Lease of a dequeued run without a heartbeat (default 30 s). Short leases make tests of
    /// crashed workers fast.
    pub lease_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lease_timeout: Duration::from_secs(30),
        }
    }
}

/// Builds a test server with more settings than [`Options`] ([`TestServer::builder`]).
#[derive(Clone, Debug, Default)]
pub struct Builder {
    options: Options,
    database_url: Option<String>,
    test_clock: bool,
}

impl Builder {
    /// Lease of a dequeued run without a heartbeat (default 30 s).
    pub fn lease_timeout(mut self, lease: Duration) -> Self {
        self.options.lease_timeout = lease;
        self
    }

    /// Keeps the runs in this database (`postgres://…`, `sqlite://…`) instead of a SQLite file
    /// in a temporary directory. The database is not emptied before or after: give each server
    /// a fresh one (for PostgreSQL, a fresh schema through `?options=-c%20search_path%3D…`).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Runs the server on a manual clock: its time (waits, timeouts, delays, leases) stands
    /// still until [`TestServer::advance_clock`] moves it.
    pub fn test_clock(mut self, manual: bool) -> Self {
        self.test_clock = manual;
        self
    }

    /// Starts the server.
    pub async fn start(self) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let config = trigr_server::Config {
            listen: "127.0.0.1:0".parse().expect("listen address"),
            data_dir: dir.path().to_path_buf(),
            database_url: self.database_url,
            dev_secret_key: Some(KEY.into()),
            lease_timeout: self.options.lease_timeout,
            test_clock: self.test_clock,
            timer_interval: Duration::from_millis(20),
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        };
        let running = trigr_server::start(config)
            .await
            .expect("the test server starts");
        TestServer {
            url: format!("http://{}", running.addr()),
            test_clock: self.test_clock,
            running,
            _dir: dir,
        }
    }
}

/// A running server with a temporary store.
pub struct TestServer {
    url: String,
    test_clock: bool,
    running: trigr_server::Running,
    // Declared last so it is removed after the server has stopped.
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with default settings.
    pub async fn start() -> TestServer {
        TestServer::start_with(Options::default()).await
    }

    /// Starts a server with these settings.
    pub async fn start_with(options: Options) -> TestServer {
        Builder {
            options,
            ..Builder::default()
        }
        .start()
        .await
    }

    /// A server with more settings: another database, a manual clock.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Base URL, like `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A management client of the dev environment.
    pub fn client(&self) -> Client {
        Client::new(&self.url, KEY).expect("a client of the test server")
    }

    /// A worker of the dev environment, tuned for tests: short polls, a short shutdown.
    pub fn worker(&self) -> Worker {
        Worker::new(self.client())
            .poll_wait(Duration::from_millis(500))
            .shutdown_timeout(Duration::from_secs(10))
    }

    /// Reads the run until it is final (at most 30 s; panics after that).
    pub async fn wait_for_run(&self, run_id: &str) -> Run {
        self.client()
            .poll_run(run_id, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("run {run_id} did not finish: {e}"))
    }

    /// Reads the run until it has `status` (at most 30 s; panics after that, or when the run
    /// ends in another final status first).
    pub async fn wait_for_status(&self, run_id: &str, status: RunStatus) -> Run {
        let client = self.client();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut delay = Duration::from_millis(10);
        loop {
            let run = client
                .retrieve_run(run_id)
                .await
                .unwrap_or_else(|e| panic!("run {run_id} could not be read: {e}"));
            if run.status == status {
                return run;
            }
            assert!(
                !run.status.is_final(),
                "run {run_id} ended {} while waiting for {status}: {run:?}",
                run.status
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id} is still {} after 30 s, not {status}",
                run.status
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    /// Moves the manual clock of a server started with [`Builder::test_clock`] forward by
    /// `by`, and fires what came due (waits, token time-outs, delays) before returning.
    /// Panics on a server with the real clock.
    pub async fn advance_clock(&self, by: Duration) {
        assert!(
            self.test_clock,
            "advance_clock needs a server started with TestServer::builder().test_clock(true)"
        );
        let body = json!({ "advanceMs": by.as_millis() as u64 });
        self.client()
            .http
            .send(Method::POST, "/api/v1/test/clock", Some(&body), Tries::Once)
            .await
            .unwrap_or_else(|e| panic!("the test clock did not move: {e}"));
    }

    /// Sets the server's manual clock to `at` (it may go back) and runs the timers once.
    pub async fn set_clock(&self, at: chrono::DateTime<chrono::Utc>) {
        assert!(
            self.test_clock,
            "set_clock needs a server started with TestServer::builder().test_clock(true)"
        );
        let body = json!({ "setMs": at.timestamp_millis() });
        self.client()
            .http
            .send(Method::POST, "/api/v1/test/clock", Some(&body), Tries::Once)
            .await
            .unwrap_or_else(|e| panic!("the test clock was not set: {e}"));
    }

    /// Stops the server and removes its store.
    pub async fn stop(self) {
        let TestServer { running, _dir, .. } = self;
        running.shutdown().await;
    }
}
