//! Several nodes (stores with pools of their own) on one PostgreSQL database: the point
//! of this backend. Concurrent sign-in steps, number claims and outbox claims from two
//! nodes; the change feed between nodes; migrations from three nodes at once. See
//! `support` for where the database is, skipping and cleaning up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::steps::{message, nothing, now, start_flow, verify, NUMBER};
use textid_core::code::{OtpCode, SecretHasher};
use textid_core::directory::{Upn, User};
use textid_core::flow::sms_sign_in::SignInError;
use textid_core::limits::SignInLimits;
use textid_core::methods::{PhoneMethodError, PhoneType};
use textid_core::phone::PhoneNumber;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, MessageId, UserId};
use textid_store::postgres::PostgresStore;
use textid_store::prelude::*;
use textid_store::{
    Actor, Changed, PhoneMethodChange, PhoneMethodOp, SigningKeyRecord, StepOutcome, StepTarget,
    StepWrite, StoreError,
};
use tokio::sync::broadcast;

/// Two nodes on this run's database, or `None` (skipped).
async fn two_nodes() -> Option<(PostgresStore, PostgresStore)> {
    let a = support::node().await?;
    let b = support::node().await?;
    Some((a, b))
}

async fn tenant(s: &PostgresStore) -> Tenant {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    s.ensure_tenant(&name, now()).await.unwrap()
}

async fn user(s: &PostgresStore, t: &Tenant, name: &str) -> UserId {
    let u = User {
        id: UserId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        upn: Upn::parse(&format!("{name}@contoso.example")).unwrap(),
        display_name: name.into(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: vec![],
        on_premises_sync_enabled: false,
        profile: Default::default(),
    };
    s.create_user(&u, &Actor::cli(), now()).await.unwrap();
    u.id
}

fn claim_number(t: &Tenant, u: UserId) -> PhoneMethodChange {
    PhoneMethodChange {
        made_in: None,
        tenant: t.id,
        user: u,
        phone_type: PhoneType::Mobile,
        op: PhoneMethodOp::Add {
            number: PhoneNumber::parse(NUMBER, None).unwrap(),
            enable_sms_sign_in: true,
        },
    }
}

/// `n` steps on one flow, alternating between the nodes, all at once.
async fn verify_concurrently(
    nodes: [&PostgresStore; 2],
    t: &Tenant,
    flow: FlowId,
    code: &OtpCode,
    hasher: &SecretHasher,
    n: usize,
) -> Vec<Result<StepOutcome, SignInError>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (s, code, hasher, tid) = (nodes[i % 2].clone(), code.clone(), hasher.clone(), t.id);
            tokio::spawn(async move {
                s.sms_sign_in_step(
                    tid,
                    StepTarget::Flow(flow),
                    textid_store::conformance::no_abuse(now()),
                    verify(code, hasher),
                )
                .await
                .unwrap()
                .outcome
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

async fn sessions_of(url: &str, u: UserId) -> i64 {
    let db = support::raw(url).await.unwrap();
    db.query_one("SELECT count(*) FROM sessions WHERE user_id = $1", &[&u.0])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_right_codes_on_two_nodes_give_exactly_one_session() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let hasher = SecretHasher::new([7; 32]);
    let t = tenant(&a).await;
    let owner = user(&a, &t, "ana").await;
    a.change_phone_method(claim_number(&t, owner), &Actor::cli(), now())
        .await
        .unwrap();
    let (flow, code) = start_flow(&a, &t, owner, &hasher).await;
    let outcomes = verify_concurrently([&a, &b], &t, flow, &code, &hasher, 20).await;
    let wins = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(wins, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| o.is_ok() || *o == Err(SignInError::FlowNotFound)));
    assert_eq!(
        sessions_of(&support::run_database().await.unwrap(), owner).await,
        1
    );
    let msgs = a.list_messages(t.id, 10).await.unwrap();
    assert_eq!(
        msgs[0].status, "failed",
        "the finished flow's queued code is superseded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_stop_exactly_at_the_attempt_limit() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let hasher = SecretHasher::new([7; 32]);
    let t = tenant(&a).await;
    let owner = user(&a, &t, "ana").await;
    a.change_phone_method(claim_number(&t, owner), &Actor::cli(), now())
        .await
        .unwrap();
    let (flow, code) = start_flow(&a, &t, owner, &hasher).await;
    let first = (code.expose().as_bytes()[0] - b'0' + 1) % 10;
    let wrong = OtpCode::parse(&format!("{first}{}", &code.expose()[1..]), 6).unwrap();
    let outcomes = verify_concurrently([&a, &b], &t, flow, &wrong, &hasher, 50).await;
    let limit = SignInLimits::default().max_attempts_per_code as usize;
    let invalid = outcomes
        .iter()
        .filter(|o| **o == Err(SignInError::InvalidCode))
        .count();
    let spent = outcomes
        .iter()
        .filter(|o| **o == Err(SignInError::TooManyAttempts))
        .count();
    assert_eq!((invalid, spent), (limit, 50 - limit), "{outcomes:?}");
    assert_eq!(
        b.sms_flow(t.id, flow).await.unwrap().unwrap().attempts as usize,
        limit
    );
    // Every counted failure reached the number's counter, once.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let probe = seen.clone();
    let _ = b
        .sms_sign_in_step(
            t.id,
            StepTarget::Flow(flow),
            textid_store::conformance::no_abuse(now()),
            Box::new(move |input| {
                *probe.lock().unwrap() = input.counter.map(|c| c.consecutive_failures);
                nothing(Err(SignInError::InvalidCode))
            }),
        )
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(limit as u32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_claiming_one_number_for_two_users_have_one_winner() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    for round in 0..10 {
        let t = tenant(&a).await;
        let users = [user(&a, &t, "a").await, user(&a, &t, "b").await];
        let tasks = [(a.clone(), users[0]), (b.clone(), users[1])].map(|(s, u)| {
            let t = t.clone();
            tokio::spawn(async move {
                s.change_phone_method(claim_number(&t, u), &Actor::cli(), now())
                    .await
            })
        });
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => wins += 1,
                Err(StoreError::PhoneMethod(
                    PhoneMethodError::NumberNotUnique { .. }
                    | PhoneMethodError::NumberUsedForSignIn { .. },
                )) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let c = b.sign_in_candidate(t.id, NUMBER).await.unwrap().unwrap();
        assert!(users.contains(&c.user_id) && !c.number_shared);
    }
}

async fn next_of(rx: &mut broadcast::Receiver<Changed>, wanted: Changed) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(c) if c == wanted => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("feed closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {wanted:?} within 10 s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_hear_each_others_changes_through_subscribe() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let mut heard_by_b = b.subscribe();
    // The feed says when it listens (changes before that were not heard).
    next_of(&mut heard_by_b, Changed::Everything).await;
    let t = tenant(&a).await;
    a.set_tenant_region(t.id, Some("US"), &Actor::cli(), now())
        .await
        .unwrap();
    next_of(&mut heard_by_b, Changed::Tenants).await;
    let mut heard_by_a = a.subscribe();
    next_of(&mut heard_by_a, Changed::Everything).await;
    let key = SigningKeyRecord {
        kid: uuid::Uuid::new_v4().to_string(),
        alg: format!("test-{}", uuid::Uuid::new_v4().simple()),
        sealed: vec![1, 2, 3],
        created_at: now(),
        retired_at: None,
    };
    b.add_signing_key(&key, now()).await.unwrap();
    next_of(&mut heard_by_a, Changed::SigningKeys).await;
    next_of(&mut heard_by_b, Changed::SigningKeys).await;
    assert!(a.signing_keys().await.unwrap().contains(&key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_migrating_one_new_database_at_once_is_safe() {
    let url = match support::extra_database().await {
        Ok(url) => url,
        Err(reason) => return support::skip(&reason),
    };
    // Each connect migrates; then each migrates again, all at once.
    let (x, y, z) = tokio::join!(
        support::node_on(&url),
        support::node_on(&url),
        support::node_on(&url)
    );
    let (rx, ry, rz) = tokio::join!(x.migrate(), y.migrate(), z.migrate());
    rx.unwrap();
    ry.unwrap();
    rz.unwrap();
    let db = support::raw(&url).await.unwrap();
    let versions: Vec<i64> = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Every file of migrations/postgres, each once (the numbers may have gaps).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let mut files: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.get(..4)?.parse().ok())
        .collect();
    files.sort_unstable();
    assert_eq!(versions, files);
    let t = tenant(&z).await;
    assert_eq!(x.tenant_by_id(t.id).await.unwrap(), Some(t));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_claims_from_two_nodes_never_overlap() {
    // Claims are global: a database of its own, so no other test's messages are taken.
    let url = match support::extra_database().await {
        Ok(url) => url,
        Err(reason) => return support::skip(&reason),
    };
    let (a, b) = (support::node_on(&url).await, support::node_on(&url).await);
    let t = tenant(&a).await;
    let mut queued = HashSet::new();
    for i in 0..40 {
        let m = message(&format!("+1425555{i:04}"));
        queued.insert(m.id);
        let _ = a
            .sms_sign_in_step(
                t.id,
                StepTarget::Number(m.to.clone()),
                textid_store::conformance::no_abuse(now()),
                Box::new(move |_| StepWrite {
                    message: Some(m.clone()),
                    ..nothing(Ok(StepOutcome::CodeSent))
                }),
            )
            .await
            .unwrap();
    }
    let lease = now() + chrono::Duration::minutes(5);
    let workers: Vec<_> = [&a, &b, &a, &b]
        .into_iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = s.claim_messages(now(), lease, 3).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }
    let distinct: HashSet<MessageId> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), distinct.len(), "a message was claimed twice");
    assert_eq!(distinct, queued);
}
