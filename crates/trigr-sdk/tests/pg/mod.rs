//! PostgreSQL for the SDK tests that run servers on it: a fresh schema per test in the
//! database `TRIGR_TEST_DATABASE_URL` names, dropped at the end.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `None` after saying why a PostgreSQL test does not run; a panic instead with
/// `TRIGR_REQUIRE_POSTGRES=1`.
pub fn skipped<T>(reason: &str) -> Option<T> {
    if std::env::var("TRIGR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("PostgreSQL is required (TRIGR_REQUIRE_POSTGRES=1) but {reason}");
    }
    println!("PostgreSQL suite skipped: {reason}");
    None
}

/// Runs SQL on a plain thread (the sync client must not run on the async runtime's threads).
pub fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        config.connect_timeout(Duration::from_secs(3));
        let mut client =
            config
                .connect(postgres::NoTls)
                .map_err(|e| match std::error::Error::source(&e) {
                    Some(cause) => format!("cannot connect to {url}: {e}: {cause}"),
                    None => format!("cannot connect to {url}: {e}"),
                })?;
        client.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the SQL thread panicked".into()))
}

/// A fresh schema in the shared database, dropped when this is.
pub struct Schema {
    base_url: String,
    name: String,
}

impl Schema {
    /// A schema named `<prefix>_<pid>_<nanos>_<n>`.
    pub fn create(prefix: &str) -> Option<Schema> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base_url = std::env::var("TRIGR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let name = format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        match run_sql(&base_url, &format!("CREATE SCHEMA {name}")) {
            Ok(()) => Some(Schema { base_url, name }),
            Err(reason) => skipped(&format!("{reason} (set TRIGR_TEST_DATABASE_URL)")),
        }
    }

    /// The base URL with this schema as its search path.
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = run_sql(
            &self.base_url,
            &format!(
                "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ),
        );
    }
}
