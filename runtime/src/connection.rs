//! Connecting to NATS, configured the same way by every Herald binary.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, ServerAddr};

use crate::backoff::Streak;

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

/// A secret from the command line or the environment: never shown, not by
/// `Debug`, not by `--help` (its variable's value is hidden there).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(Self(secret.to_owned()))
    }
}

/// How to reach NATS, and who to be there; flattened into each binary's
/// configuration. At most one way of authenticating is used: a credentials
/// file, an NKey seed, a token, or a user and password (checked at start).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsConfig {
    /// NATS server URL(s), comma-separated for a cluster; `tls://` requires TLS.
    #[arg(
        long = "nats-url",
        value_name = "URL",
        hide_env_values = true,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,

    /// User name, with `--nats-password`.
    #[arg(
        id = "nats_user",
        long = "nats-user",
        env = "NATS_USER",
        requires = "nats_password"
    )]
    pub user: Option<String>,

    /// Password of `--nats-user`.
    #[arg(
        id = "nats_password",
        long = "nats-password",
        env = "NATS_PASSWORD",
        hide_env_values = true,
        requires = "nats_user"
    )]
    pub password: Option<Secret>,

    /// Authentication token.
    #[arg(
        id = "nats_token",
        long = "nats-token",
        env = "NATS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    /// File holding an NKey seed (`SU…`) to sign the server's challenge with.
    #[arg(
        id = "nats_nkey_file",
        value_name = "FILE",
        long = "nats-nkey-file",
        env = "NATS_NKEY_FILE"
    )]
    pub nkey_file: Option<PathBuf>,

    /// A `.creds` file (a user JWT and its NKey seed), for servers in operator mode.
    #[arg(
        id = "nats_creds_file",
        long = "nats-creds-file",
        env = "NATS_CREDS_FILE"
    )]
    pub creds_file: Option<PathBuf>,

    /// PEM file of the certificate authorities that sign the server's certificate.
    #[arg(
        id = "nats_tls_ca",
        value_name = "FILE",
        long = "nats-tls-ca",
        env = "NATS_TLS_CA"
    )]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate, for servers that verify clients (with `--nats-tls-key`).
    #[arg(
        id = "nats_tls_cert",
        long = "nats-tls-cert",
        env = "NATS_TLS_CERT",
        requires = "nats_tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--nats-tls-cert`.
    #[arg(
        id = "nats_tls_key",
        long = "nats-tls-key",
        env = "NATS_TLS_KEY",
        requires = "nats_tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl NatsConfig {
    /// A config pointing at `url`, for tests and tools.
    pub fn at(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The connect options for who to be and how to talk: authentication and TLS.
    async fn secured(&self, options: ConnectOptions) -> anyhow::Result<ConnectOptions> {
        let ways = [
            self.creds_file.is_some(),
            self.nkey_file.is_some(),
            self.token.is_some(),
            self.user.is_some(),
        ];
        if ways.iter().filter(|way| **way).count() > 1 {
            anyhow::bail!(
                "choose one way to authenticate to NATS: a creds file, an NKey, a token, or a user and password"
            );
        }
        let mut options = options;
        if let Some(path) = &self.creds_file {
            options = options.credentials_file(path).await.map_err(|error| {
                anyhow::anyhow!(
                    "reading the NATS credentials file {}: {error}",
                    path.display()
                )
            })?;
        }
        if let Some(path) = &self.nkey_file {
            let seed = std::fs::read_to_string(path).map_err(|error| {
                anyhow::anyhow!(
                    "reading the NATS NKey seed file {}: {error}",
                    path.display()
                )
            })?;
            options = options.nkey(seed.trim().to_owned());
        }
        if let Some(token) = &self.token {
            options = options.token(token.expose().to_owned());
        }
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        if self
            .url
            .split(',')
            .any(|url| url.trim().starts_with("tls://"))
        {
            options = options.require_tls(true);
        }
        Ok(options)
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
        // While NATS is unreachable or refuses us, every reconnect attempt (up to
        // one a second) reports the same error: each kind is said once, clearly,
        // then tried again quietly until the process connects, so an outage is a
        // few lines, and an operator who fixes the credentials or the server sees
        // the process connect without a restart.
        let said = std::sync::Arc::new(Said::default());
        let url = self.redacted_url();
        self.secured(ConnectOptions::new())
            .await?
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
                let (said, url) = (said.clone(), url.clone());
                async move {
                    let refused = matches!(&event, Event::ClientError(_) | Event::ServerError(_))
                        && event.to_string().contains("authorization violation");
                    if refused {
                        metrics::counter!("herald_nats_events_total", "event" => "refused")
                            .increment(1);
                        if Said::first(&said.refused) {
                            tracing::error!(
                                server = %url,
                                "NATS refused the credentials (authorization violation); retrying"
                            );
                        }
                        return;
                    }
                    let (name, connected) = match &event {
                        Event::Connected => ("connected", Some(1.0)),
                        Event::Disconnected => ("disconnected", Some(0.0)),
                        Event::Closed => ("closed", Some(0.0)),
                        Event::SlowConsumer(_) => ("slow_consumer", None),
                        Event::LameDuckMode => ("lame_duck", None),
                        Event::Draining => ("draining", None),
                        _ => ("other", None),
                    };
                    metrics::counter!("herald_nats_events_total", "event" => name).increment(1);
                    if let Some(connected) = connected {
                        metrics::gauge!("herald_nats_connected").set(connected);
                    }
                    match &event {
                        Event::Connected => {
                            said.reset();
                            tracing::info!("connected to NATS");
                        }
                        Event::Disconnected => tracing::warn!("disconnected from NATS"),
                        Event::Closed => tracing::info!("NATS connection closed"),
                        Event::Draining => tracing::info!("draining the NATS connection"),
                        // What a failed reconnect attempt reports (a server's own
                        // errors, such as a permission refused, are each said).
                        Event::ClientError(error) => {
                            if Said::first(&said.unreachable) {
                                tracing::warn!(
                                    server = %url,
                                    %error,
                                    "cannot reach NATS; retrying quietly until it answers"
                                );
                            }
                        }
                        other => tracing::warn!(event = %other, "NATS event"),
                    }
                    on_event(&event);
                }
            })
            .connect(servers)
            .await
            .map_err(|e| {
                anyhow::Error::from(e)
                    .context(format!("connecting to NATS at {}", self.redacted_url()))
            })
    }

    /// `url` with any `user:password@` in it blanked, for messages.
    pub fn redacted_url(&self) -> String {
        self.url
            .split(',')
            .map(|url| redact(url.trim()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server addresses in `url`, which may list several separated by commas.
    pub fn servers(&self) -> anyhow::Result<Vec<ServerAddr>> {
        self.url
            .split(',')
            .map(|url| {
                url.trim()
                    .parse::<ServerAddr>()
                    .map_err(|e| anyhow::anyhow!("bad NATS URL {:?}: {e}", redact(url.trim())))
            })
            .collect()
    }
}

/// The connection's two repeated errors, each a [`Streak`] that a connect ends.
/// Behind locks because every call of the event callback shares them.
#[derive(Debug, Default)]
struct Said {
    refused: Mutex<Streak>,
    unreachable: Mutex<Streak>,
}

impl Said {
    /// Whether this failure is the first since the last connect.
    fn first(streak: &Mutex<Streak>) -> bool {
        streak
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed()
    }

    /// Connected: each error is said again if it comes back.
    fn reset(&self) {
        for streak in [&self.refused, &self.unreachable] {
            streak
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .worked();
        }
    }
}

/// One server URL with its `user:password@` (if any, with or without a scheme) blanked.
fn redact(url: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .map_or(("", url), |(scheme, rest)| (scheme, rest));
    match rest.rsplit_once('@') {
        Some((_, host)) if scheme.is_empty() => format!("***@{host}"),
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => url.to_owned(),
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

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        let config = NatsConfig::at("nats://herald:pw@a:4222,tls://b:4223");
        assert_eq!(config.redacted_url(), "nats://***@a:4222,tls://b:4223");
        assert_eq!(
            NatsConfig::at("herald:pw@c:4222").redacted_url(),
            "***@c:4222"
        );
        let error = NatsConfig::at("nats://herald:pw@a:notaport")
            .servers()
            .expect_err("a bad port");
        assert!(!error.to_string().contains("pw"), "{error}");
    }
}
