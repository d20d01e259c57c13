//! Test support for Herald.
//!
//! Herald's only infrastructure is a NATS server with JetStream, and most of what can go wrong
//! (redelivery, restarts, consumers vanishing across a reconnect) only shows up against a real
//! one. So tests do not mock NATS: each test starts its own `nats-server` on a random port with a
//! private store directory ([`NatsServer`]), in the spirit of nats.rs's own test-only
//! `nats-server` crate. Tests stay independent and can run in parallel, and a test can restart
//! its server to prove nothing is lost.
//!
//! - [`nats_server`]: start, stop and restart a real `nats-server` owned by one test.
//! - [`nats_cluster`]: three of them routed into a JetStream cluster.
//! - [`stack`]: that server plus reactors and the api in-process, with one helper per endpoint.
//! - [`eventually`]: wait for background work with a deadline, never a bare sleep.

pub mod eventually;
pub mod nats_cluster;
pub mod nats_server;
pub mod problem;
pub mod stack;

pub use eventually::eventually;
pub use nats_cluster::NatsCluster;
pub use nats_server::NatsServer;
pub use problem::assert_problem;
pub use stack::{PATIENCE, Stack, StackOptions};
