//! Housekeeping and readiness.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use textid_core::flow::PhoneCounter;

use super::*;

/// The purge case works in 2001, long before any other case's rows, so that its purge
/// touches only its own rows even on a database shared with other cases.
fn cut() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap()
}

pub async fn purge_removes_expired_flows_counters_finished_messages_and_sessions_only(
    s: Arc<dyn Store>,
) {
    let _turn = purging().await;
    let t = tenant(&*s).await;
    let (old, young) = (cut() - Duration::days(1), cut() + Duration::days(1));
    let u = new_user(&t, "ana");
    s.create_user(&u, &Actor::cli(), old).await.unwrap();
    let number = |i: u32| format!("+1425555{i:04}");
    let target = |i| StepTarget::Number(number(i));

    // Flows: by start.
    let (f_old, f_young) = (
        flow(&t, &number(1), None, old),
        flow(&t, &number(1), None, young),
    );
    for f in [&f_old, &f_young] {
        let p = Put::flow(f);
        put(&*s, &t, target(1), f.created_at, p).await;
    }
    // Counters: kept while their window, lock or failures still count.
    let window = |at, sends| PhoneCounter {
        window_started_at: Some(at),
        window_sends: sends,
        ..PhoneCounter::default()
    };
    let locked = PhoneCounter {
        consecutive_failures: 10,
        locked_until: Some(young),
        ..window(old, 1)
    };
    let counters = [(2, window(old, 5)), (3, window(young, 1)), (4, locked)];
    for (i, c) in &counters {
        let p = Put::counter(c);
        put(&*s, &t, target(*i), old, p).await;
    }
    // Messages: finished ones by their end; queued ones stay, however old.
    let mut msgs = Vec::new();
    for _ in 0..4 {
        let m = message(&number(5), old);
        msgs.push(m.id);
        put(&*s, &t, target(5), old, Put::message(&m)).await;
    }
    let outcomes = [
        (
            msgs[0],
            DeliveryOutcome::Delivered(Handover::default()),
            old,
        ),
        (
            msgs[1],
            DeliveryOutcome::Failed {
                error: "gone".into(),
            },
            old,
        ),
        (
            msgs[2],
            DeliveryOutcome::Delivered(Handover::default()),
            young,
        ),
    ];
    for (id, outcome, at) in outcomes {
        s.finish_message(id, outcome, at).await.unwrap();
    }
    // Sessions: by their end.
    let (s_old, s_young) = (session(u.id, old), session(u.id, young));
    for new in [&s_old, &s_young] {
        let p = Put::session(new);
        put(&*s, &t, target(6), old - Duration::days(1), p).await;
    }
    let log = log_entry(&t, Some(u.id), old);
    put(&*s, &t, target(7), old, Put::log(&log)).await;
    let audits_before = audits(&*s, &t).await;
    let live = old - Duration::hours(1);
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &s_old.token_hash.0, live)
        .await
        .unwrap()
        .is_some());

    let purged = s.purge(cut()).await.unwrap();
    assert!(purged >= 5, "at least this case's five rows: {purged}");

    assert_eq!(s.sms_flow(t.id, f_old.id).await.unwrap(), None);
    assert_eq!(s.sms_flow(t.id, f_young.id).await.unwrap(), Some(f_young));
    let seen = observe(&*s, &t, target(2)).await;
    assert_eq!(
        seen.counter,
        Some(PhoneCounter::default()),
        "expired window"
    );
    for (i, c) in &counters[1..] {
        let seen = observe(&*s, &t, target(*i)).await;
        assert_eq!(seen.counter.as_ref(), Some(c));
    }
    let left: Vec<_> = messages(&*s, &t).await.into_iter().map(|m| m.id).collect();
    assert!(!left.contains(&msgs[0]) && !left.contains(&msgs[1]));
    assert!(left.contains(&msgs[2]) && left.contains(&msgs[3]));
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &s_old.token_hash.0, live)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .session_by_token_hash(SessionKind::Browser, &s_young.token_hash.0, live)
        .await
        .unwrap()
        .is_some());
    // Not the directory, the logs or the audits.
    assert_eq!(s.user(t.id, u.id).await.unwrap(), Some(u));
    let logs = s.sign_in_logs(t.id, &LogQuery::latest(10)).await.unwrap();
    assert_eq!(logs, [log]);
    assert_eq!(audits(&*s, &t).await, audits_before);
}

pub async fn ping_answers(s: Arc<dyn Store>) {
    s.ping().await.unwrap();
    // Also while writes are under way.
    let t = tenant(&*s).await;
    let writes: Vec<_> = (0..RACERS)
        .map(|i| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move { user(&*s, &t, &format!("u{i}")).await })
        })
        .collect();
    s.ping().await.unwrap();
    for w in writes {
        w.await.unwrap();
    }
    s.ping().await.unwrap();
}

pub async fn database_time_is_none_or_the_current_time(s: Arc<dyn Store>) {
    // The database's own clock (several nodes) is the real time; an embedded database
    // has none. This is the one case that reads the wall clock.
    if let Some(db) = s.database_time().await.unwrap() {
        let wall = textid_core::clock::Clock::now(&textid_core::clock::SystemClock);
        let skew = (db - wall).num_seconds().abs();
        assert!(skew < 300, "database time {db} is {skew} s off");
    }
}

/// The era of the OAuth and log purge cases: before the first purge case's rows (all
/// after 2000), so a purge at this cut touches no other case's rows; the first case's
/// purge (cut 2001) removes only rows these cases expect gone anyway; and rows that must
/// stay end in [`far`], after every cut of the suite.
fn early() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1991, 1, 1, 0, 0, 0).unwrap()
}

fn far() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

pub async fn purge_removes_expired_requests_codes_tokens_and_ended_families_only(
    s: Arc<dyn Store>,
) {
    let _turn = purging().await;
    let t = tenant(&*s).await;
    let old = early() - Duration::days(1);
    let before_old = old - Duration::hours(1);
    // Authorization requests, by expiry.
    let (r_old, r_far) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let doc = serde_json::json!({"client_id": "app"});
    s.put_auth_request(&r_old, t.id, &doc, before_old, old)
        .await
        .unwrap();
    s.put_auth_request(&r_far, t.id, &doc, before_old, far())
        .await
        .unwrap();
    // Codes, by expiry.
    let g = grant(&t);
    let (c_old, c_far) = (hash(), hash());
    s.insert_code(&c_old, &g, old).await.unwrap();
    s.insert_code(&c_far, &g, far()).await.unwrap();
    // A revoked family all of whose tokens expired: it goes with them.
    let ended = grant(&t);
    let rt_ended = hash();
    s.insert_refresh_token(&rt_ended, &ended, old - Duration::days(2), old)
        .await
        .unwrap();
    let jti_ended = uuid::Uuid::new_v4().to_string();
    s.record_access_token(&jti_ended, &ended.family_id, None, None, old)
        .await
        .unwrap();
    assert!(s
        .revoke_refresh_token(&rt_ended, old - Duration::days(1))
        .await
        .unwrap());
    assert!(s.access_token_revoked(&jti_ended).await.unwrap());
    // A revoked family with a token that may still be presented: it stays revoked.
    let live = grant(&t);
    let rt_live = hash();
    s.insert_refresh_token(&rt_live, &live, old - Duration::days(2), far())
        .await
        .unwrap();
    assert!(s
        .revoke_refresh_token(&rt_live, old - Duration::days(1))
        .await
        .unwrap());
    // Access tokens revoked one by one, by expiry.
    let (jti_old, jti_far) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    s.revoke_access_token(&jti_old, old).await.unwrap();
    s.revoke_access_token(&jti_far, far()).await.unwrap();

    // The count is not asserted: on a database shared by concurrent cases another
    // case's purge may already have taken these rows; each row is checked below.
    s.purge(early()).await.unwrap();

    assert!(s
        .auth_request(&r_old, t.id, before_old)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .auth_request(&r_far, t.id, before_old)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        s.redeem_code(&c_old, "app", before_old, no_token())
            .await
            .unwrap(),
        Redemption::Invalid,
        "the expired code is gone"
    );
    assert_eq!(
        s.redeem_code(&c_far, "app", before_old, no_token())
            .await
            .unwrap(),
        Redemption::Redeemed(g.clone())
    );
    assert_eq!(s.refresh_token_client(&rt_ended).await.unwrap(), None);
    assert_eq!(
        s.refresh_token_client(&rt_live).await.unwrap().as_deref(),
        Some("app")
    );
    assert!(!s.access_token_revoked(&jti_ended).await.unwrap());
    assert!(!s.access_token_revoked(&jti_old).await.unwrap());
    assert!(s.access_token_revoked(&jti_far).await.unwrap());
    // The family with a live token is still revoked; the ended one is forgotten.
    assert!(matches!(
        s.insert_refresh_token(&hash(), &live, old, far()).await,
        Err(StoreError::Conflict(c)) if c == "family_revoked"
    ));
    s.insert_refresh_token(&hash(), &ended, old, far())
        .await
        .unwrap();
}

pub async fn purge_logs_removes_sign_in_logs_and_audits_before_the_cut_only(s: Arc<dyn Store>) {
    let _turn = purging().await;
    let t = tenant(&*s).await;
    let old = early() - Duration::days(1);
    let (u_old, u_far) = (new_user(&t, "old"), new_user(&t, "far"));
    s.create_user(&u_old, &Actor::cli(), old).await.unwrap();
    s.create_user(&u_far, &Actor::cli(), far()).await.unwrap();
    let (l_old, l_far) = (
        log_entry(&t, Some(u_old.id), old),
        log_entry(&t, Some(u_far.id), far()),
    );
    let number = |i: u32| format!("+1425556{i:04}");
    put(
        &*s,
        &t,
        StepTarget::Number(number(1)),
        old,
        Put::log(&l_old),
    )
    .await;
    put(
        &*s,
        &t,
        StepTarget::Number(number(2)),
        far(),
        Put::log(&l_far),
    )
    .await;
    let audits_before = audits(&*s, &t).await;
    assert!(audits_before.iter().any(|a| a.created_at == old));

    let purged = s.purge_logs(early()).await.unwrap();
    assert!(purged >= 2, "at least this case's log and audit: {purged}");

    let logs = s.sign_in_logs(t.id, &LogQuery::latest(10)).await.unwrap();
    assert_eq!(logs, [l_far]);
    let left = audits(&*s, &t).await;
    assert!(!left.is_empty());
    assert!(left.iter().all(|a| a.created_at >= far()), "{left:?}");
    // Never the directory.
    assert_eq!(s.user(t.id, u_old.id).await.unwrap(), Some(u_old));
}
