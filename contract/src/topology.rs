//! The streams and buckets Herald uses, and who may change them.
//!
//! Every api and reactor opens them at start-up and creates those that are
//! missing, so any number of instances may start in any order, on one server or a
//! three-node cluster (replicas are configuration). An object that exists is used
//! as it is: starting a process never undoes an operator's edit, and two versions
//! started side by side never flip a setting back and forth. A setting that
//! differs from the configuration is logged, and changed only by the explicit
//! step `herald-dev topology apply`, which says what it changed.
//!
//! # One retention horizon
//!
//! Commands are kept in `COMMANDS` for `COMMAND_RETENTION_SECS`, their statuses
//! a little longer ([`TopologyConfig::status_ttl`]). So a command that is in the
//! stream has its status if it has one; one that is not is older than the
//! horizon, and unknown (404), never `pending`. A name is kept by its holder's
//! location (kept for good) or released by a write to its claim, so no rule
//! depends on a status that expired.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use herald_runtime::{Backoff, error_chain, retry};

use crate::names;

/// Sizing and retention of the NATS objects; flattened into each binary's config.
#[derive(Debug, Clone, clap::Args)]
pub struct TopologyConfig {
    /// Replicas of the streams and buckets (3 on a three-node cluster).
    #[arg(long, env = "NATS_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// How long commands are kept, in seconds; their statuses are kept a little
    /// longer. Older commands are unknown.
    #[arg(long, env = "COMMAND_RETENTION_SECS", default_value_t = 7 * 24 * 60 * 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub command_retention_secs: u64,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            replicas: 1,
            command_retention_secs: 7 * 24 * 60 * 60,
        }
    }
}

/// JetStream's de-duplication window on the command stream: a retried publish with
/// the same `Nats-Msg-Id` inside it is stored once (shorter only if retention is).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

impl TopologyConfig {
    /// How long the `COMMANDS` stream keeps a command.
    pub fn command_retention(&self) -> Duration {
        Duration::from_secs(self.command_retention_secs)
    }

    /// How long the `commands` bucket keeps a status: the retention, plus as much
    /// again up to an hour, so a status outlives its command.
    pub fn status_ttl(&self) -> Duration {
        let retention = self.command_retention();
        retention + retention.min(Duration::from_secs(3600))
    }

    /// The command stream's de-duplication window (no longer than the retention).
    pub fn duplicate_window(&self) -> Duration {
        DUPLICATE_WINDOW.min(self.command_retention())
    }
}

/// Pauses between attempts to open the topology while NATS is not there yet.
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

/// Why the topology could not be opened or applied.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("could not create stream {name}")]
    Create {
        name: String,
        #[source]
        source: jetstream::context::CreateStreamError,
    },
    #[error("could not change stream {name}")]
    Update {
        name: String,
        #[source]
        source: jetstream::context::UpdateStreamError,
    },
    #[error("could not read stream {name}")]
    Get {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("could not open bucket {name}")]
    Bucket {
        name: &'static str,
        #[source]
        source: jetstream::context::KeyValueError,
    },
}

/// One setting of an existing object that is not what the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub object: String,
    pub setting: &'static str,
    pub is: String,
    pub wanted: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} (configured: {})",
            self.object, self.setting, self.is, self.wanted
        )
    }
}

/// The stream configurations Herald wants (a bucket is the stream `KV_<bucket>`).
fn wanted(config: &TopologyConfig) -> Vec<stream::Config> {
    let stream = |name: &str, subject: &str| stream::Config {
        name: name.into(),
        subjects: vec![subject.into()],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        ..Default::default()
    };
    vec![
        stream::Config {
            max_age: config.command_retention(),
            duplicate_window: config.duplicate_window(),
            ..stream(names::COMMANDS_STREAM, names::COMMANDS_SUBJECTS)
        },
        stream(names::DEAD_LETTERS_STREAM, names::DEAD_LETTERS_SUBJECTS),
        stream::Config {
            max_age: ADVISORIES_KEPT,
            ..stream(names::ADVISORIES_STREAM, names::MAX_DELIVERIES_ADVISORY)
        },
    ]
}

/// The buckets Herald wants, and how long each keeps a value (zero: for good).
fn buckets(config: &TopologyConfig) -> [(&'static str, Duration); 3] {
    [
        (names::LOCATIONS_BUCKET, Duration::ZERO),
        (names::LOCATION_NAMES_BUCKET, Duration::ZERO),
        (names::COMMANDS_BUCKET, config.status_ttl()),
    ]
}

fn bucket_config(config: &TopologyConfig, name: &str, max_age: Duration) -> kv::Config {
    kv::Config {
        bucket: name.into(),
        history: 1,
        max_age,
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// The settings Herald cares about, where `existing` differs from `wanted`.
fn differences(existing: &stream::Config, wanted: &stream::Config) -> Vec<Difference> {
    let mut found = Differences::of(&existing.name);
    if !wanted.subjects.is_empty() {
        found.compare("subjects", &existing.subjects, &wanted.subjects);
    }
    found.compare(
        "replicas",
        existing.num_replicas,
        wanted.num_replicas.max(1),
    );
    found.compare("max age", existing.max_age, wanted.max_age);
    if !wanted.duplicate_window.is_zero() {
        found.compare(
            "duplicate window",
            existing.duplicate_window,
            wanted.duplicate_window,
        );
    }
    found.compare("storage", existing.storage, wanted.storage);
    found.into_vec()
}

/// The settings of one object that differ from what is wanted, compared one by one.
#[derive(Debug)]
pub struct Differences {
    object: String,
    found: Vec<Difference>,
}

impl Differences {
    pub fn of(object: impl Into<String>) -> Self {
        Self {
            object: object.into(),
            found: Vec::new(),
        }
    }

    /// Notes `setting` if what `is` is not what is `wanted` (compared as shown).
    pub fn compare(
        &mut self,
        setting: &'static str,
        is: impl std::fmt::Debug,
        wanted: impl std::fmt::Debug,
    ) {
        let (is, wanted) = (format!("{is:?}"), format!("{wanted:?}"));
        if is != wanted {
            self.found.push(Difference {
                object: self.object.clone(),
                setting,
                is,
                wanted,
            });
        }
    }

    pub fn into_vec(self) -> Vec<Difference> {
        self.found
    }
}

impl Topology {
    /// Opens the streams and buckets, creating those that are missing. Existing
    /// ones are used as they are; each setting that differs from `config` is
    /// answered (to be logged), never changed.
    pub async fn open(
        jetstream: &jetstream::Context,
        config: &TopologyConfig,
    ) -> Result<(Self, Vec<Difference>), TopologyError> {
        let mut found = Vec::new();
        let mut streams = Vec::new();
        for wanted in wanted(config) {
            let (stream, differences) = open_stream(jetstream, wanted).await?;
            found.extend(differences);
            streams.push(stream);
        }
        let mut stores = Vec::new();
        for (name, max_age) in buckets(config) {
            let wanted = bucket_config(config, name, max_age);
            let store = match jetstream.get_key_value(name).await {
                Ok(store) => store,
                Err(_) => match jetstream.create_key_value(wanted.clone()).await {
                    Ok(store) => store,
                    // Created by another instance meanwhile.
                    Err(_) => jetstream
                        .get_key_value(name)
                        .await
                        .map_err(|source| TopologyError::Bucket { name, source })?,
                },
            };
            let existing = &store.stream.cached_info().config;
            let want = stream::Config {
                name: existing.name.clone(),
                max_age: wanted.max_age,
                num_replicas: wanted.num_replicas,
                storage: wanted.storage,
                ..Default::default()
            };
            found.extend(differences(existing, &want));
            stores.push(store);
        }
        let [commands, _dead_letters, advisories] =
            <[stream::Stream; 3]>::try_from(streams).expect("three streams wanted");
        let [locations, names, statuses] =
            <[kv::Store; 3]>::try_from(stores).expect("three buckets wanted");
        Ok((
            Self {
                jetstream: jetstream.clone(),
                commands,
                advisories,
                locations,
                statuses,
                names,
            },
            found,
        ))
    }

    /// Retries [`Topology::open`] until it succeeds or `stop` fires (`None`), so
    /// a process can start before its NATS server is reachable. Differences from
    /// the configuration are logged as warnings.
    pub async fn open_until(
        jetstream: &jetstream::Context,
        config: &TopologyConfig,
        stop: impl Future<Output = ()>,
    ) -> Option<Self> {
        let (topology, differences) = retry(
            SETUP_RETRY,
            stop,
            || Self::open(jetstream, config),
            |error, _| {
                tracing::warn!(error = %error_chain(error), "NATS not ready; retrying");
                true
            },
        )
        .await
        .ok()?;
        for difference in differences {
            tracing::warn!(
                %difference,
                "left as it is; `herald-dev topology apply` changes it"
            );
        }
        Some(topology)
    }

    /// Changes every stream and bucket to what `config` says (creating missing
    /// ones): the explicit step. Answers what it changed.
    pub async fn apply(
        jetstream: &jetstream::Context,
        config: &TopologyConfig,
    ) -> Result<Vec<Difference>, TopologyError> {
        let (_, found) = Self::open(jetstream, config).await?;
        let mut wanted_streams = wanted(config);
        for (name, max_age) in buckets(config) {
            let bucket = bucket_config(config, name, max_age);
            let mut info = jetstream
                .get_stream(format!("KV_{name}"))
                .await
                .map_err(|error| TopologyError::Get {
                    name: name.into(),
                    source: error.into(),
                })?;
            let existing = info
                .info()
                .await
                .map_err(|error| TopologyError::Get {
                    name: name.into(),
                    source: error.into(),
                })?
                .config
                .clone();
            wanted_streams.push(stream::Config {
                max_age: bucket.max_age,
                num_replicas: bucket.num_replicas,
                ..existing
            });
        }
        for wanted in wanted_streams {
            if found
                .iter()
                .any(|difference| difference.object == wanted.name)
            {
                let name = wanted.name.clone();
                let mut stream =
                    jetstream
                        .get_stream(&name)
                        .await
                        .map_err(|error| TopologyError::Get {
                            name: name.clone(),
                            source: error.into(),
                        })?;
                let current = stream
                    .info()
                    .await
                    .map_err(|error| TopologyError::Get {
                        name: name.clone(),
                        source: error.into(),
                    })?
                    .config
                    .clone();
                let changed = stream::Config {
                    subjects: if wanted.subjects.is_empty() {
                        current.subjects.clone()
                    } else {
                        wanted.subjects
                    },
                    num_replicas: wanted.num_replicas,
                    max_age: wanted.max_age,
                    duplicate_window: if wanted.duplicate_window.is_zero() {
                        current.duplicate_window
                    } else {
                        wanted.duplicate_window
                    },
                    ..current
                };
                jetstream
                    .update_stream(changed)
                    .await
                    .map_err(|source| TopologyError::Update { name, source })?;
            }
        }
        Ok(found)
    }
}

/// Opens stream `wanted.name`, creating it as wanted if it is missing; answers
/// how an existing one differs.
async fn open_stream(
    jetstream: &jetstream::Context,
    wanted: stream::Config,
) -> Result<(stream::Stream, Vec<Difference>), TopologyError> {
    let name = wanted.name.clone();
    if let Ok(mut stream) = jetstream.get_stream(&name).await {
        let existing = stream.info().await.map_err(|error| TopologyError::Get {
            name: name.clone(),
            source: error.into(),
        })?;
        let found = differences(&existing.config, &wanted);
        return Ok((stream, found));
    }
    match jetstream.create_stream(wanted).await {
        Ok(stream) => Ok((stream, Vec::new())),
        // Created by another instance meanwhile; or NATS is not there yet.
        Err(source) => match jetstream.get_stream(&name).await {
            Ok(stream) => Ok((stream, Vec::new())),
            Err(_) => Err(TopologyError::Create { name, source }),
        },
    }
}
