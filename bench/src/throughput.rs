//! `herald-bench throughput`: how many commands per second the system accepts and
//! processes, with N reactor processes sharing the consumer.
//!
//! Many clients POST at once without waiting for outcomes; the clock stops when
//! the last command's status is recorded (counted in the `commands` bucket).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use herald_testkit::NatsServer;
use serde_json::json;

use crate::{http_address, sibling, spawn, wait_ready};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Commands to send.
    #[arg(long, default_value_t = 5000)]
    commands: usize,
    /// Reactor processes.
    #[arg(long, default_value_t = 1)]
    reactors: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Simulated work per command in each reactor (`REACTOR_DELAY_MS`), to see
    /// reactors scale when processing, not the machine, is the limit.
    #[arg(long, default_value_t = 0)]
    reactor_delay_ms: u64,
    /// `REACTOR_CONCURRENCY` of each reactor.
    #[arg(long, default_value_t = 64)]
    reactor_concurrency: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let nats = NatsServer::start().await;
    let address = http_address(0)?;
    let _api = spawn(sibling("api")?, &nats, &address, &[])?;
    let _reactors = (0..args.reactors)
        .map(|_| {
            let env = [
                ("REACTOR_DELAY_MS", args.reactor_delay_ms.to_string()),
                ("REACTOR_CONCURRENCY", args.reactor_concurrency.to_string()),
            ];
            spawn(sibling("reactor")?, &nats, &address, &env)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let base = Arc::new(format!("http://{address}"));
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    wait_ready(&http, &base).await?;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);

    let started = Instant::now();
    let failures = futures::stream::iter(0..args.commands)
        .map(|n| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let body = json!({"name": format!("Throughput {n}"), "category": "Town"});
                match http
                    .post(format!("{base}/api/locations"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) if response.status() == 202 => 0,
                    _ => 1,
                }
            }
        })
        .buffer_unordered(args.clients)
        .collect::<Vec<usize>>()
        .await
        .into_iter()
        .sum::<usize>();
    let accepted_in = started.elapsed();
    if failures > 0 {
        bail!("{failures} POSTs were not accepted");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut statuses = jetstream.get_stream("KV_commands").await?;
        if statuses.info().await?.state.messages >= args.commands as u64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("not every command was processed within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let processed_in = started.elapsed();
    let rate = |elapsed: Duration| args.commands as f64 / elapsed.as_secs_f64();
    println!(
        "{} commands, {} clients, {} reactor(s) ({} ms work, {} at a time): accepted {:.0}/s, all processed in {:.2?} ({:.0}/s)",
        args.commands,
        args.clients,
        args.reactors,
        args.reactor_delay_ms,
        args.reactor_concurrency,
        rate(accepted_in),
        processed_in,
        rate(processed_in)
    );
    Ok(())
}
