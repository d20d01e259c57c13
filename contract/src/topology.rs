//! The stream and buckets both binaries create or update at start-up.
//!
//! Creation is idempotent (`create_or_update`), so any number of api and reactor
//! instances may start in any order; replicas and the status TTL are configuration,
//! which is how the same code runs on one server or a three-node cluster. A process
//! that starts before its NATS server keeps trying ([`Topology::ensure_until`]).

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use herald_runtime::{Backoff, error_chain, retry};

use crate::names;

/// Sizing of the NATS objects; flattened into each binary's configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct TopologyConfig {
    /// Replicas of the stream and buckets (3 on a three-node cluster).
    #[arg(long, env = "NATS_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// How long a command's status is kept in the `commands` bucket, in seconds.
    #[arg(long, env = "COMMAND_STATUS_TTL_SECS", default_value_t = 24 * 60 * 60)]
    pub command_status_ttl_secs: u64,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            replicas: 1,
            command_status_ttl_secs: 24 * 60 * 60,
        }
    }
}

/// JetStream's de-duplication window on the command stream: a retried publish with
/// the same `Nats-Msg-Id` inside it is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Pauses between attempts to set the topology up while NATS is not there yet.
const SETUP_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

/// How long max-deliveries advisories are kept.
const ADVISORIES_KEPT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Handles to the NATS objects Herald uses.
#[derive(Debug, Clone)]
pub struct Topology {
    pub jetstream: jetstream::Context,
    pub commands: stream::Stream,
    /// Max-deliveries advisories of the reactors' consumer.
    pub advisories: stream::Stream,
    pub locations: kv::Store,
    pub statuses: kv::Store,
    pub names: kv::Store,
}

/// Why the topology could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("could not create or update stream {name}")]
    Stream {
        name: &'static str,
        #[source]
        source: jetstream::context::CreateStreamError,
    },
    #[error("could not read back a stream")]
    GetStream(#[source] jetstream::context::GetStreamError),
    #[error("could not create or update bucket {name}")]
    Bucket {
        name: &'static str,
        #[source]
        source: jetstream::context::CreateKeyValueError,
    },
}

impl Topology {
    /// Creates the streams and buckets, or brings existing ones up to `config`.
    pub async fn ensure(
        jetstream: &jetstream::Context,
        config: &TopologyConfig,
    ) -> Result<Self, TopologyError> {
        // Every stream: file storage, the configured replicas.
        let stream = |name: &'static str, subject: &str, tune: fn(&mut stream::Config)| {
            let mut stream_config = stream::Config {
                name: name.into(),
                subjects: vec![subject.into()],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                ..Default::default()
            };
            tune(&mut stream_config);
            let jetstream = jetstream.clone();
            async move {
                jetstream
                    .create_or_update_stream(stream_config)
                    .await
                    .map_err(|source| TopologyError::Stream { name, source })?;
                jetstream
                    .get_stream(name)
                    .await
                    .map_err(TopologyError::GetStream)
            }
        };
        let commands = stream(names::COMMANDS_STREAM, names::COMMANDS_SUBJECTS, |c| {
            c.duplicate_window = DUPLICATE_WINDOW;
        })
        .await?;
        stream(
            names::DEAD_LETTERS_STREAM,
            names::DEAD_LETTERS_SUBJECTS,
            |_| {},
        )
        .await?;
        let advisories = stream(
            names::ADVISORIES_STREAM,
            names::MAX_DELIVERIES_ADVISORY,
            |c| c.max_age = ADVISORIES_KEPT,
        )
        .await?;
        let bucket = |name: &'static str, max_age: Duration| {
            let jetstream = jetstream.clone();
            async move {
                jetstream
                    .create_or_update_key_value(kv::Config {
                        bucket: name.into(),
                        history: 1,
                        max_age,
                        storage: stream::StorageType::File,
                        num_replicas: config.replicas,
                        ..Default::default()
                    })
                    .await
                    .map_err(|source| TopologyError::Bucket { name, source })
            }
        };
        let locations = bucket(names::LOCATIONS_BUCKET, Duration::ZERO).await?;
        let location_names = bucket(names::LOCATION_NAMES_BUCKET, Duration::ZERO).await?;
        let statuses = bucket(
            names::COMMANDS_BUCKET,
            Duration::from_secs(config.command_status_ttl_secs),
        )
        .await?;
        Ok(Self {
            jetstream: jetstream.clone(),
            commands,
            advisories,
            locations,
            statuses,
            names: location_names,
        })
    }

    /// Retries [`Topology::ensure`] until it succeeds or `stop` fires (`None`),
    /// so a process can start before its NATS server is reachable.
    pub async fn ensure_until(
        jetstream: &jetstream::Context,
        config: &TopologyConfig,
        stop: impl Future<Output = ()>,
    ) -> Option<Self> {
        retry(
            SETUP_RETRY,
            stop,
            || Self::ensure(jetstream, config),
            |error, _| {
                tracing::warn!(error = %error_chain(error), "NATS not ready; retrying");
                true
            },
        )
        .await
        .ok()
    }
}
