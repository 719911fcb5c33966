//! `[[payables.tax_codes]]`, `payables.home_country` and `[payables.accounts] cash_discount`:
//! which accounts VAT goes to by tax category (UNCL 5305), rate and where the supplier sits
//! (`post::vat`).
//!
//! ```toml
//! [payables]
//! home_country = "DE"             # the buyer's country when an invoice names neither it nor its VAT id
//! [payables.accounts]
//! cash_discount = "3730"          # net part of a cash discount taken (Erhaltene Skonti)
//! [[payables.tax_codes]]          # reverse charge (§ 13b UStG): the buyer owes the VAT
//! category = "AE"
//! rate = "19"                     # the rate owed (the invoice shows 0 %)
//! input_vat = "1577"
//! output_vat = "1787"
//! [[payables.tax_codes]]          # intra-community acquisition of goods
//! category = "K"
//! supplier = "eu"                 # domestic, eu or third_country; any when left out
//! rate = "19"
//! input_vat = "1572"
//! output_vat = "1772"
//! ```

use std::sync::Arc;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use super::securities::decimal;
use crate::post::chart::Chart;
use crate::post::vat::{Location, TaxCode, VatRules};

/// UNCL 5305 codes an invoice's VAT breakdown may carry.
const CATEGORIES: &[&str] = &["S", "Z", "E", "AE", "K", "G", "O", "L", "M"];
/// Of them, those where the buyer owes the VAT itself.
const SELF_ASSESSED: &[&str] = &["AE", "K"];
/// Of them, those that carry no VAT at all: nothing to book.
const NO_VAT: &[&str] = &["Z", "E", "G", "O"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTaxCode {
    category: String,
    rate: Option<toml::Value>,
    supplier: Option<String>,
    input_vat: String,
    output_vat: Option<String>,
}

pub(super) fn check_vat(
    codes: &[RawTaxCode],
    home_country: Option<&str>,
    cash_discount: Option<&str>,
    loc: &Locator<'_>,
    chart: Option<&Arc<Chart>>,
    errors: &mut Vec<ConfigError>,
) -> VatRules {
    let mut out = Vec::new();
    for (i, raw) in codes.iter().enumerate() {
        let at = |key: &str| format!("payables.tax_codes[{i}].{key}");
        let category = raw.category.trim().to_ascii_uppercase();
        if !CATEGORIES.contains(&category.as_str()) {
            errors.push(loc.error(
                &at("category"),
                format!(
                    "expected a VAT category code of UNCL 5305 ({}), found {:?}",
                    CATEGORIES.join(", "),
                    raw.category
                ),
            ));
            continue;
        }
        if NO_VAT.contains(&category.as_str()) {
            errors.push(loc.error(
                &at("category"),
                format!(
                    "category {category} carries no VAT: there is nothing to book, leave it out"
                ),
            ));
            continue;
        }
        let rate = raw
            .rate
            .as_ref()
            .map(|v| decimal(loc, &at("rate"), Some(v), errors).normalize());
        if let Some(r) = rate
            && r > rust_decimal::Decimal::ONE_HUNDRED
        {
            errors.push(loc.error(
                &at("rate"),
                format!("expected a VAT rate in percent (0 to 100), found {r}"),
            ));
        }
        let supplier = match raw.supplier.as_deref() {
            None => None,
            Some(s) => match Location::parse(s) {
                Some(l) => Some(l),
                None => {
                    errors.push(loc.error(
                        &at("supplier"),
                        format!("expected where the supplier sits: \"domestic\", \"eu\" or \"third_country\", found {s:?}"),
                    ));
                    None
                }
            },
        };
        let self_assessed = SELF_ASSESSED.contains(&category.as_str());
        match (&raw.output_vat, self_assessed) {
            (None, true) => errors.push(loc.error(
                &at("category"),
                format!("category {category}: the buyer owes the VAT itself, so name output_vat as well as input_vat"),
            )),
            (Some(_), false) => errors.push(loc.error(
                &at("output_vat"),
                format!("category {category}: the supplier charges the VAT; output_vat is only for self-assessed VAT (AE, K)"),
            )),
            _ => {}
        }
        if self_assessed && rate.is_none() {
            errors.push(loc.error(
                &at("category"),
                format!("category {category}: name the rate the buyer owes (e.g. rate = \"19\"); the invoice shows none"),
            ));
        }
        for (key, v) in [
            ("input_vat", Some(&raw.input_vat)),
            ("output_vat", raw.output_vat.as_ref()),
        ] {
            let Some(v) = v else { continue };
            if v.trim().is_empty() {
                errors.push(loc.error(&at(key), "name an account"));
            } else if let Some(chart) = chart
                && let Err(m) = chart.check_template(v)
            {
                errors.push(loc.error(&at(key), m));
            }
        }
        let code = TaxCode {
            category,
            rate,
            supplier,
            input_vat: raw.input_vat.clone(),
            output_vat: raw.output_vat.clone(),
        };
        if out.iter().any(|c: &TaxCode| {
            c.category == code.category && c.rate == code.rate && c.supplier == code.supplier
        }) {
            errors.push(loc.error(
                &at("category"),
                "the same category, rate and supplier as an entry above: which one applies?",
            ));
            continue;
        }
        out.push(code);
    }
    if let Some(c) = home_country
        && (c.trim().len() != 2 || !c.trim().chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        errors.push(loc.error(
            "payables.home_country",
            format!("expected a country code of two letters (ISO 3166), e.g. \"DE\", found {c:?}"),
        ));
    }
    let home_country = home_country.map(|c| c.trim().to_ascii_uppercase());
    if let Some(account) = cash_discount {
        if account.trim().is_empty() {
            errors.push(loc.error("payables.accounts.cash_discount", "name an account"));
        } else if let Some(chart) = chart
            && let Err(m) = chart.check_template(account)
        {
            errors.push(loc.error("payables.accounts.cash_discount", m));
        }
    }
    VatRules {
        codes: out,
        home_country,
        cash_discount: cash_discount.map(str::to_string),
    }
}
