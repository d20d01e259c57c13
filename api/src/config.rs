//! The api's configuration: flags, with environment variables as fallbacks.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use herald_contract::TopologyConfig;
use herald_runtime::NatsConfig;

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

    /// Origins allowed to call the api from a browser (CORS), comma-separated, such
    /// as `https://app.example.com`. Empty: same origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<HeaderValue>,

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
            cors_allowed_origins: Vec::new(),
        }
    }

    pub fn status_recheck(&self) -> Duration {
        Duration::from_secs(self.status_recheck_secs)
    }

    pub fn sse_heartbeat(&self) -> Duration {
        Duration::from_secs(self.sse_heartbeat_secs)
    }
}

/// An origin is `scheme://host[:port]`, nothing more.
fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let text = text.trim();
    let valid = (text.starts_with("http://") || text.starts_with("https://"))
        && !text.trim_end_matches('/').contains(['?', '#'])
        && text
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if !valid {
        return Err(format!(
            "{text:?} is not an origin like https://app.example.com"
        ));
    }
    HeaderValue::from_str(text).map_err(|e| e.to_string())
}
