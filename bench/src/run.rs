//! The default run of `herald-bench`: Herald beside the floor, in one run.
//!
//! One nats-server, the api and reactor release binaries as separate processes,
//! and this client. In order: the floor (raw NATS, [`crate::floor`]); Herald one
//! command at a time (POST then its event stream; a `Prefer: wait` POST); Herald
//! with 64 commands in flight; the open loop stepping its rate up until the p99
//! passes 50 ms or a command does not complete ([`crate::open_loop`]); the
//! polling baseline; the floor again. Every Herald figure is printed with its
//! ratio to the floor (the lower of its two runs, so the ratio is never
//! flattered), every phase with the CPU each process used, the client's
//! included. The full run writes `BENCHMARKS.md` and the CDF beside it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_testkit::NatsServer;

use crate::client::Client;
use crate::floor::{Floor, closed_loop, one_at_a_time};
use crate::hist::{Latencies, Summary, ms};
use crate::open_loop::{self, Step};
use crate::proc_stats::{CpuShares, Phase, Watched};
use crate::{http_address, markdown, sibling, spawn, svg};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where the full run writes its report (`-` for nowhere).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: String,
    /// Where the full run draws its latency CDF.
    #[arg(long, default_value = "docs/latency-cdf.svg")]
    pub plot: PathBuf,
}

/// How much of everything a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: &'static str,
    pub sequential: usize,
    pub warmup: usize,
    pub in_flight: usize,
    pub closed_for: Duration,
    pub rates: Vec<u32>,
    pub step_for: Duration,
    pub polled: usize,
}

impl Plan {
    /// About three minutes.
    pub fn full() -> Self {
        Self {
            name: "full",
            sequential: 3000,
            warmup: 500,
            in_flight: 64,
            closed_for: Duration::from_secs(8),
            rates: vec![
                1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10_000, 12_000,
            ],
            step_for: Duration::from_secs(8),
            polled: 100,
        }
    }

    /// About thirty seconds.
    pub fn quick() -> Self {
        Self {
            name: "quick",
            sequential: 1000,
            warmup: 200,
            in_flight: 64,
            closed_for: Duration::from_secs(2),
            rates: vec![1000, 2000, 4000, 6000],
            step_for: Duration::from_secs(3),
            polled: 20,
        }
    }
}

/// The p99 under which the open loop counts as keeping up.
pub const P99_BOUND: Duration = Duration::from_millis(50);

/// One measured figure: its latencies, and what each process spent on it.
#[derive(Debug, Clone)]
pub struct Measured {
    pub latencies: Latencies,
    pub cpu: CpuShares,
    /// Completions per second (closed and open loops).
    pub rate: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Results {
    pub plan: Plan,
    pub floor_sequential: [Measured; 2],
    pub floor_in_flight: [Measured; 2],
    pub sse_sequential: Measured,
    pub wait_sequential: Measured,
    pub sse_in_flight: Measured,
    pub steps: Vec<(Step, CpuShares)>,
    pub polling: Measured,
    /// GETs per command while polling.
    pub polls_per_command: f64,
    /// Messages each NATS connection sent and received per command during the
    /// first open-loop step: (connection name, in, out).
    pub nats_messages: Vec<(String, f64, f64)>,
}

impl Results {
    /// The floor's p50 one at a time (the lower of its two runs).
    pub fn floor_p50(&self) -> Duration {
        self.floor_sequential
            .iter()
            .map(|floor| floor.latencies.summary().p50)
            .min()
            .unwrap_or_default()
    }

    /// The floor's rate with as many in flight (the higher of its two runs).
    pub fn floor_rate(&self) -> f64 {
        self.floor_in_flight
            .iter()
            .filter_map(|floor| floor.rate)
            .fold(0.0, f64::max)
    }

    /// The highest open-loop rate kept up with.
    pub fn highest_rate(&self) -> Option<&(Step, CpuShares)> {
        self.steps
            .iter()
            .filter(|(step, _)| step.kept_up(P99_BOUND))
            .max_by_key(|(step, _)| step.rate)
    }
}

/// The ratio of `figure` to the floor, as printed: `2.9x`.
pub fn ratio(figure: Duration, floor: Duration) -> String {
    format!(
        "{:.2}x",
        figure.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    )
}

fn line(what: &str, summary: &Summary, cpu: &CpuShares) {
    println!("{what:<44} {summary}");
    println!("{:<44} CPU {cpu}", "");
}

pub async fn run(plan: Plan, args: &Args, write: bool) -> anyhow::Result<()> {
    let nats = NatsServer::start().await;
    let address = http_address(0)?;
    let api = spawn(sibling("api")?, &nats, &address, &[])?;
    let reactor = spawn(sibling("reactor")?, &nats, &address, &[])?;
    let client = Arc::new(Client::new(&format!("http://{address}"))?);
    client.wait_ready().await?;
    let watched = [
        Watched::new("nats-server", nats.pid().context("nats-server runs")?),
        Watched::new("api", api.id().context("the api runs")?),
        Watched::new("reactor", reactor.id().context("the reactor runs")?),
    ];
    let floor = Floor::start(&nats.url()).await?;
    println!(
        "herald-bench {}: nats-server, api and reactor (release) as separate processes, this client in a fourth",
        plan.name
    );

    // Warm both up: connections, allocators, the page cache of the stores.
    floor.sequential(plan.warmup).await?;
    for _ in 0..plan.warmup {
        client.post_then_stream().await?;
    }

    let (sequential, in_flight, closed_for) = (plan.sequential, plan.in_flight, plan.closed_for);
    let [floor_sequential_1, floor_in_flight_1] =
        floor_phases(&watched, &floor, &plan, "floor").await?;
    let sse_sequential = measure(
        &watched,
        "Herald POST -> SSE completed, one at a time",
        async {
            Ok((
                one_at_a_time(sequential, || client.post_then_stream()).await?,
                None,
            ))
        },
    )
    .await?;
    let wait_sequential = measure(
        &watched,
        "Herald POST Prefer: wait -> 201, one at a time",
        async {
            Ok((
                one_at_a_time(sequential, || client.post_wait()).await?,
                None,
            ))
        },
    )
    .await?;
    let sse_in_flight = measure(
        &watched,
        &format!("Herald POST -> SSE, {in_flight} in flight"),
        async {
            let (latencies, rate) =
                closed_loop(in_flight, closed_for, |_| client.post_then_stream()).await?;
            Ok((latencies, Some(rate)))
        },
    )
    .await?;

    println!("open loop, POST then SSE, latency from each command's scheduled start:");
    let mut steps = Vec::new();
    let mut nats_messages = Vec::new();
    for &rate in &plan.rates {
        let before = nats.connections().await;
        let phase = Phase::start(&watched)?;
        let step =
            open_loop::run(client.clone(), rate, plan.step_for, Duration::from_secs(10)).await;
        let cpu = phase.end(&watched)?;
        if nats_messages.is_empty() {
            let commands = step.latencies.len().max(1) as f64;
            // Herald's processes only: the floor's and the bench's own are idle here.
            for after in nats.connections().await {
                if !after.name.starts_with("herald") {
                    continue;
                }
                let (sent, received) = before
                    .iter()
                    .find(|was| was.name == after.name)
                    .map_or((0, 0), |was| (was.sent, was.received));
                nats_messages.push((
                    after.name,
                    (after.sent - sent) as f64 / commands,
                    (after.received - received) as f64 / commands,
                ));
            }
        }
        let kept_up = step.kept_up(P99_BOUND);
        println!(
            "  {rate:>6}/s  {}  completed {:.0}/s{}{}",
            step.latencies.summary(),
            step.completed_per_second,
            if step.failed + step.unfinished > 0 {
                format!("  failed {} unfinished {}", step.failed, step.unfinished)
            } else {
                String::new()
            },
            if kept_up { "" } else { "  (fell behind)" }
        );
        println!("  {:>8}  CPU {cpu}", "");
        steps.push((step, cpu));
        if !kept_up {
            // Let what is still running drain before the next phase.
            tokio::time::sleep(Duration::from_secs(3)).await;
            break;
        }
    }

    let polled = plan.polled;
    let gets = std::cell::Cell::new(0_u32);
    let polling = measure(
        &watched,
        &format!(
            "polling every {} ms, one at a time",
            crate::client::POLL_INTERVAL.as_millis()
        ),
        async {
            let latencies = one_at_a_time(polled, || {
                let (client, gets) = (&client, &gets);
                async move {
                    let (latency, requests) = client.post_then_poll().await?;
                    gets.set(gets.get() + requests);
                    Ok(latency)
                }
            })
            .await?;
            Ok((latencies, None))
        },
    )
    .await?;

    let [floor_sequential_2, floor_in_flight_2] =
        floor_phases(&watched, &floor, &plan, "floor again").await?;

    let results = Results {
        plan,
        floor_sequential: [floor_sequential_1, floor_sequential_2],
        floor_in_flight: [floor_in_flight_1, floor_in_flight_2],
        sse_sequential,
        wait_sequential,
        sse_in_flight,
        steps,
        polling,
        polls_per_command: f64::from(gets.get()) / polled.max(1) as f64,
        nats_messages,
    };
    let floor = results.floor_p50();
    println!("\nagainst the floor (p50 one at a time {}):", ms(floor));
    println!(
        "  POST -> SSE completed  {}   POST Prefer: wait -> 201  {}   {} in flight: {:.0}/s vs the floor's {:.0}/s",
        ratio(results.sse_sequential.latencies.summary().p50, floor),
        ratio(results.wait_sequential.latencies.summary().p50, floor),
        results.plan.in_flight,
        results.sse_in_flight.rate.unwrap_or_default(),
        results.floor_rate()
    );
    match results.highest_rate() {
        Some((step, cpu)) => println!(
            "  highest open-loop rate with every command completed and p99 <= 50 ms: {}/s (p99 {}; api + reactor + nats-server {:.0}% of a core)",
            step.rate,
            ms(step.latencies.summary().p99),
            cpu.servers() * 100.0
        ),
        None => println!("  no open-loop rate kept p99 <= 50 ms"),
    }

    if write && args.out != "-" {
        let existing = std::fs::read_to_string(&args.out).ok();
        let markdown = markdown::report(&results, &args.plot, existing.as_deref()).await;
        std::fs::write(&args.out, markdown).with_context(|| format!("writing {}", args.out))?;
        if let Some(folder) = args.plot.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&args.plot, plot(&results))
            .with_context(|| format!("writing {}", args.plot.display()))?;
        println!("\nwrote {} and {}", args.out, args.plot.display());
    }
    Ok(())
}

/// The floor one at a time, then with as many in flight as Herald gets.
async fn floor_phases(
    watched: &[Watched],
    floor: &Floor,
    plan: &Plan,
    what: &str,
) -> anyhow::Result<[Measured; 2]> {
    let sequential = measure(watched, &format!("{what}, one at a time"), async {
        Ok((floor.sequential(plan.sequential).await?, None))
    })
    .await?;
    let in_flight = plan.in_flight;
    let closed = measure(watched, &format!("{what}, {in_flight} in flight"), async {
        let (latencies, rate) = floor.in_flight(in_flight, plan.closed_for).await?;
        Ok((latencies, Some(rate)))
    })
    .await?;
    Ok([sequential, closed])
}

/// Runs `work` (latencies, and a rate if it has one), with the CPU each
/// process spent on it; prints both.
async fn measure(
    watched: &[Watched],
    what: &str,
    work: impl Future<Output = anyhow::Result<(Latencies, Option<f64>)>>,
) -> anyhow::Result<Measured> {
    let phase = Phase::start(watched)?;
    let (latencies, rate) = work.await?;
    let cpu = phase.end(watched)?;
    let heading = match rate {
        Some(rate) => format!("{what} ({rate:.0}/s)"),
        None => what.to_owned(),
    };
    line(&heading, &latencies.summary(), &cpu);
    Ok(Measured {
        latencies,
        cpu,
        rate,
    })
}

/// The CDF of the figures that matter most.
fn plot(results: &Results) -> String {
    let best_floor = results
        .floor_sequential
        .iter()
        .min_by_key(|floor| floor.latencies.summary().p50)
        .unwrap_or(&results.floor_sequential[0]);
    let mut curves = vec![
        svg::Curve {
            label: "floor: raw NATS chain, one at a time",
            points: best_floor.latencies.cdf(),
        },
        svg::Curve {
            label: "Herald POST → SSE completed, one at a time",
            points: results.sse_sequential.latencies.cdf(),
        },
        svg::Curve {
            label: "Herald POST Prefer: wait → 201, one at a time",
            points: results.wait_sequential.latencies.cdf(),
        },
    ];
    let labels: Vec<String> = results
        .steps
        .iter()
        .map(|(step, _)| format!("open loop {}/s", step.rate))
        .collect();
    let first = results.steps.first();
    let highest = results.highest_rate();
    for ((step, _), label) in results.steps.iter().zip(&labels) {
        let is_first = first.is_some_and(|(first, _)| first.rate == step.rate);
        let is_highest = highest.is_some_and(|(highest, _)| highest.rate == step.rate);
        if is_first || is_highest {
            curves.push(svg::Curve {
                label,
                points: step.latencies.cdf(),
            });
        }
    }
    svg::cdf("Latency CDF, POST to outcome (herald-bench)", &curves)
}
