//! The `reactor` binary: `reactor --help` lists the flags.

use clap::Parser;
use herald_reactor::Config;
use herald_runtime::process;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    process::init_tracing(&config.log);
    herald_reactor::run(config, process::shutdown_signal()).await
}
