//! `textid-bench graph`: how fast the Graph-compatible API pages through a large directory
//! with the query options admins' scripts use (issue #17's budget: under 50 ms per page of
//! a filtered, paged list over 100k users). Each scenario reads its first page and follows
//! `@odata.nextLink` for `--pages` pages, `--rounds` times, one request at a time (the
//! latency of one admin's script, not throughput), and reports per-page percentiles.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::Value;

use crate::stats::{ms, summarize};

/// Options of `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Base URL of the textid deployment.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Tenant whose token endpoint issues the admin token.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Client id of an app with User.Read.All.
    #[arg(long, env = "BENCH_CLIENT_ID")]
    pub client_id: String,
    /// Its client secret.
    #[arg(long, env = "BENCH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Pages read per scenario and round (first page included).
    #[arg(long, default_value_t = 10)]
    pub pages: usize,
    /// Times each scenario is read.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// `$top` of every page.
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// Label of the summary line.
    #[arg(long, default_value = "graph")]
    pub label: String,
}

/// One scenario: its name, the query (without `$top`), and whether it is an advanced
/// query (`ConsistencyLevel: eventual`).
const SCENARIOS: &[(&str, &str, bool)] = &[
    ("all users (userPrincipalName order)", "", false),
    ("$filter=accountEnabled eq false", "$filter=accountEnabled%20eq%20false", false),
    (
        "$filter=startswith(displayName,'Nurse 1')",
        "$filter=startswith(displayName,'Nurse%201')",
        false,
    ),
    (
        "$filter=startswith(userPrincipalName,'porter')",
        "$filter=startswith(userPrincipalName,'porter')",
        false,
    ),
    (
        "$select=displayName,accountEnabled",
        "$select=displayName,accountEnabled",
        false,
    ),
    (
        "$orderby=displayName desc&$count=true (advanced)",
        "$orderby=displayName%20desc&$count=true",
        true,
    ),
    (
        "$search=\"displayName:nurse\"&$count=true (advanced)",
        "$search=%22displayName:nurse%22&$count=true",
        true,
    ),
    (
        "endswith(userPrincipalName,'.example') and accountEnabled eq true&$count=true (advanced)",
        "$filter=endswith(userPrincipalName,'.example')%20and%20accountEnabled%20eq%20true&$count=true",
        true,
    ),
];

async fn token(http: &reqwest::Client, args: &GraphArgs) -> Result<String> {
    let url = format!("{}/{}/oauth2/v2.0/token", args.target, args.tenant);
    let scope = format!("{}/.default", args.target);
    let resp = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", args.client_id.as_str()),
            ("client_secret", args.client_secret.as_str()),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("token request to {url}: {status} {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("token response without access_token: {body}"))
}

/// Runs `graph`.
pub async fn run(args: GraphArgs) -> Result<()> {
    let http = reqwest::Client::builder().build()?;
    let bearer = token(&http, &args).await?;
    let mut all = Vec::new();
    println!(
        "graph: {} pages of {} per scenario, {} rounds, one request at a time",
        args.pages, args.top, args.rounds
    );
    println!(
        "{:<88} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "pages", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, query, advanced) in SCENARIOS {
        let mut samples = Vec::new();
        for _ in 0..args.rounds {
            let sep = if query.is_empty() { "" } else { "&" };
            let mut next = Some(format!(
                "{}/v1.0/users?$top={}{sep}{query}",
                args.target, args.top
            ));
            let mut read = 0;
            while let (Some(url), true) = (next.take(), read < args.pages) {
                let mut req = http.get(&url).bearer_auth(&bearer);
                if *advanced {
                    req = req.header("ConsistencyLevel", "eventual");
                }
                let started = Instant::now();
                let resp = req.send().await.with_context(|| format!("GET {url}"))?;
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                if !status.is_success() {
                    bail!("{name}: GET {url}: {status} {body}");
                }
                samples.push(took);
                read += 1;
                // The link names the server's public URL; the bench may reach it at
                // another address (a listener on port 0): keep the path and query.
                next = body["@odata.nextLink"].as_str().and_then(|l| {
                    l.find("/v1.0/")
                        .map(|i| format!("{}{}", args.target, &l[i..]))
                });
            }
        }
        let pages = samples.len();
        all.extend_from_slice(&samples);
        let s = summarize(&mut samples);
        println!(
            "{name:<88} {pages:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max)
        );
    }
    let s = summarize(&mut all);
    println!(
        "BENCH {} pages={} page_p50_ms={:.2} page_p95_ms={:.2} page_p99_ms={:.2} page_max_ms={:.2}",
        args.label,
        s.count,
        ms(s.p50),
        ms(s.p95),
        ms(s.p99),
        ms(s.max)
    );
    Ok(())
}
