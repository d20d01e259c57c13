//! `list` mode: `GET /api/locations` with many locations stored.
//!
//! Fills the `locations` bucket straight through NATS (no reactor, no commands:
//! only the read side is measured), starts the `api` binary, waits until its
//! locations view has loaded, then requests the first page and a page from the
//! middle of the list (by cursor) one after another.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use herald_contract::{Topology, TopologyConfig};
use herald_testkit::NatsServer;
use serde_json::json;
use uuid::Uuid;

use crate::{http_address, report, sibling, spawn, wait_ready};

/// Puts in flight at once while filling the bucket.
const PUTS_IN_FLIGHT: usize = 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Locations stored before the api starts.
    #[arg(long, default_value_t = 100_000)]
    locations: usize,
    /// Locations per page (`?limit=`).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Requests measured per page.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Requests sent first and not measured.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// HTTP port for the api under test (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let nats = NatsServer::start().await;
    let started = Instant::now();
    let ids = fill(&nats, args.locations).await?;
    println!(
        "stored {} locations in {:.1?}",
        ids.len(),
        started.elapsed()
    );

    let address = http_address(args.port)?;
    let started = Instant::now();
    let api = spawn(sibling("api")?, &nats, &address, &[])?;
    let base = format!("http://{address}");
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    wait_ready(&http, &base).await?;
    let first = format!("{base}/api/locations?limit={}", args.limit);
    wait_listed(&http, &first).await?;
    println!("api ready and its view loaded in {:.1?}", started.elapsed());

    // Newest first: the middle of the list starts after the middle id.
    let middle = ids.len() / 2;
    let deep = format!("{first}&cursor={}", ids[middle]);
    for url in [&first, &deep] {
        for _ in 0..args.warmup {
            get_page(&http, url, args.limit).await?;
        }
    }
    let first_page = measure(&http, &first, args.limit, args.requests).await?;
    let deep_page = measure(&http, &deep, args.limit, args.requests).await?;
    println!(
        "GET /api/locations?limit={}: {} sequential requests each, {} locations stored",
        args.limit,
        args.requests,
        ids.len()
    );
    report("first page                ", first_page);
    report(&format!("page after #{middle:<14}"), deep_page);
    if let Some(rss) = api.id().and_then(resident_memory) {
        println!("api resident memory       {rss}");
    }
    Ok(())
}

/// Stores `count` locations with fresh v7 ids; returns the ids, oldest first.
async fn fill(nats: &NatsServer, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let client = async_nats::connect(nats.url()).await?;
    let jetstream = async_nats::jetstream::new(client);
    let bucket = Topology::open(&jetstream, &TopologyConfig::default())
        .await?
        .0
        .locations;
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    futures::stream::iter(ids.iter().enumerate())
        .map(|(n, id)| {
            let location = json!({
                "id": id,
                "name": format!("Location {n}"),
                "category": "Town",
                "description": "A place stored by herald-bench, with a description of about \
                                a hundred characters.",
                "created_at": "2025-01-01T00:00:00Z",
            });
            let bucket = bucket.clone();
            async move {
                let value = serde_json::to_vec(&location)?;
                bucket.put(id.to_string(), value.into()).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(PUTS_IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    Ok(ids)
}

/// Waits until the listing answers 200 (the api's view has loaded).
async fn wait_listed(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http.get(url).send().await?.status().is_success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer 200");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure(
    http: &reqwest::Client,
    url: &str,
    limit: usize,
    requests: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let start = Instant::now();
        get_page(http, url, limit).await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// One page, read to the end, checked to be full.
async fn get_page(http: &reqwest::Client, url: &str, limit: usize) -> anyhow::Result<()> {
    let body = http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let page: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
    if page.len() != limit {
        bail!("{url} listed {} locations, not {limit}", page.len());
    }
    Ok(())
}

/// `VmRSS` of a process, as `/proc/<pid>/status` shows it (Linux only).
fn resident_memory(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    Some(line.trim_start_matches("VmRSS:").trim().to_owned())
}
