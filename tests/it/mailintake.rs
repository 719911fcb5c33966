//! Hostile and odd mail through the real daemon, over a Maildir and a real Dovecot: a reused
//! Message-ID, a ZIP with two files of one name, forged senders, forwards nested 40,000 deep,
//! non-ASCII and long attachment names, cut base64, a 20 MB subject, a Maildir file whose
//! name is not UTF-8, and a mail clerk cannot handle at all. Each must end as a taken mail or
//! a refused one with a break naming it; none may stop the mailbox or the daemon.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{STATEMENT, outbox_texts};
use crate::mailflow::{base64, install_with_imap, mail};
use crate::support::dovecot::Dovecot;
use crate::support::install::{Daemon, Install, wait_until};

const BANK: &str = "statements@bank.example.com";
/// Generous: a debug build on a loaded two-core machine.
const WAIT: Duration = Duration::from_secs(90);

/// A one-line bank statement of its own, so each mail brings a different file.
fn statement(n: u32) -> Vec<u8> {
    format!(
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n2026-03-02,2026-03-02,{n}.00,EUR,INTAKE{n:05},TRANSFER {n}\n"
    )
    .into_bytes()
}

/// A mail with the given top headers (From, Subject, Message-ID, ...) and parts written as
/// (part headers, body as sent).
fn mail_parts(headers: &str, parts: &[(&str, &str)]) -> Vec<u8> {
    let mut m = format!(
        "{headers}\r\nTo: back-office@example.com\r\nDate: Thu, 26 Nov 2026 18:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nPlease find the statement attached.\r\n"
    );
    for (head, body) in parts {
        let _ = write!(m, "--b0\r\n{head}\r\n\r\n{body}\r\n");
    }
    m.push_str("--b0--\r\n");
    m.into_bytes()
}

/// The part headers of a base64 attachment named `name`.
fn attachment_head(name: &str) -> String {
    format!(
        "Content-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64"
    )
}

fn maildir(i: &Install) -> PathBuf {
    let root = i.path("var/mail/back-office");
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    root
}

/// Delivers as an MTA does: written under tmp/, renamed into new/.
fn deliver(i: &Install, file: &str, raw: &[u8]) {
    let root = maildir(i);
    fs::write(root.join("tmp").join(file), raw).unwrap();
    fs::rename(root.join("tmp").join(file), root.join("new").join(file)).unwrap();
}

/// The names in a Maildir++ subfolder's cur/ (`.Processed`, `.Failed`).
fn finished(i: &Install, folder: &str) -> Vec<String> {
    fs::read_dir(maildir(i).join(folder).join("cur"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn status(i: &Install, what: &str) -> u64 {
    i.status()[what].as_u64().unwrap()
}

/// The open breaks' details.
fn details(i: &Install) -> Vec<String> {
    i.json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

fn wait(d: &Daemon, what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_until(WAIT, cond), "{what}:\n{}", d.log());
}

/// Edits a job file of the install.
fn edit_job(i: &Install, job: &str, from: &str, to: &str) {
    let path = i.path(&format!("jobs/{job}.toml"));
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {job}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// SIGHUP, and waits until the daemon says it took the new configuration.
fn reload(d: &Daemon) {
    let before = d.log().matches("configuration reloaded").count();
    d.signal("HUP");
    wait(d, "reload", || {
        d.log().matches("configuration reloaded").count() > before
    });
}

fn allow_sender(i: &Install, d: &Daemon, sender: &str) {
    edit_job(
        i,
        "bank-reconciliation",
        "senders = [\"@bank.example.com\"]",
        &format!("senders = [\"@bank.example.com\", \"{sender}\"]"),
    );
    reload(d);
}

// ---- 14: a reused Message-ID ----------------------------------------------------------------

#[test]
fn a_reused_message_id_drops_no_mail_and_a_refused_mail_moved_back_is_taken() {
    let i = Install::new();
    let d = i.start_daemon();
    let id = "stmt-0301@bank.example.com";
    // An attacker's mail that takes the Message-ID the bank will use: refused.
    let attacker = mail(
        "mallory@evil.example",
        "Statement",
        id,
        &[("s.csv", &statement(1))],
    );
    deliver(&i, "1764190001.M1P1.host", &attacker);
    wait(&d, "the stranger's mail refused", || {
        finished(&i, ".Failed").len() == 1
    });
    // The bank's real mail with that Message-ID is taken all the same.
    let bank = mail(BANK, "Statement", id, &[("s.csv", &statement(2))]);
    deliver(&i, "1764190002.M2P1.host", &bank);
    wait(&d, "the bank's mail taken", || {
        status(&i, "files_processed") == 1
    });
    // The bank's server delivers it again: the same message with the same attachments is
    // recognised; nothing is taken twice and nobody is bothered.
    let breaks = details(&i).len();
    deliver(&i, "1764190003.M3P1.host", &bank);
    wait(&d, "the redelivery moved", || {
        finished(&i, ".Processed").len() == 2
    });
    assert_eq!(status(&i, "files_processed"), 1);
    assert_eq!(status(&i, "files_duplicate"), 0);
    assert_eq!(details(&i).len(), breaks);

    // The operator allows the sender and moves the refused mail back into the Maildir, as
    // README says: it is taken now.
    allow_sender(&i, &d, "@evil.example");
    let root = maildir(&i);
    let refused = finished(&i, ".Failed").remove(0);
    fs::rename(
        root.join(".Failed/cur").join(&refused),
        root.join("cur").join(&refused),
    )
    .unwrap();
    wait(&d, "the refused mail taken when moved back", || {
        status(&i, "files_processed") == 2
    });
    assert!(wait_until(WAIT, || finished(&i, ".Failed").is_empty()));
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_imap_a_reused_message_id_a_non_ascii_name_and_a_redelivered_refused_mail() {
    let dovecot = Dovecot::start();
    let user = "intake1";
    let i = install_with_imap(&dovecot, user, "INBOX");
    let id = "stmt-0302@bank.example.com";
    let attacker = mail(
        "mallory@evil.example",
        "Statement",
        id,
        &[("s.csv", &statement(11))],
    );
    dovecot.append(user, "INBOX", &attacker).await;
    // A multibyte character at byte 3 of the name: it once panicked and blocked the mailbox.
    dovecot
        .append(
            user,
            "INBOX",
            &mail(
                BANK,
                "Zoë",
                "zoe@bank.example.com",
                &[("Zoë.csv", &statement(12))],
            ),
        )
        .await;
    dovecot
        .append(
            user,
            "INBOX",
            &mail(BANK, "Statement", id, &[("s.csv", &statement(13))]),
        )
        .await;
    let d = i.start_daemon();
    wait(&d, "the bank's mails taken", || {
        status(&i, "files_processed") == 2
    });
    assert!(
        i.files_under("var/archive")
            .iter()
            .any(|f| f.ends_with("Zoë.csv")),
        "{:?}",
        i.files_under("var/archive")
    );
    // The sender is allowed and the refused mail delivered again (a new UID): taken.
    allow_sender(&i, &d, "@evil.example");
    dovecot.append(user, "INBOX", &attacker).await;
    wait(&d, "the redelivered mail taken", || {
        status(&i, "files_processed") == 3
    });
    d.stop();
}

// ---- 15: a ZIP with two files of one name ---------------------------------------------------

#[test]
fn a_zip_with_two_files_of_the_same_name_is_refused_with_a_break() {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("march/s.csv", opts).unwrap();
    z.write_all(&statement(21)).unwrap();
    z.start_file("march/t.csv", opts).unwrap();
    z.write_all(&statement(22)).unwrap();
    let mut bytes = z.finish().unwrap().into_inner();
    // The second entry renamed to the first one's name, in its local and central headers.
    let mut at = 0;
    while let Some(p) = memchr::memmem::find(&bytes[at..], b"march/t.csv") {
        bytes[at + p + 6] = b's';
        at += p + 1;
    }
    let i = Install::new();
    let d = i.start_daemon();
    deliver(
        &i,
        "1764190010.M1P1.host",
        &mail(
            BANK,
            "March",
            "zip-dup@bank.example.com",
            &[("march.zip", &bytes)],
        ),
    );
    wait(&d, "the mail refused", || {
        finished(&i, ".Failed").len() == 1
    });
    let all = details(&i);
    assert!(
        all.iter()
            .any(|d| d.contains("march.zip") && d.contains("same name")),
        "{all:?}"
    );
    assert_eq!(status(&i, "files_processed"), 0);
    d.stop();
}

// ---- 16: the sender allowlist -----------------------------------------------------------------

#[test]
fn forged_from_headers_are_refused() {
    let i = Install::new();
    let d = i.start_daemon();
    let forged = [
        "From: Mallory <mallory@evil.example>\r\nFrom: Bank <statements@bank.example.com>",
        "From: <mallory@evil.example> statements@bank.example.com",
        "From: mallory@evil.example@bank.example.com",
        "From: mallory@evil.example, statements@bank.example.com",
        "From: Bank <statements@bank.example.com> <mallory@evil.example>",
    ];
    for (n, from) in forged.iter().enumerate() {
        let head = format!("{from}\r\nSubject: Statement\r\nMessage-ID: <forged-{n}@x>");
        let raw = mail_parts(
            &head,
            &[(
                &attachment_head("s.csv"),
                &base64(&statement(30 + n as u32)),
            )],
        );
        deliver(&i, &format!("1764190020.M{n}P1.host"), &raw);
    }
    wait(&d, "every forged mail refused", || {
        finished(&i, ".Failed").len() == forged.len()
    });
    assert_eq!(status(&i, "files_processed"), 0);
    let all = details(&i);
    assert!(
        all.iter().any(|d| d.contains("two From headers")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|d| d.contains("more than one address")),
        "{all:?}"
    );
    d.stop();
}

#[test]
fn with_authentication_results_only_mail_the_own_server_verified_is_taken() {
    let i = Install::new();
    let config = fs::read_to_string(i.config()).unwrap();
    fs::write(
        i.config(),
        config.replacen(
            "kind = \"maildir\"\n",
            "kind = \"maildir\"\nauthentication_results = \"mx.clerk.example\"\n",
            1,
        ),
    )
    .unwrap();
    let d = i.start_daemon();
    let cases = [
        ("", false),
        (
            "Authentication-Results: mx.evil.example; dmarc=pass header.from=bank.example.com",
            false,
        ),
        (
            "Authentication-Results: mx.clerk.example; dmarc=fail (p=reject) header.from=bank.example.com",
            false,
        ),
        (
            "Authentication-Results: mx.clerk.example; dmarc=pass header.from=evil.example",
            false,
        ),
        (
            "Authentication-Results: mx.clerk.example;\r\n spf=pass smtp.mailfrom=bank.example.com;\r\n dkim=pass header.d=bank.example.com;\r\n dmarc=pass (p=reject dis=none) header.from=bank.example.com",
            true,
        ),
    ];
    for (n, (results, _)) in cases.iter().enumerate() {
        let mut head =
            format!("From: Bank <{BANK}>\r\nSubject: Statement\r\nMessage-ID: <ar-{n}@x>");
        if !results.is_empty() {
            head = format!("{results}\r\n{head}");
        }
        let raw = mail_parts(
            &head,
            &[(
                &attachment_head("s.csv"),
                &base64(&statement(40 + n as u32)),
            )],
        );
        deliver(&i, &format!("1764190030.M{n}P1.host"), &raw);
    }
    wait(&d, "one taken, four refused", || {
        status(&i, "files_processed") == 1 && finished(&i, ".Failed").len() == 4
    });
    let all = details(&i);
    assert!(
        all.iter()
            .any(|d| d.contains("mx.clerk.example") && d.contains("dmarc=pass")),
        "{all:?}"
    );
    d.stop();
}

// ---- 17: forwards nested 40,000 deep ----------------------------------------------------------

#[test]
fn a_mail_nested_forty_thousand_forwards_deep_is_refused_and_the_daemon_goes_on() {
    let mut deep = String::from(
        "From: Mallory <mallory@evil.example>\r\nSubject: deep\r\nMessage-ID: <deep@evil.example>\r\nMIME-Version: 1.0\r\n",
    );
    deep.push_str(&"Content-Type: message/rfc822\r\n\r\n".repeat(40_000));
    deep.push_str("Subject: bottom\r\n\r\nhello\r\n");
    assert!(deep.len() < 2 << 20);
    let i = Install::new();
    let d = i.start_daemon();
    deliver(&i, "1764190040.M1P1.host", deep.as_bytes());
    deliver(
        &i,
        "1764190041.M2P1.host",
        &mail(
            BANK,
            "Statement",
            "after-deep@bank.example.com",
            &[("s.csv", &statement(50))],
        ),
    );
    wait(&d, "the deep mail refused, the next one taken", || {
        finished(&i, ".Failed").len() == 1 && status(&i, "files_processed") == 1
    });
    let all = details(&i);
    assert!(
        all.iter().any(|d| d.contains("forwarded messages")),
        "{all:?}"
    );
    d.stop();
}

// ---- 18: a name that panicked; a mail that cannot be handled ----------------------------------

#[test]
fn a_non_ascii_attachment_name_is_taken_and_blocks_nothing() {
    let i = Install::new();
    let d = i.start_daemon();
    deliver(
        &i,
        "1764190050.M1P1.host",
        &mail(
            BANK,
            "Zoë",
            "zoe@bank.example.com",
            &[("Zoë.csv", &statement(60))],
        ),
    );
    deliver(
        &i,
        "1764190051.M2P1.host",
        &mail(
            BANK,
            "Statement",
            "next@bank.example.com",
            &[("s.csv", &statement(61))],
        ),
    );
    wait(&d, "both taken", || status(&i, "files_processed") == 2);
    assert!(
        i.files_under("var/archive")
            .iter()
            .any(|f| f.ends_with("Zoë.csv"))
    );
    d.stop();
}

/// Starts `clerk run` with extra environment, not waiting for it to be ready (it may die at
/// once).
fn spawn_daemon(i: &Install, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clerk"))
        .arg("--config")
        .arg(i.config())
        .arg("run")
        .current_dir(&i.root)
        .env("CLERK_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The fault hook (`CLERK_TEST_FAULT_MAIL`, debug builds only) stands in for a mail that
/// crashes clerk: after the bug that let Zoë.csv panic is fixed, no real mail does.
#[cfg(debug_assertions)]
#[test]
fn a_mail_that_cannot_be_handled_is_set_aside_after_three_tries() {
    let i = Install::new();
    // A panic on every try: the panic is caught, the mail tried again, then set aside.
    let d = i.start_daemon_with(&[("CLERK_TEST_FAULT_MAIL", "panic:FAULT-PANIC")]);
    deliver(
        &i,
        "1764190060.M1P1.host",
        &mail(
            BANK,
            "FAULT-PANIC",
            "panic@bank.example.com",
            &[("s.csv", &statement(70))],
        ),
    );
    deliver(
        &i,
        "1764190061.M2P1.host",
        &mail(
            BANK,
            "Statement",
            "after-panic@bank.example.com",
            &[("s.csv", &statement(71))],
        ),
    );
    wait(&d, "set aside, the next mail taken", || {
        finished(&i, ".Failed").len() == 1 && status(&i, "files_processed") == 1
    });
    let all = details(&i);
    assert!(
        all.iter()
            .any(|d| d.contains("3 times") && d.contains("FAULT-PANIC") && d.contains(BANK)),
        "{all:?}"
    );
    d.stop();

    // A mail that kills the process on every try: each restart tries it once more, until it is
    // set aside and the daemon runs.
    deliver(
        &i,
        "1764190062.M3P1.host",
        &mail(
            BANK,
            "FAULT-ABORT",
            "abort@bank.example.com",
            &[("s.csv", &statement(72))],
        ),
    );
    let mut deaths = 0;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "never set aside"
        );
        let mut child = spawn_daemon(&i, &[("CLERK_TEST_FAULT_MAIL", "abort:FAULT-ABORT")]);
        let set_aside = wait_until(WAIT, || {
            finished(&i, ".Failed").len() == 2 || child.try_wait().unwrap().is_some()
        });
        assert!(set_aside, "the daemon neither died nor set the mail aside");
        if finished(&i, ".Failed").len() == 2 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
            break;
        }
        deaths += 1;
    }
    assert_eq!(deaths, 3, "one death per try");
    assert!(details(&i).iter().any(|d| d.contains("FAULT-ABORT")));
}

// ---- 19: long names from Maildir keys ---------------------------------------------------------

#[test]
fn long_attachment_names_under_long_maildir_keys_are_taken() {
    let i = Install::new();
    let d = i.start_daemon();
    // Dovecot's own names: time, unique part, host, size and virtual size.
    let key = "1764190070.M123456P7890.mail-server-01.back-office.example.com,S=2345,W=2400";
    let long = format!("{}.csv", "Kontoauszug-".repeat(12));
    let wide = format!("{}.csv", "Überweisung-".repeat(11));
    assert!(long.len() > 140 && wide.len() > 140);
    deliver(
        &i,
        key,
        &mail(
            BANK,
            "Statements",
            "long@bank.example.com",
            &[(&long, &statement(80)), (&wide, &statement(81))],
        ),
    );
    wait(&d, "both taken", || status(&i, "files_processed") == 2);
    for f in i.files_under("var/archive") {
        let name = f.rsplit('/').next().unwrap();
        assert!(
            name.len() <= 255 && name.ends_with(".csv"),
            "{name} ({} bytes)",
            name.len()
        );
    }
    d.stop();
}

// ---- 20: cut base64 ---------------------------------------------------------------------------

#[test]
fn cut_base64_is_refused_not_taken_short() {
    let mut csv = statement(90);
    while !csv.len().is_multiple_of(3) {
        csv.push(b'\n');
    }
    let whole = base64(&csv);
    // The cut leaves one character of a group: the decoder used to drop it without a word.
    let stray = format!("{whole}Q");
    // A group of three with its padding cut off.
    let short = base64(&[csv.as_slice(), b"ab"].concat());
    let short = short.trim_end_matches('=').to_owned();
    let i = Install::new();
    let d = i.start_daemon();
    for (n, body) in [stray, short].iter().enumerate() {
        let head =
            format!("From: Bank <{BANK}>\r\nSubject: Statement {n}\r\nMessage-ID: <cut-{n}@x>");
        deliver(
            &i,
            &format!("1764190080.M{n}P1.host"),
            &mail_parts(&head, &[(&attachment_head("s.csv"), body)]),
        );
    }
    wait(&d, "both refused", || finished(&i, ".Failed").len() == 2);
    assert_eq!(status(&i, "files_processed"), 0);
    let all = details(&i);
    assert_eq!(
        all.iter().filter(|d| d.contains("base64")).count(),
        2,
        "{all:?}"
    );
    d.stop();
}

// ---- 21: messages about mail ------------------------------------------------------------------

#[test]
fn a_break_about_a_mailed_file_names_the_mail_and_a_huge_subject_is_cut() {
    let i = Install::new();
    let d = i.start_daemon();
    let bad = STATEMENT.replace("250.50", "25O.50");
    deliver(
        &i,
        "1764190090.M1P1.host",
        &mail(
            BANK,
            "March statement",
            "bad@bank.example.com",
            &[("bad.csv", bad.as_bytes())],
        ),
    );
    wait(&d, "the file failed", || status(&i, "files_failed") == 1);
    let all = details(&i);
    assert!(
        all.iter().any(|d| d.contains("bad.csv")
            && d.contains(BANK)
            && d.contains("March statement")
            && d.contains("2026-11-26")),
        "{all:?}"
    );

    // 20 MB of subject from a stranger: the break, the alert and the summary stay small.
    let subject = "A".repeat(20 << 20);
    deliver(
        &i,
        "1764190091.M2P1.host",
        &mail(
            "mallory@evil.example",
            &subject,
            "huge@evil.example",
            &[("s.csv", &statement(91))],
        ),
    );
    // (The mail with the bad file went to the failed folder too.)
    wait(&d, "the huge mail refused", || {
        finished(&i, ".Failed").len() == 2
    });
    let all = details(&i);
    assert!(
        all.iter().all(|d| d.len() < 4096),
        "a break of {} bytes",
        all.iter().map(String::len).max().unwrap_or(0)
    );
    assert!(
        all.iter()
            .any(|d| d.contains("mallory@evil.example") && d.contains("AAAA")),
        "{all:?}"
    );
    assert!(wait_until(WAIT, || outbox_texts(&i).len() >= 2));
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for m in outbox_texts(&i) {
        assert!(m.len() < 256 << 10, "a mail of {} bytes", m.len());
    }
    let listed = i.clerk(&["exceptions"]);
    assert!(
        listed.stdout.len() < 64 << 10,
        "{} bytes",
        listed.stdout.len()
    );
    d.stop();
}

#[test]
fn a_maildir_file_whose_name_is_not_utf8_is_reported_once() {
    use std::os::unix::ffi::OsStrExt;
    let i = Install::new();
    let root = maildir(&i);
    let odd = std::ffi::OsStr::from_bytes(b"1764190100.M1P1.h\xf6st");
    fs::write(
        root.join("tmp").join(odd),
        mail(
            BANK,
            "Odd",
            "odd@bank.example.com",
            &[("s.csv", &statement(100))],
        ),
    )
    .unwrap();
    fs::rename(root.join("tmp").join(odd), root.join("new").join(odd)).unwrap();
    deliver(
        &i,
        "1764190101.M2P1.host",
        &mail(
            BANK,
            "Statement",
            "even@bank.example.com",
            &[("s.csv", &statement(101))],
        ),
    );
    let d = i.start_daemon();
    wait(&d, "reported, set aside, the next mail taken", || {
        finished(&i, ".Failed").len() == 1 && status(&i, "files_processed") == 1
    });
    let all = details(&i);
    let about: Vec<&String> = all.iter().filter(|d| d.contains("UTF-8")).collect();
    assert_eq!(about.len(), 1, "{all:?}");
    assert!(about[0].contains("1764190100.M1P1.h"), "{about:?}");
    let log = d.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains("UTF-8"))
            .count(),
        1,
        "{log}"
    );
    d.stop();
    // Once: a restart reports nothing more.
    let d = i.start_daemon();
    deliver(
        &i,
        "1764190102.M3P1.host",
        &mail(
            BANK,
            "Statement",
            "later@bank.example.com",
            &[("s.csv", &statement(102))],
        ),
    );
    wait(&d, "the later mail taken", || {
        status(&i, "files_processed") == 2
    });
    assert_eq!(
        details(&i).iter().filter(|d| d.contains("UTF-8")).count(),
        1
    );
    d.stop();
}
