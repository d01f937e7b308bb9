//! Two `textid serve` processes on one PostgreSQL database (issue #13): any node serves
//! any step of any flow, and no rule breaks when the nodes race.

use serde_json::json;

use crate::fleet::{self, Fleet};
use crate::harness::{fresh_database, missing, Need};

const ANA: &str = "+14255550101";

fn needs() -> bool {
    missing(&[Need::SystemPostgres])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flow_started_on_one_node_is_verified_on_the_other() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    let users = fleet.provision(&[("ana", ANA)]);
    let client = reqwest::Client::new();

    let flow = fleet::start(&client, fleet.url(0), ANA).await;
    let code = fleet.sms.code_for(ANA, 0).await;
    let (status, body) = fleet::sign_in(
        &client,
        fleet.url(1),
        "/verify",
        json!({"flowId": flow, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userId"], users["ana"].as_str());

    // And the other way round, with a resend in between on the first node.
    let before = fleet.sms.seen().len();
    let flow = fleet::start(&client, fleet.url(1), ANA).await;
    fleet.sms.code_for(ANA, before).await;
    let sent = fleet.sms.seen().len();
    let (status, body) =
        fleet::sign_in(&client, fleet.url(0), "/resend", json!({ "flowId": flow })).await;
    // The resend cooldown is 30 s: a resend right away is refused the same on any node.
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "tooManyRequests");
    assert_eq!(fleet.sms.seen().len(), sent, "no SMS for a refused resend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_right_codes_across_two_nodes_give_exactly_one_session() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    let numbers = fleet.provision_many("racer", 200, 3);
    let client = reqwest::Client::new();
    let mut rounds_with_a_winner = 0;
    for number in &numbers {
        let before = fleet.sms.seen().len();
        let flow = fleet::start(&client, fleet.url(0), number).await;
        let code = fleet.sms.code_for(number, before).await;
        let attempts = (0..20).map(|i| {
            let (client, base) = (client.clone(), fleet.url(i % 2).to_string());
            let body = json!({"flowId": flow, "code": code});
            tokio::spawn(async move { fleet::sign_in(&client, &base, "/verify", body).await })
        });
        let mut statuses = Vec::new();
        for a in attempts {
            statuses.push(a.await.unwrap().0);
        }
        let won = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(won, 1, "exactly one session per code: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 404 || *s == 400),
            "the others see a finished flow: {statuses:?}"
        );
        rounds_with_a_winner += usize::from(won == 1);
    }
    assert_eq!(rounds_with_a_winner, numbers.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_leave_the_code_dead_at_exactly_the_attempt_limit() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    fleet.provision(&[("ana", ANA)]);
    let client = reqwest::Client::new();
    let flow = fleet::start(&client, fleet.url(0), ANA).await;
    let code = fleet.sms.code_for(ANA, 0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let (client, base) = (client.clone(), fleet.url(i % 2).to_string());
            let body = json!({"flowId": flow, "code": wrong});
            tokio::spawn(async move { fleet::sign_in(&client, &base, "/verify", body).await })
        })
        .collect();
    let mut codes = Vec::new();
    for a in attempts {
        let (status, body) = a.await.unwrap();
        assert!(status == 400 || status == 429, "{status} {body}");
        codes.push(
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let invalid = codes.iter().filter(|c| *c == "invalidCode").count();
    assert_eq!(
        invalid, 5,
        "exactly max_attempts_per_code wrong tries are counted: {codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| c == "invalidCode" || c == "tooManyAttempts" || c == "temporarilyLocked"),
        "{codes:?}"
    );
    let (status, body) = fleet::sign_in(
        &client,
        fleet.url(1),
        "/verify",
        json!({"flowId": flow, "code": code}),
    )
    .await;
    assert!(
        status == 400 || status == 429,
        "the right code no longer works: {status} {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_number_added_to_two_users_at_once_through_both_nodes_has_exactly_one_winner() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    fleet.cli(&["policy", "sms", "--state", "enabled"]);
    let admin = fleet.cli(&[
        "client",
        "create",
        "--name",
        "Admin automation",
        "--grant",
        "client_credentials",
        "--role",
        "UserAuthenticationMethod.ReadWrite.All",
    ]);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/default/oauth2/v2.0/token", fleet.url(0)))
        .basic_auth(
            admin["clientId"].as_str().unwrap(),
            admin["clientSecret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let mut rounds_with_a_winner = 0;
    for round in 0..4 {
        let upns = [
            format!("a{round}@contoso.example"),
            format!("b{round}@contoso.example"),
        ];
        for upn in &upns {
            fleet.cli(&["user", "create", "--upn", upn, "--display-name", "Racer"]);
        }
        let number = format!("+1 425 555 {:04}", 300 + round);
        let adds: Vec<_> = upns
            .iter()
            .enumerate()
            .map(|(node, upn)| {
                let url = format!(
                    "{}/v1.0/users/{upn}/authentication/phoneMethods",
                    fleet.url(node)
                );
                let request = http
                    .post(url)
                    .bearer_auth(&token)
                    .json(&json!({"phoneNumber": number, "phoneType": "mobile"}));
                tokio::spawn(async move {
                    let res = request.send().await.unwrap();
                    let status = res.status().as_u16();
                    (
                        status,
                        res.json::<serde_json::Value>().await.unwrap_or_default(),
                    )
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for add in adds {
            outcomes.push(add.await.unwrap());
        }
        let won = outcomes.iter().filter(|o| o.0 == 201).count();
        assert_eq!(won, 1, "exactly one add wins: {outcomes:?}");
        let lost = outcomes.iter().find(|o| o.0 != 201).unwrap();
        assert_eq!(lost.0, 409, "the loser is a conflict: {lost:?}");
        assert_eq!(
            lost.1["error"]["code"], "phoneNumberNotUnique",
            "the loser is told why: {lost:?}"
        );
        rounds_with_a_winner += usize::from(won == 1);
    }
    assert_eq!(rounds_with_a_winner, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_messages_are_delivered_exactly_once_with_both_workers_running() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    let numbers = fleet.provision_many("u", 400, 24);
    let client = reqwest::Client::new();
    let starts: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (client, base, n) = (client.clone(), fleet.url(i % 2).to_string(), n.clone());
            tokio::spawn(async move { fleet::start(&client, &base, &n).await })
        })
        .collect();
    for s in starts {
        s.await.unwrap();
    }
    let seen = fleet
        .sms
        .wait_for("24 messages", |s| s.len() >= numbers.len())
        .await;
    // Every message is finished (delivered) in the database: nothing is still claimed
    // that could be sent a second time. (The receiver answers before the worker records
    // the outcome, so the last rows may need a moment.)
    crate::harness::wait_until(
        "every message recorded as delivered",
        crate::harness::DEADLINE,
        || {
            let listed = fleet.cli(&["outbox", "list", "--limit", "100"]);
            let rows = listed["value"].as_array().unwrap();
            rows.len() == numbers.len() && rows.iter().all(|r| r["status"] == "delivered")
        },
    );
    let mut ids: Vec<String> = fleet.sms.seen().into_iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), numbers.len(), "no message twice: {seen:?}");
    assert_eq!(fleet.sms.seen().len(), numbers.len(), "no message twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_while_delivering_leaves_its_messages_to_the_other_within_fifteen_seconds() {
    if needs() {
        return;
    }
    let db = fresh_database();
    let mut fleet = Fleet::start(db.url(), 1).await;
    fleet.provision(&[("ana", ANA)]);
    let client = reqwest::Client::new();
    fleet.sms.hold(true);
    let flow = fleet::start(&client, fleet.url(0), ANA).await;
    // The first node is delivering the message (queued leased to its own worker and
    // handed over in memory; the receiver holds it).
    let first = fleet.sms.wait_for("the first try", |s| !s.is_empty()).await;
    fleet.nodes[0].kill().await;
    let killed_at = tokio::time::Instant::now();
    fleet.sms.hold(false);
    let second = fleet.add_node().await;
    let again = fleet
        .sms
        .wait_for("the same message from the other node", |s| s.len() >= 2)
        .await;
    let waited = killed_at.elapsed();
    assert_eq!(
        again[1].id, first[0].id,
        "the same message, same idempotency key"
    );
    assert!(
        waited <= std::time::Duration::from_secs(15),
        "delivered by the other node {waited:?} after the kill"
    );
    let (status, body) = fleet::sign_in(
        &client,
        fleet.url(second),
        "/verify",
        json!({"flowId": flow, "code": again[1].code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A browser whose requests go to whichever node the test names (a load balancer without
/// stickiness): one cookie jar, redirects not followed.
struct Browser {
    http: reqwest::Client,
    cookies: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Page {
    fn input(&self, name: &str) -> String {
        let at = self
            .body
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body));
        let tag_start = self.body[..at].rfind('<').unwrap();
        let tag = &self.body[tag_start..at + self.body[at..].find('>').unwrap()];
        let v = tag.find("value=\"").expect("a value") + "value=\"".len();
        tag[v..v + tag[v..].find('"').unwrap()].to_string()
    }
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: std::sync::Mutex::default(),
        }
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Page {
        let jar = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !jar.is_empty() {
            request = request.header("cookie", jar);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let mut parts = set.split(';');
            let (name, value) = parts.next().unwrap().trim().split_once('=').unwrap();
            let deleted = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            let mut jar = self.cookies.lock().unwrap();
            if deleted {
                jar.remove(name);
            } else {
                jar.insert(name.into(), value.into());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, base: &str, path: &str) -> Page {
        self.send(self.http.get(format!("{base}{path}"))).await
    }

    async fn post(&self, base: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_sign_in_through_the_pages_alternates_between_the_nodes() {
    use base64::Engine as _;
    use sha2::Digest as _;
    if needs() {
        return;
    }
    let db = fresh_database();
    let fleet = Fleet::start(db.url(), 2).await;
    fleet.provision(&[("ana", ANA)]);
    let redirect = "http://127.0.0.1:4000/callback";
    let client = fleet.cli(&[
        "client",
        "create",
        "--name",
        "Web app",
        "--type",
        "confidential",
        "--redirect-uri",
        redirect,
    ]);
    let (id, secret) = (
        client["clientId"].as_str().unwrap().to_string(),
        client["clientSecret"].as_str().unwrap().to_string(),
    );
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", redirect),
            ("scope", "openid"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let (a, b) = (fleet.url(0).to_string(), fleet.url(1).to_string());
    let browser = Browser::new();

    let authorize = browser
        .get(&a, &format!("/default/oauth2/v2.0/authorize?{query}"))
        .await;
    assert!(
        authorize.location.starts_with("/default/login?request="),
        "{} {}",
        authorize.status,
        authorize.location
    );
    let login = browser.get(&b, &authorize.location).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let (request, csrf) = (login.input("request"), login.input("csrf"));
    let phone = browser
        .post(
            &a,
            "/default/login",
            &[("request", &request), ("csrf", &csrf), ("phoneNumber", ANA)],
        )
        .await;
    assert_eq!(
        phone.location,
        format!("/default/login/code?request={request}")
    );
    let code_page = browser.get(&b, &phone.location).await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    let code = fleet.sms.code_for(ANA, 0).await;
    let done = browser
        .post(
            &a,
            "/default/login/code",
            &[("request", &request), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert!(
        done.location.starts_with(redirect),
        "{} {}",
        done.status,
        done.body
    );
    let callback = url::Url::parse(&done.location).unwrap();
    let params: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "s1");

    let token = reqwest::Client::new()
        .post(format!("{b}/default/oauth2/v2.0/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let tokens: serde_json::Value = token.json().await.unwrap();
    assert!(tokens["id_token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));
}
