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
