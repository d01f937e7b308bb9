//! `textid serve`: opens (creating on first start) the data directory and database, then
//! serves HTTP until Ctrl-C or SIGTERM.

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{Config, RawConfig};

/// Flags of `serve` (each also a config key).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Env: TEXTID_LISTEN.
    #[arg(long)]
    listen: Option<String>,
    /// Public URL. Env: TEXTID_PUBLIC_URL.
    #[arg(long)]
    public_url: Option<String>,
}

impl ServeArgs {
    /// Flags win over file and environment.
    pub fn apply(&self, raw: &mut RawConfig) {
        if let Some(l) = &self.listen {
            raw.set("listen", l.clone(), "--listen");
        }
        if let Some(u) = &self.public_url {
            raw.set("public_url", u.clone(), "--public-url");
        }
    }
}

/// Runs the server.
pub async fn run(config: &Config) -> Result<()> {
    let (app, _store) = super::open(config, true, true).await?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    crate::out!("textid listening on http://{addr}");
    crate::out!("public URL: {}", config.public_url);
    crate::out!(
        "issuer (tenant default): {}/default/v2.0",
        config.public_url
    );
    crate::out!("data directory: {}", config.data_dir.display());
    crate::out!("database: {}", config.database.redacted());
    match &config.sms {
        textid_server::SmsProviderConfig::Console => {
            crate::out!("SMS: development console outbox (codes appear in this log)")
        }
        textid_server::SmsProviderConfig::Webhook(w) => crate::out!("SMS: webhook {}", w.url),
    }
    app.serve(listener, shutdown_signal())
        .await
        .context("serving HTTP")?;
    crate::out!("textid stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
