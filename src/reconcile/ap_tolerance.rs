//! How far an invoiced price may stray from the ordered one before a person must look.
//!
//! A job names a tolerance per unit in money (`price_tolerance`), as a share of the ordered
//! price (`price_tolerance_relative`), and on the line total (`price_tolerance_line`: the
//! per-unit difference times the quantity, so 10,000 units at a tenth of a cent more cannot
//! pass unseen). When both per-unit limits are given **both apply** (the stricter one wins):
//! a relative 1 % on an order of 250,000.00 would otherwise let 2,500.00 through beside an
//! absolute limit of 0.05. A supplier with another agreement gets its own limits
//! (`[payables.suppliers."<VAT id or name>"]`), and may say `price_tolerance_rule = "either"`
//! for the old reading (the more generous limit wins). A limit that is not given does not
//! limit; when neither per-unit limit is given the price must be the ordered one exactly.
//!
//! Whatever difference is accepted is not hidden: the matched line carries the invoiced and
//! the ordered price, and the entry books the difference as a price variance.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::model::invoice::Invoice;
use crate::model::payables::compact;

/// How the absolute and the relative per-unit limit combine when both are given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ToleranceRule {
    /// Both apply: the smaller allowance wins.
    #[default]
    Stricter,
    /// Either suffices: the larger allowance wins.
    Either,
}

impl ToleranceRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ToleranceRule::Stricter => "stricter",
            ToleranceRule::Either => "either",
        }
    }
}

impl std::str::FromStr for ToleranceRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "stricter" => Ok(ToleranceRule::Stricter),
            "either" => Ok(ToleranceRule::Either),
            other => Err(format!(
                "expected \"stricter\" (both limits apply) or \"either\" (the more generous one), found {other:?}"
            )),
        }
    }
}

/// One set of price limits: the job's, or one supplier's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTolerance {
    /// Money per unit.
    pub absolute: Option<Decimal>,
    /// Share of the ordered unit price (0.01 is 1 %).
    pub relative: Option<Decimal>,
    /// Money on the line: the per-unit difference times the invoiced quantity.
    pub line: Option<Decimal>,
    pub rule: ToleranceRule,
}

impl PriceTolerance {
    /// The per-unit difference allowed on `ordered`.
    pub fn per_unit(&self, ordered: Decimal) -> Decimal {
        // A share beyond Decimal's range allows any price.
        let relative = self
            .relative
            .map(|r| r.checked_mul(ordered.abs()).unwrap_or(Decimal::MAX));
        match (self.absolute, relative) {
            (None, None) => Decimal::ZERO,
            (Some(one), None) | (None, Some(one)) => one,
            (Some(a), Some(r)) => match self.rule {
                ToleranceRule::Stricter => a.min(r),
                ToleranceRule::Either => a.max(r),
            },
        }
    }

    /// The per-unit limit in words, for a break: "0.05 per unit (1 % of the ordered price
    /// would be 2500.00; the stricter applies)".
    pub fn per_unit_words(&self, ordered: Decimal) -> String {
        let allowed = self.per_unit(ordered);
        match (self.absolute, self.relative) {
            (Some(a), Some(r)) => format!(
                "tolerance {allowed}: {a} per unit and {}% of the ordered price, {}",
                (r * Decimal::ONE_HUNDRED).normalize(),
                match self.rule {
                    ToleranceRule::Stricter => "the stricter applies",
                    ToleranceRule::Either => "the more generous applies",
                }
            ),
            _ => format!("tolerance {allowed}"),
        }
    }
}

/// The job's limits and those agreed with particular suppliers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTolerances {
    pub default: PriceTolerance,
    /// By supplier as written in the job file (VAT id or name), compared without case or
    /// spaces.
    pub suppliers: BTreeMap<String, PriceTolerance>,
}

impl PriceTolerances {
    /// Only the job's limits.
    pub fn uniform(default: PriceTolerance) -> Self {
        PriceTolerances {
            default,
            suppliers: BTreeMap::new(),
        }
    }

    /// The limits for the invoice's supplier: its VAT id, else its name or trading name as
    /// the job file names it, else the job's.
    pub fn for_invoice(&self, inv: &Invoice) -> &PriceTolerance {
        if self.suppliers.is_empty() {
            return &self.default;
        }
        let s = &inv.supplier;
        [&s.vat_id, &s.name, &s.trading_name]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .map(compact)
            .filter(|k| !k.is_empty())
            .find_map(|k| {
                self.suppliers
                    .iter()
                    .find(|(name, _)| compact(name) == k)
                    .map(|(_, t)| t)
            })
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn both_limits_apply_unless_either_is_agreed() {
        let mut t = PriceTolerance {
            absolute: Some(d("0.05")),
            relative: Some(d("0.01")),
            ..Default::default()
        };
        // 1 % of 250,000.00 is 2,500.00: the absolute 0.05 is the stricter.
        assert_eq!(t.per_unit(d("250000.00")), d("0.05"));
        // On a price of 1.00 the relative 0.01 is the stricter.
        assert_eq!(t.per_unit(d("1.00")), d("0.01"));
        t.rule = ToleranceRule::Either;
        assert_eq!(t.per_unit(d("250000.00")), d("2500"));
        // One limit alone is that limit; none is an exact price.
        let only_rel = PriceTolerance {
            relative: Some(d("0.01")),
            ..Default::default()
        };
        assert_eq!(only_rel.per_unit(d("10.00")), d("0.1"));
        assert_eq!(
            PriceTolerance::default().per_unit(d("10.00")),
            Decimal::ZERO
        );
    }

    #[test]
    fn rule_names_read_back_and_others_are_refused() {
        assert_eq!("stricter".parse(), Ok(ToleranceRule::Stricter));
        assert_eq!("either".parse(), Ok(ToleranceRule::Either));
        assert!(
            "max"
                .parse::<ToleranceRule>()
                .unwrap_err()
                .contains("stricter")
        );
    }
}
