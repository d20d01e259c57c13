//! Prometheus metrics, one recorder per process.
//!
//! Every counter, gauge and histogram is recorded through the `metrics` facade
//! and rendered as Prometheus text by `metrics-exporter-prometheus`, never by
//! hand. The api serves it at `GET /metrics`; the reactor on `METRICS_ADDR`
//! ([`serve`]). Latency histograms (names ending in `_seconds`) get buckets from
//! 100 µs to 30 s, so a p99 can be read from them.

use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Bucket bounds of every `_seconds` histogram.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Every metric Herald records, and what it means (the `# HELP` line; the
/// README's table says the same).
pub const METRICS: &[(&str, &str)] = &[
    (
        "herald_commands_accepted_total",
        "api: commands stored in the COMMANDS stream (202/201 answered)",
    ),
    (
        "herald_command_latency_seconds",
        "api: from a command's acceptance to its outcome reaching its waiters here",
    ),
    (
        "herald_notifications_received_total",
        "api: outcome notifications received on notifications.>",
    ),
    (
        "herald_notification_replays_total",
        "api: reads of the commands bucket because notifications may have been lost",
    ),
    (
        "herald_event_streams_open",
        "api: event streams open now, the global feed's included",
    ),
    ("herald_feed_clients", "api: global feed clients now"),
    (
        "herald_wait_holds_open",
        "api: POSTs held by Prefer: wait now",
    ),
    (
        "herald_waiters",
        "api: clients waiting for an outcome now, one per command of a group",
    ),
    (
        "herald_event_streams_refused_total",
        "api: event streams refused at MAX_EVENT_STREAMS",
    ),
    (
        "herald_http_requests_total",
        "api: HTTP requests by method, route pattern and status",
    ),
    (
        "herald_http_request_duration_seconds",
        "api: HTTP request duration by route pattern (an event stream on plain HTTP/1.1: until it ends; through TLS or HTTP/2: until its head is sent)",
    ),
    ("herald_nats_connected", "1 while the NATS connection is up"),
    (
        "herald_nats_events_total",
        "NATS connection events: connected (so reconnects), disconnected, slow_consumer, …",
    ),
    (
        "herald_reactor_deliveries_total",
        "reactor: command deliveries handled",
    ),
    (
        "herald_reactor_redeliveries_total",
        "reactor: deliveries of a command delivered before",
    ),
    (
        "herald_reactor_processing_seconds",
        "reactor: from a delivery to its acknowledgement",
    ),
    (
        "herald_reactor_outcomes_total",
        "reactor: outcomes recorded, by status and failure reason",
    ),
    (
        "herald_reactor_dead_letters_total",
        "reactor: commands kept in DEAD_COMMANDS",
    ),
    (
        "herald_reactor_task_failures_total",
        "reactor: command tasks that failed (the command is redelivered)",
    ),
    (
        "herald_reactor_consumer_pending",
        "reactor: commands not yet delivered (read every 5 s)",
    ),
    (
        "herald_reactor_consumer_ack_pending",
        "reactor: commands delivered and not yet acknowledged (read every 5 s)",
    ),
];

/// The process's recorder, installed on first use. In-process tests start many
/// apis and reactors in one process: they share it, as their counters would.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (a test harness's): then
            // this one is not the global one, and `/metrics` shows nothing.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already");
            }
            for (name, help) in METRICS {
                metrics::describe_counter!(*name, *help);
            }
            handle
        })
        .clone()
}

/// The Prometheus text of everything recorded so far.
pub fn render() -> String {
    handle().render()
}

/// A router answering `GET /metrics`.
pub fn router() -> Router {
    Router::new().route("/metrics", get(|| async { render() }))
}

/// Serves `GET /metrics` on `listener` until `stop` fires.
pub async fn serve(listener: TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, router())
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    Ok(())
}
