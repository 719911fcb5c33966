//! The contract for the console's users and sessions.

use super::*;
use crate::model::people::Role;
use crate::store::users::{Change, NewSession, NewUser};

fn change(h: u32) -> Change<'static> {
    Change {
        at: at(h),
        by: "root",
    }
}

fn session<'a>(token: &'a str, user: &'a str, h: u32) -> NewSession<'a> {
    NewSession {
        token_hash: token,
        user,
        csrf: "csrf-of-the-session",
        at: at(h),
    }
}

pub(super) fn users_are_kept_once_by_name_with_who_changed_them(store: &mut dyn Store) {
    in_unit(store, |u| {
        u.add_user(&NewUser {
            name: "anna",
            role: Role::Operator,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            at: at(7),
            by: "root",
        })?;
        u.add_user(&NewUser {
            name: "bert",
            role: Role::Viewer,
            password_hash: None,
            at: at(7),
            by: "root",
        })
    })
    .unwrap();
    // One person, one name, whatever its case.
    let again = in_unit(store, |u| {
        u.add_user(&NewUser {
            name: "Anna",
            role: Role::Admin,
            password_hash: None,
            at: at(8),
            by: "mallory",
        })
    });
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("already exists")),
        "{again:?}"
    );
    let anna = in_read(store, |u| u.user("ANNA")).unwrap().unwrap();
    assert_eq!((anna.name.as_str(), anna.role), ("anna", Role::Operator));
    assert!(anna.password_hash.is_some() && !anna.disabled);
    assert!(
        !format!("{anna:?}").contains("argon2"),
        "a hash never shows in Debug"
    );
    let bert = in_read(store, |u| u.user("bert")).unwrap().unwrap();
    assert_eq!(bert.password_hash, None, "single sign-on only");
    assert_eq!(in_read(store, |u| u.user("carl")).unwrap(), None);

    let names: Vec<String> = in_read(store, |u| u.users())
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["anna", "bert"]);

    assert!(in_unit(store, |u| u.set_role("bert", Role::Approver, change(9))).unwrap());
    assert!(!in_unit(store, |u| u.set_role("carl", Role::Approver, change(9))).unwrap());
    let bert = in_read(store, |u| u.user("bert")).unwrap().unwrap();
    assert_eq!(bert.role, Role::Approver);
    assert_eq!((bert.updated_at, bert.updated_by.as_str()), (at(9), "root"));
    assert_eq!((bert.created_at, bert.created_by.as_str()), (at(7), "root"));
}

pub(super) fn sessions_end_on_logout_expiry_disable_and_new_password(store: &mut dyn Store) {
    in_unit(store, |u| {
        u.add_user(&NewUser {
            name: "dora",
            role: Role::Approver,
            password_hash: Some("hash-1"),
            at: at(7),
            by: "root",
        })
    })
    .unwrap();
    in_unit(store, |u| {
        u.create_session(&session("t1", "dora", 8))?;
        u.create_session(&session("t2", "dora", 8))?;
        u.create_session(&session("t3", "dora", 10))
    })
    .unwrap();
    let s = in_read(store, |u| u.session("t1")).unwrap().unwrap();
    assert_eq!((s.user.as_str(), s.role), ("dora", Role::Approver));
    assert_eq!((s.created_at, s.last_seen), (at(8), at(8)));
    assert_eq!(s.csrf, "csrf-of-the-session");
    assert!(!s.disabled);
    assert_eq!(in_read(store, |u| u.session("nope")).unwrap(), None);

    // A role changed after login counts at once.
    in_unit(store, |u| u.set_role("dora", Role::Viewer, change(9))).unwrap();
    let s = in_read(store, |u| u.session("t1")).unwrap().unwrap();
    assert_eq!(s.role, Role::Viewer);

    in_unit(store, |u| u.touch_session("t2", at(11))).unwrap();
    assert_eq!(
        in_read(store, |u| u.session("t2"))
            .unwrap()
            .unwrap()
            .last_seen,
        at(11)
    );

    // Logout ends one session, once.
    assert!(in_unit(store, |u| u.end_session("t1")).unwrap());
    assert!(!in_unit(store, |u| u.end_session("t1")).unwrap());

    // t2 was used at 11 but opened at 8; t3 opened at 10, unused since. Idle since before 10:30
    // ends t3; opened before 9 ends t2.
    let ended = in_unit(store, |u| {
        u.end_expired_sessions(at(10) + chrono::Duration::minutes(30), at(9))
    })
    .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(in_read(store, |u| u.session("t2")).unwrap(), None);
    assert_eq!(in_read(store, |u| u.session("t3")).unwrap(), None);

    // Disabling ends every session of the user; enabling brings none back.
    in_unit(store, |u| {
        u.create_session(&session("t4", "dora", 12))?;
        u.create_session(&session("t5", "dora", 12))
    })
    .unwrap();
    assert_eq!(
        in_unit(store, |u| u.set_disabled("Dora", true, change(12))).unwrap(),
        Some(2)
    );
    assert_eq!(in_read(store, |u| u.session("t4")).unwrap(), None);
    assert!(
        in_read(store, |u| u.user("dora"))
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        in_unit(store, |u| u.set_disabled("dora", false, change(13))).unwrap(),
        Some(0)
    );
    assert_eq!(
        in_unit(store, |u| u.set_disabled("nobody", true, change(13))).unwrap(),
        None
    );

    // A new password ends the sessions opened with the old one.
    in_unit(store, |u| u.create_session(&session("t6", "dora", 14))).unwrap();
    assert!(
        in_unit(store, |u| u.set_password(
            "dora",
            Some("hash-2"),
            change(14)
        ))
        .unwrap()
    );
    assert_eq!(in_read(store, |u| u.session("t6")).unwrap(), None);
    let dora = in_read(store, |u| u.user("dora")).unwrap().unwrap();
    assert_eq!(dora.password_hash.as_deref(), Some("hash-2"));
    assert!(!in_unit(store, |u| u.set_password("nobody", None, change(14))).unwrap());

    // A session names a user who exists.
    let orphan = in_unit(store, |u| u.create_session(&session("t7", "ghost", 15)));
    assert!(orphan.is_err(), "{orphan:?}");
}
