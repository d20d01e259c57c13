//! A three-node nats-server cluster with JetStream on loopback, owned by one test.
//!
//! Each node is a [`NatsServer`] with its own store, on ports picked free before
//! start (the routes must name them), routed to the others. The cluster is ready
//! once JetStream has a meta leader. Nodes can be killed (SIGKILL), restarted with
//! their store, frozen (SIGSTOP) and thawed (SIGCONT), and the leader of any
//! stream found, so a test can strike where it hurts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::NatsServer;
use crate::nats_server::free_port;

/// How long the cluster may take to elect its JetStream meta leader.
const FORMING: Duration = Duration::from_secs(30);

/// A cluster of nats-servers; each dropped with it.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    names: Vec<String>,
    /// Nodes frozen now: not asked anything, as they would not answer.
    frozen: Vec<AtomicBool>,
    http: reqwest::Client,
}

/// The JetStream meta group, in [`NatsCluster::leaders`].
pub const META: &str = "meta";

impl NatsCluster {
    /// Starts `size` nodes (`n1`, `n2`, …) and waits until JetStream is ready.
    pub async fn start(size: usize) -> Self {
        let ports: Vec<(u16, u16, u16)> = (0..size)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes = ports
            .iter()
            .map(|(_, _, cluster)| format!("nats://127.0.0.1:{cluster}"))
            .collect::<Vec<_>>()
            .join(",");
        let names: Vec<String> = (1..=size).map(|n| format!("n{n}")).collect();
        let mut nodes = Vec::new();
        for (name, (client, monitor, cluster)) in names.iter().zip(&ports) {
            let extra = vec![
                "--name".into(),
                name.clone(),
                "--cluster_name".into(),
                "herald".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{cluster}"),
                "--routes".into(),
                routes.clone(),
            ];
            nodes.push(NatsServer::start_on((*client, *monitor), extra).await);
        }
        let cluster = Self {
            frozen: nodes.iter().map(|_| AtomicBool::new(false)).collect(),
            nodes,
            names,
            http: reqwest::Client::new(),
        };
        cluster.wait_formed().await;
        cluster
    }

    /// Every node's URL, comma-separated, as `NATS_URL` takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every node's address, for a client of the test's own.
    pub fn servers(&self) -> Vec<async_nats::ServerAddr> {
        self.nodes
            .iter()
            .map(|node| node.url().parse().expect("a server address"))
            .collect()
    }

    /// Node `index` (0-based).
    pub fn node(&self, index: usize) -> &NatsServer {
        &self.nodes[index]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Kills node `index` (SIGKILL, like a crash); its store is kept.
    pub async fn kill(&mut self, index: usize) {
        self.nodes[index].stop().await;
    }

    /// Starts node `index` again with its store, on its ports.
    pub async fn restart(&mut self, index: usize) {
        self.nodes[index].restart().await;
    }

    /// Freezes node `index` (SIGSTOP): it holds its connections but answers nothing.
    pub fn freeze(&self, index: usize) {
        self.frozen[index].store(true, Ordering::Relaxed);
        self.nodes[index].signal("STOP");
    }

    /// Lets a frozen node `index` go on (SIGCONT).
    pub fn thaw(&self, index: usize) {
        self.nodes[index].signal("CONT");
        self.frozen[index].store(false, Ordering::Relaxed);
    }

    /// The index of the node that leads `stream` now, asked of any node that
    /// answers; `None` while it has no leader.
    pub async fn leader_of(&self, stream: &str) -> Option<usize> {
        self.leaders().await.get(stream).copied()
    }

    /// Who leads each replicated group now, as the first running, unfrozen node
    /// that answers sees it: the meta group ([`META`]), each replicated stream
    /// (by name) and consumer (`STREAM > consumer`). A group without a leader is
    /// left out, and so are single-replica ones (ordered consumers), which die
    /// with their node rather than move.
    pub async fn leaders(&self) -> HashMap<String, usize> {
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.is_running() || self.frozen[index].load(Ordering::Relaxed) {
                continue;
            }
            let url = format!(
                "{}/jsz?streams=true&consumers=true&acc=$G",
                node.monitor_url()
            );
            let Ok(Ok(response)) =
                tokio::time::timeout(Duration::from_secs(1), self.http.get(&url).send()).await
            else {
                continue;
            };
            let Ok(jsz) = response.json::<Value>().await else {
                continue;
            };
            let position = |leader: &Value| {
                let leader = leader.as_str()?;
                self.names.iter().position(|name| name == leader)
            };
            let replicated = |cluster: &Value| {
                cluster["replicas"]
                    .as_array()
                    .is_some_and(|replicas| !replicas.is_empty())
            };
            let mut leaders = HashMap::new();
            if let Some(meta) = position(&jsz["meta_cluster"]["leader"]) {
                leaders.insert(META.to_owned(), meta);
            }
            let streams = jsz["account_details"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|account| {
                    account["stream_detail"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                });
            for stream in streams {
                let name = stream["name"].as_str().unwrap_or_default().to_owned();
                if let Some(leader) = position(&stream["cluster"]["leader"])
                    && replicated(&stream["cluster"])
                {
                    leaders.insert(name.clone(), leader);
                }
                for consumer in stream["consumer_detail"].as_array().into_iter().flatten() {
                    if let Some(leader) = position(&consumer["cluster"]["leader"])
                        && replicated(&consumer["cluster"])
                    {
                        let consumer = consumer["name"].as_str().unwrap_or_default();
                        leaders.insert(format!("{name} > {consumer}"), leader);
                    }
                }
            }
            return leaders;
        }
        HashMap::new()
    }

    /// What node `index` leads now: the groups that need a new leader if it dies.
    pub async fn led_by(&self, index: usize) -> Vec<String> {
        let mut led: Vec<String> = self
            .leaders()
            .await
            .into_iter()
            .filter(|(_, leader)| *leader == index)
            .map(|(group, _)| group)
            .collect();
        led.sort();
        led
    }

    /// Waits until JetStream's meta leader is elected.
    async fn wait_formed(&self) {
        let deadline = Instant::now() + FORMING;
        loop {
            for node in &self.nodes {
                let url = format!("{}/jsz", node.monitor_url());
                if let Ok(response) = self.http.get(&url).send().await
                    && let Ok(jsz) = response.json::<Value>().await
                    && jsz["meta_cluster"]["leader"]
                        .as_str()
                        .is_some_and(|l| !l.is_empty())
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not form within {FORMING:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
