//! Position reconciliation: what the books say the firm holds against what the custodian says
//! it holds, per safekeeping account and security, on one date.
//!
//! Positions are balances, not flows: each day's comparison stands on its own, and a break is
//! about an (account, ISIN) pair, not about a record. The caller carries a break over from day
//! to day while the pair still disagrees and closes it the first day both sides agree.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::model::securities::{Money, Position};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionRules {
    /// Quantities this far apart still agree (rounding of fractional fund units); 0 = exact.
    pub quantity_tolerance: Decimal,
    /// Book portfolio → custodian safekeeping account, where they are named differently.
    pub accounts: BTreeMap<String, String>,
    /// Book values this far apart still agree; compared only where both sides state one.
    pub value_tolerance: Decimal,
}

/// What one (account, ISIN) pair came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PositionFinding {
    Agrees,
    /// Both hold it, in different quantities: `book - custodian`.
    QuantityDifference {
        difference: Decimal,
    },
    /// Both hold the same quantity and state a book value, and the values differ:
    /// `book - custodian`.
    ValueDifference {
        book: Money,
        custodian: Money,
        difference: Decimal,
    },
    /// In the books, not reported by the custodian.
    MissingAtCustodian,
    /// Reported by the custodian, not in the books.
    MissingInBooks,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionResult<'a> {
    /// The custodian's safekeeping account.
    pub account: String,
    pub isin: String,
    pub book: Option<&'a Position>,
    pub custodian: Option<&'a Position>,
    pub finding: PositionFinding,
}

impl PositionResult<'_> {
    /// What a break about this pair is about, stable from day to day.
    pub fn subject(&self) -> String {
        format!("position|{}|{}", self.account, self.isin)
    }
}

fn security(p: &Position) -> String {
    p.isin
        .clone()
        .or_else(|| p.security_id.clone())
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase()
}

/// Compares two snapshots. Several lines for one pair on a side (lots, sub-accounts) are
/// added up. The result is sorted by account and ISIN whatever the order of the inputs.
pub fn reconcile_positions<'a>(
    book: &'a [Position],
    custodian: &'a [Position],
    rules: &PositionRules,
) -> Vec<PositionResult<'a>> {
    #[derive(Default)]
    struct Pair<'a> {
        book: Option<(&'a Position, Decimal)>,
        custodian: Option<(&'a Position, Decimal)>,
        /// Each side's book value, summed; `None` when a line of it states none.
        book_value: Option<Option<Money>>,
        custodian_value: Option<Option<Money>>,
    }
    let mut pairs: BTreeMap<(String, String), Pair<'a>> = BTreeMap::new();
    for p in book {
        let account = rules
            .accounts
            .get(p.account.trim())
            .cloned()
            .unwrap_or_else(|| p.account.trim().to_owned());
        let e = pairs.entry((account, security(p))).or_default();
        let (_, sum) = e.book.get_or_insert((p, Decimal::ZERO));
        *sum += p.quantity;
        add_value(&mut e.book_value, p);
    }
    for p in custodian {
        let e = pairs
            .entry((p.account.trim().to_owned(), security(p)))
            .or_default();
        let (_, sum) = e.custodian.get_or_insert((p, Decimal::ZERO));
        *sum += p.quantity;
        add_value(&mut e.custodian_value, p);
    }
    pairs
        .into_iter()
        // A zero position on one side and nothing on the other is no difference.
        .filter(|(_, p)| {
            !(p.book.is_none_or(|b| b.1.is_zero()) && p.custodian.is_none_or(|c| c.1.is_zero()))
        })
        .map(|((account, isin), p)| {
            let finding = match (p.book, p.custodian) {
                (Some((_, b)), Some((_, c))) => {
                    let difference = b - c;
                    if difference.abs() <= rules.quantity_tolerance {
                        match (p.book_value.flatten(), p.custodian_value.flatten()) {
                            (Some(bv), Some(cv))
                                if bv.currency != cv.currency
                                    || (bv.amount - cv.amount).abs() > rules.value_tolerance =>
                            {
                                PositionFinding::ValueDifference {
                                    difference: bv.amount - cv.amount,
                                    book: bv,
                                    custodian: cv,
                                }
                            }
                            _ => PositionFinding::Agrees,
                        }
                    } else {
                        PositionFinding::QuantityDifference { difference }
                    }
                }
                (Some((_, b)), None) if b.abs() <= rules.quantity_tolerance => {
                    PositionFinding::Agrees
                }
                (Some(_), None) => PositionFinding::MissingAtCustodian,
                (None, Some((_, c))) if c.abs() <= rules.quantity_tolerance => {
                    PositionFinding::Agrees
                }
                (None, _) => PositionFinding::MissingInBooks,
            };
            PositionResult {
                account,
                isin,
                book: p.book.map(|b| b.0),
                custodian: p.custodian.map(|c| c.0),
                finding,
            }
        })
        .collect()
}

/// Adds a line's book value to its side's sum: the first line starts it; a line without one,
/// or in another currency, leaves the side without a book value to compare.
fn add_value(sum: &mut Option<Option<Money>>, p: &Position) {
    let next = match (sum.take(), &p.book_value) {
        (None, v) => v.clone(),
        (Some(Some(s)), Some(v)) if s.currency == v.currency => Some(Money {
            amount: s.amount + v.amount,
            currency: s.currency,
        }),
        _ => None,
    };
    *sum = Some(next);
}

/// Quantity of a pair on one side, summed, for messages.
pub fn side_quantity(
    all: &[Position],
    account: &str,
    isin: &str,
    accounts: &BTreeMap<String, String>,
) -> Decimal {
    all.iter()
        .filter(|p| {
            let a = accounts
                .get(p.account.trim())
                .map(String::as_str)
                .unwrap_or(p.account.trim());
            a == account && security(p) == isin
        })
        .map(|p| p.quantity)
        .sum()
}

/// The latest date on or before `day` for which `positions` hold a snapshot.
pub fn latest_on_or_before(positions: &[Position], day: NaiveDate) -> Option<NaiveDate> {
    positions
        .iter()
        .map(|p| p.as_of)
        .filter(|d| *d <= day)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::model::securities::QuantityKind;
    use std::str::FromStr;
    use std::sync::Arc;

    fn pos(account: &str, isin: &str, qty: &str) -> Position {
        Position {
            account: account.into(),
            isin: Some(isin.into()),
            security_id: None,
            security_name: None,
            quantity: Decimal::from_str(qty).unwrap(),
            quantity_kind: QuantityKind::Units,
            available: None,
            price: None,
            market_value: None,
            book_value: None,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            source: Source::at(Arc::from("f"), None, 2),
        }
    }

    fn rules(tol: &str) -> PositionRules {
        PositionRules {
            quantity_tolerance: Decimal::from_str(tol).unwrap(),
            accounts: BTreeMap::new(),
            value_tolerance: Decimal::from_str("0.01").unwrap(),
        }
    }

    fn valued(account: &str, isin: &str, qty: &str, value: Option<&str>) -> Position {
        Position {
            book_value: value.map(|v| Money {
                amount: Decimal::from_str(v).unwrap(),
                currency: "EUR".parse().unwrap(),
            }),
            ..pos(account, isin, qty)
        }
    }

    #[test]
    fn book_values_are_compared_where_both_sides_state_them() {
        let isin = "DE0005557508";
        let book = [
            valued("S", isin, "60", Some("600.00")),
            valued("S", isin, "40", Some("400.00")),
            valued("T", isin, "5", Some("50.00")),
            valued("U", isin, "5", Some("50.00")),
        ];
        let cust = [
            valued("S", isin, "100", Some("1012.50")),
            valued("T", isin, "5", None),
            valued("U", isin, "5", Some("50.01")),
        ];
        let f = findings(&book, &cust, &rules("0"));
        assert_eq!(
            f[0].2,
            PositionFinding::ValueDifference {
                book: book[0]
                    .book_value
                    .clone()
                    .map(|m| Money {
                        amount: Decimal::from(1000),
                        ..m
                    })
                    .unwrap(),
                custodian: cust[0].book_value.clone().unwrap(),
                difference: Decimal::from_str("-12.50").unwrap(),
            }
        );
        // Not stated by the custodian: nothing to compare; within the tolerance: agrees.
        assert_eq!(f[1].2, PositionFinding::Agrees);
        assert_eq!(f[2].2, PositionFinding::Agrees);
    }

    fn findings(
        book: &[Position],
        cust: &[Position],
        r: &PositionRules,
    ) -> Vec<(String, String, PositionFinding)> {
        reconcile_positions(book, cust, r)
            .into_iter()
            .map(|x| (x.account, x.isin, x.finding))
            .collect()
    }

    #[test]
    fn each_kind_of_finding_with_the_tolerance_at_its_edge() {
        let book = [
            pos("S1", "DE0005557508", "100"),
            pos("S1", "US0378331005", "10.001"),
            pos("S1", "FR0000120271", "10.002"),
            pos("S1", "GB0002374006", "5"),
        ];
        let cust = [
            pos("S1", "DE0005557508", "100"),
            pos("S1", "US0378331005", "10"), // exactly at the tolerance
            pos("S1", "FR0000120271", "10"), // one step over
            pos("S1", "NL0000235190", "7"),
        ];
        let got = findings(&book, &cust, &rules("0.001"));
        assert_eq!(
            got,
            vec![
                ("S1".into(), "DE0005557508".into(), PositionFinding::Agrees),
                (
                    "S1".into(),
                    "FR0000120271".into(),
                    PositionFinding::QuantityDifference {
                        difference: Decimal::from_str("0.002").unwrap()
                    }
                ),
                (
                    "S1".into(),
                    "GB0002374006".into(),
                    PositionFinding::MissingAtCustodian
                ),
                (
                    "S1".into(),
                    "NL0000235190".into(),
                    PositionFinding::MissingInBooks
                ),
                ("S1".into(), "US0378331005".into(), PositionFinding::Agrees),
            ]
        );
    }

    #[test]
    fn lots_add_up_accounts_map_and_order_does_not_matter() {
        let mut book = vec![
            pos("PF-1", "DE0005557508", "60"),
            pos("PF-1", "DE0005557508", "40"),
            pos("PF-1", "US0378331005", "0"),
        ];
        let cust = vec![pos("SAFE-9", "de0005557508", "100")];
        let mut r = rules("0");
        r.accounts.insert("PF-1".into(), "SAFE-9".into());
        let a = findings(&book, &cust, &r);
        assert_eq!(
            a,
            vec![(
                "SAFE-9".into(),
                "DE0005557508".into(),
                PositionFinding::Agrees
            )]
        );
        book.reverse();
        assert_eq!(findings(&book, &cust, &r), a);
        assert_eq!(
            side_quantity(&book, "SAFE-9", "DE0005557508", &r.accounts),
            Decimal::from(100)
        );
    }

    #[test]
    fn short_positions_compare_with_their_sign() {
        let got = findings(
            &[pos("S", "DE0005557508", "-50")],
            &[pos("S", "DE0005557508", "50")],
            &rules("0"),
        );
        assert_eq!(
            got[0].2,
            PositionFinding::QuantityDifference {
                difference: Decimal::from(-100)
            }
        );
    }
}
