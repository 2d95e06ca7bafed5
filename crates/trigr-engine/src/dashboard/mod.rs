//! The dashboard's sign-ins and figures.
//!
//! A browser signs in with an environment's secret key ([`crate::Engine::sign_in_with_key`]) or a
//! one-time link an operator made ([`crate::Engine::create_dashboard_link`], redeemed by
//! [`crate::Engine::sign_in_with_link`]); either way it gets a session secret for its cookie, which
//! grants a list of environments for [`SESSION_TTL`]. Sessions and links are stored only as
//! hashes of their secrets, so every server of a cluster honours them and a copy of the
//! database signs nobody in. [`crate::Engine::overview`] counts finished runs per time bucket for the
//! overview's chart; [`crate::Engine::recent_batches`] lists batches with their progress.

mod batches;
mod link;
mod overview;
mod session;

pub use batches::{BatchProgress, MAX_BATCHES};
pub use link::{LinkTarget, MAX_LINK_TTL};
pub use overview::{Overview, OverviewBucket};
pub use session::SignedIn;

use std::time::Duration;

/// How long a dashboard session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A new secret for a session or a link: the prefix and 43 random letters and digits (256
/// bits, from the operating system's seeded generator).
fn new_secret(prefix: &str) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 43)
    )
}
