//! What a transaction costs the back office: the cost model from `[costs]` in `clerk.toml`.
//!
//! Managers compare clerk against keying by hand, so the figure counts both sides of the
//! work: the machine time clerk spent, and the staff time still needed for what clerk could not
//! do alone (each break opened, each file that could not be read). Divided by the records
//! processed, that is the cost per transaction. Money is exact (`Decimal`), rounded only for
//! display.

use rust_decimal::Decimal;
use serde::Serialize;

use super::Currency;

/// The rates a firm plugs in; every figure is per job and period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostModel {
    pub currency: Currency,
    /// Cost of one hour of the server's processing time.
    pub machine_per_hour: Decimal,
    /// Loaded cost of one hour of an ops analyst's time.
    pub staff_per_hour: Decimal,
    /// Staff minutes to work one break (investigate, resolve or force-match).
    pub minutes_per_exception: Decimal,
    /// Staff minutes to deal with one file clerk could not read (ask for a new one, key it).
    pub minutes_per_failed_file: Decimal,
}

/// The work a job did in a period, as the cost model needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    pub records: u64,
    pub processing_ms: u64,
    /// Breaks staff work: those about a record count once they were open their job's grace
    /// period (an item that only waited for its counterpart costs nobody time).
    pub breaks_opened: u64,
    pub files_failed: u64,
}

/// A job's costs for a period, in the model's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Costs {
    pub currency: Currency,
    pub machine: Decimal,
    pub staff: Decimal,
    pub total: Decimal,
    /// `total / records`; `None` when no record was processed.
    pub per_transaction: Option<Decimal>,
}

const MS_PER_HOUR: u64 = 3_600_000;

impl CostModel {
    pub fn costs(&self, w: Workload) -> Costs {
        let machine =
            self.machine_per_hour * Decimal::from(w.processing_ms) / Decimal::from(MS_PER_HOUR);
        let staff_minutes = self.minutes_per_exception * Decimal::from(w.breaks_opened)
            + self.minutes_per_failed_file * Decimal::from(w.files_failed);
        let staff = self.staff_per_hour * staff_minutes / Decimal::from(60);
        let total = machine + staff;
        Costs {
            currency: self.currency,
            machine: machine.round_dp(4),
            staff: staff.round_dp(4),
            total: total.round_dp(4),
            per_transaction: (w.records > 0)
                .then(|| (total / Decimal::from(w.records)).round_dp(8)),
        }
    }
}

impl Costs {
    /// For tables and mail: the per-transaction cost to the currency's minor units plus two
    /// digits (a cost per transaction is often a fraction of a cent).
    pub fn per_transaction_text(&self) -> String {
        let dp = self.currency.minor_units() + 2;
        match self.per_transaction {
            // Machine time alone can cost less than the last digit shown: say so, not "0".
            Some(c) if c > Decimal::ZERO && c.round_dp(dp).is_zero() => {
                format!("< {} {}", Decimal::new(1, dp), self.currency)
            }
            Some(c) => format!("{} {}", c.round_dp(dp).normalize(), self.currency),
            None => "-".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn model() -> CostModel {
        CostModel {
            currency: "EUR".parse().unwrap(),
            machine_per_hour: dec("0.60"),
            staff_per_hour: dec("48"),
            minutes_per_exception: dec("15"),
            minutes_per_failed_file: dec("10"),
        }
    }

    #[test]
    fn staff_time_for_breaks_and_failed_files_dominates_machine_time() {
        // 1,000 records in 30 minutes of processing; 10 breaks and 1 unreadable file.
        let c = model().costs(Workload {
            records: 1000,
            processing_ms: 30 * 60 * 1000,
            breaks_opened: 10,
            files_failed: 1,
        });
        assert_eq!(c.machine, dec("0.30"));
        // (10 × 15 + 1 × 10) minutes = 160 minutes at 48/hour = 128.
        assert_eq!(c.staff, dec("128"));
        assert_eq!(c.total, dec("128.30"));
        assert_eq!(c.per_transaction, Some(dec("0.1283")));
        assert_eq!(c.per_transaction_text(), "0.1283 EUR");
    }

    #[test]
    fn a_fully_automatic_run_costs_only_machine_time() {
        let c = model().costs(Workload {
            records: 3,
            processing_ms: 1000,
            breaks_opened: 0,
            files_failed: 0,
        });
        assert_eq!(c.staff, Decimal::ZERO);
        // 0.60 per hour for one second, over three records.
        assert_eq!(c.machine, dec("0.0002"));
        assert_eq!(c.per_transaction, Some(dec("0.00005556")));
        assert_eq!(c.per_transaction_text(), "0.0001 EUR");
    }

    #[test]
    fn a_cost_below_the_last_digit_is_not_shown_as_zero() {
        let c = model().costs(Workload {
            records: 2000,
            processing_ms: 9_000,
            ..Default::default()
        });
        assert_eq!(c.per_transaction_text(), "< 0.0001 EUR");
    }

    #[test]
    fn no_records_means_no_per_transaction_figure() {
        let c = model().costs(Workload {
            files_failed: 2,
            ..Default::default()
        });
        assert_eq!(c.total, dec("16"));
        assert_eq!(c.per_transaction, None);
        assert_eq!(c.per_transaction_text(), "-");
    }
}
