//! Graph's query options on `/v1.0/users` and `/v1.0/groups` (issue #17) through real
//! HTTP, against a directory of a few hundred users: every answer is compared with the
//! result computed here, in the test, from the users it created (never from the store),
//! reading every page through `@odata.nextLink`.

use reqwest::Method;
use serde_json::{json, Value};
use textid_core::directory::{Upn, User};
use textid_core::UserId;

use crate::graph::app_token;
use crate::oidc_helpers::{spawn_oidc, OidcApp};

/// What a test knows of a user, from its own data.
#[derive(Debug, Clone)]
struct Person {
    id: String,
    upn: String,
    name: String,
    enabled: bool,
    mobile: Option<String>,
    business: Vec<String>,
}

const FIRST: [&str; 8] = ["Ana", "Bo", "Jo", "Mai", "Maria", "Noor", "Pat", "Zoe"];
const LAST: [&str; 5] = ["Lima", "Ng", "Okafor", "Silva", "Adams"];

/// The people already in the tenant, read once through the API, and 260 new ones with
/// varied profiles: every third disabled, every fourth without a mobile, every fifth with
/// a business phone.
async fn directory(t: &OidcApp, tok: &str) -> Vec<Person> {
    let mut people: Vec<Person> = all_pages(t, tok, "/v1.0/users?$top=999", false)
        .await
        .iter()
        .map(person)
        .collect();
    for i in 0..260u32 {
        let name = format!("{} {}", FIRST[(i % 8) as usize], LAST[(i / 8 % 5) as usize]);
        let u = User {
            id: UserId(uuid::Uuid::new_v4()),
            tenant_id: t.tenant.id,
            upn: Upn::parse(&format!("u{i}@q.example")).unwrap(),
            display_name: name,
            account_enabled: i % 3 != 0,
            mobile_phone: (i % 4 != 0).then(|| format!("+1 425 555 {i:04}")),
            business_phones: if i % 5 == 0 {
                vec![format!("+1 206 555 {i:04}")]
            } else {
                vec![]
            },
            on_premises_sync_enabled: false,
            profile: Default::default(),
        };
        t.app
            .store()
            .create_user(&u, &textid_store::Actor::cli(), t.clock_now())
            .await
            .unwrap();
        people.push(Person {
            id: u.id.0.to_string(),
            upn: u.upn.as_str().to_owned(),
            name: u.display_name.clone(),
            enabled: u.account_enabled,
            mobile: u.mobile_phone.clone(),
            business: u.business_phones.clone(),
        });
    }
    people
}

fn person(v: &Value) -> Person {
    Person {
        id: v["id"].as_str().unwrap().to_owned(),
        upn: v["userPrincipalName"].as_str().unwrap().to_owned(),
        name: v["displayName"].as_str().unwrap().to_owned(),
        enabled: v["accountEnabled"].as_bool().unwrap(),
        mobile: v["mobilePhone"].as_str().map(str::to_owned),
        business: v["businessPhones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().to_owned())
            .collect(),
    }
}

async fn get(
    t: &OidcApp,
    tok: &str,
    url: &str,
    eventual: bool,
) -> (u16, reqwest::header::HeaderMap, String) {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        t.url(url)
    };
    let mut req = t.http.request(Method::GET, url).bearer_auth(tok);
    if eventual {
        req = req.header("ConsistencyLevel", "eventual");
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

/// Every row of every page, following `@odata.nextLink` (at most 100 pages).
async fn all_pages(t: &OidcApp, tok: &str, first: &str, eventual: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        pages += 1;
        assert!(pages <= 100, "paging does not end: {first}");
        let (status, _, body) = get(t, tok, &url, eventual).await;
        assert_eq!(status, 200, "{url}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        rows.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    rows
}

fn upns(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["userPrincipalName"].as_str().unwrap().to_owned())
        .collect()
}

fn expected(people: &[Person], keep: impl Fn(&Person) -> bool) -> Vec<String> {
    let mut v: Vec<String> = people
        .iter()
        .filter(|p| keep(p))
        .map(|p| p.upn.clone())
        .collect();
    v.sort();
    v
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

#[tokio::test]
async fn filters_select_what_the_test_computes_page_by_page() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.Read.All"]).await;
    let people = directory(&t, &tok).await;
    type Keep = Box<dyn Fn(&Person) -> bool>;
    let cases: Vec<(&str, bool, Keep)> = vec![
        ("accountEnabled eq false", false, Box::new(|p| !p.enabled)),
        ("startswith(displayName,'ma')", false, Box::new(|p| lower(&p.name).starts_with("ma"))),
        ("displayName eq 'maria lima'", false, Box::new(|p| lower(&p.name) == "maria lima")),
        (
            "displayName ge 'M' and displayName le 'N'",
            false,
            Box::new(|p| lower(&p.name).as_str() >= "m" && lower(&p.name).as_str() <= "n"),
        ),
        (
            "businessPhones/any(p:startswith(p,'+1 206'))",
            false,
            Box::new(|p| p.business.iter().any(|b| b.starts_with("+1 206"))),
        ),
        (
            "accountEnabled eq true and (startswith(displayName,'Jo') or startswith(displayName,'Zoe'))",
            false,
            Box::new(|p| p.enabled && (p.name.starts_with("Jo") || p.name.starts_with("Zoe"))),
        ),
        (
            "userPrincipalName in ('u1@q.example', 'U2@Q.EXAMPLE', 'nobody@q.example')",
            false,
            Box::new(|p| p.upn == "u1@q.example" || p.upn == "u2@q.example"),
        ),
        ("mobilePhone eq null", true, Box::new(|p| p.mobile.is_none())),
        ("not startswith(displayName,'Ma')", true, Box::new(|p| !lower(&p.name).starts_with("ma"))),
        ("endswith(userPrincipalName,'7@q.example')", true, Box::new(|p| p.upn.ends_with("7@q.example"))),
        ("displayName ne 'Bo Ng' and accountEnabled eq true", true, Box::new(|p| lower(&p.name) != "bo ng" && p.enabled)),
    ];
    let mut nonempty = 0;
    for (filter, advanced, keep) in cases {
        let want = expected(&people, keep);
        nonempty += usize::from(!want.is_empty());
        let mut url = format!("/v1.0/users?$top=23&$filter={}", urlencode(filter));
        if advanced {
            url.push_str("&$count=true");
        }
        let rows = all_pages(&t, &tok, &url, advanced).await;
        assert_eq!(upns(&rows), want, "{filter}");
    }
    assert!(nonempty >= 10, "the cases select something");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_filtered_ordered_selected_listing_pages_with_its_options_and_counts() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.Read.All"]).await;
    let people = directory(&t, &tok).await;
    let filter = "accountEnabled eq true";
    let url = format!(
        "/v1.0/users?$filter={}&$orderby=displayName%20desc&$select=displayName,mobilePhone&$top=17&$count=true",
        urlencode(filter)
    );
    let (status, _, first) = get(&t, &tok, &url, true).await;
    assert_eq!(status, 200, "{first}");
    let first: Value = serde_json::from_str(&first).unwrap();
    let enabled: Vec<&Person> = people.iter().filter(|p| p.enabled).collect();
    assert_eq!(first["@odata.count"], json!(enabled.len()));
    let next = first["@odata.nextLink"].as_str().unwrap();
    for option in [
        "$filter=",
        "$orderby=",
        "$select=",
        "$top=17",
        "$count=true",
        "$skiptoken=",
    ] {
        assert!(next.contains(option), "nextLink keeps {option}: {next}");
    }
    let rows = all_pages(&t, &tok, &url, true).await;
    for r in &rows {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["displayName", "id", "mobilePhone"], "{r}");
    }
    let mut want = enabled.clone();
    want.sort_by(|a, b| (lower(&b.name), &b.id).cmp(&(lower(&a.name), &a.id)));
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = want.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(got, want);

    let (status, headers, text) = get(
        &t,
        &tok,
        &format!("/v1.0/users/$count?$filter={}", urlencode(filter)),
        true,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(text, enabled.len().to_string());
    let (_, _, all) = get(&t, &tok, "/v1.0/users/$count", true).await;
    assert_eq!(all, people.len().to_string());
}

#[tokio::test]
async fn search_matches_words_of_names_and_addresses() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.Read.All"]).await;
    let people = directory(&t, &tok).await;
    let words = |s: &str| -> Vec<String> {
        lower(s)
            .split([' ', '.', '@', '_', '-'])
            .map(str::to_owned)
            .collect()
    };
    let url = format!(
        "/v1.0/users?$search={}",
        urlencode("\"displayName:oka\" OR \"displayName:noo\"")
    );
    let rows = all_pages(&t, &tok, &url, true).await;
    let want = expected(&people, |p| {
        words(&p.name)
            .iter()
            .any(|w| w.starts_with("oka") || w.starts_with("noo"))
    });
    assert!(!want.is_empty());
    assert_eq!(upns(&rows), want);
    let (status, _, body) = get(&t, &tok, &url, false).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ConsistencyLevel"), "{body}");
}

#[tokio::test]
async fn queries_graph_does_not_allow_are_refused_as_graph_refuses_them() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.Read.All", "Group.Read.All"]).await;
    for (url, eventual, code) in [
        (
            "/v1.0/users?$filter=displayName ne 'x'",
            false,
            "Request_UnsupportedQuery",
        ),
        (
            "/v1.0/users?$filter=endswith(userPrincipalName,'x')",
            false,
            "Request_UnsupportedQuery",
        ),
        (
            "/v1.0/users?$filter=contains(displayName,'x')",
            true,
            "Request_UnsupportedQuery",
        ),
        (
            "/v1.0/users?$filter=startswith(accountEnabled,'t')",
            false,
            "Request_UnsupportedQuery",
        ),
        (
            "/v1.0/users?$filter=accountEnabled eq true&$orderby=displayName",
            false,
            "Request_UnsupportedQuery",
        ),
        ("/v1.0/users?$filter=displayName eq", false, "BadRequest"),
        ("/v1.0/users?$filter=shoeSize eq 'x'", false, "BadRequest"),
        ("/v1.0/users?$select=shoeSize", false, "BadRequest"),
        ("/v1.0/users?$orderby=mobilePhone", false, "BadRequest"),
        ("/v1.0/users?$top=1000", false, "BadRequest"),
        ("/v1.0/users?$skiptoken=bm9wZQ", false, "BadRequest"),
        ("/v1.0/users?$count=true", false, "BadRequest"),
        ("/v1.0/users/$count", false, "Request_BadRequest"),
        (
            "/v1.0/groups?$filter=displayName ne 'x'",
            false,
            "Request_UnsupportedQuery",
        ),
    ] {
        let (status, _, body) = get(&t, &tok, url, eventual).await;
        assert_eq!(status, 400, "{url}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], code, "{url}: {body}");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("shoeSize"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn groups_are_filtered_ordered_and_counted() {
    let t = spawn_oidc().await;
    let (_, admin) = app_token(&t, &["Group.ReadWrite.All"]).await;
    for name in ["Nurses", "Night nurses", "Porters", "Cleaners"] {
        let res = t
            .http
            .post(t.url("/v1.0/groups"))
            .bearer_auth(&admin)
            .json(&json!({"displayName": name, "mailEnabled": false, "mailNickname": "x", "securityEnabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let names = |rows: Vec<Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["displayName"].as_str().unwrap().to_owned())
            .collect()
    };
    let rows = all_pages(
        &t,
        &admin,
        "/v1.0/groups?$filter=displayName eq 'Nurses'",
        false,
    )
    .await;
    assert_eq!(names(rows), ["Nurses"]);
    let rows = all_pages(
        &t,
        &admin,
        "/v1.0/groups?$orderby=displayName desc&$top=3",
        false,
    )
    .await;
    assert_eq!(
        names(rows),
        ["Porters", "Nurses", "Night nurses", "Cleaners"]
    );
    let (_, _, n) = get(
        &t,
        &admin,
        "/v1.0/groups/$count?$filter=startswith(displayName,'n')",
        true,
    )
    .await;
    assert_eq!(n, "2");
}

#[tokio::test]
async fn every_answer_names_the_request_and_errors_echo_the_clients_id() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, &["User.Read.All"]).await;
    let send = |path: &str, client: Option<&str>| {
        let mut req = t.http.get(t.url(path)).bearer_auth(&tok);
        if let Some(c) = client {
            req = req.header("client-request-id", c);
        }
        req.send()
    };
    let ok = send("/v1.0/users", Some("3f1c2d9e-aaaa-4bbb-8ccc-123456789abc"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok_id = ok.headers()["request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&ok_id).is_ok());
    assert_eq!(
        ok.headers()["client-request-id"],
        "3f1c2d9e-aaaa-4bbb-8ccc-123456789abc"
    );

    let bad = send("/v1.0/users?$top=0", Some("script-run-42"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let header_id = bad.headers()["request-id"].to_str().unwrap().to_owned();
    assert_ne!(header_id, ok_id, "each request has its own id");
    let body: Value = bad.json().await.unwrap();
    let inner = &body["error"]["innerError"];
    assert_eq!(inner["request-id"], json!(header_id));
    assert_eq!(inner["client-request-id"], "script-run-42");
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date, t.clock_now().format("%Y-%m-%dT%H:%M:%S").to_string());

    // A value that is not a short visible token is not reflected.
    let odd = send("/v1.0/users?$top=0", Some(&"x".repeat(101)))
        .await
        .unwrap();
    assert!(odd.headers().get("client-request-id").is_none());
    let body: Value = odd.json().await.unwrap();
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        body["error"]["innerError"]["request-id"]
    );
}
