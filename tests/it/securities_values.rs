//! Positions tie to the books: book values compared per account and ISIN where both sides
//! state one (a `value_difference` break), and a position difference corrected by a person's
//! entry through the command line, with four eyes above `[http.approval]`. Nothing posts by
//! itself.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::support::install::{Install, ok, refused, wait_until};

const JOB: &str = "custody-positions";

fn open(i: &Install) -> Vec<Value> {
    i.json(&["exceptions", "--job", JOB])
        .as_array()
        .unwrap()
        .clone()
}

fn label_of(i: &Install, reason: &str) -> String {
    let all = open(i);
    all.iter()
        .find(|b| b["reason"] == reason)
        .unwrap_or_else(|| panic!("no open {reason}: {all:#?}"))["label"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn entries(i: &Install) -> Vec<Value> {
    i.json(&["journal"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job"] == JOB)
        .cloned()
        .collect()
}

fn proposal(out: &str) -> String {
    out.split("proposed as ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("not proposed: {out}"))
        .to_string()
}

#[test]
fn a_book_value_difference_breaks_and_a_person_corrects_it_with_four_eyes_above_the_limit() {
    let i = Install::with_shipped_chart("[http.approval]\nabove = \"100.00\"\n");
    let d = i.start_daemon();
    // The books: the shares at 12,345.00, the Bund at 50,000 nominal.
    let book = "portfolio,isin,quantity,book_value,currency,position_date\n\
                DEPOT-4711,DE0007164600,100,12345.00,EUR,2026-03-31\n\
                DEPOT-4711,DE0001102580,50000,50250.00,EUR,2026-03-31\n";
    i.drop_file("var/inbox/positions", "book-20260331.csv", book.as_bytes());
    // The custodian's CSV: the shares' cost 12.50 higher, 10,000 nominal of the Bund gone.
    let custodian = "portfolio,isin,quantity,book_value,currency,position_date\n\
                     DEPOT-4711,DE0007164600,100,12357.50,EUR,2026-03-31\n\
                     DEPOT-4711,DE0001102580,40000,40200.00,EUR,2026-03-31\n";
    i.drop_file(
        "var/inbox/positions",
        "custody-20260331.csv",
        custodian.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(JOB) == 2),
        "{}",
        d.log()
    );
    let breaks = open(&i);
    assert_eq!(breaks.len(), 2, "{breaks:#?}");
    let value = breaks
        .iter()
        .find(|b| b["reason"] == "value_difference")
        .unwrap_or_else(|| panic!("{breaks:#?}"));
    assert!(
        value["detail"].as_str().unwrap().contains(
            "DEPOT-4711 DE0007164600 on 2026-03-31: quantities agree (100), book value in the \
             books 12345.00 EUR, at the custodian 12357.50 EUR, difference -12.50 EUR"
        ),
        "{value}"
    );
    assert_eq!(value["amount"], "-12.50");
    assert_eq!(value["currency"], "EUR");
    // Nothing posts by itself.
    assert!(entries(&i).is_empty());

    // Below the limit: the correction posts at once, balanced, and resolves the break.
    let v = label_of(&i, "value_difference");
    let out = ok(&i.clerk(&[
        "exception",
        "correct",
        &v,
        "--debit",
        "1510",
        "--credit",
        "2650",
        "--amount",
        "12.50",
        "--reason",
        "custody fee capitalised by the custodian, missing in our cost",
        "--by",
        "eva",
    ]));
    assert!(out.contains("corrected: exception"), "{out}");
    let posted = entries(&i);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let lines: Vec<(String, String)> = posted[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "1510 Wertpapiere des Umlaufvermögens".to_owned(),
                "12.50".to_owned()
            ),
            (
                "2650 Sonstige Zinsen und ähnliche Erträge".to_owned(),
                "-12.50".to_owned()
            ),
        ]
    );
    assert!(
        posted[0]["narrative"]
            .as_str()
            .unwrap()
            .contains("corrected by eva"),
        "{}",
        posted[0]
    );
    let shown = i.json(&["exception", "show", &v]);
    assert_eq!(shown["status"], "resolved", "{shown}");
    // Corrected once: the break is closed, a second correction is refused.
    refused(
        &i.clerk(&[
            "exception",
            "correct",
            &v,
            "--debit",
            "1510",
            "--credit",
            "2650",
            "--amount",
            "12.50",
            "--reason",
            "again",
            "--by",
            "eva",
        ]),
        "already resolved",
    );

    // A quantity difference has no currency: the correction names it. Above the limit it is
    // only proposed; the maker cannot approve it, another person can, and it posts once.
    let q = label_of(&i, "quantity_difference");
    let args = [
        "exception",
        "correct",
        &q,
        "--debit",
        "1360",
        "--credit",
        "1510",
        "--amount",
        "10050.00",
        "--reason",
        "sale of 10,000 nominal settled, trade missing in the blotter",
        "--by",
        "eva",
    ];
    refused(
        &i.clerk(
            &args[..args.len() - 4]
                .iter()
                .copied()
                .chain(["--reason", "x", "--by", "eva"])
                .collect::<Vec<_>>(),
        ),
        "name it (--currency EUR)",
    );
    let mut with_currency = args.to_vec();
    with_currency.extend(["--currency", "EUR"]);
    let a = proposal(&ok(&i.clerk(&with_currency)));
    assert_eq!(entries(&i).len(), 1, "nothing posted while proposed");
    refused(
        &i.clerk(&["exception", "approve", &a, "--by", "eva"]),
        "nobody approves their own",
    );
    let out = ok(&i.clerk(&["exception", "approve", &a, "--by", "max"]));
    assert!(out.contains("approved by max"), "{out}");
    refused(&i.clerk(&["exception", "approve", &a, "--by", "max"]), "");
    let posted = entries(&i);
    assert_eq!(posted.len(), 2, "{posted:#?}");
    let correction = &posted[1];
    assert!(
        correction["narrative"]
            .as_str()
            .unwrap()
            .contains(&format!("corrected by eva, approved by max ({a})")),
        "{correction}"
    );
    assert!(open(&i).is_empty(), "{:#?}", open(&i));
    let history = i.json(&["exception", "show", &q]);
    assert!(
        history.to_string().contains("position correction"),
        "{history}"
    );
    // The books balance.
    let tb = i.json(&["ledger", "balance"]);
    assert_eq!(tb["balanced"], true, "{tb}");
    let clearing = tb["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "1360 Geldtransit")
        .unwrap();
    assert_eq!(
        clearing["balance"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::new(1005000, 2)
    );
    d.stop();
}
