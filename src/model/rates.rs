//! Rates into one base currency, for the manager who wants one figure across currencies.
//!
//! Used only to *show* a converted total beside the totals per currency; nothing is booked at
//! these rates, so they are configured by hand (`[summary.rates]`) rather than fetched.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::Currency;

/// What one unit of each currency is worth in `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseRates {
    pub base: Currency,
    pub per_unit: BTreeMap<Currency, Decimal>,
}

impl BaseRates {
    /// `amount` of `currency` in the base currency, rounded to its minor units; `None` when no
    /// rate is configured for `currency` (a total that silently left it out would be wrong).
    pub fn to_base(&self, amount: Decimal, currency: Currency) -> Option<Decimal> {
        let rate = if currency == self.base {
            Decimal::ONE
        } else {
            *self.per_unit.get(&currency)?
        };
        let converted = amount.checked_mul(rate)?;
        Some(converted.round_dp(self.base.minor_units()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> BaseRates {
        BaseRates {
            base: "EUR".parse().unwrap(),
            per_unit: [("USD".parse().unwrap(), "0.92".parse().unwrap())].into(),
        }
    }

    #[test]
    fn converts_at_the_configured_rate_and_rounds_to_the_base_minor_units() {
        let r = rates();
        let usd: Currency = "USD".parse().unwrap();
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(
            r.to_base("100.05".parse().unwrap(), usd),
            Some("92.05".parse().unwrap())
        );
        assert_eq!(
            r.to_base("7.5".parse().unwrap(), eur),
            Some("7.5".parse().unwrap())
        );
        assert_eq!(
            r.to_base("1".parse().unwrap(), "CHF".parse().unwrap()),
            None
        );
    }
}
