//! Mail through the whole daemon: statements mailed to a real Dovecot (or dropped into a
//! Maildir) are taken once each, whatever happens to the daemon or the connection.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::support::dovecot::Dovecot;
use crate::support::install::{Install, wait_until};

const BANK: &str = "statements@bank.example.com";

/// A mail with attachments, base64-encoded, as a mail client sends it.
pub fn mail(from: &str, subject: &str, message_id: &str, attachments: &[(&str, &[u8])]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Bank <{from}>\r\nTo: back-office@example.com\r\nSubject: {subject}\r\nDate: Thu, 26 Nov 2026 18:00:00 +0100\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nPlease find the statement attached.\r\n"
    );
    for (name, bytes) in attachments {
        let _ = write!(
            m,
            "--b0\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        );
    }
    m.push_str("--b0--\r\n");
    m.into_bytes()
}

pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (n, chunk) in bytes.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A one-line bank statement CSV of its own, so each mail brings a different file.
fn statement(n: u32) -> Vec<u8> {
    format!(
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n2026-03-02,2026-03-02,{n}.00,EUR,MAIL{n:05},TRANSFER {n}\n"
    )
    .into_bytes()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// An install whose bank job takes mail from `user` on `dovecot`'s folder `folder`.
pub fn install_with_imap(dovecot: &Dovecot, user: &str, folder: &str) -> Install {
    let password = dovecot.add_user(user);
    let pw_file = dovecot.scratch().join(format!("{user}.pw"));
    fs::write(&pw_file, &password).unwrap();
    let i = Install::with_mail(&format!(
        r#"
[mailboxes.bank-imap]
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "starttls"
ca_file = "{ca}"
username = "{user}"
password_file = "{pw}"
folder = "{folder}"
poll_interval = "300ms"
timeout = "10s"
"#,
        port = dovecot.imap_port(),
        ca = dovecot.ca_file().display(),
        pw = pw_file.display(),
    ));
    let job = fs::read_to_string(i.path("jobs/bank-reconciliation.toml"))
        .unwrap()
        .replace(
            "[mail]\nmailbox = \"back-office\"",
            "[mail]\nmailbox = \"bank-imap\"",
        );
    assert!(job.contains("bank-imap"));
    fs::write(i.path("jobs/bank-reconciliation.toml"), job).unwrap();
    i
}

fn processed(i: &Install) -> u64 {
    i.status()["files_processed"].as_u64().unwrap()
}

fn fixture(rel: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_statements_are_taken_and_mail_is_moved_refused_or_unpacked() {
    let dovecot = Dovecot::start();
    let user = "flow1";
    let i = install_with_imap(&dovecot, user, "INBOX");
    dovecot
        .append(
            user,
            "INBOX",
            &mail(BANK, "Statement", "m1@bank", &[("s1.csv", &statement(1))]),
        )
        .await;
    // From a stranger: taken by no job.
    dovecot
        .append(
            user,
            "INBOX",
            &mail(
                "mallory@evil.example",
                "Invoice",
                "m2@evil",
                &[("s2.csv", &statement(2))],
            ),
        )
        .await;
    // A hostile attachment name, and a ZIP of two statements.
    dovecot
        .append(
            user,
            "INBOX",
            &mail(
                BANK,
                "Statements",
                "m3@bank",
                &[
                    ("../../../etc/cron.d/x.csv", &statement(3)),
                    (
                        "march.zip",
                        &zip(&[
                            ("stmt/042.sta", &fixture("documents/statement-042.sta")),
                            ("camt.xml", &fixture("documents/camt053-batch.xml")),
                        ]),
                    ),
                ],
            ),
        )
        .await;
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || processed(&i) == 4),
        "{}\n{}",
        d.log(),
        dovecot.log()
    );
    assert!(wait_until(Duration::from_secs(10), || {
        let open = i.json(&["exceptions", "--reason", "unknown_sender"]);
        open.as_array().unwrap().len() == 1
    }));
    let stranger = i.json(&["exceptions", "--reason", "unknown_sender"]);
    let detail = stranger[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("mallory@evil.example") && detail.contains("Invoice"),
        "{detail}"
    );
    // Mail moved: two to Processed, the stranger's to Failed, none left.
    let counts = async {
        (
            dovecot.count(user, "INBOX").await,
            dovecot.count(user, "Processed").await,
            dovecot.count(user, "Failed").await,
        )
    };
    let mut last = counts.await;
    for _ in 0..100 {
        if last == (Some(0), Some(2), Some(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = (
            dovecot.count(user, "INBOX").await,
            dovecot.count(user, "Processed").await,
            dovecot.count(user, "Failed").await,
        );
    }
    assert_eq!(last, (Some(0), Some(2), Some(1)));
    // The hostile name never decided a path: archived under a plain name inside the archive.
    let archived = i.files_under("var/archive");
    assert!(
        archived
            .iter()
            .all(|f| !f.contains("..") && !f.contains("etc/cron")),
        "{archived:?}"
    );
    assert!(
        archived.iter().any(|f| f.ends_with("x.csv")),
        "{archived:?}"
    );
    assert!(
        archived.iter().any(|f| f.ends_with("042.sta")),
        "{archived:?}"
    );
    assert!(
        archived.iter().any(|f| f.ends_with("camt.xml")),
        "{archived:?}"
    );
    assert!(!Path::new("/etc/cron.d/x.csv").exists());
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_batch_takes_every_mail_once() {
    let dovecot = Dovecot::start();
    let user = "flow2";
    let i = install_with_imap(&dovecot, user, "INBOX");
    let n = 12u32;
    for k in 1..=n {
        dovecot
            .append(
                user,
                "INBOX",
                &mail(
                    BANK,
                    "Statement",
                    &format!("k{k}@bank"),
                    &[("s.csv", &statement(100 + k))],
                ),
            )
            .await;
    }
    let mut d = i.start_daemon();
    for k in 0..5 {
        // The kill moment, chosen on purpose (not a wait for some state).
        tokio::time::sleep(Duration::from_millis(150 + 120 * k)).await;
        d.kill9();
        d = i.start_daemon();
    }
    assert!(
        wait_until(Duration::from_secs(60), || processed(&i) == u64::from(n)),
        "{}",
        d.log()
    );
    let mut moved = None;
    for _ in 0..100 {
        moved = dovecot.count(user, "Processed").await;
        if moved == Some(n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(moved, Some(n));
    assert_eq!(dovecot.count(user, "INBOX").await, Some(0));
    let status = i.status();
    assert_eq!(status["records"], u64::from(n), "{status}");
    assert_eq!(status["files_duplicate"], 0, "{status}");
    let handled: i64 = i
        .db()
        .query_row("SELECT COUNT(*) FROM mail_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(handled, i64::from(n));
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_and_a_new_uidvalidity_lose_and_repeat_nothing() {
    let dovecot = Dovecot::start();
    let user = "flow3";
    let i = install_with_imap(&dovecot, user, "Statements");
    let first = mail(BANK, "Statement", "u1@bank", &[("s.csv", &statement(201))]);
    dovecot.append(user, "Statements", &first).await;
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || processed(&i) == 1),
        "{}",
        d.log()
    );

    // The server drops every connection; the daemon reconnects and takes the next mail.
    assert!(dovecot.kill_sessions(user) > 0);
    dovecot
        .append(
            user,
            "Statements",
            &mail(BANK, "Statement", "u2@bank", &[("s.csv", &statement(202))]),
        )
        .await;
    assert!(
        wait_until(Duration::from_secs(30), || processed(&i) == 2),
        "{}",
        d.log()
    );
    d.stop();

    // The folder is renumbered (new UIDVALIDITY, UIDs from 1 again). The first mail comes back
    // (a restore from backup) and a new one arrives with a UID below the old cursor.
    dovecot.recreate_folder(user, "Statements").await;
    dovecot.append(user, "Statements", &first).await;
    dovecot
        .append(
            user,
            "Statements",
            &mail(BANK, "Statement", "u3@bank", &[("s.csv", &statement(203))]),
        )
        .await;
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || processed(&i) == 3),
        "the new mail must not be lost: {}",
        d.log()
    );
    let mut left = None;
    for _ in 0..100 {
        left = dovecot.count(user, "Statements").await;
        if left == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, Some(0), "both moved");
    let status = i.status();
    assert_eq!(
        status["records"], 3,
        "the returned mail is not taken again: {status}"
    );
    d.stop();
}

#[test]
fn a_maildir_delivery_is_taken_the_same_way() {
    let i = Install::new();
    let d = i.start_daemon();
    let root = i.path("var/mail/back-office");
    assert!(wait_until(Duration::from_secs(10), || root
        .join("new")
        .is_dir()));
    // As an MTA delivers: written under tmp/, renamed into new/.
    let raw = mail(BANK, "Statement", "md1@bank", &[("s.csv", &statement(301))]);
    let tmp = root.join("tmp/1764180000.M1P1.host");
    fs::write(&tmp, &raw).unwrap();
    fs::rename(&tmp, root.join("new/1764180000.M1P1.host")).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || processed(&i) == 1),
        "{}",
        d.log()
    );
    assert!(wait_until(Duration::from_secs(10), || {
        fs::read_dir(root.join("new")).unwrap().count() == 0
    }));
    let moved: Vec<_> = fs::read_dir(root.join(".Processed/cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].starts_with("1764180000.M1P1.host"), "{moved:?}");
    d.stop();
}
