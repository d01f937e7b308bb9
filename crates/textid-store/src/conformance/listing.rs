//! Graph collection queries (`query_users`, `count_users`, `query_groups`, `count_groups`):
//! every operator of the query layer against a small directory, the order and keyset
//! paging, and counts. Filters are written as a Graph client writes them and checked by
//! core, so the cases read like the requests they stand for.

use textid_core::odata::query::{self, after, Options, Order};
use textid_core::odata::schema::{self, Resource, Value};

use super::*;

fn checked(resource: &'static Resource, filter: &str) -> Cond {
    let expr = textid_core::odata::filter::parse(filter).unwrap();
    schema::check(resource, &expr, true).unwrap()
}

fn by(resource: &'static Resource, name: &str, descending: bool) -> Order {
    Order {
        prop: resource.property(name).unwrap(),
        descending,
    }
}

/// A user of [`directory()`]: name, display name, enabled, mobile, business phones.
type Profile = (
    &'static str,
    &'static str,
    bool,
    Option<&'static str>,
    &'static [&'static str],
);

/// Five users with different profiles, created a minute apart (ana first).
async fn directory(s: &dyn Store) -> Tenant {
    let t = tenant(s).await;
    let people: [Profile; 5] = [
        (
            "ana",
            "Ana Lima",
            true,
            Some("+1 425 555 0100"),
            &["+1 425 555 0111"],
        ),
        ("bob", "Bob O'Hara", false, None, &[]),
        (
            "carol",
            "carol Díaz",
            true,
            Some("+44 20 7946 0000"),
            &["+1 206 555 0100", "+1 425 555 0199"],
        ),
        ("dave", "Dave_100%", true, None, &[]),
        (
            "eve.adams",
            "Eve Adams",
            false,
            Some("+1 425 555 0142"),
            &[],
        ),
    ];
    for (i, (name, display, enabled, mobile, business)) in people.into_iter().enumerate() {
        let mut profile = textid_core::directory::UserProfile::default();
        profile
            .set(
                "department",
                Some(if i % 2 == 0 { "Ward 7" } else { "Kitchen" }),
            )
            .unwrap();
        if i == 1 {
            profile
                .set_other_mails(&["bob@home.example".into()])
                .unwrap();
        }
        let u = User {
            profile,
            display_name: display.into(),
            account_enabled: enabled,
            mobile_phone: mobile.map(str::to_owned),
            business_phones: business.iter().map(|b| (*b).to_owned()).collect(),
            ..new_user(&t, name)
        };
        let at = now() + Duration::minutes(i64::try_from(i).unwrap());
        s.create_user(&u, &Actor::cli(), at).await.unwrap();
    }
    t
}

async fn names(
    s: &dyn Store,
    t: &Tenant,
    cond: Option<Cond>,
    order: Order,
    limit: u32,
) -> Vec<String> {
    let listing = Listing { cond, order, limit };
    s.query_users(t.id, &listing)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.upn.as_str().split('@').next().unwrap().to_owned())
        .collect()
}

pub async fn query_users_applies_every_filter_operator(s: Arc<dyn Store>) {
    let t = directory(&*s).await;
    let upn_order = by(&schema::USER, "userPrincipalName", false);
    for (filter, expected) in [
        ("displayName eq 'ANA LIMA'", &["ana"][..]),
        ("userPrincipalName eq 'Bob@Contoso.Example'", &["bob"]),
        ("startswith(displayName,'c')", &["carol"]),
        ("endswith(displayName,'adams')", &["eve.adams"]),
        ("startswith(displayName,'Dave_1')", &["dave"]),
        // LIKE's wildcards in a value are literal characters.
        ("startswith(displayName,'Dav%')", &[]),
        ("endswith(displayName,'100%')", &["dave"]),
        ("displayName eq 'Bob O''Hara'", &["bob"]),
        ("accountEnabled eq false", &["bob", "eve.adams"]),
        ("accountEnabled ne false", &["ana", "carol", "dave"]),
        ("mobilePhone eq null", &["bob", "dave"]),
        ("mobilePhone ne null", &["ana", "carol", "eve.adams"]),
        // `ne` and `not` count a missing value as different.
        ("mobilePhone ne '+1 425 555 0100'", &["bob", "carol", "dave", "eve.adams"]),
        ("not startswith(mobilePhone,'+1')", &["bob", "carol", "dave"]),
        ("startswith(mobilePhone,'+1 425')", &["ana", "eve.adams"]),
        ("businessPhones/any(p:startswith(p,'+1 425'))", &["ana", "carol"]),
        ("businessPhones/any(p:p eq '+1 206 555 0100')", &["carol"]),
        ("userPrincipalName in ('ana@contoso.example','dave@contoso.example','nobody@x.io')", &["ana", "dave"]),
        ("displayName ge 'c' and displayName le 'e'", &["carol", "dave"]),
        ("createdDateTime ge 2026-03-01T12:03:00Z", &["dave", "eve.adams"]),
        ("(accountEnabled eq true and startswith(displayName,'a')) or userPrincipalName eq 'eve.adams@contoso.example'", &["ana", "eve.adams"]),
        ("not (accountEnabled eq true or mobilePhone eq null)", &["eve.adams"]),
        ("department eq 'ward 7'", &["ana", "carol", "eve.adams"]),
        ("startswith(department,'Kit') and accountEnabled eq true", &["dave"]),
        ("otherMails/any(m:m eq 'BOB@home.example')", &["bob"]),
        ("givenName eq null", &["ana", "bob", "carol", "dave", "eve.adams"]),
    ] {
        let cond = checked(&schema::USER, filter);
        assert_eq!(names(&*s, &t, Some(cond), upn_order, 50).await, expected, "{filter}");
    }
    let ids = s
        .query_users(
            t.id,
            &Listing {
                cond: None,
                order: upn_order,
                limit: 2,
            },
        )
        .await
        .unwrap();
    let f = format!("id in ('{}', '{}')", ids[0].id.0, ids[1].id.0);
    assert_eq!(
        names(&*s, &t, Some(checked(&schema::USER, &f)), upn_order, 50).await,
        ["ana", "bob"]
    );
}

pub async fn query_users_search_matches_the_start_of_a_token(s: Arc<dyn Store>) {
    let t = directory(&*s).await;
    let search = |q: &'static str| Options {
        search: Some(q),
        eventual: true,
        ..Options::default()
    };
    for (q, expected) in [
        ("\"displayName:lim\"", &["ana"][..]),
        ("\"displayName:ada\"", &["eve.adams"]),
        ("\"displayName:ara\"", &[]),
        ("\"userPrincipalName:adams\"", &["eve.adams"]),
        // A separator in the text is a separator too.
        ("\"userPrincipalName:eve.ad\"", &["eve.adams"]),
        ("\"userPrincipalName:ve.ad\"", &[]),
        (
            "\"displayName:ana\" OR \"displayName:dave\"",
            &["ana", "dave"],
        ),
        (
            "\"displayName:eve\" AND \"displayName:adams\"",
            &["eve.adams"],
        ),
    ] {
        let lq = query::check(&schema::USER, search(q), "userPrincipalName").unwrap();
        assert_eq!(names(&*s, &t, lq.cond, lq.order, 50).await, expected, "{q}");
    }
}

pub async fn query_users_pages_by_keyset_in_either_direction(s: Arc<dyn Store>) {
    let t = directory(&*s).await;
    let extra = User {
        display_name: "ana lima".into(),
        ..new_user(&t, "ana2")
    };
    s.create_user(&extra, &Actor::cli(), now()).await.unwrap();
    for descending in [false, true] {
        let order = by(&schema::USER, "displayName", descending);
        let all = names(&*s, &t, None, order, 50).await;
        assert_eq!(all.len(), 6);
        let mut paged = Vec::new();
        let mut cond = None;
        loop {
            let page = s
                .query_users(
                    t.id,
                    &Listing {
                        cond: cond.clone(),
                        order,
                        limit: 2,
                    },
                )
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            cond = Some(after(
                order,
                schema::USER.property("id").unwrap(),
                Value::Text(last.display_name.clone()),
                Value::Guid(last.id.0),
            ));
            paged.extend(
                page.iter()
                    .map(|u| u.upn.as_str().split('@').next().unwrap().to_owned()),
            );
        }
        assert_eq!(paged, all, "descending: {descending}");
        let first_two: Vec<_> = all[..2].iter().map(String::as_str).collect();
        let ties = if descending {
            ["eve.adams", "dave"]
        } else {
            ["ana", "ana2"]
        };
        // "Ana Lima" and "ana lima" tie case-insensitively; the id decides between them.
        if !descending {
            let mut sorted = first_two.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, ties);
        } else {
            assert_eq!(first_two, ties);
        }
    }
}

pub async fn count_users_counts_what_the_filter_selects(s: Arc<dyn Store>) {
    let t = directory(&*s).await;
    assert_eq!(s.count_users(t.id, None).await.unwrap(), 5);
    let cond = checked(&schema::USER, "accountEnabled eq false");
    assert_eq!(s.count_users(t.id, Some(&cond)).await.unwrap(), 2);
    let other = tenant(&*s).await;
    assert_eq!(s.count_users(other.id, None).await.unwrap(), 0);
}

pub async fn query_groups_filters_orders_and_counts(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    for name in ["Nurses", "Night nurses", "Porters"] {
        group(&*s, &t, name).await;
    }
    let order = by(&schema::GROUP, "displayName", false);
    let listing = |f: &str| Listing {
        cond: Some(checked(&schema::GROUP, f)),
        order,
        limit: 10,
    };
    let names = |gs: Vec<Group>| gs.into_iter().map(|g| g.display_name).collect::<Vec<_>>();
    assert_eq!(
        names(
            s.query_groups(t.id, &listing("displayName eq 'nurses'"))
                .await
                .unwrap()
        ),
        ["Nurses"]
    );
    assert_eq!(
        names(
            s.query_groups(t.id, &listing("endswith(displayName,'nurses')"))
                .await
                .unwrap()
        ),
        ["Night nurses", "Nurses"]
    );
    let all = Listing {
        cond: None,
        order: by(&schema::GROUP, "displayName", true),
        limit: 2,
    };
    assert_eq!(
        names(s.query_groups(t.id, &all).await.unwrap()),
        ["Porters", "Nurses"]
    );
    let cond = checked(&schema::GROUP, "startswith(displayName,'n')");
    assert_eq!(s.count_groups(t.id, Some(&cond)).await.unwrap(), 2);
    assert_eq!(s.count_groups(t.id, None).await.unwrap(), 3);
}

/// Graph's group properties (issue #17) are stored, changed by `update_group` (audited
/// with before and after) and filtered like Graph: flags, a collection with `any`, text.
pub async fn group_properties_are_kept_updated_and_filtered(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let gid = group(&*s, &t, "Ward 7").await;
    let mut unified = s.group(t.id, gid).await.unwrap().unwrap();
    group(&*s, &t, "Porters").await;
    unified.profile = textid_core::directory::group::GroupProfile {
        description: Some("Night shift of ward 7".into()),
        mail_nickname: Some("ward7".into()),
        security_enabled: false,
        mail_enabled: true,
        group_types: vec!["Unified".into()],
    };
    s.update_group(&unified, &Actor::cli(), later(5))
        .await
        .unwrap();
    assert_eq!(
        s.group(t.id, unified.id).await.unwrap(),
        Some(unified.clone())
    );
    let a = audited(&*s, &t, "Update group", &unified.id.to_string(), later(5)).await;
    assert_eq!(a.before.unwrap()["securityEnabled"], true);
    assert_eq!(a.after.unwrap()["mailNickname"], "ward7");
    let names = |f: &'static str| {
        let s = s.clone();
        async move {
            let listing = Listing {
                cond: Some(checked(&schema::GROUP, f)),
                order: by(&schema::GROUP, "displayName", false),
                limit: 10,
            };
            let gs = s.query_groups(t.id, &listing).await.unwrap();
            gs.into_iter().map(|g| g.display_name).collect::<Vec<_>>()
        }
    };
    assert_eq!(names("securityEnabled eq false").await, ["Ward 7"]);
    assert_eq!(names("securityEnabled eq true").await, ["Porters"]);
    assert_eq!(names("mailEnabled eq true").await, ["Ward 7"]);
    assert_eq!(names("groupTypes/any(c:c eq 'Unified')").await, ["Ward 7"]);
    assert_eq!(names("mailNickname eq 'WARD7'").await, ["Ward 7"]);
    assert_eq!(names("startswith(description,'night')").await, ["Ward 7"]);
    let missing = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        ..unified
    };
    not_found(s.update_group(&missing, &Actor::cli(), later(6)).await);
}

/// Graph's `manager` (issue #17): set, read back, listed as direct reports, replaced,
/// removed; each change audited once; a user or manager of another tenant is not found.
pub async fn a_users_manager_is_set_read_and_removed(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (ana, bo, cy) = (
        user(&*s, &t, "ana").await,
        user(&*s, &t, "bo").await,
        user(&*s, &t, "cy").await,
    );
    assert_eq!(s.manager(t.id, ana).await.unwrap(), None);
    s.set_manager(t.id, ana, Some(bo), &Actor::cli(), later(1))
        .await
        .unwrap();
    let a = audited(&*s, &t, "Set user manager", &ana.to_string(), later(1)).await;
    assert_eq!(a.after.unwrap()["manager"], bo.to_string());
    s.set_manager(t.id, cy, Some(bo), &Actor::cli(), later(1))
        .await
        .unwrap();
    assert_eq!(s.manager(t.id, ana).await.unwrap().map(|u| u.id), Some(bo));
    let reports: Vec<_> = s
        .direct_reports(t.id, bo)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(reports, [ana, cy]);
    let before = audits(&*s, &t).await.len();
    s.set_manager(t.id, ana, Some(bo), &Actor::cli(), later(2))
        .await
        .unwrap();
    assert_eq!(
        audits(&*s, &t).await.len(),
        before,
        "the same manager again writes nothing"
    );
    s.set_manager(t.id, ana, Some(cy), &Actor::cli(), later(3))
        .await
        .unwrap();
    assert_eq!(s.manager(t.id, ana).await.unwrap().map(|u| u.id), Some(cy));
    s.set_manager(t.id, ana, None, &Actor::cli(), later(4))
        .await
        .unwrap();
    assert_eq!(s.manager(t.id, ana).await.unwrap(), None);
    audited(&*s, &t, "Remove user manager", &ana.to_string(), later(4)).await;
    let other = tenant(&*s).await;
    let stranger = user(&*s, &other, "dee").await;
    not_found(
        s.set_manager(t.id, ana, Some(stranger), &Actor::cli(), later(5))
            .await,
    );
    not_found(
        s.set_manager(t.id, stranger, Some(ana), &Actor::cli(), later(5))
            .await,
    );
    assert_eq!(s.manager(t.id, ana).await.unwrap(), None);
}
