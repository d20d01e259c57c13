//! Herald's reactor: where commands become facts.
//!
//! It consumes the `COMMANDS` stream through the shared durable consumer
//! ([`consumer`]), and for each command writes the read model and the command's
//! status and announces the outcome ([`projector`]). Any number of reactors can
//! run against one consumer; each command takes effect once.
//!
//! [`run`] is what `main` calls and what tests start in-process.

pub mod advisories;
pub mod config;
pub mod consumer;
pub mod dead_letters;
pub mod delivery;
pub mod lag;
pub mod name_index;
pub mod projector;
pub mod records;

pub use config::Config;
use herald_contract::Topology;
use herald_runtime::{connection, process};

/// The longest the last acknowledgements may take to leave at shutdown.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// How often the backlog is read (for the metrics) and, when there is any, logged.
const LAG_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the reactor until `shutdown` resolves, then stops pulling, finishes what
/// is in flight (up to [`consumer::DRAIN_TIMEOUT`]) and returns.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (token, _trigger) = process::cancel_on(shutdown);
    // However `run` returns, everything watching the token ends with it.
    let _cancel_on_return = token.clone().drop_guard();
    // Served from the start, so an operator sees a reactor waiting for NATS too.
    let metrics = match config.metrics_addr {
        Some(address) => {
            herald_runtime::metrics::handle();
            let listener = tokio::net::TcpListener::bind(address).await?;
            Some(tokio::spawn(herald_runtime::metrics::serve(
                listener,
                token.clone(),
            )))
        }
        None => None,
    };
    let client = config.nats.connect("herald-reactor", |_| {}).await?;
    let jetstream = connection::jetstream(client.clone());
    let Some(topology) =
        Topology::open_until(&jetstream, &config.topology, token.cancelled()).await
    else {
        return Ok(());
    };
    let lag = std::sync::Arc::new(lag::Lag::default());
    let reporter = tokio::spawn({
        let (lag, commands, token) = (lag.clone(), topology.commands.clone(), token.clone());
        async move { lag.report(commands, LAG_REPORT_EVERY, token).await }
    });
    let records = records::NatsRecords::new(client.clone(), &topology);
    let projector = projector::Projector::new(records, lag, config.delay());
    let advisories = tokio::spawn(advisories::follow(
        topology.advisories.clone(),
        topology.commands.clone(),
        projector.clone(),
        token.clone(),
    ));
    consumer::consume(topology.commands.clone(), projector, &config, token.clone()).await;
    token.cancel();
    reporter.await?;
    advisories.await?;
    if let Some(metrics) = metrics {
        metrics.await??;
    }
    // Acks and notifications are buffered by the client: send them before leaving,
    // but do not hang on a server that is gone (what was not acked is redelivered).
    if tokio::time::timeout(FLUSH_TIMEOUT, client.flush())
        .await
        .is_err()
    {
        tracing::warn!("NATS did not confirm the last acknowledgements in time");
    }
    tracing::info!("reactor stopped");
    Ok(())
}
