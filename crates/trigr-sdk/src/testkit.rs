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
//! [`TestServer::stop`], and has one known dev key ([`KEY`]).

use std::time::Duration;

use crate::{Client, Run, Worker};

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

/// A running server with a temporary store.
pub struct TestServer {
    url: String,
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
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let config = trigr_server::Config {
            listen: "127.0.0.1:0".parse().expect("listen address"),
            data_dir: dir.path().to_path_buf(),
            dev_secret_key: Some(KEY.into()),
            lease_timeout: options.lease_timeout,
            timer_interval: Duration::from_millis(20),
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        };
        let running = trigr_server::start(config)
            .await
            .expect("the test server starts");
        TestServer {
            url: format!("http://{}", running.addr()),
            running,
            _dir: dir,
        }
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

    /// Stops the server and removes its store.
    pub async fn stop(self) {
        let TestServer { running, _dir, .. } = self;
        running.shutdown().await;
    }
}
