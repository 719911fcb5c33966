//! Foreign currency and differences in the books, through `clerk job run` and the real store: a
//! USD invoice paid in EUR matches at the payment day's rate and posts in EUR with the exchange
//! difference on its account; a bank charge posts to the charges account; a match by hand books
//! a difference only within `[posting.manual]`.

use crate::support::install::Install;

/// A bank reconciliation with a reference pass that lets a bank charge through, an fx pass,
/// a receipt template that books differences, and limits on differences booked by hand.
const JOB: &str = r#"
kind = "cash_reconciliation"
book = "main"
owner = "cash-ops@example.com"

[watch]
folder = "var/inbox/bank"
patterns = ["*.csv"]

[extract]
date_formats = ["%Y-%m-%d"]

[extract.columns]
id = "bank_reference"
booking_date = "booking_date"
value_date = "value_date"
amount = "amount"
currency = "currency"
remittance = "remittance_info"

[match]
rates = { ecb = "config/rates.csv" }

[[match.passes]]
name = "reference"
keys = [
  { ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount", tolerance = "10.00" }

[[match.passes]]
name = "fx"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date" }
fx = { rates = "ecb", tolerance_relative = "0.005" }

[posting.receipt]
narrative = "Receipt {bank_reference}: {references}"
lines = [
  { account = "1010 Bank {currency}", amount = "statement" },
  { account = "1290 Receivables clearing", amount = "-item" },
  { account = "6855 Bank charges", amount = "difference" },
]

[posting.payment]
narrative = "Payment {bank_reference}: {references}"
lines = [
  { account = "1690 Payables clearing", amount = "-item" },
  { account = "1010 Bank {currency}", amount = "statement" },
]

[posting.fx]
functional_currency = "EUR"
rates = "ecb"
difference_account = "2660 Exchange differences"

[posting.manual]
max_difference = "1.00"
difference_accounts = ["6855 Bank charges", "4730 Cash discounts"]
"#;

const RATES: &str = "\
date,from,to,rate
2026-03-02,USD,EUR,0.90
2026-03-10,USD,EUR,0.92
";

/// 9: a USD invoice paid in EUR eight days later (the bank converted at 0.92: 918.50 EUR is
/// 0.16 % short of 1,000 USD that day, 2.1 % over at the invoice day's 0.90); 10: paid less a
/// 7.50 charge; 11: a supplier's bill paid with a 2.50 fee on top (the payment template has no
/// difference line); 7, 8 and the USD invoice 12: paid without a reference, by hand later.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
9,CASH-USD-01,2026-03-02,1000.00,USD,INV-000000009,ACME US INC
10,CASH-EUR-01,2026-03-02,500.00,EUR,INV-000000010,BETA SA
11,CASH-EUR-01,2026-03-02,-200.00,EUR,INV-000000011,PAPER KG
7,CASH-EUR-01,2026-03-05,50.00,EUR,INV-000000007,OMEGA SARL
8,CASH-EUR-01,2026-03-05,100.00,EUR,INV-000000008,SIGMA SPA
12,CASH-USD-01,2026-03-02,200.00,USD,INV-000000012,ZETA LLC
";
const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-10,2026-03-10,918.50,EUR,BK9,PAYMENT INV-000000009 ACME US
2026-03-03,2026-03-03,492.50,EUR,BK10,INV-000000010 BETA SA LESS CHARGES
2026-03-03,2026-03-03,-202.50,EUR,BK11,INV-000000011 PAPER KG
2026-03-05,2026-03-05,49.95,EUR,BK7,OMEGA SARL PAYMENT
2026-03-05,2026-03-05,80.00,EUR,BK8,SIGMA SPA PAYMENT
2026-03-10,2026-03-10,183.50,EUR,BK12,ZETA LLC PAYMENT
";

/// An install whose bank reconciliation is [`JOB`], with the ledger and statement run.
fn install() -> Install {
    let i = Install::new();
    std::fs::write(i.path("jobs/bank-reconciliation.toml"), JOB).unwrap();
    std::fs::write(i.path("config/rates.csv"), RATES).unwrap();
    let l = i.path("ledger.csv");
    let s = i.path("statement.csv");
    std::fs::write(&l, LEDGER).unwrap();
    std::fs::write(&s, STATEMENT).unwrap();
    for (job, f) in [("ledger-import", &l), ("bank-reconciliation", &s)] {
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    i
}

type Line = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The lines of the entry whose narrative starts with `narrative`, as stored.
fn stored_lines(i: &Install, narrative: &str) -> Vec<Line> {
    let db = i.db();
    let mut st = db
        .prepare(
            "SELECT l.account, l.currency, l.amount, l.transaction_amount,
                    l.transaction_currency, l.rate
             FROM entry_lines l JOIN entries e ON e.id = l.entry_id
             WHERE e.narrative LIKE ? || '%' ORDER BY e.id, l.line_no",
        )
        .unwrap();
    st.query_map([narrative], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn line(a: &str, c: &str, m: &str, fx: Option<(&str, &str, &str)>) -> Line {
    (
        a.into(),
        c.into(),
        m.into(),
        fx.map(|f| f.0.into()),
        fx.map(|f| f.1.into()),
        fx.map(|f| f.2.into()),
    )
}

#[test]
fn a_usd_invoice_paid_in_eur_posts_in_eur_with_its_exchange_difference() {
    let i = install();
    // Matched at the payment day's rate and booked: the bank's 918.50 EUR, the receivable at
    // what it was booked at (1,000 USD at 0.90); remeasured at the payment day's 0.92 it is
    // 920.00, a 20.00 exchange gain; the 1.50 the bank kept beyond that goes to the receipt
    // template's difference line.
    assert_eq!(
        stored_lines(&i, "Receipt BK9"),
        [
            line(
                "1010 Bank EUR",
                "EUR",
                "918.50",
                Some(("918.50", "EUR", "1"))
            ),
            line(
                "1290 Receivables clearing",
                "EUR",
                "-900.00",
                Some(("-1000.00", "USD", "0.90"))
            ),
            line(
                "6855 Bank charges",
                "EUR",
                "1.50",
                Some(("1.50", "EUR", "1"))
            ),
            line(
                "2660 Exchange differences",
                "EUR",
                "-20.00",
                Some(("-20.00", "EUR", "1"))
            ),
        ]
    );
    let open = i.json(&["exceptions"]);
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|e| !e["detail"].as_str().unwrap_or("").contains("BK9")),
        "{open}"
    );
}

#[test]
fn a_charge_the_bank_deducted_posts_to_the_charges_account() {
    let i = install();
    assert_eq!(
        stored_lines(&i, "Receipt BK10"),
        [
            line("1010 Bank EUR", "EUR", "492.50", None),
            line("1290 Receivables clearing", "EUR", "-500.00", None),
            line("6855 Bank charges", "EUR", "7.50", None),
        ]
    );
    // The payment template books no difference: the fee on top stays a break that says
    // where to configure one.
    assert!(stored_lines(&i, "Payment BK11").is_empty());
    let open = i.json(&["exceptions"]);
    let unbalanced = open
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "unbalanced")
        .unwrap_or_else(|| panic!("no unbalanced break in {open}"));
    let detail = unbalanced["detail"].as_str().unwrap();
    assert!(
        detail.contains("amount = \"difference\"") && detail.contains("[posting.pass.reference]"),
        "{detail}"
    );
}

fn break_id(i: &Install, reason: &str, amount: &str) -> String {
    let list = i.json(&["exceptions"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == reason && e["amount"] == amount)
        .unwrap_or_else(|| panic!("no {reason} of {amount} in {list}"))["id"]
        .as_i64()
        .unwrap()
        .to_string()
}

#[test]
fn a_match_by_hand_books_a_difference_only_within_the_jobs_limits() {
    let i = install();
    let entries = || i.count("SELECT COUNT(*) FROM entries");
    let before = entries();
    let force = |line: &str, item: &str, account: Option<&str>| {
        let mut args = vec!["exception", "match", line, item, "--reason", "paid short"];
        if let Some(a) = account {
            args.extend(["--difference-account", a]);
        }
        args.extend(["--by", "anna"]);
        let o = i.clerk(&args);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // 20.00 short: more than the 1.00 a person may book.
    let (line, item) = (
        break_id(&i, "missing_in_ledger", "80.00"),
        break_id(&i, "missing_on_statement", "100.00"),
    );
    let (ok, err) = force(&line, &item, Some("6855 Bank charges"));
    assert!(!ok);
    assert!(
        err.contains("20.00 EUR")
            && err.contains("max_difference = \"1.00\"")
            && err.contains("bank-reconciliation.toml"),
        "{err}"
    );
    // 0.05 short, to an account not in the list.
    let (line, item) = (
        break_id(&i, "missing_in_ledger", "49.95"),
        break_id(&i, "missing_on_statement", "50.00"),
    );
    let (ok, err) = force(&line, &item, Some("8400 Revenue"));
    assert!(!ok);
    assert!(
        err.contains("\"8400 Revenue\"") && err.contains("6855 Bank charges, 4730 Cash discounts"),
        "{err}"
    );
    assert_eq!(entries(), before);
    // Within the limits it posts: without an account, to the template's `difference` line
    // (the receipt's charges account).
    let (ok, err) = force(&line, &item, None);
    assert!(ok, "{err}");
    assert_eq!(entries(), before + 1);
    let lines = stored_lines(&i, "Receipt BK7");
    assert_eq!(
        lines,
        [
            line_of("1010 Bank EUR", "49.95"),
            line_of("1290 Receivables clearing", "-50.00"),
            line_of("6855 Bank charges", "0.05"),
        ]
    );
}

fn line_of(account: &str, amount: &str) -> Line {
    line(account, "EUR", amount, None)
}

/// A USD invoice matched by hand to a EUR payment books its exchange difference, not the whole
/// payment as a loss: the receivable at its booked 180.00, 4.00 gained by the rate moving to
/// 0.92, and the 0.50 paid short (within the limit) to the template's difference line.
#[test]
fn a_usd_invoice_matched_by_hand_to_a_eur_payment_books_only_its_exchange_difference() {
    let i = install();
    let (line_id, item) = (
        break_id(&i, "missing_in_ledger", "183.50"),
        break_id(&i, "missing_on_statement", "200.00"),
    );
    let force = |account: Option<&str>| {
        let mut args = vec![
            "exception",
            "match",
            &line_id,
            &item,
            "--reason",
            "ZETA paid in EUR",
        ];
        if let Some(a) = account {
            args.extend(["--difference-account", a]);
        }
        args.extend(["--by", "anna"]);
        i.clerk(&args)
    };
    // Without [posting.fx] the dollars and the euros are not a difference to book.
    let job = i.path("jobs/bank-reconciliation.toml");
    let (fx, manual) = (
        JOB.find("[posting.fx]").unwrap(),
        JOB.find("[posting.manual]").unwrap(),
    );
    std::fs::write(&job, format!("{}{}", &JOB[..fx], &JOB[manual..])).unwrap();
    let o = force(Some("6855 Bank charges"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("EUR and USD") && err.contains("[posting.fx]"),
        "{err}"
    );
    std::fs::write(&job, JOB).unwrap();
    let o = force(None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stored_lines(&i, "Receipt BK12"),
        [
            line(
                "1010 Bank EUR",
                "EUR",
                "183.50",
                Some(("183.50", "EUR", "1"))
            ),
            line(
                "1290 Receivables clearing",
                "EUR",
                "-180.00",
                Some(("-200.00", "USD", "0.90"))
            ),
            line(
                "6855 Bank charges",
                "EUR",
                "0.50",
                Some(("0.50", "EUR", "1"))
            ),
            line(
                "2660 Exchange differences",
                "EUR",
                "-4.00",
                Some(("-4.00", "EUR", "1"))
            ),
        ]
    );
}
