//! The books as the accountant reads them, from the command line: `clerk journal`, `clerk
//! ledger balance` and `clerk ledger account`, over entries the real jobs posted.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::Install;

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// The shipped ledger and statement samples, posted by the shipped jobs to the shipped chart.
fn posted() -> Install {
    let i = Install::with_shipped_chart("");
    for (job, name, text) in [
        ("ledger-import", "ledger.csv", LEDGER),
        ("bank-reconciliation", "statement.csv", STATEMENT),
    ] {
        let f = i.path(name);
        std::fs::write(&f, text).unwrap();
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    i
}

#[test]
fn the_journal_lists_every_entry_with_its_sources_and_the_trial_balance_adds_up() {
    let i = posted();
    let journal = i.json(&["journal"]);
    let entries = journal.as_array().unwrap();
    assert_eq!(
        entries.len() as u64,
        i.status()["entries_posted"].as_u64().unwrap()
    );
    assert!(!entries.is_empty());
    // Every entry balances per currency and names the lines it came from.
    let mut by_account: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for e in entries {
        let mut per_currency: BTreeMap<String, Decimal> = BTreeMap::new();
        for l in e["lines"].as_array().unwrap() {
            let c = l["currency"].as_str().unwrap().to_string();
            *per_currency.entry(c.clone()).or_default() += dec(&l["amount"]);
            *by_account
                .entry((l["account"].as_str().unwrap().to_string(), c))
                .or_default() += dec(&l["amount"]);
        }
        assert!(per_currency.values().all(Decimal::is_zero), "{e}");
        let sources: Vec<&str> = e["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(
            sources.iter().any(|s| s.starts_with("ledger.csv line "))
                && sources.iter().any(|s| s.starts_with("statement.csv line ")),
            "{e}"
        );
    }
    // The trial balance is those lines summed, and zero per currency.
    let tb = i.json(&["ledger", "balance"]);
    assert_eq!(tb["balanced"], true, "{tb}");
    assert!(
        tb["totals"]
            .as_object()
            .unwrap()
            .values()
            .all(|t| dec(t).is_zero())
    );
    let shown: BTreeMap<(String, String), Decimal> = tb["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                (
                    a["account"].as_str().unwrap().to_string(),
                    a["currency"].as_str().unwrap().to_string(),
                ),
                dec(&a["balance"]),
            )
        })
        .collect();
    assert_eq!(shown, by_account);

    // One account's movements run up to its balance in the trial balance.
    let (bank, _) = by_account
        .keys()
        .find(|(a, _)| a.starts_with("1200"))
        .expect("the bank account 1200 moved")
        .clone();
    let statement = i.json(&["ledger", "account", &bank]);
    let movements = statement["movements"].as_array().unwrap();
    assert!(!movements.is_empty());
    let closing = dec(&statement["closing"]["EUR"]);
    assert_eq!(closing, by_account[&(bank.clone(), "EUR".to_string())]);
    let last_eur = movements
        .iter()
        .rev()
        .find(|m| m["currency"] == "EUR")
        .unwrap();
    assert_eq!(dec(&last_eur["balance"]), closing);
    // The account filter keeps only entries with a line on it.
    let on_bank = i.json(&["journal", "--account", &bank]);
    assert_eq!(on_bank.as_array().unwrap().len(), movements.len());
    // A date range before anything was posted holds nothing.
    let none = i.json(&["journal", "--to", "2000-01-01"]);
    assert!(none.as_array().unwrap().is_empty());
    let text = String::from_utf8_lossy(&i.clerk(&["ledger", "balance"]).stdout).into_owned();
    assert!(text.contains("balanced"), "{text}");
}

#[test]
fn a_store_changed_by_hand_shows_out_of_balance_and_fails() {
    let i = posted();
    i.db()
        .execute(
            "UPDATE entry_lines SET amount = '999.99' WHERE rowid = (SELECT MIN(rowid) FROM entry_lines)",
            [],
        )
        .unwrap();
    let out = i.clerk(&["ledger", "balance"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("OUT OF BALANCE"), "{text}");
}
