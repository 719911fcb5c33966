//! The `[positions]` and `[settlement]` tables of securities reconciliation jobs.
//!
//! ```toml
//! [positions]
//! book_files = ["book-*.csv"]      # the portfolio system's positions; any other CSV here is
//!                                  # the custodian's, MT535/semt.002 are recognised by content
//! quantity_tolerance = "0"
//! [positions.accounts]             # book portfolio → custodian safekeeping account
//! "PF-GLOBAL" = "SAFE-1234"
//! [positions.columns]              # field → the file's header, where they differ
//! account = "Portfolio"
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::error::{ConfigError, Locator};
use crate::extract::rows::{CellStyle, Wanted};
use crate::extract::securities_csv::{CONFIRMATION_FIELDS, POSITION_FIELDS, TRADE_FIELDS, wanted};
use crate::post::chart::Chart;
use crate::post::securities::SecuritiesAccounts;
use crate::reconcile::positions::PositionRules;
use crate::reconcile::settlement::SettlementRules;
use crate::schedule::Calendar;

/// Which CSV files a job reads as its own side, by name.
#[derive(Debug, Clone)]
pub struct FilePatterns {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl FilePatterns {
    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }
}

/// How a job reads its CSV side: which files, which columns, which number and date style.
#[derive(Debug, Clone)]
pub struct CsvSide {
    pub files: FilePatterns,
    pub columns: Vec<Wanted>,
    pub style: CellStyle,
    /// The columns of the other side's CSV (files the patterns do not name), where a job
    /// reads one: the custodian's settlement confirmations.
    pub other_columns: Vec<Wanted>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPositions {
    book_files: Vec<String>,
    quantity_tolerance: Option<toml::Value>,
    /// Book values (the `book_value` column on both sides) this far apart still agree.
    value_tolerance: Option<toml::Value>,
    #[serde(default)]
    accounts: BTreeMap<String, String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    date_formats: Vec<String>,
    /// `.` (default) or `,`.
    decimal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettlement {
    blotter_files: Vec<String>,
    window_business_days: Option<i64>,
    amount_tolerance: Option<toml::Value>,
    quantity_tolerance: Option<toml::Value>,
    calendar: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, String>,
    /// Headers of the custodian's CSV confirmations (any CSV that is not the blotter).
    #[serde(default)]
    confirmation_columns: BTreeMap<String, String>,
    #[serde(default)]
    date_formats: Vec<String>,
    decimal: Option<String>,
    /// Where trades and their settlements are booked; without it nothing is posted.
    accounts: Option<RawSecuritiesAccounts>,
}

/// `[settlement.accounts]`: the accounts of a trade's entries (see
/// [`crate::post::securities`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecuritiesAccounts {
    securities: String,
    clearing: String,
    cash: String,
    fees: Option<String>,
    accrued_interest: Option<String>,
    fees_at_cost: Option<bool>,
}

/// The accounts of `[settlement.accounts]`, each named and, where written without
/// placeholders, in the chart.
fn securities_accounts(
    raw: &RawSecuritiesAccounts,
    loc: &Locator<'_>,
    chart: Option<Arc<Chart>>,
    errors: &mut Vec<ConfigError>,
) -> SecuritiesAccounts {
    let named = [
        ("securities", Some(&raw.securities)),
        ("clearing", Some(&raw.clearing)),
        ("cash", Some(&raw.cash)),
        ("fees", raw.fees.as_ref()),
        ("accrued_interest", raw.accrued_interest.as_ref()),
    ];
    for (key, v) in named {
        let Some(v) = v else { continue };
        let at = format!("settlement.accounts.{key}");
        if v.trim().is_empty() {
            errors.push(loc.error(&at, "name an account, e.g. \"1510\""));
        } else if let Some(chart) = &chart
            && let Err(m) = chart.check_template(v)
        {
            errors.push(loc.error(&at, m));
        }
    }
    SecuritiesAccounts {
        securities: raw.securities.clone(),
        clearing: raw.clearing.clone(),
        cash: raw.cash.clone(),
        fees: raw.fees.clone(),
        accrued_interest: raw.accrued_interest.clone(),
        // Acquisition costs include the incidental costs of buying (§ 255 (1) HGB).
        fees_at_cost: raw.fees_at_cost.unwrap_or(true),
        chart,
    }
}

/// An optional tolerance: zero when not set.
pub(super) fn decimal(
    loc: &Locator<'_>,
    key: &str,
    v: Option<&toml::Value>,
    errors: &mut Vec<ConfigError>,
) -> Decimal {
    v.map_or(Ok(Decimal::ZERO), |v| {
        super::non_negative_decimal(loc, key, v)
    })
    .unwrap_or_else(|e| {
        errors.push(e);
        Decimal::ZERO
    })
}

fn patterns(
    loc: &Locator<'_>,
    key: &str,
    list: &[String],
    errors: &mut Vec<ConfigError>,
) -> FilePatterns {
    let mut set = GlobSetBuilder::new();
    if list.is_empty() {
        errors.push(loc.error(
            key,
            "name at least one file name pattern, e.g. \"book-*.csv\"",
        ));
    }
    for (i, p) in list.iter().enumerate() {
        match GlobBuilder::new(p)
            .case_insensitive(true)
            .literal_separator(true)
            .build()
        {
            Ok(g) => {
                set.add(g);
            }
            Err(e) => errors.push(loc.error(&format!("{key}[{i}]"), e.to_string())),
        }
    }
    FilePatterns {
        patterns: list.to_vec(),
        set: set.build().unwrap_or_else(|_| GlobSet::empty()),
    }
}

// The two tables spell the same settings under their own names.
#[allow(clippy::too_many_arguments)]
pub(super) fn csv_side(
    loc: &Locator<'_>,
    table: &str,
    files_key: &str,
    files: &[String],
    fields: &[(&'static str, bool)],
    columns: &BTreeMap<String, String>,
    date_formats: &[String],
    decimal_mark: Option<&str>,
    errors: &mut Vec<ConfigError>,
) -> CsvSide {
    for key in columns.keys() {
        if !fields.iter().any(|(f, _)| f == key) {
            errors.push(loc.error(
                &format!("{table}.columns.{key}"),
                format!(
                    "unknown field {key:?}; expected one of {}",
                    fields.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let mapping: Vec<(String, String)> = columns.clone().into_iter().collect();
    let (decimal, thousands) = match decimal_mark.map(str::trim) {
        None | Some(".") => ('.', Some(',')),
        Some(",") => (',', Some('.')),
        Some(other) => {
            errors.push(loc.error(
                &format!("{table}.decimal"),
                format!("expected \".\" or \",\", found {other:?}"),
            ));
            ('.', None)
        }
    };
    let style = CellStyle::new(decimal, thousands, date_formats).unwrap_or_else(|m| {
        errors.push(loc.error(&format!("{table}.date_formats"), m));
        CellStyle::default()
    });
    CsvSide {
        files: patterns(loc, &format!("{table}.{files_key}"), files, errors),
        columns: wanted(fields, &mapping),
        style,
        other_columns: Vec::new(),
    }
}

pub(super) fn check_positions(
    raw: &RawPositions,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> (CsvSide, PositionRules) {
    let side = csv_side(
        loc,
        "positions",
        "book_files",
        &raw.book_files,
        POSITION_FIELDS,
        &raw.columns,
        &raw.date_formats,
        raw.decimal.as_deref(),
        errors,
    );
    let rules = PositionRules {
        quantity_tolerance: decimal(
            loc,
            "positions.quantity_tolerance",
            raw.quantity_tolerance.as_ref(),
            errors,
        ),
        accounts: raw
            .accounts
            .iter()
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        value_tolerance: decimal(
            loc,
            "positions.value_tolerance",
            raw.value_tolerance.as_ref(),
            errors,
        ),
    };
    (side, rules)
}

pub(super) fn check_settlement(
    raw: &RawSettlement,
    loc: &Locator<'_>,
    calendar: impl FnOnce(&str, Option<&str>, &mut Vec<ConfigError>) -> Calendar,
    chart: impl FnOnce(&mut Vec<ConfigError>) -> Option<Arc<Chart>>,
    errors: &mut Vec<ConfigError>,
) -> (CsvSide, SettlementRules, Option<SecuritiesAccounts>) {
    let side = csv_side(
        loc,
        "settlement",
        "blotter_files",
        &raw.blotter_files,
        TRADE_FIELDS,
        &raw.columns,
        &raw.date_formats,
        raw.decimal.as_deref(),
        errors,
    );
    let mut side = side;
    for key in raw.confirmation_columns.keys() {
        if !CONFIRMATION_FIELDS.iter().any(|(f, _)| f == key) {
            errors.push(loc.error(
                &format!("settlement.confirmation_columns.{key}"),
                format!(
                    "unknown field {key:?}; expected one of {}",
                    CONFIRMATION_FIELDS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let mapping: Vec<(String, String)> = raw.confirmation_columns.clone().into_iter().collect();
    side.other_columns = wanted(CONFIRMATION_FIELDS, &mapping);
    let window = raw.window_business_days.unwrap_or(2);
    if let Err(m) = crate::settings::limits::SETTLEMENT_WINDOW.check(window) {
        errors.push(loc.error(crate::settings::limits::SETTLEMENT_WINDOW.key, m));
    }
    let rules = SettlementRules {
        window_business_days: window,
        amount_tolerance: decimal(
            loc,
            "settlement.amount_tolerance",
            raw.amount_tolerance.as_ref(),
            errors,
        ),
        quantity_tolerance: decimal(
            loc,
            "settlement.quantity_tolerance",
            raw.quantity_tolerance.as_ref(),
            errors,
        ),
        calendar: calendar("settlement.calendar", raw.calendar.as_deref(), errors),
    };
    let accounts = raw
        .accounts
        .as_ref()
        .map(|a| securities_accounts(a, loc, chart(errors), errors));
    (side, rules, accounts)
}
