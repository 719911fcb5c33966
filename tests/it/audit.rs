//! Tamper evidence with the real tools: a daemon posts entries and opens breaks, `clerk audit
//! verify` finds the chain intact; then the database is edited with the `sqlite3` command-line
//! tool, as someone with write access would, and verify exits 1 naming the row. The morning
//! summary carries the head `clerk audit head` prints.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::http::{add_users, console_url, logged_in};
use crate::support::install::{Install, wait_until};
use crate::support::mime;
use crate::support::smtp::SmtpServer;

/// Runs one statement on the database with the `sqlite3` tool.
fn sqlite3(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 tool (tests/run installs it)");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `clerk audit verify`: its exit code and its first line.
fn verify(i: &Install) -> (Option<i32>, String) {
    let o = i.clerk(&["audit", "verify"]);
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(o.status.code().is_some(), "verify was killed: {}", text(&o));
    (o.status.code(), first)
}

fn assert_intact(i: &Install) {
    let (code, first) = verify(i);
    assert_eq!(code, Some(0), "{first}");
    assert!(first.starts_with("chain intact: "), "{first}");
}

/// A daemon that took the shipped ledger and statement samples: entries posted, breaks open.
fn posted(i: &Install) -> crate::support::install::Daemon {
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    d
}

#[test]
fn the_summary_mail_carries_the_head_and_a_database_rewritten_later_disagrees_with_it() {
    let smtp = SmtpServer::start();
    let i = Install::with_mail(&format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
        smtp.port()
    ));
    let d = posted(&i);
    let chained =
        i.count("SELECT COUNT(*) FROM entries") + i.count("SELECT COUNT(*) FROM break_history");
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = smtp.wait_for_messages(1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "{}", d.log());
    let head = String::from_utf8(i.clerk(&["audit", "head"]).stdout).unwrap();
    let (seq, hash) = head.trim().split_once(' ').unwrap();
    assert_eq!(seq, chained.to_string());
    assert_eq!(hash.len(), 64, "{head}");
    let msg = mime::parse(&got[0]);
    let [plain, html] = &msg.parts[0].parts[..] else {
        panic!("expected text and HTML bodies");
    };
    let plain = String::from_utf8(plain.decoded()).unwrap();
    let html = String::from_utf8(html.decoded()).unwrap();
    assert!(
        plain.contains(&format!(
            "Audit chain head: seq {seq} {} (full: {hash})",
            &hash[..12]
        )),
        "{plain}"
    );
    assert!(html.contains(&format!("<code>{hash}</code>")), "{html}");
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["mail_queued"] == 0),
        "{}",
        d.log()
    );
    d.stop();
    let mailed = format!("{seq}:{}", &hash[..12]);
    let o = i.clerk(&["audit", "verify", "--mailed", &mailed]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Someone rewrites the books and the whole chain: an amount changed, the chain dropped,
    // and the next unit of work (a note) chains everything again as it now is. The database
    // agrees with itself; it no longer agrees with the mail.
    let db = i.path("var/clerk.db");
    sqlite3(
        &db,
        "UPDATE entry_lines SET amount = amount || '0' WHERE entry_id = (SELECT min(id) FROM entries) \
         AND line_no = (SELECT min(line_no) FROM entry_lines WHERE entry_id = (SELECT min(id) FROM entries)); \
         DELETE FROM audit_chain",
    );
    let brk = i.count("SELECT min(id) FROM breaks");
    let o = i.clerk(&["exception", "note", &brk.to_string(), "nothing to see"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_intact(&i);
    let o = i.clerk(&["audit", "verify", "--mailed", &mailed]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let first = String::from_utf8_lossy(&o.stdout);
    assert!(
        first.starts_with(&format!("chain broken: the chain at seq {seq} is "))
            && first.contains(&format!(
                "not {} as mailed: the database was rewritten after that mail",
                &hash[..12]
            )),
        "{first}"
    );
    // A mailed head the chain never reached: cut back.
    let o = i.clerk(&[
        "audit",
        "verify",
        "--mailed",
        &format!("{}:{hash}", seq.parse::<i64>().unwrap() + 1000),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("the chain was cut back"));
}

#[test]
fn a_changed_amount_a_changed_break_action_an_edited_chain_row_and_a_deleted_entry_are_named() {
    let i = Install::new();
    let d = posted(&i);
    let entries = i.count("SELECT COUNT(*) FROM entries");
    let actions = i.count("SELECT COUNT(*) FROM break_history");
    assert!(entries > 0 && actions > 0, "{entries} {actions}");
    let (code, first) = verify(&i);
    assert_eq!(code, Some(0), "{first}\n{}", d.log());
    assert!(
        first.starts_with(&format!(
            "chain intact: {entries} entries, {actions} break actions, head {} ",
            entries + actions
        )),
        "{first}"
    );
    d.stop();
    assert_intact(&i);

    let db = i.path("var/clerk.db");
    let (entry, line, amount): (i64, i64, String) = i
        .db()
        .query_row(
            "SELECT e.id, l.line_no, l.amount FROM entries e JOIN entry_lines l ON l.entry_id = e.id
             WHERE e.job = 'bank-reconciliation' ORDER BY e.id, l.line_no LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();

    // One amount in one entry line.
    sqlite3(
        &db,
        &format!(
            "UPDATE entry_lines SET amount = '{amount}1' WHERE entry_id = {entry} AND line_no = {line}"
        ),
    );
    let (code, first) = verify(&i);
    assert_eq!(code, Some(1), "{first}");
    assert!(
        first.starts_with(&format!(
            "chain broken: entry {entry} (job bank-reconciliation, posted "
        )) && first.contains("changed after it was posted (its lines or fields differ"),
        "{first}"
    );
    let o = i.clerk(&["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["findings"][0]["problem"], "changed");
    assert_eq!(report["findings"][0]["kind"], "entry");
    assert_eq!(report["findings"][0]["row_id"], entry);
    // Put back as it was, the entry fits again: verify reads the content, not a flag.
    sqlite3(
        &db,
        &format!(
            "UPDATE entry_lines SET amount = '{amount}' WHERE entry_id = {entry} AND line_no = {line}"
        ),
    );
    assert_intact(&i);

    // A break action's actor.
    let (action, brk): (i64, i64) = i
        .db()
        .query_row(
            "SELECT id, break_id FROM break_history WHERE actor = 'clerk' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    sqlite3(
        &db,
        &format!("UPDATE break_history SET actor = 'alice' WHERE id = {action}"),
    );
    let (code, first) = verify(&i);
    assert_eq!(code, Some(1), "{first}");
    assert!(
        first.starts_with(&format!(
            "chain broken: break action {action} (break {brk}: "
        )) && first.contains("changed after it was recorded"),
        "{first}"
    );
    sqlite3(
        &db,
        &format!("UPDATE break_history SET actor = 'clerk' WHERE id = {action}"),
    );
    assert_intact(&i);

    // A chain row edited to match a forged content.
    let content: String = i
        .db()
        .query_row(
            "SELECT content_hash FROM audit_chain WHERE seq = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    sqlite3(
        &db,
        &format!(
            "UPDATE audit_chain SET content_hash = '{}' WHERE seq = 2",
            "0".repeat(64)
        ),
    );
    let (code, first) = verify(&i);
    assert_eq!(code, Some(1), "{first}");
    assert!(
        first.starts_with("chain broken: chain row seq 2 ") && first.contains("was edited"),
        "{first}"
    );
    sqlite3(
        &db,
        &format!("UPDATE audit_chain SET content_hash = '{content}' WHERE seq = 2"),
    );
    assert_intact(&i);

    // An entry slipped in beside clerk.
    sqlite3(
        &db,
        "INSERT INTO entries (idempotency_key, job, run_id, match_id, posting_date, narrative, posted_at)
         SELECT 'forged', job, run_id, match_id, posting_date, 'forged', posted_at FROM entries
         ORDER BY id DESC LIMIT 1",
    );
    let forged = i.count("SELECT id FROM entries WHERE idempotency_key = 'forged'");
    let (code, first) = verify(&i);
    assert_eq!(code, Some(1), "{first}");
    assert!(
        first.starts_with(&format!("chain broken: entry {forged} (job "))
            && first.contains("not in the chain"),
        "{first}"
    );
    sqlite3(&db, "DELETE FROM entries WHERE idempotency_key = 'forged'");
    assert_intact(&i);

    // An entry deleted with its lines.
    sqlite3(
        &db,
        &format!(
            "DELETE FROM entry_lines WHERE entry_id = {entry}; DELETE FROM entries WHERE id = {entry}"
        ),
    );
    let (code, first) = verify(&i);
    assert_eq!(code, Some(1), "{first}");
    assert!(
        first.starts_with(&format!(
            "chain broken: entry {entry}: deleted after it was chained at seq "
        )),
        "{first}"
    );
}

/// `clerk audit head`'s seq and hash.
fn head(i: &Install) -> (i64, String) {
    let out = String::from_utf8(i.clerk(&["audit", "head"]).stdout).unwrap();
    let (seq, hash) = out.trim().split_once(' ').unwrap();
    (seq.parse().unwrap(), hash.to_string())
}

#[test]
fn what_people_do_from_the_console_and_the_command_line_is_chained_and_the_overview_shows_the_head()
{
    let i = Install::with_config("[http]\nlisten = \"127.0.0.1:0\"\n");
    add_users(&i, &[("anna", "operator")]);
    let d = posted(&i);
    let brk = i.count("SELECT min(id) FROM breaks WHERE status = 'open'");
    let (seq, _) = head(&i);

    // A note from the command line, one from the console: two break actions, two links.
    let out = i.clerk(&[
        "exception",
        "note",
        &brk.to_string(),
        "asked the bank",
        "--by",
        "carl",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let anna = logged_in(&console_url(&d), "anna");
    let page = format!("/exceptions/{brk}");
    let done = anna.submit(
        &page,
        &format!("{page}/note"),
        &[("text", "bank says: a fee")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (now, hash) = head(&i);
    assert_eq!(now, seq + 2);
    assert_intact(&i);

    let overview = anna.get("/");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains(&format!(
            "Audit chain head: seq {now} <code title=\"{hash}\">{}</code>",
            &hash[..12]
        )),
        "{}",
        overview.body
    );
    d.stop();
}
