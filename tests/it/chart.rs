//! Posting to the shipped chart of accounts through the real daemon: statements of two bank
//! accounts post to two chart accounts, and one of a bank account the chart does not map posts
//! nothing and says why.

use crate::support::install::Install;

const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,100.00,EUR,INV-000000001,ACME GMBH
2,CASH-EUR-01,2026-03-02,250.50,EUR,INV-000000002,BETA SA
3,CASH-EUR-01,2026-03-02,75.00,EUR,INV-000000003,GAMMA AG
";

/// An MT940 of bank account `iban` whose one line pays `invoice` with `amount`.
fn statement(iban: &str, invoice: &str, amount: &str) -> String {
    format!(
        "\
:20:STMT-{invoice}\r
:25:{iban}\r
:28C:00001/001\r
:60F:C260301EUR1000,00\r
:61:2603020302C{amount}NTRFNONREF//BK{invoice}\r
:86:PAYMENT INV-00000000{invoice}\r
:62F:C260302EUR{total}\r
-",
        total = {
            let a: rust_decimal::Decimal = amount.replace(',', ".").parse().unwrap();
            (a + rust_decimal::Decimal::from(1000))
                .to_string()
                .replace('.', ",")
        }
    )
}

/// (account, amount) of every posted entry line, sorted.
fn posted(i: &Install) -> Vec<(String, String)> {
    let db = i.db();
    let mut s = db
        .prepare("SELECT account, amount FROM entry_lines ORDER BY account, amount")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn two_bank_accounts_post_to_two_chart_accounts_and_an_unmapped_one_is_a_break() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    // clerk.toml maps DE89…3000 to 1200 and DE02…2051 to 1210; DE44…4931 to nothing.
    let files = [
        ("a.sta", statement("DE89370400440532013000", "1", "100,00")),
        (
            "b.sta",
            statement("DE02 1203 0000 0000 2020 51", "2", "250,50"),
        ),
        ("c.sta", statement("DE44500105175407324931", "3", "75,00")),
    ];
    for (n, (name, text)) in files.iter().enumerate() {
        i.drop_until_processed(&d, &format!("var/inbox/bank/{name}"), text, n as u64 + 2);
    }

    let receivables = "1400 Forderungen aus Lieferungen und Leistungen";
    let want: Vec<(String, String)> = [
        ("1200 Bank", "100.00"),
        ("1210 Bank 2", "250.50"),
        (receivables, "-100.00"),
        (receivables, "-250.50"),
    ]
    .iter()
    .map(|(a, m)| (a.to_string(), m.to_string()))
    .collect();
    assert_eq!(posted(&i), want, "{}", d.log());

    // The third matched its invoice but could not post: a break on its line naming the bank
    // account and the chart, and both records stay open.
    let ex = i.json(&["exceptions", "--job", "bank-reconciliation"]);
    let ex = ex.as_array().unwrap();
    let line = ex
        .iter()
        .find(|e| e["amount"] == "75.00" && e["reason"] == "unbalanced")
        .unwrap_or_else(|| panic!("{ex:#?}"));
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.contains("DE44500105175407324931")
            && detail.contains("[chart.bank_accounts]")
            && detail.contains("skr03.csv"),
        "{detail}"
    );
    d.stop();
}
