//! The test NATS server starts, carries messages, and keeps its JetStream store across a restart.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use herald_testkit::NatsServer;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn publishes_and_keeps_jetstream_data_across_restart() {
    let mut server = NatsServer::start().await;
    assert!(server.url().ends_with(&format!(":{}", server.port())));

    let client = async_nats::connect(server.url())
        .await
        .expect("connect to the test server");

    // Core NATS: one message out, the same message back.
    let mut subscriber = client.subscribe("testkit.hello").await.expect("subscribe");
    client
        .publish("testkit.hello", "hi".into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    let message = timeout(WAIT, subscriber.next())
        .await
        .expect("message arrives in time")
        .expect("subscription still open");
    assert_eq!(message.payload.as_ref(), b"hi");

    // JetStream: store one message on disk before the restart.
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: "TESTKIT".to_owned(),
        subjects: vec!["testkit.events.>".to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("create stream");
    js.publish("testkit.events.one", "kept".into())
        .await
        .expect("publish to stream")
        .await
        .expect("stream acknowledges");
    drop(subscriber);
    drop(js);
    drop(client);

    let port = server.port();
    server.restart().await;
    assert_eq!(server.port(), port, "a restart keeps the port");

    let client = async_nats::connect(server.url())
        .await
        .expect("connect to the restarted server");
    let js = jetstream::new(client);
    let mut events = js.get_stream("TESTKIT").await.expect("stream survives");
    let info = events.info().await.expect("stream info");
    assert_eq!(info.state.messages, 1);
    let stored = events.get_raw_message(1).await.expect("message survives");
    assert_eq!(stored.payload.as_ref(), b"kept");
    assert_eq!(stored.subject.as_str(), "testkit.events.one");

    server.stop().await;
    assert!(
        async_nats::connect(server.url()).await.is_err(),
        "a stopped server refuses connections"
    );
}

#[tokio::test]
async fn servers_are_independent() {
    let a = NatsServer::start().await;
    let b = NatsServer::start().await;
    assert_ne!(a.port(), b.port());
}

#[tokio::test]
async fn a_cluster_forms_replicates_and_survives_a_node() {
    let mut cluster = herald_testkit::NatsCluster::start(3).await;
    let client = async_nats::connect(cluster.servers())
        .await
        .expect("connect");
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "R3".into(),
            subjects: vec!["r3.>".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .expect("a replicated stream");
    let leader = herald_testkit::eventually(herald_testkit::PATIENCE, "a leader", || async {
        cluster.leader_of("R3").await
    })
    .await;
    cluster.kill(leader).await;
    let next = herald_testkit::eventually(herald_testkit::PATIENCE, "a new leader", || async {
        cluster.leader_of("R3").await.filter(|next| *next != leader)
    })
    .await;
    assert_ne!(next, leader);
    cluster.restart(leader).await;
}
