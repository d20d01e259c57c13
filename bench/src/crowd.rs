//! `crowd` mode: what a crowd of clients costs one api process.
//!
//! 1. **Held streams.** N commands are accepted while no reactor runs, and N
//!    clients each open one command's event stream, every stream on its own
//!    connection (HTTP/1.1, as N browsers). The api's resident memory grows by
//!    what the streams cost; next to it, a minimal axum SSE server
//!    (`minimal-sse`, beside this binary) holding N idle streams the same way.
//! 2. **Burst.** The reactor starts: the N commands complete together. How long
//!    after the reactor's start the last client has its outcome.
//! 3. **Feed fan-out.** M clients on `/api/notifications`, then one command: how
//!    long until every client has its notification, from when its status was
//!    recorded.
//!
//! Every process's CPU time is reported per phase, the bench's own included.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use herald_testkit::NatsServer;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::proc_stats::{Phase, Usage, Watched, raise_open_files, usage};
use crate::sse::Stream;
use crate::{http_address, sibling, spawn, wait_ready};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Idle event streams held (one connection each).
    #[arg(long, default_value_t = 15_000)]
    streams: usize,
    /// Clients of the global feed.
    #[arg(long, default_value_t = 10_000)]
    feed_clients: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256)]
    connecting: usize,
}

/// Prints the CPU each process used since `phase` started, as a share of a core.
fn report(phase: Phase, what: &str, watched: &[Watched]) -> anyhow::Result<()> {
    let cpu = phase.end(watched)?;
    println!(
        "  CPU during {what} ({:.1} s): {cpu}",
        cpu.elapsed.as_secs_f64()
    );
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let limit = raise_open_files()?;
    let needed = (args.streams.max(args.feed_clients) + 1000) as u64;
    if limit < needed {
        bail!("the open-file limit is {limit}; {needed} are needed (lower --streams)");
    }
    let nats = NatsServer::start().await;
    let address = http_address(0)?;
    let max_streams = (args.streams + args.feed_clients + 100).to_string();
    let mut api = spawn(
        sibling("api")?,
        &nats,
        &address,
        &[("MAX_EVENT_STREAMS", max_streams)],
    )?;
    let base = format!("http://{address}");
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    wait_ready(&http, &base).await?;
    let api_pid = api.id().context("the api runs")?;
    let nats_pid = nats.pid().context("nats-server runs")?;
    let mut watched = vec![
        Watched::new("nats-server", nats_pid),
        Watched::new("api", api_pid),
    ];

    println!(
        "held streams: {} commands, accepted with no reactor running",
        args.streams
    );
    let ids = create(&http, &base, "Crowd", args.streams).await?;
    // Open and close a few first, so the allocator has grown for connections.
    drop(open_all(&address, &ids[..ids.len().min(200)], args.connecting).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = usage(api_pid)?;
    let phase = Phase::start(&watched)?;
    let streams = open_all(&address, &ids, args.connecting).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = usage(api_pid)?;
    report(phase, "opening", &watched)?;
    let herald_per_stream = per_stream(before, held, args.streams);
    println!(
        "  api: {} MiB before, {} MiB holding them: {:.1} KB per stream",
        before.rss >> 20,
        held.rss >> 20,
        herald_per_stream / 1000.0
    );

    pause_for_profiling("the burst", api_pid).await;
    let reactor = spawn(sibling("reactor")?, &nats, &address, &[])?;
    let reactor_started = Instant::now();
    watched.push(Watched::new(
        "reactor",
        reactor.id().context("the reactor runs")?,
    ));
    let phase = Phase::start(&watched)?;
    let arrivals = futures::stream::iter(streams)
        .map(|mut stream| async move {
            match stream.next_event().await? {
                Some(event) if event.name == "completed" => Ok(event.at),
                other => bail!("expected a completed event, got {other:?}"),
            }
        })
        .buffer_unordered(args.streams)
        .collect::<Vec<anyhow::Result<Instant>>>()
        .await;
    let mut last = reactor_started;
    for arrival in arrivals {
        last = last.max(arrival?);
    }
    println!(
        "burst: all {} outcomes received; the last {:.0} ms after the reactor started",
        args.streams,
        (last - reactor_started).as_secs_f64() * 1000.0
    );
    report(phase, "the burst", &watched)?;

    println!(
        "feed fan-out: {} clients on /api/notifications",
        args.feed_clients
    );
    let feeds = open_feeds(&address, args.feed_clients, args.connecting).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    pause_for_profiling("the fan-out", api_pid).await;
    let phase = Phase::start(&watched)?;
    let id = create(&http, &base, "Announced", 1).await?[0].to_string();
    let arrivals = futures::stream::iter(feeds)
        .map(|mut stream| {
            let id = &id;
            async move {
                loop {
                    match stream.next_event().await? {
                        // A cheap look, not a parse: the client must not be the bottleneck.
                        Some(event) if event.name == "notification" && event.data.contains(id) => {
                            return Ok((event.at, event.data));
                        }
                        Some(_) => {}
                        None => bail!("a feed ended"),
                    }
                }
            }
        })
        .buffer_unordered(args.feed_clients)
        .collect::<Vec<anyhow::Result<(Instant, String)>>>()
        .await;
    let now = (Instant::now(), Utc::now());
    let mut first = now.0;
    let mut last = first - Duration::from_secs(3600);
    let mut data = None;
    for arrival in arrivals {
        let (at, event) = arrival?;
        first = first.min(at);
        last = last.max(at);
        data = Some(event);
    }
    let notification: Value = serde_json::from_str(&data.context("no client")?)?;
    let recorded: DateTime<Utc> = serde_json::from_value(notification["created_at"].clone())?;
    // The status's time, on this machine's clock, as an Instant.
    let since_recorded = now.1 - recorded;
    let recorded_at = now.0 - since_recorded.to_std().unwrap_or_default();
    println!(
        "  every client received it: the last {:.1} ms after the status was recorded, \
         {:.1} ms after the first client",
        (last - recorded_at).as_secs_f64() * 1000.0,
        (last - first).as_secs_f64() * 1000.0
    );
    report(phase, "the fan-out", &watched)?;
    let consumers = {
        let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
        let mut stream = jetstream.get_stream("KV_commands").await?;
        stream.info().await?.state.consumer_count
    };
    println!("  JetStream consumers on KV_commands: {consumers}");
    api.kill().await?;

    println!("a minimal axum SSE server, for comparison");
    let reference_address = http_address(0)?;
    let mut reference = spawn(sibling("minimal-sse")?, &nats, &reference_address, &[])?;
    wait_ready(&http, &format!("http://{reference_address}")).await?;
    let reference_pid = reference.id().context("minimal-sse runs")?;
    let paths: Vec<String> = (0..args.streams).map(|_| "/events".to_owned()).collect();
    drop(open_paths(&reference_address, &paths[..200], args.connecting).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = usage(reference_pid)?;
    let streams = open_paths(&reference_address, &paths, args.connecting).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = usage(reference_pid)?;
    let reference_per_stream = per_stream(before, held, args.streams);
    println!(
        "  minimal-sse: {} MiB before, {} MiB holding them: {:.1} KB per stream",
        before.rss >> 20,
        held.rss >> 20,
        reference_per_stream / 1000.0
    );
    drop(streams);

    // The same fan-out through the minimal server: what this machine allows.
    let feeds: Vec<String> = (0..args.feed_clients).map(|_| "/feed".to_owned()).collect();
    let feeds = open_paths(&reference_address, &feeds, args.connecting).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let watched = [Watched::new("minimal-sse", reference_pid)];
    let phase = Phase::start(&watched)?;
    let announced = Instant::now();
    http.post(format!("http://{reference_address}/announce"))
        .body("{\"id\":1}")
        .send()
        .await?
        .error_for_status()?;
    let arrivals = futures::stream::iter(feeds)
        .map(|mut stream| async move {
            match stream.next_event().await? {
                Some(event) => Ok(event.at),
                None => bail!("a feed ended"),
            }
        })
        .buffer_unordered(args.feed_clients)
        .collect::<Vec<anyhow::Result<Instant>>>()
        .await;
    let mut first = Instant::now();
    let mut last = announced;
    for arrival in arrivals {
        let at = arrival?;
        first = first.min(at);
        last = last.max(at);
    }
    println!(
        "  minimal-sse fan-out to {} clients: the last {:.1} ms after the announcement, \
         {:.1} ms after the first client",
        args.feed_clients,
        (last - announced).as_secs_f64() * 1000.0,
        (last - first).as_secs_f64() * 1000.0
    );
    report(phase, "its fan-out", &watched)?;
    reference.kill().await?;
    Ok(())
}

/// With `HERALD_BENCH_PAUSE=<seconds>`, waits before `phase` so that a profiler
/// can be attached to the api (`perf record -p <pid>`) for just that phase.
async fn pause_for_profiling(phase: &str, api_pid: u32) {
    if let Some(seconds) = std::env::var("HERALD_BENCH_PAUSE")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
    {
        println!("  pausing {seconds} s before {phase}: the api's pid is {api_pid}");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
}

fn per_stream(before: Usage, held: Usage, streams: usize) -> f64 {
    held.rss.saturating_sub(before.rss) as f64 / streams as f64
}

/// Creates `count` locations (`<prefix> <n>`), 64 at a time; their command ids.
async fn create(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let url = Arc::new(format!("{base}/api/locations"));
    let run = Uuid::now_v7();
    futures::stream::iter(0..count)
        .map(|n| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body = json!({"name": format!("{prefix} {run} {n}"), "category": "Town"});
                let answer: Value = http
                    .post(url.as_str())
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = answer["id"].as_str().context("an id")?;
                Ok::<_, anyhow::Error>(Uuid::try_parse(id)?)
            }
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens the event stream of each command, `connecting` at a time.
async fn open_all(address: &str, ids: &[Uuid], connecting: usize) -> anyhow::Result<Vec<Stream>> {
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/commands/{id}/events"))
        .collect();
    open_paths(address, &paths, connecting).await
}

async fn open_feeds(address: &str, count: usize, connecting: usize) -> anyhow::Result<Vec<Stream>> {
    let paths: Vec<String> = (0..count)
        .map(|_| "/api/notifications".to_owned())
        .collect();
    open_paths(address, &paths, connecting).await
}

async fn open_paths(
    address: &str,
    paths: &[String],
    connecting: usize,
) -> anyhow::Result<Vec<Stream>> {
    futures::stream::iter(paths)
        .map(|path| Stream::open(address, path, &[]))
        .buffered(connecting)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
