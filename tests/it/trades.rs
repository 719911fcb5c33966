//! Trades booked through the daemon: each trade of the blotter at its trade date (securities
//! against the settlement clearing account), each settlement the custodian confirms (clearing
//! against the custodian's cash account); a failed settlement stays in the clearing account.
//! Posted to the shipped SKR03 chart by the shipped `trade-settlement` job.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::support::install::{Install, wait_until};

const MT536: &str = include_str!("../fixtures/swift/clerk/mt536_transactions.fin");

pub(crate) const SECURITIES: &str = "1510 Wertpapiere des Umlaufvermögens";
pub(crate) const CLEARING: &str = "1360 Geldtransit";
pub(crate) const CASH: &str = "1220 Depotbank Verrechnungskonto";
pub(crate) const ACCRUED: &str = "2655 Stückzinsen";

/// Three trades: a share purchase (price 12,320.00 plus 25.00 fees), a share sale, and a
/// bond purchase (price 50,250.00 plus 520.00 accrued interest) whose settlement fails.
pub(crate) const BLOTTER: &str = "trade_ref,account,isin,side,quantity,price,net_amount,fees,accrued_interest,currency,trade_date,settlement_date\n\
TRADE-0001,DEPOT-4711,DE0007164600,B,100,123.20,12345.00,25.00,,EUR,2026-03-27,2026-03-31\n\
TRADE-0002,DEPOT-4711,DE0007164600,S,40,124.75,4990.00,,,EUR,2026-03-26,2026-03-30\n\
TRADE-0003,DEPOT-4711,DE0001102580,B,50000,100.50,50770.00,,520.00,EUR,2026-03-27,2026-03-31\n";

/// The custodian's MT536 with the first two trades settled by their reference (12,345.00
/// paid, 4,990.00 received); the bond's delivery of the fixture is left out.
pub(crate) fn mt536() -> String {
    let start = MT536
        .find(":16R:FIN\n:35B:ISIN DE0001102580")
        .expect("the bond's block");
    let end = MT536[start..].find(":16S:FIN\n").unwrap() + start + ":16S:FIN\n".len();
    format!("{}{}", &MT536[..start], &MT536[end..])
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The trial balance as (account → balance) in EUR, and whether it adds up to zero.
fn balances(i: &Install) -> (BTreeMap<String, Decimal>, bool) {
    let tb = i.json(&["ledger", "balance"]);
    let accounts = tb["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["currency"] == "EUR")
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_owned(),
                dec(&a["balance"]),
            )
        })
        .filter(|(_, b)| !b.is_zero())
        .collect();
    (accounts, tb["balanced"] == true)
}

fn entries(i: &Install) -> Vec<Value> {
    i.json(&["journal"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job"] == "trade-settlement")
        .cloned()
        .collect()
}

fn lines(e: &Value) -> Vec<(String, Decimal)> {
    e["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["account"].as_str().unwrap().to_owned(), dec(&l["amount"])))
        .collect()
}

fn entry_of<'a>(all: &'a [Value], pass: &str, trade: &str) -> &'a Value {
    all.iter()
        .find(|e| e["pass"] == pass && e["narrative"].as_str().unwrap().contains(trade))
        .unwrap_or_else(|| panic!("no {pass} entry of {trade}: {all:#?}"))
}

#[test]
fn trades_post_at_trade_date_settlements_clear_and_a_failed_one_stays_in_the_clearing() {
    let i = Install::with_shipped_chart("");
    let d0 = i.start_daemon();
    let job = "trade-settlement";
    i.drop_file(
        "var/inbox/settlements",
        "blotter-20260327.csv",
        BLOTTER.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 1),
        "{}",
        d0.log()
    );

    // At trade date: three entries, each dated its trade date and naming its blotter line.
    let all = entries(&i);
    assert_eq!(all.len(), 3, "{all:#?}");
    let buy = entry_of(&all, "trade", "TRADE-0001");
    assert_eq!(buy["posting_date"], "2026-03-27");
    assert!(
        buy["narrative"]
            .as_str()
            .unwrap()
            .contains("blotter-20260327.csv line 2"),
        "{buy}"
    );
    assert_eq!(
        buy["sources"],
        serde_json::json!(["blotter-20260327.csv line 2 (trade TRADE-0001)"]),
        "{buy}"
    );
    // Fees are acquisition costs: the shares at 12,345.00.
    assert_eq!(
        lines(buy),
        vec![
            (SECURITIES.into(), d("12345.00")),
            (CLEARING.into(), d("-12345.00"))
        ]
    );
    let sale = entry_of(&all, "trade", "TRADE-0002");
    assert_eq!(sale["posting_date"], "2026-03-26");
    assert_eq!(
        lines(sale),
        vec![
            (SECURITIES.into(), d("-4990.00")),
            (CLEARING.into(), d("4990.00"))
        ]
    );
    // The accrued interest paid on the bond is not part of its cost.
    assert_eq!(
        lines(entry_of(&all, "trade", "TRADE-0003")),
        vec![
            (SECURITIES.into(), d("50250.00")),
            (ACCRUED.into(), d("520.00")),
            (CLEARING.into(), d("-50770.00"))
        ]
    );
    let (tb, balanced) = balances(&i);
    assert!(balanced);
    assert_eq!(tb[CLEARING], d("-58125.00"), "{tb:#?}");

    // The custodian confirms the first two: clearing against cash, on the day each settled.
    i.drop_file(
        "var/inbox/settlements",
        "custody-20260331.fin",
        mt536().as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 2),
        "{}",
        d0.log()
    );
    let all = entries(&i);
    assert_eq!(all.len(), 5, "{all:#?}");
    let paid = entry_of(&all, "settlement", "TRADE-0001");
    assert_eq!(paid["posting_date"], "2026-03-31");
    assert!(
        paid["narrative"]
            .as_str()
            .unwrap()
            .contains("custody-20260331.fin line"),
        "{paid}"
    );
    let from = paid["sources"].as_array().unwrap();
    assert!(
        from.len() == 2
            && from[0]
                .as_str()
                .unwrap()
                .starts_with("custody-20260331.fin line")
            && from[1] == "blotter-20260327.csv line 2 (trade TRADE-0001)",
        "{paid}"
    );
    assert_eq!(
        lines(paid),
        vec![
            (CLEARING.into(), d("12345.00")),
            (CASH.into(), d("-12345.00"))
        ]
    );
    let received = entry_of(&all, "settlement", "TRADE-0002");
    assert_eq!(received["posting_date"], "2026-03-30");
    assert_eq!(
        lines(received),
        vec![
            (CLEARING.into(), d("-4990.00")),
            (CASH.into(), d("4990.00"))
        ]
    );

    // By hand: the clearing account holds only the failed bond purchase; cash moved for the
    // two settled trades; the securities at trade amounts.
    let (tb, balanced) = balances(&i);
    assert!(balanced, "{tb:#?}");
    let expected: BTreeMap<String, Decimal> = [
        (SECURITIES, "57605.00"), // 12,345.00 - 4,990.00 + 50,250.00
        (ACCRUED, "520.00"),
        (CLEARING, "-50770.00"), // TRADE-0003, not settled
        (CASH, "-7355.00"),      // -12,345.00 + 4,990.00
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), d(b)))
    .collect();
    assert_eq!(tb, expected);
    let open: Vec<Value> = i
        .json(&["exceptions", "--job", job])
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["reason"], "failed_settlement");
    assert!(open[0]["detail"].as_str().unwrap().contains("TRADE-0003"));
    assert_eq!(dec(&open[0]["amount"]), -tb[CLEARING]);

    // The blotter sent again in another order, and the MT536 sent again as a new statement
    // of the same settlements, post nothing twice.
    let mut rows: Vec<&str> = BLOTTER.lines().collect();
    rows[1..].reverse();
    let again = format!("{}\n", rows.join("\n"));
    i.drop_file(
        "var/inbox/settlements",
        "trades-again.csv",
        again.as_bytes(),
    );
    let resent = mt536().replace("SEME//TRX20260331", "SEME//TRX20260331R");
    i.drop_file(
        "var/inbox/settlements",
        "custody-again.fin",
        resent.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 4),
        "{}",
        d0.log()
    );
    assert_eq!(entries(&i).len(), 5);
    assert_eq!(balances(&i).0, expected);
    d0.stop();
}
