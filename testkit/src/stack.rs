//! The whole of Herald in one test: a real nats-server, reactors and the api,
//! started in-process on free ports, with one helper per endpoint.
//!
//! Reactors can be stopped gracefully or killed (their task aborted, which drops
//! their NATS connection with commands unacknowledged), so tests can prove that
//! nothing is lost when one dies mid-stream.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{NatsServer, eventually};

/// How long a helper waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One running reactor.
#[derive(Debug)]
struct Reactor {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// How to start a [`Stack`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Reactors to start (0: commands wait in the stream).
    pub reactors: usize,
    /// `REACTOR_DELAY_MS` of each reactor.
    pub reactor_delay: Duration,
    /// `REACTOR_CONCURRENCY` of each reactor.
    pub concurrency: u64,
    /// `REACTOR_MAX_DELIVER` of each reactor.
    pub max_deliver: i64,
    /// Ack wait of the reactors' consumer; short, so killed reactors' commands come back soon.
    pub ack_wait_secs: u64,
    /// The api's `MAX_EVENT_STREAMS`.
    pub max_event_streams: u64,
    /// The api's `MAX_WAIT_HOLDS`.
    pub max_wait_holds: u64,
    /// The api's `HEADER_READ_TIMEOUT_SECS`.
    pub header_read_timeout_secs: u64,
    /// The api's `SSE_HEARTBEAT_SECS`.
    pub sse_heartbeat_secs: u64,
    /// The api's `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: Vec<String>,
    /// `COMMAND_RETENTION_SECS` of api and reactors: how long commands are kept.
    pub command_retention_secs: u64,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            reactors: 1,
            reactor_delay: Duration::ZERO,
            concurrency: 64,
            max_deliver: 10,
            ack_wait_secs: 2,
            max_event_streams: 20_000,
            max_wait_holds: 10_000,
            header_read_timeout_secs: 10,
            sse_heartbeat_secs: 15,
            cors_allowed_origins: Vec::new(),
            command_retention_secs: herald_contract::TopologyConfig::default()
                .command_retention_secs,
        }
    }
}

/// nats-server, reactors and api, owned by one test.
#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    /// `http://127.0.0.1:PORT` of the api.
    pub api_url: String,
    pub http: reqwest::Client,
    options: StackOptions,
    api_stop: Option<oneshot::Sender<()>>,
    api: Option<JoinHandle<anyhow::Result<()>>>,
    reactors: Vec<Option<Reactor>>,
    /// The test's own NATS connection, opened on first use; it reconnects by
    /// itself after a restart of the server.
    client: tokio::sync::OnceCell<async_nats::Client>,
}

impl Stack {
    /// A stack with one reactor.
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        let nats = NatsServer::start().await;
        let mut stack = Self {
            nats,
            api_url: String::new(),
            http: reqwest::Client::new(),
            options: options.clone(),
            api_stop: None,
            api: None,
            reactors: Vec::new(),
            client: tokio::sync::OnceCell::new(),
        };
        stack.start_api().await;
        for _ in 0..options.reactors {
            stack.start_reactor();
        }
        stack
    }

    /// Starts the api on a fresh port (after [`Stack::stop_api`], a new instance:
    /// nothing survives in its memory) and waits until it is ready.
    pub async fn start_api(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port for the api");
        self.api_url = format!(
            "http://{}",
            listener.local_addr().expect("listener has an address")
        );
        let (api_stop, stopped) = oneshot::channel::<()>();
        let mut config = herald_api::Config::with_nats_url(self.nats.url());
        config.max_event_streams = self.options.max_event_streams;
        config.max_wait_holds = self.options.max_wait_holds;
        config.header_read_timeout_secs = self.options.header_read_timeout_secs;
        config.sse_heartbeat_secs = self.options.sse_heartbeat_secs;
        config.topology.command_retention_secs = self.options.command_retention_secs;
        config.cors_allowed_origins = self
            .options
            .cors_allowed_origins
            .iter()
            .map(|origin| origin.parse().expect("a valid origin"))
            .collect();
        self.api = Some(tokio::spawn(herald_api::run(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
        )));
        self.api_stop = Some(api_stop);
        self.wait_ready().await;
    }

    /// Waits until `/readyz` answers 200, as a load balancer would before sending traffic.
    pub async fn wait_ready(&self) {
        eventually(PATIENCE, "the api becomes ready", || async {
            let response = self.http.get(self.url("/readyz")).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    /// Starts one more reactor; returns its index.
    pub fn start_reactor(&mut self) -> usize {
        let mut config = herald_reactor::Config::with_nats_url(self.nats.url());
        config.delay_ms = u64::try_from(self.options.reactor_delay.as_millis()).unwrap_or(0);
        config.ack_wait_secs = self.options.ack_wait_secs;
        config.concurrency = self.options.concurrency;
        config.max_deliver = self.options.max_deliver;
        config.topology.command_retention_secs = self.options.command_retention_secs;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(herald_reactor::run(config, async move {
            let _ = stopped.await;
        }));
        self.reactors.push(Some(Reactor { stop, task }));
        self.reactors.len() - 1
    }

    /// Stops reactor `index` the way SIGTERM does, and waits for it to finish.
    pub async fn stop_reactor(&mut self, index: usize) {
        let reactor = self.reactors[index].take().expect("reactor is running");
        let _ = reactor.stop.send(());
        reactor
            .task
            .await
            .expect("reactor task did not panic")
            .expect("reactor stopped cleanly");
    }

    /// Kills reactor `index` without letting it finish anything, like SIGKILL.
    pub async fn kill_reactor(&mut self, index: usize) {
        let reactor = self.reactors[index].take().expect("reactor is running");
        reactor.task.abort();
        let _ = reactor.task.await;
    }

    /// Stops the api gracefully and returns how it ended.
    pub async fn stop_api(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
        match self.api.take() {
            Some(task) => task.await.expect("api task did not panic"),
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    /// `POST /api/locations` with a JSON body.
    pub async fn post_location(&self, body: &Value) -> reqwest::Response {
        self.post_location_with(body, &[]).await
    }

    /// `POST /api/locations` with a JSON body and extra headers.
    pub async fn post_location_with(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url("/api/locations")).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("POST /api/locations")
    }

    /// Creates a location named `name` and returns its command id (asserts 202).
    pub async fn create_location(&self, name: &str) -> Uuid {
        let response = self
            .post_location(&json!({"name": name, "category": "City", "description": "test"}))
            .await;
        assert_eq!(response.status(), 202, "POST answered {response:?}");
        let body: Value = response.json().await.expect("JSON body");
        Uuid::try_parse(body["id"].as_str().expect("id is a string")).expect("id is a UUID")
    }

    /// Creates `count` locations named `<prefix> 0`, `<prefix> 1`, …, one after
    /// another; their command ids in that order.
    pub async fn create_locations(&self, prefix: &str, count: usize) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(count);
        for n in 0..count {
            ids.push(self.create_location(&format!("{prefix} {n}")).await);
        }
        ids
    }

    /// The test's NATS connection to this stack's nats-server, to look behind the api.
    pub async fn nats_client(&self) -> async_nats::Client {
        self.client
            .get_or_init(|| async {
                async_nats::ConnectOptions::new()
                    .retry_on_initial_connect()
                    .connect(self.nats.url())
                    .await
                    .expect("connect to the test nats-server")
            })
            .await
            .clone()
    }

    /// A JetStream context on the test's connection.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.nats_client().await)
    }

    /// How many messages the connection named `client` (`herald-api`,
    /// `herald-reactor`) has sent to NATS so far (requests and publishes), read from
    /// the server's monitoring endpoint: what a test counts to show load on NATS.
    pub async fn messages_sent_by(&self, client: &str) -> u64 {
        self.nats
            .connections()
            .await
            .iter()
            .filter(|connection| connection.name == client)
            .map(|connection| connection.sent)
            .sum()
    }

    /// The state of JetStream stream `stream` now (for a bucket: `KV_<bucket>`).
    async fn stream_state(&self, stream: &str) -> async_nats::jetstream::stream::State {
        let mut stream = self
            .jetstream()
            .await
            .get_stream(stream)
            .await
            .expect("stream");
        stream.info().await.expect("info").state.clone()
    }

    /// How many consumers the JetStream stream `stream` has now.
    pub async fn consumers(&self, stream: &str) -> usize {
        self.stream_state(stream).await.consumer_count
    }

    /// How many messages `stream` holds now (for a bucket: `KV_<bucket>`).
    pub async fn stored(&self, stream: &str) -> u64 {
        self.stream_state(stream).await.messages
    }

    /// `GET` a path, answering the response.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET path`, its body as JSON (whatever the status).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// Opens `GET /api/commands/{id}/events` and returns the stream, asserting it is
    /// an event stream.
    pub async fn open_events(&self, id: Uuid) -> Events {
        self.open_sse(&format!("/api/commands/{id}/events"), &[])
            .await
    }

    /// Opens any event stream of the api, with extra request headers.
    pub async fn open_sse(&self, path: &str, headers: &[(&str, &str)]) -> Events {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status(), 200, "{path} answered {response:?}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            events: Box::pin(response.bytes_stream().eventsource()),
        }
    }

    /// The terminal event of command `id`, read from its own stream; asserts the
    /// stream then ends.
    pub async fn outcome(&self, id: Uuid) -> SseEvent {
        let mut events = self.open_events(id).await;
        let event = events.next_event().await.expect("a terminal event");
        events.assert_ended().await;
        event
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(api) = &self.api {
            api.abort();
        }
        for reactor in self.reactors.iter().flatten() {
            reactor.task.abort();
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: Value,
}

type EventStream = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// An open event stream.
pub struct Events {
    events: EventStream,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// The next event within [`PATIENCE`]; `None` if the stream ended.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        let next = tokio::time::timeout(PATIENCE, self.events.next())
            .await
            .expect("an event within the deadline")?;
        let event = next.expect("a well-formed event");
        Some(SseEvent {
            data: serde_json::from_str(&event.data).expect("event data is JSON"),
            event: event.event,
            id: event.id,
        })
    }

    /// Asserts the server ends the stream (after its one event) promptly.
    pub async fn assert_ended(&mut self) {
        let next = tokio::time::timeout(PATIENCE, self.events.next())
            .await
            .expect("the stream ends within the deadline");
        assert!(next.is_none(), "expected the stream to end, got {next:?}");
    }

    /// Asserts no event arrives within `quiet`.
    pub async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(next) = tokio::time::timeout(quiet, self.events.next()).await {
            panic!("expected no event, got {next:?}");
        }
    }
}
