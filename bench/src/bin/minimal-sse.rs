//! `minimal-sse`: the smallest axum server that holds event streams, the
//! reference next to which `herald-bench crowd` reports what Herald's streams
//! cost and how fast its feed fans out, on the same machine in the same run.
//!
//! - `GET /events`: an event stream that never sends an event (axum's keep-alive
//!   comments only);
//! - `GET /feed`: an event stream of what `POST /announce` sends (one tokio
//!   broadcast channel, encoded by axum per client);
//! - `GET /readyz`: 200. `HTTP_ADDR` says where.

use std::convert::Infallible;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::var("HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let (announcements, _) = broadcast::channel::<String>(16);
    let app = Router::new()
        .route(
            "/events",
            get(|| async {
                Sse::new(futures::stream::pending::<Result<Event, Infallible>>())
                    .keep_alive(KeepAlive::default())
            }),
        )
        .route(
            "/feed",
            get(
                |State(announcements): State<broadcast::Sender<String>>| async move {
                    let events =
                        BroadcastStream::new(announcements.subscribe()).filter_map(|data| {
                            std::future::ready(data.ok().map(|data| {
                                Ok::<_, Infallible>(
                                    Event::default().event("notification").data(data),
                                )
                            }))
                        });
                    Sse::new(events).keep_alive(KeepAlive::default())
                },
            ),
        )
        .route(
            "/announce",
            post(
                |State(announcements): State<broadcast::Sender<String>>, body: String| async move {
                    let _ = announcements.send(body);
                },
            ),
        )
        .route("/readyz", get(|| async { "ready" }))
        .with_state(announcements);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
