//! Hostile input through the real daemon: each file or mail is refused in bounded time with
//! an error naming the file and what is wrong, quarantined in failed/, and the daemon goes on.
//! (Entity bombs, truncated MT940 and files over the size limit: `documents.rs`.)

use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, Instant};

use crate::daemon::{LEDGER, outbox_texts};
use crate::mailflow::mail;
use crate::support::install::{Install, wait_until};
use crate::support::smtp::SmtpServer;

/// A ZIP whose one part, `part`, inflates to `mib` MiB of zeros from a few hundred KB: one
/// MiB deflated with a full flush (byte-aligned, no reference back past it) repeated, then an
/// empty final block. The CRC is left wrong: nothing should read that far.
fn zip_bomb(part: &str, mib: u32, extra: &[(&str, &[u8])]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let mut chunk = Vec::with_capacity(1 << 16);
    c.compress_vec(&vec![0u8; 1 << 20], &mut chunk, FlushCompress::Full)
        .unwrap();
    assert!(c.total_in() == 1 << 20, "one call takes the whole MiB");
    let mut data = Vec::with_capacity(chunk.len() * mib as usize + 2);
    for _ in 0..mib {
        data.extend_from_slice(&chunk);
    }
    data.extend_from_slice(&[0x03, 0x00]);
    let size = u32::try_from(u64::from(mib) << 20).unwrap_or(u32::MAX);

    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut entries = 0u16;
    let mut add = |out: &mut Vec<u8>, name: &str, method: u16, body: &[u8], usize_: u32| {
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&0u32.to_le_bytes()); // crc
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&usize_.to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
                h.extend_from_slice(&0u32.to_le_bytes()); // external attrs
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(body);
        central.extend(header(0x0201_4b50, true));
        entries += 1;
    };
    for (name, body) in extra {
        add(&mut out, name, 0, body, body.len() as u32);
    }
    add(&mut out, part, 8, &data, size);
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

const CONTENT_TYPES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;

fn failed_note(i: &Install, job: &str, name: &str) -> String {
    let p = i.path(&format!("var/failed/{job}/{name}.error.txt"));
    assert!(
        wait_until(Duration::from_secs(10), || p.exists()),
        "no note for {name:?} in failed/{job}: {:?}",
        i.files_under("var/failed")
    );
    fs::read_to_string(p).unwrap()
}

fn failed_count(i: &Install) -> u64 {
    i.status()["files_failed"].as_u64().unwrap()
}

#[test]
fn hostile_files_are_refused_in_bounded_time_quarantined_and_the_daemon_goes_on() {
    let i = Install::new();
    let d = i.start_daemon();
    let mut junk = Vec::with_capacity(256 * 1024);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    while junk.len() < 256 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk.extend_from_slice(&x.to_le_bytes());
    }
    let mut wide =
        b"booking_date,value_date,amount,currency,bank_reference,remittance_info\n".to_vec();
    wide.extend(std::iter::repeat_n(b',', 1_000_000));
    wide.push(b'\n');
    let mut long = b"booking_date,value_date,amount,currency,bank_reference,remittance_info\n2026-03-02,2026-03-02,1.00,EUR,B1,".to_vec();
    long.extend(std::iter::repeat_n(b'A', 100 << 20));
    long.push(b'\n');
    let bomb = zip_bomb(
        "xl/worksheets/sheet1.xml",
        1100,
        &[("[Content_Types].xml", CONTENT_TYPES)],
    );
    assert!(bomb.len() < 8 << 20, "a bomb is small: {}", bomb.len());

    // (file, bytes, words its note must hold, time it may take)
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, u64)> = vec![
        ("junk.sta", junk, vec!["junk.sta"], 20),
        ("wide.csv", wide, vec!["wide.csv", "10000"], 20),
        (
            "long.csv",
            long,
            vec!["long.csv", "line 2", "longer than 1 MiB"],
            40,
        ),
        ("bomb.xlsx", bomb, vec!["bomb.xlsx", "zip bomb"], 50),
    ];
    for (n, (name, bytes, words, secs)) in cases.iter().enumerate() {
        let started = Instant::now();
        i.drop_file("var/inbox/bank", name, bytes);
        assert!(
            wait_until(Duration::from_secs(*secs), || failed_count(&i)
                == (n + 1) as u64),
            "{name} not refused within {secs} s:\n{}",
            d.log()
        );
        let note = failed_note(&i, "bank-reconciliation", name);
        for w in words {
            assert!(note.contains(w), "{name}: {w:?} not in\n{note}");
        }
        let quarantined = i.path(&format!("var/failed/bank-reconciliation/{name}"));
        // The note is written first, then the file moved.
        assert!(wait_until(Duration::from_secs(20), || quarantined.exists()));
        eprintln!("{name}: refused in {:?}", started.elapsed());
    }
    assert_eq!(
        i.status()["records"],
        0,
        "nothing of a refused file is kept"
    );
    assert!(i.files_under("var/inbox").is_empty());

    // Still working.
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_processed"] == 1
    ));
    d.stop();
}

#[test]
fn control_characters_in_a_file_name_forge_no_log_line_and_no_mail_header() {
    let i = Install::new();
    let d = i.start_daemon();
    // A name that tries to start a log line of its own and to add a mail header.
    let name = "x\n2000-01-01T00:00:00.000000Z  INFO clerk::daemon: forged\r\nBcc: victim@evil.example\r\n\u{1b}[2J.csv";
    let bad = LEDGER.replace("250.50", "25O.50");
    i.drop_file("var/inbox/ledger", name, bad.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || failed_count(&i) == 1),
        "{}",
        d.log()
    );
    assert!(wait_until(Duration::from_secs(10), || !outbox_texts(&i).is_empty()));
    let log = d.log();
    assert!(
        !log.lines().any(|l| l.starts_with("2000-01-01")),
        "a file name forged a log line:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "a raw escape sequence reached the log"
    );
    for m in outbox_texts(&i) {
        let head = m.split("\r\n\r\n").next().unwrap();
        assert!(
            !head.to_ascii_lowercase().contains("bcc:")
                && !head.to_ascii_lowercase().contains("victim@"),
            "a file name reached the headers:\n{head}"
        );
    }
    // Quarantined under its own name, with its note.
    let failed = i.files_under("var/failed/ledger-import");
    assert_eq!(failed.len(), 2, "{failed:?}");
    d.stop();
}

fn deliver_to_maildir(i: &Install, n: u32, raw: &[u8]) {
    let root = i.path("var/mail/back-office");
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let file = format!("1764190000.M{n}P2.hostile");
    fs::write(root.join("tmp").join(&file), raw).unwrap();
    fs::rename(root.join("tmp").join(&file), root.join("new").join(&file)).unwrap();
}

fn refused_mail(i: &Install) -> usize {
    fs::read_dir(i.path("var/mail/back-office/.Failed/cur"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_mail_of_ten_thousand_parts_and_a_zip_bomb_attachment_are_refused() {
    let i = Install::new();
    let d = i.start_daemon();

    let mut parts = String::from(
        "From: Bank <statements@bank.example.com>\r\nTo: back-office@example.com\r\nSubject: parts\r\nMessage-ID: <parts@bank>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
    );
    for k in 0..10_000 {
        let _ = write!(
            parts,
            "--p\r\nContent-Type: text/csv; name=\"s{k}.csv\"\r\nContent-Disposition: attachment; filename=\"s{k}.csv\"\r\n\r\nx\r\n"
        );
    }
    parts.push_str("--p--\r\n");
    let started = Instant::now();
    deliver_to_maildir(&i, 1, parts.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || refused_mail(&i) == 1),
        "{}",
        d.log()
    );
    eprintln!("10,000 parts: refused in {:?}", started.elapsed());

    // 300 MiB from a ZIP of a few hundred KB, past the 200 MB a message may unpack to.
    let bomb = zip_bomb("statement.csv", 300, &[]);
    let started = Instant::now();
    deliver_to_maildir(
        &i,
        2,
        &mail(
            "statements@bank.example.com",
            "bomb",
            "bomb@bank",
            &[("march.zip", &bomb)],
        ),
    );
    assert!(
        wait_until(Duration::from_secs(30), || refused_mail(&i) == 2),
        "{}",
        d.log()
    );
    eprintln!("ZIP bomb attachment: refused in {:?}", started.elapsed());

    // Each is a break saying which mail and what, and the alerts went out.
    let ex = i.json(&["exceptions"]);
    let details: Vec<String> = ex
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("MIME parts")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("march.zip") || d.contains("unpack")),
        "{details:?}"
    );
    assert_eq!(i.status()["records"], 0);

    // The daemon goes on: a good statement by mail.
    deliver_to_maildir(
        &i,
        3,
        &mail(
            "statements@bank.example.com",
            "ok",
            "ok@bank",
            &[("s.csv", crate::daemon::STATEMENT.as_bytes())],
        ),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["files_processed"]
            == 1),
        "{}",
        d.log()
    );
    d.stop();
}

#[test]
fn the_smtp_password_never_reaches_the_log_even_at_trace_level() {
    const PASSWORD: &str = "pw-7f3c9e1b-never-log-me";
    let smtp = SmtpServer::start_with_auth("clerk", PASSWORD);
    let i = Install::with_mail(&format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nusername = \"clerk\"\npassword_env = \"CLERK_TEST_SMTP_PASSWORD\"\n",
        smtp.port()
    ));
    let d = i.start_daemon_with(&[
        ("CLERK_LOG", "trace"),
        ("CLERK_TEST_SMTP_PASSWORD", PASSWORD),
    ]);
    let bad = LEDGER.replace("250.50", "25O.50");
    i.drop_file("var/inbox/ledger", "bad.csv", bad.as_bytes());
    smtp.wait_for_messages(1, Duration::from_secs(30));
    let check = i.clerk(&["check"]);
    let log = d.log();
    assert!(log.contains("mail delivered"), "{log}");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on"
    );
    for (what, text) in [
        ("daemon log", log.as_str()),
        ("clerk check", &String::from_utf8_lossy(&check.stdout)),
        (
            "clerk check stderr",
            &String::from_utf8_lossy(&check.stderr),
        ),
    ] {
        assert!(!text.contains(PASSWORD), "the password is in the {what}");
        // AUTH PLAIN and LOGIN carry it base64-encoded.
        for encoded in [
            crate::mailflow::base64(format!("\0clerk\0{PASSWORD}").as_bytes()),
            crate::mailflow::base64(PASSWORD.as_bytes()),
        ] {
            assert!(!text.contains(&encoded), "base64 password in the {what}");
        }
    }
    d.stop();
}
