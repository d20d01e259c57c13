//! `herald-dev`: small tools for working on Herald by hand.
//!
//! The seed project used the `nats` CLI to watch traffic; no registry here has it,
//! so these few commands stand in for it. Run through the task runner:
//! `task dev:seed`, `task dev:purge`, `task dev:sub:commands`, `task dev:sub:notifications`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt};
use herald_contract::{Topology, TopologyConfig, names};
use herald_runtime::NatsConfig;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(name = "herald-dev", version, about = "Developer tools for Herald")]
struct Cli {
    #[command(flatten)]
    nats: NatsConfig,
    #[command(subcommand)]
    command: Tool,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Creates four sample locations through the api and prints how each ended.
    Seed {
        /// Base URL of a running api.
        #[arg(long, env = "API_URL", default_value = "http://127.0.0.1:3000")]
        api_url: String,
    },
    /// Deletes every command, location and status (the stream and buckets stay).
    Purge,
    /// Prints messages as they flow: `commands`, `notifications`, or any subject.
    Sub {
        /// `commands`, `notifications`, or a NATS subject such as `notifications.>`.
        what: String,
    },
    /// Shows how the streams, buckets and the reactors' consumer differ from the
    /// configuration; with `apply`, changes them to it (starting an api or a
    /// reactor only creates what is missing, and never changes what exists).
    Topology {
        #[command(flatten)]
        topology: TopologyConfig,
        /// The reactors' consumer: seconds a delivery may go unacknowledged.
        #[arg(long, env = "REACTOR_ACK_WAIT_SECS", default_value_t = 5)]
        ack_wait_secs: u64,
        /// The reactors' consumer: deliveries of one command.
        #[arg(long, env = "REACTOR_MAX_DELIVER", default_value_t = 10)]
        max_deliver: i64,
        /// Change what differs (otherwise only say what does).
        #[arg(value_parser = ["apply"])]
        apply: Option<String>,
    },
    /// Writes a self-signed certificate and its key (`cert.pem`, `key.pem`) for
    /// `localhost` and `127.0.0.1`, to try the api's HTTPS and HTTP/2
    /// (`api --tls-cert DIR/cert.pem --tls-key DIR/key.pem`).
    Cert {
        /// Where to write them.
        #[arg(long, default_value = ".data/tls")]
        dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Tool::Seed { api_url } => seed(&api_url).await,
        Tool::Purge => purge(&cli.nats).await,
        Tool::Sub { what } => sub(&cli.nats, &what).await,
        Tool::Cert { dir } => cert(&dir),
        Tool::Topology {
            topology,
            ack_wait_secs,
            max_deliver,
            apply,
        } => {
            let mut reactor = herald_reactor::Config::with_nats_url(cli.nats.url.clone());
            reactor.topology = topology;
            reactor.ack_wait_secs = ack_wait_secs;
            reactor.max_deliver = max_deliver;
            topology_command(&cli.nats, &reactor, apply.is_some()).await
        }
    }
}

async fn topology_command(
    nats: &NatsConfig,
    reactor: &herald_reactor::Config,
    apply: bool,
) -> anyhow::Result<()> {
    let client = nats.connect("herald-dev", |_| {}).await?;
    let jetstream = herald_runtime::connection::jetstream(client);
    let (topology, mut differences) = if apply {
        let changed = Topology::apply(&jetstream, &reactor.topology).await?;
        (
            Topology::open(&jetstream, &reactor.topology).await?.0,
            changed,
        )
    } else {
        Topology::open(&jetstream, &reactor.topology)
            .await
            .context("is NATS running? (task nats)")?
    };
    let wanted = herald_reactor::consumer::consumer_config(reactor);
    if let Ok(consumer) = topology
        .commands
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(names::REACTOR_CONSUMER)
        .await
    {
        let found =
            herald_reactor::consumer::consumer_differences(&consumer.cached_info().config, &wanted);
        if apply && !found.is_empty() {
            topology.commands.update_consumer(wanted).await?;
        }
        differences.extend(found);
    }
    let verb = if apply { "changed" } else { "differs" };
    if differences.is_empty() {
        println!("the streams, buckets and consumer are as configured");
    }
    for difference in differences {
        println!("{verb}: {difference}");
    }
    Ok(())
}

fn cert(dir: &std::path::Path) -> anyhow::Result<()> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, signing_key.serialize_pem())?;
    println!("{}\n{}", cert_path.display(), key_path.display());
    Ok(())
}

async fn seed(api_url: &str) -> anyhow::Result<()> {
    let samples = [
        ("Lisbon", "City", "Seven hills above the Tagus."),
        (
            "Cornwall",
            "County/Region",
            "The far south-west of Britain.",
        ),
        ("Iceland", "Country", "Fire and ice in the North Atlantic."),
        ("Oceania", "Continent", "Australia and the Pacific islands."),
    ];
    let http = reqwest::Client::new();
    for (name, category, description) in samples {
        let answer = http
            .post(format!("{api_url}/api/locations"))
            .json(&json!({"name": name, "category": category, "description": description}))
            .send()
            .await
            .with_context(|| format!("is the api running at {api_url}? (task serve)"))?;
        let status = answer.status();
        let body: Value = answer.json().await?;
        let Some(events) = body.pointer("/links/events").and_then(Value::as_str) else {
            println!("{name}: {status} {body}");
            continue;
        };
        // The event stream ends after its one terminal event.
        let outcome = http
            .get(format!("{api_url}{events}"))
            .send()
            .await?
            .text()
            .await?;
        let event = outcome
            .lines()
            .find_map(|line| line.strip_prefix("event: "))
            .unwrap_or("no event");
        println!("{name}: {event}");
    }
    Ok(())
}

async fn purge(nats: &NatsConfig) -> anyhow::Result<()> {
    let client = nats.connect("herald-dev", |_| {}).await?;
    let jetstream = herald_runtime::connection::jetstream(client);
    let purged = jetstream
        .get_stream(names::COMMANDS_STREAM)
        .await
        .context("is NATS running? (task nats)")?
        .purge()
        .await
        .context("purging the commands")?;
    println!(
        "{}: {} commands purged",
        names::COMMANDS_STREAM,
        purged.purged
    );
    // Key by key, so the api's views, which follow the buckets, see each removal.
    for bucket in [names::LOCATIONS_BUCKET, names::COMMANDS_BUCKET] {
        let store = jetstream.get_key_value(bucket).await?;
        let keys: Vec<String> = store.keys().await?.try_collect().await?;
        for key in &keys {
            store.purge(key).await?;
        }
        println!("{bucket}: {} keys purged", keys.len());
    }
    Ok(())
}

async fn sub(nats: &NatsConfig, what: &str) -> anyhow::Result<()> {
    let subject = match what {
        "commands" => names::COMMANDS_SUBJECTS,
        "notifications" => names::NOTIFICATIONS_ALL,
        subject => subject,
    };
    let client = nats.connect("herald-dev", |_| {}).await?;
    let mut messages = client.subscribe(subject.to_owned()).await?;
    eprintln!("listening on {subject} (Ctrl-C stops)");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                let payload = serde_json::from_slice::<Value>(&message.payload)
                    .and_then(|json| serde_json::to_string_pretty(&json))
                    .unwrap_or_else(|_| String::from_utf8_lossy(&message.payload).into_owned());
                println!("[{}]\n{payload}\n", message.subject);
            }
        }
    }
}
