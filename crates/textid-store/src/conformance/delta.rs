//! Delta queries (issue #17): the change sequence every directory write advances.

use std::sync::Arc;

use super::*;

fn user_ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

pub async fn every_user_group_and_membership_write_advances_the_change_sequence(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    assert_eq!(s.directory_version(t.id).await.unwrap(), 0);
    let (ana, bo) = (user(&*s, &t, "ana").await, user(&*s, &t, "bo").await);
    let g = group(&*s, &t, "Frontline").await;
    let v1 = s.directory_version(t.id).await.unwrap();
    assert!(v1 >= 3, "three writes: {v1}");
    let all = s.changed_users(t.id, -1, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(s
        .changed_users(t.id, v1, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Paging by id.
    let first = s.changed_users(t.id, -1, None, 1).await.unwrap();
    let rest = s
        .changed_users(t.id, -1, Some(first[0].id.0), 10)
        .await
        .unwrap();
    assert_eq!(user_ids(&[first, rest].concat()), user_ids(&all));

    // An update of one user: only that user.
    let mut a = s.user(t.id, ana).await.unwrap().unwrap();
    a.display_name = "Ana B".into();
    s.update_user(&a, &Actor::cli(), now()).await.unwrap();
    let v2 = s.directory_version(t.id).await.unwrap();
    assert!(v2 > v1);
    assert_eq!(
        user_ids(&s.changed_users(t.id, v1, None, 10).await.unwrap()),
        vec![ana]
    );
    assert!(s
        .changed_groups(t.id, v1, None, 10)
        .await
        .unwrap()
        .is_empty());

    // A membership: the group changes, with the change listed.
    s.add_member(t.id, g, bo, &Actor::cli(), now())
        .await
        .unwrap();
    let changed = s.changed_groups(t.id, v2, None, 10).await.unwrap();
    assert_eq!(changed.iter().map(|g| g.id).collect::<Vec<_>>(), vec![g]);
    assert_eq!(
        s.member_changes(t.id, g, v2).await.unwrap(),
        vec![MemberChange {
            user: bo,
            added: true
        }]
    );
    let v3 = s.directory_version(t.id).await.unwrap();
    s.remove_member(t.id, g, bo, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(
        s.member_changes(t.id, g, v3).await.unwrap(),
        vec![MemberChange {
            user: bo,
            added: false
        }]
    );
    // Another tenant's sequence is its own.
    let other = tenant(&*s).await;
    assert_eq!(s.directory_version(other.id).await.unwrap(), 0);
    assert!(s
        .changed_users(other.id, -1, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn deleted_and_purged_objects_are_removed_after_the_sequence(s: Arc<dyn Store>) {
    let t = tenant(&*s).await;
    let (ana, bo) = (user(&*s, &t, "ana").await, user(&*s, &t, "bo").await);
    let g = group(&*s, &t, "Frontline").await;
    let v = s.directory_version(t.id).await.unwrap();
    s.delete_user(t.id, ana, &Actor::cli(), now())
        .await
        .unwrap();
    s.delete_user(t.id, bo, &Actor::cli(), now()).await.unwrap();
    s.purge_deleted(t.id, bo.0, &Actor::cli(), now())
        .await
        .unwrap();
    s.delete_group(t.id, g, &Actor::cli(), now()).await.unwrap();
    let mut removed = s
        .removed_objects(t.id, DeletedKind::User, v, None, 10)
        .await
        .unwrap();
    removed.sort_by_key(|r| r.id);
    let mut want = vec![
        Removed {
            id: ana.0,
            purged: false,
        },
        Removed {
            id: bo.0,
            purged: true,
        },
    ];
    want.sort_by_key(|r| r.id);
    assert_eq!(removed, want);
    assert_eq!(
        s.removed_objects(t.id, DeletedKind::Group, v, None, 10)
            .await
            .unwrap(),
        vec![Removed {
            id: g.0,
            purged: false
        }]
    );
    let later_v = s.directory_version(t.id).await.unwrap();
    assert!(s
        .removed_objects(t.id, DeletedKind::User, later_v, None, 10)
        .await
        .unwrap()
        .is_empty());
    // A restore makes the user a change again, no longer a removal.
    s.restore_deleted(t.id, ana.0, &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(
        user_ids(&s.changed_users(t.id, later_v, None, 10).await.unwrap()),
        vec![ana]
    );
    assert!(s
        .removed_objects(t.id, DeletedKind::User, later_v, None, 10)
        .await
        .unwrap()
        .is_empty());
}
