//! Serving the app: HTTP/1.1 and HTTP/2, in clear or over TLS, with the limits a
//! crowd of connections needs.
//!
//! axum's own `serve` offers none of the knobs this needs, so the accept loop is
//! here, on hyper-util's connection builder (the same pieces `axum::serve` uses):
//!
//! - HTTP/2 in clear text by prior knowledge (`h2c`), and over TLS by ALPN, so
//!   browsers multiplex all their streams on one connection without a proxy;
//! - a header read timeout: a connection that does not send a request's headers
//!   in time (a slow-loris client, or one idle between requests) is closed, so a
//!   few thousand such clients cannot take the process's file descriptors;
//! - a graceful end: on shutdown the listener closes, every connection finishes
//!   what it is answering (event streams end with `retry:`), within `drain`;
//! - a fast path for event streams on plain HTTP/1.1 connections ([`front`]),
//!   which holds a stream for a fraction of what a hyper connection keeps.

pub mod front;
pub mod prefixed;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::state::SharedState;
use front::Left;

/// How the connections are served.
#[derive(Clone)]
pub struct Serving {
    /// Headers of a request must arrive within this (also bounds a TLS handshake).
    pub header_read_timeout: Duration,
    /// Serve TLS with this (HTTP/2 or HTTP/1.1 by ALPN); clear text without.
    pub tls: Option<TlsAcceptor>,
    /// How long connections may take to finish at shutdown.
    pub drain: Duration,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("tls", &self.tls.is_some())
            .field("drain", &self.drain)
            .finish()
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets connections finish for
/// up to `serving.drain`. Event streams on plain HTTP/1.1 connections are served
/// from `state` by the fast path.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: SharedState,
    serving: Serving,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    let serving = Arc::new(serving);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors, or a connection that died in the backlog:
            // wait a little rather than spin, and go on.
            Err(error) => {
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small responses (a 202, one event) must not wait for Nagle's algorithm.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let (app, state, serving, shutdown) = (
            app.clone(),
            state.clone(),
            serving.clone(),
            shutdown.clone(),
        );
        connections.spawn(async move {
            // Everything but the fast path is boxed: the task of a connection
            // that stays on the fast path (a held stream) is no larger than it needs.
            let served = match &serving.tls {
                None => match front::serve(tcp, state, serving.header_read_timeout).await {
                    Left::Closed => Ok(()),
                    Left::HandOff(io) => Box::pin(connection(io, app, &serving, shutdown)).await,
                },
                Some(acceptor) => {
                    Box::pin(tls(tcp, acceptor.clone(), app, &serving, shutdown)).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(serving.drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            unfinished = connections.len(),
            "connections still open after the drain; closing them"
        );
    }
    Ok(())
}

/// Serves a TLS connection: the handshake (within the header read timeout), then
/// HTTP/2 or HTTP/1.1 as ALPN chose.
async fn tls(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    app: Router,
    serving: &Serving,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match tokio::time::timeout(serving.header_read_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => connection(tls, app, serving, shutdown).await,
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err("TLS handshake timed out".into()),
    }
}

/// Serves one connection (HTTP/1.1 or HTTP/2, told apart by its first bytes)
/// until it ends, or `shutdown` asks it to finish.
async fn connection<I>(
    io: I,
    app: Router,
    serving: &Serving,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(
        app.map_request(|request: Request<Incoming>| request.map(Body::new)),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        // A browser's streams of one page share a connection: room for many.
        .max_concurrent_streams(1_000)
        .keep_alive_interval(Some(Duration::from_secs(20)));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => served,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}
