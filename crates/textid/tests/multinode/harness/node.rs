//! `textid serve` as a child process: [`spawn_node`] starts the real binary (optionally
//! inside a network namespace) on port 0 of its loopback, learns the address from the line
//! `textid listening on http://…` it prints on stdout (as tests/process.rs does), and, for a
//! node inside a namespace, opens an [`NsRelay`] so the test reaches it on 127.0.0.1.
//!
//! stdout and stderr (the log) go to files in the node's temporary directory; a node
//! dropped while the test panics prints the tail of its log.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::{require_program, signal, tail, NetNs, NsRelay, DEADLINE};

const BIN: &str = env!("CARGO_BIN_EXE_textid");

/// How to start a node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Extra environment (`TEXTID_DATABASE_URL`, `TEXTID_SMS_PROVIDER`, ...), on top of the
    /// test's own.
    pub env: BTreeMap<String, String>,
    /// Network namespace to run in (by name); `None`: the test's own.
    pub netns: Option<String>,
    /// Data directory; `None`: `data/` in the node's temporary directory. Pass one the test
    /// owns to restart a node on the same data.
    pub data_dir: Option<PathBuf>,
    /// Extra arguments after `serve` (e.g. `--public-url`).
    pub args: Vec<String>,
}

impl NodeOptions {
    /// Default options: the test's namespace, a fresh data directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Runs the node inside `ns`.
    pub fn in_netns(mut self, ns: &NetNs) -> Self {
        self.netns = Some(ns.name().to_string());
        self
    }

    /// Uses `dir` as the data directory.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Adds an argument after `serve`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// A running `textid serve` (killed with SIGKILL on drop).
#[derive(Debug)]
pub struct Node {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    url: String,
    relay: Option<NsRelay>,
    dir: TempDir,
    data_dir: PathBuf,
    /// The task copying stdout to its file: awaited after the node exits, so that
    /// [`Node::stdout`] then holds everything it printed.
    copier: Option<tokio::task::JoinHandle<()>>,
}

/// Starts `textid serve --listen 127.0.0.1:0` as `options` say; returns once it printed
/// where it listens (it has bound the port then). Panics with its log if it exits first or
/// prints nothing within 30 s.
pub async fn spawn_node(options: NodeOptions) -> Node {
    let dir = tempfile::Builder::new()
        .prefix("textid-node-")
        .tempdir()
        .expect("temporary directory for a node");
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| dir.path().join("data"));
    let mut cmd = match &options.netns {
        Some(ns) => {
            let mut c = Command::new(require_program("ip"));
            c.args(["netns", "exec", ns]).arg(BIN);
            c
        }
        // `ip netns exec` execs the program: either way the child's pid is textid's.
        None => Command::new(BIN),
    };
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .args(&options.args)
        .envs(&options.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {BIN}: {e}"));
    let pid = child.id().expect("a pid before the first wait");
    let stdout = child.stdout.take().expect("piped stdout");
    let (found, address) = tokio::sync::oneshot::channel();
    let stdout_log = dir.path().join("stdout.log");
    // Copies stdout to its file for the node's whole life; hands over the address once.
    let copier = tokio::spawn(async move {
        let mut found = Some(found);
        let mut lines = BufReader::new(stdout).lines();
        let Ok(mut file) = std::fs::File::create(&stdout_log) else {
            return;
        };
        while let Ok(Some(line)) = lines.next_line().await {
            // A few short lines: a blocking write is fine.
            let _ = writeln!(file, "{line}");
            if let Some(addr) = line.strip_prefix("textid listening on http://") {
                if let (Some(tx), Ok(addr)) = (found.take(), addr.parse::<SocketAddr>()) {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = match tokio::time::timeout(DEADLINE, address).await {
        Ok(Ok(addr)) => addr,
        outcome => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            panic!(
                "textid serve did not print its address ({}): stderr:\n{}\nstdout:\n{}",
                if outcome.is_err() {
                    "timed out"
                } else {
                    "it exited"
                },
                tail(&dir.path().join("stderr.log"), 40),
                tail(&dir.path().join("stdout.log"), 20),
            );
        }
    };
    let relay = options
        .netns
        .as_deref()
        .map(|ns| NsRelay::start_in(ns, addr));
    let url = match &relay {
        Some(r) => r.url(),
        None => format!("http://{addr}"),
    };
    Node {
        child,
        pid,
        addr,
        url,
        relay,
        dir,
        data_dir,
        copier: Some(copier),
    }
}

impl Node {
    /// Base URL that reaches the node from the test process (through the relay for a node
    /// inside a namespace), e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on, in its own namespace.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Its log (stderr) so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Kills it with SIGKILL (nothing flushed, no shutdown) and reaps it.
    pub async fn kill(&mut self) -> ExitStatus {
        let _ = self.child.start_kill(); // SIGKILL on Unix
        self.child.wait().await.expect("wait for the killed node")
    }

    /// Asks it to stop with SIGTERM and waits (30 s at most) until it exits.
    pub async fn terminate(&mut self) -> ExitStatus {
        assert!(signal(self.pid, "TERM"), "SIGTERM to node {}", self.pid);
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(status) => {
                // The pipe closes with the process: the copier reaches its end promptly.
                if let Some(copier) = self.copier.take() {
                    let _ = tokio::time::timeout(DEADLINE, copier).await;
                }
                status.expect("wait for the node")
            }
            Err(_) => panic!(
                "node {} still runs {DEADLINE:?} after SIGTERM; log:\n{}",
                self.pid,
                tail(&self.dir.path().join("stderr.log"), 40)
            ),
        }
    }

    /// Its exit status if it has exited (reaping it), else `None`.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Polls `GET /health` until it answers 200 (30 s at most).
    pub async fn wait_healthy(&self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        let url = format!("{}/health", self.url);
        let start = tokio::time::Instant::now();
        loop {
            if let Ok(res) = client.get(&url).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "node {} not healthy after {DEADLINE:?}; log:\n{}",
                self.pid,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- textid node {} at {}: stdout (last 10 lines)\n{}\n--- stderr (last 40 lines)\n{}",
                self.pid,
                self.url,
                tail(&self.dir.path().join("stdout.log"), 10),
                tail(&self.dir.path().join("stderr.log"), 40)
            );
        }
        let _ = self.child.start_kill(); // SIGKILL; nothing happens if it has exited
    }
}
