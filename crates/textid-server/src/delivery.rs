//! The outbox worker: claims due messages with a lease, opens their sealed bodies, hands
//! them to the provider, and records the outcome. A transient failure is retried with
//! exponential backoff up to `MAX_DELIVERY_ATTEMPTS`; a permanent one ends the message.
//! A sign-in code that could no longer be used when it arrives is not sent at all.
//! Messages queued before a crash or restart are claimed when the worker starts (their
//! lease, if any, runs out), so nothing acknowledged is lost; a message whose delivery
//! succeeded but whose outcome was not recorded before a crash is sent again, with the
//! same id (the receiver's idempotency key).

use chrono::Duration;
use textid_core::message::{retry_delay, QueuedMessage, MAX_DELIVERY_ATTEMPTS};
use textid_core::MessageId;
use textid_sms::{Channel, MessageKind, OutgoingMessage, SendError};
use textid_store::{DeliveryOutcome, Handover};
use textid_usecases::observe::UNKNOWN_COUNTRY;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::app::App;

/// How long a claimed message is leased to this worker. Short, so that another node
/// delivers a crashed node's messages within about this time; a worker still delivering
/// renews the lease every [`HEARTBEAT`].
const LEASE_SECONDS: i64 = 10;
/// How often a worker renews the lease of the messages it is still delivering.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3);
/// Messages claimed at once.
const BATCH: u32 = 64;

/// Runs until `stop` turns true; a batch under way is finished (and its outcomes
/// recorded) before it returns, so a graceful shutdown leaves no message leased.
pub async fn run(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(e) = drain(&app).await {
            tracing::warn!(error = %e, "outbox: claim failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(app.delivery_poll()) => {}
            () = app.cx().outbox_wakeup().notified() => {}
            _ = stop.changed() => {}
        }
    }
}

/// Delivers every due message, batch after batch, until none is due. Returns how many
/// were tried. Tests call this to step the queue explicitly.
pub async fn drain(app: &App) -> Result<usize, textid_store::StoreError> {
    let mut total = 0;
    loop {
        let now = app.clock().now();
        let batch = app
            .store()
            .claim_messages(now, now + Duration::seconds(LEASE_SECONDS), BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(total);
        }
        total += batch.len();
        let mut pending: std::collections::HashSet<MessageId> =
            batch.iter().map(|m| m.id).collect();
        let mut tasks = JoinSet::new();
        for message in batch {
            let app = app.clone();
            let span = crate::trace::delivery_span(&message);
            tasks.spawn(
                async move {
                    let id = message.id;
                    (id, deliver(&app, message).await)
                }
                .instrument(span),
            );
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        while !tasks.is_empty() {
            tokio::select! {
                done = tasks.join_next() => {
                    // The deliveries that completed meanwhile are recorded with this one, in
                    // one write.
                    let mut outcomes = Vec::new();
                    let mut next = done;
                    while let Some(joined) = next {
                        if let Ok((id, outcome)) = joined {
                            pending.remove(&id);
                            outcomes.push((id, outcome));
                        }
                        next = tasks.try_join_next();
                    }
                    finish(app, &outcomes).await;
                }
                _ = heartbeat.tick() => renew(app, &pending).await,
            }
        }
    }
}

async fn finish(app: &App, outcomes: &[(MessageId, DeliveryOutcome)]) {
    if let Err(e) = app
        .store()
        .finish_messages(outcomes, app.clock().now())
        .await
    {
        tracing::warn!(messages = outcomes.len(), error = %e, "outbox: could not record the outcomes; the leases will expire and the messages are retried");
    }
}

async fn renew(app: &App, pending: &std::collections::HashSet<MessageId>) {
    let ids: Vec<MessageId> = pending.iter().copied().collect();
    let until = app.clock().now() + Duration::seconds(LEASE_SECONDS);
    if let Err(e) = app.store().renew_lease(&ids, until).await {
        tracing::warn!(error = %e, "outbox: could not renew the lease");
    }
}

async fn deliver(app: &App, m: QueuedMessage) -> DeliveryOutcome {
    let outcome = attempt(app, &m).await;
    let span = tracing::Span::current();
    span.record("textid.delivery.outcome", outcome_label(&outcome));
    // The provider that took the message (a route names the one that accepted it); when
    // none did, the configured one.
    let provider = match &outcome {
        DeliveryOutcome::Delivered(h) => h.provider.clone(),
        _ => None,
    };
    span.record(
        "textid.sms.provider",
        provider.as_deref().unwrap_or(app.provider().name()),
    );
    if !matches!(outcome, DeliveryOutcome::Delivered(_)) {
        span.record("otel.status_code", "ERROR");
    }
    match &outcome {
        DeliveryOutcome::Delivered(_) => {
            if MessageKind::parse(&m.kind) == Some(MessageKind::SignInCode) {
                let country = textid_core::phone::region_of(&m.to);
                app.metrics()
                    .code_sent(country.as_deref().unwrap_or(UNKNOWN_COUNTRY));
            }
            tracing::info!(message_id = %m.id, kind = %m.kind, attempts = m.attempts, "outbox: delivered")
        }
        DeliveryOutcome::Retry { error, .. } => {
            tracing::warn!(message_id = %m.id, attempts = m.attempts, %error, "outbox: will retry")
        }
        DeliveryOutcome::Failed { error } => {
            tracing::warn!(message_id = %m.id, attempts = m.attempts, %error, "outbox: given up")
        }
    }
    outcome
}

/// The outcome as a span records it: a closed set, no provider text (which may quote
/// the request).
fn outcome_label(outcome: &DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::Delivered(_) => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Failed { .. } => "failed",
    }
}

async fn attempt(app: &App, m: &QueuedMessage) -> DeliveryOutcome {
    let now = app.clock().now();
    let kind = MessageKind::parse(&m.kind);
    if kind == Some(MessageKind::SignInCode)
        && now >= m.created_at + app.config().limits.code_lifetime
    {
        return DeliveryOutcome::Failed {
            error: "the code expired before it could be delivered".into(),
        };
    }
    let (Some(kind), Some(channel)) = (kind, Channel::parse(&m.channel)) else {
        return DeliveryOutcome::Failed {
            error: format!("unknown kind {} or channel {}", m.kind, m.channel),
        };
    };
    let body = match app.sealer().open(m.id.0.as_bytes(), &m.sealed_body) {
        Ok(b) => b,
        Err(e) => {
            return DeliveryOutcome::Failed {
                error: e.to_string(),
            }
        }
    };
    let outgoing = OutgoingMessage {
        id: m.id.to_string(),
        to: m.to.clone(),
        body,
        channel,
        tenant: m.tenant_name.clone(),
        kind,
        locale: m.locale.clone(),
    };
    // The router counts each provider's refusals itself (it may try several).
    let sent = app.provider().send(&outgoing).await;
    match sent {
        Ok(d) => DeliveryOutcome::Delivered(Handover {
            provider: Some(d.provider.unwrap_or(app.provider().name()).to_owned()),
            provider_message_id: d.provider_message_id,
        }),
        Err(SendError::Permanent(e)) => DeliveryOutcome::Failed { error: e },
        Err(SendError::Transient(e)) if m.attempts >= MAX_DELIVERY_ATTEMPTS => {
            DeliveryOutcome::Failed {
                error: format!("gave up after {} tries: {e}", m.attempts),
            }
        }
        Err(SendError::Transient(e)) => DeliveryOutcome::Retry {
            at: now + retry_delay(m.attempts),
            error: e,
        },
    }
}
