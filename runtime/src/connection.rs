//! Connecting to NATS, configured the same way by every Herald binary.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, ServerAddr};

/// The longest any single NATS request may take (a read, a KV put, a publish ack).
/// Kept under 2 s so the api can answer 503 within the 2 s DESIGN.md promises.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// How often the client pings its server. Three pings unanswered (about 3 s) and
/// the connection counts as lost: a frozen or cut-off node is left for another of
/// the cluster in seconds, not when it comes back.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

/// A JetStream context whose requests give up after [`REQUEST_TIMEOUT`].
pub fn jetstream(client: Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::ContextBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .build(client)
}

/// How to reach NATS; flattened into each binary's configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsConfig {
    /// NATS server URL(s), comma-separated for a cluster.
    #[arg(
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
        }
    }
}

impl NatsConfig {
    /// A config pointing at `url`, for tests and tools.
    pub fn at(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    /// Connects as `client_name`, logging connection events and handing each to
    /// `on_event` (the api uses that to re-check waiters after a reconnect).
    ///
    /// The first connection is retried in the background, so a process may start
    /// before its NATS server does; callers find out through their first request.
    pub async fn connect(
        &self,
        client_name: &str,
        on_event: impl Fn(&Event) + Send + Sync + 'static,
    ) -> anyhow::Result<Client> {
        let servers = self.servers()?;
        let on_event = std::sync::Arc::new(on_event);
        ConnectOptions::new()
            .name(client_name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .ping_interval(PING_INTERVAL)
            // Cap reconnect back-off low: a restarted server should be used within a second.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(1_000))
            })
            .event_callback(move |event| {
                let on_event = on_event.clone();
                async move {
                    match &event {
                        Event::Connected => tracing::info!("connected to NATS"),
                        Event::Disconnected => tracing::warn!("disconnected from NATS"),
                        Event::Closed => tracing::info!("NATS connection closed"),
                        Event::Draining => tracing::info!("draining the NATS connection"),
                        other => tracing::warn!(event = %other, "NATS event"),
                    }
                    on_event(&event);
                }
            })
            .connect(servers)
            .await
            .map_err(|e| {
                anyhow::Error::from(e).context(format!("connecting to NATS at {}", self.url))
            })
    }

    /// The server addresses in `url`, which may list several separated by commas.
    pub fn servers(&self) -> anyhow::Result<Vec<ServerAddr>> {
        self.url
            .split(',')
            .map(|url| {
                url.trim()
                    .parse::<ServerAddr>()
                    .map_err(|e| anyhow::anyhow!("bad NATS URL {url:?}: {e}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_a_comma_separated_list() {
        let config = NatsConfig::at("nats://a:4222, nats://b:4223,c:4224");
        let servers = config.servers().expect("valid");
        assert_eq!(servers.len(), 3);
        assert_eq!(servers[1].port(), 4223);
        assert!(NatsConfig::at("nats://a:notaport").servers().is_err());
    }
}
