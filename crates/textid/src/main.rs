//! `textid`: the server (`textid serve`) and the admin commands, which act on the same
//! database as the server (SQLite in WAL mode admits a running server beside them).

#![allow(clippy::print_stdout)] // A CLI prints.

mod cli;
mod config;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the server allocates and frees many small
/// objects per request on every runtime thread, where glibc's malloc spent about 12% of an
/// OpenID Connect sign-in's CPU time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Only the server exports traces; the admin commands never do.
    let telemetry = if args.is_serve() {
        match telemetry::Telemetry::from_process_env().and_then(|t| t.provider()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {}", cli::output::escape(&format!("{e:#}"), true));
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    init_logs(&args, telemetry.as_ref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(cli::run(args));
    if let Some(provider) = telemetry {
        // Sends the spans still queued (the last requests, the last deliveries).
        if let Err(e) = provider.shutdown() {
            tracing::warn!(error = %e, "telemetry: the last spans were not exported");
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote what was stored or typed: escaped like all output.
            eprintln!("error: {}", cli::output::escape(&format!("{e:#}"), true));
            ExitCode::from(if e.downcast_ref::<cli::UsageError>().is_some() {
                2
            } else {
                1
            })
        }
    }
}

/// Log lines on stderr, filtered by `RUST_LOG` (default `info` for the server, `warn`
/// for the commands); beside them, when telemetry is on, the span exporter with its own
/// filter, so that `RUST_LOG` does not decide what is traced.
fn init_logs(args: &cli::Cli, telemetry: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if args.is_serve() { "info" } else { "warn" })
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(telemetry.map(telemetry::layer))
        .init();
}
