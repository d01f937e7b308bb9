//! `textid-bench`: a load generator for any textid deployment.
//!
//! - `provision` creates users with unique mobile numbers through the Graph-compatible
//!   API and writes their numbers to a file;
//! - `api` runs complete SMS sign-ins through the JSON API (start, code delivered by the
//!   server's webhook provider to the bench's own loopback receiver, verify) and reports
//!   throughput, step latencies, errors and, for a server on this machine, its CPU time,
//!   context switches and memory per sign-in;
//! - `oidc` runs complete OpenID Connect sign-ins through the sign-in pages, as a browser
//!   and a public client with PKCE make them, and reports as `api` does;
//! - `graph` pages through `/v1.0/users` with Graph's query options and reports the
//!   latency of each page.
//!
//! See `scripts/bench` for the standard scenario and `BENCHMARKS.md` for results.

// A command-line tool: its report goes to standard output.
#![allow(clippy::print_stdout)]

mod api;
mod graph;
mod oidc;
mod procfs;
mod provision;
mod receiver;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load generator for textid: complete SMS sign-ins through the API.
#[derive(Debug, Parser)]
#[command(name = "textid-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run complete API sign-ins (start, code via the bench's webhook receiver, verify)
    /// at a fixed concurrency and report throughput, latencies and server cost.
    Api(api::ApiArgs),
    /// Run complete OpenID Connect sign-ins through the sign-in pages (authorize with
    /// PKCE, phone page, code page, redirect, token; a sample of ID tokens verified
    /// against the JWKS) and report as `api` does.
    Oidc(oidc::OidcArgs),
    /// Create users with unique mobile numbers through the Graph-compatible API and write
    /// the numbers to a users file.
    Provision(provision::ProvisionArgs),
    /// Page through `/v1.0/users` with the query options admins' scripts use and report
    /// the latency of each page.
    Graph(graph::GraphArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line, without a backtrace (RUST_BACKTRACE may be set).
            eprintln!("textid-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Api(args) => api::run(args).await,
            Command::Oidc(args) => oidc::run(args).await,
            Command::Provision(args) => provision::run(args).await,
            Command::Graph(args) => graph::run(args).await,
        }
    })
}
