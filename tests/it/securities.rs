//! The securities reconciliations through the daemon: positions (books against the
//! custodian's MT535) and trade settlement (the blotter against MT536), with breaks that
//! carry over, close themselves when the other side agrees, and are resolved by a person.

use std::time::Duration;

use serde_json::Value;

use crate::support::install::{Install, wait_until};

const MT535: &[u8] = include_bytes!("../fixtures/swift/clerk/mt535_holdings.fin");
const MT536: &[u8] = include_bytes!("../fixtures/swift/clerk/mt536_transactions.fin");

/// Open breaks of a job as (reason, detail), sorted.
fn open(i: &Install, job: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = i
        .json(&["exceptions", "--job", job])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn all(i: &Install, job: &str) -> Vec<Value> {
    i.json(&["exceptions", "--job", job, "--all"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn positions_break_carry_over_close_when_the_books_agree_and_are_resolved_by_hand() {
    let i = Install::new();
    let d = i.start_daemon();
    let job = "custody-positions";
    // The books as the portfolio system exported them for 31 March: the Bund position short
    // by 10,000 nominal, and a TotalEnergies line the custodian does not hold.
    let book = "portfolio,isin,quantity,price,currency,position_date\n\
                DEPOT-4711,DE0007164600,1500,123.45,EUR,2026-03-31\n\
                DEPOT-4711,DE0001102580,240000,,EUR,2026-03-31\n\
                DEPOT-4711,US0378331005,-200,201,USD,2026-03-31\n\
                DEPOT-4711,FR0000120271,50,,EUR,2026-03-31\n";
    i.drop_file("var/inbox/positions", "book-20260331.csv", book.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 1),
        "{}",
        d.log()
    );
    assert!(
        open(&i, job).is_empty(),
        "nothing to compare before the custodian reports"
    );

    i.drop_file("var/inbox/positions", "custody-20260331.fin", MT535);
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 2),
        "{}",
        d.log()
    );
    let breaks = open(&i, job);
    let reasons: Vec<&str> = breaks.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "missing_at_custodian",
            "missing_in_books",
            "quantity_difference"
        ],
        "{breaks:#?}"
    );
    let qty = &breaks[2].1;
    assert!(
        qty.contains("DEPOT-4711 DE0001102580")
            && qty.contains("books 240000, custodian 250000, difference -10000")
            && qty.contains("market value 253750 EUR"),
        "{qty}"
    );
    // No ISIN for the mortgage pool: the custodian's own identifier stands in.
    assert!(
        breaks[1].1.contains("DEPOT-4712 /US/31392EXH8"),
        "{}",
        breaks[1].1
    );
    let shown = all(&i, job);
    let q = shown
        .iter()
        .find(|b| b["reason"] == "quantity_difference")
        .unwrap();
    assert_eq!(q["difference"], "-10000", "{q}");
    assert_eq!(q["since"], "2026-03-31");

    // A corrected book file for the same day: the Bund and the stray line now agree.
    let corrected = "portfolio,isin,quantity,price,currency,position_date\n\
                     DEPOT-4711,DE0007164600,1500,123.45,EUR,2026-03-31\n\
                     DEPOT-4711,DE0001102580,250000,,EUR,2026-03-31\n\
                     DEPOT-4711,US0378331005,-200,201,USD,2026-03-31\n";
    i.drop_file(
        "var/inbox/positions",
        "book-20260331-v2.csv",
        corrected.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 3),
        "{}",
        d.log()
    );
    let left = open(&i, job);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0].0, "missing_in_books");
    let closed: Vec<Value> = all(&i, job)
        .into_iter()
        .filter(|b| b["status"] == "resolved")
        .collect();
    assert_eq!(closed.len(), 2);
    for b in &closed {
        assert_eq!(
            b["resolution"], "books and custodian agree on 2026-03-31",
            "{b}"
        );
    }

    // The next day: both sides report 1 April. The mortgage pool is still only at the
    // custodian: the same break carries over, still dated 31 March; nothing new opens.
    let id = all(&i, job)
        .iter()
        .find(|b| b["reason"] == "missing_in_books")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let day2 = String::from_utf8(MT535.to_vec())
        .unwrap()
        .replace("STAT//20260331", "STAT//20260401")
        .replace("HOLD20260331A", "HOLD20260401A");
    i.drop_file(
        "var/inbox/positions",
        "custody-20260401.fin",
        day2.as_bytes(),
    );
    i.drop_file(
        "var/inbox/positions",
        "book-20260401.csv",
        corrected.replace("2026-03-31", "2026-04-01").as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 5),
        "{}",
        d.log()
    );
    let carried = all(&i, job);
    let open_now: Vec<&Value> = carried
        .iter()
        .filter(|b| b["status"] != "resolved")
        .collect();
    assert_eq!(open_now.len(), 1, "{carried:#?}");
    assert_eq!(open_now[0]["id"], id, "the same break, carried over");
    assert_eq!(
        open_now[0]["since"], "2026-03-31",
        "its age runs from the first day"
    );
    assert!(
        open_now[0]["detail"]
            .as_str()
            .unwrap()
            .contains("on 2026-04-01"),
        "{}",
        open_now[0]
    );

    // The mortgage pool in the other depot is the back office's to explain.
    let o = i.clerk(&[
        "exception",
        "resolve",
        &id.to_string(),
        "--reason",
        "pool held for a client, not in our books",
        "--by",
        "eva",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(open(&i, job).is_empty());

    // KPIs: the two runs that compared count the agreeing positions as matched.
    let status = i.status();
    let kpi = status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == job)
        .unwrap();
    assert_eq!(kpi["breaks_opened"], 3, "{kpi}");
    assert_eq!(kpi["breaks_closed"], 2, "{kpi}");
    d.stop();
}

#[test]
fn trades_fail_when_due_and_settle_when_the_custodian_confirms() {
    let i = Install::new();
    let d = i.start_daemon();
    let job = "trade-settlement";
    let blotter = "trade_ref,account,isin,side,quantity,price,net_amount,currency,trade_date,settlement_date\n\
                   TRADE-0001,DEPOT-4711,DE0007164600,B,100,123.45,12345.00,EUR,2026-03-27,2026-03-31\n\
                   TRADE-0002,DEPOT-4711,DE0007164600,S,40,124.75,4990.00,EUR,2026-03-26,2026-03-30\n\
                   TRADE-0003,DEPOT-4711,DE0001102580,SELL,50000,,,EUR,2026-03-27,2026-03-31\n\
                   TRADE-0004,DEPOT-4711,US0378331005,BUY,10,201,2010.00,USD,2026-03-26,2026-03-30\n\
                   TRADE-0005,DEPOT-4711,US0378331005,BUY,5,201,1005.00,USD,2099-01-02,2099-01-06\n";
    i.drop_file(
        "var/inbox/settlements",
        "blotter-20260331.csv",
        blotter.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 1),
        "{}",
        d.log()
    );
    // TRADE-0003 gives no amount: it is settled and reconciled, but cannot be booked, and
    // says so (tests/it/trades.rs books trades); the other breaks are about settlement.
    let booking: Vec<(String, String)> = open(&i, job)
        .into_iter()
        .filter(|(r, _)| r == "unbalanced")
        .collect();
    assert_eq!(booking.len(), 1, "{booking:#?}");
    assert!(
        booking[0]
            .1
            .contains("trade TRADE-0003 cannot be booked: the blotter gives no net amount"),
        "{}",
        booking[0].1
    );
    let open = |i: &Install, job: &str| -> Vec<(String, String)> {
        open(i, job)
            .into_iter()
            .filter(|(r, _)| r != "unbalanced")
            .collect()
    };
    // Every trade due in March and not confirmed has failed; the 2099 trade is not due.
    let failed = open(&i, job);
    assert_eq!(failed.len(), 4, "{failed:#?}");
    assert!(failed.iter().all(|(r, _)| r == "failed_settlement"));
    let shown = all(&i, job);
    let t4 = shown
        .iter()
        .find(|b| b["detail"].as_str().unwrap().contains("TRADE-0004"))
        .unwrap();
    assert_eq!(
        t4["since"], "2026-03-30",
        "aged from the settlement date: {t4}"
    );
    assert!(t4["age_days"].as_i64().unwrap() > 100, "{t4}");
    assert_eq!(t4["amount"], "2010.00");

    // The custodian's MT536: TRADE-0001 and -0002 by reference, TRADE-0003 by its details
    // (the custodian quoted no usable reference); TRADE-0004 stays failed.
    i.drop_file("var/inbox/settlements", "custody-20260331.fin", MT536);
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 2),
        "{}",
        d.log()
    );
    let left = open(&i, job);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert!(
        left[0].1.contains("TRADE-0004") && left[0].1.contains("not settled"),
        "{}",
        left[0].1
    );
    let resolved: Vec<String> = all(&i, job)
        .iter()
        .filter(|b| b["status"] == "resolved")
        .map(|b| b["resolution"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(resolved.len(), 3, "{resolved:?}");
    assert!(
        resolved.iter().any(|r| r == "settled (CUST-98765)"),
        "{resolved:?}"
    );

    // Tomorrow's blotter repeats the open trades and adds one not yet due: the repeated
    // trades are known, nothing new fails.
    let next = format!(
        "{blotter}TRADE-0006,DEPOT-4711,DE0007164600,B,1,123.45,123.45,EUR,2099-01-02,2099-01-06\n"
    );
    i.drop_file("var/inbox/settlements", "trades-next.csv", next.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 3),
        "{}",
        d.log()
    );
    assert_eq!(open(&i, job).len(), 1);

    // The US custodian confirms by CSV, late: the failed settlement closes, saying how late.
    let csv = "account,isin,direction,quantity,settlement_date,reference,custodian_reference,settlement_amount,currency\n\
               DEPOT-4711,US0378331005,RECE,10,2026-04-02,TRADE-0004,US-5511,-2010.00,USD\n";
    i.drop_file(
        "var/inbox/settlements",
        "custodian-us-0402.csv",
        csv.as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok(job) == 4),
        "{}",
        d.log()
    );
    assert!(open(&i, job).is_empty());
    let t4 = all(&i, job)
        .into_iter()
        .find(|b| b["detail"].as_str().unwrap().contains("TRADE-0004"))
        .unwrap();
    // Due Monday 30 March, settled Thursday 2 April.
    assert_eq!(
        t4["resolution"], "settled (US-5511), 3 business days late",
        "{t4}"
    );
    d.stop();
}
