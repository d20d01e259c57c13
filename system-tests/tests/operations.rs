//! Herald as an operator sees it: the api and reactor binaries on one
//! nats-server, their metrics scraped, their JSON logs read, the api stopped
//! with SIGTERM while clients wait on it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_system_tests::system::binary;
use herald_testkit::nats_server::free_port;
use herald_testkit::{NatsServer, PATIENCE, eventually};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The binaries on one nats-server; logs in files of their own.
struct Herald {
    nats: NatsServer,
    api: Child,
    reactor: Option<Child>,
    api_url: String,
    metrics_url: String,
    logs: tempfile::TempDir,
    http: reqwest::Client,
}

impl Herald {
    async fn start(env: &[(&str, &str)]) -> Self {
        let nats = NatsServer::start().await;
        let logs = tempfile::tempdir().expect("a log folder");
        let api_address = format!("127.0.0.1:{}", free_port());
        let metrics_address = format!("127.0.0.1:{}", free_port());
        let spawn = |name: &str, extra: &[(&str, &str)]| {
            let log =
                std::fs::File::create(logs.path().join(format!("{name}.log"))).expect("a log");
            let mut command = Command::new(binary(name));
            command
                .env("NATS_URL", nats.url())
                .env("HTTP_ADDR", &api_address)
                .env("METRICS_ADDR", &metrics_address)
                .envs(env.iter().copied())
                .envs(extra.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .kill_on_drop(true);
            command.spawn().expect("start a Herald binary")
        };
        let herald = Self {
            api: spawn("api", &[]),
            reactor: Some(spawn(
                "reactor",
                &[("RUST_LOG", "info,herald_reactor=debug")],
            )),
            api_url: format!("http://{api_address}"),
            metrics_url: format!("http://{metrics_address}/metrics"),
            nats,
            logs,
            http: reqwest::Client::new(),
        };
        herald.wait_ready().await;
        herald
    }

    async fn wait_ready(&self) {
        eventually(PATIENCE, "the api becomes ready", || async {
            let response = self.http.get(self.url("/readyz")).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.path().join(format!("{name}.log"))
    }

    async fn post(&self, name: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url("/api/locations"))
            .json(&json!({"name": name, "category": "Town"}));
        for (header, value) in headers {
            request = request.header(*header, *value);
        }
        request.send().await.expect("POST")
    }

    async fn scrape(&self, url: &str) -> String {
        let response = self.http.get(url).send().await.expect("scrape");
        assert_eq!(response.status(), 200, "GET {url}");
        response.text().await.expect("Prometheus text")
    }
}

/// The value of the first sample of `name` whose labels include each of `labels`
/// (`key="value"`); 0 if there is none yet.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|label| rest.contains(label))
        })
        .map_or(0.0, |(_, value)| value.parse().expect("a number"))
}

#[tokio::test]
async fn both_processes_count_what_flows_through_them() {
    let herald = Herald::start(&[]).await;
    let api_metrics = herald.url("/metrics");
    let (api_before, reactor_before) = (
        herald.scrape(&api_metrics).await,
        herald.scrape(&herald.metrics_url).await,
    );
    // A feed client stays open while the commands flow.
    let feed = herald
        .http
        .get(herald.url("/api/notifications"))
        .send()
        .await
        .expect("the feed");
    for n in 0..5 {
        let response = herald
            .post(&format!("Metric {n}"), &[("prefer", "wait=10")])
            .await;
        assert_eq!(response.status(), 201);
    }
    let conflict = herald.post("Metric 0", &[("prefer", "wait=10")]).await;
    assert_eq!(conflict.status(), 409);

    let api = herald.scrape(&api_metrics).await;
    let moved = |name: &str, labels: &[&str]| {
        sample(&api, name, labels) - sample(&api_before, name, labels)
    };
    assert_eq!(moved("herald_commands_accepted_total", &[]), 6.0, "{api}");
    assert_eq!(
        moved(
            "herald_http_requests_total",
            &[
                r#"route="/api/locations""#,
                r#"status="201""#,
                r#"method="POST""#
            ]
        ),
        5.0
    );
    assert_eq!(
        moved(
            "herald_http_requests_total",
            &[r#"route="/api/locations""#, r#"status="409""#]
        ),
        1.0
    );
    assert!(
        moved("herald_command_latency_seconds_count", &[]) >= 6.0,
        "{api}"
    );
    assert!(
        moved("herald_notifications_received_total", &[]) >= 6.0,
        "{api}"
    );
    assert!(sample(&api, "herald_feed_clients", &[]) >= 1.0, "{api}");
    assert!(
        sample(&api, "herald_event_streams_open", &[]) >= 1.0,
        "{api}"
    );
    assert_eq!(sample(&api, "herald_wait_holds_open", &[]), 0.0);
    assert_eq!(sample(&api, "herald_nats_connected", &[]), 1.0);
    drop(feed);

    let reactor = herald.scrape(&herald.metrics_url).await;
    let moved = |name: &str, labels: &[&str]| {
        sample(&reactor, name, labels) - sample(&reactor_before, name, labels)
    };
    assert_eq!(
        moved("herald_reactor_outcomes_total", &[r#"status="completed""#]),
        5.0,
        "{reactor}"
    );
    assert_eq!(
        moved(
            "herald_reactor_outcomes_total",
            &[r#"status="failed""#, r#"reason="conflict""#]
        ),
        1.0
    );
    assert!(moved("herald_reactor_deliveries_total", &[]) >= 6.0);
    assert!(moved("herald_reactor_processing_seconds_count", &[]) >= 6.0);
    assert!(reactor.contains("herald_reactor_processing_seconds_bucket"));
    // Secrets never appear, and nothing of the NATS URL does either.
    assert!(!api.contains(&herald.nats.url()) && !reactor.contains(&herald.nats.url()));
}

/// Each line of the log `path`, parsed; fails on a line that is not JSON.
fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the log")
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: not JSON: {line}"))
        })
        .collect()
}

/// `field` of a JSON log line, at its top or in its span.
fn field<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    line.get(field)
        .or_else(|| line.get("span").and_then(|span| span.get(field)))
        .and_then(Value::as_str)
}

#[tokio::test]
async fn one_command_is_found_in_both_processes_json_logs() {
    let herald = Herald::start(&[("LOG_FORMAT", "json")]).await;
    let response = herald
        .post(
            "Logged",
            &[("prefer", "wait=10"), ("x-request-id", "trace-me-42")],
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let body: Value = response.json().await.expect("JSON");
    let command_id = body["id"].as_str().expect("an id").to_owned();
    // A request without an id of its own is given one.
    let other = herald
        .http
        .get(herald.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.headers()["x-request-id"].len(), 36);

    let api_line = eventually(PATIENCE, "the api logs the request", || async {
        json_lines(&herald.log("api")).into_iter().find(|line| {
            field(line, "request_id") == Some("trace-me-42") && line.get("status").is_some()
        })
    })
    .await;
    assert_eq!(
        field(&api_line, "route"),
        Some("/api/locations"),
        "{api_line}"
    );
    assert_eq!(field(&api_line, "method"), Some("POST"));
    assert_eq!(api_line["status"], 201);
    assert!(api_line["latency_ms"].as_f64().is_some(), "{api_line}");
    assert_eq!(
        field(&api_line, "command_id"),
        Some(command_id.as_str()),
        "{api_line}"
    );

    let reactor_line = eventually(PATIENCE, "the reactor logs the command", || async {
        json_lines(&herald.log("reactor"))
            .into_iter()
            .find(|line| field(line, "command_id") == Some(command_id.as_str()))
    })
    .await;
    assert_eq!(
        field(&reactor_line, "request_id"),
        Some("trace-me-42"),
        "{reactor_line}"
    );
    assert_eq!(field(&reactor_line, "message"), Some("outcome recorded"));
}

#[tokio::test]
async fn sigterm_answers_held_waits_sends_streams_elsewhere_and_exits_in_time() {
    let mut herald = Herald::start(&[]).await;
    // No reactor: every command stays pending, every wait is held.
    let mut reactor = herald.reactor.take().expect("a reactor");
    reactor.kill().await.expect("kill the reactor");
    let pending: Value = herald.post("Held", &[]).await.json().await.expect("JSON");
    let id = pending["id"].as_str().expect("an id").to_owned();
    let stream = herald
        .http
        .get(herald.url(&format!("/api/commands/{id}/events")))
        .send()
        .await
        .expect("an event stream");
    assert_eq!(stream.status(), 200);
    let held = tokio::spawn({
        let (http, url) = (herald.http.clone(), herald.url("/api/locations"));
        async move {
            http.post(url)
                .header("prefer", "wait=60")
                .json(&json!({"name": "Held long", "category": "Town"}))
                .send()
                .await
        }
    });
    eventually(PATIENCE, "the wait is held", || async {
        let metrics = herald.scrape(&herald.url("/metrics")).await;
        (sample(&metrics, "herald_wait_holds_open", &[]) >= 1.0).then_some(())
    })
    .await;

    let stopped_at = Instant::now();
    let pid = herald.api.id().expect("the api runs");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());

    let answer = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("the held wait is answered at once")
        .expect("the task")
        .expect("an answer");
    assert_eq!(answer.status(), 202, "a held wait ends as an ordinary 202");
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        let mut body = Vec::new();
        let mut chunks = stream.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&body).into_owned()
    })
    .await
    .expect("the stream ends at once");
    assert!(rest.contains("retry:"), "told to come back: {rest:?}");
    let status = tokio::time::timeout(Duration::from_secs(5), herald.api.wait())
        .await
        .expect("the api exits within 5 s")
        .expect("its status");
    assert!(status.success(), "exited {status}");
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn readiness_says_what_is_missing() {
    let mut herald = Herald::start(&[]).await;
    let reason = |herald: &Herald| {
        let (http, url) = (herald.http.clone(), herald.url("/readyz"));
        async move {
            let response = http.get(url).send().await.ok()?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.ok()?;
            (status == 503).then(|| body["reason"].as_str().unwrap_or_default().to_owned())
        }
    };
    herald.nats.stop().await;
    let down = eventually(PATIENCE, "not ready without NATS", || reason(&herald)).await;
    assert!(down.contains("NATS"), "{down}");
    // A dozen reconnect attempts fail in this time (the pauses grow from 0.1 to
    // 1 s), and the loops that read NATS fail every second or two: the outage is
    // said once, and each loop's failure once, not once per attempt.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let log = std::fs::read_to_string(herald.log("api")).expect("the api's log");
    assert_eq!(
        log.matches("cannot reach NATS").count(),
        1,
        "the outage said once"
    );
    let warnings = log.lines().filter(|line| line.contains(" WARN ")).count();
    assert!(warnings <= 6, "a few warnings, not one per attempt:\n{log}");
    assert!(!log.contains('\x1b'), "no colour codes in a file: {log}");
    herald.nats.restart().await;
    herald.wait_ready().await;

    let jetstream = async_nats::jetstream::new(
        async_nats::connect(herald.nats.url())
            .await
            .expect("connect"),
    );
    jetstream
        .delete_key_value(herald_contract::names::COMMANDS_BUCKET)
        .await
        .expect("delete the statuses' bucket");
    let missing = eventually(PATIENCE, "not ready without its bucket", || reason(&herald)).await;
    assert!(missing.contains("commands"), "{missing}");
}
