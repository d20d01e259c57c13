//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use herald_read_model::ReadModel;
use tokio_util::sync::CancellationToken;

use crate::completion::Hub;
use crate::publish::Publisher;
use crate::recent::RecentCommands;

/// Cloned per request, so everything inside is behind one `Arc`.
pub type SharedState = Arc<AppState>;

#[derive(Debug)]
pub struct AppState {
    pub client: async_nats::Client,
    pub publisher: Publisher,
    pub read_model: ReadModel,
    pub hub: Hub,
    pub recent: RecentCommands,
    /// Set once the stream and buckets have been created or updated.
    pub topology_ready: Arc<AtomicBool>,
    /// Fires when the api shuts down; open event streams end on it.
    pub shutdown: CancellationToken,
    pub status_recheck: Duration,
    pub sse_heartbeat: Duration,
}
