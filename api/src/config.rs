//! The api's configuration: flags, with environment variables as fallbacks.

use std::net::SocketAddr;
use std::time::Duration;

use herald_contract::{NatsConfig, TopologyConfig};

/// Herald's HTTP api: accepts commands, serves the read model, streams completions.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "api", version)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,

    #[command(flatten)]
    pub nats: NatsConfig,

    #[command(flatten)]
    pub topology: TopologyConfig,

    /// Seconds between re-reads of a waiting command's status, the backstop for a
    /// lost notification (reconnects trigger a re-read at once).
    #[arg(long, env = "STATUS_RECHECK_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub status_recheck_secs: u64,

    /// Seconds between comment heartbeats on open event streams.
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_heartbeat_secs: u64,
}

impl Config {
    /// The defaults, pointed at `nats_url`; for tests and tools that start the api in-process.
    pub fn with_nats_url(nats_url: impl Into<String>) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: NatsConfig::at(nats_url),
            topology: TopologyConfig::default(),
            status_recheck_secs: 15,
            sse_heartbeat_secs: 15,
        }
    }

    pub fn status_recheck(&self) -> Duration {
        Duration::from_secs(self.status_recheck_secs)
    }

    pub fn sse_heartbeat(&self) -> Duration {
        Duration::from_secs(self.sse_heartbeat_secs)
    }
}
