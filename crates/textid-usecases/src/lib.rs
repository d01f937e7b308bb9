//! textid's use cases: creating users and groups, changing phone methods with their
//! derived `smsSignInState`, replacing the policy, and the SMS sign-in steps. One
//! implementation underneath every surface (the JSON sign-in API, the sign-in pages, the
//! Graph-compatible API, the CLI), so every rule of DESIGN.md §1–§3 holds the same
//! everywhere. Each use case returns a domain error enum; a surface maps it by variant
//! (HTTP status, Graph error, CLI exit), never by comparing strings. No web framework here.

pub mod abuse;
pub mod deleted_items;
pub mod directory;
pub mod import;
pub mod maintenance;
pub mod observe;
pub mod pass;
pub mod passes;
pub mod password;
pub mod proof;
pub mod provisioning;
pub mod seal;
pub mod session;
pub mod sign_in;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use textid_core::clock::Clock;
use textid_core::code::SecretHasher;
use textid_core::limits::SignInLimits;
use textid_core::message::{NewMessage, QueuedMessage, DELIVERY_LEASE_SECONDS};
use textid_core::tenant::Tenant;
use textid_core::FlowId;
use textid_store::Store;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

pub use directory::DirectoryError;
pub use observe::{Observer, SignInEvent, SignInEventKind};
pub use seal::BodySealer;
pub use sign_in::SignInFailure;

/// What the use cases need: the store, the clock, the keyed hasher, the outbox sealer,
/// the limits and the public host. Built once by `main` (or a test); cheap to clone.
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: SecretHasher,
    sealer: BodySealer,
    limits: SignInLimits,
    host: String,
    test_numbers: bool,
    places_calls: bool,
    outbox_wakeup: Notify,
    observer: Arc<dyn Observer>,
    hand_off: HandOff,
}

/// A message handed to this process's delivery worker in memory, with the end of the
/// lease it was stored with.
pub type HandedOff = (QueuedMessage, DateTime<Utc>);

/// The way from a committed step to this process's delivery worker, once one is attached
/// ([`Context::attach_delivery`]). Unattached (the CLI, a test that steps the queue
/// itself), messages are queued for any worker to claim.
#[derive(Debug)]
struct HandOff {
    sender: UnboundedSender<HandedOff>,
    receiver: Mutex<Option<UnboundedReceiver<HandedOff>>>,
    attached: AtomicBool,
}

/// The parts of a [`Context`].
#[derive(Debug)]
pub struct ContextParts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The server secret (keys the hasher and the outbox sealer).
    pub server_secret: [u8; 32],
    /// The sign-in limits in force (checked by the caller).
    pub limits: SignInLimits,
    /// The public host that ends every SMS (`@host #code`).
    pub host: String,
    /// Whether test numbers (fixed codes, no SMS) work; off unless the operator enables
    /// them (`TEXTID_TEST_NUMBERS_ENABLED`).
    pub test_numbers: bool,
    /// Whether the SMS provider can place voice calls ([`textid_sms::Provider::places_calls`]):
    /// without it no voice code is sent, whatever the policy says.
    pub places_calls: bool,
    /// Who hears of sign-in events (the server's metrics; [`observe::Unobserved`]
    /// elsewhere).
    pub observer: Arc<dyn Observer>,
}

impl Context {
    /// Builds the context.
    pub fn new(parts: ContextParts) -> Self {
        let hasher = SecretHasher::new(parts.server_secret);
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                clock: parts.clock,
                sealer: BodySealer::new(&hasher),
                hasher,
                limits: parts.limits,
                host: parts.host,
                test_numbers: parts.test_numbers,
                places_calls: parts.places_calls,
                outbox_wakeup: Notify::new(),
                observer: parts.observer,
                hand_off: {
                    let (sender, receiver) = unbounded_channel();
                    HandOff {
                        sender,
                        receiver: Mutex::new(Some(receiver)),
                        attached: AtomicBool::new(false),
                    }
                },
            }),
        }
    }

    /// Attaches this process's delivery worker: from now on a message queued here is
    /// stored already claimed (leased, its first try counted) and handed to the worker
    /// through the returned receiver once its write commits, so the worker need not
    /// claim it back from the store (a write, and a commit to wait for, fewer per code
    /// sent). The first call takes the receiver; a later one gets `None`.
    pub fn attach_delivery(&self) -> Option<UnboundedReceiver<HandedOff>> {
        let receiver = self.inner.hand_off.receiver.lock().ok()?.take()?;
        self.inner.hand_off.attached.store(true, Ordering::Release);
        Some(receiver)
    }

    /// The lease a message queued at `now` is stored with: `Some` when a worker is
    /// attached ([`Self::attach_delivery`]) and still taking messages (it closes the
    /// hand-over when it stops).
    pub(crate) fn hand_off_lease(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let h = &self.inner.hand_off;
        (h.attached.load(Ordering::Acquire) && !h.sender.is_closed())
            .then(|| now + chrono::Duration::seconds(DELIVERY_LEASE_SECONDS))
    }

    /// After the write that stored `m` committed: hands a leased message to the attached
    /// worker, or wakes the worker that claims queued ones. A leased message whose
    /// worker stopped in between waits for its lease to end; then any worker claims it.
    pub(crate) fn queued(&self, tenant: &Tenant, flow: Option<FlowId>, m: &NewMessage) {
        let Some(lease) = m.leased_until else {
            self.wake_outbox();
            return;
        };
        let message = QueuedMessage {
            id: m.id,
            tenant_id: tenant.id,
            tenant_name: tenant.name.clone(),
            kind: m.kind.to_owned(),
            channel: m.channel.as_str().to_owned(),
            to: m.to.clone(),
            sealed_body: m.sealed_body.clone(),
            locale: m.locale.clone(),
            flow_id: flow,
            attempts: 1,
            created_at: m.queued_at,
        };
        if self.inner.hand_off.sender.send((message, lease)).is_err() {
            self.wake_outbox();
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }
    /// The store, shared.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }
    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }
    /// The code and token hasher.
    pub fn hasher(&self) -> &SecretHasher {
        &self.inner.hasher
    }
    /// The outbox body sealer.
    pub fn sealer(&self) -> &BodySealer {
        &self.inner.sealer
    }
    /// The sign-in limits.
    pub fn limits(&self) -> &SignInLimits {
        &self.inner.limits
    }
    /// The public host (for `@host #code`).
    pub fn host(&self) -> &str {
        &self.inner.host
    }
    /// Whether test numbers are enabled.
    pub fn test_numbers_enabled(&self) -> bool {
        self.inner.test_numbers
    }
    /// Whether voice codes can be delivered.
    pub fn places_calls(&self) -> bool {
        self.inner.places_calls
    }
    /// Wakes the delivery worker after a message was queued.
    pub fn wake_outbox(&self) {
        self.inner.outbox_wakeup.notify_one();
    }
    /// Who hears of sign-in events.
    pub fn observer(&self) -> &dyn Observer {
        &*self.inner.observer
    }
    /// What the delivery worker waits on.
    pub fn outbox_wakeup(&self) -> &Notify {
        &self.inner.outbox_wakeup
    }
}
