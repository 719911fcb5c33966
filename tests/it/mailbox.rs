//! The mailbox side of ingest as a library user drives it, against a real Dovecot (see
//! `support::dovecot`): TLS with a private CA, STARTTLS, clear text on loopback, LOGIN and
//! XOAUTH2, cursors, fetching without `\Seen`, moving and flagging, IDLE, broken connections,
//! UIDVALIDITY changes, size limits; and a Maildir filled the way an MTA fills it.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clerk::ingest::mail::*;

use crate::support::dovecot::{Dovecot, Options};

/// Long enough for a loaded CI machine.
const TIMEOUT: &str = "20s";

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bank Ops <ops@bank.example>\r\nTo: clerk@firm.example\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@bank.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nStatement attached.\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"{subject}.sta\"\r\n\
         Content-Disposition: attachment; filename=\"{subject}.sta\"\r\n\r\n{body}\r\n--b--\r\n"
    )
    .into_bytes()
}

/// A `[mailboxes.NAME]` table for `user` on `dovecot`, as a user would write it.
fn spec(d: &Dovecot, user: &str, security: &str) -> MailboxSpec {
    let password = d.add_user(user);
    let file = d.scratch().join(format!("{user}.password"));
    fs::write(&file, format!("{password}\n")).unwrap();
    let (port, ca) = match security {
        "tls" => (d.imaps_port(), Some(d.ca_file())),
        "starttls" => (d.imap_port(), Some(d.ca_file())),
        _ => (d.imap_port(), None),
    };
    let toml = format!(
        "kind = \"imap\"\nhost = \"{host}\"\nport = {port}\nsecurity = \"{security}\"\n\
         username = \"{user}\"\npassword_file = \"{}\"\ntimeout = \"{TIMEOUT}\"\n{}",
        file.display(),
        ca.map(|c| format!("ca_file = \"{}\"\n", c.display()))
            .unwrap_or_default(),
        host = if security == "none" {
            "127.0.0.1"
        } else {
            "localhost"
        },
    );
    toml::from_str(&toml).unwrap()
}

fn check(spec: &MailboxSpec) -> Mailbox {
    spec.check("test", Path::new("/"))
        .unwrap_or_else(|e| panic!("{e:?}"))
}

async fn connect(d: &Dovecot, mb: &Mailbox) -> ImapSession {
    match ImapSession::connect(mb).await {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}\nDovecot's log:\n{}", d.log()),
    }
}

#[tokio::test]
async fn tls_with_ca_file_starttls_and_clear_text_on_loopback() {
    let d = Dovecot::start();
    for (user, security) in [("tls", "tls"), ("starttls", "starttls"), ("plain", "none")] {
        d.append(user, "INBOX", &message("one", "x")).await;
        let mb = check(&spec(&d, user, security));
        let mut s = connect(&d, &mb).await;
        let validity = s.select().await.unwrap();
        assert!(validity > 0, "{security}");
        let caps = s.capabilities();
        assert!(caps.iter().any(|c| c == "IDLE"), "{caps:?}");
        assert!(caps.iter().any(|c| c == "MOVE"), "{caps:?}");
        assert_eq!(s.uids_after(0).await.unwrap(), vec![1], "{security}");
        s.logout().await;
    }
    // Dovecot marks logins over TLS (STARTTLS included) with ", TLS"; the clear-text one
    // (and the test's own APPEND sessions) are only "secured" (loopback).
    let log = d.log();
    let logins = |user: &str| -> Vec<&str> {
        log.lines()
            .filter(|l| l.contains(&format!("Login: user=<{user}>")))
            .collect()
    };
    assert!(logins("tls").iter().any(|l| l.contains(", TLS")), "{log}");
    assert!(
        logins("starttls").iter().any(|l| l.contains(", TLS")),
        "{log}"
    );
    assert!(
        !logins("plain").iter().any(|l| l.contains(", TLS")),
        "{log}"
    );

    // health_check says what it found.
    let mb = check(&spec(&d, "tls", "tls"));
    let said = health_check(&mb).await.unwrap();
    assert!(
        said.starts_with("INBOX: 1 messages, UIDVALIDITY "),
        "{said}"
    );
}

#[tokio::test]
async fn untrusted_certificate_and_missing_starttls_are_refused() {
    let d = Dovecot::start();
    let mut s = spec(&d, "alice", "tls");
    s.ca_file = None;
    let err = ImapSession::connect(&check(&s)).await.unwrap_err();
    assert!(matches!(err, MailboxError::Tls { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    drop(d);

    let d = Dovecot::start_with(Options {
        tls: false,
        capabilities: None,
    });
    let mut s = spec(&d, "alice", "starttls");
    s.ca_file = None;
    let err = ImapSession::connect(&check(&s)).await.unwrap_err();
    assert!(
        matches!(err, MailboxError::StartTlsRefused { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    // Nothing but STARTTLS was said: no login was attempted.
    assert!(!d.log().contains("user=<alice>"), "{}", d.log());
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let d = Dovecot::start();
    let mut s = spec(&d, "alice", "tls");
    let file = d.scratch().join("wrong");
    fs::write(&file, "not-the-password\n").unwrap();
    s.password_file = Some(file.display().to_string());
    let err = ImapSession::connect(&check(&s)).await.unwrap_err();
    match &err {
        MailboxError::Auth { username, .. } => assert_eq!(username, "alice"),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient(), "{err}");
    assert!(!err.to_string().contains("not-the-password"), "{err}");
}

#[tokio::test]
async fn xoauth2_with_a_token_command_or_file() {
    let d = Dovecot::start();
    d.append("oauth", "INBOX", &message("one", "x")).await;
    let token_file = d.scratch().join("token");
    fs::write(&token_file, format!("{}\n", d.token("oauth"))).unwrap();
    let mut s = spec(&d, "oauth", "tls");
    s.password_file = None;
    s.auth = Some(AuthKind::Xoauth2);
    s.token_command = Some(vec![
        "/bin/cat".to_owned(),
        token_file.display().to_string(),
    ]);
    let mut session = connect(&d, &check(&s)).await;
    session.select().await.unwrap();
    assert_eq!(session.uids_after(0).await.unwrap(), vec![1]);
    session.logout().await;
    assert!(
        d.log().contains("user=<oauth>, method=XOAUTH2"),
        "{}",
        d.log()
    );

    s.token_command = None;
    s.token_file = Some(token_file.display().to_string());
    connect(&d, &check(&s)).await.logout().await;

    fs::write(&token_file, d.forged_token("oauth")).unwrap();
    let err = ImapSession::connect(&check(&s)).await.unwrap_err();
    assert!(matches!(err, MailboxError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn new_uids_after_a_cursor_and_bodies_without_seen() {
    let d = Dovecot::start();
    let raws: Vec<Vec<u8>> = (1..=3).map(|i| message(&format!("m{i}"), "x")).collect();
    for raw in &raws {
        d.append("alice", "INBOX", raw).await;
    }
    let mb = check(&spec(&d, "alice", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    assert_eq!(s.uids_after(0).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(s.uids_after(2).await.unwrap(), vec![3]);
    // `UID 4:*` matches the last message (UID 3) in IMAP; clerk filters it out.
    assert_eq!(s.uids_after(3).await.unwrap(), Vec::<u32>::new());
    assert_eq!(s.uids_after(u32::MAX).await.unwrap(), Vec::<u32>::new());

    let body = s.fetch(2, 1 << 20).await.unwrap().unwrap();
    assert_eq!(body, raws[1]);
    let parsed = parse_mail(&body, &mb.limits).unwrap();
    assert_eq!(parsed.attachments[0].name, "m2.sta");
    assert_eq!(s.fetch(99, 1 << 20).await.unwrap(), None);
    s.logout().await;
    let flags = d.flags("alice", "INBOX", 2).await;
    assert!(!flags.iter().any(|f| f.contains("Seen")), "{flags:?}");
}

#[tokio::test]
async fn finish_moves_to_processed_or_failed_and_is_idempotent() {
    let d = Dovecot::start();
    for i in 1..=3 {
        d.append("alice", "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mb = check(&spec(&d, "alice", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    // The folders exist once the session has selected.
    assert_eq!(d.count("alice", "Processed").await, Some(0));
    assert_eq!(d.count("alice", "Failed").await, Some(0));
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(2, Finish::Failed).await.unwrap();
    // Again, and a message that never was: nothing happens, no error.
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(77, Finish::Failed).await.unwrap();
    assert_eq!(s.uids_after(0).await.unwrap(), vec![3]);
    s.logout().await;
    assert_eq!(d.count("alice", "INBOX").await, Some(1));
    assert_eq!(d.count("alice", "Processed").await, Some(1));
    assert_eq!(d.count("alice", "Failed").await, Some(1));
}

#[tokio::test]
async fn finish_by_flag_leaves_the_message_and_hides_it_from_the_cursor() {
    let d = Dovecot::start();
    for i in 1..=2 {
        d.append("alice", "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut sp = spec(&d, "alice", "tls");
    sp.after = Some(After::Flag);
    let mb = check(&sp);
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(2, Finish::Failed).await.unwrap();
    // A new cursor (say after UIDVALIDITY changed) does not see finished messages again.
    assert_eq!(s.uids_after(0).await.unwrap(), Vec::<u32>::new());
    s.logout().await;
    assert_eq!(d.count("alice", "INBOX").await, Some(2));
    assert_eq!(d.count("alice", "Processed").await, None);
    let flags = d.flags("alice", "INBOX", 1).await;
    assert!(
        flags.iter().any(|f| f.contains("$ClerkProcessed")),
        "{flags:?}"
    );
    let flags = d.flags("alice", "INBOX", 2).await;
    assert!(
        flags.iter().any(|f| f.contains("$ClerkFailed")),
        "{flags:?}"
    );
}

#[tokio::test]
async fn an_older_server_without_move_uidplus_or_idle() {
    // COPY, \Deleted and UID EXPUNGE instead of MOVE; polling instead of IDLE.
    let d = Dovecot::start_with(Options {
        tls: true,
        capabilities: Some("IMAP4rev1 LITERAL+ UIDPLUS"),
    });
    for i in 1..=2 {
        d.append("alice", "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut sp = spec(&d, "alice", "tls");
    sp.poll_interval = Some("300ms".to_owned());
    let mb = check(&sp);
    let mut s = connect(&d, &mb).await;
    let caps = s.capabilities();
    assert!(!caps.iter().any(|c| c == "MOVE" || c == "IDLE"), "{caps:?}");
    s.select().await.unwrap();
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(1, Finish::Processed).await.unwrap();
    s.finish(2, Finish::Failed).await.unwrap();
    assert!(s.uids_after(0).await.unwrap().is_empty());
    let started = Instant::now();
    s.wait(Duration::from_secs(60)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    s.logout().await;
    assert_eq!(d.count("alice", "INBOX").await, Some(0));
    assert_eq!(d.count("alice", "Processed").await, Some(1));
    assert_eq!(d.count("alice", "Failed").await, Some(1));
    drop(d);

    // Without UIDPLUS the original is only marked \Deleted: a plain EXPUNGE could remove
    // what someone else marked.
    let d = Dovecot::start_with(Options {
        tls: true,
        capabilities: Some("IMAP4rev1 LITERAL+"),
    });
    d.append("alice", "INBOX", &message("m1", "x")).await;
    let mb = check(&spec(&d, "alice", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    s.finish(1, Finish::Processed).await.unwrap();
    s.logout().await;
    assert_eq!(d.count("alice", "Processed").await, Some(1));
    assert_eq!(d.count("alice", "INBOX").await, Some(1));
    let flags = d.flags("alice", "INBOX", 1).await;
    assert!(flags.iter().any(|f| f.contains("Deleted")), "{flags:?}");
}

#[tokio::test]
async fn idle_returns_soon_after_an_append_from_another_connection() {
    let d = Dovecot::start();
    let mb = check(&spec(&d, "alice", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    assert!(s.uids_after(0).await.unwrap().is_empty());
    let started = Instant::now();
    let waiting = tokio::spawn(async move { s.wait(Duration::from_secs(120)).await.map(|()| s) });
    // Give the IDLE a moment to begin; if the mail lands first, IDLE reports it at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.append("alice", "INBOX", &message("late", "x")).await;
    let mut s = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("IDLE did not return within 30 s of new mail")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(s.uids_after(0).await.unwrap(), vec![1]);
    // With nothing new, wait returns at `max`.
    let started = Instant::now();
    s.wait(Duration::from_millis(700)).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    s.logout().await;

    // Without IDLE: a poll_interval sleep and a NOOP.
    let mut sp = spec(&d, "alice", "tls");
    sp.idle = Some(false);
    sp.poll_interval = Some("200ms".to_owned());
    let mut s = connect(&d, &check(&sp)).await;
    s.select().await.unwrap();
    let started = Instant::now();
    s.wait(Duration::from_secs(60)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_connection_killed_mid_fetch_is_transient_and_a_fresh_session_continues() {
    let d = Dovecot::start();
    d.append("alice", "INBOX", &message("one", &"x".repeat(100_000)))
        .await;
    let mb = check(&spec(&d, "alice", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    // The server stops answering, then its process dies while the fetch waits.
    assert_eq!(d.freeze_sessions("alice"), 1, "{}", d.log());
    let fetching = tokio::spawn(async move {
        let r = s.fetch(1, 1 << 20).await;
        (s, r)
    });
    // Kept as a pause: a frozen server shows no state that says the request reached it, and
    // the fetch finishing early is what this looks for: load can hide a bug, not fail it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !fetching.is_finished(),
        "the fetch should be waiting for the frozen server"
    );
    assert_eq!(d.kill_sessions("alice"), 1);
    let (mut s, result) = tokio::time::timeout(Duration::from_secs(30), fetching)
        .await
        .expect("the fetch did not notice the dead connection")
        .unwrap();
    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // The broken session refuses further work, also transiently.
    let again = s.uids_after(0).await.unwrap_err();
    assert!(again.is_transient(), "{again:?}");

    let mut fresh = connect(&d, &mb).await;
    fresh.select().await.unwrap();
    let body = fresh.fetch(1, 1 << 20).await.unwrap().unwrap();
    assert_eq!(body, message("one", &"x".repeat(100_000)));

    // Killed between commands: the next command says so.
    d.kill_sessions("alice");
    let err = fresh.uids_after(0).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn a_uidvalidity_change_is_visible() {
    let d = Dovecot::start();
    d.append("alice", "Statements", &message("one", "x")).await;
    let mut sp = spec(&d, "alice", "tls");
    sp.folder = Some("Statements".to_owned());
    let mb = check(&sp);
    let mut s = connect(&d, &mb).await;
    let before = s.select().await.unwrap();
    s.logout().await;
    d.recreate_folder("alice", "Statements").await;
    d.append("alice", "Statements", &message("two", "y")).await;
    let mut s = connect(&d, &mb).await;
    let after = s.select().await.unwrap();
    assert_ne!(before, after);
    // UIDs restart in the new folder: the old cursor would skip mail; the caller resets it.
    assert_eq!(s.uids_after(0).await.unwrap(), vec![1]);
}

#[tokio::test]
async fn an_oversized_message_is_refused_by_size_without_download() {
    let d = Dovecot::start();
    let big = message("big", &"y".repeat(300_000));
    d.append("alice", "INBOX", &big).await;
    let mb = check(&spec(&d, "alice", "none"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    let err = s.fetch(1, 100_000).await.unwrap_err();
    match &err {
        MailboxError::TooLarge { uid, size, max } => {
            assert_eq!((*uid, *max), (1, 100_000));
            assert_eq!(*size, big.len() as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    // The session is still good.
    assert_eq!(s.uids_after(0).await.unwrap(), vec![1]);
    s.logout().await;
    // Dovecot's own count of what it sent this session: far less than the message.
    let log = d.log();
    let line = log
        .lines()
        .rfind(|l| l.contains("imap(alice)") && l.contains("Logged out"))
        .unwrap_or_else(|| panic!("no logout line:\n{log}"));
    let out: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("out="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no out= in {line}"));
    assert!(out < 10_000, "{line}");
}

/// Everything logged, at every level, including async-imap's `log` records (clerk's own
/// subscriber bridges them the same way).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static SINK: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_env_filter("async_imap=trace,clerk=trace")
            .with_writer(move || Writer(writer.clone()))
            .try_init()
            .expect("no other test installs a global subscriber");
        sink
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn credentials_never_reach_the_logs() {
    let sink = captured_logs();
    let d = Dovecot::start();
    let mb = check(&spec(&d, "secretive", "tls"));
    let mut s = connect(&d, &mb).await;
    s.select().await.unwrap();
    s.logout().await;

    let token = d.token("secretive");
    let token_file = d.scratch().join("token");
    fs::write(&token_file, &token).unwrap();
    let mut sp = spec(&d, "secretive", "tls");
    sp.password_file = None;
    sp.auth = Some(AuthKind::Xoauth2);
    sp.token_file = Some(token_file.display().to_string());
    let mut s = connect(&d, &check(&sp)).await;
    s.select().await.unwrap();
    s.logout().await;

    let logged = String::from_utf8_lossy(&sink.lock().unwrap()).into_owned();
    // The capture works: async-imap's commands after login are there.
    assert!(logged.contains("SELECT"), "nothing captured:\n{logged}");
    assert!(!logged.contains("pw-for-secretive"), "password logged");
    let token_part = token.split('.').nth(1).unwrap();
    assert!(!logged.contains(token_part), "token logged");
    assert!(!logged.contains("auth=Bearer"), "XOAUTH2 response logged");
    assert!(
        !logged.contains("dXNlcj1zZWNyZXRpdmUB"),
        "base64 XOAUTH2 response logged"
    );
}

// --- Maildir ---------------------------------------------------------------------------

/// Delivers like an MTA: write into tmp/, then rename into new/.
fn deliver(root: &Path, name: &str, raw: &[u8]) {
    let tmp = root.join("tmp").join(name);
    fs::write(&tmp, raw).unwrap();
    fs::rename(&tmp, root.join("new").join(name)).unwrap();
}

fn maildir(root: &Path, after: &str) -> (Mailbox, MaildirBox) {
    let spec: MailboxSpec = toml::from_str(&format!(
        "kind = \"maildir\"\npath = \"{}\"\nafter = \"{after}\"\n",
        root.display()
    ))
    .unwrap();
    let mb = check(&spec);
    let bx = MaildirBox::open(&mb).unwrap();
    (mb, bx)
}

#[tokio::test]
async fn maildir_pending_read_and_finish_by_move() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let (mb, bx) = maildir(&root, "move");
    for sub in ["new", "cur", "tmp"] {
        assert!(root.join(sub).is_dir(), "{sub}");
    }
    deliver(&root, "1700000002.M2P1.host", &message("b", "2"));
    deliver(&root, "1700000001.M1P1.host", &message("a", "1"));
    // A delivery still being written, and a message a mail client already looked at.
    fs::write(root.join("tmp/1700000003.M3P1.host"), b"half").unwrap();
    fs::write(
        root.join("cur/1700000000.M0P1.host:2,"),
        message("seen", "0"),
    )
    .unwrap();
    fs::write(
        root.join("cur/1699999999.M9P1.host:2,ST"),
        message("trash", "9"),
    )
    .unwrap();

    let pending = bx.pending().unwrap();
    let ids: Vec<&str> = pending.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "1700000001.M1P1.host",
            "1700000002.M2P1.host",
            "1700000000.M0P1.host"
        ]
    );
    let raw = bx.read(&pending[0], 1 << 20).unwrap();
    assert_eq!(raw, message("a", "1"));
    let err = bx.read(&pending[0], 10).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    bx.finish(&pending[0], Finish::Processed).unwrap();
    bx.finish(&pending[0], Finish::Processed).unwrap();
    bx.finish(&pending[1], Finish::Failed).unwrap();
    bx.finish(&pending[2], Finish::Processed).unwrap();
    assert!(
        root.join(".Processed/cur/1700000001.M1P1.host:2,S")
            .is_file()
    );
    assert!(
        root.join(".Processed/cur/1700000000.M0P1.host:2,S")
            .is_file()
    );
    assert!(root.join(".Processed/maildirfolder").is_file());
    assert!(root.join(".Failed/cur/1700000002.M2P1.host:2,S").is_file());
    assert!(bx.pending().unwrap().is_empty());
    // Read after a mail client moved the file to cur/ under a new name: found by id.
    deliver(&root, "1700000004.M4P1.host", &message("c", "4"));
    let m = bx.pending().unwrap().remove(0);
    fs::rename(
        root.join("new/1700000004.M4P1.host"),
        root.join("cur/1700000004.M4P1.host:2,S"),
    )
    .unwrap();
    assert_eq!(bx.read(&m, 1 << 20).unwrap(), message("c", "4"));
    bx.finish(&m, Finish::Processed).unwrap();
    assert!(
        root.join(".Processed/cur/1700000004.M4P1.host:2,S")
            .is_file()
    );

    let said = health_check(&mb).await.unwrap();
    assert!(said.ends_with("0 pending message(s)"), "{said}");
}

#[test]
fn maildir_finish_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (_mb, bx) = maildir(&root, "flag");
    deliver(&root, "1.M1.host", &message("a", "1"));
    deliver(&root, "2.M2.host", &message("b", "2"));
    let pending = bx.pending().unwrap();
    assert_eq!(pending.len(), 2);
    bx.finish(&pending[0], Finish::Processed).unwrap();
    bx.finish(&pending[1], Finish::Failed).unwrap();
    bx.finish(&pending[1], Finish::Failed).unwrap();
    assert!(root.join("cur/1.M1.host:2,S").is_file());
    assert!(root.join("cur/2.M2.host:2,FS").is_file());
    // Finished messages stay in cur/ and are not pending again.
    assert!(bx.pending().unwrap().is_empty());
    assert!(!root.join(".Processed").exists());
}
