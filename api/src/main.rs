//! The `api` binary: `api --help` lists the flags.

use clap::Parser;
use herald_api::Config;
use herald_runtime::process;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    process::init_tracing(&config.log);
    let listener = tokio::net::TcpListener::bind(config.http_addr).await?;
    herald_api::run(config, listener, process::shutdown_signal()).await
}
