//! The floor: Herald's chain done straight on NATS, with nothing of Herald in it.
//!
//! A JetStream publish awaited for its ack, a durable pull consumer that puts the
//! message into a KV bucket, publishes on a core subject and acks, and a
//! subscriber that receives it: the fewest NATS round trips a command could take
//! from "stored" to "someone heard it". Run against the same nats-server as
//! Herald, before and after Herald's figures, it is what every Herald figure is
//! divided by. Its consumer runs in the bench process (its CPU is the client's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer, kv, stream};
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::hist::Latencies;

const STREAM: &str = "FLOOR";
const BUCKET: &str = "floor";

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// The floor's stream, bucket, consumer and subscriber, ready to measure.
pub struct Floor {
    jetstream: jetstream::Context,
    waiting: Waiting,
    next: std::sync::atomic::AtomicU64,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Floor {
    /// Sets the floor up on `nats_url`: file storage, one replica, like Herald's.
    pub async fn start(nats_url: &str) -> anyhow::Result<Self> {
        // Two connections, as the api and the reactor have: the client's, the consumer's.
        let client = async_nats::connect(nats_url).await?;
        let worker = async_nats::connect(nats_url).await?;
        let jetstream = jetstream::new(client.clone());
        let worker_js = jetstream::new(worker.clone());
        let stream = worker_js
            .get_or_create_stream(stream::Config {
                name: STREAM.into(),
                subjects: vec!["floor.commands.>".into()],
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("creating the floor's stream")?;
        let bucket = worker_js
            .create_key_value(kv::Config {
                bucket: BUCKET.into(),
                history: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("creating the floor's bucket")?;
        let consumer = stream
            .get_or_create_consumer(
                "floor",
                consumer::pull::Config {
                    durable_name: Some("floor".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await?;

        let waiting: Waiting = Arc::default();
        let mut done = client.subscribe("floor.done.>").await?;
        let heard = waiting.clone();
        let listener = tokio::spawn(async move {
            while let Some(message) = done.next().await {
                let number = message
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok());
                if let Some(sender) = number.and_then(|n| {
                    heard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&n)
                }) {
                    let _ = sender.send(());
                }
            }
        });
        let processor = tokio::spawn(async move {
            let Ok(messages) = consumer.messages().await else {
                return;
            };
            // As many at once as a reactor takes.
            messages
                .for_each_concurrent(64, |message| {
                    let (bucket, worker) = (bucket.clone(), worker.clone());
                    async move {
                        let Ok(message) = message else { return };
                        let Some(number) = message.subject.rsplit('.').next().map(str::to_owned)
                        else {
                            return;
                        };
                        if bucket.put(&number, message.payload.clone()).await.is_ok() {
                            let _ = worker
                                .publish(format!("floor.done.{number}"), message.payload.clone())
                                .await;
                            let _ = message.ack().await;
                        }
                    }
                })
                .await;
        });
        Ok(Self {
            jetstream,
            waiting,
            next: std::sync::atomic::AtomicU64::new(0),
            tasks: vec![listener, processor],
        })
    }

    /// One command through the chain: publish to heard.
    pub async fn one(&self) -> anyhow::Result<Duration> {
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, heard) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, sender);
        let start = Instant::now();
        // A payload the size of a Herald command.
        let payload = format!(
            r#"{{"id":"{number:032}","name":"Floor {number}","category":"Town","description":""}}"#
        );
        self.jetstream
            .publish(format!("floor.commands.{number}"), payload.into())
            .await?
            .await
            .context("the floor's publish was not acknowledged")?;
        tokio::time::timeout(Duration::from_secs(10), heard)
            .await
            .context("the floor's command was not heard within 10 s")??;
        Ok(start.elapsed())
    }

    /// `count` commands one after another.
    pub async fn sequential(&self, count: usize) -> anyhow::Result<Latencies> {
        one_at_a_time(count, || self.one()).await
    }

    /// `in_flight` commands at a time for `duration`: their latencies, and how
    /// many went through per second.
    pub async fn in_flight(
        &self,
        in_flight: usize,
        duration: Duration,
    ) -> anyhow::Result<(Latencies, f64)> {
        closed_loop(in_flight, duration, |_| self.one()).await
    }
}

/// Runs `one` `count` times, each after the one before: their latencies.
pub async fn one_at_a_time<F, Fut>(count: usize, mut one: F) -> anyhow::Result<Latencies>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let mut latencies = Latencies::default();
    for _ in 0..count {
        latencies.record(one().await?);
    }
    Ok(latencies)
}

/// Runs `one` with `in_flight` at a time until `duration` has passed: the
/// latencies, and completions per second.
pub async fn closed_loop<F, Fut>(
    in_flight: usize,
    duration: Duration,
    one: F,
) -> anyhow::Result<(Latencies, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let started = Instant::now();
    let deadline = started + duration;
    let one = &one;
    let workers = (0..in_flight).map(|worker| async move {
        let mut latencies = Latencies::default();
        let mut n = worker;
        while Instant::now() < deadline {
            latencies.record(one(n).await?);
            n += in_flight;
        }
        anyhow::Ok(latencies)
    });
    let mut all = Latencies::default();
    for latencies in futures::future::join_all(workers).await {
        all.add(&latencies?);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rate))
}
