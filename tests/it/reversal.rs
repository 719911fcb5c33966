//! Reversal, never edit: a match undone through the command line posts its entry's reversal
//! (the books net to zero for those records), opens the records again with their breaks, is
//! done once, waits for a second person above the approval limit, and the matcher does not
//! make the same match again.

use std::collections::BTreeMap;
use std::process::Output;

use rust_decimal::Decimal;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::books::trial_balance;
use crate::support::install::{Install, ok, refused};

/// The shipped books plus a payment of 5000.00 less a 0.05 bank charge, which no rule matches.
fn books(extra_config: &str) -> Install {
    let i = Install::with_shipped_chart(extra_config);
    let l = i.path("ledger.csv");
    let s = i.path("statement.csv");
    std::fs::write(
        &l,
        format!("{LEDGER}7,CASH-EUR-01,2026-03-05,5000.00,EUR,INV-000000007,OMEGA SARL\n"),
    )
    .unwrap();
    std::fs::write(
        &s,
        format!("{STATEMENT}2026-03-05,2026-03-05,4999.95,EUR,BK7,OMEGA SARL PAYMENT\n"),
    )
    .unwrap();
    for (job, f) in [("ledger-import", &l), ("bank-reconciliation", &s)] {
        ok(&i.clerk(&["job", "run", job, f.to_str().unwrap()]));
    }
    i
}

fn break_id(i: &Install, reason: &str, amount: &str) -> String {
    let list = i.json(&["exceptions"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == reason && e["amount"] == amount)
        .unwrap_or_else(|| panic!("no open {reason} of {amount} in {list}"))["label"]
        .as_str()
        .unwrap()
        .to_string()
}

fn open_labels(i: &Install) -> Vec<String> {
    i.json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect()
}

/// The trial balance's accounts that do not stand at zero.
fn balances(i: &Install) -> BTreeMap<(String, String), Decimal> {
    let mut tb = trial_balance(i);
    tb.retain(|_, b| !b.is_zero());
    tb
}

fn entry(i: &Install, id: i64) -> serde_json::Value {
    i.json(&["journal"])
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
        .clone()
}

/// The journal's entry that settles the record read at `source` (`ledger.csv line 2`).
fn entry_from(i: &Install, source: &str) -> serde_json::Value {
    let journal = i.json(&["journal"]);
    journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sources"].as_array().unwrap().iter().any(|s| s == source))
        .unwrap_or_else(|| panic!("no entry from {source} in {journal}"))
        .clone()
}

/// "entry 9 reversed by entry 10 (match ..." → 10.
fn reversing_entry(out: &str) -> i64 {
    out.split("reversed by entry ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reversal in: {out}"))
}

fn force(i: &Install, line: &str, item: &str, by: &str) -> Output {
    i.clerk(&[
        "exception",
        "match",
        line,
        item,
        "--reason",
        "customer paid less the bank charge",
        "--difference-account",
        "4970",
        "--by",
        by,
    ])
}

/// The forced match's entry id, from "... entry 9 posted (run ...".
fn posted_entry(out: &str) -> i64 {
    out.split("entry ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no entry in: {out}"))
}

#[test]
fn a_forced_match_reversed_nets_to_zero_and_its_records_and_breaks_are_open_again() {
    let i = books("");
    let before = balances(&i);
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let out = ok(&force(&i, &line, &item, "anna"));
    let forced = posted_entry(&out);
    assert_ne!(balances(&i), before, "the forced match moved nothing");
    assert!(!open_labels(&i).contains(&line));

    // Reversal needs a reason.
    refused(
        &i.clerk(&["journal", "reverse", &forced.to_string(), "--reason", " "]),
        "say why",
    );
    let out = ok(&i.clerk(&[
        "journal",
        "reverse",
        &forced.to_string(),
        "--reason",
        "wrong customer: OMEGA SARL paid another invoice",
        "--by",
        "marc",
    ]));
    let reversal = reversing_entry(&out);
    // The books for these records are as before the match.
    assert_eq!(balances(&i), before);
    // Every line negated, linked both ways, and said so in the journal.
    let (o, r) = (entry(&i, forced), entry(&i, reversal));
    assert_eq!(o["reversed_by"], reversal, "{o}");
    assert_eq!(r["reverses"], forced, "{r}");
    assert_eq!(r["pass"], "reversal");
    assert!(
        r["narrative"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Reversal of entry {forced}: wrong customer")),
        "{r}"
    );
    let amounts = |e: &serde_json::Value| -> Vec<(String, Decimal)> {
        e["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["account"].as_str().unwrap().to_string(),
                    l["amount"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    };
    let negated: Vec<(String, Decimal)> = amounts(&o).into_iter().map(|(a, d)| (a, -d)).collect();
    assert_eq!(amounts(&r), negated);
    // The reversal still says where it came from, though its records are open.
    assert_eq!(r["sources"], o["sources"]);
    let text = String::from_utf8_lossy(&i.clerk(&["journal"]).stdout).into_owned();
    assert!(text.contains(&format!("reversed by {reversal}")), "{text}");
    assert!(text.contains(&format!("reverses {forced}")), "{text}");

    // Both breaks are open again, their history saying who and why.
    let open = open_labels(&i);
    assert!(open.contains(&line) && open.contains(&item), "{open:?}");
    for b in [&line, &item] {
        let shown = i.json(&["exception", "show", b]);
        let last = shown["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "reopened", "{shown}");
        assert_eq!(last["actor"], "marc");
        let detail = last["detail"].as_str().unwrap();
        assert!(
            detail.contains("reversed by marc: wrong customer"),
            "{detail}"
        );
    }

    // Once only; a reversal is never reversed.
    refused(
        &i.clerk(&[
            "journal",
            "reverse",
            &forced.to_string(),
            "--reason",
            "again",
        ]),
        "reversed already",
    );
    refused(
        &i.clerk(&[
            "journal",
            "reverse",
            &reversal.to_string(),
            "--reason",
            "undo",
        ]),
        "is itself the reversal",
    );
    refused(
        &i.clerk(&["journal", "reverse", "9999", "--reason", "x"]),
        "there is no entry 9999",
    );
    // The records can be matched by hand again (what a person does next).
    let again = ok(&force(&i, &line, &item, "anna"));
    assert!(posted_entry(&again) > reversal, "{again}");
    assert!(!open_labels(&i).contains(&line));
}

#[test]
fn an_automatic_match_unmatched_opens_reversed_breaks_and_is_not_matched_again() {
    let i = books("");
    // The matcher's entry for the payment of INV-000000001 (100.00 EUR).
    let auto = entry_from(&i, "ledger.csv line 2");
    let match_id = auto["match_id"].as_i64().unwrap();
    let out = ok(&i.clerk(&[
        "exception",
        "unmatch",
        &match_id.to_string(),
        "--reason",
        "ACME paid a different invoice",
        "--by",
        "marc",
    ]));
    assert!(out.contains("exceptions opened: "), "{out}");
    // Neither record had a break: each gets a `reversed` one.
    let reversed: Vec<serde_json::Value> = i
        .json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "reversed")
        .cloned()
        .collect();
    assert_eq!(reversed.len(), 2, "{reversed:?}");
    for e in &reversed {
        assert_eq!(e["amount"], "100.00");
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("match {match_id} reversed by marc")),
            "{e}"
        );
    }

    // The next statement runs the reconciliation again: the same two records would match by
    // the same rule, but they wait for a person.
    let next = i.path("statement-2.csv");
    std::fs::write(
        &next,
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
         2026-03-11,2026-03-11,12.34,EUR,BK9,ACCOUNT MAINTENANCE FEE\n",
    )
    .unwrap();
    let runs = i.runs_ok("bank-reconciliation");
    ok(&i.clerk(&["job", "run", "bank-reconciliation", next.to_str().unwrap()]));
    assert_eq!(i.runs_ok("bank-reconciliation"), runs + 1);
    let still: Vec<String> = i
        .json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "reversed")
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(still.len(), 2, "matched again by itself: {still:?}");
    let matched_again = i.count(
        "SELECT COUNT(*) FROM records WHERE match_id IS NOT NULL AND id IN \
         (SELECT record_id FROM reversed_match_records)",
    );
    assert_eq!(matched_again, 0);

    // Unmatching a break's match by the break: refused once the match is undone.
    refused(
        &i.clerk(&["exception", "unmatch", &still[0], "--reason", "x"]),
        "not closed by a match",
    );
    // A person matches them by hand again: that is allowed.
    ok(&i.clerk(&[
        "exception",
        "match",
        &still[0],
        &still[1],
        "--reason",
        "it was ACME's invoice after all",
        "--by",
        "anna",
    ]));
    assert!(
        !i.json(&["exceptions"])
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "reversed")
    );
}

#[test]
fn a_reversal_above_the_limit_waits_for_another_person() {
    let i = books("[http.approval]\nabove = \"1000.00\"\n");
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let a = ok(&force(&i, &line, &item, "anna"));
    let proposal = |out: &str| {
        out.split("proposed as ")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .unwrap_or_else(|| panic!("not proposed: {out}"))
            .to_string()
    };
    let out = ok(&i.clerk(&["exception", "approve", &proposal(&a), "--by", "marc"]));
    let forced = posted_entry(&out);
    let matched = balances(&i);

    let out = ok(&i.clerk(&[
        "journal",
        "reverse",
        &forced.to_string(),
        "--reason",
        "wrong customer",
        "--by",
        "anna",
    ]));
    let p = proposal(&out);
    // Nothing reversed yet.
    assert_eq!(balances(&i), matched);
    assert!(entry(&i, forced).get("reversed_by").is_none());
    let pending = i.json(&["exception", "proposals"]);
    assert_eq!(pending[0]["kind"], "reverse", "{pending}");
    assert_eq!(pending[0]["amount"], "5000.00");
    // A second proposal for the same entry waits on the first.
    refused(
        &i.clerk(&[
            "journal",
            "reverse",
            &forced.to_string(),
            "--reason",
            "x",
            "--by",
            "marc",
        ]),
        "awaits approval",
    );
    // Nobody approves their own.
    refused(
        &i.clerk(&["exception", "approve", &p, "--by", "anna"]),
        "nobody approves their own",
    );
    let out = ok(&i.clerk(&["exception", "approve", &p, "--by", "marc"]));
    assert!(out.contains("reversal entry"), "{out}");
    let o = entry(&i, forced);
    let reversal = o["reversed_by"].as_i64().unwrap_or_else(|| panic!("{o}"));
    let r = entry(&i, reversal);
    assert!(
        r["narrative"]
            .as_str()
            .unwrap()
            .contains("reversed by anna, approved by marc"),
        "{r}"
    );
    let open = open_labels(&i);
    assert!(open.contains(&line) && open.contains(&item), "{open:?}");
    let shown = i.json(&["exception", "show", &line]);
    let reopened = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "reopened")
        .unwrap_or_else(|| panic!("{shown}"))
        .clone();
    assert_eq!(reopened["actor"], "marc");
    assert!(
        reopened["detail"].as_str().unwrap().contains(&format!(
            "reversed by marc: wrong customer (proposed by anna, {p})"
        )),
        "{reopened}"
    );
    // Approved twice: posted once.
    refused(
        &i.clerk(&["exception", "approve", &p, "--by", "marc"]),
        "approved already",
    );
}

#[test]
fn an_operator_reverses_a_match_from_the_break_page() {
    use crate::support::http::{add_users, console_url, logged_in};
    let i = books("[http]\nlisten = \"127.0.0.1:0\"\n");
    add_users(&i, &[("anna", "operator"), ("vera", "viewer")]);
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let forced = posted_entry(&ok(&force(&i, &line, &item, "otto")));
    let id = line.trim_start_matches("E-");
    let page = format!("/exceptions/{id}");

    let d = i.start_daemon();
    let url = console_url(&d);
    // A viewer sees the match, not the button.
    let vera = logged_in(&url, "vera");
    let seen = vera.get(&page);
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(!seen.body.contains("Reverse match"), "{}", seen.body);
    let anna = logged_in(&url, "anna");
    assert!(anna.get(&page).body.contains("Reverse match"));
    // Without the session's token, or without a reason, nothing happens.
    let forged = anna.post(
        &format!("{page}/unmatch"),
        &[("csrf", "forged"), ("reason", "x")],
    );
    assert_eq!(forged.status, 403);
    let done = anna.submit(
        &page,
        &format!("{page}/unmatch"),
        &[("reason", "wrong customer")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some(page.as_str()));
    // From a run's page, under the entry it posted: the matcher's entry for ledger.csv line 2.
    let auto = entry_from(&i, "ledger.csv line 2");
    let run_page = format!("/runs/{}", auto["run_id"]);
    let action = format!("{run_page}/entries/{}/reverse", auto["id"]);
    assert!(vera.get(&run_page).body.contains("Entry"));
    assert!(!vera.get(&run_page).body.contains("Reverse entry"));
    assert!(anna.get(&run_page).body.contains(&action));
    let done = anna.submit(
        &run_page,
        &action,
        &[("reason", "ACME paid another invoice")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some(run_page.as_str()));
    let auto_id = auto["id"].as_i64().unwrap();
    drop(d);
    assert!(entry(&i, auto_id)["reversed_by"].as_i64().is_some());
    // As the command line would have done it, by anna.
    let o = entry(&i, forced);
    let reversal = o["reversed_by"].as_i64().unwrap_or_else(|| panic!("{o}"));
    assert!(
        entry(&i, reversal)["narrative"]
            .as_str()
            .unwrap()
            .contains("wrong customer (reversed by anna)")
    );
    let open = open_labels(&i);
    assert!(open.contains(&line) && open.contains(&item), "{open:?}");
}

/// The walk through the books: a match forced by hand is exported, then undone, and
/// the reversal is exported too; the export files, read as the accounting system reads them,
/// net to zero for those records, and the records are open again.
#[test]
fn a_forced_match_exported_then_unmatched_nets_to_zero_in_the_exported_books() {
    use crate::exports::{batch_files, read_csv_exports};
    use crate::support::install::wait_until;
    use std::time::Duration;

    let i = books("[[exports]]\nname = \"erp\"\nformat = \"csv\"\nfolder = \"var/exports/erp\"\n");
    let folder = i.path("var/exports/erp");
    let before = balances(&i);
    let d = i.start_daemon();
    let exported = |id: i64| read_csv_exports(&batch_files(&folder, "erp")).contains_key(&id);
    // Entries posted from the command line reach the export at the daemon's next look.
    let line = break_id(&i, "missing_in_ledger", "4999.95");
    let item = break_id(&i, "missing_on_statement", "5000.00");
    let forced = posted_entry(&ok(&force(&i, &line, &item, "anna")));
    assert!(
        wait_until(Duration::from_secs(120), || exported(forced)),
        "entry {forced} not exported:\n{}",
        d.log()
    );
    let out = ok(&i.clerk(&[
        "exception",
        "unmatch",
        &line,
        "--reason",
        "wrong customer",
        "--by",
        "marc",
    ]));
    let reversal = reversing_entry(&out);
    assert!(
        wait_until(Duration::from_secs(120), || exported(reversal)),
        "entry {reversal} not exported:\n{}",
        d.log()
    );
    d.stop();

    // The files hold the forced entry and its reversal once each; their lines add up to zero
    // on every account, and all the files together are the books as before the match.
    let files = read_csv_exports(&batch_files(&folder, "erp"));
    let mut net: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for id in [forced, reversal] {
        for (account, currency, amount) in &files[&id] {
            *net.entry((account.clone(), currency.clone())).or_default() += amount;
        }
    }
    assert!(net.values().all(Decimal::is_zero), "{net:?}");
    let mut exported_books: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for lines in files.values() {
        for (account, currency, amount) in lines {
            *exported_books
                .entry((account.clone(), currency.clone()))
                .or_default() += amount;
        }
    }
    exported_books.retain(|_, b| !b.is_zero());
    assert_eq!(exported_books, before);
    assert_eq!(balances(&i), before);
    // The records are open again, with their breaks.
    let open = open_labels(&i);
    assert!(open.contains(&line) && open.contains(&item), "{open:?}");
}
