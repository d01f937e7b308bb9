//! SCIM 2.0 provisioning (issue #16) through real HTTP: who may provision (401/403 in
//! SCIM's error shape), users and groups round-tripping, filters, paging, ETags, Entra's
//! habits, and seed 003's four rules for a synced user's numbers, observed through the
//! Graph API, plus the conflict with another user's sign-in number (`scim/numbers.rs`).

mod numbers;

use reqwest::Method;
use serde_json::{json, Value};

use crate::graph::app_token;
use crate::oidc_helpers::{spawn_oidc, OidcApp, ANA};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Scim {
    t: OidcApp,
    token: String,
    graph: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn scim_app() -> Scim {
    let t = spawn_oidc().await;
    let (_, token) = app_token(&t, &["Provisioning.ReadWrite.All"]).await;
    let (_, graph) = app_token(
        &t,
        &[
            "User.ReadWrite.All",
            "Group.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
    )
    .await;
    Scim { t, token, graph }
}

impl Scim {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut req = self
            .t
            .http
            .request(method, self.t.url(&format!("/default/scim/v2{path}")));
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(method, path, Some(&self.token), body, None).await
    }

    async fn create(&self, user: Value) -> Value {
        let a = self.call(Method::POST, "/Users", Some(user)).await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body
    }

    async fn patch(&self, id: &str, ops: Value) -> Answer {
        self.call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
        .await
    }

    async fn graph(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) =
            crate::graph::call(&self.t, method, path, Some(&self.graph), body).await;
        (status, body)
    }

    /// The user's phone methods through Graph: phoneType → number.
    async fn methods(&self, id: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .graph(
                Method::GET,
                &format!("/v1.0/users/{id}/authentication/phoneMethods"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let mut list: Vec<(String, String)> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["phoneType"].as_str().unwrap().into(),
                    m["phoneNumber"].as_str().unwrap().into(),
                )
            })
            .collect();
        list.sort();
        list
    }

    async fn audits(&self) -> Vec<textid_store::AuditEntry> {
        self.t
            .app
            .store()
            .directory_audits(self.t.tenant.id, &textid_store::LogQuery::latest(100))
            .await
            .unwrap()
    }
}

fn user(name: &str, mobile: Option<&str>, work: Option<&str>) -> Value {
    let mut phones = Vec::new();
    if let Some(m) = mobile {
        phones.push(json!({"value": m, "type": "mobile"}));
    }
    if let Some(w) = work {
        phones.push(json!({"value": w, "type": "work"}));
    }
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": format!("hr-{name}"),
        "userName": format!("{name}@contoso.example"),
        "displayName": name,
        "active": true,
        "name": {"givenName": name, "familyName": "Doe"},
        "emails": [{"value": format!("{name}@contoso.example"), "type": "work", "primary": true}],
        "phoneNumbers": phones,
        ENTERPRISE: {"employeeNumber": format!("E-{name}"), "department": "Ops"},
    })
}

fn assert_scim_error(a: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([ERROR]), "{}", a.body);
    assert_eq!(a.body["status"], status.to_string());
    assert!(a.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(a.body["scimType"].as_str(), scim_type, "{}", a.body);
    assert!(a.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/scim+json"));
}

#[tokio::test]
async fn only_an_app_with_the_provisioning_role_may_provision() {
    let s = scim_app().await;
    let a = s.send(Method::GET, "/Users", None, None, None).await;
    assert_scim_error(&a, 401, None);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let a = s
        .send(Method::GET, "/Users", Some("not-a-token"), None, None)
        .await;
    assert_scim_error(&a, 401, None);
    // A Graph token, however powerful, is not a provisioning token.
    let a = s
        .send(Method::GET, "/Users", Some(&s.graph), None, None)
        .await;
    assert_scim_error(&a, 403, None);
    let a = s
        .send(
            Method::POST,
            "/Users",
            Some(&s.graph),
            Some(user("eve", None, None)),
            None,
        )
        .await;
    assert_scim_error(&a, 403, None);
    assert_eq!(
        s.call(
            Method::GET,
            "/Users?filter=userName%20eq%20%22eve@contoso.example%22",
            None
        )
        .await
        .body["totalResults"],
        0
    );
    // An expired token.
    s.t.advance(3601);
    assert_scim_error(&s.call(Method::GET, "/Users", None).await, 401, None);
}

#[tokio::test]
async fn discovery_describes_users_groups_and_the_enterprise_extension() {
    let s = scim_app().await;
    let spc = s.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(spc.status, 200);
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["etag"]["supported"], true);
    assert_eq!(spc.body["filter"]["supported"], true);
    let types = s.call(Method::GET, "/ResourceTypes", None).await.body;
    assert_eq!(types["totalResults"], 2);
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    let schemas = s.call(Method::GET, "/Schemas", None).await.body;
    assert_eq!(schemas["totalResults"], 3);
    let one = s.call(Method::GET, &format!("/Schemas/{USER}"), None).await;
    assert_eq!(one.body["id"], USER);
    assert_scim_error(
        &s.call(Method::GET, "/Schemas/urn:nope", None).await,
        404,
        None,
    );
    assert_scim_error(
        &s.call(Method::GET, "/NoSuchEndpoint", None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn a_provisioned_user_is_synced_and_round_trips() {
    let s = scim_app().await;
    let sent = user("bo", Some("+1 425 555 0111"), Some("+1 425 555 0112"));
    let a = s.call(Method::POST, "/Users", Some(sent.clone())).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert!(a.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/default/scim/v2/Users/{id}")));
    assert_eq!(
        a.headers["etag"].to_str().unwrap(),
        a.body["meta"]["version"]
    );
    for key in [
        "externalId",
        "userName",
        "displayName",
        "active",
        "name",
        "emails",
        "phoneNumbers",
        ENTERPRISE,
    ] {
        assert_eq!(a.body[key], sent[key], "{key}");
    }
    let got = s
        .call(Method::GET, &format!("/Users/{id}"), None)
        .await
        .body;
    assert_eq!(got, a.body);
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(g["mobilePhone"], "+1 425 555 0111");
    assert_eq!(g["businessPhones"], json!(["+1 425 555 0112"]));
    assert_eq!(g["userPrincipalName"], "bo@contoso.example");
    // Issue #16: a SCIM-created user is synced, and its source owns its profile.
    assert_eq!(g["onPremisesSyncEnabled"], true, "{g}");
    let (status, refused) = s
        .graph(
            Method::PATCH,
            &format!("/v1.0/users/{id}"),
            Some(json!({"displayName": "Bo Changed"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "Request_BadRequest");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("displayName"),
        "{refused}"
    );
    let (_, unchanged) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(unchanged["displayName"], "bo");
    let added = s
        .audits()
        .await
        .into_iter()
        .find(|e| e.activity == "Add user")
        .unwrap();
    assert_eq!(
        (added.actor.kind.as_str(), added.target_id.as_str()),
        ("sync", id.as_str())
    );
    // attributes / excludedAttributes
    let only = s
        .call(
            Method::GET,
            &format!("/Users/{id}?attributes=userName,name.familyName"),
            None,
        )
        .await
        .body;
    assert_eq!(only["name"], json!({"familyName": "Doe"}));
    assert!(only.get("emails").is_none() && only["id"] == id.as_str());
    let without = s
        .call(
            Method::GET,
            &format!("/Users/{id}?excludedAttributes=emails,{ENTERPRISE}:department"),
            None,
        )
        .await
        .body;
    assert!(without.get("emails").is_none());
    assert_eq!(without[ENTERPRISE], json!({"employeeNumber": "E-bo"}));
}

#[tokio::test]
async fn entra_habits_are_accepted() {
    let s = scim_app().await;
    let id = s.create(user("jo", Some("+14255550171"), None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = s
        .patch(&id, json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "replace", "value": {"displayName": "Jo Doe", "name": {"familyName": "Roe"}}},
            {"op": "add", "path": "emails", "value": [{"value": "jo@contoso.example", "type": "work", "primary": true}]},
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "jo@home.example"},
            {"op": "replace", "path": "DISPLAYNAME", "value": "Jo D."},
        ]))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["active"], false);
    assert_eq!(a.body["displayName"], "Jo D.");
    assert_eq!(
        a.body["name"],
        json!({"givenName": "jo", "familyName": "Roe"})
    );
    assert_eq!(a.body["emails"].as_array().unwrap().len(), 2, "{}", a.body);
    let (_, g) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(
        g["accountEnabled"], false,
        "active \"False\" disables the user"
    );
    let a = s
        .patch(
            &id,
            json!([{"op": "replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(a.body["active"], true);
}

#[tokio::test]
async fn filters_find_users_by_name_external_id_email_and_phone() {
    let s = scim_app().await;
    for (name, mobile) in [
        ("kim", "+14255550181"),
        ("kit", "+14255550182"),
        ("lou", "+14255550183"),
    ] {
        s.create(user(name, Some(mobile), None)).await;
    }
    let names = |body: &Value| -> Vec<String> {
        let mut v: Vec<String> = body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["displayName"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    for (filter, want) in [
        (r#"userName eq "KIM@contoso.example""#, vec!["kim"]),
        (r#"userName sw "ki""#, vec!["kim", "kit"]),
        (r#"displayName co "ou""#, vec!["lou"]),
        (r#"externalId eq "hr-kit""#, vec!["kit"]),
        (r#"externalId eq "HR-KIT""#, vec![]),
        (
            r#"userName sw "ki" and not (displayName eq "kim")"#,
            vec!["kit"],
        ),
        (
            r#"(displayName eq "kim" or displayName eq "lou") and active eq true"#,
            vec!["kim", "lou"],
        ),
        (r#"emails[type eq "work" and value co "lou@"]"#, vec!["lou"]),
        (r#"emails.value ew "kit@contoso.example""#, vec!["kit"]),
        (
            r#"phoneNumbers[type eq "mobile" and value eq "+14255550182"]"#,
            vec!["kit"],
        ),
        (r#"phoneNumbers.value eq "+14255550183""#, vec!["lou"]),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "E-kim""#,
            vec!["kim"],
        ),
    ] {
        let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let a = s
            .call(Method::GET, &format!("/Users?filter={q}"), None)
            .await;
        assert_eq!(a.status, 200, "{filter}: {}", a.body);
        assert_eq!(names(&a.body), want, "{filter}");
    }
    let search = s
        .call(Method::POST, "/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"ki\"", "attributes": ["userName"]})))
        .await;
    assert_eq!(search.body["totalResults"], 2, "{}", search.body);
    assert!(search.body["Resources"][0].get("emails").is_none());
    for bad in [
        "userName eq",
        "userName zz \"x\"",
        "(userName eq \"x\"",
        "emails[type eq \"work\"",
    ] {
        let q: String = url::form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        assert_scim_error(
            &s.call(Method::GET, &format!("/Users?filter={q}"), None)
                .await,
            400,
            Some("invalidFilter"),
        );
    }
}

#[tokio::test]
async fn lists_page_with_start_index_and_count() {
    let s = scim_app().await;
    for name in ["m1", "m2", "m3", "m4"] {
        s.create(user(name, None, None)).await;
    }
    // The tenant also holds ANA (a cloud user): five users in all.
    let page = s
        .call(Method::GET, "/Users?startIndex=2&count=2", None)
        .await
        .body;
    assert_eq!(
        (
            page["totalResults"].clone(),
            page["itemsPerPage"].clone(),
            page["startIndex"].clone()
        ),
        (json!(5), json!(2), json!(2))
    );
    let all = s.call(Method::GET, "/Users?count=10", None).await.body;
    assert_eq!(page["Resources"][0], all["Resources"][1]);
    assert_eq!(page["Resources"][1], all["Resources"][2]);
    let empty = s.call(Method::GET, "/Users?startIndex=9", None).await.body;
    assert_eq!(
        (empty["totalResults"].clone(), empty["Resources"].clone()),
        (json!(5), json!([]))
    );
    let counted = s.call(Method::GET, "/Users?count=0", None).await.body;
    assert_eq!(
        (
            counted["totalResults"].clone(),
            counted["itemsPerPage"].clone()
        ),
        (json!(5), json!(0))
    );
    assert_scim_error(
        &s.call(Method::GET, "/Users?count=many", None).await,
        400,
        Some("invalidValue"),
    );
}

#[tokio::test]
async fn if_match_with_an_old_version_is_refused_with_412_and_changes_nothing() {
    let s = scim_app().await;
    let created = s.create(user("ned", None, None)).await;
    let (id, v1) = (
        created["id"].as_str().unwrap(),
        created["meta"]["version"].as_str().unwrap().to_string(),
    );
    let changed = s
        .send(Method::PATCH, &format!("/Users/{id}"), Some(&s.token), Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Driver"}]})), Some(&v1))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let v2 = changed.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(v1, v2);
    for (method, body) in [
        (
            Method::PATCH,
            Some(
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Clerk"}]}),
            ),
        ),
        (Method::PUT, Some(user("ned", None, None))),
        (Method::DELETE, None),
    ] {
        let a = s
            .send(
                method,
                &format!("/Users/{id}"),
                Some(&s.token),
                body,
                Some(&v1),
            )
            .await;
        assert_scim_error(&a, 412, None);
    }
    let now = s.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(now.body["title"], "Driver");
    assert_eq!(now.headers["etag"].to_str().unwrap(), v2);
    let gone = s
        .send(
            Method::DELETE,
            &format!("/Users/{id}"),
            Some(&s.token),
            None,
            Some("*"),
        )
        .await;
    assert_eq!(gone.status, 204);
    assert_scim_error(
        &s.call(Method::GET, &format!("/Users/{id}"), None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn bad_input_gets_scim_errors_and_changes_nothing() {
    let s = scim_app().await;
    s.create(user("olga", None, None)).await;
    assert_scim_error(
        &s.call(Method::POST, "/Users", Some(user("olga", None, None)))
            .await,
        409,
        Some("uniqueness"),
    );
    assert_scim_error(
        &s.call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "displayName": "x"})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.call(
            Method::POST,
            "/Users",
            Some(json!({"userName": "no-domain"})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.call(
            Method::POST,
            "/Users",
            Some(json!({"userName": "p@contoso.example", "shoeSize": 44})),
        )
        .await,
        400,
        Some("invalidSyntax"),
    );
    assert_scim_error(
        &s.call(
            Method::POST,
            "/Users",
            Some(json!({"userName": "p@contoso.example", "active": "maybe"})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    let text =
        s.t.http
            .post(s.t.url("/default/scim/v2/Users"))
            .bearer_auth(&s.token)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
    assert_eq!(text.status(), 415);
    let id = s
        .call(
            Method::GET,
            "/Users?filter=userName%20eq%20%22olga@contoso.example%22",
            None,
        )
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = s
        .call(Method::GET, &format!("/Users/{id}"), None)
        .await
        .body;
    let a = s.patch(&id, json!([{"op": "replace", "path": "title", "value": "X"}, {"op": "jump", "path": "title"}])).await;
    assert_scim_error(&a, 400, Some("invalidSyntax"));
    assert_scim_error(
        &s.patch(&id, json!([{"op": "remove"}])).await,
        400,
        Some("noTarget"),
    );
    assert_scim_error(
        &s.patch(
            &id,
            json!([{"op": "replace", "path": "userName", "value": "bad name"}]),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_eq!(
        s.call(Method::GET, &format!("/Users/{id}"), None)
            .await
            .body,
        before,
        "nothing changed"
    );
    assert_scim_error(
        &s.call(Method::GET, "/Users/not-an-id", None).await,
        404,
        None,
    );
    assert_scim_error(
        &s.call(Method::POST, "/.search", Some(json!({}))).await,
        501,
        None,
    );
}

#[tokio::test]
async fn groups_are_provisioned_with_their_members() {
    let s = scim_app().await;
    let a = s.create(user("pam", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s.create(user("quin", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = s
        .call(Method::POST, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Drivers", "externalId": "g-1", "members": [{"value": a}]})))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let gid = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["members"][0]["value"], a);
    let patched = s
        .call(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": b}]},
                {"op": "remove", "path": "members", "value": [{"value": a}]},
                {"op": "replace", "path": "displayName", "value": "Night drivers"},
            ]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["members"], json!([{"value": b}]));
    assert_eq!(patched.body["displayName"], "Night drivers");
    let (_, members) = s
        .graph(Method::GET, &format!("/v1.0/groups/{gid}/members"), None)
        .await;
    assert_eq!(members["value"].as_array().map(Vec::len), Some(1));
    let found = s
        .call(
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22night%20drivers%22",
            None,
        )
        .await
        .body;
    assert_eq!(found["totalResults"], 1);
    let bad = s
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": "00000000-0000-0000-0000-000000000000"}]}]})))
        .await;
    assert_scim_error(&bad, 400, Some("invalidValue"));
    assert_eq!(
        s.call(Method::DELETE, &format!("/Groups/{gid}"), None)
            .await
            .status,
        204
    );
    assert_scim_error(
        &s.call(Method::GET, &format!("/Groups/{gid}"), None).await,
        404,
        None,
    );
}

#[tokio::test]
async fn a_persons_tokens_are_refused_even_a_global_administrators() {
    let mut t = spawn_oidc().await;
    t.app
        .store()
        .set_user_role(
            t.tenant.id,
            t.ana,
            "Global Administrator",
            true,
            &textid_store::Actor::cli(),
            t.clock_now(),
        )
        .await
        .unwrap();
    let rp = t
        .register(textid_oidc::ClientType::Confidential, None)
        .await;
    let tokens = t
        .tokens(&rp, &crate::oidc_helpers::Authz::new("openid profile"))
        .await;
    let url = t.url("/default/scim/v2/Users");
    for (token, status) in [
        (tokens["access_token"].as_str().unwrap(), 403),
        (tokens["id_token"].as_str().unwrap(), 401),
    ] {
        let res = t.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), status);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    }
}

#[tokio::test]
async fn a_synced_user_is_deleted_at_its_source_graph_refuses_and_scim_deletes() {
    // Issue #16: Entra refuses to delete synced objects in the cloud.
    let s = scim_app().await;
    let id = s.create(user("vi", None, None)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, refused) = s
        .graph(Method::DELETE, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "Request_BadRequest");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source directory"),
        "{refused}"
    );
    assert!(refused["error"]["innerError"]["request-id"].is_string());
    let (status, _) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(status, 200, "still there");
    // The source deletes it.
    let a = s.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let (status, _) = s
        .graph(Method::GET, &format!("/v1.0/users/{id}"), None)
        .await;
    assert_eq!(status, 404);
    // A cloud user is deleted in the cloud as before.
    let (status, cloud) = s
        .graph(
            Method::POST,
            "/v1.0/users",
            Some(json!({"userPrincipalName": "wes@contoso.example", "displayName": "Wes"})),
        )
        .await;
    assert_eq!(status, 201, "{cloud}");
    let (status, _) = s
        .graph(
            Method::DELETE,
            &format!("/v1.0/users/{}", cloud["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

/// A source value Graph's property cannot hold (an employee number longer than Graph's 16
/// characters, a language that is no language tag) does not fail the sync: the SCIM
/// resource keeps it as sent, the Graph profile leaves that property unset.
#[tokio::test]
async fn a_value_graph_cannot_hold_stays_in_the_scim_resource_and_the_sync_goes_on() {
    let s = scim_app().await;
    let mut sent = user("cy", None, None);
    sent[ENTERPRISE]["employeeNumber"] = json!("EMP-0000000000000000001");
    sent["preferredLanguage"] = json!("not a language tag at all");
    sent["title"] = json!("Porter");
    let a = s.call(Method::POST, "/Users", Some(sent.clone())).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.body[ENTERPRISE]["employeeNumber"],
        "EMP-0000000000000000001"
    );
    let (_, g) = s
        .graph(
            Method::GET,
            &format!("/v1.0/users/{id}?$select=employeeId,preferredLanguage,jobTitle"),
            None,
        )
        .await;
    assert_eq!(g["employeeId"], Value::Null, "{g}");
    assert_eq!(g["preferredLanguage"], Value::Null, "{g}");
    assert_eq!(g["jobTitle"], "Porter", "the rest is copied: {g}");
}
