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
}

impl Config {
    /// The defaults, pointed at `nats_url`; for tests that start the reactor in-process.
    pub fn with_nats_url(nats_url: impl Into<String>) -> Self {
        Self {
            nats: NatsConfig::at(nats_url),
            topology: TopologyConfig::default(),
            delay_ms: 0,
            concurrency: 64,
            max_deliver: 10,
            ack_wait_secs: 5,
        }
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }
}
