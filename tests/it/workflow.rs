//! People working breaks through the CLI: assign, note, investigate, resolve, and a match made
//! by hand that posts what the rule would have posted plus the difference.

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::Install;

fn break_id(i: &Install, reason: &str, amount: &str) -> i64 {
    let list = i.json(&["exceptions"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == reason && e["amount"] == amount)
        .unwrap_or_else(|| panic!("no {reason} of {amount} in {list}"))["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn breaks_are_worked_from_the_cli_and_every_action_is_kept() {
    let i = Install::with_shipped_chart("");
    // A customer paid 50.00 less a 0.05 bank charge: no rule matches it.
    let ledger = format!("{LEDGER}7,CASH-EUR-01,2026-03-05,50.00,EUR,INV-000000007,OMEGA SARL\n");
    let statement = format!("{STATEMENT}2026-03-05,2026-03-05,49.95,EUR,BK7,OMEGA SARL PAYMENT\n");
    let l = i.path("ledger.csv");
    let s = i.path("statement.csv");
    std::fs::write(&l, ledger).unwrap();
    std::fs::write(&s, statement).unwrap();
    for (job, f) in [("ledger-import", &l), ("bank-reconciliation", &s)] {
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let before = i.status()["entries_posted"].as_u64().unwrap();

    let fee = break_id(&i, "missing_in_ledger", "12.34");
    let ok = |args: &[&str]| {
        let o = i.clerk(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&[
        "exception",
        "assign",
        &fee.to_string(),
        "anna",
        "--by",
        "marc",
    ]);
    ok(&[
        "exception",
        "note",
        &fee.to_string(),
        "bank says: account fee",
        "--by",
        "anna",
    ]);
    ok(&["exception", "investigate", &fee.to_string(), "--by", "anna"]);
    let mine = i.json(&["exceptions", "--owner", "anna"]);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["status"], "investigating");
    let investigating = i.json(&["exceptions", "--status", "investigating"]);
    assert_eq!(investigating.as_array().unwrap().len(), 1);
    ok(&[
        "exception",
        "resolve",
        &fee.to_string(),
        "--reason",
        "booked as account fee in the GL by hand",
        "--by",
        "anna",
    ]);
    let shown = i.json(&["exception", "show", &fee.to_string()]);
    assert_eq!(shown["status"], "resolved");
    let history: Vec<(String, String)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["actor"].as_str().unwrap().to_string(),
                h["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("clerk".to_string(), "opened".to_string()),
            ("marc".to_string(), "assigned".to_string()),
            ("anna".to_string(), "note".to_string()),
            ("anna".to_string(), "investigating".to_string()),
            ("anna".to_string(), "resolved".to_string()),
        ]
    );
    // A resolved break cannot be resolved again.
    let again = i.clerk(&["exception", "resolve", &fee.to_string(), "--reason", "x"]);
    assert_eq!(again.status.code(), Some(1));
    // Nor assigned: it has to be reopened first, which works, and keeps why it was resolved.
    let assign = i.clerk(&["exception", "assign", &fee.to_string(), "marc"]);
    assert_eq!(assign.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&assign.stderr).contains("reopen it first"));
    ok(&["exception", "reopen", &fee.to_string(), "--by", "marc"]);
    let shown = i.json(&["exception", "show", &fee.to_string()]);
    assert_eq!(shown["status"], "open", "{shown}");
    let last = shown["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "marc");
    assert_eq!(last["action"], "reopened");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("was resolved: booked as account fee in the GL by hand"),
        "{last}"
    );
    assert!(
        i.json(&["exceptions"])
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == fee)
    );
    ok(&[
        "exception",
        "resolve",
        &fee.to_string(),
        "--reason",
        "fee booked",
        "--by",
        "anna",
    ]);

    // The 49.95 line and the 50.00 item, by hand: refused without an account for the 0.05.
    let line = break_id(&i, "missing_in_ledger", "49.95");
    let item = break_id(&i, "missing_on_statement", "50.00");
    let refused = i.clerk(&[
        "exception",
        "match",
        &line.to_string(),
        &item.to_string(),
        "--reason",
        "customer paid less the bank charge",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("0.05"));
    assert_eq!(i.status()["entries_posted"].as_u64().unwrap(), before);

    // An account the chart of accounts does not have: refused, nothing posted.
    let refused = i.clerk(&[
        "exception",
        "match",
        &line.to_string(),
        &item.to_string(),
        "--reason",
        "customer paid less the bank charge",
        "--difference-account",
        "6800 Bank charges",
        "--by",
        "anna",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no account 6800 in the chart"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(i.status()["entries_posted"].as_u64().unwrap(), before);

    ok(&[
        "exception",
        "match",
        &line.to_string(),
        &item.to_string(),
        "--reason",
        "customer paid less the bank charge",
        "--difference-account",
        "4970",
        "--by",
        "anna",
    ]);
    assert_eq!(i.status()["entries_posted"].as_u64().unwrap(), before + 1);
    let open = i.json(&["exceptions"]);
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != line && e["id"] != item),
        "{open}"
    );
    let lines: Vec<(String, String)> = {
        let db = i.db();
        let mut st = db
            .prepare(
                "SELECT l.account, l.amount FROM entry_lines l JOIN entries e ON e.id = l.entry_id
                 JOIN matches m ON m.id = e.match_id WHERE m.pass = 'manual' ORDER BY l.line_no",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        lines,
        [
            ("1200 Bank".to_string(), "49.95".to_string()),
            (
                "1400 Forderungen aus Lieferungen und Leistungen".to_string(),
                "-50.00".to_string()
            ),
            (
                "4970 Nebenkosten des Geldverkehrs".to_string(),
                "0.05".to_string()
            ),
        ]
    );
    let actor: String = i
        .db()
        .query_row("SELECT actor FROM matches WHERE pass = 'manual'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(actor, "anna");
    // A break closed by a match is not reopened: the match settled it.
    let reopen = i.clerk(&["exception", "reopen", &line.to_string()]);
    assert_eq!(reopen.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&reopen.stderr).contains("is matched"),
        "{}",
        String::from_utf8_lossy(&reopen.stderr)
    );
    // Matched records are matched: the same pair cannot be forced again.
    let twice = i.clerk(&[
        "exception",
        "match",
        &line.to_string(),
        &item.to_string(),
        "--reason",
        "again",
    ]);
    assert_eq!(twice.status.code(), Some(1));
}
