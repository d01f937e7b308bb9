//! The `api` scenario: complete SMS sign-ins through the JSON API, as fast as
//! `concurrency` clients can go. Each client owns a slice of the numbers, so no two
//! concurrent sign-ins share one; a code reaches its client through the bench's own
//! webhook receiver.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::procfs::{clock_ticks, MachineCpu, ProcSample};
use crate::receiver::{self, Waiters};
use crate::stats::{ms, summarize, Summary};

/// Options of the `api` scenario.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the textid deployment.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Tenant name (first path segment).
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Concurrent clients, each signing in one number at a time.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of the measured window (e.g. 20s, 2m).
    #[arg(long, default_value = "20s", value_parser = crate::stats::parse_duration)]
    pub duration: Duration,
    /// Load before the measured window, not counted.
    #[arg(long, default_value = "3s", value_parser = crate::stats::parse_duration)]
    pub warmup: Duration,
    /// File of phone numbers (one a line, as `provision --out` writes them) whose users
    /// exist and are ready for SMS sign-in.
    #[arg(long, default_value = "users.txt")]
    pub users: PathBuf,
    /// Address of the bench's webhook receiver; the server's webhook provider must POST
    /// to `http://ADDR/sms` (TEXTID_SMS_PROVIDER=webhook TEXTID_SMS_WEBHOOK_URL=...).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub receiver: SocketAddr,
    /// PID of the server process on this machine: adds its CPU time and context switches
    /// per sign-in and its memory to the report (from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Label of this run in the report (e.g. the backend: sqlite, postgres).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The server's PostgreSQL database (postgres://...): commits per sign-in are read from
    /// its `pg_stat_database.xact_commit` (every node's, and anything else on that
    /// database). Without it, from the server's `textid_db_commits_total` (SQLite).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Stop after this many sign-ins (complete or failed) in the measured window instead
    /// of at the end of --duration (which then only bounds the run): a fixed amount of
    /// work, for counting instructions per sign-in under callgrind (scripts/instructions).
    #[arg(long)]
    pub signins: Option<u64>,
    /// How long a client waits for a code before it counts an error.
    #[arg(long, default_value = "30s", value_parser = crate::stats::parse_duration)]
    pub code_timeout: Duration,
}

/// What a client task shares with the others.
pub(crate) struct Ctx {
    /// Which sign-in.
    pub flow: Flow,
    pub http: reqwest::Client,
    start_url: String,
    verify_url: String,
    pub waiters: Arc<Waiters>,
    pub code_timeout: Duration,
    window_start: Instant,
    window_end: Instant,
    /// With --signins: sign-ins still to start in the window.
    remaining: Option<AtomicI64>,
    /// With --signins: told when every client has ended.
    done: tokio::sync::Notify,
}

impl Ctx {
    /// The code the webhook receiver gets for `number` (registered as `rx`), within
    /// `code_timeout`.
    pub(crate) async fn code_for(
        &self,
        number: &str,
        rx: tokio::sync::oneshot::Receiver<receiver::Delivered>,
    ) -> Result<receiver::Delivered, String> {
        match tokio::time::timeout(self.code_timeout, rx).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(_)) => Err("code waiter dropped".into()),
            Err(_) => {
                self.waiters.forget(number);
                Err("code timeout".into())
            }
        }
    }

    fn in_window(&self, t: Instant) -> bool {
        t >= self.window_start && t < self.window_end
    }
}

/// The step times of one complete sign-in, in microseconds: `steps` in the scenario's
/// order ([`API_STEPS`], [`crate::oidc::STEPS`]), then the whole sign-in.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Each step's time.
    pub steps: Vec<u64>,
    /// The whole sign-in.
    pub total: u64,
}

/// The steps of an API sample, as reported: label and JSON key.
const API_STEPS: &[(&str, &str)] = &[
    ("start (POST sign-in/sms -> 202)", "start"),
    ("code wait (202 -> code in hand)", "code_wait"),
    ("code delivery (start sent -> webhook)", "delivery"),
    ("verify (POST verify -> 200)", "verify"),
];

/// Which sign-in the clients make.
pub(crate) enum Flow {
    /// Through the JSON API.
    Api,
    /// Through OpenID Connect and the sign-in pages.
    Oidc(Box<crate::oidc::Oidc>),
}

impl Flow {
    fn name(&self) -> &'static str {
        match self {
            Flow::Api => "api",
            Flow::Oidc(_) => "oidc",
        }
    }

    fn steps(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Flow::Api => API_STEPS,
            Flow::Oidc(_) => crate::oidc::STEPS,
        }
    }
}

/// What one client task saw.
#[derive(Default)]
struct TaskLog {
    /// Sign-ins completed inside the measured window.
    samples: Vec<Sample>,
    /// Sign-ins completed outside it (warm-up, drain).
    outside: u64,
    /// Errors inside the window, by kind.
    errors: BTreeMap<String, u64>,
    /// Errors outside it, by kind.
    errors_outside: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    flow_id: String,
}

pub(crate) fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `"{step} {status} {error.code}"` for an error answer (reads the body, which also keeps
/// the connection reusable).
pub(crate) async fn http_error(step: &str, resp: reqwest::Response) -> String {
    let status = resp.status().as_u16();
    let code = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    format!("{step} {status} {code}")
}

pub(crate) fn transport_error(step: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() {
        "decode"
    } else {
        "transport"
    };
    format!("{step} {what}")
}

/// One complete sign-in of `number`; `Err` names what went wrong.
async fn sign_in(ctx: &Ctx, number: &str) -> Result<Sample, String> {
    // Registered before the start request: the message may arrive before its answer.
    let rx = ctx.waiters.wait_for(number);
    let t0 = Instant::now();
    let resp = match ctx
        .http
        .post(&ctx.start_url)
        .json(&json!({ "phoneNumber": number }))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            ctx.waiters.forget(number);
            return Err(transport_error("start", &e));
        }
    };
    if resp.status().as_u16() != 202 {
        ctx.waiters.forget(number);
        return Err(http_error("start", resp).await);
    }
    let started: Started = match resp.json().await {
        Ok(s) => s,
        Err(e) => {
            ctx.waiters.forget(number);
            return Err(transport_error("start", &e));
        }
    };
    let t1 = Instant::now();
    let delivered = ctx.code_for(number, rx).await?;
    let t2 = Instant::now();
    let resp = ctx
        .http
        .post(&ctx.verify_url)
        .json(&json!({ "flowId": started.flow_id, "code": delivered.code }))
        .send()
        .await
        .map_err(|e| transport_error("verify", &e))?;
    if resp.status().as_u16() != 200 {
        return Err(http_error("verify", resp).await);
    }
    resp.bytes()
        .await
        .map_err(|e| transport_error("verify", &e))?;
    let t3 = Instant::now();
    Ok(Sample {
        steps: vec![
            us(t1 - t0),
            us(t2 - t1),
            us(delivered.at.saturating_duration_since(t0)),
            us(t3 - t2),
        ],
        total: us(t3 - t0),
    })
}

/// A client: signs its numbers in, one after the other, round and round, until the
/// window ends. No sleeps: the next sign-in starts when the previous one ended.
async fn client(ctx: Arc<Ctx>, numbers: Vec<String>) -> TaskLog {
    let mut log = TaskLog::default();
    let mut i = 0usize;
    while Instant::now() < ctx.window_end {
        if let Some(left) = &ctx.remaining {
            if Instant::now() >= ctx.window_start && left.fetch_sub(1, Ordering::SeqCst) <= 0 {
                break;
            }
        }
        let Some(number) = numbers.get(i % numbers.len()) else {
            break;
        };
        i = i.wrapping_add(1);
        let result = match &ctx.flow {
            Flow::Api => sign_in(&ctx, number).await,
            Flow::Oidc(o) => crate::oidc::sign_in(&ctx, o, number).await,
        };
        let done = Instant::now();
        let inside = ctx.in_window(done);
        match result {
            Ok(s) if inside => log.samples.push(s),
            Ok(_) => log.outside += 1,
            Err(kind) => {
                let map = if inside {
                    &mut log.errors
                } else {
                    &mut log.errors_outside
                };
                *map.entry(kind).or_default() += 1;
            }
        }
    }
    log
}

/// Reads the numbers of a users file into E.164.
pub fn read_users(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the users file {}", path.display()))?;
    let mut numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = textid_core::PhoneNumber::parse(line, None).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: '{line}' is not a phone number: {e}",
                path.display(),
                i + 1
            )
        })?;
        numbers.push(number.e164());
    }
    let mut unique = numbers.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != numbers.len() {
        bail!(
            "{}: {} numbers appear more than once; each must be unique",
            path.display(),
            numbers.len() - unique.len()
        );
    }
    Ok(numbers)
}

/// Splits `numbers` into `n` contiguous slices whose sizes differ by at most one.
pub fn split(numbers: &[String], n: usize) -> Vec<Vec<String>> {
    let n = n.max(1);
    let base = numbers.len() / n;
    let extra = numbers.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for k in 0..n {
        let len = base + usize::from(k < extra);
        out.push(numbers[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Server (or bench) resource use over the measured window.
#[derive(Debug, Clone)]
struct Usage {
    cpu_ms_per_signin: Option<f64>,
    cpu_ms_per_s: f64,
    ctxsw_per_signin: Option<f64>,
    peak_rss_mb: f64,
    rss_mb: f64,
    rss_anon_mb: f64,
    /// Kilobytes sent to storage per sign-in (`/proc/PID/io` `write_bytes`).
    written_kb_per_signin: Option<f64>,
    /// The thread that used the most CPU, and how many cores it used: on a server whose
    /// cores are not all busy, the serial part that bounds throughput.
    busiest_thread: Option<(String, f64)>,
}

fn usage(before: &ProcSample, after: &ProcSample, signins: usize, window: Duration) -> Usage {
    let ticks = clock_ticks() as f64;
    let cpu_ms = after.cpu_ticks().saturating_sub(before.cpu_ticks()) as f64 * 1000.0 / ticks;
    let ctxsw = after.ctxt().saturating_sub(before.ctxt()) as f64;
    let per = |x: f64| (signins > 0).then(|| x / signins as f64);
    Usage {
        cpu_ms_per_signin: per(cpu_ms),
        cpu_ms_per_s: cpu_ms / window.as_secs_f64(),
        ctxsw_per_signin: per(ctxsw),
        peak_rss_mb: after.hwm_kb as f64 / 1024.0,
        rss_mb: after.rss_kb as f64 / 1024.0,
        rss_anon_mb: after.rss_anon_kb as f64 / 1024.0,
        written_kb_per_signin: per(after
            .storage_write_bytes
            .saturating_sub(before.storage_write_bytes) as f64
            / 1024.0),
        busiest_thread: crate::procfs::busiest_thread(before, after)
            .map(|(name, t)| (name, t as f64 / ticks / window.as_secs_f64())),
    }
}

/// Where the server's commits are counted.
enum CommitCounter {
    /// Its `textid_db_commits_total` (SQLite counts its group commits).
    Metrics,
    /// PostgreSQL's own count for the database.
    Postgres(tokio_postgres::Client),
}

impl CommitCounter {
    async fn new(database_url: Option<&str>) -> Result<Self> {
        let Some(url) = database_url else {
            return Ok(Self::Metrics);
        };
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| "--database-url: connecting to PostgreSQL")?;
        tokio::spawn(connection);
        Ok(Self::Postgres(client))
    }

    async fn read(&self, http: &reqwest::Client, metrics_url: &str) -> Option<u64> {
        match self {
            Self::Metrics => {
                let text = http.get(metrics_url).send().await.ok()?.text().await.ok()?;
                commits_in(&text)
            }
            Self::Postgres(c) => {
                // Statistics as of now, not as cached at the transaction's first read.
                c.batch_execute("SELECT pg_stat_clear_snapshot()")
                    .await
                    .ok()?;
                let row = c
                    .query_one(
                        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
                        &[],
                    )
                    .await
                    .ok()?;
                u64::try_from(row.get::<_, i64>(0)).ok()
            }
        }
    }
}

fn commits_in(exposition: &str) -> Option<u64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix("textid_db_commits_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs the scenario and prints the report.
pub async fn run(args: ApiArgs) -> Result<()> {
    run_flow(args, Flow::Api).await
}

/// Runs the clients of `flow` and prints the report.
pub(crate) async fn run_flow(args: ApiArgs, flow: Flow) -> Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let numbers = read_users(&args.users)?;
    if numbers.len() < args.concurrency {
        bail!(
            "{} users for concurrency {}: each client needs a number of its own (provision more users)",
            numbers.len(),
            args.concurrency
        );
    }
    let server_pid = args.server_pid.map(|p| p.to_string());
    if let Some(pid) = &server_pid {
        ProcSample::read(pid).with_context(|| format!("--server-pid {pid}"))?;
    }

    let waiters = Arc::new(Waiters::default());
    let bound = receiver::start(args.receiver, waiters.clone()).await?;
    println!("webhook receiver listening on http://{bound}/sms");

    let target = args.target.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // Each step's answer is looked at (the OIDC scenario's redirects carry its cookies).
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let begin = Instant::now();
    let window_start = begin + args.warmup;
    let window_end = window_start + args.duration;
    let ctx = Arc::new(Ctx {
        flow,
        http,
        start_url: format!("{target}/{}/api/v1/sign-in/sms", args.tenant),
        verify_url: format!("{target}/{}/api/v1/sign-in/sms/verify", args.tenant),
        waiters: waiters.clone(),
        code_timeout: args.code_timeout,
        window_start,
        window_end,
        remaining: args
            .signins
            .map(|n| AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX))),
        done: tokio::sync::Notify::new(),
    });
    println!(
        "{} clients over {} numbers against {target} (tenant {}): warm-up {:?}, measuring {:?}",
        args.concurrency,
        numbers.len(),
        args.tenant,
        args.warmup,
        args.duration
    );

    // Readings of /proc (and the server's commit count) at the window's edges, taken by
    // a task of their own.
    let monitor = {
        let server_pid = server_pid.clone();
        let ctx = ctx.clone();
        let http = ctx.http.clone();
        let metrics_url = format!("{target}/metrics");
        let counter = CommitCounter::new(args.database_url.as_deref()).await?;
        tokio::spawn(async move {
            tokio::time::sleep_until(window_start.into()).await;
            let commits_before = counter.read(&http, &metrics_url).await;
            let server_before = server_pid.as_deref().map(ProcSample::read);
            let bench_before = ProcSample::read("self");
            let machine_before = MachineCpu::read();
            tokio::select! {
                () = tokio::time::sleep_until(window_end.into()) => {}
                () = ctx.done.notified() => {}
            }
            let ended = Instant::now();
            let server_after = server_pid.as_deref().map(ProcSample::read);
            let bench_after = ProcSample::read("self");
            let machine_after = MachineCpu::read();
            let commits_after = counter.read(&http, &metrics_url).await;
            let machine = match (machine_before, machine_after) {
                (Ok(b), Ok(a)) => Some(a.busy.saturating_sub(b.busy)),
                _ => None,
            };
            let commits = match (commits_before, commits_after) {
                (Some(b), Some(a)) => Some(a.saturating_sub(b)),
                _ => None,
            };
            (
                ended,
                commits,
                server_before,
                server_after,
                bench_before,
                bench_after,
                machine,
            )
        })
    };

    let mut tasks = tokio::task::JoinSet::new();
    for slice in split(&numbers, args.concurrency) {
        tasks.spawn(client(ctx.clone(), slice));
    }
    let mut logs = Vec::with_capacity(args.concurrency);
    while let Some(log) = tasks.join_next().await {
        logs.push(log.context("a client task failed")?);
    }
    ctx.done.notify_one();
    let (ended, commits, server_before, server_after, bench_before, bench_after, machine_busy) =
        monitor.await.context("the /proc monitor failed")?;

    let mut samples: Vec<Sample> = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors_outside: BTreeMap<String, u64> = BTreeMap::new();
    let mut outside = 0;
    for log in logs {
        samples.extend(log.samples);
        outside += log.outside;
        for (k, v) in log.errors {
            *errors.entry(k).or_default() += v;
        }
        for (k, v) in log.errors_outside {
            *errors_outside.entry(k).or_default() += v;
        }
    }
    let signins = samples.len();
    // With --signins the window ended when the last sign-in did.
    let window = if args.signins.is_some() {
        ended.saturating_duration_since(window_start)
    } else {
        args.duration
    };
    let rate = signins as f64 / window.as_secs_f64();
    let pick = |f: &dyn Fn(&Sample) -> u64| -> Summary {
        let mut v: Vec<u64> = samples.iter().map(f).collect();
        summarize(&mut v)
    };
    let scenario = ctx.flow.name();
    let mut steps: Vec<(&str, &str, Summary)> = ctx
        .flow
        .steps()
        .iter()
        .enumerate()
        .map(|(i, (label, key))| (*label, *key, pick(&|s: &Sample| s.steps[i])))
        .collect();
    let total = pick(&|s: &Sample| s.total);
    steps.push(("whole sign-in", "signin", total));
    let errors_total: u64 = errors.values().sum();
    let commits_per_signin = commits
        .filter(|_| signins > 0)
        .map(|c| c as f64 / signins as f64);

    let server = match (server_before, server_after) {
        (Some(Ok(b)), Some(Ok(a))) => Some(usage(&b, &a, signins, window)),
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            eprintln!("warning: could not read the server's /proc entries: {e:#}");
            None
        }
        _ => None,
    };
    let bench = match (bench_before, bench_after) {
        (Ok(b), Ok(a)) => Some(usage(&b, &a, signins, window)),
        _ => None,
    };
    // The whole machine over the window, and what neither the server nor the bench used:
    // on a shared machine, other work skews the figures; this says how much there was.
    let cores = |ticks: u64| ticks as f64 / clock_ticks() as f64 / window.as_secs_f64();
    let machine_cores = machine_busy.map(cores);
    let other_cores = match (machine_cores, &server, &bench) {
        (Some(m), Some(s), Some(b)) => {
            Some((m - s.cpu_ms_per_s / 1000.0 - b.cpu_ms_per_s / 1000.0).max(0.0))
        }
        _ => None,
    };
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);

    // The readable table.
    println!();
    println!(
        "scenario {scenario}  label {}  concurrency {}  window {:.1} s  users {}",
        if args.label.is_empty() {
            "-"
        } else {
            &args.label
        },
        args.concurrency,
        window.as_secs_f64(),
        numbers.len()
    );
    println!(
        "complete sign-ins: {signins} in the window ({rate:.1}/s); {outside} more in warm-up and drain"
    );
    println!();
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "p50", "p95", "p99", "max"
    );
    for (name, _, s) in &steps {
        println!(
            "{:<40} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max)
        );
    }
    println!();
    let fmt = |x: Option<f64>, prec: usize| match x {
        Some(v) => format!("{v:.prec$}"),
        None => "n/a".into(),
    };
    match &server {
        Some(u) => {
            println!(
                "server (pid {}): cpu {} ms/sign-in ({:.0} ms/s = {:.2} cores), context switches {} /sign-in, peak RSS {:.1} MB, RSS now {:.1} MB (anonymous {:.1} MB, the rest file-backed: the binary, a mapped database)",
                args.server_pid.unwrap_or_default(),
                fmt(u.cpu_ms_per_signin, 3),
                u.cpu_ms_per_s,
                u.cpu_ms_per_s / 1000.0,
                fmt(u.ctxsw_per_signin, 2),
                u.peak_rss_mb,
                u.rss_mb,
                u.rss_anon_mb
            );
            println!(
                "server storage writes: {} kB/sign-in; busiest thread: {}",
                fmt(u.written_kb_per_signin, 1),
                u.busiest_thread
                    .as_ref()
                    .map_or("n/a".to_string(), |(n, c)| format!("{n} at {c:.2} cores"))
            );
        }
        None => println!("server: no --server-pid, no CPU or memory figures"),
    }
    match commits_per_signin {
        Some(c) => println!(
            "server commits: {c:.2} /sign-in ({})",
            if args.database_url.is_some() {
                "pg_stat_database.xact_commit, read-only transactions included"
            } else {
                "textid_db_commits_total"
            }
        ),
        None => println!(
            "server commits: n/a (no textid_db_commits_total at {target}/metrics; on PostgreSQL give --database-url)"
        ),
    }
    if let Some(u) = &bench {
        println!(
            "bench itself: cpu {} ms/sign-in ({:.2} cores), peak RSS {:.1} MB",
            fmt(u.cpu_ms_per_signin, 3),
            u.cpu_ms_per_s / 1000.0,
            u.peak_rss_mb
        );
    }
    if let Some(m) = machine_cores {
        match other_cores {
            Some(o) => {
                println!("machine: {m:.2} of {cpus} cores busy, {o:.2} of them by other processes")
            }
            None => println!("machine: {m:.2} of {cpus} cores busy (server included)"),
        }
    }
    println!();
    if errors.is_empty() {
        println!("errors in the window: none");
    } else {
        println!("errors in the window: {errors_total}");
        for (k, v) in &errors {
            println!("  {v:>8}  {k}");
        }
    }
    if !errors_outside.is_empty() {
        let n: u64 = errors_outside.values().sum();
        println!("errors in warm-up and drain: {n}");
        for (k, v) in &errors_outside {
            println!("  {v:>8}  {k}");
        }
    }
    let unexpected = waiters.unexpected.load(Ordering::Relaxed);
    let malformed = waiters.malformed.load(Ordering::Relaxed);
    if unexpected > 0 || malformed > 0 {
        println!(
            "webhook messages no client waited for: {unexpected}; without a code: {malformed}"
        );
    }
    if signins == 0 && errors.keys().any(|k| k == "code timeout") {
        eprintln!(
            "hint: no code arrived; is the server's TEXTID_SMS_WEBHOOK_URL http://{bound}/sms (TEXTID_SMS_PROVIDER=webhook)?"
        );
    }

    // One line for scripts, and the JSON.
    let label = if args.label.is_empty() {
        "-".to_string()
    } else {
        args.label.replace(char::is_whitespace, "_")
    };
    println!();
    println!(
        "BENCH scenario={scenario} label={label} concurrency={} duration_s={:.1} signins={signins} signins_per_s={rate:.1} p50_ms={:.2} p99_ms={:.2} cpu_ms_per_signin={} ctxsw_per_signin={} commits_per_signin={} rss_mb={} errors={errors_total} other_cores={} rss_anon_mb={} written_kb_per_signin={} busiest_thread={} busiest_thread_cores={}",
        args.concurrency,
        window.as_secs_f64(),
        ms(total.p50),
        ms(total.p99),
        fmt(server.as_ref().and_then(|u| u.cpu_ms_per_signin), 3),
        fmt(server.as_ref().and_then(|u| u.ctxsw_per_signin), 2),
        fmt(commits_per_signin, 2),
        fmt(server.as_ref().map(|u| u.peak_rss_mb), 1),
        fmt(other_cores, 2),
        fmt(server.as_ref().map(|u| u.rss_anon_mb), 1),
        fmt(server.as_ref().and_then(|u| u.written_kb_per_signin), 1),
        server
            .as_ref()
            .and_then(|u| u.busiest_thread.as_ref())
            .map_or("n/a".to_string(), |(n, _)| n.replace(char::is_whitespace, "_")),
        fmt(
            server
                .as_ref()
                .and_then(|u| u.busiest_thread.as_ref().map(|(_, c)| *c)),
            2
        ),
    );

    if let Some(path) = &args.json {
        let latency: serde_json::Map<String, Value> = steps
            .iter()
            .map(|(_, key, s)| {
                (
                    (*key).to_string(),
                    json!({"p50_ms": ms(s.p50), "p95_ms": ms(s.p95), "p99_ms": ms(s.p99), "max_ms": ms(s.max), "count": s.count}),
                )
            })
            .collect();
        let report = json!({
            "scenario": scenario,
            "label": args.label,
            "target": target,
            "tenant": args.tenant,
            "concurrency": args.concurrency,
            "users": numbers.len(),
            "warmup_s": args.warmup.as_secs_f64(),
            "duration_s": window.as_secs_f64(),
            "signins": signins,
            "signins_per_s": rate,
            "p50_ms": ms(total.p50),
            "p99_ms": ms(total.p99),
            "latency": latency,
            "errors": errors_total,
            "errors_by_kind": errors,
            "errors_outside_window": errors_outside,
            "webhook_unexpected": unexpected,
            "server": server.as_ref().map(|u| json!({
                "pid": args.server_pid,
                "cpu_ms_per_signin": u.cpu_ms_per_signin,
                "cores": u.cpu_ms_per_s / 1000.0,
                "ctxsw_per_signin": u.ctxsw_per_signin,
                "rss_mb": u.peak_rss_mb,
                "rss_peak_mb": u.peak_rss_mb,
                "rss_now_mb": u.rss_mb,
                "rss_anon_now_mb": u.rss_anon_mb,
                "written_kb_per_signin": u.written_kb_per_signin,
                "busiest_thread": u.busiest_thread.as_ref().map(|(n, c)| json!({"name": n, "cores": c})),
            })),
            "cpu_ms_per_signin": server.as_ref().and_then(|u| u.cpu_ms_per_signin),
            "ctxsw_per_signin": server.as_ref().and_then(|u| u.ctxsw_per_signin),
            "commits_per_signin": commits_per_signin,
            "rss_mb": server.as_ref().map(|u| u.peak_rss_mb),
            "machine": {"cpus": cpus, "busy_cores": machine_cores, "other_cores": other_cores},
            "bench": bench.as_ref().map(|u| json!({
                "cpu_ms_per_signin": u.cpu_ms_per_signin,
                "cores": u.cpu_ms_per_s / 1000.0,
                "rss_peak_mb": u.peak_rss_mb,
            })),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_and_cover_every_number() {
        let numbers: Vec<String> = (0..10).map(|i| format!("+1425555010{i}")).collect();
        let parts = split(&numbers, 3);
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        assert_eq!(parts.concat(), numbers);
        assert!(split(&numbers, 10).iter().all(|p| p.len() == 1));
    }

    #[test]
    fn users_files_are_read_into_e164_and_duplicates_refused() {
        let dir = std::env::temp_dir().join(format!("textid-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.txt");
        std::fs::write(&path, "# bench users\n+1 425 555 0101\n\n+14255550102\n").unwrap();
        assert_eq!(
            read_users(&path).unwrap(),
            vec!["+14255550101".to_string(), "+14255550102".to_string()]
        );
        std::fs::write(&path, "+14255550101\n+1 (425) 555-0101\n").unwrap();
        assert!(read_users(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn usage_is_per_sign_in() {
        let before = ProcSample {
            utime_ticks: 100,
            stime_ticks: 50,
            voluntary_ctxt: 1000,
            nonvoluntary_ctxt: 10,
            hwm_kb: 1024,
            rss_kb: 1024,
            rss_anon_kb: 512,
            storage_write_bytes: 1 << 20,
            threads: vec![(7, "textid-sqlite-w".into(), 10)],
        };
        let after = ProcSample {
            utime_ticks: 300,
            stime_ticks: 150,
            voluntary_ctxt: 3000,
            nonvoluntary_ctxt: 10,
            hwm_kb: 20480,
            rss_kb: 10240,
            rss_anon_kb: 6144,
            storage_write_bytes: 3 << 20,
            threads: vec![(7, "textid-sqlite-w".into(), 10 + 2 * clock_ticks())],
        };
        let u = usage(&before, &after, 100, Duration::from_secs(2));
        let ticks = clock_ticks() as f64;
        let cpu_ms = 300.0 * 1000.0 / ticks;
        assert!((u.cpu_ms_per_signin.unwrap() - cpu_ms / 100.0).abs() < 1e-9);
        assert!((u.cpu_ms_per_s - cpu_ms / 2.0).abs() < 1e-9);
        // 2 MiB over 100 sign-ins; the writer busy 2 s of the 2 s window: one core.
        assert!((u.written_kb_per_signin.unwrap() - 20.48).abs() < 1e-9);
        let (name, cores) = u.busiest_thread.clone().unwrap();
        assert_eq!(name, "textid-sqlite-w");
        assert!((cores - 1.0).abs() < 1e-9);
        assert_eq!(u.ctxsw_per_signin, Some(20.0));
        assert_eq!(u.peak_rss_mb, 20.0);
        assert_eq!(u.rss_mb, 10.0);
        assert_eq!(u.rss_anon_mb, 6.0);
        assert_eq!(
            usage(&before, &after, 0, Duration::from_secs(1)).cpu_ms_per_signin,
            None
        );
    }

    #[test]
    fn the_commit_count_is_read_from_the_exposition() {
        let text = "# TYPE textid_db_commits counter\ntextid_db_commits_total 1234\ntextid_db_commits_created 1.0\n";
        assert_eq!(commits_in(text), Some(1234));
        assert_eq!(commits_in("textid_outbox_depth 0\n"), None);
    }
}
