//! The in-memory locations view follows the `locations` bucket: what was there
//! before it started, live puts and deletes, pages newest first, and a NATS restart.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use herald_contract::{Location, Topology, TopologyConfig};
use herald_read_model::{LocationsView, ReadError, ReadModel};
use herald_testkit::{NatsServer, eventually};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// A view following the bucket of one test's server; stops it on [`Following::stop`].
struct Following {
    view: LocationsView,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Following {
    fn start(jetstream: &jetstream::Context) -> Self {
        let view = LocationsView::new();
        let shutdown = CancellationToken::new();
        let task = view.spawn(jetstream.clone(), shutdown.clone());
        Self {
            view,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the view stops promptly")
            .expect("the view task does not panic");
    }

    /// Waits until the view has applied `revision`.
    async fn sees(&self, revision: u64) {
        assert!(
            self.view.wait_for_revision(revision, WAIT).await,
            "revision {revision} not applied (at {})",
            self.view.revision()
        );
    }
}

async fn bucket(server: &NatsServer) -> (jetstream::Context, kv::Store) {
    let client = async_nats::connect(server.url())
        .await
        .expect("connect to the test server");
    let jetstream = jetstream::new(client);
    let (topology, _) = Topology::open(&jetstream, &TopologyConfig::default())
        .await
        .expect("create the stream and buckets");
    (jetstream, topology.locations)
}

/// Stores a new location named `name`; returns its id and the bucket revision.
async fn put(bucket: &kv::Store, name: &str) -> (Uuid, u64) {
    try_put(bucket, name).await.expect("put a location")
}

async fn try_put(bucket: &kv::Store, name: &str) -> Result<(Uuid, u64), kv::PutError> {
    let id = Uuid::now_v7();
    let location = json!({
        "id": id,
        "name": name,
        "category": "Town",
        "description": "",
        "created_at": "2025-01-01T00:00:00Z",
    });
    let value = serde_json::to_vec(&location).expect("JSON");
    let revision = bucket.put(id.to_string(), value.into()).await?;
    Ok((id, revision))
}

/// Puts once the client has reconnected after a restart.
async fn put_after_restart(bucket: &kv::Store, name: &str) -> (Uuid, u64) {
    eventually(WAIT, "a put succeeds after the restart", || async {
        tokio::time::timeout(WAIT, try_put(bucket, name))
            .await
            .ok()
            .and_then(Result::ok)
    })
    .await
}

/// The bucket's latest revision (a delete does not report its own).
async fn last_revision(bucket: &kv::Store) -> u64 {
    let info = bucket.stream.get_info().await.expect("stream info");
    info.state.last_sequence
}

fn names_of(locations: &[Location]) -> Vec<&str> {
    locations.iter().map(|l| l.name.as_str()).collect()
}

#[tokio::test]
async fn loads_existing_locations_then_follows_puts_and_deletes() {
    let server = NatsServer::start().await;
    let (jetstream, bucket) = bucket(&server).await;
    let (first, _) = put(&bucket, "Lisbon").await;
    let (_, revision) = put(&bucket, "Porto").await;

    let following = Following::start(&jetstream);
    assert!(following.view.wait_caught_up(WAIT).await, "initial load");
    assert_eq!(following.view.revision(), revision);
    assert_eq!(
        names_of(&following.view.page(10, None).locations),
        ["Porto", "Lisbon"]
    );

    let (_, revision) = put(&bucket, "Faro").await;
    following.sees(revision).await;
    assert_eq!(following.view.len(), 3);
    assert_eq!(following.view.page(1, None).locations[0].name, "Faro");

    bucket
        .delete(first.to_string())
        .await
        .expect("delete a location");
    let revision = last_revision(&bucket).await;
    following.sees(revision).await;
    assert_eq!(following.view.get(first), None);
    assert_eq!(
        names_of(&following.view.page(10, None).locations),
        ["Faro", "Porto"]
    );
    following.stop().await;
}

#[tokio::test]
async fn an_empty_bucket_is_caught_up_at_once() {
    let server = NatsServer::start().await;
    let (jetstream, bucket) = bucket(&server).await;
    let following = Following::start(&jetstream);
    assert!(following.view.wait_caught_up(WAIT).await);
    assert!(following.view.is_empty());
    assert_eq!(following.view.page(50, None).next, None);

    let (id, revision) = put(&bucket, "Évora").await;
    following.sees(revision).await;
    assert_eq!(following.view.get(id).map(|l| l.name), Some("Évora".into()));
    following.stop().await;
}

#[tokio::test]
async fn pages_run_newest_first_and_the_cursor_reaches_every_location() {
    let server = NatsServer::start().await;
    let (jetstream, bucket) = bucket(&server).await;
    let mut ids = Vec::new();
    for n in 0..23 {
        ids.push(put(&bucket, &format!("Town {n}")).await.0);
    }
    let following = Following::start(&jetstream);
    assert!(following.view.wait_caught_up(WAIT).await);

    let mut listed = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = following.view.page(10, cursor);
        pages += 1;
        assert!(page.locations.len() <= 10);
        listed.extend(page.locations.iter().map(|l| l.id));
        match page.next {
            Some(next) => {
                assert_eq!(Some(next), page.locations.last().map(|l| l.id));
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(listed, ids, "every location once, newest first");

    // A page that ends exactly at the last location has no next page.
    let page = following.view.page(3, Some(ids[19]));
    assert_eq!(page.locations.len(), 3);
    assert_eq!(page.next, None);
    following.stop().await;
}

#[tokio::test]
async fn keeps_following_after_a_nats_restart() {
    let mut server = NatsServer::start().await;
    let (jetstream, bucket) = bucket(&server).await;
    let (_, revision) = put(&bucket, "Before").await;
    let following = Following::start(&jetstream);
    following.sees(revision).await;

    server.restart().await;
    // The client reconnects by itself; puts after the restart must reach the view.
    let (after, revision) = put_after_restart(&bucket, "After").await;
    following.sees(revision).await;
    assert_eq!(
        following.view.get(after).map(|l| l.name),
        Some("After".into())
    );

    // Twice, so the watch is proven to have been re-created, not just lucky once.
    server.restart().await;
    let (last, revision) = put_after_restart(&bucket, "Again").await;
    following.sees(revision).await;
    assert_eq!(
        names_of(&following.view.page(10, None).locations),
        ["Again", "After", "Before"]
    );
    assert!(following.view.get(last).is_some());
    following.stop().await;
}

#[tokio::test]
async fn the_api_lists_every_page_through_link_headers() {
    let stack = herald_testkit::Stack::start_with(herald_testkit::StackOptions {
        reactors: 0,
        ..Default::default()
    })
    .await;
    let (_, bucket) = bucket(&stack.nats).await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(put(&bucket, &format!("City {n}")).await.0);
    }
    ids.reverse();

    // A listing waits until the view has applied every write stored before it,
    // so the first walk already sees all seven.
    let mut listed = Vec::new();
    let mut path = Some("/api/locations?limit=3".to_owned());
    while let Some(current) = path {
        let response = stack.get(&current).await;
        assert_eq!(response.status(), 200);
        path = response.headers().get("link").map(|link| {
            let link = link.to_str().expect("ASCII link");
            let target = link.strip_prefix('<').and_then(|l| l.split_once('>'));
            let (target, rel) = target.expect("link is <target>; rel");
            assert_eq!(rel, "; rel=\"next\"");
            target.to_owned()
        });
        let page: Vec<Location> = response.json().await.expect("locations JSON");
        listed.extend(page.iter().map(|l| l.id));
    }
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn a_listing_does_not_answer_from_a_view_still_loading() {
    let server = NatsServer::start().await;
    let (jetstream, _) = bucket(&server).await;
    // A view nobody follows the bucket with never finishes loading.
    let read_model = ReadModel::new(jetstream, LocationsView::new());
    let error = read_model
        .locations(50, None)
        .await
        .expect_err("no partial list");
    assert!(matches!(error, ReadError::Loading { .. }));
}

#[tokio::test]
async fn waits_for_the_bucket_to_be_created() {
    let server = NatsServer::start().await;
    let client = async_nats::connect(server.url())
        .await
        .expect("connect to the test server");
    let following = Following::start(&jetstream::new(client));
    assert!(
        !following
            .view
            .wait_caught_up(Duration::from_millis(300))
            .await,
        "no bucket, nothing to catch up with"
    );
    let (_, bucket) = bucket(&server).await;
    let (id, revision) = put(&bucket, "Braga").await;
    following.sees(revision).await;
    assert!(following.view.is_caught_up());
    assert!(following.view.get(id).is_some());
    following.stop().await;
}
