//! The reactor as a real process: killed with SIGKILL under load, and stopped
//! with SIGTERM. The api runs in-process; NATS is a real nats-server.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_testkit::{Stack, StackOptions, eventually};
use tokio::process::{Child, Command};
use uuid::Uuid;

fn spawn_reactor(stack: &Stack, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_reactor"))
        .env("NATS_URL", stack.nats.url())
        .env(
            "RUST_LOG",
            std::env::var("REACTOR_LOG").unwrap_or("warn".into()),
        )
        .envs(env.iter().copied())
        .stdout(match std::env::var("REACTOR_LOG_FILE") {
            Ok(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file"),
            ),
            Err(_) => Stdio::null(),
        })
        .kill_on_drop(true)
        .spawn()
        .expect("start the reactor binary")
}

/// Waits until the reactors have recorded `at_least` statuses (one per command).
async fn wait_for_recorded(stack: &Stack, at_least: u64) {
    let progress = format!("{at_least} statuses recorded");
    eventually(Duration::from_secs(60), &progress, || async {
        (stack.stored("KV_commands").await >= at_least).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_reactor_killed_five_times_during_2000_commands_loses_and_repeats_nothing() {
    let stack = Arc::new(
        Stack::start_with(StackOptions {
            reactors: 0,
            ..StackOptions::default()
        })
        .await,
    );
    let env = [
        ("REACTOR_ACK_WAIT_SECS", "2"),
        ("REACTOR_DELAY_MS", "10"),
        ("REACTOR_CONCURRENCY", "16"),
    ];
    let mut reactor = spawn_reactor(&stack, &env);

    let sender = tokio::spawn({
        let stack = stack.clone();
        async move {
            futures::stream::iter(0..2000)
                .map(|n| {
                    let stack = stack.clone();
                    async move { stack.create_location(&format!("Hamlet {n}")).await }
                })
                .buffer_unordered(32)
                .collect::<Vec<Uuid>>()
                .await
        }
    });
    for round in 1..=5 {
        wait_for_recorded(&stack, round * 250).await;
        reactor.start_kill().expect("SIGKILL");
        reactor.wait().await.expect("reaped");
        reactor = spawn_reactor(&stack, &env);
    }
    let ids: HashSet<Uuid> = sender.await.expect("sender").into_iter().collect();
    assert_eq!(ids.len(), 2000);

    let outcomes: Vec<String> = futures::stream::iter(ids.iter().copied())
        .map(|id| {
            let stack = stack.clone();
            async move { stack.outcome(id).await.event }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(outcomes.len(), 2000);
    assert!(
        outcomes.iter().all(|event| event == "completed"),
        "a redelivered command must not conflict with its own name"
    );
    // One location, one status and one name per command; nothing twice.
    assert_eq!(stack.stored("KV_locations").await, 2000);
    assert_eq!(stack.stored("KV_commands").await, 2000);
    assert_eq!(stack.stored("KV_location_names").await, 2000);
    drop(reactor);
}

#[tokio::test]
async fn sigterm_finishes_what_is_in_flight_and_exits_within_five_seconds() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let ids = stack.create_locations("Croft", 20).await;
    // Acknowledgements left undone would come back only after a minute.
    let env = [
        ("REACTOR_ACK_WAIT_SECS", "60"),
        ("REACTOR_DELAY_MS", "1000"),
        ("REACTOR_CONCURRENCY", "4"),
    ];
    let mut reactor = spawn_reactor(&stack, &env);
    wait_for_recorded(&stack, 1).await;

    let pid = reactor.id().expect("running").to_string();
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), reactor.wait())
        .await
        .expect("exits within 5 s")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
    assert!(sent.elapsed() < Duration::from_secs(5));

    let _next = spawn_reactor(&stack, &[("REACTOR_ACK_WAIT_SECS", "60")]);
    for id in ids {
        assert_eq!(stack.outcome(id).await.event, "completed");
    }
}
