//! The contract for mailboxes, the outgoing queue and schedules.

use super::*;

pub(super) fn mail_is_remembered_by_key_message_id_and_content(store: &mut dyn Store) {
    let message = |key: &'static str, outcome: &'static str| NewMailMessage {
        mailbox: "box",
        key,
        message_id: Some("id-1@bank"),
        sender: Some("ops@bank.example"),
        subject: Some("May"),
        sent_at: None,
        at: at(7),
        outcome,
        attachments: 1,
        detail: None,
    };
    let origin = |key: &str, part: u32| MailOrigin {
        mailbox: "box".into(),
        key: key.into(),
        part,
        name: "may.sta".into(),
        about: String::new(),
    };
    let hashes = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Refused under this Message-ID: not "handled".
    in_unit(store, |u| u.add_mail_message(&message("k1", "refused"))).unwrap();
    assert!(!in_read(store, |u| u.mail_processed_with("id-1@bank", &hashes(&[]))).unwrap());
    // Processed with two attachments: handled for those contents only, in any order.
    in_unit(store, |u| {
        u.add_mail_attachment(&origin("k2", 0), "bbb", "bank", None)?;
        u.add_mail_attachment(&origin("k2", 1), "aaa", "bank", None)?;
        u.add_mail_message(&message("k2", "processed"))
    })
    .unwrap();
    let mut seen =
        |h: &[&str]| in_read(store, |u| u.mail_processed_with("id-1@bank", &hashes(h))).unwrap();
    assert!(seen(&["aaa", "bbb"]));
    assert!(seen(&["bbb", "aaa"]));
    assert!(!seen(&["aaa"]));
    assert!(!seen(&["aaa", "bbb", "ccc"]));
    assert!(
        !in_read(store, |u| u
            .mail_processed_with("id-2@bank", &hashes(&["aaa", "bbb"])))
        .unwrap()
    );
    // A refused message comes back and is taken: recorded anew. Any other is kept as it was.
    assert!(in_unit(store, |u| u.add_mail_message(&message("k1", "processed"))).unwrap());
    assert_eq!(
        in_read(store, |u| u.mail_message_outcome("box", "k1"))
            .unwrap()
            .as_deref(),
        Some("processed")
    );
    assert!(!in_unit(store, |u| u.add_mail_message(&message("k1", "failed"))).unwrap());
    assert_eq!(
        in_read(store, |u| u.mail_message_outcome("box", "k1"))
            .unwrap()
            .as_deref(),
        Some("processed")
    );
    // Tries: counted, taken back, noted; recording the message ends them.
    assert_eq!(in_unit(store, |u| u.add_mail_try("box", "k3")).unwrap(), 1);
    assert_eq!(in_unit(store, |u| u.add_mail_try("box", "k3")).unwrap(), 2);
    in_unit(store, |u| u.take_back_mail_try("box", "k3")).unwrap();
    in_unit(store, |u| u.note_mail_try_error("box", "k3", "panicked: x")).unwrap();
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k3")).unwrap(),
        (1, Some("panicked: x".to_owned()))
    );
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k4")).unwrap(),
        (0, None)
    );
    in_unit(store, |u| u.add_mail_message(&message("k3", "refused"))).unwrap();
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k3")).unwrap(),
        (0, None)
    );
}

pub(super) fn outbox_keeps_each_message_once(store: &mut dyn Store) {
    let to = vec!["manager@example.com".to_string()];
    let mail = NewMail {
        message_id: "<summary-1@clerk>",
        purpose: "summary",
        from: "clerk@example.com",
        recipients: &to,
        subject: "summary",
        raw: b"raw message",
        at: at(7),
    };
    assert!(in_unit(store, |u| u.enqueue_mail(&mail)).unwrap());
    assert!(!in_unit(store, |u| u.enqueue_mail(&mail)).unwrap());
    let due = in_unit(store, |u| u.lease_mail(at(7), at(10), 10)).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].recipients, to);
    assert_eq!(due[0].raw, b"raw message");
    // Leased: nobody else takes it until the lease ends.
    let leased = in_unit(store, |u| u.lease_mail(at(8), at(12), 10)).unwrap();
    assert!(leased.is_empty());
    // The sender was killed holding the lease: the next daemon releases it at start-up.
    assert_eq!(in_unit(store, |u| u.release_mail_leases(at(9))).unwrap(), 1);
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), Some(at(9)));
    let released = in_unit(store, |u| u.lease_mail(at(9), at(10), 10)).unwrap();
    assert_eq!(released.len(), 1);
    let again = in_unit(store, |u| u.lease_mail(at(10), at(11), 10)).unwrap();
    assert_eq!(
        again.len(),
        1,
        "a lease that ran out (the sender died) makes the message due again"
    );

    in_unit(store, |u| {
        u.mail_failed(due[0].id, "connection refused", at(12))
    })
    .unwrap();
    let early = in_unit(store, |u| u.lease_mail(at(11), at(13), 10)).unwrap();
    assert!(early.is_empty());
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), Some(at(12)));
    let retry = in_unit(store, |u| u.lease_mail(at(12), at(13), 10)).unwrap();
    assert_eq!(retry[0].attempts, 1);
    in_unit(store, |u| u.mail_sent(retry[0].id, at(12))).unwrap();
    assert_eq!(
        in_unit(store, |u| u.release_mail_leases(at(13))).unwrap(),
        0,
        "a sent message is not released"
    );
    let after = in_unit(store, |u| u.lease_mail(at(23), at(23), 10)).unwrap();
    assert!(after.is_empty());
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), None);
}

pub(super) fn schedules_remember_their_last_fire(store: &mut dyn Store) {
    assert_eq!(in_read(store, |u| u.last_fired("summary")).unwrap(), None);
    in_unit(store, |u| u.set_last_fired("summary", at(7))).unwrap();
    in_unit(store, |u| u.set_last_fired("summary", at(8))).unwrap();
    assert_eq!(
        in_read(store, |u| u.last_fired("summary")).unwrap(),
        Some(at(8))
    );
}
