//! What the books hold after a test, read from the install's store: the posted entries with
//! their lines, and the open breaks. One reading for every test module.

use super::install::Install;

/// Each entry's narrative with its lines (account, amount), in posting order.
pub fn entries(i: &Install) -> Vec<(String, Vec<(String, String)>)> {
    let db = i.db();
    let mut heads = db
        .prepare("SELECT id, narrative FROM entries ORDER BY id")
        .unwrap();
    let heads: Vec<(i64, String)> = heads
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut s = db
        .prepare("SELECT account, amount FROM entry_lines WHERE entry_id = ? ORDER BY line_no")
        .unwrap();
    heads
        .into_iter()
        .map(|(id, narrative)| {
            let lines = s
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (narrative, lines)
        })
        .collect()
}

/// (account, amount) pairs as `entries` gives them, from literals.
pub fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect()
}

/// The open breaks, (reason, detail), oldest first; of one job when `job` is given.
pub fn open_breaks(i: &Install, job: Option<&str>) -> Vec<(String, String)> {
    let db = i.db();
    let mut s = db
        .prepare(
            "SELECT reason, detail FROM breaks WHERE status = 'open' AND (?1 IS NULL OR job = ?1)
             ORDER BY id",
        )
        .unwrap();
    s.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The trial balance `clerk ledger balance --json` prints, by (account, currency), exact;
/// it must say the books balance. Accounts standing at zero are kept (they moved).
pub fn trial_balance(
    i: &Install,
) -> std::collections::BTreeMap<(String, String), rust_decimal::Decimal> {
    let tb = i.json(&["ledger", "balance"]);
    assert_eq!(tb["balanced"], true, "{tb}");
    tb["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                (
                    a["account"].as_str().unwrap().to_string(),
                    a["currency"].as_str().unwrap().to_string(),
                ),
                a["balance"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}
