//! `clerk payables grir [--json]`: the open GR/IR of the accounts-payable jobs that clear
//! goods receipts, per order line (supplier, order, line, item, received and invoiced at the
//! order's price, what is open, how old), with totals per currency.

use std::path::Path;
use std::process::ExitCode;

use super::load_config;
use crate::jobs::grir::{open_grir, totals};
use crate::store;

pub fn grir(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let today = chrono::Utc::now().date_naive();
    let open = store::in_read_as(st.as_mut(), |u| open_grir(u, &config.jobs, today))?;
    let sums = totals(&open);
    if json {
        let totals: Vec<_> = sums
            .iter()
            .map(|(currency, lines, open, oldest)| {
                serde_json::json!({
                    "currency": currency,
                    "order_lines": lines,
                    "open": open.to_string(),
                    "oldest_receipt": oldest,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "lines": open, "totals": totals }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if open.is_empty() {
        outln!("GR/IR is clear: every goods receipt is invoiced");
        return Ok(ExitCode::SUCCESS);
    }
    for o in &open {
        outln!(
            "{} {} line {} {} ({}, job {}): received {} = {} {}, invoiced {} = {}, open {} {}, since {} ({} days)",
            o.supplier.as_deref().unwrap_or("-"),
            o.po_number,
            o.line.as_deref().unwrap_or("-"),
            o.item.as_deref().unwrap_or("-"),
            o.currency,
            o.job,
            o.received_quantity,
            o.received_value,
            o.currency,
            o.invoiced_quantity,
            o.invoiced_value,
            o.open,
            o.currency,
            o.received_on,
            o.age_days
        );
    }
    for (currency, lines, open, oldest) in &sums {
        outln!("total {currency}: {open} open on {lines} order line(s), oldest receipt {oldest}");
    }
    Ok(ExitCode::SUCCESS)
}
