//! Every line of the statement reaches the books (issue 15 item 5), through the real daemon:
//! bank lines no ledger item matches post by the job's `[[posting.rules]]` on their codes or
//! text (a fee, interest); a line no rule takes is a break at once; `clerk bank` proves the
//! bank account's book balance against the statement's closing balance.

use crate::support::books::{entries, lines, open_breaks};
use crate::support::install::Install;
use crate::support::mime;

/// Fees by the bank's codes (MT940 `NCHG`, camt's card charges family, the German GVC 805),
/// interest by its text.
const RULES: &str = r#"
[[posting.rules]]
name = "bank charges"
direction = "payment"
codes = ["NCHG", "PMNT/CCRD/CHRG", "GVC:805"]
lines = [
  { account = "4970 Nebenkosten des Geldverkehrs", amount = "-statement" },
  { account = "{bank_account}", amount = "statement" },
]

[[posting.rules]]
name = "interest"
direction = "receipt"
text = '(?i)habenzinsen|interest'
lines = [
  { account = "{bank_account}", amount = "statement" },
  { account = "2650 Sonstige Zinsen und ähnliche Erträge", amount = "-statement" },
]
"#;

/// One customer invoice the statement pays.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,500.00,EUR,INV-000000001,ACME GMBH
";

/// The day's statement: the customer's receipt, the account fee (GVC 805, `:61:` type NMSC),
/// interest credited, and a supplier payment nobody booked: 1,000.00 + 500.00 - 12.50 + 4.10
/// - 214.20 = 1,277.40.
const STATEMENT: &str = "\
:20:STARTUMSE\r
:25:DE89370400440532013000\r
:28C:00044/001\r
:60F:C260301EUR1000,00\r
:61:2603020302C500,00NTRFNONREF//BK1\r
:86:166?00GUTSCHRIFT?20PAYMENT INV-000000001 ACME?32ACME GMBH\r
:61:2603020302D12,50NMSCNONREF//BK2\r
:86:805?00ENTGELT?20KONTOFUEHRUNG MAERZ\r
:61:2603020302C4,10NMSCNONREF//BK3\r
:86:HABENZINSEN Q1 2026\r
:61:2603020302D214,20NTRFNONREF//BK4\r
:86:177?00UEBERWEISUNG?20INV-000000777 PAPER SUPPLY?32PAPER SUPPLY KG\r
:62F:C260302EUR1277,40\r
-";

/// An install whose bank reconciliation has `RULES`.
fn with_rules() -> Install {
    let i = Install::with_shipped_chart("");
    let job = i.path("jobs/bank-reconciliation.toml");
    let shipped = std::fs::read_to_string(&job).unwrap();
    std::fs::write(&job, format!("{shipped}\n{RULES}")).unwrap();
    i
}

#[test]
fn a_fee_posts_by_its_code_interest_by_its_text_and_a_supplier_payment_nobody_booked_is_a_break() {
    let i = with_rules();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/stmt-0302.sta", STATEMENT, 2);

    let posted = sorted(entries(&i));
    let fee = posted
        .iter()
        .find(|(n, _)| n.starts_with("bank charges: bank BK2"))
        .unwrap_or_else(|| panic!("no fee entry in {posted:?}\n{}", d.log()));
    assert_eq!(
        fee.1,
        lines(&[
            ("4970 Nebenkosten des Geldverkehrs", "12.50"),
            ("1200 Bank", "-12.50")
        ])
    );
    let interest = posted
        .iter()
        .find(|(n, _)| n.starts_with("interest: bank BK3"))
        .unwrap_or_else(|| panic!("no interest entry in {posted:?}"));
    assert_eq!(
        interest.1,
        lines(&[
            ("1200 Bank", "4.10"),
            ("2650 Sonstige Zinsen und ähnliche Erträge", "-4.10")
        ])
    );
    assert_eq!(posted.len(), 3, "receipt, fee, interest: {posted:?}");

    // The supplier payment matches nothing and no rule takes it: a break now, not "not due".
    let breaks = open_breaks(&i, None);
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert_eq!(breaks[0].0, "missing_in_ledger", "{breaks:?}");
    assert!(breaks[0].1.contains("BK4"), "{breaks:?}");

    // The rule and what it agreed on are kept with the match.
    let why: String = i
        .db()
        .query_row(
            "SELECT explanation FROM matches WHERE pass = 'posting_rule' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(why.contains("bank charges") && why.contains("805"), "{why}");
    d.stop();

    // The statement sent again under a new reference posts no fee twice.
    let d = i.start_daemon();
    let again = STATEMENT.replace("STARTUMSE", "RESENT0302");
    i.drop_until_processed(&d, "var/inbox/bank/stmt-0302-again.sta", again, 3);
    assert_eq!(entries(&i).len(), 3, "{}", d.log());
    d.stop();
}

/// The statement of `STATEMENT` without the supplier payment: every line has its ledger item
/// or rule. 1,000.00 + 500.00 - 12.50 + 4.10 = 1,491.60.
fn statement_all_booked() -> String {
    STATEMENT
        .replace(
            ":61:2603020302D214,20NTRFNONREF//BK4\r\n:86:177?00UEBERWEISUNG?20INV-000000777 PAPER SUPPLY?32PAPER SUPPLY KG\r\n",
            "",
        )
        .replace("C260302EUR1277,40", "C260302EUR1491,60")
}

#[test]
fn clerk_bank_shows_no_difference_when_every_line_is_posted() {
    let i = with_rules();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(
        &d,
        "var/inbox/bank/stmt-0302.sta",
        statement_all_booked(),
        2,
    );
    // The next morning's interim report: a receipt the bank has not booked yet.
    let interim = ":20:STARTDISPE\r\n:25:DE89370400440532013000\r\n:28C:00045/001\r\n\
                   :34F:EURD0,00\r\n:13D:2603031030+0100\r\n\
                   :61:2603030303C250,50NTRFNONREF//BK9\r\n\
                   :86:166?00GUTSCHRIFT?20BETA SA TRANSFER\r\n-";
    i.drop_until_processed(&d, "var/inbox/bank/interim-0303.942", interim, 3);
    d.stop();

    let shown = i.json(&["bank"]);
    let accounts = shown.as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{shown:#}");
    let a = &accounts[0];
    assert_eq!(a["account"], "DE89370400440532013000");
    assert_eq!(a["currency"], "EUR");
    assert_eq!(a["ledger_accounts"], serde_json::json!(["1200 Bank"]));
    assert_eq!(a["statement_balance"], "1491.60");
    assert_eq!(a["statement_date"], "2026-03-02");
    assert_eq!(a["brought_forward"], "1000.00");
    assert_eq!(a["book_balance"], "1491.60");
    assert_eq!(a["difference"], "0.00");
    assert_eq!(a["open_lines"], serde_json::json!([]));
    // Pending: in neither balance, shown so nobody looks for it.
    let pending = a["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{shown:#}");
    assert_eq!(pending[0]["amount"], "250.50");
    assert_eq!(pending[0]["bank_reference"], "BK9");

    let out = i.clerk(&["bank"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("the books agree with the bank"), "{text}");
    assert!(
        text.contains("pending, not booked by the bank yet"),
        "{text}"
    );
}

#[test]
fn clerk_bank_lists_what_makes_up_the_difference() {
    let i = with_rules();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/stmt-0302.sta", STATEMENT, 2);
    d.stop();

    // The books moved +491.60 (receipt, fee, interest); the bank +277.40: the supplier
    // payment nobody booked is the difference, with its break.
    let shown = i.json(&["bank", "DE89370400440532013000"]);
    let a = &shown[0];
    assert_eq!(a["statement_balance"], "1277.40", "{shown:#}");
    assert_eq!(a["book_balance"], "1491.60");
    assert_eq!(a["difference"], "-214.20");
    assert_eq!(a["unexplained"], "0.00");
    let open = a["open_lines"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{shown:#}");
    assert_eq!(open[0]["bank_reference"], "BK4");
    assert_eq!(open[0]["amount"], "-214.20");
    assert_eq!(open[0]["reason"], "missing_in_ledger");
    assert!(open[0]["break_id"].is_i64());

    // By the ledger account too; another account shows nothing.
    assert_eq!(i.json(&["bank", "1200 Bank"]), shown);
    assert_eq!(
        i.json(&["bank", "DE02100100109307118603"]),
        serde_json::json!([])
    );

    let out = i.clerk(&["bank"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-214.20"), "{text}");
    assert!(text.contains("BK4"), "{text}");
    assert!(text.contains("missing_in_ledger"), "{text}");
}

/// The text parts of the summary mails in the outbox, decoded.
pub(crate) fn summary_texts(i: &Install) -> Vec<String> {
    fn text_of(p: &mime::Part, out: &mut String) {
        if p.parts.is_empty() {
            out.push_str(&String::from_utf8_lossy(&p.decoded()));
        }
        for c in &p.parts {
            text_of(c, out);
        }
    }
    std::fs::read_dir(i.path("var/outbox"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let msg = mime::parse(&std::fs::read(e.path()).unwrap());
            let mut out = String::new();
            text_of(&msg, &mut out);
            out
        })
        .collect()
}

#[test]
fn the_summary_mail_shows_each_bank_account_against_its_statement() {
    let i = with_rules();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/stmt-0302.sta", STATEMENT, 2);
    d.stop();

    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts = summary_texts(&i);
    let summary = texts
        .iter()
        .find(|t| t.contains("Bank accounts: book balance against the statement"))
        .unwrap_or_else(|| panic!("no bank table in {texts:#?}"));
    assert!(summary.contains("DE89370400440532013000"), "{summary}");
    assert!(
        summary.contains("1,277.40") && summary.contains("1,491.60"),
        "{summary}"
    );
    assert!(summary.contains("-214.20"), "{summary}");
    assert!(summary.contains("BK4 break"), "{summary}");
}

/// Accounts payable: a purchase order with its goods received, and a bank statement paying
/// ACME's invoice INV-2026-0042 (238.00) and a supplier nobody booked (214.20).
const AP_ORDERS: &str = "order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
                         PO-1001,1,ACME GmbH,W-1,10,10.00,EUR,4930 Buerobedarf\n\
                         PO-1001,2,ACME GmbH,G-2,5,20.00,EUR,\n";
const AP_RECEIPTS: &str = "receipt_id,order,line,received,received_on\n\
                           GR-1,PO-1001,1,10,2026-11-18\nGR-1,PO-1001,2,5,2026-11-18\n";
const AP_INVOICE: &[u8] = include_bytes!("../fixtures/payables/acme-INV-2026-0042.xml");
const AP_STATEMENT: &str = ":20:STMT-2026-1125\n\
:25:DE02120300000000202051\n\
:28C:101/1\n\
:60F:C261124EUR10000,00\n\
:61:2611251125D238,00NTRFNONREF//B1125-77\n\
:86:166?00SEPA UEBERWEISUNG?20INV-2026-0042?32ACME GMBH\n\
:61:2611251125D214,20NTRFNONREF//B1125-78\n\
:86:166?00SEPA UEBERWEISUNG?20INV-000000777?32PAPER SUPPLY KG\n\
:62F:C261125EUR9547,80\n\
-\n";

#[test]
fn a_supplier_payment_that_settles_no_payable_is_a_break_at_once_until_its_invoice_is_approved() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/payables/po-1001.csv", AP_ORDERS, 1);
    i.drop_until_processed(&d, "var/inbox/payables/grn-0001.csv", AP_RECEIPTS, 2);
    // The statement comes before the invoice: both payments leave the bank unexplained.
    i.drop_until_processed(&d, "var/inbox/payables/stmt-1125.sta", AP_STATEMENT, 3);
    let open = |i: &Install| -> Vec<String> {
        open_breaks(i, None)
            .into_iter()
            .map(|(reason, detail)| format!("{reason}: {detail}"))
            .collect()
    };
    let before = open(&i);
    assert_eq!(before.len(), 2, "{before:#?}\n{}", d.log());
    assert!(
        before
            .iter()
            .all(|b| b.starts_with("missing_in_ledger: bank line B1125-7")
                && b.contains("settles no approved payable")),
        "{before:#?}"
    );

    // ACME's invoice is approved and its payment settles it: that break closes; the other
    // stays.
    i.drop_until_processed(&d, "var/inbox/payables/acme.xml", AP_INVOICE, 4);
    let after = open(&i);
    assert_eq!(after.len(), 1, "{after:#?}\n{}", d.log());
    assert!(
        after[0].contains("B1125-78") && after[0].contains("-214.20"),
        "{after:#?}"
    );
    d.stop();
}

#[test]
fn a_bank_csv_with_a_transaction_type_column_posts_its_fee_by_code() {
    let i = with_rules();
    i.edit_job(
        "bank-reconciliation",
        "remittance = \"remittance_info\"",
        "remittance = \"remittance_info\"\ntransaction_code = \"type\"",
    );
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    let csv = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info,type
2026-03-02,2026-03-02,500.00,EUR,BK1,PAYMENT INV-000000001 ACME,NTRF
2026-03-02,2026-03-02,-7.90,EUR,BK2,Kontoführung,NCHG
";
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", csv, 2);
    let posted = sorted(entries(&i));
    assert!(
        posted
            .iter()
            .any(|(n, l)| n.starts_with("bank charges: bank BK2")
                && *l
                    == lines(&[
                        ("4970 Nebenkosten des Geldverkehrs", "7.90"),
                        ("1200 Bank", "-7.90")
                    ])),
        "{posted:?}\n{}",
        d.log()
    );
    assert!(
        open_breaks(&i, None).is_empty(),
        "{:?}",
        open_breaks(&i, None)
    );
    d.stop();
}

#[test]
fn a_dry_run_counts_the_lines_the_posting_rules_would_post() {
    let i = with_rules();
    let dir = tempfile::tempdir().unwrap();
    let (ledger, statement) = (dir.path().join("ledger.csv"), dir.path().join("stmt.sta"));
    std::fs::write(&ledger, LEDGER).unwrap();
    std::fs::write(&statement, STATEMENT).unwrap();
    let report = i.json(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        ledger.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
        "--out",
        dir.path().join("results.csv").to_str().unwrap(),
    ]);
    // The fee and the interest would post by rule; the supplier payment stays a break.
    assert_eq!(report["posted_by_rule"], 2, "{report:#}");
    assert_eq!(report["statement_only"], 3, "{report:#}");
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}
