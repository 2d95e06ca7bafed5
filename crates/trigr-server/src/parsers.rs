//! The server's parsers of client input, reachable from outside for the property-based
//! fuzzer (`trigr-fuzz`). Not an API: names and signatures follow the server's own code.

use std::sync::Arc;
use std::time::Duration;

use trigr_engine::timers::Timers;
use trigr_engine::Engine;

pub use crate::extract::{
    authenticate, nul_in_url, parse_json, query_token, whole_number, Auth, DATA_MEMBERS,
};
pub use crate::jwt::{sign_blob, verify, verify_blob, BlobClaims, LEEWAY_SECS};
pub use crate::routes::batches::{line_limit, ItemLimits, NdjsonLines};
pub use crate::routes::events::{options as event_options, Options as EventOptions};
pub use crate::routes::offset_page::{OffsetPage, MAX_PAGE_NUMBER};
pub use crate::routes::output_streams::read_options as stream_read_options;
pub use crate::routes::runs_list::{parse as run_list_query, ListQuery, Paging};
pub use crate::AppState;

/// The state the handlers see, over `engine`: an empty key cache, the system clock and a
/// timer loop that is never started.
pub fn app_state(engine: Engine) -> AppState {
    AppState {
        engine: engine.clone(),
        keys: Arc::new(crate::extract::KeyCache::default()),
        manual_clock: None,
        timers: Arc::new(Timers::new(engine.clone(), Duration::from_secs(1))),
        drainer: Arc::new(trigr_engine::mollifier::drainer::Drainer::new(engine)),
        faults: None,
        ws_ping: crate::Config::default().realtime_ws_ping,
        ws_slots: Arc::new(tokio::sync::Semaphore::new(
            crate::Config::default().connections.max_connections,
        )),
    }
}
