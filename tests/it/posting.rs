//! Posting through the real daemon with a template per direction: a customer's receipt is
//! credited to receivables clearing, a supplier payment debited to payables clearing, and a
//! batch credits each invoice it settles on its own line.

use crate::support::books::{entries, lines};
use crate::support::install::Install;

/// The shipped bank reconciliation's matching, with a receipt and a payment template in place
/// of its one `[posting]`.
const BY_DIRECTION: &str = r#"
[posting.receipt]
narrative = "Receipt {bank_reference}: {references}"
lines = [
  { account = "1010 Bank {currency}", amount = "statement" },
  { account = "1290 Receivables clearing", amount = "-item" },
]

[posting.payment]
narrative = "Payment {bank_reference}: {references}"
lines = [
  { account = "1690 Payables clearing", amount = "-item" },
  { account = "1010 Bank {currency}", amount = "statement" },
]
"#;

/// A customer invoice, a supplier's bill (money we owe: negative), and two invoices of one
/// customer paid together.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,500.00,EUR,INV-000000001,ACME GMBH
2,CASH-EUR-01,2026-03-02,-214.20,EUR,INV-000000777,PAPER SUPPLY KG
3,CASH-EUR-01,2026-03-03,10.00,EUR,INV-000000003,GAMMA AG
4,CASH-EUR-01,2026-03-03,20.00,EUR,INV-000000004,GAMMA AG
";
const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,500.00,EUR,BK1,PAYMENT INV-000000001 ACME
2026-03-02,2026-03-02,-214.20,EUR,BK2,SEPA TRANSFER INV-000000777 PAPER SUPPLY
2026-03-03,2026-03-03,30.00,EUR,BK3,SAMMELZAHLUNG GAMMA AG
";

#[test]
fn a_supplier_payment_posts_against_payables_clearing_and_a_receipt_against_receivables() {
    let i = Install::new();
    let job = i.path("jobs/bank-reconciliation.toml");
    let shipped = std::fs::read_to_string(&job).unwrap();
    let matching = &shipped[..shipped.find("\n[posting").expect("the shipped job posts")];
    std::fs::write(&job, format!("{matching}\n{BY_DIRECTION}")).unwrap();

    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);

    let mut posted = entries(&i);
    posted.sort();
    assert_eq!(
        posted,
        [
            (
                "Payment BK2: INV-000000777".to_string(),
                lines(&[
                    ("1690 Payables clearing", "214.20"),
                    ("1010 Bank EUR", "-214.20")
                ])
            ),
            (
                "Receipt BK1: INV-000000001".to_string(),
                lines(&[
                    ("1010 Bank EUR", "500.00"),
                    ("1290 Receivables clearing", "-500.00")
                ])
            ),
            (
                "Receipt BK3: INV-000000003,INV-000000004".to_string(),
                lines(&[
                    ("1010 Bank EUR", "30.00"),
                    ("1290 Receivables clearing", "-10.00"),
                    ("1290 Receivables clearing", "-20.00")
                ])
            ),
        ],
        "{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM breaks"), 0, "{}", d.log());
    d.stop();
}
