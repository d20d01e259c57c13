//! What every Herald process does at start and at stop: logging, and the signal
//! that ends it.

use std::io::IsTerminal;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line of text per event.
    #[default]
    Text,
    /// For machines: one JSON object per line, with the fields of the spans it
    /// happened in (a request's id, a command's id).
    Json,
}

/// Logging; flattened into each binary's configuration.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogConfig {
    /// `text` or `json`. What is logged is filtered by `RUST_LOG` (default `info,async_nats=off`).
    #[arg(long = "log-format", env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,
}

/// Logs to stderr as `config` says, filtered by `RUST_LOG` (default `info,async_nats=off`).
pub fn init_tracing(config: &LogConfig) {
    // async-nats logs every failed reconnect itself; Herald logs the client's
    // events once each, so by default its own lines are left out.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=off"));
    // Colours only for a person at a terminal: in a file, a pipe or a
    // container's log they are escape codes in the way of grep.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// A cancellation token that fires when `shutdown` resolves, so every loop of a
/// process can watch one token. The returned guard stops watching when dropped,
/// so an early return leaves no task behind.
pub fn cancel_on(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (CancellationToken, AbortOnDrop) {
    let token = CancellationToken::new();
    let trigger = tokio::spawn({
        let token = token.clone();
        async move {
            shutdown.await;
            token.cancel();
        }
    });
    (token, AbortOnDrop(trigger))
}

/// Aborts its task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
