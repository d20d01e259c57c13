//! `herald-bench`: Herald measured against a real NATS, as a client sees it.
//!
//! Each mode starts its own nats-server (temp store, free port) and the release
//! binaries beside this one as separate processes, then prints percentiles. Run
//! with `task bench` (args after `--`).
//!
//! - no subcommand ([`run`]): Herald beside the raw NATS floor in one run: one
//!   at a time, 64 in flight, the open loop stepping its rate up, the polling
//!   baseline; writes `BENCHMARKS.md` and the latency CDF.
//! - `quick`: the same in about thirty seconds, writing nothing.
//! - `list` ([`listing`]): `GET /api/locations` with many locations stored.
//! - `throughput` ([`throughput`]): commands per second with N reactors.
//! - `crowd` ([`crowd`]): held streams, their burst, and the feed's fan-out.

mod client;
mod crowd;
mod floor;
mod hist;
mod listing;
mod markdown;
mod open_loop;
mod proc_stats;
mod run;
mod sse;
mod svg;
mod throughput;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use herald_testkit::NatsServer;
use tokio::process::{Child, Command};

#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    run: run::Args,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// The default run in about thirty seconds; writes nothing unless --write.
    Quick {
        #[command(flatten)]
        run: run::Args,
        /// Write BENCHMARKS.md and the plot, as the full run does.
        #[arg(long)]
        write: bool,
    },
    /// Listing latency with many locations stored.
    List(listing::Args),
    /// Commands per second accepted and processed, with N reactors.
    Throughput(throughput::Args),
    /// What a crowd costs: held streams, their burst, the feed's fan-out.
    Crowd(crowd::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.mode {
        None => run::run(run::Plan::full(), &cli.run, true).await,
        Some(Mode::Quick { run, write }) => run::run(run::Plan::quick(), &run, write).await,
        Some(Mode::List(args)) => listing::run(args).await,
        Some(Mode::Throughput(args)) => throughput::run(args).await,
        Some(Mode::Crowd(args)) => crowd::run(args).await,
    }
}

/// `port`, or a free one if it is 0; as `127.0.0.1:PORT`.
fn http_address(port: u16) -> anyhow::Result<String> {
    let port = match port {
        0 => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
        port => port,
    };
    Ok(format!("127.0.0.1:{port}"))
}

/// A release binary that sits beside this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?
        .parent()
        .context("the bench binary has a folder")?
        .join(name))
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

fn spawn(
    binary: PathBuf,
    nats: &NatsServer,
    address: &str,
    env: &[(&str, String)],
) -> anyhow::Result<Child> {
    // HERALD_BENCH_WRAP_<NAME> runs the binary under a profiler, e.g.
    // HERALD_BENCH_WRAP_API="heaptrack -o /tmp/api" or "perf record -g -o /tmp/api.data".
    let name = binary
        .file_name()
        .map(|name| name.to_string_lossy().to_uppercase().replace('-', "_"))
        .unwrap_or_default();
    let wrapper = std::env::var(format!("HERALD_BENCH_WRAP_{name}")).ok();
    let mut command = match wrapper.as_deref().map(str::split_whitespace) {
        Some(mut words) => {
            let mut command = Command::new(words.next().unwrap_or("env"));
            command.args(words).arg(&binary);
            command
        }
        None => Command::new(&binary),
    };
    command
        .env("NATS_URL", nats.url())
        .env("HTTP_ADDR", address)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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
