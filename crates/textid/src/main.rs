//! `textid`: the server (`textid serve`) and the admin commands, which act on the same
//! database as the server (SQLite in WAL mode admits a running server beside them).

#![allow(clippy::print_stdout)] // A CLI prints.

mod cli;
mod config;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if args.is_serve() { "info" } else { "warn" })
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
    match runtime.block_on(cli::run(args)) {
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
