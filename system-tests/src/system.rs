//! The system under test: a NATS cluster, api processes and reactor processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use herald_testkit::{NatsCluster, PATIENCE, eventually};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// One api or reactor process, and where its log goes.
#[derive(Debug)]
struct Process {
    child: Option<Child>,
    log: PathBuf,
}

/// The cluster, the apis and the reactors, owned by one test; everything is
/// killed when it is dropped.
#[derive(Debug)]
pub struct System {
    pub cluster: NatsCluster,
    /// `127.0.0.1:PORT` of each api, kept across restarts.
    api_addresses: Vec<String>,
    apis: Vec<Process>,
    reactors: Vec<Process>,
    logs: TempDir,
    http: reqwest::Client,
}

/// The binary `name` that `cargo build --bins` put beside this test's folder.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join(name))
        .expect("a target folder");
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (cargo build --bins, or ./task test:cluster)",
        path.display()
    );
    path
}

impl System {
    /// Starts the cluster, `apis` apis and `reactors` reactors, and waits until
    /// every api is ready.
    pub async fn start(apis: usize, reactors: usize) -> Self {
        let cluster = NatsCluster::start(3).await;
        let api_addresses = (0..apis)
            // Reserved: a killed api comes back on its port.
            .map(|_| format!("127.0.0.1:{}", herald_testkit::nats_server::free_port()))
            .collect();
        let mut system = Self {
            cluster,
            api_addresses,
            apis: Vec::new(),
            reactors: Vec::new(),
            logs: tempfile::Builder::new()
                .prefix("herald-system-")
                // HERALD_SYSTEM_KEEP_LOGS=1 keeps them, to read a run's story.
                .disable_cleanup(std::env::var_os("HERALD_SYSTEM_KEEP_LOGS").is_some())
                .tempdir()
                .expect("a log folder"),
            http: reqwest::Client::new(),
        };
        for index in 0..apis {
            let process = system.spawn("api", index);
            system.apis.push(process);
        }
        for index in 0..reactors {
            let process = system.spawn("reactor", index);
            system.reactors.push(process);
        }
        for index in 0..apis {
            system.wait_ready(index).await;
        }
        system
    }

    fn spawn(&self, binary_name: &str, index: usize) -> Process {
        let log = self.logs.path().join(format!("{binary_name}-{index}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("a log file");
        let mut command = Command::new(binary(binary_name));
        command
            .env("NATS_URL", self.cluster.url())
            .env("NATS_REPLICAS", "3")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().expect("a log file")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        if binary_name == "api" {
            command.env("HTTP_ADDR", &self.api_addresses[index]);
        }
        Process {
            child: Some(command.spawn().expect("start a Herald binary")),
            log,
        }
    }

    /// Waits until api `index` answers `/readyz` with 200.
    pub async fn wait_ready(&self, index: usize) {
        let url = format!("{}/readyz", self.api_url(index));
        eventually(PATIENCE * 2, "the api becomes ready", || async {
            let response = self.http.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    /// `http://127.0.0.1:PORT` of api `index`.
    pub fn api_url(&self, index: usize) -> String {
        format!("http://{}", self.api_addresses[index])
    }

    pub fn apis(&self) -> usize {
        self.api_addresses.len()
    }

    /// Kills api `index` (SIGKILL).
    pub async fn kill_api(&mut self, index: usize) {
        kill(&mut self.apis[index]).await;
    }

    /// Starts api `index` again, on its address.
    pub async fn restart_api(&mut self, index: usize) {
        self.apis[index] = self.spawn("api", index);
        self.wait_ready(index).await;
    }

    /// Kills reactor `index` (SIGKILL): what it held comes back after the ack wait.
    pub async fn kill_reactor(&mut self, index: usize) {
        kill(&mut self.reactors[index]).await;
    }

    /// Starts reactor `index` again.
    pub fn restart_reactor(&mut self, index: usize) {
        self.reactors[index] = self.spawn("reactor", index);
    }

    /// Where the processes' logs are.
    pub fn log_folder(&self) -> &Path {
        self.logs.path()
    }

    /// Copies each node's log beside the processes' (`nats-n1.log`, …), so a
    /// kept folder tells the whole story.
    pub fn save_nats_logs(&self) {
        for index in 0..self.cluster.len() {
            let to = self.logs.path().join(format!("nats-n{}.log", index + 1));
            let _ = std::fs::copy(self.cluster.node(index).log_path(), to);
        }
    }

    /// The last lines of every process's log, for a failure's message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for process in self.apis.iter().chain(&self.reactors) {
            let log = std::fs::read_to_string(&process.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text.push_str(&format!("--- {}\n", process.log.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// A client of the cluster for the test's own reads, with the same settings
    /// as the binaries' (pings every second: it follows the cluster's changes).
    pub async fn nats(&self) -> async_nats::Client {
        herald_runtime::NatsConfig::at(self.cluster.url())
            .connect("herald-system-test", |_| {})
            .await
            .expect("connect to the cluster")
    }

    /// Waits up to `within` until every group in `led` (what node `node` led:
    /// [`NatsCluster::led_by`]) has a leader other than `node`; answers how long
    /// after `since` that was.
    pub async fn reelected(
        &self,
        led: &[String],
        node: usize,
        since: Instant,
        within: Duration,
    ) -> Duration {
        eventually(within, &format!("new leaders for {led:?}"), || async {
            let leaders = self.cluster.leaders().await;
            led.iter()
                .all(|group| leaders.get(group).is_some_and(|leader| *leader != node))
                .then_some(())
        })
        .await;
        since.elapsed()
    }
}

async fn kill(process: &mut Process) {
    if let Some(mut child) = process.child.take() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}
