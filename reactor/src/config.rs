//! The reactor's configuration: flags, with environment variables as fallbacks.

use std::time::Duration;

use herald_contract::TopologyConfig;
use herald_runtime::NatsConfig;

/// Herald's reactor: consumes commands, writes the read model, announces outcomes.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "reactor", version)]
pub struct Config {
    #[command(flatten)]
    pub nats: NatsConfig,

    #[command(flatten)]
    pub topology: TopologyConfig,

    #[command(flatten)]
    pub log: herald_runtime::process::LogConfig,

    /// Artificial processing delay per command in milliseconds, to demonstrate and
    /// test a slow read model (0 in production).
    #[arg(long, env = "REACTOR_DELAY_MS", default_value_t = 0)]
    pub delay_ms: u64,

    /// Commands processed at the same time by this instance.
    #[arg(long, env = "REACTOR_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,

    /// Deliveries of one command before it is given up as failed.
    #[arg(long, env = "REACTOR_MAX_DELIVER", default_value_t = 10,
          value_parser = clap::value_parser!(i64).range(2..))]
    pub max_deliver: i64,

    /// Seconds a delivered command may stay unacknowledged before it is
    /// redelivered: how soon a command held by a reactor that died goes to another
    /// (a working reactor tells the server it is alive every half of it).
    #[arg(long, env = "REACTOR_ACK_WAIT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ack_wait_secs: u64,

    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `0.0.0.0:9090`;
    /// none by default.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Config {
    /// The defaults, pointed at `nats_url`; for tests that start the reactor in-process.
    pub fn with_nats_url(nats_url: impl Into<String>) -> Self {
        Self {
            nats: NatsConfig::at(nats_url),
            topology: TopologyConfig::default(),
            log: herald_runtime::process::LogConfig::default(),
            delay_ms: 0,
            concurrency: 64,
            max_deliver: 10,
            ack_wait_secs: 5,
            metrics_addr: None,
        }
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }
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
