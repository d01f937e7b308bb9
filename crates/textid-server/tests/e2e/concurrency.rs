//! Concurrent requests against the real database: a code is consumed exactly once, every
//! wrong try is counted, and the send budget holds under a burst (DESIGN.md §3, §5: the
//! decisions run in one write transaction, no read-then-write).

use crate::helpers::{expect_error, spawn_app, wrong};

const ANA: &str = "+1 425 555 0101";

/// Runs every request on its own task at once; the answers in request order.
async fn join_all<T: Send + 'static>(
    requests: impl IntoIterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = requests.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_right_answers_sign_in_exactly_once() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    let url = format!("{}/default/api/v1/sign-in/sms/verify", t.base);
    let requests = (0..8).map(|_| {
        let (http, url) = (t.http.clone(), url.clone());
        let body = serde_json::json!({ "flowId": flow, "code": code });
        async move { http.post(url).json(&body).send().await.unwrap() }
    });
    let mut statuses: Vec<u16> = join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 404, 404, 404, 404, 404, 404, 404]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_are_each_counted() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    let url = format!("{}/default/api/v1/sign-in/sms/verify", t.base);
    let requests = (0..12).map(|_| {
        let (http, url) = (t.http.clone(), url.clone());
        let body = serde_json::json!({ "flowId": flow, "code": wrong(&code) });
        async move { http.post(url).json(&body).send().await.unwrap() }
    });
    let responses = join_all(requests).await;
    let invalid = responses.iter().filter(|r| r.status() == 400).count();
    assert_eq!(invalid, 12, "all refused as 400");
    expect_error(t.verify(&flow, &code).await, 400, "tooManyAttempts").await;
    let logged = t.sign_in_logs().await;
    let counted = logged
        .iter()
        .filter(|l| l.failure_reason.as_deref() == Some("invalidCode"))
        .count();
    assert_eq!(counted, 5, "exactly the code's five tries were spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_starts_for_one_number_cannot_exceed_the_send_budget() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let url = format!("{}/default/api/v1/sign-in/sms", t.base);
    let requests = (0..12).map(|_| {
        let (http, url) = (t.http.clone(), url.clone());
        async move {
            http.post(url)
                .json(&serde_json::json!({ "phoneNumber": ANA }))
                .send()
                .await
                .unwrap()
        }
    });
    let mut statuses: Vec<u16> = join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [202, 202, 202, 202, 202, 429, 429, 429, 429, 429, 429, 429]
    );
    assert_eq!(t.deliver().await.len(), 5);
}
