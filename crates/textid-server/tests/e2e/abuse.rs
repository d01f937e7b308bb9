//! SMS pumping and aimed lockouts (issue #14 §2, §3): each attack from the issue, played
//! against the real server through `X-Forwarded-For` from a trusted loopback proxy (so one
//! test can be several client IPs), with the safe outcome asserted.

use chrono::Duration;
use serde_json::json;
use textid_server::AppConfig;
use textid_store::prelude::*;

use crate::helpers::{
    behind_loopback_proxy, body, expect_error, flow_id, keys, spawn_app, spawn_app_with, wrong,
    TestApp,
};

const ATTACKER: &str = "198.51.100.66";

fn number(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:04}")
}

async fn start_from(t: &TestApp, ip: &str, phone: &str) -> reqwest::Response {
    t.post_from(ip, "", &json!({ "phoneNumber": phone })).await
}

async fn verify_from(t: &TestApp, ip: &str, flow: &str, code: &str) -> reqwest::Response {
    t.post_from(ip, "/verify", &json!({ "flowId": flow, "code": code }))
        .await
}

/// Registers `n` users whose mobiles are `{prefix}0000`, `{prefix}0001`, ...
async fn register(t: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    t.enable_sms().await;
    let mut out = Vec::new();
    for i in 0..n {
        let phone = number(prefix, i);
        let user = t
            .user(&format!("u{i}.{}@contoso.example", &prefix[1..]))
            .await;
        t.add_phone(user, textid_core::methods::PhoneType::Mobile, &phone)
            .await;
        out.push(phone);
    }
    out
}

/// The reasons of the refusals in the sign-in log.
async fn reasons(t: &TestApp) -> Vec<String> {
    t.sign_in_logs()
        .await
        .into_iter()
        .filter_map(|l| l.failure_reason)
        .collect()
}

#[tokio::test]
async fn a_burst_from_one_ip_at_300_numbers_of_one_prefix_sends_at_most_20_sms_while_a_real_user_gets_a_code(
) {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    let numbers = register(&t, "+1425555", 300).await;
    let ana = "+12065550123";
    let ana_id = t.user("ana@contoso.example").await;
    t.add_phone(ana_id, textid_core::methods::PhoneType::Mobile, ana)
        .await;
    let mut sent = 0;
    for pass in 0..6 {
        for n in &numbers {
            let r = start_from(&t, ATTACKER, n).await;
            assert!(r.status() == 202 || r.status() == 429, "{}", r.status());
        }
        sent += t.deliver().await.len();
        if pass == 2 {
            // A real user, on another prefix and another IP, in the middle of the burst.
            let flow = flow_id(start_from(&t, "203.0.113.10", ana).await).await;
            let code = t.last_code().await;
            let ok = verify_from(&t, "203.0.113.10", &flow, &code).await;
            assert_eq!(ok.status(), 200);
        }
    }
    assert!(sent <= 20, "{sent} SMS sent to the pumped prefix");
    let reasons = reasons(&t).await;
    assert!(
        reasons.iter().any(|r| r == "ipBudgetExceeded"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn the_client_ip_budget_answers_429_with_a_retry_after_that_is_exactly_long_enough() {
    let t = spawn_app_with(behind_loopback_proxy).await;
    t.enable_sms().await;
    // Unknown numbers of many prefixes: only the IP budget can refuse.
    for i in 0..30 {
        let r = start_from(&t, ATTACKER, &format!("+1425{:03}0101", 200 + i)).await;
        assert_eq!(r.status(), 202, "start {i}");
    }
    let refused = start_from(&t, ATTACKER, "+14253000101").await;
    let e = expect_error(refused, 429, "tooManyRequests").await;
    let wait = e.retry_after.unwrap();
    // Another client is not affected.
    assert_eq!(
        start_from(&t, "203.0.113.10", "+14253000101")
            .await
            .status(),
        202
    );
    t.advance(Duration::seconds(wait - 1));
    expect_error(
        start_from(&t, ATTACKER, "+14253010101").await,
        429,
        "tooManyRequests",
    )
    .await;
    t.advance(Duration::seconds(1));
    assert_eq!(start_from(&t, ATTACKER, "+14253020101").await.status(), 202);
}

fn small_country_budget(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.country.limit = 3;
}
fn small_tenant_budget(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.tenant.limit = 3;
}
fn small_daily_cap(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.tenant_daily = 3;
}
fn small_global_budget(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.global.limit = 3;
}

/// Each start from its own IP to a registered number of its own prefix: after three, the
/// budget withholds the SMS while the answer keeps the shape of a normal start.
async fn withheld_after_three(configure: fn(&mut AppConfig), reason: &str) {
    let mut t = spawn_app_with(configure).await;
    t.enable_sms().await;
    let mut phones = Vec::new();
    for i in 0..4 {
        let phone = format!("+1{}5550101", 201 + i * 100);
        let u = t.user(&format!("u{i}@contoso.example")).await;
        t.add_phone(u, textid_core::methods::PhoneType::Mobile, &phone)
            .await;
        phones.push(phone);
    }
    let mut shapes = Vec::new();
    for (i, p) in phones.iter().enumerate() {
        let r = start_from(&t, &format!("203.0.113.{}", 20 + i), p).await;
        assert_eq!(r.status(), 202);
        let b = body(r).await;
        shapes.push((
            keys(&b),
            b["expiresInSeconds"].clone(),
            b["resendAfterSeconds"].clone(),
        ));
    }
    assert_eq!(t.deliver().await.len(), 3, "{reason}");
    assert!(
        shapes.windows(2).all(|w| w[0] == w[1]),
        "same answer: {shapes:?}"
    );
    assert_eq!(reasons(&t).await, vec![reason.to_string()]);
}

#[tokio::test]
async fn the_country_budget_withholds_sms_with_a_normal_answer() {
    withheld_after_three(small_country_budget, "countryBudgetExceeded").await;
}

#[tokio::test]
async fn the_tenant_budget_withholds_sms_with_a_normal_answer() {
    withheld_after_three(small_tenant_budget, "tenantBudgetExceeded").await;
}

#[tokio::test]
async fn the_tenant_daily_cap_withholds_sms_with_a_normal_answer() {
    withheld_after_three(small_daily_cap, "tenantDailyCapExceeded").await;
}

#[tokio::test]
async fn the_global_budget_withholds_sms_with_a_normal_answer() {
    withheld_after_three(small_global_budget, "globalBudgetExceeded").await;
}

fn no_conversion_watch(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.watch_min_sends_prefix = 1000;
    c.limits.abuse.watch_min_sends_country = 1000;
}

#[tokio::test]
async fn the_prefix_budget_withholds_sms_from_many_ips_with_a_normal_answer() {
    let mut t = spawn_app_with(no_conversion_watch).await;
    let numbers = register(&t, "+1425555", 12).await;
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(
            start_from(&t, &format!("203.0.113.{i}"), n).await.status(),
            202
        );
    }
    assert_eq!(t.deliver().await.len(), 10);
    assert_eq!(
        reasons(&t).await,
        vec!["prefixBudgetExceeded".to_string(); 2]
    );
    // Another prefix still gets codes.
    let other = register(&t, "+1206555", 1).await;
    assert_eq!(
        start_from(&t, "203.0.113.99", &other[0]).await.status(),
        202
    );
    assert_eq!(t.deliver().await.len(), 1);
}

#[tokio::test]
async fn codes_never_verified_pause_their_prefix_and_the_operator_sees_why() {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    let numbers = register(&t, "+1425555", 10).await;
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(
            start_from(&t, &format!("203.0.113.{i}"), n).await.status(),
            202
        );
    }
    assert_eq!(
        t.deliver().await.len(),
        8,
        "the watch judges from 8 codes on"
    );
    assert!(reasons(&t).await.iter().all(|r| r == "conversionPaused"));
    let pauses = t.store.pauses(t.tenant.id, t.clock_now()).await.unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert!(pauses[0].key.ends_with(":+1425555"), "{pauses:?}");
    assert!(
        pauses[0].reason.contains("8 codes sent and 0 verified"),
        "{pauses:?}"
    );
    // After the pause, sending resumes.
    t.advance(Duration::hours(2));
    assert_eq!(
        start_from(&t, "203.0.113.50", &numbers[0]).await.status(),
        202
    );
    assert_eq!(t.deliver().await.len(), 1);
}

fn country_watch_only(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.watch_min_sends_prefix = 1000;
    c.limits.abuse.watch_min_sends_country = 6;
}

#[tokio::test]
async fn codes_never_verified_across_many_prefixes_pause_their_country() {
    let mut t = spawn_app_with(country_watch_only).await;
    t.enable_sms().await;
    // Seven prefixes of +1, one number each: no prefix is watched, the country is.
    let mut phones = Vec::new();
    for i in 0..8 {
        let phone = format!("+1{}5550101", 201 + i * 100);
        let u = t.user(&format!("u{i}@contoso.example")).await;
        t.add_phone(u, textid_core::methods::PhoneType::Mobile, &phone)
            .await;
        phones.push(phone);
    }
    let uk = "+447911123456";
    let u = t.user("uk@contoso.example").await;
    t.add_phone(u, textid_core::methods::PhoneType::Mobile, uk)
        .await;
    for (i, p) in phones.iter().take(7).enumerate() {
        let r = start_from(&t, &format!("203.0.113.{i}"), p).await;
        assert_eq!(r.status(), 202);
    }
    assert_eq!(t.deliver().await.len(), 6, "judged from 6 codes on");
    assert_eq!(reasons(&t).await, vec!["conversionPaused".to_string()]);
    let pauses = t.store.pauses(t.tenant.id, t.clock_now()).await.unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(pauses[0].key, format!("country:{}:1", t.tenant.id));
    assert!(
        pauses[0].reason.contains("6 codes sent and 0 verified"),
        "{pauses:?}"
    );
    // A prefix of +1 that never got a code is paused too: the pause is the country's.
    assert_eq!(
        start_from(&t, "203.0.113.40", &phones[7]).await.status(),
        202
    );
    assert!(t.deliver().await.is_empty());
    // Another country still gets its code.
    assert_eq!(start_from(&t, "203.0.113.41", uk).await.status(), 202);
    assert_eq!(t.deliver().await.len(), 1);
    t.advance(Duration::hours(2));
    assert_eq!(
        start_from(&t, "203.0.113.42", &phones[7]).await.status(),
        202
    );
    assert_eq!(t.deliver().await.len(), 1, "the pause ends");
}

#[tokio::test]
async fn codes_that_are_verified_keep_their_prefix_open() {
    let mut t = spawn_app_with(no_prefix_budget).await;
    let numbers = register(&t, "+1425555", 12).await;
    for (i, n) in numbers.iter().enumerate() {
        let ip = format!("203.0.113.{i}");
        let flow = flow_id(start_from(&t, &ip, n).await).await;
        let code = t.last_code().await;
        assert_eq!(verify_from(&t, &ip, &flow, &code).await.status(), 200);
    }
}

fn no_prefix_budget(c: &mut AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.prefix.limit = 1000;
}

#[tokio::test]
async fn a_country_outside_the_allow_list_gets_no_sms_but_the_same_answer() {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    let us = register(&t, "+1425555", 1).await;
    let uk = "+447911123456";
    let u = t.user("uk@contoso.example").await;
    t.add_phone(u, textid_core::methods::PhoneType::Mobile, uk)
        .await;
    t.set_policy(|p| p.sms.allowed_country_codes = Some(vec![44]))
        .await;
    assert_eq!(start_from(&t, "203.0.113.1", &us[0]).await.status(), 202);
    assert!(t.deliver().await.is_empty(), "+1 is not on the list");
    assert_eq!(start_from(&t, "203.0.113.2", uk).await.status(), 202);
    assert_eq!(t.deliver().await.len(), 1);
    assert_eq!(reasons(&t).await, vec!["countryNotAllowed".to_string()]);
}

/// The answer's shape for `phone`: its keys and its numbers (ids aside).
async fn shape_of_start(t: &TestApp, ip: &str, phone: &str) -> (Vec<String>, String) {
    let r = start_from(t, ip, phone).await;
    assert_eq!(r.status(), 202, "{phone}");
    let b = body(r).await;
    (
        keys(&b),
        format!("{} {}", b["expiresInSeconds"], b["resendAfterSeconds"]),
    )
}

#[tokio::test]
async fn a_tenant_in_gb_without_a_list_sends_no_sms_to_a_us_number_but_answers_alike() {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    t.store
        .set_tenant_region(
            t.tenant.id,
            Some("GB"),
            &textid_store::Actor::cli(),
            t.clock_now(),
        )
        .await
        .unwrap();
    let us = register(&t, "+1425555", 1).await.remove(0);
    let uk = "+447911123456";
    let u = t.user("uk@contoso.example").await;
    t.add_phone(u, textid_core::methods::PhoneType::Mobile, uk)
        .await;
    assert_eq!(
        t.store
            .policy(t.tenant.id)
            .await
            .unwrap()
            .sms
            .allowed_country_codes,
        None
    );
    let withheld = shape_of_start(&t, "203.0.113.1", &us).await;
    assert!(
        t.deliver().await.is_empty(),
        "+1 is not the tenant's country"
    );
    let sent = shape_of_start(&t, "203.0.113.2", uk).await;
    assert_eq!(t.deliver().await.len(), 1, "+44 is");
    assert_eq!(withheld, sent);
    assert_eq!(reasons(&t).await, vec!["countryNotAllowed".to_string()]);
}

#[tokio::test]
async fn a_tenant_without_a_region_or_list_sends_no_sms_to_an_international_network() {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    assert_eq!(t.tenant.default_region, None);
    let us = register(&t, "+1425555", 1).await.remove(0);
    // +882: International Networks, a favourite of SMS pumping (no country, high rates).
    let satellite = "+8823421234";
    let u = t.user("sat@contoso.example").await;
    t.add_phone(u, textid_core::methods::PhoneType::Mobile, satellite)
        .await;
    let withheld = shape_of_start(&t, "203.0.113.1", satellite).await;
    assert!(t.deliver().await.is_empty(), "+882 is not geographic");
    let sent = shape_of_start(&t, "203.0.113.2", &us).await;
    assert_eq!(t.deliver().await.len(), 1, "+1 is");
    assert_eq!(withheld, sent);
    assert_eq!(reasons(&t).await, vec!["countryNotAllowed".to_string()]);
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let t = spawn_app().await;
    t.enable_sms().await;
    for i in 0..30 {
        let r = start_from(
            &t,
            &format!("192.0.2.{i}"),
            &format!("+1425{:03}0101", 200 + i),
        )
        .await;
        assert_eq!(r.status(), 202);
    }
    let r = start_from(&t, "192.0.2.200", "+14253000101").await;
    expect_error(r, 429, "tooManyRequests").await;
    let logs = t.sign_in_logs().await;
    assert!(logs
        .iter()
        .all(|l| l.client_ip.as_deref() == Some("127.0.0.1")));
}

fn test_numbers_on(c: &mut AppConfig) {
    c.test_numbers = true;
}

async fn add_test_number(t: &TestApp, phone: &str) {
    t.store
        .put_test_number(
            t.tenant.id,
            &textid_store::TestNumber {
                phone: phone.into(),
                code: "424242".into(),
                created_at: t.clock_now(),
            },
            &textid_store::Actor::cli(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_enabled_test_number_signs_in_with_its_fixed_code_and_gets_no_sms() {
    let mut t = spawn_app_with(test_numbers_on).await;
    let phone = register(&t, "+1425555", 1).await.remove(0);
    add_test_number(&t, &phone).await;
    let flow = t.start_flow(&phone).await;
    assert!(t.deliver().await.is_empty());
    assert_eq!(t.verify(&flow, "424242").await.status(), 200);
}

#[tokio::test]
async fn a_test_number_is_an_ordinary_number_unless_the_operator_enabled_test_numbers() {
    let mut t = spawn_app().await;
    let phone = register(&t, "+1425555", 1).await.remove(0);
    add_test_number(&t, &phone).await;
    let flow = t.start_flow(&phone).await;
    let code = t.last_code().await;
    if code != "424242" {
        expect_error(t.verify(&flow, "424242").await, 400, "invalidCode").await;
    }
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
}

#[tokio::test]
async fn a_guesser_on_one_ip_is_stopped_early_while_the_owner_elsewhere_signs_in() {
    let mut t = spawn_app_with(behind_loopback_proxy).await;
    let ana = register(&t, "+1425555", 1).await.remove(0);
    // The attacker guesses on flows it starts itself (the owner's phone gets those codes).
    let flow = flow_id(start_from(&t, ATTACKER, &ana).await).await;
    let bad = wrong(&t.last_code().await);
    for _ in 0..5 {
        expect_error(
            verify_from(&t, ATTACKER, &flow, &bad).await,
            400,
            "invalidCode",
        )
        .await;
    }
    t.advance(Duration::seconds(30));
    assert_eq!(
        t.post_from(ATTACKER, "/resend", &json!({ "flowId": flow }))
            .await
            .status(),
        202
    );
    let bad = wrong(&t.last_code().await);
    for _ in 0..5 {
        expect_error(
            verify_from(&t, ATTACKER, &flow, &bad).await,
            400,
            "invalidCode",
        )
        .await;
    }
    // Ten failures from this IP: it is stopped for this number, right code or not.
    let e = expect_error(
        verify_from(&t, ATTACKER, &flow, &bad).await,
        429,
        "temporarilyLocked",
    )
    .await;
    assert_eq!(e.retry_after, Some(15 * 60));
    // Its starts for the number send nothing (202 all the same).
    assert_eq!(start_from(&t, ATTACKER, &ana).await.status(), 202);
    assert!(t.deliver().await.is_empty());
    // The owner, on another IP, signs in at once.
    let owner = "203.0.113.7";
    let flow = flow_id(start_from(&t, owner, &ana).await).await;
    let code = t.last_code().await;
    assert_eq!(verify_from(&t, owner, &flow, &code).await.status(), 200);
    assert!(reasons(&t).await.iter().any(|r| r == "clientLocked"));
    let locks = t.store.locks(t.tenant.id, t.clock_now()).await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].client_ip.as_deref(), Some(ATTACKER));
}

fn relaxed_budgets(c: &mut AppConfig) {
    no_conversion_watch(c);
    c.limits.abuse.prefix.limit = 1000;
    c.limits.sends_per_window = 100;
}

#[tokio::test]
async fn the_number_lock_needs_fifty_failures_lasts_minutes_and_sends_no_sms_meanwhile() {
    let mut t = spawn_app_with(relaxed_budgets).await;
    let ana = register(&t, "+1425555", 1).await.remove(0);
    // Ten clients, five wrong codes each: none is stopped on its own, the number is.
    for i in 0..10 {
        let ip = format!("198.51.100.{i}");
        let flow = flow_id(start_from(&t, &ip, &ana).await).await;
        let bad = wrong(&t.last_code().await);
        for _ in 0..5 {
            expect_error(verify_from(&t, &ip, &flow, &bad).await, 400, "invalidCode").await;
        }
    }
    // Locked: no SMS for a start, and the answer is a normal one.
    let owner = "203.0.113.7";
    let flow = flow_id(start_from(&t, owner, &ana).await).await;
    assert!(t.deliver().await.is_empty(), "no SMS to a locked number");
    let locks = t.store.locks(t.tenant.id, t.clock_now()).await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    let left = locks[0].locked_until - t.clock_now();
    assert!(left <= Duration::minutes(15), "minutes, not a day: {left}");
    let _ = flow;
    // The admin sees why the owner got no code: the number's lock, not a client's.
    let reasons = reasons(&t).await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "numberLocked").count(),
        1,
        "{reasons:?}"
    );
    assert!(!reasons.iter().any(|r| r == "clientLocked"), "{reasons:?}");
    // An admin clears it; the owner signs in.
    assert!(t
        .store
        .clear_lock(
            t.tenant.id,
            &ana,
            &textid_store::Actor::cli(),
            t.clock_now()
        )
        .await
        .unwrap());
    let flow = flow_id(start_from(&t, owner, &ana).await).await;
    let code = t.last_code().await;
    assert_eq!(verify_from(&t, owner, &flow, &code).await.status(), 200);
}

#[tokio::test]
async fn a_number_lock_ends_by_itself_within_minutes() {
    let mut t = spawn_app_with(relaxed_budgets).await;
    let ana = register(&t, "+1425555", 1).await.remove(0);
    for i in 0..10 {
        let ip = format!("198.51.100.{i}");
        let flow = flow_id(start_from(&t, &ip, &ana).await).await;
        let bad = wrong(&t.last_code().await);
        for _ in 0..5 {
            let r = verify_from(&t, &ip, &flow, &bad).await;
            assert!(r.status() == 400 || r.status() == 429);
        }
    }
    let owner = "203.0.113.7";
    assert_eq!(start_from(&t, owner, &ana).await.status(), 202);
    assert!(t.deliver().await.is_empty(), "locked");
    t.advance(Duration::minutes(5));
    let flow = flow_id(start_from(&t, owner, &ana).await).await;
    let code = t.last_code().await;
    assert_eq!(verify_from(&t, owner, &flow, &code).await.status(), 200);
}
