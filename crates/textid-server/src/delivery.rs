//! The outbox worker: claims due messages with a lease, opens their sealed bodies, hands
//! them to the provider, and records the outcome. A transient failure is retried with
//! exponential backoff up to `MAX_DELIVERY_ATTEMPTS`; a permanent one ends the message.
//! A sign-in code that could no longer be used when it arrives is not sent at all.
//! Messages queued before a crash or restart are claimed when the worker starts (their
//! lease, if any, runs out), so nothing acknowledged is lost; a message whose delivery
//! succeeded but whose outcome was not recorded before a crash is sent again, with the
//! same id (the receiver's idempotency key).
//!
//! A message queued by this process is not claimed back from the store: it is stored
//! already leased to this worker and handed over in memory once its write commits
//! ([`textid_usecases::Context::attach_delivery`]), so a code goes out without another
//! write, and another commit, before it. The lease is what makes this safe: should this
//! process die before it records the outcome, the message is claimed by any worker when
//! the lease runs out, exactly like a claimed one.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use textid_core::message::{
    retry_delay, QueuedMessage, DELIVERY_LEASE_SECONDS, MAX_DELIVERY_ATTEMPTS,
};
use textid_core::MessageId;
use textid_sms::{Channel, MessageKind, OutgoingMessage, SendError};
use textid_store::{DeliveryOutcome, Handover};
use textid_usecases::observe::UNKNOWN_COUNTRY;
use textid_usecases::HandedOff;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::app::App;

/// How long a claimed message is leased to this worker (see
/// [`DELIVERY_LEASE_SECONDS`]); a worker still delivering renews the lease every
/// [`HEARTBEAT`].
const LEASE_SECONDS: i64 = DELIVERY_LEASE_SECONDS;
/// How often a worker renews the lease of the messages it is still delivering.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3);
/// A message handed over in memory is delivered only while at least this much of its
/// lease is left: as much as a claimed message has at its first [`HEARTBEAT`] (which
/// renews it), so that a slow renewal is as safe for either. One that waited longer (a
/// stalled process) is left to be claimed when its lease ends, so that it is never tried
/// by two workers at once.
const HAND_OFF_MARGIN_SECONDS: i64 = LEASE_SECONDS - HEARTBEAT.as_secs() as i64;
/// Messages claimed at once.
const BATCH: u32 = 64;

/// Runs until `stop` turns true; a batch under way is finished (and its outcomes
/// recorded) before it returns, so a graceful shutdown leaves no message leased. Takes
/// the messages this process queues in memory (see the module's notes) and claims the
/// others from the store.
pub async fn run(app: App, stop: watch::Receiver<bool>) {
    match app.cx().attach_delivery() {
        Some(handed) => {
            tokio::join!(
                claim_loop(app.clone(), stop.clone()),
                hand_off_loop(app, handed, stop)
            );
        }
        None => claim_loop(app, stop).await,
    }
}

/// Claims due messages from the store (queued by another node or process, retries, and
/// leases that ran out) whenever woken, and at the poll interval.
async fn claim_loop(app: App, mut stop: watch::Receiver<bool>) {
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
        let mut deliveries = Deliveries::default();
        for message in batch {
            deliveries.start(app, message);
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        while !deliveries.tasks.is_empty() {
            tokio::select! {
                Some(done) = deliveries.tasks.join_next_with_id() => deliveries.record(app, done).await,
                _ = heartbeat.tick() => renew(app, &deliveries.pending).await,
            }
        }
    }
}

/// Delivers the messages handed over in memory as they come, each at once (not in
/// batches: a code is on a person's critical path), until `stop`. Then it closes the
/// hand-over (messages queued from then on are stored unleased, for the claims), delivers
/// every message handed over before that, and records every outcome.
async fn hand_off_loop(
    app: App,
    mut handed: UnboundedReceiver<HandedOff>,
    mut stop: watch::Receiver<bool>,
) {
    let mut deliveries = Deliveries::default();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if *stop.borrow() {
        handed.close();
    }
    // `recv` answers `None` once the hand-over is closed and every message sent before
    // was taken.
    let mut open = true;
    while open || !deliveries.tasks.is_empty() {
        tokio::select! {
            next = handed.recv(), if open => match next {
                Some(h) => {
                    if deliveries.pending.is_empty() {
                        // The first renewal a full heartbeat from now, not at once.
                        heartbeat.reset();
                    }
                    deliveries.hand_off(&app, h);
                    while let Ok(h) = handed.try_recv() {
                        deliveries.hand_off(&app, h);
                    }
                }
                None => open = false,
            },
            Some(done) = deliveries.tasks.join_next_with_id(), if !deliveries.tasks.is_empty() => {
                deliveries.record(&app, done).await;
            }
            _ = heartbeat.tick(), if !deliveries.pending.is_empty() => {
                renew(&app, &deliveries.pending).await;
            }
            _ = stop.changed(), if !handed.is_closed() => handed.close(),
        }
    }
}

/// Deliveries under way, and the messages whose lease they hold.
#[derive(Default)]
struct Deliveries {
    tasks: JoinSet<(MessageId, DeliveryOutcome)>,
    pending: HashSet<MessageId>,
    /// The message of each task, for a task that ends without an outcome (a panic).
    of_task: HashMap<tokio::task::Id, MessageId>,
}

/// A delivery task's end: its id and outcome, or how it failed.
type Joined = Result<(tokio::task::Id, (MessageId, DeliveryOutcome)), tokio::task::JoinError>;

impl Deliveries {
    /// Starts delivering `message` (claimed, or handed over) in its own task and span.
    fn start(&mut self, app: &App, message: QueuedMessage) {
        let id = message.id;
        self.pending.insert(id);
        let app = app.clone();
        let span = crate::trace::delivery_span(&message);
        let task = self.tasks.spawn(
            async move {
                let id = message.id;
                (id, deliver(&app, message).await)
            }
            .instrument(span),
        );
        self.of_task.insert(task.id(), id);
    }

    /// Starts a message handed over in memory while enough of its lease is left (see
    /// [`HAND_OFF_MARGIN_SECONDS`]).
    fn hand_off(&mut self, app: &App, (message, lease_end): HandedOff) {
        if app.clock().now() + Duration::seconds(HAND_OFF_MARGIN_SECONDS) < lease_end {
            self.start(app, message);
        } else {
            tracing::warn!(message_id = %message.id, "outbox: a message waited too long to be handed over; it is claimed when its lease ends");
        }
    }

    /// Records `done`'s outcome, with those of the deliveries that completed meanwhile,
    /// in one write. A task that ended without an outcome (it panicked) leaves its
    /// message's lease to run out, when the message is claimed again.
    async fn record(&mut self, app: &App, done: Joined) {
        let mut outcomes = Vec::new();
        let mut next = Some(done);
        while let Some(joined) = next {
            let task = match &joined {
                Ok((task, _)) => *task,
                Err(e) => e.id(),
            };
            if let Some(id) = self.of_task.remove(&task) {
                self.pending.remove(&id);
            }
            match joined {
                Ok((_, (id, outcome))) => outcomes.push((id, outcome)),
                Err(e) => {
                    tracing::error!(error = %e, "outbox: a delivery ended without an outcome; its message is claimed again when the lease ends")
                }
            }
            next = self.tasks.try_join_next_with_id();
        }
        finish(app, &outcomes).await;
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

async fn renew(app: &App, pending: &HashSet<MessageId>) {
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
