//! Network namespaces for fault tests: [`NetNs`] (a namespace with only `lo` up),
//! [`VethLink`] (a cable between two namespaces, which a test can cut and restore) and
//! [`Background`] (a long-running command, killed with its process group on drop).
//!
//! Addresses come from 10.231.0.0/16, one /30 per link, and are assigned only inside the
//! namespaces: the root namespace gets no address and no route, so nothing a test does can
//! reach past the machine. Namespace-local addresses cannot clash across links of different
//! namespaces, so a per-process counter is enough to pick them.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{is_root, must, program, require_program, run, signal, wait_until, DEADLINE};

/// Why namespaces cannot be made here, or `None` (checked once, by making one).
pub(super) fn unmet() -> Option<String> {
    static UNMET: OnceLock<Option<String>> = OnceLock::new();
    UNMET
        .get_or_init(|| {
            if !is_root() {
                return Some("network namespaces need root (CAP_NET_ADMIN)".into());
            }
            let Some(ip) = program("ip") else {
                return Some("`ip` not found (Debian: iproute2)".into());
            };
            let probe = format!("tx-probe-{}", short_id());
            match run(Command::new(&ip).args(["netns", "add", &probe])) {
                Ok(_) => {
                    let _ = run(Command::new(&ip).args(["netns", "del", &probe]));
                    None
                }
                Err(e) => Some(format!("`ip netns add` fails here: {e}")),
            }
        })
        .clone()
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

fn ip() -> Command {
    Command::new(require_program("ip"))
}

/// A network namespace named `tx-<prefix>-<8 hex>`, with `lo` up and nothing else. On drop,
/// every process still inside is killed (SIGKILL) and the namespace deleted, which deletes
/// the veth ends inside it. (Only a test process killed outright leaves namespaces behind:
/// `ip netns list | awk '/^tx-/ {print $1}' | xargs -rn1 ip netns del` removes them.)
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace and brings its loopback up.
    pub fn new(prefix: &str) -> Self {
        let ns = Self {
            name: format!("tx-{prefix}-{}", short_id()),
        };
        must(ip().args(["netns", "add", &ns.name]));
        must(ip().args(["-n", &ns.name, "link", "set", "lo", "up"]));
        ns
    }

    /// Its name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <name> <program>`, for the caller to add arguments to.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = ip();
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `argv` inside the namespace to completion; its trimmed stdout.
    pub fn exec(&self, argv: &[&str]) -> Result<String, String> {
        let (program, args) = argv.split_first().expect("a program to run");
        run(self.command(program).args(args))
    }

    /// Starts `argv` inside the namespace in the background, output to `log`.
    pub fn spawn(&self, argv: &[&str], log: &Path) -> Background {
        let (program, args) = argv.split_first().expect("a program to run");
        let mut cmd = self.command(program);
        cmd.args(args);
        Background::spawn(cmd, log)
    }

    /// Runs `psql` inside the namespace on `conn` (URL or key-value connection string).
    pub fn psql(&self, conn: &str, sql: &str) -> Result<String, String> {
        run(&mut super::pg::psql_command(Some(&self.name), conn, sql))
    }

    /// The pids of the processes inside.
    pub fn pids(&self) -> Vec<u32> {
        run(ip().args(["netns", "pids", &self.name]))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // A process left inside would keep the namespace (and its veths) alive unnamed.
        for pid in self.pids() {
            signal(pid, "KILL");
        }
        if let Err(e) = run(ip().args(["netns", "del", &self.name])) {
            eprintln!("warning: could not delete namespace {}: {e}", self.name);
        }
    }
}

/// A veth pair between two namespaces, the ends `10.231.x.y/30` and its neighbour. The
/// interfaces are created directly inside the namespaces and never exist in the root one.
#[derive(Debug)]
pub struct VethLink {
    ends: [(String, String, Ipv4Addr); 2],
}

impl VethLink {
    /// Connects `a` and `b`, addresses them and waits until the link carries packets.
    pub fn new(a: &NetNs, b: &NetNs) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::Relaxed) % (1 << 14);
        let base = u32::from(Ipv4Addr::new(10, 231, 0, 0)) + 4 * k;
        let id = short_id();
        let link = Self {
            ends: [
                (a.name.clone(), format!("va{id}"), Ipv4Addr::from(base + 1)),
                (b.name.clone(), format!("vb{id}"), Ipv4Addr::from(base + 2)),
            ],
        };
        let [(ns_a, if_a, _), (ns_b, if_b, _)] = &link.ends;
        must(ip().args([
            "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b,
        ]));
        for (ns, ifname, addr) in &link.ends {
            must(ip().args([
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                ifname,
            ]));
        }
        link.restore();
        link
    }

    /// The address of the end inside `ns`.
    pub fn addr_in(&self, ns: &NetNs) -> Ipv4Addr {
        self.ends
            .iter()
            .find(|(n, _, _)| *n == ns.name)
            .map(|(_, _, a)| *a)
            .unwrap_or_else(|| panic!("namespace {} is not an end of this link", ns.name))
    }

    /// The address of the end inside the other namespace than `ns`.
    pub fn peer_of(&self, ns: &NetNs) -> Ipv4Addr {
        self.ends
            .iter()
            .find(|(n, _, _)| *n != ns.name)
            .map(|(_, _, a)| *a)
            .expect("two ends")
    }

    /// Cuts the cable: both ends down. Their routes go with them, so a new connection fails
    /// at once ("Network is unreachable"); an established one gets no more packets and hangs
    /// until a timeout of its own (TCP keepalive, `tcp_user_timeout`, the application's).
    pub fn cut(&self) {
        for (ns, ifname, _) in &self.ends {
            must(ip().args(["-n", ns, "link", "set", "dev", ifname, "down"]));
        }
    }

    /// Plugs the cable back in (both ends up) and waits until both report carrier.
    pub fn restore(&self) {
        for (ns, ifname, _) in &self.ends {
            must(ip().args(["-n", ns, "link", "set", "dev", ifname, "up"]));
        }
        wait_until("the veth link to come up", DEADLINE, || {
            self.ends.iter().all(|(ns, ifname, _)| {
                run(ip().args(["-n", ns, "-o", "link", "show", "dev", ifname]))
                    .is_ok_and(|l| l.contains("LOWER_UP") && l.contains("state UP"))
            })
        });
    }
}

impl Drop for VethLink {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; gone already if its namespace was deleted.
        let (ns, ifname, _) = &self.ends[0];
        let _ = run(ip().args(["-n", ns, "link", "del", "dev", ifname]));
    }
}

/// A command running in the background in a process group of its own, its output in a log
/// file; on drop the whole group gets SIGKILL (forking servers such as `socat ...,fork`
/// leave children behind otherwise).
#[derive(Debug)]
pub struct Background {
    child: Child,
    log: PathBuf,
    killed: bool,
}

impl Background {
    /// Starts `cmd` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Self {
        use std::os::unix::process::CommandExt as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Self {
            child,
            log: log.to_path_buf(),
            killed: false,
        }
    }

    /// Its pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills its process group (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        // The group, even when its leader is gone: forked children may outlive it.
        signal(format!("-{}", self.child.id()), "KILL");
        let _ = self.child.kill();
        // SIGKILL cannot be caught: the wait is short.
        let limit = Duration::from_secs(10);
        if super::poll_until(limit, || !self.is_running()) {
            let _ = self.child.wait();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}
