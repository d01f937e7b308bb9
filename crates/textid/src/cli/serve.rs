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
    // Held until the process ends: `textid restore` refuses to replace the database
    // under a running server.
    let _lock = match &config.database {
        crate::config::Database::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::config::create_data_dir(parent)?;
            }
            Some(textid_store::sqlite::backup::ServerLock::serving(path)?)
        }
        crate::config::Database::Postgres(_) => None,
    };
    let (app, _store) = super::open(config, true, true).await?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match &config.metrics_listen {
        Some(m) => Some(
            tokio::net::TcpListener::bind(m)
                .await
                .with_context(|| format!("cannot listen on {m} (metrics_listen)"))?,
        ),
        None => None,
    };
    crate::out!("textid listening on http://{addr}");
    match &metrics_listener {
        Some(l) => crate::out!("metrics: http://{}/metrics", l.local_addr()?),
        None => crate::out!("metrics: http://{addr}/metrics"),
    }
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
        textid_server::SmsProviderConfig::Twilio(_) => crate::out!(
            "SMS: twilio (receipts at {}/sms/receipts/twilio)",
            config.public_url.trim_end_matches('/')
        ),
        textid_server::SmsProviderConfig::Vonage(v) => match &v.callback {
            Some(url) => crate::out!("SMS: vonage (receipts at {url})"),
            None => {
                crate::out!("SMS: vonage (no receipts: sms_vonage_signature_secret is not set)")
            }
        },
        textid_server::SmsProviderConfig::Smpp(c) => crate::out!(
            "SMS: smpp {}:{} as {} (receipts by deliver_sm)",
            c.host,
            c.port,
            c.system_id
        ),
        textid_server::SmsProviderConfig::Sns(c) => crate::out!(
            "SMS: amazon sns in {} (no delivery receipts: SNS has no per-message callback)",
            c.region
        ),
        textid_server::SmsProviderConfig::Route(r) => {
            crate::out!("SMS: routed: {}", r.table.to_text())
        }
    }
    // `main` has checked these variables and built the exporter from them.
    if let Ok(t) = crate::telemetry::Telemetry::from_process_env() {
        crate::out!("telemetry: {}", t.describe().0);
    }
    // One signal stops both listeners; so does the main listener's end.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let metrics =
        metrics_listener.map(|l| tokio::spawn(app.clone().serve_metrics(l, until_stopped())));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let served = app.serve(listener, until_stopped()).await;
    let _ = stop.send(true);
    if let Some(m) = metrics {
        m.await
            .context("the metrics listener")?
            .context("serving metrics")?;
    }
    served.context("serving HTTP")?;
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
