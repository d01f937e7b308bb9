//! The durable outbox. Claims are global (every tenant's due messages), so each case
//! looks only at the messages of its own tenant in what a claim returns.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use textid_core::message::QueuedMessage;

use super::*;

const A_NUMBER: &str = "+14255550101";

/// Claims every due message at `at` for `lease` seconds; returns this tenant's.
async fn claim(s: &dyn Store, t: &Tenant, at: DateTime<Utc>, lease: i64) -> Vec<QueuedMessage> {
    s.claim_messages(at, at + Duration::seconds(lease), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.tenant_id == t.id)
        .collect()
}

fn ids(claimed: &[QueuedMessage]) -> Vec<MessageId> {
    claimed.iter().map(|m| m.id).collect()
}

pub async fn claimed_messages_are_not_claimed_again_until_the_lease_ends(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (f, m) = (flow(&t, A_NUMBER, None, now()), message(A_NUMBER, now()));
    let put_it = Put {
        message: Some(m.clone()),
        ..Put::flow(&f)
    };
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    let claimed = claim(&*s, &t, now(), 30).await;
    assert_eq!(ids(&claimed), [m.id]);
    let c = &claimed[0];
    assert_eq!(
        (
            &c.tenant_name,
            c.kind.as_str(),
            c.channel.as_str(),
            c.to.as_str()
        ),
        (&t.name, "signInCode", "sms", A_NUMBER)
    );
    assert_eq!(
        (
            &c.sealed_body,
            c.locale.as_str(),
            c.flow_id,
            c.attempts,
            c.created_at
        ),
        (&m.sealed_body, "en", Some(f.id), 1, now())
    );
    // Leased: not claimed again before the lease ends...
    assert!(claim(&*s, &t, now(), 30).await.is_empty());
    assert!(claim(&*s, &t, later(29), 30).await.is_empty());
    // ...and claimed again once it has (the worker crashed), counting the try.
    let again = claim(&*s, &t, later(31), 30).await;
    assert_eq!(ids(&again), [m.id]);
    assert_eq!(
        (again[0].attempts, &again[0].sealed_body),
        (2, &m.sealed_body)
    );
    let listed = listed(&*s, &t, m.id).await;
    assert_eq!((listed.status.as_str(), listed.attempts), ("queued", 2));
}

pub async fn a_message_queued_leased_is_claimed_only_when_its_lease_ends(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let f = flow(&t, A_NUMBER, None, now());
    let m = NewMessage {
        leased_until: Some(later(10)),
        ..message(A_NUMBER, now())
    };
    let put_it = Put {
        message: Some(m.clone()),
        ..Put::flow(&f)
    };
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    // Stored as claimed by the queuing worker: its first try counted, not due before then.
    let listed_now = listed(&*s, &t, m.id).await;
    assert_eq!(
        (listed_now.status.as_str(), listed_now.attempts),
        ("queued", 1)
    );
    assert!(claim(&*s, &t, now(), 30).await.is_empty());
    assert!(claim(&*s, &t, later(9), 30).await.is_empty());
    // That worker renews the lease while it delivers...
    s.renew_lease(&[m.id], later(20)).await.unwrap();
    assert!(claim(&*s, &t, later(15), 30).await.is_empty());
    // ...and if it never records an outcome (it crashed), any worker claims the message
    // once the lease has run out: its second try.
    let again = claim(&*s, &t, later(21), 30).await;
    assert_eq!(ids(&again), [m.id]);
    assert_eq!(
        (again[0].attempts, &again[0].sealed_body, again[0].flow_id),
        (2, &m.sealed_body, Some(f.id))
    );
}

pub async fn concurrent_claims_hand_out_each_message_once(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let mut wins = Vec::new();
    for _ in 0..ROUNDS {
        let t = tenant(&*s).await;
        let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
        wins.push(
            race(|_| {
                let (s, t) = (s.clone(), t.clone());
                async move {
                    let ours = claim(&*s, &t, now(), 30).await;
                    assert!(ours.len() <= 1, "{ours:?}");
                    ours.iter().any(|c| c.id == m)
                }
            })
            .await,
        );
        assert_eq!(listed(&*s, &t, m).await.attempts, 1);
    }
    one_winner_each_round(&wins);
}

pub async fn a_claim_takes_at_most_its_limit(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let mut queued = Vec::new();
    for i in 0..3 {
        queued.push(queue(&*s, &t, A_NUMBER, later(i)).await.1);
    }
    // At least our three are due, so a claim of two takes exactly two.
    let first = s.claim_messages(later(10), later(40), 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = claim(&*s, &t, later(10), 30).await;
    let mut all: Vec<_> = first
        .iter()
        .filter(|m| m.tenant_id == t.id)
        .chain(&rest)
        .map(|m| m.id)
        .collect();
    all.sort();
    queued.sort();
    assert_eq!(all, queued, "every message claimed once");
}

pub async fn a_retried_message_is_claimed_again_at_its_time(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m]);
    let retry = DeliveryOutcome::Retry {
        at: later(120),
        error: "provider answered 503".into(),
    };
    s.finish_message(m, retry, later(1)).await.unwrap();
    let listed = listed(&*s, &t, m).await;
    assert_eq!(listed.status, "queued");
    assert_eq!(listed.last_error.as_deref(), Some("provider answered 503"));
    assert!(claim(&*s, &t, later(60), 30).await.is_empty());
    assert!(claim(&*s, &t, later(119), 30).await.is_empty());
    let again = claim(&*s, &t, later(120), 30).await;
    assert_eq!(ids(&again), [m]);
    assert_eq!(again[0].attempts, 2);
}

pub async fn finishing_a_message_as_delivered_wipes_its_body(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m]);
    s.finish_message(m, DeliveryOutcome::Delivered(Handover::default()), later(5))
        .await
        .unwrap();
    let listed_now = listed(&*s, &t, m).await;
    assert_eq!(
        (listed_now.status.as_str(), listed_now.attempts),
        ("delivered", 1)
    );
    // The body (a sealed code) is never handed out again: not after the lease, not
    // after a late retry of a worker that missed the outcome.
    let late_retry = DeliveryOutcome::Retry {
        at: later(40),
        error: "timeout".into(),
    };
    s.finish_message(m, late_retry, later(6)).await.unwrap();
    assert_eq!(listed(&*s, &t, m).await.status, "delivered");
    for at in [later(31), later(40), now() + Duration::days(365)] {
        assert!(claim(&*s, &t, at, 30).await.is_empty());
    }
}

pub async fn a_failed_message_is_never_claimed_again_and_keeps_its_error(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m]);
    let failed = DeliveryOutcome::Failed {
        error: "number unreachable".into(),
    };
    s.finish_message(m, failed, later(5)).await.unwrap();
    let listed = listed(&*s, &t, m).await;
    assert_eq!(listed.status, "failed");
    assert_eq!(listed.last_error.as_deref(), Some("number unreachable"));
    for at in [later(31), now() + Duration::days(365)] {
        assert!(claim(&*s, &t, at, 30).await.is_empty());
    }
}

pub async fn a_batch_of_outcomes_is_recorded_at_once(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, delivered) = queue(&*s, &t, A_NUMBER, now()).await;
    let (_, retried) = queue(&*s, &t, "+14255550102", now()).await;
    let (_, failed) = queue(&*s, &t, "+14255550103", now()).await;
    let (_, untouched) = queue(&*s, &t, "+14255550104", now()).await;
    assert_eq!(claim(&*s, &t, now(), 30).await.len(), 4);
    s.finish_messages(
        &[
            (delivered, DeliveryOutcome::Delivered(Handover::default())),
            (
                retried,
                DeliveryOutcome::Retry {
                    at: later(120),
                    error: "provider answered 503".into(),
                },
            ),
            (
                failed,
                DeliveryOutcome::Failed {
                    error: "number unreachable".into(),
                },
            ),
        ],
        later(5),
    )
    .await
    .unwrap();
    s.finish_messages(&[], later(6)).await.unwrap();
    let status = |r: MessageRecord| (r.status, r.last_error);
    assert_eq!(
        status(listed(&*s, &t, delivered).await),
        ("delivered".into(), None)
    );
    assert_eq!(
        status(listed(&*s, &t, retried).await),
        ("queued".into(), Some("provider answered 503".into()))
    );
    assert_eq!(
        status(listed(&*s, &t, failed).await),
        ("failed".into(), Some("number unreachable".into()))
    );
    assert_eq!(
        status(listed(&*s, &t, untouched).await),
        ("queued".into(), None)
    );
    // The untouched one comes back when its lease ends, the retried one at its time.
    assert_eq!(ids(&claim(&*s, &t, later(31), 300).await), [untouched]);
    assert_eq!(ids(&claim(&*s, &t, later(120), 30).await), [retried]);
}

pub async fn messages_are_listed_newest_first_per_tenant(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let (f1, m1) = queue(&*s, &t, A_NUMBER, now()).await;
    let (_, m2) = queue(&*s, &t, "+14255550199", later(1)).await;
    // A message without a flow.
    let m3 = message(A_NUMBER, later(2));
    let put_it = Put::message(&m3);
    put(
        &*s,
        &t,
        StepTarget::Number(A_NUMBER.into()),
        later(2),
        put_it,
    )
    .await;
    let (_, o1) = queue(&*s, &other, A_NUMBER, later(3)).await;
    let all = s.list_messages(t.id, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|m| m.id).collect::<Vec<_>>(),
        [m3.id, m2, m1]
    );
    assert_eq!((all[0].flow_id, all[2].flow_id), (None, Some(f1.id)));
    assert_eq!(all[1].to, "+14255550199");
    assert_eq!(all[2].created_at, now());
    let two = s.list_messages(t.id, 2).await.unwrap();
    assert_eq!(two.iter().map(|m| m.id).collect::<Vec<_>>(), [m3.id, m2]);
    let theirs = s.list_messages(other.id, 10).await.unwrap();
    assert_eq!(theirs.iter().map(|m| m.id).collect::<Vec<_>>(), [o1]);
}

/// The era of the outbox-stats case: before every other case's messages (the earliest
/// are the purge cases' of 1991), so that on a database shared with other cases the
/// oldest queued message is this case's while it waits. Counts across the database are
/// only bounded below, as other cases queue and finish messages at the same time.
fn stats_era() -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 1981, 1, 1, 0, 0, 0).unwrap()
}

pub async fn outbox_stats_count_waiting_messages_and_name_the_oldest(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (first, second) = (stats_era(), stats_era() + Duration::minutes(1));
    let (_, m1) = queue(&*s, &t, A_NUMBER, first).await;
    let (_, m2) = queue(&*s, &t, "+14255550199", second).await;
    let stats = s.outbox_stats().await.unwrap();
    assert!(stats.queued >= 2, "{stats:?}");
    assert_eq!(stats.oldest_queued_at, Some(first));
    // A message waiting for a retry still waits.
    let retry = DeliveryOutcome::Retry {
        at: now() + Duration::days(365),
        error: "provider answered 503".into(),
    };
    s.finish_message(m1, retry, later(1)).await.unwrap();
    let stats = s.outbox_stats().await.unwrap();
    assert!(stats.queued >= 2, "{stats:?}");
    assert_eq!(stats.oldest_queued_at, Some(first));
    // Delivered and failed messages no longer count.
    s.finish_message(
        m1,
        DeliveryOutcome::Delivered(Handover::default()),
        later(2),
    )
    .await
    .unwrap();
    assert_eq!(
        s.outbox_stats().await.unwrap().oldest_queued_at,
        Some(second)
    );
    let failed = DeliveryOutcome::Failed {
        error: "number unreachable".into(),
    };
    s.finish_message(m2, failed, later(3)).await.unwrap();
    let stats = s.outbox_stats().await.unwrap();
    assert!(
        stats.oldest_queued_at.is_none_or(|at| at > second),
        "{stats:?}"
    );
}

pub async fn an_empty_outbox_has_no_depth_and_no_oldest(s: Arc<dyn Store>) {
    // On a fresh store (SQLite) nothing waits; on a shared database another case's
    // messages may, and then they are not older than the first case's era.
    let stats = s.outbox_stats().await.unwrap();
    if stats.queued == 0 {
        assert_eq!(stats, OutboxStats::default());
    } else {
        assert!(stats.oldest_queued_at.is_some(), "{stats:?}");
    }
}

/// A receipt for the carrier id `carrier_id` of `provider`.
fn receipt(provider: &str, carrier_id: &str, status: &str, at: i64) -> ReceiptUpdate {
    ReceiptUpdate {
        provider: provider.into(),
        provider_message_id: carrier_id.into(),
        status: status.into(),
        reason: (status == "failed").then(|| "30003".into()),
        at: later(at),
        log_id: None,
    }
}

fn handed_to(provider: &str, carrier_id: &str) -> DeliveryOutcome {
    DeliveryOutcome::Delivered(Handover {
        provider: Some(provider.into()),
        provider_message_id: Some(carrier_id.into()),
    })
}

/// A carrier id no other case (or run) uses.
fn carrier_id() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

pub async fn a_delivered_message_keeps_its_provider_and_carrier_id(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m]);
    let sid = carrier_id();
    s.finish_message(m, handed_to("twilio", &sid), later(1))
        .await
        .unwrap();
    let r = listed(&*s, &t, m).await;
    assert_eq!(
        (r.status.as_str(), r.provider.as_deref()),
        ("delivered", Some("twilio"))
    );
    assert_eq!(r.provider_message_id.as_deref(), Some(sid.as_str()));
    assert_eq!((r.receipt_status, r.receipt_at), (None, None));
}

pub async fn a_receipt_closes_the_message_it_names_once(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    let (_, other) = queue(&*s, &t, "+14255550102", now()).await;
    assert_eq!(claim(&*s, &t, now(), 30).await.len(), 2);
    let (sid, other_sid) = (carrier_id(), carrier_id());
    s.finish_messages(
        &[
            (m, handed_to("twilio", &sid)),
            (other, handed_to("twilio", &other_sid)),
        ],
        later(1),
    )
    .await
    .unwrap();
    let closed = s
        .record_receipt(&receipt("twilio", &sid, "delivered", 5))
        .await
        .unwrap()
        .expect("the receipt names a message");
    assert_eq!((closed.id, closed.tenant_id), (m, t.id));
    assert_eq!(
        (
            closed.kind.as_str(),
            closed.channel.as_str(),
            closed.to.as_str()
        ),
        ("signInCode", "sms", A_NUMBER)
    );
    let r = listed(&*s, &t, m).await;
    assert_eq!(
        (r.receipt_status.as_deref(), r.receipt_at),
        (Some("delivered"), Some(later(5)))
    );
    // The carrier repeats its callback: nothing changes, and the caller counts it once.
    let again = s
        .record_receipt(&receipt("twilio", &sid, "delivered", 9))
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(listed(&*s, &t, m).await.receipt_at, Some(later(5)));
    // The other message has no receipt.
    assert_eq!(listed(&*s, &t, other).await.receipt_status, None);
}

pub async fn a_receipt_for_an_unknown_id_or_another_provider_changes_nothing(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let (_, m) = queue(&*s, &t, A_NUMBER, now()).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m]);
    let sid = carrier_id();
    s.finish_message(m, handed_to("twilio", &sid), later(1))
        .await
        .unwrap();
    // Another provider's message ids are its own namespace.
    let wrong_provider = s
        .record_receipt(&receipt("vonage", &sid, "failed", 5))
        .await
        .unwrap();
    let unknown = s
        .record_receipt(&receipt("twilio", &carrier_id(), "failed", 5))
        .await
        .unwrap();
    assert_eq!((wrong_provider, unknown), (None, None));
    assert_eq!(listed(&*s, &t, m).await.receipt_status, None);
}

pub async fn a_failed_receipt_keeps_the_reason_and_is_logged_against_the_flow(s: Arc<dyn Store>) {
    let _turn = claiming().await;
    let t = tenant(&*s).await;
    let u = user(&*s, &t, "receipt").await;
    let (f, m) = (flow(&t, A_NUMBER, None, now()), message(A_NUMBER, now()));
    let requested = SignInLogEntry {
        flow_id: Some(f.id),
        app_id: Some("app".into()),
        ..log_entry(&t, Some(u), now())
    };
    let put_it = Put {
        message: Some(m.clone()),
        log: Some(requested.clone()),
        ..Put::flow(&f)
    };
    put(&*s, &t, StepTarget::Number(A_NUMBER.into()), now(), put_it).await;
    assert_eq!(ids(&claim(&*s, &t, now(), 30).await), [m.id]);
    let sid = carrier_id();
    s.finish_message(m.id, handed_to("twilio", &sid), later(1))
        .await
        .unwrap();
    let log_id = uuid::Uuid::new_v4();
    let failed = ReceiptUpdate {
        log_id: Some(log_id),
        ..receipt("twilio", &sid, "failed", 7)
    };
    let closed = s.record_receipt(&failed).await.unwrap().unwrap();
    assert_eq!(closed.flow_id, Some(f.id));
    let r = listed(&*s, &t, m.id).await;
    assert_eq!(
        (r.receipt_status.as_deref(), r.receipt_reason.as_deref()),
        (Some("failed"), Some("30003"))
    );
    let q = LogQuery {
        from: None,
        to: None,
        about: Some(u),
        limit: 10,
    };
    let logs = s.sign_in_logs(t.id, &q).await.unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let undelivered = &logs[0];
    assert_eq!(undelivered.id, log_id);
    assert_eq!(
        (
            undelivered.event.as_str(),
            undelivered.result.as_str(),
            undelivered.failure_reason.as_deref()
        ),
        ("codeUndelivered", "failure", Some("30003"))
    );
    assert_eq!(
        (
            undelivered.created_at,
            undelivered.flow_id,
            undelivered.user_id,
            &undelivered.phone,
            &undelivered.client_ip,
            &undelivered.app_id
        ),
        (
            later(7),
            Some(f.id),
            Some(u),
            &requested.phone,
            &requested.client_ip,
            &requested.app_id
        )
    );
    // The same failure reported again writes no second entry.
    let again = ReceiptUpdate {
        log_id: Some(uuid::Uuid::new_v4()),
        ..failed
    };
    assert_eq!(s.record_receipt(&again).await.unwrap(), None);
    assert_eq!(s.sign_in_logs(t.id, &q).await.unwrap().len(), 2);
}
