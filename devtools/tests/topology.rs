//! Who owns the topology: processes create what is missing and leave what
//! exists alone; `herald-dev topology` says what differs and `apply` changes it.

use std::time::Duration;

use herald_contract::names;
use herald_testkit::Stack;

/// `herald-dev topology [apply]` against the stack's NATS; its standard output.
fn herald_dev(stack: &Stack, apply: bool) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald-dev"));
    command.env("NATS_URL", stack.nats.url()).arg("topology");
    if apply {
        command.arg("apply");
    }
    let output = command.output().expect("run herald-dev");
    assert!(output.status.success(), "herald-dev failed: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

async fn max_age(stack: &Stack) -> Duration {
    let mut stream = stack
        .jetstream()
        .await
        .get_stream(names::COMMANDS_STREAM)
        .await
        .expect("the command stream");
    stream.info().await.expect("its info").config.max_age
}

#[tokio::test]
async fn an_operators_edit_survives_restarts_until_topology_apply_changes_it() {
    let mut stack = Stack::start().await;
    let configured = max_age(&stack).await;
    assert_eq!(
        herald_dev(&stack, false).trim(),
        "the streams, buckets and consumer are as configured"
    );

    // The operator keeps commands for a day instead.
    let edited = Duration::from_secs(24 * 60 * 60);
    let jetstream = stack.jetstream().await;
    let mut stream = jetstream
        .get_stream(names::COMMANDS_STREAM)
        .await
        .expect("stream");
    let mut config = stream.info().await.expect("info").config.clone();
    config.max_age = edited;
    jetstream
        .update_stream(config)
        .await
        .expect("edit the stream");

    // New instances of both processes start against it, and leave it be.
    stack.stop_api().await.expect("api stopped");
    stack.start_api().await;
    stack.start_reactor();
    let id = stack.create_location("Sintra").await;
    assert_eq!(stack.outcome(id).await.event, "completed");
    assert_eq!(
        max_age(&stack).await,
        edited,
        "a start-up undid the operator's edit"
    );

    let differs = herald_dev(&stack, false);
    assert!(differs.contains("differs: COMMANDS max age"), "{differs}");
    assert_eq!(max_age(&stack).await, edited, "looking changed nothing");

    let changed = herald_dev(&stack, true);
    assert!(changed.contains("changed: COMMANDS max age"), "{changed}");
    assert_eq!(max_age(&stack).await, configured);
    assert_eq!(
        herald_dev(&stack, false).trim(),
        "the streams, buckets and consumer are as configured"
    );
}
