//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use herald_read_model::ReadModel;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::outcomes::Outcomes;
use crate::publish::Publisher;
use crate::sse::{Beat, Streams};

/// Cloned per request, so everything inside is behind one `Arc`.
pub type SharedState = Arc<AppState>;

#[derive(Debug)]
pub struct AppState {
    pub client: async_nats::Client,
    pub publisher: Publisher,
    pub read_model: ReadModel,
    /// Every outcome the process hears of, and who waits for which.
    pub outcomes: Outcomes,
    /// The cap on open event streams.
    pub streams: Streams,
    /// The cap on POSTs held open by `Prefer: wait` (counted like streams).
    pub holds: Streams,
    /// The process-wide heartbeat of event streams, and their end at shutdown.
    pub pulse: watch::Receiver<Beat>,
    /// Set once the stream and buckets have been created or updated.
    pub topology_ready: Arc<AtomicBool>,
    /// Fires when the api shuts down.
    pub shutdown: CancellationToken,
}
