//! The `[payables]` table of an accounts-payable job: which CSV files are purchase orders and
//! goods receipts, the three-way match tolerances, and the accounts entries post to.
//!
//! ```toml
//! [payables]
//! order_files = ["po-*.csv"]
//! receipt_files = ["grn-*.csv"]
//! invoice_files = ["invoices-*.csv"]  # invoices as a CSV/XLSX list (UBL/CII are found by content)
//! price_tolerance = "0.05"            # per unit, in the invoice currency
//! price_tolerance_relative = "0.01"   # and 1 % of the ordered price (both apply)
//! price_tolerance_line = "5.00"       # and at most this much on a line's total
//! # price_tolerance_rule = "either"   # the more generous per-unit limit instead
//! [payables.suppliers."DE123456789"]  # by VAT id or name: this supplier's own limits
//! price_tolerance_relative = "0.02"   # what it leaves out is the job's
//! [payables.accounts]                 # SKR03 (clerk.toml's [chart])
//! payables = "1600"
//! input_vat = "1576"                  # the rates input_vat_rates does not name
//! expense = "3200"                    # where the order line names no account
//! bank = "{bank_account}"             # the statement's IBAN, by [chart.bank_accounts]
//! grir = "1605"                       # GR/IR clearing: goods received, not yet invoiced
//! price_variance = "3250"             # invoiced net less the order's value of the goods
//! [payables.accounts.input_vat_rates]
//! "7" = "1571"
//! "19" = "1576"
//! ```
//!
//! With a chart, each account is checked against it here where its number is written out,
//! and when an entry is made where a placeholder fills it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use super::securities::{CsvSide, csv_side, decimal};
use crate::extract::invoice_csv::INVOICE_FIELDS;
use crate::extract::payables_csv::{ORDER_FIELDS, RECEIPT_FIELDS};
use crate::post::chart::Chart;
use crate::post::payables::ApAccounts;
use crate::reconcile::ap_tolerance::{PriceTolerance, PriceTolerances, ToleranceRule};
use crate::reconcile::payables::ApRules;
use rust_decimal::Decimal;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPayables {
    order_files: Vec<String>,
    receipt_files: Vec<String>,
    /// Invoices as a CSV/XLSX list, one row per invoice line. Optional.
    #[serde(default)]
    invoice_files: Vec<String>,
    quantity_tolerance: Option<toml::Value>,
    price_tolerance: Option<toml::Value>,
    price_tolerance_relative: Option<toml::Value>,
    /// On the line total: the per-unit difference times the quantity, in money.
    price_tolerance_line: Option<toml::Value>,
    /// "stricter" (default: both per-unit limits apply) or "either".
    price_tolerance_rule: Option<String>,
    /// Price limits agreed with particular suppliers, by VAT id or name.
    #[serde(default)]
    suppliers: BTreeMap<String, RawSupplier>,
    /// Two-way match (invoice against order only) when false. Default true.
    require_receipt: Option<bool>,
    accounts: RawAccounts,
    #[serde(default)]
    order_columns: BTreeMap<String, String>,
    #[serde(default)]
    receipt_columns: BTreeMap<String, String>,
    #[serde(default)]
    invoice_columns: BTreeMap<String, String>,
    #[serde(default)]
    date_formats: Vec<String>,
    decimal: Option<String>,
    /// VAT by tax category (`config/vat.rs`).
    #[serde(default)]
    tax_codes: Vec<super::vat::RawTaxCode>,
    home_country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    payables: String,
    input_vat: String,
    expense: String,
    bank: String,
    /// GR/IR clearing: credited at goods receipt at the order's price, debited by the
    /// invoice. Without it, receipts post nothing and invoices debit expense (as before).
    grir: Option<String>,
    /// Where an invoice's net that differs from the order's value of the goods goes; needed
    /// with `grir`.
    price_variance: Option<String>,
    /// Input VAT by rate (`"7" = "1571"`), for the rates `input_vat` does not serve.
    #[serde(default)]
    input_vat_rates: BTreeMap<String, String>,
    /// Where the net part of a cash discount taken is credited.
    cash_discount: Option<String>,
}

/// A supplier's own price limits; what it leaves out is the job's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupplier {
    price_tolerance: Option<toml::Value>,
    price_tolerance_relative: Option<toml::Value>,
    price_tolerance_line: Option<toml::Value>,
    price_tolerance_rule: Option<String>,
}

/// A price limit when it is given: a non-negative decimal.
fn limit(
    loc: &Locator<'_>,
    key: &str,
    v: Option<&toml::Value>,
    errors: &mut Vec<ConfigError>,
) -> Option<Decimal> {
    match super::non_negative_decimal(loc, key, v?) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn rule(
    loc: &Locator<'_>,
    key: &str,
    v: Option<&str>,
    errors: &mut Vec<ConfigError>,
) -> Option<ToleranceRule> {
    match v?.parse() {
        Ok(r) => Some(r),
        Err(m) => {
            errors.push(loc.error(key, m));
            None
        }
    }
}

/// The job's price limits, then each supplier's over them.
fn price_tolerances(
    raw: &RawPayables,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> PriceTolerances {
    let default = PriceTolerance {
        absolute: limit(
            loc,
            "payables.price_tolerance",
            raw.price_tolerance.as_ref(),
            errors,
        ),
        relative: limit(
            loc,
            "payables.price_tolerance_relative",
            raw.price_tolerance_relative.as_ref(),
            errors,
        ),
        line: limit(
            loc,
            "payables.price_tolerance_line",
            raw.price_tolerance_line.as_ref(),
            errors,
        ),
        rule: rule(
            loc,
            "payables.price_tolerance_rule",
            raw.price_tolerance_rule.as_deref(),
            errors,
        )
        .unwrap_or_default(),
    };
    let mut suppliers = BTreeMap::new();
    for (name, s) in &raw.suppliers {
        let at = |k: &str| format!("payables.suppliers.{name}.{k}");
        if name.trim().is_empty() {
            errors.push(loc.error(
                "payables.suppliers",
                "name the supplier by its VAT id or name, e.g. [payables.suppliers.\"DE123456789\"]",
            ));
            continue;
        }
        let own = PriceTolerance {
            absolute: limit(
                loc,
                &at("price_tolerance"),
                s.price_tolerance.as_ref(),
                errors,
            )
            .or(default.absolute),
            relative: limit(
                loc,
                &at("price_tolerance_relative"),
                s.price_tolerance_relative.as_ref(),
                errors,
            )
            .or(default.relative),
            line: limit(
                loc,
                &at("price_tolerance_line"),
                s.price_tolerance_line.as_ref(),
                errors,
            )
            .or(default.line),
            rule: rule(
                loc,
                &at("price_tolerance_rule"),
                s.price_tolerance_rule.as_deref(),
                errors,
            )
            .unwrap_or(default.rule),
        };
        suppliers.insert(name.trim().to_string(), own);
    }
    PriceTolerances { default, suppliers }
}

/// What an accounts-payable job reads its purchasing files with.
#[derive(Debug, Clone)]
pub struct PurchasingFiles {
    pub orders: CsvSide,
    pub receipts: CsvSide,
    /// Invoice lists, when the job takes invoices as CSV/XLSX as well as UBL/CII.
    pub invoices: Option<CsvSide>,
}

pub(super) fn check_payables(
    raw: &RawPayables,
    loc: &Locator<'_>,
    chart: Option<Arc<Chart>>,
    errors: &mut Vec<ConfigError>,
) -> (PurchasingFiles, ApRules, ApAccounts) {
    let orders = csv_side(
        loc,
        "payables",
        "order_files",
        &raw.order_files,
        ORDER_FIELDS,
        &raw.order_columns,
        &raw.date_formats,
        raw.decimal.as_deref(),
        errors,
    );
    let receipts = csv_side(
        loc,
        "payables",
        "receipt_files",
        &raw.receipt_files,
        RECEIPT_FIELDS,
        &raw.receipt_columns,
        &raw.date_formats,
        raw.decimal.as_deref(),
        errors,
    );
    let invoices = (!raw.invoice_files.is_empty()).then(|| {
        csv_side(
            loc,
            "payables",
            "invoice_files",
            &raw.invoice_files,
            INVOICE_FIELDS,
            &raw.invoice_columns,
            &raw.date_formats,
            raw.decimal.as_deref(),
            errors,
        )
    });
    if invoices.is_none() && !raw.invoice_columns.is_empty() {
        errors.push(loc.error(
            "payables.invoice_columns",
            "invoice columns without invoice_files: name the invoice files too",
        ));
    }
    let rules = ApRules {
        quantity_tolerance: decimal(
            loc,
            "payables.quantity_tolerance",
            raw.quantity_tolerance.as_ref(),
            errors,
        ),
        price: price_tolerances(raw, loc, errors),
        require_receipt: raw.require_receipt.unwrap_or(true),
    };
    let a = &raw.accounts;
    for (key, v) in [
        ("payables", &a.payables),
        ("input_vat", &a.input_vat),
        ("expense", &a.expense),
        ("bank", &a.bank),
    ] {
        if v.trim().is_empty() {
            errors.push(loc.error(&format!("payables.accounts.{key}"), "name an account"));
        }
    }
    match (&a.grir, &a.price_variance) {
        (Some(_), None) => errors.push(loc.error(
            "payables.accounts.price_variance",
            "with a grir account, name the price_variance account the difference between invoice and order goes to",
        )),
        (None, Some(_)) => errors.push(loc.error(
            "payables.accounts.grir",
            "price_variance is used only with a grir (goods received / invoice received) clearing account: name it too",
        )),
        _ => {}
    }
    for (key, v) in [("grir", &a.grir), ("price_variance", &a.price_variance)] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            errors.push(loc.error(&format!("payables.accounts.{key}"), "name an account"));
        }
    }
    let mut input_vat_rates = BTreeMap::new();
    for (rate, account) in &a.input_vat_rates {
        let key = format!("payables.accounts.input_vat_rates.{rate}");
        match rate.trim().parse::<rust_decimal::Decimal>() {
            // As `{rate}` writes it: `7`, `19`, `5.5`.
            Ok(r) if !r.is_sign_negative() => {
                input_vat_rates.insert(r.normalize().to_string(), account.clone());
            }
            _ => errors.push(loc.error(
                &key,
                format!("expected a VAT rate in percent, e.g. \"7\" or \"19\", found {rate:?}"),
            )),
        }
    }
    // What a chart can tell now: the accounts named without placeholders are in it.
    if let Some(chart) = &chart {
        let rates = a
            .input_vat_rates
            .iter()
            .map(|(rate, v)| (format!("input_vat_rates.{rate}"), v));
        for (key, v) in [
            ("payables".to_string(), &a.payables),
            ("input_vat".to_string(), &a.input_vat),
            ("expense".to_string(), &a.expense),
            ("bank".to_string(), &a.bank),
        ]
        .into_iter()
        .chain(rates)
        .chain(
            [("grir", &a.grir), ("price_variance", &a.price_variance)]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v))),
        ) {
            if let Err(m) = chart.check_template(v) {
                errors.push(loc.error(&format!("payables.accounts.{key}"), m));
            }
        }
    }
    let vat = super::vat::check_vat(
        &raw.tax_codes,
        raw.home_country.as_deref(),
        a.cash_discount.as_deref(),
        loc,
        chart.as_ref(),
        errors,
    );
    let accounts = ApAccounts {
        payables: a.payables.clone(),
        input_vat: a.input_vat.clone(),
        default_expense: a.expense.clone(),
        bank: a.bank.clone(),
        grir: a.grir.clone().zip(a.price_variance.clone()),
        input_vat_rates,
        chart,
        vat,
    };
    (
        PurchasingFiles {
            orders,
            receipts,
            invoices,
        },
        rules,
        accounts,
    )
}
