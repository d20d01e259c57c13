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
pub mod completion;
pub mod config;
pub mod error;
pub mod openapi;
pub mod origin;
pub mod prefer;
pub mod publish;
pub mod recent;
pub mod routes;
pub mod state;
pub mod web_commands;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::serve::ListenerExt;
use herald_contract::{Topology, names};
use herald_read_model::{LocationsView, ReadModel};
use herald_runtime::{connection, process};
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
use origin::TrustedOrigins;
use state::{AppState, SharedState};

/// Accepted command ids remembered to spare a stream lookup (about 1.5 MiB).
const RECENT_COMMANDS: usize = 65_536;

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
        .layer(TraceLayer::new_for_http())
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
    let hub = completion::Hub::default();
    let client = config
        .nats
        .connect("herald-api", {
            let hub = hub.clone();
            move |event| {
                if matches!(
                    event,
                    async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                ) {
                    hub.recheck_all();
                }
            }
        })
        .await?;
    let jetstream = connection::jetstream(client.clone());
    let notifications = client.subscribe(names::NOTIFICATIONS_ALL).await?;
    let feeder = tokio::spawn(hub.clone().run(notifications, token.clone()));

    let topology_ready = Arc::new(AtomicBool::new(false));
    let setup = tokio::spawn({
        let (jetstream, topology, ready, token) = (
            jetstream.clone(),
            config.topology.clone(),
            topology_ready.clone(),
            token.clone(),
        );
        async move {
            let ensured = Topology::ensure_until(&jetstream, &topology, token.cancelled()).await;
            ready.store(ensured.is_some(), Ordering::Release);
        }
    });

    let locations_view = LocationsView::new();
    let view_follower = locations_view.spawn(jetstream.clone(), token.clone());
    let state = Arc::new(AppState {
        client: client.clone(),
        publisher: publish::Publisher::new(jetstream.clone()),
        read_model: ReadModel::new(jetstream, locations_view),
        hub,
        recent: recent::RecentCommands::new(
            RECENT_COMMANDS,
            std::time::Duration::from_secs(config.topology.command_status_ttl_secs),
        ),
        topology_ready,
        shutdown: token.clone(),
        status_recheck: config.status_recheck(),
        sse_heartbeat: config.sse_heartbeat(),
    });
    tracing::info!(address = %listener.local_addr()?, "api listening");
    // Small responses (a 202, one SSE event) must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(state, &config.cors_allowed_origins))
        .with_graceful_shutdown(token.clone().cancelled_owned())
        .await?;

    token.cancel();
    setup.await?;
    view_follower.await?;
    feeder.await?;
    if tokio::time::timeout(connection::REQUEST_TIMEOUT, client.drain())
        .await
        .is_err()
    {
        tracing::warn!("NATS did not confirm the drain in time");
    }
    tracing::info!("api stopped");
    Ok(())
}
