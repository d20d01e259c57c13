//! The api's configuration: flags, with environment variables as fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use herald_contract::TopologyConfig;
use herald_runtime::NatsConfig;

/// Herald's HTTP api: accepts commands, serves the read model, streams completions.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "api", version)]
pub struct Config {
    /// Seconds a shutdown (SIGTERM) may take: held waits are answered at once,
    /// event streams told to come back, requests in flight finished, and what
    /// is still open after this is closed.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(2..=600))]
    pub shutdown_timeout_secs: u64,

    /// Address the HTTP server listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,

    #[command(flatten)]
    pub nats: NatsConfig,

    #[command(flatten)]
    pub topology: TopologyConfig,

    #[command(flatten)]
    pub log: herald_runtime::process::LogConfig,

    /// Origins allowed to call the api from a browser (CORS), comma-separated, such
    /// as `https://app.example.com`. Empty: same origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<HeaderValue>,

    /// Seconds between comment heartbeats on open event streams.
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_heartbeat_secs: u64,

    /// Event streams (a command's, many commands', the global feed) this process
    /// holds open at most; over it, `503` with `Retry-After`.
    #[arg(long, env = "MAX_EVENT_STREAMS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_event_streams: u64,

    /// POSTs held open by `Prefer: wait` at most; over it, a POST is answered at
    /// once (`202`), as if it had not asked to wait.
    #[arg(long, env = "MAX_WAIT_HOLDS", default_value_t = 10_000)]
    pub max_wait_holds: u64,

    /// Seconds a connection may take to send a request's headers (and stay idle
    /// between requests) before it is closed: a client that sends half a request
    /// and nothing more cannot hold a connection.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,

    #[command(flatten)]
    pub tls: TlsConfig,
}

/// Serving TLS (and with it HTTP/2, negotiated by ALPN) without a proxy.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsConfig {
    /// The certificate chain to serve HTTPS with (PEM); with `--tls-key`.
    #[arg(
        id = "tls_cert",
        long = "tls-cert",
        env = "TLS_CERT",
        requires = "tls_key"
    )]
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(
        id = "tls_key",
        long = "tls-key",
        env = "TLS_KEY",
        requires = "tls_cert"
    )]
    pub key: Option<PathBuf>,
}

impl Config {
    /// The defaults, pointed at `nats_url`; for tests and tools that start the api in-process.
    pub fn with_nats_url(nats_url: impl Into<String>) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_timeout_secs: 5,
            nats: NatsConfig::at(nats_url),
            topology: TopologyConfig::default(),
            log: herald_runtime::process::LogConfig::default(),
            sse_heartbeat_secs: 15,
            cors_allowed_origins: Vec::new(),
            max_event_streams: 20_000,
            max_wait_holds: 10_000,
            header_read_timeout_secs: 10,
            tls: TlsConfig::default(),
        }
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
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

#[cfg(test)]
mod command_line {
    use clap::CommandFactory;

    /// clap checks the flags only when they are parsed: every name unique,
    /// every `requires` naming a flag that exists.
    #[test]
    fn the_flags_are_consistent() {
        super::Config::command().debug_assert();
    }
}
