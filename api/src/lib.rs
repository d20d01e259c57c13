//! Herald's HTTP api.
//!
//! It validates commands and publishes them to JetStream ([`publish`]), serves
//! the read model, and tells each waiting client when its command finished
//! ([`completion`]) over Server-Sent Events. [`run`] is what `main` calls and what
//! tests start in-process; [`app`] builds the router without a socket.
//!
//! Layout: `routes/` mirrors the URLs, [`error`] turns every failure into problem
//! details, [`config`] holds the flags.

pub mod accept;
pub mod answers;
pub mod body;
pub mod config;
pub mod error;
pub mod observe;
pub mod openapi;
pub mod origin;
pub mod outcomes;
pub mod prefer;
pub mod publish;
pub mod routes;
pub mod server;
pub mod sse;
pub mod state;
pub mod streams;
pub mod tls;
pub mod web_commands;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use herald_contract::{Topology, names};
use herald_read_model::{LocationsView, ReadModel};
use herald_runtime::{connection, process};
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

pub use config::Config;
use origin::TrustedOrigins;
use state::{AppState, SharedState};

/// What a shutdown keeps of its time for NATS, after the connections' drain.
const AFTER_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest request body accepted (DESIGN: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP surface: the JSON api, health checks and the web pages.
/// `allowed_origins` may call the api from their pages (CORS, and the
/// cross-origin check); none: only our own pages.
pub fn app(state: SharedState, allowed_origins: &[HeaderValue]) -> Router {
    let web = herald_web::router(
        state.read_model.clone(),
        web_commands::WebCommands::new(state.clone()),
    );
    routes::router()
        .route("/metrics", axum::routing::get(observe::metrics))
        .with_state(state)
        .merge(web)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            TrustedOrigins::new(allowed_origins.to_vec()),
            origin::refuse_cross_origin,
        ))
        .layer(tower::util::option_layer(cors(allowed_origins)))
        .layer(axum::middleware::from_fn(observe::requests))
}

/// Cross-origin access for the configured origins; none by default (same origin).
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let name = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(origins.to_vec())
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                name("prefer"),
                name("idempotency-key"),
                name("last-event-id"),
                name("x-notification-await"),
                name("x-notification-timeout"),
            ])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                header::LINK,
                name("preference-applied"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Runs the api on `listener` until `shutdown` resolves.
///
/// It serves at once, even before NATS is reachable: until then `/healthz`
/// answers, `/readyz` and everything that needs NATS answer 503. On shutdown it
/// stops accepting connections, ends every open event stream, and returns once
/// the in-flight requests have finished.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (token, _trigger) = process::cancel_on(shutdown);
    // However `run` returns, everything watching the token ends with it.
    let _cancel_on_return = token.clone().drop_guard();
    let tls = tls::acceptor(&config.tls)?;
    // Before anything is counted: what is recorded without a recorder is lost.
    herald_runtime::metrics::handle();
    let outcomes = outcomes::Outcomes::new(config.topology.command_retention());
    let client = config
        .nats
        .connect("herald-api", {
            let outcomes = outcomes.clone();
            move |event| {
                // Notifications may have been lost: read them from the bucket.
                if matches!(
                    event,
                    async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                ) {
                    outcomes.request_replay();
                }
            }
        })
        .await?;
    let jetstream = connection::jetstream(client.clone());
    let notifications = client.subscribe(names::NOTIFICATIONS_ALL).await?;
    let listening = tokio::spawn(outcomes::follow::listen(
        outcomes.clone(),
        notifications,
        token.clone(),
    ));
    let keeping_up = tokio::spawn(outcomes::follow::keep_up(
        outcomes.clone(),
        jetstream.clone(),
        token.clone(),
    ));
    let (pulse, pulsing) = sse::pulse(config.sse_heartbeat(), token.clone());

    let topology_ready = Arc::new(AtomicBool::new(false));
    let locations_view = LocationsView::new();
    let setup = tokio::spawn({
        let (jetstream, topology, ready, view, outcomes, token) = (
            jetstream.clone(),
            config.topology.clone(),
            topology_ready.clone(),
            locations_view.clone(),
            outcomes.clone(),
            token.clone(),
        );
        async move {
            let ensured = Topology::open_until(&jetstream, &topology, token.cancelled()).await;
            ready.store(ensured.is_some(), Ordering::Release);
            if ensured.is_some() {
                // The statuses' bucket is there now: start following it at once
                // rather than at the next tick (readiness waits for it).
                outcomes.request_replay();
                // The view follows a bucket that exists: started sooner, on a fresh
                // NATS its first watch would fail and say so before the bucket is made.
                view.run(jetstream, token).await;
            }
        }
    });

    let cap = |max: u64| usize::try_from(max).unwrap_or(usize::MAX);
    let state = Arc::new(AppState {
        client: client.clone(),
        publisher: publish::Publisher::new(jetstream.clone()),
        read_model: ReadModel::new(jetstream, locations_view),
        outcomes,
        streams: sse::Streams::new(cap(config.max_event_streams)),
        holds: sse::Streams::new(cap(config.max_wait_holds)),
        pulse,
        topology_ready,
        shutdown: token.clone(),
    });
    tracing::info!(
        address = %listener.local_addr()?,
        tls = tls.is_some(),
        "api listening"
    );
    let serving = server::Serving {
        header_read_timeout: config.header_read_timeout(),
        tls,
        drain: std::time::Duration::from_secs(config.shutdown_timeout_secs) - AFTER_DRAIN,
    };
    server::serve(
        listener,
        app(state.clone(), &config.cors_allowed_origins),
        state,
        serving,
        token.clone(),
    )
    .await?;

    token.cancel();
    setup.await?;
    listening.await?;
    keeping_up.await?;
    pulsing.await?;
    if tokio::time::timeout(AFTER_DRAIN, client.drain())
        .await
        .is_err()
    {
        tracing::warn!("NATS did not confirm the drain in time");
    }
    tracing::info!("api stopped");
    Ok(())
}
