//! The application: state built once by `main` (or a test) and passed down; the router.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use textid_core::clock::Clock;
use textid_core::limits::SignInLimits;
use textid_core::tenant::Tenant;
use textid_sms::provider::console::ConsoleProvider;
use textid_sms::provider::smpp::{SmppConfig, SmppProvider};
use textid_sms::provider::sns::{SnsConfig, SnsProvider};
use textid_sms::provider::twilio::{TwilioConfig, TwilioProvider};
use textid_sms::provider::vonage::{VonageConfig, VonageProvider};
use textid_sms::provider::webhook::{WebhookConfig, WebhookProvider};
use textid_sms::routing::{RouteTable, Router as SmsRouter};
use textid_sms::{Provider, ReceiptSink};
use textid_store::{Changed, Store};

use textid_usecases::{Context, ContextParts};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Which SMS provider delivers messages. A new kind of carrier is one variant here and
/// one arm in [`build_provider`].
#[derive(Debug, Clone)]
pub enum SmsProviderConfig {
    /// Log each message (development default).
    Console,
    /// POST each message to a webhook.
    Webhook(WebhookConfig),
    /// Twilio Programmable Messaging (and Calls for voice).
    Twilio(TwilioConfig),
    /// The Vonage SMS API.
    Vonage(VonageConfig),
    /// A carrier's SMSC over SMPP 3.4.
    Smpp(SmppConfig),
    /// Amazon SNS `Publish` (no receipts).
    Sns(SnsConfig),
    /// Several providers, chosen per destination, with failover ([`textid_sms::routing`]).
    Route(RouteConfig),
}

/// Routed delivery: the table and the providers it names.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Which providers, in which order, per destination.
    pub table: RouteTable,
    /// Every provider the table names, by that name (none of them a `Route`).
    pub providers: Vec<(String, SmsProviderConfig)>,
}

impl SmsProviderConfig {
    /// The provider configurations in effect: this one, or a route's providers.
    pub fn each(&self) -> Vec<&SmsProviderConfig> {
        match self {
            Self::Route(r) => r.providers.iter().map(|(_, p)| p).collect(),
            other => vec![other],
        }
    }

    /// The Twilio auth token that signs status callbacks, when Twilio is configured.
    pub fn twilio_auth_token(&self) -> Option<&textid_core::secret::Secret<String>> {
        self.each().into_iter().find_map(|p| match p {
            Self::Twilio(t) => Some(&t.auth_token),
            _ => None,
        })
    }

    /// The Vonage signature secret that signs delivery receipts, when Vonage is configured
    /// with one.
    pub fn vonage_signature_secret(&self) -> Option<&textid_core::secret::Secret<String>> {
        self.each().into_iter().find_map(|p| match p {
            Self::Vonage(v) => v.signature_secret.as_ref(),
            _ => None,
        })
    }
}

/// Builds the provider of one configuration. `receipts` is where a provider whose receipts
/// arrive on its own connection (SMPP) sends them.
pub fn build_provider(
    config: &SmsProviderConfig,
    clock: &Arc<dyn Clock>,
    receipts: &Arc<dyn ReceiptSink>,
) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(match config {
        SmsProviderConfig::Console => Arc::new(ConsoleProvider),
        SmsProviderConfig::Webhook(w) => Arc::new(WebhookProvider::new(w.clone(), clock.clone())?),
        SmsProviderConfig::Twilio(t) => TwilioProvider::new(t.clone())?.shared(),
        SmsProviderConfig::Vonage(v) => VonageProvider::new(v.clone(), clock.clone())?.shared(),
        SmsProviderConfig::Sns(c) => SnsProvider::new(c.clone(), clock.clone())?.shared(),
        SmsProviderConfig::Smpp(c) => Arc::new(SmppProvider::new(c.clone(), receipts.clone())?),
        SmsProviderConfig::Route(r) => Arc::new(route(r, clock, receipts)?),
    })
}

fn route(
    r: &RouteConfig,
    clock: &Arc<dyn Clock>,
    receipts: &Arc<dyn ReceiptSink>,
) -> Result<SmsRouter, ConfigError> {
    let mut providers = std::collections::BTreeMap::new();
    for (name, p) in &r.providers {
        providers.insert(name.clone(), build_provider(p, clock, receipts)?);
    }
    Ok(SmsRouter::new(r.table.clone(), providers)?)
}

/// Everything the server needs besides the store.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The public base URL, e.g. `http://127.0.0.1:8080` (its host goes into SMS texts).
    pub public_url: String,
    /// Sign-in limits.
    pub limits: SignInLimits,
    /// The SMS provider.
    pub sms: SmsProviderConfig,
    /// Run the background delivery worker (tests may drain the outbox themselves).
    pub delivery_worker: bool,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client
    /// (`TEXTID_TRUSTED_PROXIES`).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// Test numbers (fixed codes, no SMS) work (`TEXTID_TEST_NUMBERS_ENABLED`).
    pub test_numbers: bool,
    /// Timeouts, connection cap and shutdown deadline of the HTTP server.
    pub http: crate::http::HttpLimits,
    /// What is kept how long, and how often the purge job runs.
    pub retention: Retention,
    /// Serve `/metrics` on the main listener. Off when the operator gave the metrics a
    /// listener of their own (`TEXTID_METRICS_LISTEN`, see [`App::serve_metrics`]): then
    /// the main listener answers 404 for it.
    pub metrics_on_main_listener: bool,
    /// Web origins whose pages may call the admin API (`/v1.0`) from a browser
    /// (`TEXTID_ADMIN_ALLOWED_ORIGINS`, serialised origins; empty: none). See
    /// [`crate::cors::admin_api`].
    pub admin_allowed_origins: Vec<String>,
    /// Who may introspect an API session (`TEXTID_API_SESSION_INTROSPECTION`); see
    /// [`crate::api::session`].
    pub api_session_introspection: Introspection,
}

/// Who may ask `POST /{tenant}/api/v1/session` whether an API session is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Introspection {
    /// The app the session was issued to, authenticated with its client credentials
    /// (a confidential client); the answer is inactive for any other app's session or a
    /// session of no app. The default: a token that leaks (a log line, a proxy) is of no
    /// use for checking who it belongs to.
    #[default]
    App,
    /// Whoever holds the token, without client authentication (textid before issue #14
    /// §1's app authentication; for apps that do not name a client at sign-in yet).
    Token,
}

impl Introspection {
    /// From the configuration value: `app` or `token`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(Self::App),
            "token" => Some(Self::Token),
            _ => None,
        }
    }

    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Token => "token",
        }
    }
}

/// Retention: the background purge job and how long the logs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// How often the purge job runs; `None`: never (a test steps it with
    /// [`App::purge`]).
    pub purge_every: Option<Duration>,
    /// How long sign-in and audit logs are kept (Entra's free tier: 30 days).
    pub log_retention: chrono::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            purge_every: Some(Duration::from_secs(300)),
            log_retention: chrono::Duration::days(30),
        }
    }
}

/// Shared application state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cx: Context,
    config: AppConfig,
    provider: Arc<dyn Provider>,
    receipts: Arc<dyn ReceiptSink>,
    tenants: RwLock<HashMap<String, (Tenant, std::time::Instant)>>,
    oidc: std::sync::OnceLock<crate::oidc::Oidc>,
    metrics: Arc<Metrics>,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The public URL is not an http(s) URL with a host.
    #[error("public URL '{0}' must be an http:// or https:// URL with a host name, e.g. https://id.contoso.example")]
    PublicUrl(String),
    /// A limit outside its hard cap.
    #[error(transparent)]
    Limit(#[from] textid_core::limits::LimitError),
    /// The SMS text does not fit one segment with this host.
    #[error("SMS text cannot be built for host '{host}': {source}")]
    SmsText {
        /// The host.
        host: String,
        /// Why.
        source: textid_sms::template::TemplateError,
    },
    /// The webhook configuration is wrong.
    #[error(transparent)]
    Webhook(#[from] textid_sms::provider::webhook::WebhookConfigError),
    /// The Twilio configuration is wrong.
    #[error(transparent)]
    Twilio(#[from] textid_sms::provider::twilio::TwilioConfigError),
    /// The Vonage configuration is wrong.
    #[error(transparent)]
    Vonage(#[from] textid_sms::provider::vonage::VonageConfigError),
    /// The SMPP configuration is wrong.
    #[error(transparent)]
    Smpp(#[from] textid_sms::provider::smpp::SmppConfigError),
    /// The SNS configuration is wrong.
    #[error(transparent)]
    Sns(#[from] textid_sms::provider::sns::SnsConfigError),
    /// The routes name a provider that is not configured.
    #[error(transparent)]
    Route(#[from] textid_sms::routing::RouteError),
}

/// The host of a public URL: no scheme, no port, no path.
pub fn public_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| &h[1..])?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

impl std::ops::Deref for App {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.inner.cx
    }
}

impl App {
    /// Builds the application; checks the configuration.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        server_secret: [u8; 32],
        config: AppConfig,
    ) -> Result<Self, ConfigError> {
        config.limits.check()?;
        let host = public_host(&config.public_url)
            .ok_or_else(|| ConfigError::PublicUrl(config.public_url.clone()))?;
        let minutes = u32::try_from(config.limits.code_lifetime.num_minutes().max(1)).unwrap_or(10);
        textid_sms::template::sign_in_code_text(&host, "000000", minutes).map_err(|source| {
            ConfigError::SmsText {
                host: host.clone(),
                source,
            }
        })?;
        let metrics = Arc::new(Metrics::new(store.commits().is_some()));
        let receipts: Arc<dyn ReceiptSink> = Arc::new(crate::receipts::StoreReceipts::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            config.limits.abuse,
        ));
        // Always a router, so that every provider's refusals are counted alike.
        let router = match &config.sms {
            SmsProviderConfig::Route(r) => route(r, &clock, &receipts)?,
            other => SmsRouter::single(build_provider(other, &clock, &receipts)?),
        };
        let observed = metrics.clone();
        let provider: Arc<dyn Provider> = Arc::new(router.observed(Arc::new(move |name, e| {
            observed.provider_error(name, e.is_transient());
        })));
        let cx = Context::new(ContextParts {
            store,
            clock,
            server_secret,
            limits: config.limits.clone(),
            host,
            test_numbers: config.test_numbers,
            places_calls: provider.places_calls(),
            observer: metrics.clone(),
        });
        Ok(Self {
            inner: Arc::new(Inner {
                cx,
                config,
                provider,
                receipts,
                tenants: RwLock::new(HashMap::new()),
                oidc: std::sync::OnceLock::new(),
                metrics,
            }),
        })
    }

    /// The use-case context (also reached through `Deref`).
    pub fn cx(&self) -> &Context {
        &self.inner.cx
    }
    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }
    /// Who is asking, for the sign-in step: the client IP (see [`crate::client_ip`]) and
    /// the app, if known. The one place a request's client IP is decided.
    pub fn requester(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
        app_id: Option<String>,
    ) -> textid_usecases::sign_in::Requester {
        textid_usecases::sign_in::Requester {
            client_ip: Some(
                self.inner
                    .config
                    .trusted_proxies
                    .client_ip(peer, headers)
                    .to_string(),
            ),
            app_id,
        }
    }
    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    /// The SMS provider.
    pub fn provider(&self) -> &dyn Provider {
        &*self.inner.provider
    }
    /// Where carriers' delivery receipts go: the store, the metrics, the sign-in log.
    pub fn receipts(&self) -> &Arc<dyn ReceiptSink> {
        &self.inner.receipts
    }
    /// Turns on the OpenID Connect provider: loads (or creates) the signing keys, sealed
    /// with `kek`. Until then its endpoints answer 503.
    pub async fn enable_oidc(
        &self,
        kek: textid_oidc::KeyEncryptionKey,
    ) -> Result<(), crate::oidc::keys::KeyRingError> {
        let oidc = crate::oidc::Oidc::init(self, kek).await?;
        let _ = self.inner.oidc.set(oidc);
        Ok(())
    }

    /// The OpenID Connect provider.
    pub fn oidc(&self) -> Result<&crate::oidc::Oidc, ApiError> {
        self.inner.oidc.get().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "oidcDisabled",
                "OpenID Connect is not enabled on this server",
            )
        })
    }

    /// A tenant by name. Cached: tenants are never renamed, and a changed setting (the
    /// default region) reaches every node at once through the store's change feed (see
    /// [`App::serve`]); the cache also expires after five minutes in case a notification
    /// was lost.
    pub async fn tenant(&self, name: &str) -> Result<Tenant, ApiError> {
        let fresh = |(t, at): &(Tenant, std::time::Instant)| {
            (at.elapsed() < Duration::from_secs(300)).then(|| t.clone())
        };
        if let Some(t) = self
            .inner
            .tenants
            .read()
            .ok()
            .and_then(|m| m.get(name).and_then(fresh))
        {
            return Ok(t);
        }
        let t = self
            .store()
            .tenant_by_name(name)
            .await?
            .ok_or_else(|| ApiError::tenant_not_found(name))?;
        if let Ok(mut m) = self.inner.tenants.write() {
            m.insert(name.to_string(), (t.clone(), std::time::Instant::now()));
        }
        Ok(t)
    }

    /// Whether `name` is a tenant this node has looked up recently (and so exists): the
    /// request span names only such a tenant ([`crate::trace`]).
    pub(crate) fn is_known_tenant(&self, name: &str) -> bool {
        self.inner
            .tenants
            .read()
            .is_ok_and(|m| m.contains_key(name))
    }

    /// The HTTP router.
    pub fn router(&self) -> Router {
        let routes = crate::api::routes(self);
        let routes = if self.config().metrics_on_main_listener {
            routes.route("/metrics", axum::routing::get(crate::metrics::scrape))
        } else {
            routes
        };
        routes
            .layer(DefaultBodyLimit::max(64 * 1024))
            // Outside the router, so that it answers preflights for every admin route
            // (no route has an `OPTIONS` method).
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::cors::admin_api,
            ))
            // Outermost, so that it times every answer, the fallback's 404 included.
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::metrics::track,
            ))
            // Around the timing too: a log line of any layer names the request's trace.
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::trace::request_span,
            ))
            .with_state(self.clone())
    }

    /// Serves `/metrics` alone on `listener` (`TEXTID_METRICS_LISTEN`: an address that
    /// only the monitoring network reaches) until `shutdown` completes, with the same
    /// HTTP limits as the main listener.
    pub async fn serve_metrics(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = crate::metrics::router(&self);
        crate::http::serve(listener, router, self.config().http.clone(), shutdown).await
    }

    /// Serves HTTP on `listener` until `shutdown` completes; runs the delivery worker
    /// beside it when configured.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = self
            .config()
            .delivery_worker
            .then(|| tokio::spawn(crate::delivery::run(self.clone(), stopped)));
        let reloader = tokio::spawn(self.clone().follow_changes());
        let purger = self
            .config()
            .retention
            .purge_every
            .map(|every| tokio::spawn(self.clone().purge_every(every)));
        // Repeated slashes are collapsed before routing (Graph tolerates `//users`).
        let service = tower::ServiceExt::<axum::extract::Request>::map_request(
            self.router(),
            crate::graph::normalize_path::<axum::body::Body>,
        );
        let result =
            crate::http::serve(listener, service, self.config().http.clone(), shutdown).await;
        let _ = stop.send(true);
        reloader.abort();
        if let Some(p) = purger {
            p.abort();
        }
        if let Some(w) = worker {
            // Let a delivery under way finish and record its outcome (bounded by the
            // provider's own timeout); its lease would otherwise delay it after a restart.
            if tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .is_err()
            {
                tracing::warn!("outbox: the worker did not stop in time");
            }
        }
        result
    }

    /// Runs [`App::purge`] every `every` (the first time at once), logging what went.
    async fn purge_every(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.purge().await {
                Ok(n) => tracing::debug!(rows = n.total(), ?n, "purge"),
                Err(e) => tracing::warn!(error = %e, "purge failed; will try again"),
            }
        }
    }

    /// Deletes what has ended (flows, authorization requests and codes, counters,
    /// finished messages, expired tokens and sessions) and the logs older than the
    /// retention. Idempotent, and safe on several nodes at once.
    pub async fn purge(
        &self,
    ) -> Result<textid_usecases::maintenance::Purged, textid_store::StoreError> {
        textid_usecases::maintenance::purge(self.cx(), self.config().retention.log_retention).await
    }

    /// Drops cached tenants and reloads the signing keys when they change anywhere (this
    /// node, another node, the CLI), as the store's change feed reports; every five
    /// minutes regardless, in case a notification was lost.
    async fn follow_changes(self) {
        let mut changes = self.store().subscribe();
        let mut fallback = tokio::time::interval(Duration::from_secs(300));
        fallback.tick().await;
        loop {
            let changed = tokio::select! {
                c = changes.recv() => match c {
                    Ok(c) => c,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Changed::Everything,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = fallback.tick() => Changed::Everything,
            };
            if matches!(changed, Changed::Tenants | Changed::Everything) {
                if let Ok(mut m) = self.inner.tenants.write() {
                    m.clear();
                }
            }
            if matches!(changed, Changed::SigningKeys | Changed::Everything) {
                if let Ok(o) = self.oidc() {
                    if let Err(e) = o.reload(&self).await {
                        tracing::warn!(error = %e, "could not reload the signing keys");
                    }
                }
            }
            tracing::debug!(?changed, "caches refreshed");
        }
    }

    /// How often the worker looks for due retries when nothing wakes it.
    pub(crate) fn delivery_poll(&self) -> Duration {
        Duration::from_millis(500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_host_drops_scheme_port_and_path() {
        assert_eq!(
            public_host("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            public_host("https://ID.contoso.example/base").as_deref(),
            Some("id.contoso.example")
        );
        assert_eq!(public_host("https://[::1]:8443/").as_deref(), Some("::1"));
        assert_eq!(public_host("ftp://x"), None);
        assert_eq!(public_host("https://"), None);
    }
}
