//! PostgreSQL for process-level tests: a fresh database on the system server
//! ([`fresh_database`]), private clusters ([`PgCluster`]) and a primary with a synchronous
//! streaming standby ([`ReplicatedPair`]).
//!
//! Private clusters live in a temporary directory (data, Unix socket, log) owned by the
//! `postgres` OS user when the test runs as root (`initdb` refuses root), listen on a free
//! port of 127.0.0.1 or of a namespace address, and trust every local and host connection,
//! replication included: they are reachable only from this machine's loopback or from the
//! test's own namespaces. Admin statements go over the cluster's Unix socket, which works
//! from any network namespace.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use super::{
    is_root, must, program, require_program, run, run_limited, tail, wait_until, DEADLINE,
};

/// Host of the system PostgreSQL that [`fresh_database`] uses.
pub const SYSTEM_PG_HOST: &str = "127.0.0.1";
/// Port of the system PostgreSQL that [`fresh_database`] uses.
pub const SYSTEM_PG_PORT: u16 = 5432;
/// `application_name` of the standby of a [`ReplicatedPair`], as named in the primary's
/// `synchronous_standby_names`.
pub const STANDBY_NAME: &str = "standby1";

/// Bounds one `psql` run; connection attempts are bounded separately by `connect_timeout`.
const PSQL_LIMIT: Duration = Duration::from_secs(30);

/// The directory of the PostgreSQL server binaries: `$PG_BINDIR`, else `pg_config --bindir`
/// when it holds `initdb`, else the newest `/usr/lib/postgresql/*/bin` (Debian).
fn bindir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let has_initdb = |d: &PathBuf| d.join("initdb").is_file();
        if let Some(d) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
            return Some(d);
        }
        let from_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(has_initdb);
        from_config.or_else(|| {
            let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| {
                    let e = e.ok()?;
                    let version = e.file_name().to_str()?.parse().ok()?;
                    Some((version, e.path().join("bin")))
                })
                .filter(|(_, d)| has_initdb(d))
                .collect();
            found.sort();
            found.pop().map(|(_, d)| d)
        })
    })
    .as_deref()
}

/// A PostgreSQL client or server program: from the server's bindir when there is one (the
/// versions match), else from PATH.
fn pg_program(name: &str) -> PathBuf {
    bindir()
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .or_else(|| program(name))
        .unwrap_or_else(|| panic!("PostgreSQL program `{name}` not found"))
}

/// Why private clusters cannot run here, or `None`.
pub(super) fn server_unmet() -> Option<String> {
    let Some(dir) = bindir() else {
        return Some(
            "PostgreSQL server binaries not found (Debian: postgresql; or set PG_BINDIR)".into(),
        );
    };
    for p in ["initdb", "pg_ctl", "pg_basebackup", "pg_isready", "psql"] {
        if !dir.join(p).is_file() && program(p).is_none() {
            return Some(format!("`{p}` not found in {}", dir.display()));
        }
    }
    if is_root() {
        if program("runuser").is_none() {
            return Some("`runuser` not found (Debian: util-linux)".into());
        }
        if postgres_ids().is_none() {
            return Some("no `postgres` OS user to run clusters as (Debian: postgresql)".into());
        }
    }
    None
}

/// Uid and gid of the `postgres` OS user.
fn postgres_ids() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        let id = |flag: &str| {
            run(Command::new("id").args([flag, "postgres"]))
                .ok()?
                .parse::<u32>()
                .ok()
        };
        Some((id("-u")?, id("-g")?))
    })
}

/// Runs `psql` on the connection string or URL `conn` (a libpq one: multi-host URLs and
/// `target_session_attrs` work), in the test's namespace; trimmed unaligned output.
pub fn psql(conn: &str, sql: &str) -> Result<String, String> {
    run_limited(&mut psql_command(None, conn, sql), PSQL_LIMIT)
}

/// The `psql` command line for `conn` and `sql`, run inside namespace `netns` if given.
pub(super) fn psql_command(netns: Option<&str>, conn: &str, sql: &str) -> Command {
    let psql = pg_program("psql");
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new(require_program("ip"));
            c.args(["netns", "exec", ns]).arg(psql);
            c
        }
        None => Command::new(psql),
    };
    cmd.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conn,
        "-c",
        sql,
    ])
    // An unreachable host must fail the command, not hang it.
    .env("PGCONNECT_TIMEOUT", "5")
    .env_remove("PGSERVICE")
    .env_remove("PGPASSFILE");
    cmd
}

/// Whether the system PostgreSQL at 127.0.0.1:5432 accepts `postgres` (checked once).
pub fn pg_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        (bindir().is_some() || program("psql").is_some())
            && psql(&system_url("postgres"), "SELECT 1").is_ok_and(|o| o == "1")
    })
}

fn system_url(db: &str) -> String {
    format!("postgres://postgres@{SYSTEM_PG_HOST}:{SYSTEM_PG_PORT}/{db}")
}

/// A uniquely named database on the system PostgreSQL, dropped (`WITH (FORCE)`, so open
/// connections do not keep it) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Its name, `textid_test_<uuid>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://postgres@127.0.0.1:5432/<name>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` in it; panics on failure.
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.url, sql).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = psql(&system_url("postgres"), &drop) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Creates a fresh database on the system PostgreSQL (see [`TestDb`]).
pub fn fresh_database() -> TestDb {
    let name = format!("textid_test_{}", uuid::Uuid::new_v4().simple());
    psql(
        &system_url("postgres"),
        &format!("CREATE DATABASE \"{name}\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    TestDb {
        url: system_url(&name),
        name,
    }
}

/// Where and how a [`PgCluster`] runs.
#[derive(Debug, Clone)]
pub struct PgClusterOptions {
    /// Network namespace to run the server in (by name); `None`: the test's own.
    pub netns: Option<String>,
    /// Address to listen on (`listen_addresses`); in a namespace, one of its addresses.
    pub listen: IpAddr,
    /// Extra `postgresql.conf` settings, `(name, value)` with the value as written in the
    /// file (quote strings: `("work_mem", "'8MB'")`).
    pub settings: Vec<(String, String)>,
}

impl Default for PgClusterOptions {
    fn default() -> Self {
        Self {
            netns: None,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            settings: Vec::new(),
        }
    }
}

impl PgClusterOptions {
    /// Listen on `addr` inside the namespace `ns`.
    pub fn in_netns(ns: &super::NetNs, addr: impl Into<IpAddr>) -> Self {
        Self {
            netns: Some(ns.name().to_string()),
            listen: addr.into(),
            settings: Vec::new(),
        }
    }

    /// Adds a `postgresql.conf` setting.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }
}

/// A private PostgreSQL cluster (see the module docs); stopped with `pg_ctl stop -m
/// immediate` and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: TempDir,
    port: u16,
    listen: IpAddr,
    netns: Option<String>,
}

impl PgCluster {
    /// Creates a cluster with `initdb` and starts it on a free port of 127.0.0.1.
    pub fn new() -> Self {
        Self::with_options(PgClusterOptions::default())
    }

    /// Creates a cluster with `initdb` and starts it as `options` say.
    pub fn with_options(options: PgClusterOptions) -> Self {
        let cluster = Self::prepare(&options);
        must(cluster.cmd("initdb", false).args([
            "-D",
            "data",
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]));
        let mut conf = cluster.base_settings();
        for (k, v) in &options.settings {
            let _ = writeln!(conf, "{k} = {v}");
        }
        cluster.append("postgresql.conf", &conf);
        // Besides initdb's loopback lines: the peers of the test's namespaces.
        cluster.append(
            "pg_hba.conf",
            "host all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n\
             host all all ::/0 trust\nhost replication all ::/0 trust\n",
        );
        cluster.first_start()
    }

    /// Creates a streaming standby of `primary` with `pg_basebackup -R` (its WAL receiver
    /// connects over TCP to the primary's listen address as `application_name`), and starts
    /// it as `options` say. Its `synchronous_standby_names` is empty, so once promoted it
    /// does not wait for a standby of its own.
    pub fn standby_of(
        primary: &PgCluster,
        application_name: &str,
        options: PgClusterOptions,
    ) -> Self {
        let cluster = Self::prepare(&options);
        let host = primary.listen.to_string();
        let port = primary.port.to_string();
        must(cluster.cmd("pg_basebackup", true).args([
            "-h",
            &host,
            "-p",
            &port,
            "-U",
            "postgres",
            "-D",
            "data",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ]));
        // postgresql.auto.conf is read last and, within it, the last line wins: this
        // overrides what -R wrote and what was copied from the primary.
        let mut conf = cluster.base_settings();
        let _ = writeln!(
            conf,
            "primary_conninfo = 'host={host} port={port} user=postgres \
             application_name={application_name}'\n\
             synchronous_standby_names = ''\ncluster_name = '{application_name}'"
        );
        for (k, v) in &options.settings {
            let _ = writeln!(conf, "{k} = {v}");
        }
        cluster.append("postgresql.auto.conf", &conf);
        cluster.first_start()
    }

    /// The temporary directory, owned by `postgres` when root, with `sock/` for the socket.
    fn prepare(options: &PgClusterOptions) -> Self {
        // Under /tmp rather than $TMPDIR: the `postgres` user must be able to reach it.
        let base = if is_root() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("textid-pg-")
            .tempdir_in(base)
            .expect("temporary directory for a cluster");
        std::fs::create_dir(dir.path().join("sock")).expect("socket directory");
        if is_root() {
            let (uid, gid) = postgres_ids().expect("a `postgres` OS user");
            for p in [dir.path().to_path_buf(), dir.path().join("sock")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        Self {
            dir,
            port: super::free_port(),
            listen: options.listen,
            netns: options.netns.clone(),
        }
    }

    fn base_settings(&self) -> String {
        format!(
            "\n# textid test harness\nlisten_addresses = '{}'\nport = {}\n\
             unix_socket_directories = '{}'\nfsync = off\nshared_buffers = 32MB\n\
             max_connections = 100\nwal_level = replica\nmax_wal_senders = 10\n\
             hot_standby = on\nlogging_collector = off\nlog_line_prefix = '%m [%p] '\n",
            self.listen,
            self.port,
            self.sock().display()
        )
    }

    /// Appends `text` to `data/<file>` (the file keeps its owner).
    fn append(&self, file: &str, text: &str) {
        let path = self.data_dir().join(file);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    }

    /// Starts for the first time; outside a namespace another process may have taken the
    /// port since it was picked, so on "could not bind" it moves to a new port (up to 3 times).
    fn first_start(mut self) -> Self {
        for _ in 0..3 {
            match self.try_start() {
                Ok(()) => {
                    self.wait_ready();
                    return self;
                }
                Err(e) if self.netns.is_none() && self.log().contains("could not bind") => {
                    eprintln!("port {} taken, moving: {e}", self.port);
                    self.port = super::free_port();
                    self.append(
                        if self.data_dir().join("standby.signal").exists() {
                            "postgresql.auto.conf"
                        } else {
                            "postgresql.conf"
                        },
                        &format!("port = {}\n", self.port),
                    );
                }
                Err(e) => panic!("{e}\n--- postgres log\n{}", tail(&self.log_path(), 40)),
            }
        }
        panic!("no free port for a cluster after 3 tries");
    }

    /// A server command run from the cluster directory; as `postgres` when root; inside the
    /// cluster's namespace when `in_netns` (only starting the server and taking a base
    /// backup touch the network; stopping and promoting work by signals and files).
    fn cmd(&self, program: &str, in_netns: bool) -> Command {
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let (true, Some(ns)) = (in_netns, &self.netns) {
            argv.extend([
                require_program("ip").into(),
                "netns".into(),
                "exec".into(),
                ns.into(),
            ]);
        }
        if is_root() {
            argv.extend([
                require_program("runuser").into(),
                "-u".into(),
                "postgres".into(),
                "--".into(),
            ]);
        }
        argv.push(pg_program(program).into());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(self.dir.path());
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<String, String> {
        run(self
            .cmd("pg_ctl", args.contains(&"start"))
            .args(["-D", "data", "-l", "postgres.log", "-w", "-t", "30"])
            .args(args))
    }

    fn try_start(&self) -> Result<(), String> {
        self.pg_ctl(&["start"]).map(drop)
    }

    /// Starts the stopped cluster and waits until it accepts connections.
    pub fn start(&self) {
        self.try_start()
            .unwrap_or_else(|e| panic!("{e}\n--- postgres log\n{}", tail(&self.log_path(), 40)));
        self.wait_ready();
    }

    /// Stops it (`-m fast`: sessions rolled back, a shutdown checkpoint written; a primary
    /// first sends its remaining WAL to connected standbys).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops it like a crash (`-m immediate`: no checkpoint; crash recovery on the next
    /// start).
    pub fn kill(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Promotes a standby and waits until it is out of recovery.
    pub fn promote(&self) {
        self.pg_ctl(&["promote"]).unwrap_or_else(|e| panic!("{e}"));
        wait_until("the promoted standby to leave recovery", DEADLINE, || {
            !self.is_in_recovery()
        });
    }

    /// Waits until the server accepts connections (`pg_isready` on its socket).
    pub fn wait_ready(&self) {
        let isready = pg_program("pg_isready");
        let (sock, port) = (self.sock(), self.port.to_string());
        wait_until(
            &format!("the cluster on port {port} to accept connections"),
            DEADLINE,
            || {
                Command::new(&isready)
                    .arg("-h")
                    .arg(&sock)
                    .args(["-p", &port, "-U", "postgres", "-d", "postgres", "-t", "2"])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
        );
    }

    /// Whether it runs as a standby (`pg_is_in_recovery()`).
    pub fn is_in_recovery(&self) -> bool {
        self.psql("SELECT pg_is_in_recovery()") == "t"
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address it listens on.
    pub fn host(&self) -> IpAddr {
        self.listen
    }

    /// The namespace it runs in, if not the test's.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// `postgres://postgres@<host>:<port>/<db>`: for clients in the cluster's network.
    pub fn url(&self, db: &str) -> String {
        match self.listen {
            IpAddr::V6(a) => format!("postgres://postgres@[{a}]:{}/{db}", self.port),
            IpAddr::V4(a) => format!("postgres://postgres@{a}:{}/{db}", self.port),
        }
    }

    /// A libpq connection string over the Unix socket: works from any namespace.
    pub fn socket_conninfo(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.sock().display(),
            self.port
        )
    }

    /// Runs `sql` in database `postgres`; panics on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// Runs `sql` in `db`; panics on failure.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `sql` in `db` over the Unix socket.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        psql(&self.socket_conninfo(db), sql)
    }

    /// Creates database `name`; its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Default for PgCluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- postgres log of the cluster on port {} (last 30 lines)\n{}",
                self.port,
                tail(&self.log_path(), 30)
            );
        }
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        }
    }
}

/// A primary and a streaming standby (`application_name` [`STANDBY_NAME`]) on free ports
/// of 127.0.0.1, with synchronous replication: the primary has `synchronous_standby_names
/// = 'standby1'` and `synchronous_commit = on`, so a commit returns only once the standby has
/// flushed its WAL.
#[derive(Debug)]
pub struct ReplicatedPair {
    /// The primary.
    pub primary: PgCluster,
    /// The standby (read-only until promoted).
    pub standby: PgCluster,
}

impl ReplicatedPair {
    /// Starts both and waits until the standby streams synchronously.
    pub fn new() -> Self {
        Self::with_options(PgClusterOptions::default(), PgClusterOptions::default())
    }

    /// As [`ReplicatedPair::new`], each cluster placed as its options say (the standby must
    /// reach the primary's listen address).
    pub fn with_options(primary: PgClusterOptions, standby: PgClusterOptions) -> Self {
        let primary = PgCluster::with_options(primary);
        let standby = PgCluster::standby_of(&primary, STANDBY_NAME, standby);
        // Synchronous only once the standby exists: before, a commit would wait forever.
        primary.psql(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'"
        ));
        primary.psql("ALTER SYSTEM SET synchronous_commit = on");
        primary.psql("SELECT pg_reload_conf()");
        let pair = Self { primary, standby };
        pair.wait_sync();
        pair
    }

    /// Waits until the primary reports the standby as streaming and synchronous.
    pub fn wait_sync(&self) {
        let sql = format!(
            "SELECT state || '/' || sync_state FROM pg_stat_replication \
             WHERE application_name = '{STANDBY_NAME}'"
        );
        wait_until("the standby to stream synchronously", DEADLINE, || {
            self.primary
                .try_psql("postgres", &sql)
                .is_ok_and(|s| s == "streaming/sync")
        });
    }

    /// Stops the primary (`-m fast`).
    pub fn stop_primary(&self) {
        self.primary.stop();
    }

    /// Crashes the primary (`-m immediate`).
    pub fn kill_primary(&self) {
        self.primary.kill();
    }

    /// Promotes the standby (`pg_ctl promote`) and waits until `pg_is_in_recovery()` is false.
    pub fn promote_standby(&self) {
        self.standby.promote();
    }

    /// `postgres://postgres@<primary>,<standby>/<db>?target_session_attrs=read-write`: a
    /// client tries the hosts in order and keeps the first that accepts writes. libpq and
    /// tokio-postgres 0.7 both parse this URL form.
    pub fn multi_host_url(&self, db: &str) -> String {
        let hostport = |c: &PgCluster| match c.listen {
            IpAddr::V6(a) => format!("[{a}]:{}", c.port),
            IpAddr::V4(a) => format!("{a}:{}", c.port),
        };
        format!(
            "postgres://postgres@{},{}/{db}?target_session_attrs=read-write",
            hostport(&self.primary),
            hostport(&self.standby)
        )
    }

    /// The same as a key-value connection string: `host=a,b port=p1,p2 ...`.
    pub fn multi_host_conninfo(&self, db: &str) -> String {
        format!(
            "host={},{} port={},{} user=postgres dbname={db} target_session_attrs=read-write",
            self.primary.listen, self.standby.listen, self.primary.port, self.standby.port
        )
    }
}

impl Default for ReplicatedPair {
    fn default() -> Self {
        Self::new()
    }
}
