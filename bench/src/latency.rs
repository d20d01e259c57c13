//! The default mode: end-to-end latency of one command, as a browser sees it.
//!
//! Starts the `reactor` and `api` binaries, then sends commands one after another:
//! POST `/api/locations`, open the command's event stream on the 202, stop the
//! clock at the `completed` event.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use herald_testkit::NatsServer;
use serde_json::{Value, json};

use crate::{http_address, report, sibling, spawn, wait_ready};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commands to measure.
    #[arg(long, default_value_t = 2000)]
    commands: usize,
    /// Commands sent first and not measured.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// HTTP port for the api under test (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let nats = NatsServer::start().await;
    let address = http_address(args.port)?;
    let _reactor = spawn(sibling("reactor")?, &nats, &address, &[])?;
    let _api = spawn(sibling("api")?, &nats, &address, &[])?;
    let base = format!("http://{address}");
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    wait_ready(&http, &base).await?;

    for n in 0..args.warmup {
        round_trip(&http, &base, &format!("warmup {n}")).await?;
    }
    let mut accepted = Vec::with_capacity(args.commands);
    let mut completed = Vec::with_capacity(args.commands);
    let started = Instant::now();
    for n in 0..args.commands {
        let timing = round_trip(&http, &base, &format!("measured {n}")).await?;
        accepted.push(timing.accepted);
        completed.push(timing.completed);
    }
    let elapsed = started.elapsed();
    println!(
        "sequential commands: {} measured after {} warm-up, {:.0} commands/s",
        args.commands,
        args.warmup,
        args.commands as f64 / elapsed.as_secs_f64()
    );
    report("POST -> 202 accepted      ", accepted);
    report("POST -> SSE `completed`   ", completed);
    Ok(())
}

/// When one command was accepted and when it completed, from the start of its POST.
struct Timing {
    accepted: Duration,
    completed: Duration,
}

/// One command, from the POST to the `completed` event on its stream.
async fn round_trip(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Timing> {
    let start = Instant::now();
    let accepted: Value = http
        .post(format!("{base}/api/locations"))
        .json(&json!({"name": name, "category": "Town", "description": ""}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let accepted_after = start.elapsed();
    let events = accepted["links"]["events"]
        .as_str()
        .context("202 carries links.events")?;
    let mut stream = http
        .get(format!("{base}{events}"))
        .send()
        .await?
        .error_for_status()?
        .bytes_stream()
        .eventsource();
    match stream.next().await {
        Some(Ok(event)) if event.event == "completed" => Ok(Timing {
            accepted: accepted_after,
            completed: start.elapsed(),
        }),
        other => bail!("expected a completed event, got {other:?}"),
    }
}
