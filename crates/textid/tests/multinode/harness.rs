//! A harness for process-level tests with real PostgreSQL servers, network namespaces and
//! `textid serve` child processes: multi-node, fault and failover tests.
//!
//! What it owns and promises:
//! - Every resource it creates is released on drop, also while a test panics: clusters are
//!   stopped with `pg_ctl stop -m immediate`, namespaces (with their veths and processes)
//!   deleted, child processes killed, temporary directories removed. On a panic, the drop of a
//!   cluster or node prints the tail of its log, so a failure explains itself.
//! - Nothing sleeps for timing: each wait polls a condition against a bounded deadline
//!   ([`wait_until`]), and each external command runs under a time limit.
//! - Nothing uses a fixed port (ports come from binding port 0) and no traffic leaves the
//!   machine: servers listen on loopback or on addresses that exist only inside network
//!   namespaces the harness created (10.231.0.0/16, assigned inside the namespaces only).
//! - A test states what it needs with [`missing`]: on a developer machine without it the test
//!   prints why and passes; under CI (`CI` set) a missing need fails the test, so a green CI
//!   never hides a skipped test.
//!
//! Blocking and async: the PostgreSQL and namespace helpers run external commands and block
//! (they depend on nothing the test's own tasks do). The node helpers are async, because a
//! node may wait on the test (a webhook receiver served by the test's runtime).
//!
//! A partition test, once textid speaks PostgreSQL (declare in this order: drops run in
//! reverse, so the node and the cluster stop before their namespaces go):
//!
//! ```ignore
//! if missing(&[Need::NetworkNamespaces, Need::PostgresServer, Need::Socat]) { return; }
//! let (db_ns, node_ns) = (NetNs::new("db"), NetNs::new("node"));
//! let link = VethLink::new(&db_ns, &node_ns);
//! let db = PgCluster::with_options(PgClusterOptions::in_netns(&db_ns, link.addr_in(&db_ns)));
//! let url = format!("{}?connect_timeout=2", db.create_database("textid"));
//! let node = spawn_node(NodeOptions::new().in_netns(&node_ns).env("TEXTID_DATABASE_URL", &url)).await;
//! link.cut();    // the node loses its database; node.url() still answers (through the relay)
//! link.restore();
//! ```

#![allow(dead_code)] // A library for the process-level tests: no single test uses every helper.

mod netns;
mod node;
mod pg;
mod relay;

// The API; a test names only the types it stores, so not every re-export is used.
#[allow(unused_imports)]
pub use netns::{Background, NetNs, VethLink};
#[allow(unused_imports)]
pub use node::{spawn_node, Node, NodeOptions};
#[allow(unused_imports)]
pub use pg::{
    fresh_database, pg_available, psql, PgCluster, PgClusterOptions, ReplicatedPair, TestDb,
    STANDBY_NAME, SYSTEM_PG_HOST, SYSTEM_PG_PORT,
};
#[allow(unused_imports)]
pub use relay::NsRelay;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails: generous for 2 loaded cores,
/// and only ever reached by a failing test.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Interval between two looks at a condition that is being polled.
const POLL: Duration = Duration::from_millis(50);

/// Time limit for one external command (`initdb`, `pg_ctl`, `psql`, `ip`, ...).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The system PostgreSQL at 127.0.0.1:5432, user `postgres`, trust auth; and `psql`.
    SystemPostgres,
    /// The PostgreSQL server binaries (`initdb`, `pg_ctl`, `pg_basebackup`, `pg_isready`,
    /// `psql`) and, when running as root, the `postgres` OS user and `runuser`.
    PostgresServer,
    /// `ip netns` and veth pairs: root (CAP_NET_ADMIN) and iproute2.
    NetworkNamespaces,
    /// `socat`, for the relay into a namespace.
    Socat,
}

impl Need {
    /// Why the need is unmet (with the Debian package that meets it), or `None` when met.
    fn unmet(self) -> Option<String> {
        match self {
            Need::SystemPostgres => (!pg_available()).then(|| {
                format!(
                    "no PostgreSQL accepts `psql -h {SYSTEM_PG_HOST} -p {SYSTEM_PG_PORT} -U \
                     postgres` (Debian: postgresql, then `pg_ctlcluster 15 main start`)"
                )
            }),
            Need::PostgresServer => pg::server_unmet(),
            Need::NetworkNamespaces => netns::unmet(),
            Need::Socat => program("socat")
                .is_none()
                .then(|| "`socat` not found on PATH (Debian: socat)".to_string()),
        }
    }
}

/// Returns true, after printing the reason, when a test must be skipped because the machine
/// lacks one of `needs`. Under CI (the `CI` environment variable is set and not `false`/`0`)
/// it panics instead: CI must run every test.
///
/// ```ignore
/// if missing(&[Need::PostgresServer]) { return; }
/// ```
pub fn missing(needs: &[Need]) -> bool {
    let reasons: Vec<String> = needs.iter().filter_map(|n| n.unmet()).collect();
    if reasons.is_empty() {
        return false;
    }
    let reasons = reasons.join("; ");
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if under_ci() {
        panic!("{test}: {reasons} (CI is set: a missing requirement fails the test)");
    }
    // Straight to the process's stderr, past the test harness's output capture: a passing
    // test's captured output is never shown, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reasons}");
    true
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Polls `ready` until it returns true; panics naming `what` once `limit` has passed.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    if !poll_until(limit, &mut ready) {
        panic!("timed out after {limit:?} waiting for {what}");
    }
}

/// Polls `ready` until it returns true (then true) or `limit` passes (then false).
pub fn poll_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// A port that was free on 127.0.0.1 of the test's namespace a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Whether the test process runs as root (then cluster commands run as `postgres`).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// The full path of `name` on PATH (or in /usr/sbin, /sbin, where `ip` lives when PATH is a
/// plain user's), if it is there.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `program(name)`, or a panic that names what to install.
fn require_program(name: &str) -> PathBuf {
    program(name).unwrap_or_else(|| panic!("`{name}` not found on PATH"))
}

/// Runs `cmd` to completion under [`COMMAND_LIMIT`]; its trimmed stdout, or an error with
/// the command line, exit status, stderr and stdout.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    run_limited(cmd, COMMAND_LIMIT)
}

/// [`run`] with an explicit time limit; a command still running then is killed.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let line = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{line}: cannot start: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out.map_err(|e| format!("{line}: {e}"))?,
        Err(_) => {
            // Not reaped yet (the waiting thread still waits), so the pid is still ours.
            signal(pid, "KILL");
            return Err(format!("{line}: still running after {limit:?}; killed"));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(stdout.trim_end().to_string())
    } else {
        Err(format!(
            "{line}: {}\n--- stderr\n{}--- stdout\n{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// [`run`], panicking on failure.
pub fn must(cmd: &mut Command) -> String {
    run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `SIG<name>` to `pid` (a negative pid is a process group) with the `kill` command;
/// whether it was delivered.
pub fn signal(pid: impl std::fmt::Display, name: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg("--")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `lines` lines of the file at `path` (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
