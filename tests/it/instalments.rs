//! Instalments: one invoice paid by several bank lines, each quoting the invoice and its part
//! (`INV-123456789/1`, `/2`), weeks apart, through `clerk reconcile` (issue 15).

use std::collections::BTreeSet;
use std::fs;

use crate::support::install::Install;

/// The pass as the issue gives it: no group_by, the lines grouped by the invoice number their
/// remittance quotes. After the reference pass, which takes an invoice paid in one line.
const INSTALMENTS: &str = r#"
[[match.passes]]
name = "instalments"
grouping = "one_to_many"
keys = [
  { ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{9})', theirs_pattern = 'INV-(\d{9})/\d' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount" }
max_group_size = 4
subsets = true

# Pass 2:"#;

const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,1000.00,EUR,INV-123456789,ACME TRADING GMBH
2,CASH-EUR-01,2026-03-02,500.00,EUR,INV-222222222,GLOBEX SA
";

const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,400.00,EUR,BK-1,ACME TRADING REF INV-123456789/1
2026-03-23,2026-03-23,600.00,EUR,BK-2,ACME TRADING REF INV-123456789/2
2026-03-23,2026-03-23,250.00,EUR,BK-3,GLOBEX REF INV-222222222/1
";

/// (ledger_id, bank_reference, match_pass) rows of a dry run's results.
fn results(i: &Install) -> BTreeSet<(String, String, String)> {
    let ledger = i.path("ledger.csv");
    let statement = i.path("statement.csv");
    fs::write(&ledger, LEDGER).unwrap();
    fs::write(&statement, STATEMENT).unwrap();
    let out = i.path("results.csv");
    let o = i.clerk(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        ledger.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&out).unwrap();
    r.records()
        .map(|row| {
            let row = row.unwrap();
            (row[0].to_string(), row[1].to_string(), row[2].to_string())
        })
        .collect()
}

#[test]
fn a_dry_run_matches_an_invoice_with_the_instalments_that_pay_it() {
    let i = Install::new();
    // The shipped rules know no instalments: both parts and the invoice stay open.
    let before = results(&i);
    assert!(
        before
            .iter()
            .all(|(_, _, pass)| pass == "ledger_only" || pass == "statement_only"),
        "{before:?}"
    );

    i.edit_job("bank-reconciliation", "\n# Pass 2:", INSTALMENTS);
    let o = i.clerk(&["check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let after = results(&i);
    let row = |l: &str, b: &str, p: &str| (l.to_string(), b.to_string(), p.to_string());
    assert!(
        after.contains(&row("1", "BK-1", "instalments")),
        "{after:?}"
    );
    assert!(
        after.contains(&row("1", "BK-2", "instalments")),
        "{after:?}"
    );
    // Half of another invoice, the rest not yet come: both stay open.
    assert!(after.contains(&row("2", "", "ledger_only")), "{after:?}");
    assert!(
        after.contains(&row("", "BK-3", "statement_only")),
        "{after:?}"
    );
    assert_eq!(after.len(), 4, "{after:?}");
}
