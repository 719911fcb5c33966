//! The notify module as a library user drives it: render, build, then deliver to a real SMTP
//! server (aiosmtpd, see `support::smtp`) or to an outbox folder, and read back what arrived.

use std::os::unix::fs::PermissionsExt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clerk::model::{Break, BreakReason, BreakStatus};
use clerk::notify::*;
use rust_decimal::Decimal;

use crate::support::mime;
use crate::support::smtp::SmtpServer;

const FROM: &str = "clerk <clerk@clerk.test>";
/// Long enough for a loaded CI machine; the timeout tests use their own short one.
const TIMEOUT: Duration = Duration::from_secs(20);

fn recipients() -> Vec<String> {
    vec![
        "Managers <managers@bank.test>".to_owned(),
        "ops@bank.test".to_owned(),
    ]
}

fn settings(host: &str, port: u16, security: SmtpSecurity) -> SmtpSettings {
    SmtpSettings {
        host: host.to_owned(),
        port,
        security,
        username: None,
        password: None,
        ca_file: None,
        timeout: TIMEOUT,
    }
}

fn mailer(settings: SmtpSettings) -> Mailer {
    Mailer::new(Delivery::Smtp(settings)).unwrap()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap()
}

fn open_break(id: i64, job: &str, reason: BreakReason, detail: &str) -> Break {
    Break {
        id,
        job: job.to_owned(),
        reason,
        status: BreakStatus::Open,
        detail: detail.to_owned(),
        amount: None,
        currency: None,
        difference: None,
        since: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        owner: None,
        opened_at: Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap(),
        closed_at: None,
        resolution: None,
        record_id: None,
        source: None,
    }
}

fn summary_input() -> SummaryInput {
    let mut unreadable = open_break(
        3,
        "bank-eur",
        BreakReason::Unreadable,
        "statement.csv line 7: amount \"<script>\" is not a number",
    );
    unreadable.source = Some("inbox/bank-eur/statement.csv".to_owned());
    let mut eur = open_break(
        1,
        "bank-eur",
        BreakReason::MissingInLedger,
        "=HYPERLINK(\"http://evil.test\",\"click\")",
    );
    eur.amount = Some(Decimal::from_str("-12.5").unwrap());
    eur.currency = Some("EUR".parse().unwrap());
    eur.source = Some("statement.csv line 3".to_owned());
    let mut usd = open_break(
        2,
        "bank-usd",
        BreakReason::MissingOnStatement,
        "Invoice 4711 not on the statement",
    );
    usd.amount = Some(Decimal::from_str("1234.56").unwrap());
    usd.currency = Some("USD".parse().unwrap());
    usd.owner = Some("anna".to_owned());
    SummaryInput {
        business_date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        generated_at: at(),
        timezone: chrono_tz::Europe::Berlin,
        jobs: vec![JobDigest {
            job: "bank-eur".to_owned(),
            files_processed: 2,
            files_failed: 1,
            records: 40,
            auto_matched: 38,
            breaks_opened: 2,
            processing_time: Duration::from_secs(4),
            runs: 3,
            ..JobDigest::default()
        }],
        breaks: vec![
            BreakLine::new(eur, 5),
            BreakLine::new(usd, 9),
            BreakLine::new(unreadable, 1),
        ],
        largest: 10,
        rates: None,
        bank: Vec::new(),
        periods: None,
        links: None,
        audit_head: None,
        exports: Vec::new(),
        grir: Vec::new(),
    }
}

/// Same text, whatever line ends the mail system chose.
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end().to_owned()
}

#[tokio::test]
async fn a_summary_over_smtp_arrives_with_both_bodies_and_the_csv() {
    let server = SmtpServer::start();
    let m = mailer(settings("127.0.0.1", server.port(), SmtpSecurity::None));
    let rendered = render_summary(&summary_input(), 10);
    let id = "summary-2026-11-27@clerk.test";
    let raw = build_message(FROM, &recipients(), &rendered, id, at()).unwrap();
    m.deliver(id, FROM, &recipients(), &raw).await.unwrap();

    let got = server.wait_for_messages(1, TIMEOUT);
    assert_eq!(got.len(), 1);
    let msg = mime::parse(&got[0]);
    assert_eq!(
        msg.header("Message-ID"),
        Some("<summary-2026-11-27@clerk.test>")
    );
    assert_eq!(msg.header("X-MailFrom"), Some("clerk@clerk.test"));
    assert_eq!(
        msg.header("X-RcptTo"),
        Some("managers@bank.test, ops@bank.test")
    );
    assert_eq!(msg.header("Date"), Some("Fri, 27 Nov 2026 06:00:00 +0000"));
    assert_eq!(
        mime::decode_words(msg.header("Subject").unwrap()),
        "clerk: 3 open exceptions (2 new), 1 unreadable file — 2026-11-27"
    );

    assert!(msg.content_type().starts_with("multipart/mixed"));
    let [alternative, csv] = &msg.parts[..] else {
        panic!(
            "expected alternative + attachment, got {} parts",
            msg.parts.len()
        );
    };
    assert!(
        alternative
            .content_type()
            .starts_with("multipart/alternative")
    );
    let [plain, html] = &alternative.parts[..] else {
        panic!("expected text + html");
    };
    assert!(plain.content_type().starts_with("text/plain"));
    assert!(html.content_type().starts_with("text/html"));
    let plain = String::from_utf8(plain.decoded()).unwrap();
    let html = String::from_utf8(html.decoded()).unwrap();
    assert_eq!(lf(&plain), lf(&rendered.text));
    assert_eq!(lf(&html), lf(&rendered.html));
    assert!(plain.contains("1 FILE COULD NOT BE READ"));
    assert!(html.contains("amount &quot;&lt;script&gt;&quot; is not a number"));
    assert!(!html.contains("<script>"));

    assert!(csv.content_type().starts_with("text/csv"));
    let disposition = csv.header("Content-Disposition").unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(
        mime::param(disposition, "filename").as_deref(),
        Some("open-exceptions-2026-11-27.csv")
    );
    let bytes = csv.decoded();
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows[0].join(","),
        "id,job,reason,status,age_days,since,amount,currency,difference,reference,counterparty,\
         record_ids,owner,detail,source"
    );
    // Oldest first: 9, 5, 1 business days.
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["E-2", "E-1", "E-3"]);
    assert_eq!(
        rows[1],
        [
            "E-2",
            "bank-usd",
            "missing_on_statement",
            "open",
            "9",
            "2026-11-20",
            "1234.56",
            "USD",
            "",
            "",
            "",
            "",
            "anna",
            "Invoice 4711 not on the statement",
            ""
        ]
    );
    assert_eq!(rows[2][6], "-12.50");
    assert_eq!(rows[2][13], "'=HYPERLINK(\"http://evil.test\",\"click\")");
    assert_eq!(rows[3][2], "unreadable");
    assert_eq!(rows[3][14], "inbox/bank-eur/statement.csv");
}

#[tokio::test]
async fn an_alert_is_just_the_alternative() {
    let server = SmtpServer::start();
    let m = mailer(settings("localhost", server.port(), SmtpSecurity::None));
    let rendered = render_alert(
        "bank-eur",
        Some(42),
        "store: disk full writing runs.db",
        at(),
        chrono_tz::Europe::Berlin,
    );
    let to = vec!["ops@bank.test".to_owned()];
    let raw = build_message(FROM, &to, &rendered, "<alert-42@clerk.test>", at()).unwrap();
    m.deliver("<alert-42@clerk.test>", FROM, &to, &raw)
        .await
        .unwrap();

    let msg = mime::parse(&server.wait_for_messages(1, TIMEOUT)[0]);
    assert_eq!(msg.header("Message-ID"), Some("<alert-42@clerk.test>"));
    assert!(msg.content_type().starts_with("multipart/alternative"));
    assert_eq!(msg.parts.len(), 2);
    let text = String::from_utf8(msg.parts[0].decoded()).unwrap();
    assert!(text.contains("store: disk full writing runs.db"), "{text}");
    assert_eq!(
        mime::decode_words(msg.header("Subject").unwrap()),
        "clerk ALERT: job bank-eur failed (run 42) — 2026-11-27 07:00 CET"
    );
}

#[tokio::test]
async fn starttls_with_the_servers_ca_file_delivers() {
    let server = SmtpServer::start_starttls();
    let mut s = settings("localhost", server.port(), SmtpSecurity::Starttls);
    s.ca_file = Some(server.ca_file().to_path_buf());
    let m = mailer(s);
    m.health_check().await.unwrap();

    let rendered = render_summary(&summary_input(), 3);
    let raw = build_message(FROM, &recipients(), &rendered, "tls-1@clerk.test", at()).unwrap();
    m.deliver("tls-1@clerk.test", FROM, &recipients(), &raw)
        .await
        .unwrap();
    let msg = mime::parse(&server.wait_for_messages(1, TIMEOUT)[0]);
    assert_eq!(msg.header("Message-ID"), Some("<tls-1@clerk.test>"));
}

#[tokio::test]
async fn implicit_tls_with_the_servers_ca_file_delivers() {
    let server = SmtpServer::start_implicit_tls();
    // An IP address is checked against the certificate's IP names.
    let mut s = settings("127.0.0.1", server.port(), SmtpSecurity::Tls);
    s.ca_file = Some(server.ca_file().to_path_buf());
    let m = mailer(s);
    m.health_check().await.unwrap();
    let rendered = render_alert("j", None, "x", at(), chrono_tz::UTC);
    let to = vec!["ops@bank.test".to_owned()];
    let raw = build_message(FROM, &to, &rendered, "smtps-1@clerk.test", at()).unwrap();
    m.deliver("smtps-1@clerk.test", FROM, &to, &raw)
        .await
        .unwrap();
    assert_eq!(server.wait_for_messages(1, TIMEOUT).len(), 1);
}

#[tokio::test]
async fn implicit_tls_with_an_unknown_ca_is_a_tls_error() {
    let server = SmtpServer::start_implicit_tls();
    let m = mailer(settings("127.0.0.1", server.port(), SmtpSecurity::Tls));
    let err = m.health_check().await.unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn auth_logs_in_and_the_password_never_reaches_the_logs() {
    const PASSWORD: &str = "s3cret-Pa55";
    let server = SmtpServer::start_with_auth("clerk", PASSWORD);
    let mut s = settings("127.0.0.1", server.port(), SmtpSecurity::None);
    s.username = Some("clerk".to_owned());
    s.password = Some(clerk::secret::Secret::new(PASSWORD).into());
    let m = mailer(s);

    // Everything lettre and clerk log at DEBUG, captured (the test runs on one thread).
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    m.health_check().await.unwrap();
    let rendered = render_alert("j", None, "x", at(), chrono_tz::UTC);
    let to = vec!["ops@bank.test".to_owned()];
    let raw = build_message(FROM, &to, &rendered, "auth-1@clerk.test", at()).unwrap();
    m.deliver("auth-1@clerk.test", FROM, &to, &raw)
        .await
        .unwrap();
    drop(guard);
    assert_eq!(server.wait_for_messages(1, TIMEOUT).len(), 1);

    let logged = logs.text();
    // The capture works: lettre's own lines are there...
    assert!(logged.contains("Wrote: MAIL FROM"), "{logged}");
    // ...but not the login, in clear or in base64 (PLAIN sends "\0user\0password", LOGIN
    // each alone).
    for secret in [
        PASSWORD.to_owned(),
        mime::base64_encode(PASSWORD.as_bytes()),
        mime::base64_encode(format!("\0clerk\0{PASSWORD}").as_bytes()),
        "Wrote: AUTH".to_owned(),
    ] {
        assert!(!logged.contains(&secret), "{secret:?} logged:\n{logged}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_auth_error() {
    let server = SmtpServer::start_with_auth("clerk", "right");
    let mut s = settings("127.0.0.1", server.port(), SmtpSecurity::None);
    s.username = Some("clerk".to_owned());
    s.password = Some(clerk::secret::Secret::new("wrong-pw").into());
    let err = mailer(s).health_check().await.unwrap_err();
    match &err {
        MailError::Auth {
            username, reply, ..
        } => {
            assert_eq!(username, "clerk");
            assert_eq!(reply.code, Some(535), "{err}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("wrong-pw"));
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn starttls_is_required_never_opportunistic() {
    // This server offers no STARTTLS.
    let server = SmtpServer::start();
    let m = mailer(settings("127.0.0.1", server.port(), SmtpSecurity::Starttls));

    let err = m.health_check().await.unwrap_err();
    assert!(matches!(err, MailError::StartTlsMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    assert!(!err.is_transient());

    let rendered = render_alert("j", None, "x", at(), chrono_tz::UTC);
    let to = vec!["ops@bank.test".to_owned()];
    let raw = build_message(FROM, &to, &rendered, "clear-1@clerk.test", at()).unwrap();
    let err = m
        .deliver("clear-1@clerk.test", FROM, &to, &raw)
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::StartTlsMissing { .. }), "{err:?}");
    // deliver has returned: had anything been sent, it would be in the Maildir now.
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let server = SmtpServer::start_starttls();
    // No ca_file: the system roots do not know the test CA.
    let m = mailer(settings("localhost", server.port(), SmtpSecurity::Starttls));
    let err = m.health_check().await.unwrap_err();
    assert!(matches!(err, MailError::Tls { .. }), "{err:?}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("TLS") && text.contains("localhost"), "{text}");
}

#[tokio::test]
async fn health_check_fails_clearly_on_a_closed_port() {
    // Bound but not listening: the port stays ours (no other test's server can take it) and
    // every connect is refused.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let m = mailer(settings("127.0.0.1", port, SmtpSecurity::None));
    let started = Instant::now();
    let err = m.health_check().await.unwrap_err();
    assert!(started.elapsed() < TIMEOUT);
    assert!(matches!(err, MailError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("refused"),
        "{text}"
    );
    drop(closed);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // The kernel completes the TCP handshake from the backlog; nobody ever greets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut s = settings("127.0.0.1", port, SmtpSecurity::None);
    s.timeout = Duration::from_millis(500);
    let m = mailer(s);

    let started = Instant::now();
    let err = m.health_check().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, MailError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("connect and greeting"), "{err}");
    drop(silent);
}

#[tokio::test]
async fn a_message_the_server_refuses_is_a_permanent_error() {
    let server = SmtpServer::start_with_size_limit(2_000);
    let m = mailer(settings("127.0.0.1", server.port(), SmtpSecurity::None));
    let rendered = render_summary(&summary_input(), 10);
    let raw = build_message(FROM, &recipients(), &rendered, "big-1@clerk.test", at()).unwrap();
    assert!(raw.len() > 2_000);
    let err = m
        .deliver("big-1@clerk.test", FROM, &recipients(), &raw)
        .await
        .unwrap_err();
    match &err {
        MailError::MessageRejected { reply, .. } => assert_eq!(reply.code, Some(552), "{err}"),
        other => panic!("expected MessageRejected, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn the_outbox_writes_one_eml_per_message_id_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("var").join("outbox");
    let m = Mailer::new(Delivery::Outbox(dir.clone())).unwrap();
    assert_eq!(m.describe(), format!("outbox folder {}", dir.display()));

    let rendered = render_summary(&summary_input(), 10);
    let id = "<summary-2026-11-27@clerk.test>";
    let raw = build_message(FROM, &recipients(), &rendered, id, at()).unwrap();
    m.deliver(id, FROM, &recipients(), &raw).await.unwrap();
    let file = dir.join("summary-2026-11-27_clerk.test.eml");
    assert_eq!(std::fs::read(&file).unwrap(), raw);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750);

    // Again, and even with other bytes under the same id: already handed over, no-op.
    m.deliver(id, FROM, &recipients(), &raw).await.unwrap();
    m.deliver(id, FROM, &recipients(), b"Subject: other\r\n\r\nx")
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), raw);

    let alert = render_alert("j", Some(1), "x", at(), chrono_tz::UTC);
    let raw2 = build_message(FROM, &recipients(), &alert, "alert-1@clerk.test", at()).unwrap();
    m.deliver("alert-1@clerk.test", FROM, &recipients(), &raw2)
        .await
        .unwrap();

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alert-1_clerk.test.eml",
            "summary-2026-11-27_clerk.test.eml"
        ]
    );
    m.health_check().await.unwrap();
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "probe left behind"
    );
}

#[tokio::test]
async fn the_outbox_health_check_creates_the_folder_or_says_why_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outbox");
    Mailer::new(Delivery::Outbox(dir.clone()))
        .unwrap()
        .health_check()
        .await
        .unwrap();
    assert!(dir.is_dir());

    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let err = Mailer::new(Delivery::Outbox(file.clone()))
        .unwrap()
        .health_check()
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}
