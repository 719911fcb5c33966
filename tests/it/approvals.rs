//! Four eyes (maker–checker) through the command line: a forced match or a write-off above
//! `[http.approval]` is only proposed, another person approves it (then it posts, once) or
//! rejects it; nobody approves their own.

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::{Install, ok, refused};

/// An install whose books hold the shipped test ledger and statement plus `ledger_extra`
/// and `statement_extra`, each run through its job as a person would (`clerk job run`).
fn books(approval: &str, ledger_extra: &str, statement_extra: &str) -> Install {
    let i = Install::with_shipped_chart(&format!("[http.approval]\n{approval}\n"));
    let l = i.path("ledger.csv");
    let s = i.path("statement.csv");
    std::fs::write(&l, format!("{LEDGER}{ledger_extra}")).unwrap();
    std::fs::write(&s, format!("{STATEMENT}{statement_extra}")).unwrap();
    for (job, f) in [("ledger-import", &l), ("bank-reconciliation", &s)] {
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    i
}

fn break_id(i: &Install, reason: &str, amount: &str) -> String {
    let list = i.json(&["exceptions"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == reason && e["amount"] == amount)
        .unwrap_or_else(|| panic!("no {reason} of {amount} in {list}"))["label"]
        .as_str()
        .unwrap()
        .to_string()
}

fn entries(i: &Install) -> u64 {
    i.status()["entries_posted"].as_u64().unwrap()
}

fn is_open(i: &Install, label: &str) -> bool {
    i.json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["label"] == label)
}

/// The label of the proposal a maker's command printed ("proposed as A-1: ...").
fn proposal(out: &str) -> String {
    out.split("proposed as ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("not proposed: {out}"))
        .to_string()
}

#[test]
fn a_forced_match_above_the_limit_waits_for_another_person_and_then_posts_once() {
    // A customer paid 5000.00 less a 0.05 bank charge: no rule matches it.
    let i = books(
        "above = \"1000.00\"",
        "7,CASH-EUR-01,2026-03-05,5000.00,EUR,INV-000000007,OMEGA SARL\n",
        "2026-03-05,2026-03-05,4999.95,EUR,BK7,OMEGA SARL PAYMENT\n",
    );
    let before = entries(&i);
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let force = |by: &str| {
        i.clerk(&[
            "exception",
            "match",
            &line,
            &item,
            "--reason",
            "customer paid less the bank charge",
            "--difference-account",
            "4970",
            "--by",
            by,
        ])
    };
    let out = ok(&force("anna"));
    assert!(
        out.contains("needs approval by another person (limit 1000.00 EUR)"),
        "{out}"
    );
    let a = proposal(&out);
    // Nothing posted, both breaks open, each with the proposal in its history.
    assert_eq!(entries(&i), before);
    assert!(is_open(&i, &line) && is_open(&i, &item));
    for b in [&line, &item] {
        let shown = i.json(&["exception", "show", b]);
        let last = shown["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "proposed", "{shown}");
        assert_eq!(last["actor"], "anna");
        let detail = last["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("force-match {a} awaits approval")),
            "{detail}"
        );
        assert!(detail.contains("5000.00 EUR"), "{detail}");
    }
    // The list of what waits for approval names it.
    let pending = i.json(&["exception", "proposals"]);
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["label"], a.as_str());
    assert_eq!(pending[0]["kind"], "force_match");
    assert_eq!(pending[0]["amount"], "5000.00");
    assert_eq!(pending[0]["proposed_by"], "anna");
    assert_eq!(pending[0]["breaks"], serde_json::json!([line, item]));

    // A break with a pending proposal gets no second one, nor a write-off meanwhile.
    refused(&force("marc"), "awaits approval");
    refused(
        &i.clerk(&[
            "exception",
            "resolve",
            &line,
            "--reason",
            "x",
            "--by",
            "marc",
        ]),
        "awaits approval",
    );
    // Nobody approves their own, however they type their name; a reject is a withdraw.
    for me in ["anna", "Anna"] {
        refused(
            &i.clerk(&["exception", "approve", &a, "--by", me]),
            "nobody approves their own",
        );
    }
    refused(
        &i.clerk(&["exception", "reject", &a, "--reason", "no", "--by", "anna"]),
        "withdraw it instead",
    );
    assert_eq!(entries(&i), before);

    // Another person approves: posted now, once, the breaks closed naming both people.
    let out = ok(&i.clerk(&["exception", "approve", &a, "--by", "marc"]));
    assert!(out.contains("entry"), "{out}");
    assert_eq!(entries(&i), before + 1);
    assert!(!is_open(&i, &line) && !is_open(&i, &item));
    let shown = i.json(&["exception", "show", &line]);
    assert!(
        shown["resolution"]
            .as_str()
            .unwrap()
            .contains("matched by hand by anna, approved by marc"),
        "{shown}"
    );
    let actions: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opened", "proposed", "resolved", "approved"]);
    let (actor, narrative): (String, String) = i
        .db()
        .query_row(
            "SELECT m.actor, e.narrative FROM matches m JOIN entries e ON e.match_id = m.id
             WHERE m.pass = 'manual'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, "anna", "the match is its maker's");
    assert!(narrative.contains("approved by marc"), "{narrative}");

    // A second approval, by anyone, is refused: nothing posts twice.
    for who in ["marc", "olga"] {
        refused(
            &i.clerk(&["exception", "approve", &a, "--by", who]),
            "was approved already by marc",
        );
    }
    assert_eq!(entries(&i), before + 1);
    assert_eq!(
        i.json(&["exception", "proposals"]),
        serde_json::json!([]),
        "nothing waits any more"
    );
}

#[test]
fn limits_hold_per_currency_below_posts_at_once_and_a_rejection_leaves_the_break_open() {
    // 100.00 in every currency, but 6000.00 in euros.
    let i = books(
        "above = \"100.00\"\ncurrencies = { EUR = \"6000.00\" }",
        "7,CASH-EUR-01,2026-03-05,5000.00,EUR,INV-000000007,OMEGA SARL\n\
         8,CASH-EUR-01,2026-03-05,20000.00,EUR,INV-000000008,SIGMA SE\n\
         9,CASH-USD-01,2026-03-04,150.00,USD,INV-000000009,ZETA INC\n",
        "2026-03-05,2026-03-05,4999.95,EUR,BK7,OMEGA SARL PAYMENT\n",
    );
    let before = entries(&i);
    // 5000.00 EUR is above the general limit but under the euro's own: posted at once.
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let out = ok(&i.clerk(&[
        "exception",
        "match",
        &line,
        &item,
        "--reason",
        "customer paid less the bank charge",
        "--difference-account",
        "4970",
        "--by",
        "anna",
    ]));
    assert!(out.contains("matched by hand"), "{out}");
    assert_eq!(entries(&i), before + 1);
    // A write-off under the limit is done at once too.
    let small = break_id(&i, "missing_on_statement", "999.99");
    let out = ok(&i.clerk(&[
        "exception",
        "resolve",
        &small,
        "--reason",
        "credit note issued",
        "--by",
        "anna",
    ]));
    assert!(out.contains("resolved"), "{out}");
    assert!(!is_open(&i, &small));

    // 150.00 USD is above the general limit: proposed.
    let usd = break_id(&i, "missing_on_statement", "150.00");
    let out = ok(&i.clerk(&[
        "exception",
        "resolve",
        &usd,
        "--reason",
        "written off",
        "--by",
        "anna",
    ]));
    assert!(out.contains("(limit 100.00 USD)"), "{out}");
    assert!(is_open(&i, &usd));

    // 20000.00 EUR: proposed; rejected by another person, the break stays open.
    let big = break_id(&i, "missing_on_statement", "20000.00");
    let out = ok(&i.clerk(&[
        "exception",
        "resolve",
        &big,
        "--reason",
        "uncollectable",
        "--by",
        "anna",
    ]));
    assert!(out.contains("(limit 6000.00 EUR)"), "{out}");
    let a = proposal(&out);
    ok(&i.clerk(&[
        "exception",
        "reject",
        &a,
        "--reason",
        "ask the customer first",
        "--by",
        "marc",
    ]));
    assert!(is_open(&i, &big));
    let shown = i.json(&["exception", "show", &big]);
    let last = shown["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "rejected");
    assert_eq!(last["actor"], "marc");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("ask the customer first"),
        "{last}"
    );
    refused(
        &i.clerk(&["exception", "approve", &a, "--by", "olga"]),
        "was rejected already",
    );
    // Once rejected it may be proposed again; the maker withdraws the new one.
    let out = ok(&i.clerk(&[
        "exception",
        "resolve",
        &big,
        "--reason",
        "uncollectable, customer insolvent",
        "--by",
        "anna",
    ]));
    let again = proposal(&out);
    assert_ne!(again, a);
    refused(
        &i.clerk(&["exception", "withdraw", &again, "--by", "marc"]),
        "only they may withdraw it",
    );
    ok(&i.clerk(&["exception", "withdraw", &again, "--by", "anna"]));
    assert!(is_open(&i, &big));
    // The USD write-off, approved by another person, resolves its break; nothing is posted.
    let usd_a = i.json(&["exception", "proposals"])[0]["label"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&i.clerk(&["exception", "approve", &usd_a, "--by", "marc"]));
    assert!(!is_open(&i, &usd));
    assert_eq!(entries(&i), before + 1);
}
