//! Deleted items and delta queries (issue #17) through real HTTP: soft delete with
//! `/directory/deletedItems`, restore, permanent delete, the numbers a deleted user keeps
//! reserved, and a userPrincipalName taken meanwhile.

use reqwest::Method;
use serde_json::{json, Value};

use crate::graph::{app_token, call};
use crate::oidc_helpers::{spawn_oidc, OidcApp};

const WRITER: &[&str] = &[
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
];

async fn send(
    t: &OidcApp,
    tok: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = call(t, method, path, Some(tok), body).await;
    (status, body)
}

async fn create_user(t: &OidcApp, tok: &str, name: &str) -> String {
    let body = json!({"userPrincipalName": format!("{name}@contoso.example"), "displayName": name});
    let (status, user) = send(t, tok, Method::POST, "/v1.0/users", Some(body)).await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

async fn add_mobile(t: &OidcApp, tok: &str, user: &str, number: &str) -> (u16, Value) {
    let path = format!("/v1.0/users/{user}/authentication/phoneMethods");
    let body = json!({"phoneNumber": number, "phoneType": "mobile"});
    send(t, tok, Method::POST, &path, Some(body)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_deleted_user_is_in_deleted_items_keeps_their_number_and_is_restored_with_it() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, WRITER).await;
    let dee = create_user(&t, &tok, "dee").await;
    let (status, body) = add_mobile(&t, &tok, &dee, "+1 4255550177").await;
    assert_eq!(status, 201, "{body}");
    let (_, before) = send(&t, &tok, Method::GET, "/v1.0/users/$count", None).await;

    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/users/{dee}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(&t, &tok, Method::GET, &format!("/v1.0/users/{dee}"), None).await;
    assert_eq!(status, 404);
    let filter = "/v1.0/users?$filter=userPrincipalName%20eq%20'dee@contoso.example'";
    let (_, found) = send(&t, &tok, Method::GET, filter, None).await;
    assert_eq!(found["value"], json!([]));
    let (_, after) = send(&t, &tok, Method::GET, "/v1.0/users/$count", None).await;
    assert_ne!(before, after, "$count no longer counts the deleted user");

    let list = "/v1.0/directory/deletedItems/microsoft.graph.user";
    let (status, page) = send(&t, &tok, Method::GET, list, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![dee.clone()]);
    assert_eq!(page["value"][0]["userPrincipalName"], "dee@contoso.example");
    assert!(page["value"][0]["deletedDateTime"].is_string());
    let (status, item) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/directory/deletedItems/{dee}"),
        None,
    )
    .await;
    assert_eq!(
        (status, item["@odata.type"].as_str()),
        (200, Some("#microsoft.graph.user"))
    );

    // Nobody else can take the number while the deleted user can come back with it.
    let eve = create_user(&t, &tok, "eve").await;
    let (status, err) = add_mobile(&t, &tok, &eve, "+14255550177").await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "phoneNumberNotUnique");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("deleted user") && message.contains(&dee),
        "{message}"
    );

    let restore = format!("/v1.0/directory/deletedItems/{dee}/restore");
    let (status, restored) = send(&t, &tok, Method::POST, &restore, None).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["id"], dee.as_str());
    let (status, _) = send(&t, &tok, Method::GET, &format!("/v1.0/users/{dee}"), None).await;
    assert_eq!(status, 200);
    let methods = format!("/v1.0/users/{dee}/authentication/phoneMethods");
    let (_, methods) = send(&t, &tok, Method::GET, &methods, None).await;
    assert_eq!(methods["value"][0]["phoneNumber"], "+1 4255550177");
    let (_, page) = send(&t, &tok, Method::GET, list, None).await;
    assert_eq!(page["value"], json!([]));
    let (status, _) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/directory/deletedItems/{dee}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_taken_upn_blocks_restore_and_a_permanent_delete_frees_the_number() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, WRITER).await;
    let fay = create_user(&t, &tok, "fay").await;
    let (status, _) = add_mobile(&t, &tok, &fay, "+1 4255550178").await;
    assert_eq!(status, 201);
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/users/{fay}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    // The userPrincipalName is free in the live directory, so it can be given again...
    let new_fay = create_user(&t, &tok, "fay").await;
    // ...and then the deleted user cannot come back under it (Graph's answer).
    let restore = format!("/v1.0/directory/deletedItems/{fay}/restore");
    let (status, err) = send(&t, &tok, Method::POST, &restore, None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "Request_BadRequest");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("userPrincipalName"));

    // Only an app that may write users restores or deletes them.
    let (_, reader) = app_token(&t, &["User.Read.All"]).await;
    let (status, _) = send(
        &t,
        &reader,
        Method::DELETE,
        &format!("/v1.0/directory/deletedItems/{fay}"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(
        &t,
        &reader,
        Method::GET,
        &format!("/v1.0/directory/deletedItems/{fay}"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/directory/deletedItems/{fay}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &t,
        &tok,
        Method::GET,
        &format!("/v1.0/directory/deletedItems/{fay}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = add_mobile(&t, &tok, &new_fay, "+1 4255550178").await;
    assert_eq!(
        status, 201,
        "the number is free after the permanent delete: {body}"
    );
}

#[tokio::test]
async fn deleted_items_answer_the_query_options_of_their_collection() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, WRITER).await;
    // Deleted a minute apart, in another order than their names.
    let mut deleted = Vec::new();
    for name in ["hal", "ivy", "gil"] {
        let id = create_user(&t, &tok, name).await;
        t.advance(60);
        let (status, _) = send(&t, &tok, Method::DELETE, &format!("/v1.0/users/{id}"), None).await;
        assert_eq!(status, 204);
        deleted.push((name, id));
    }
    let id_of = |name: &str| deleted.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let every_page = |first: String| {
        let (t, tok) = (&t, &tok);
        async move {
            let mut seen = Vec::new();
            let mut next = Some(first);
            while let Some(path) = next {
                let (status, page) = send(t, tok, Method::GET, &path, None).await;
                assert_eq!(status, 200, "{path}: {page}");
                assert!(page["value"].as_array().unwrap().len() <= 2);
                seen.extend(page["value"].as_array().unwrap().iter().cloned());
                next = page["@odata.nextLink"]
                    .as_str()
                    .map(|l| l.strip_prefix(&t.base).unwrap().to_owned());
            }
            seen
        }
    };
    let base = "/v1.0/directory/deletedItems/microsoft.graph.user";
    // By userPrincipalName by default, two a page.
    let by_name = every_page(format!("{base}?$top=2")).await;
    let names: Vec<&str> = by_name
        .iter()
        .map(|u| u["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gil", "hal", "ivy"]);
    assert!(by_name.iter().all(|u| u["deletedDateTime"].is_string()));
    // Newest deletion first, across pages.
    let newest = every_page(format!("{base}?$top=2&$orderby=deletedDateTime%20desc")).await;
    let order: Vec<String> = newest
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, [id_of("gil"), id_of("ivy"), id_of("hal")]);
    // $filter and $select, as on /users.
    let picked = every_page(format!(
        "{base}?$filter=startswith(displayName,'h')%20or%20displayName%20eq%20'ivy'&$select=displayName,deletedDateTime"
    ))
    .await;
    let mut keys: Vec<Vec<String>> = picked
        .iter()
        .map(|u| u.as_object().unwrap().keys().cloned().collect())
        .collect();
    keys.dedup();
    assert_eq!(
        keys,
        [["deletedDateTime", "displayName", "id"]],
        "{picked:?}"
    );
    assert_eq!(picked.len(), 2);
    // $count with ConsistencyLevel: eventual, as Graph.
    let counted: Value = t
        .http
        .get(t.url(&format!(
            "{base}?$count=true&$filter=displayName%20ne%20'gil'"
        )))
        .bearer_auth(&tok)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted["@odata.count"], 2, "{counted}");

    for bad in [
        "$skiptoken=nope",
        "$top=0",
        "$filter=nope%20eq%201",
        "$orderby=jobTitle",
        "$expand=manager",
        "$filter=displayName%20ne%20'gil'",
    ] {
        let path = format!("{base}?{bad}");
        let (status, err) = send(&t, &tok, Method::GET, &path, None).await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert!(err["error"]["message"].is_string());
    }

    // Groups too.
    let (status, g) = send(
        &t,
        &tok,
        Method::POST,
        "/v1.0/groups",
        Some(json!({"displayName": "Porters"})),
    )
    .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/groups/{gid}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, page) = send(
        &t,
        &tok,
        Method::GET,
        "/v1.0/directory/deletedItems/microsoft.graph.group",
        None,
    )
    .await;
    assert_eq!(ids(&page), vec![gid.clone()]);
    let (status, restored) = send(
        &t,
        &tok,
        Method::POST,
        &format!("/v1.0/directory/deletedItems/{gid}/restore"),
        None,
    )
    .await;
    assert_eq!(
        (status, restored["displayName"].as_str()),
        (200, Some("Porters"))
    );
    let (status, _) = send(&t, &tok, Method::GET, &format!("/v1.0/groups/{gid}"), None).await;
    assert_eq!(status, 200);
}

/// Every page of a delta round from `path` with pages of `size`: the objects, and the
/// deltaLink's path.
async fn delta_round(t: &OidcApp, tok: &str, path: &str, size: u32) -> (Vec<Value>, String) {
    let mut next = path.to_owned();
    let mut objects = Vec::new();
    loop {
        let res = t
            .http
            .get(t.url(&next))
            .bearer_auth(tok)
            .header("Prefer", format!("odata.maxpagesize={size}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        assert!(value.len() <= size as usize, "{page}");
        objects.extend(value.iter().cloned());
        let link = |k: &str| {
            page[k]
                .as_str()
                .map(|l| l.strip_prefix(&t.base).unwrap().to_owned())
        };
        match (link("@odata.nextLink"), link("@odata.deltaLink")) {
            (Some(n), None) => next = n,
            (None, Some(d)) => return (objects, d),
            other => panic!("a page has a nextLink or a deltaLink: {other:?}"),
        }
    }
}

fn id_set(objects: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn user_delta_rounds_return_everything_then_each_change_once() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, WRITER).await;
    let mut everyone = vec![t.ana.to_string()];
    for name in ["jo", "kit", "lou", "max"] {
        everyone.push(create_user(&t, &tok, name).await);
    }
    everyone.sort();
    let (first, delta) = delta_round(&t, &tok, "/v1.0/users/delta", 2).await;
    assert_eq!(
        id_set(&first),
        everyone,
        "the first round has every user once"
    );
    assert!(first.iter().all(|u| u["userPrincipalName"].is_string()));

    // Nothing changed: an empty round.
    let (none, delta) = delta_round(&t, &tok, &delta, 2).await;
    assert_eq!(none, Vec::<Value>::new());

    let new = create_user(&t, &tok, "ned").await;
    let (patched, deleted) = (everyone[1].clone(), everyone[2].clone());
    let (status, _) = send(
        &t,
        &tok,
        Method::PATCH,
        &format!("/v1.0/users/{patched}"),
        Some(json!({"jobTitle": "Porter"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/users/{deleted}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (changes, delta) = delta_round(&t, &tok, &delta, 2).await;
    let mut want = vec![new.clone(), patched.clone(), deleted.clone()];
    want.sort();
    assert_eq!(
        id_set(&changes),
        want,
        "each change once, nothing unchanged: {changes:?}"
    );
    let gone = changes
        .iter()
        .find(|o| o["id"] == deleted.as_str())
        .unwrap();
    assert_eq!(gone["@removed"]["reason"], "changed", "restorable");
    let p = changes
        .iter()
        .find(|o| o["id"] == patched.as_str())
        .unwrap();
    assert_eq!(p["jobTitle"], "Porter");

    // Gone for good: "deleted".
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/directory/deletedItems/{deleted}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (changes, delta) = delta_round(&t, &tok, &delta, 2).await;
    assert_eq!(
        changes,
        vec![json!({"id": deleted, "@removed": {"reason": "deleted"}})]
    );

    // $select, latest, bad tokens, old tokens.
    let (status, page) = send(
        &t,
        &tok,
        Method::GET,
        "/v1.0/users/delta?$select=displayName",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page["value"][0].get("userPrincipalName").is_none(),
        "{page}"
    );
    assert!(page["value"][0]["displayName"].is_string());
    let (status, page) = send(
        &t,
        &tok,
        Method::GET,
        "/v1.0/users/delta?$deltatoken=latest",
        None,
    )
    .await;
    assert_eq!((status, page["value"].clone()), (200, json!([])));
    assert!(page["@odata.deltaLink"].is_string());
    for bad in [
        "$deltatoken=bogus",
        "$skiptoken=bogus",
        "$filter=id%20eq%20'x'",
        "$select=nope",
        "$select=%11",
        "$select=members",
    ] {
        let (status, err) = send(
            &t,
            &tok,
            Method::GET,
            &format!("/v1.0/users/delta?{bad}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error"]["code"], "badRequest");
    }
    t.clock.advance(chrono::Duration::days(31));
    let (_, tok) = app_token(&t, WRITER).await;
    let (status, err) = send(&t, &tok, Method::GET, &delta, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (410, Some("syncStateNotFound"))
    );
}

#[tokio::test]
async fn group_delta_carries_membership_changes() {
    let t = spawn_oidc().await;
    let (_, tok) = app_token(&t, WRITER).await;
    let (status, g) = send(
        &t,
        &tok,
        Method::POST,
        "/v1.0/groups",
        Some(json!({"displayName": "Nurses"})),
    )
    .await;
    assert_eq!(status, 201);
    let gid = g["id"].as_str().unwrap().to_owned();
    let (status, other) = send(
        &t,
        &tok,
        Method::POST,
        "/v1.0/groups",
        Some(json!({"displayName": "Porters"})),
    )
    .await;
    assert_eq!(status, 201);
    let member = create_user(&t, &tok, "ora").await;
    let add = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{member}", t.base)});
    let (status, _) = send(
        &t,
        &tok,
        Method::POST,
        &format!("/v1.0/groups/{gid}/members/$ref"),
        Some(add.clone()),
    )
    .await;
    assert_eq!(status, 204);

    let (first, delta) = delta_round(&t, &tok, "/v1.0/groups/delta", 1).await;
    assert_eq!(first.len(), 2);
    let nurses = first.iter().find(|g| g["id"] == gid.as_str()).unwrap();
    assert_eq!(nurses["members@delta"][0]["id"], member.as_str());

    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/groups/{gid}/members/{member}/$ref"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (changes, delta) = delta_round(&t, &tok, &delta, 10).await;
    assert_eq!(
        changes.len(),
        1,
        "only the group whose members changed: {changes:?}"
    );
    assert_eq!(changes[0]["id"], gid.as_str());
    assert_eq!(
        changes[0]["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": member, "@removed": {"reason": "deleted"}}])
    );
    let porters = other["id"].as_str().unwrap();
    let (status, _) = send(
        &t,
        &tok,
        Method::DELETE,
        &format!("/v1.0/groups/{porters}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (changes, _) = delta_round(&t, &tok, &delta, 10).await;
    assert_eq!(
        changes,
        vec![json!({"id": porters, "@removed": {"reason": "changed"}})]
    );
}
