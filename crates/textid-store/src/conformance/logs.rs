//! The sign-in log and the directory audit log, queried by time range and subject.

use std::sync::Arc;

use textid_core::directory::Group;
use textid_core::GroupId;

use super::*;

pub async fn sign_in_logs_filter_by_time_and_user_newest_first(s: Arc<dyn Store>) {
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let (a, b) = (user(&*s, &t, "a").await, user(&*s, &t, "b").await);
    let failed = SignInLogEntry {
        event: "codeVerified".into(),
        result: "failure".into(),
        failure_reason: Some("invalidCode".into()),
        flow_id: Some(FlowId(uuid::Uuid::new_v4())),
        app_id: Some("app".into()),
        ..log_entry(&t, Some(b), later(10))
    };
    let entries = [
        log_entry(&t, Some(a), now()),
        failed,
        log_entry(&t, None, later(20)),
        log_entry(&t, Some(a), later(30)),
    ];
    for (tn, l) in entries
        .iter()
        .map(|l| (&t, l.clone()))
        .chain([(&other, log_entry(&other, Some(a), later(15)))])
    {
        let at = l.created_at;
        let put_it = Put::log(&l);
        put(
            &*s,
            tn,
            StepTarget::Number("+14255550101".into()),
            at,
            put_it,
        )
        .await;
    }
    let [l1, l2, l3, l4] = entries;
    let query = |from: Option<i64>, to: Option<i64>, about: Option<UserId>, limit| {
        let s = s.clone();
        async move {
            let q = LogQuery {
                from: from.map(later),
                to: to.map(later),
                about,
                limit,
            };
            s.sign_in_logs(t.id, &q).await.unwrap()
        }
    };
    assert_eq!(
        query(None, None, None, 10).await,
        [l4.clone(), l3.clone(), l2.clone(), l1.clone()]
    );
    assert_eq!(
        query(Some(10), Some(20), None, 10).await,
        [l3.clone(), l2.clone()],
        "both ends inclusive"
    );
    assert_eq!(query(None, None, Some(a), 10).await, [l4.clone(), l1]);
    let since_1 = query(Some(1), None, Some(a), 10).await;
    assert_eq!(since_1, std::slice::from_ref(&l4));
    assert_eq!(query(None, Some(15), Some(b), 10).await, [l2]);
    assert_eq!(query(None, None, None, 2).await, [l4, l3]);
    let theirs = s
        .sign_in_logs(other.id, &LogQuery::latest(10))
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].tenant_id, other.id);
}

/// Graph's query layer on the sign-in log (issue #17): the user's name joined in, Entra's
/// error code derived from the stored reason, time ranges, either order, keyset paging.
pub async fn sign_in_logs_answer_graph_queries(s: Arc<dyn Store>) {
    use textid_core::odata::query::{after, Order};
    use textid_core::odata::schema::{self, Value};
    let (t, other) = (tenant(&*s).await, tenant(&*s).await);
    let a = user(&*s, &t, "ana").await;
    let failed = SignInLogEntry {
        event: "codeVerified".into(),
        result: "failure".into(),
        failure_reason: Some("invalidCode".into()),
        ..log_entry(&t, Some(a), later(10))
    };
    let budget = SignInLogEntry {
        result: "failure".into(),
        failure_reason: Some("prefixBudgetExceeded".into()),
        phone: Some("+447700900123".into()),
        ..log_entry(&t, None, later(20))
    };
    let entries = [log_entry(&t, Some(a), now()), failed, budget];
    for (tn, l) in entries
        .iter()
        .map(|l| (&t, l.clone()))
        .chain([(&other, log_entry(&other, None, later(15)))])
    {
        let at = l.created_at;
        put(
            &*s,
            tn,
            StepTarget::Number("+14255550101".into()),
            at,
            Put::log(&l),
        )
        .await;
    }
    let [ok, bad_code, refused] = entries;
    let order = |descending| Order {
        prop: schema::SIGN_IN.property("createdDateTime").unwrap(),
        descending,
    };
    let run = |f: Option<&'static str>, descending: bool, limit: u32| {
        let s = s.clone();
        async move {
            let cond = f.map(|f| {
                let e = textid_core::odata::filter::parse(f).unwrap();
                schema::check(&schema::SIGN_IN, &e, true).unwrap()
            });
            let listing = Listing {
                cond,
                order: order(descending),
                limit,
            };
            s.query_sign_ins(t.id, &listing).await.unwrap()
        }
    };
    assert_eq!(
        run(None, true, 10).await,
        [refused.clone(), bad_code.clone(), ok.clone()]
    );
    assert_eq!(run(None, false, 2).await, [ok.clone(), bad_code.clone()]);
    assert_eq!(
        run(Some("status/errorCode eq 0"), true, 10).await,
        std::slice::from_ref(&ok)
    );
    assert_eq!(
        run(Some("status/errorCode eq 50126"), true, 10).await,
        std::slice::from_ref(&bad_code)
    );
    assert_eq!(
        run(Some("status/errorCode eq 50088"), true, 10).await,
        std::slice::from_ref(&refused)
    );
    assert_eq!(
        run(
            Some("status/errorCode ne 0 and userPrincipalName eq 'ANA@contoso.example'"),
            true,
            10
        )
        .await,
        std::slice::from_ref(&bad_code)
    );
    assert_eq!(
        run(Some("startswith(userDisplayName,'an')"), true, 10)
            .await
            .len(),
        2
    );
    assert_eq!(
        run(Some("startswith(signInIdentifier,'+44')"), true, 10).await,
        std::slice::from_ref(&refused)
    );
    assert_eq!(
        run(Some("userId eq null"), true, 10).await,
        std::slice::from_ref(&refused)
    );
    let window =
        "createdDateTime ge 2026-03-01T12:00:05Z and createdDateTime le 2026-03-01T12:00:15Z";
    assert_eq!(
        run(Some(window), true, 10).await,
        std::slice::from_ref(&bad_code)
    );
    // The next page after the newest, by keyset on (createdDateTime, id).
    let id = schema::SIGN_IN.property("id").unwrap();
    let rest = Listing {
        cond: Some(after(
            order(true),
            id,
            Value::Millis(refused.created_at.timestamp_millis()),
            Value::Guid(refused.id),
        )),
        order: order(true),
        limit: 10,
    };
    assert_eq!(s.query_sign_ins(t.id, &rest).await.unwrap(), [bad_code, ok]);
}

pub async fn directory_audits_filter_by_time_and_subject_newest_first(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let u = new_user(&t, "ana");
    s.create_user(&u, &Actor::cli(), now()).await.unwrap();
    let admin = Actor {
        kind: "user".into(),
        id: uuid::Uuid::new_v4().to_string(),
    };
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: "Frontline".into(),
        profile: Default::default(),
    };
    s.create_group(&g, &admin, later(10)).await.unwrap();
    s.add_member(t.id, g.id, u.id, &Actor::cli(), later(20))
        .await
        .unwrap();
    let renamed = User {
        display_name: "Ana Lima".into(),
        ..u.clone()
    };
    s.update_user(&renamed, &Actor::cli(), later(30))
        .await
        .unwrap();
    let other = tenant(&*s).await;
    user(&*s, &other, "ana").await;

    let query = |from: Option<i64>, to: Option<i64>, about: Option<String>, limit| {
        let s = s.clone();
        async move {
            let q = LogQuery {
                from: from.map(later),
                to: to.map(later),
                about,
                limit,
            };
            s.directory_audits(t.id, &q)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.activity)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        query(None, None, None, 10).await,
        [
            "Update user",
            "Add member to group",
            "Add group",
            "Add user"
        ]
    );
    assert_eq!(
        query(Some(10), Some(20), None, 10).await,
        ["Add member to group", "Add group"],
        "both ends inclusive"
    );
    // About a subject: changes to it as the target...
    let about_user = Some(u.id.to_string());
    assert_eq!(
        query(None, None, about_user.clone(), 10).await,
        ["Update user", "Add user"]
    );
    assert_eq!(query(Some(1), None, about_user, 10).await, ["Update user"]);
    // ...or made by it as the actor.
    assert_eq!(
        query(None, None, Some(admin.id.clone()), 10).await,
        ["Add group"]
    );
    assert_eq!(query(None, None, None, 1).await, ["Update user"]);
    let by_admin = s
        .directory_audits(
            t.id,
            &LogQuery {
                about: Some(admin.id.clone()),
                ..LogQuery::latest(1)
            },
        )
        .await
        .unwrap();
    assert_eq!(by_admin[0].actor, admin);
    assert_eq!(audits(&*s, &other).await.len(), 1);
}
