//! The `reactor` binary: `reactor --help` lists the flags.

use clap::Parser;
use herald_contract::process;
use herald_reactor::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    process::init_tracing();
    herald_reactor::run(Config::parse(), process::shutdown_signal()).await
}
