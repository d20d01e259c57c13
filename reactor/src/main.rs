//! The `reactor` binary: `reactor --help` lists the flags.

use clap::Parser;
use herald_reactor::Config;
use herald_runtime::process;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    process::init_tracing();
    herald_reactor::run(Config::parse(), process::shutdown_signal()).await
}
