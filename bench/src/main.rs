//! `herald-bench`: end-to-end latency of one command, as a browser sees it.
//!
//! Starts its own nats-server (temp store, free port) and the release `reactor`
//! and `api` binaries as separate processes, then sends commands one after another:
//! POST `/api/locations`, open the command's event stream on the 202, stop the
//! clock at the `completed` event. Prints percentiles. Run with `task bench`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use herald_testkit::NatsServer;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

#[derive(Debug, Parser)]
#[command(name = "herald-bench", version, about)]
struct Args {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nats = NatsServer::start().await;
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("the bench binary has a folder")?
        .to_owned();
    let port = match args.port {
        0 => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
        port => port,
    };
    let address = format!("127.0.0.1:{port}");
    let _reactor = spawn(bin_dir.join("reactor"), &nats, &address)?;
    let _api = spawn(bin_dir.join("api"), &nats, &address)?;
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

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what} median {:>9.3?}  p90 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
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

fn spawn(binary: std::path::PathBuf, nats: &NatsServer, address: &str) -> anyhow::Result<Child> {
    Command::new(&binary)
        .env("NATS_URL", nats.url())
        .env("HTTP_ADDR", address)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it first: cargo build --release --bins)",
                binary.display()
            )
        })
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the api at {base} did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
