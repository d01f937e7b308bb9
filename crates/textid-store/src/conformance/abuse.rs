//! Abuse rows: send-budget counters summed over shards and buckets, conversion-watch
//! pauses, the (number, client IP) counter, locks as the operator sees them, test numbers.

use textid_core::abuse::{
    self, AbuseQuery, AbuseWrite, ClientCounter, CounterRef, Increment, Pause,
};

use super::*;

const A_NUMBER: &str = "+14255550101";

fn query(ip: &str) -> AbuseQuery {
    AbuseQuery {
        now: now(),
        client_ip: Some(ip.into()),
        limits: abuse::AbuseLimits::default(),
        budgets: true,
        test_numbers: true,
    }
}

/// A client IP no other case uses (the IP budget is shared by all tenants).
fn fresh_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!(
        "2001:db8:{:x}:{:x}::1",
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]])
    )
}

/// The counters a query reads for `A_NUMBER` whose key belongs to the tenant.
fn tenant_refs(t: &Tenant, q: &AbuseQuery) -> Vec<CounterRef> {
    abuse::reads(t.id, A_NUMBER, q)
        .counters
        .into_iter()
        .filter(|r| r.key.contains(&t.id.to_string()))
        .collect()
}

/// Issue #18: counters added outside a step (a carrier's receipt of an undelivered code)
/// are read by the next step like a step's own, in their tenant only.
pub async fn counters_added_outside_a_step_are_seen_by_the_next_step(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let q = query(&fresh_ip());
    let increments = textid_core::abuse::on_undelivered(t.id, A_NUMBER, &q);
    assert_eq!(increments.len(), 2, "prefix and country");
    s.add_counters(increments.clone()).await.unwrap();
    s.add_counters(increments.clone()).await.unwrap();
    s.add_counters(Vec::new()).await.unwrap();
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q.clone()).await;
    for i in &increments {
        let r = CounterRef {
            key: i.key.clone(),
            bucket: i.bucket,
        };
        assert_eq!(seen.abuse.counts.get(&r), Some(&2), "{r:?}");
    }
    let other = tenant(&*s).await;
    let seen = observe_with(&*s, &other, StepTarget::Number(A_NUMBER.into()), q).await;
    assert!(
        seen.abuse.counts.values().all(|n| *n == 0),
        "{:?}",
        seen.abuse.counts
    );
}

pub async fn budget_increments_are_summed_over_shards_and_read_back(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let q = query(&fresh_ip());
    let refs = tenant_refs(&t, &q);
    let target = &refs[0];
    let increments = (0..3)
        .map(|shard| Increment {
            key: target.key.clone(),
            bucket: target.bucket,
            shard,
            by: shard + 1,
            expires_at: target.bucket + 1,
        })
        .collect::<Vec<_>>();
    for round in 0..2 {
        let p = Put {
            abuse: AbuseWrite {
                increments: increments.clone(),
                ..AbuseWrite::default()
            },
            ..Put::default()
        };
        let _written = try_put_with(
            &*s,
            &t,
            StepTarget::Number(A_NUMBER.into()),
            q.clone(),
            now(),
            p,
        )
        .await
        .unwrap();
        let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q.clone()).await;
        assert_eq!(seen.abuse.counts.get(target), Some(&(6 * (round + 1))));
        for other in refs.iter().filter(|r| *r != target) {
            assert_eq!(
                seen.abuse.counts.get(other).copied().unwrap_or(0),
                0,
                "{other:?}"
            );
        }
    }
    let other = tenant(&*s).await;
    let seen = observe_with(&*s, &other, StepTarget::Number(A_NUMBER.into()), q.clone()).await;
    assert!(
        tenant_refs(&other, &q)
            .iter()
            .all(|r| seen.abuse.counts.get(r).copied().unwrap_or(0) == 0),
        "counters are per tenant"
    );
}

pub async fn without_budgets_a_step_reads_no_counters(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let q = AbuseQuery {
        budgets: false,
        ..query(&fresh_ip())
    };
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q).await;
    assert!(seen.abuse.counts.is_empty() && seen.abuse.pauses.is_empty());
}

pub async fn pauses_are_read_by_steps_listed_while_running_and_cleared(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let q = query(&fresh_ip());
    let key = abuse::reads(t.id, A_NUMBER, &q).pauses[0].clone();
    let pause = Pause {
        key: key.clone(),
        until: later(600),
        reason: "10 codes sent and 0 verified".into(),
        created_at: now(),
    };
    let p = Put {
        abuse: AbuseWrite {
            pauses: vec![pause.clone()],
            ..AbuseWrite::default()
        },
        ..Put::default()
    };
    let _written = try_put_with(
        &*s,
        &t,
        StepTarget::Number(A_NUMBER.into()),
        q.clone(),
        now(),
        p,
    )
    .await
    .unwrap();
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q).await;
    assert_eq!(seen.abuse.pauses, vec![pause.clone()]);
    assert_eq!(s.pauses(t.id, now()).await.unwrap(), vec![pause]);
    assert!(
        s.pauses(t.id, later(600)).await.unwrap().is_empty(),
        "ended"
    );
    assert!(s
        .pauses(tenant(&*s).await.id, now())
        .await
        .unwrap()
        .is_empty());
    let other = tenant(&*s).await;
    assert!(
        !s.clear_pause(other.id, &key, &Actor::cli(), now())
            .await
            .unwrap(),
        "another tenant's pause"
    );
    let before = audits(&*s, &t).await.len();
    assert!(s
        .clear_pause(t.id, &key, &Actor::cli(), later(1))
        .await
        .unwrap());
    let a = audited(&*s, &t, "Resume SMS sending", &key, later(1)).await;
    assert_eq!(
        a.before.unwrap()["reason"],
        serde_json::json!("10 codes sent and 0 verified")
    );
    assert!(!s
        .clear_pause(t.id, &key, &Actor::cli(), later(2))
        .await
        .unwrap());
    assert_eq!(
        audits(&*s, &t).await.len(),
        before + 1,
        "nothing cleared, nothing audited"
    );
    assert!(s.pauses(t.id, now()).await.unwrap().is_empty());
}

pub async fn the_client_counter_is_kept_per_number_and_ip_and_locks_are_listed_and_cleared(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let (ip, other_ip) = (fresh_ip(), fresh_ip());
    let stopped = ClientCounter {
        failures: 0,
        locked_until: Some(later(900)),
    };
    let p = Put {
        counter: Some(PhoneCounter {
            consecutive_failures: 50,
            locked_until: Some(later(300)),
            ..PhoneCounter::default()
        }),
        abuse: AbuseWrite {
            client: Some(stopped),
            ..AbuseWrite::default()
        },
        ..Put::default()
    };
    let _written = try_put_with(
        &*s,
        &t,
        StepTarget::Number(A_NUMBER.into()),
        query(&ip),
        now(),
        p,
    )
    .await
    .unwrap();
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), query(&ip)).await;
    assert_eq!(seen.abuse.client, stopped);
    let seen = observe_with(
        &*s,
        &t,
        StepTarget::Number(A_NUMBER.into()),
        query(&other_ip),
    )
    .await;
    assert_eq!(seen.abuse.client, ClientCounter::default(), "per client IP");
    let locks = s.locks(t.id, now()).await.unwrap();
    assert_eq!(locks.len(), 2, "{locks:?}");
    assert_eq!(
        (
            locks[0].phone.as_str(),
            locks[0].client_ip.as_deref(),
            locks[0].failures
        ),
        (A_NUMBER, None, 50)
    );
    assert_eq!(
        locks[1].client_ip.as_deref(),
        Some(abuse::ip_subject(&ip).as_str())
    );
    assert_eq!(
        s.locks(t.id, later(600)).await.unwrap().len(),
        1,
        "the number's lock ended"
    );
    let before = audits(&*s, &t).await.len();
    assert!(s
        .clear_lock(t.id, A_NUMBER, &Actor::cli(), later(1))
        .await
        .unwrap());
    audited(&*s, &t, "Clear sign-in lock", A_NUMBER, later(1)).await;
    assert!(s.locks(t.id, now()).await.unwrap().is_empty());
    assert!(!s
        .clear_lock(t.id, A_NUMBER, &Actor::cli(), later(2))
        .await
        .unwrap());
    assert_eq!(
        audits(&*s, &t).await.len(),
        before + 1,
        "nothing cleared, nothing audited"
    );
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), query(&ip)).await;
    assert_eq!(seen.abuse.client, ClientCounter::default());
    assert_eq!(seen.counter.unwrap().lock_remaining(now()), None);
}

pub async fn test_numbers_are_kept_per_tenant_and_loaded_by_steps(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let n = TestNumber {
        phone: A_NUMBER.into(),
        code: "123456".into(),
        created_at: now(),
    };
    s.put_test_number(t.id, &n, &Actor::cli()).await.unwrap();
    let a = audited(&*s, &t, "Add test number", A_NUMBER, now()).await;
    assert!(
        !serde_json::to_string(&a).unwrap().contains("123456"),
        "never the code"
    );
    let replaced = TestNumber {
        code: "654321".into(),
        ..n.clone()
    };
    s.put_test_number(t.id, &replaced, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(s.test_numbers(t.id).await.unwrap(), vec![replaced]);
    let seen = observe_with(
        &*s,
        &t,
        StepTarget::Number(A_NUMBER.into()),
        query(&fresh_ip()),
    )
    .await;
    assert_eq!(seen.abuse.test_code.as_deref(), Some("654321"));
    let off = AbuseQuery {
        test_numbers: false,
        ..query(&fresh_ip())
    };
    let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), off).await;
    assert_eq!(seen.abuse.test_code, None, "loaded only when enabled");
    assert!(s
        .test_numbers(tenant(&*s).await.id)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .delete_test_number(t.id, A_NUMBER, &Actor::cli(), later(1))
        .await
        .unwrap());
    audited(&*s, &t, "Remove test number", A_NUMBER, later(1)).await;
    let before = audits(&*s, &t).await.len();
    assert!(!s
        .delete_test_number(t.id, A_NUMBER, &Actor::cli(), later(2))
        .await
        .unwrap());
    assert_eq!(
        audits(&*s, &t).await.len(),
        before,
        "nothing removed, nothing audited"
    );
    assert!(s.test_numbers(t.id).await.unwrap().is_empty());
}

/// Issue #14: a (number, client IP) counter that counts wrong codes but never reached a
/// lock was never purged. It goes once it was last written before the cut-off; a running
/// lock keeps its row, however old the write.
pub async fn purge_removes_unlocked_client_counters_written_before_the_cut_and_keeps_locked_ones(
    s: Arc<dyn Store>,
) {
    let _turn = purging().await;
    // The era of the first purge case (2001), so this purge touches no other case's rows.
    let cut = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    let (old, young) = (cut - Duration::days(1), cut + Duration::days(1));
    let t = tenant(&*s).await;
    let counting = ClientCounter {
        failures: 3,
        locked_until: None,
    };
    let rows = [
        ("unlocked, old", counting, old, false),
        (
            "locked past the cut, old",
            ClientCounter {
                failures: 0,
                locked_until: Some(young),
            },
            old,
            true,
        ),
        ("unlocked, young", counting, young, true),
        (
            "lock ended, old",
            ClientCounter {
                failures: 0,
                locked_until: Some(old),
            },
            old,
            false,
        ),
    ];
    let ips: Vec<String> = rows.iter().map(|_| fresh_ip()).collect();
    for ((_, counter, at, _), ip) in rows.iter().zip(&ips) {
        let p = Put {
            abuse: AbuseWrite {
                client: Some(*counter),
                ..AbuseWrite::default()
            },
            ..Put::default()
        };
        let q = AbuseQuery {
            now: *at,
            budgets: false,
            ..query(ip)
        };
        let _written = try_put_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q, *at, p)
            .await
            .unwrap();
    }
    s.purge(cut).await.unwrap();
    for ((what, counter, _, stays), ip) in rows.iter().zip(&ips) {
        let q = AbuseQuery {
            budgets: false,
            ..query(ip)
        };
        let seen = observe_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q).await;
        let expected = if *stays {
            *counter
        } else {
            ClientCounter::default()
        };
        assert_eq!(seen.abuse.client, expected, "{what}");
    }
}

pub async fn budget_counters_are_read_by_key_prefix_and_bucket_summed_over_shards(
    s: Arc<dyn Store>,
) {
    let t = tenant(&*s).await;
    let q = query(&fresh_ip());
    let reads = textid_core::abuse_view::usage_reads(t.id, &q.limits, now());
    let refs = tenant_refs(&t, &q);
    let prefix_ref = refs
        .iter()
        .find(|r| r.key.starts_with("prefix:"))
        .unwrap()
        .clone();
    let old_bucket = CounterRef {
        bucket: reads.since - 1,
        ..prefix_ref.clone()
    };
    let mut increments: Vec<Increment> = (0..2)
        .map(|shard| Increment {
            key: prefix_ref.key.clone(),
            bucket: prefix_ref.bucket,
            shard,
            by: 2,
            expires_at: prefix_ref.bucket + 1,
        })
        .collect();
    increments.push(Increment {
        key: old_bucket.key.clone(),
        bucket: old_bucket.bucket,
        shard: 0,
        by: 5,
        expires_at: old_bucket.bucket + 1,
    });
    // Another tenant's counter of the same prefix is not this tenant's.
    let other = tenant(&*s).await;
    let other_key = prefix_ref
        .key
        .replace(&t.id.to_string(), &other.id.to_string());
    increments.push(Increment {
        key: other_key.clone(),
        bucket: prefix_ref.bucket,
        shard: 0,
        by: 7,
        expires_at: prefix_ref.bucket + 1,
    });
    let p = Put {
        abuse: AbuseWrite {
            increments,
            ..AbuseWrite::default()
        },
        ..Put::default()
    };
    let _written = try_put_with(&*s, &t, StepTarget::Number(A_NUMBER.into()), q, now(), p)
        .await
        .unwrap();
    let rows = s.budget_counters(&reads).await.unwrap();
    let mine: Vec<_> = rows
        .iter()
        .filter(|(r, _)| r.key.contains(&t.id.to_string()))
        .collect();
    assert_eq!(mine, vec![&(prefix_ref, 4)], "{rows:?}");
    assert!(rows.iter().all(|(r, _)| r.key != other_key));
}
