//! GR/IR of an accounts-payable job: each goods receipt line posted once against the GR/IR
//! clearing account ([`crate::post::grir`]), where a payables entry came from (its invoice,
//! order and receipt lines, for its sources and `clerk explain`), and the open GR/IR per order
//! line: goods received and not yet invoiced (`clerk payables grir`, the morning summary).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::WorkError;
use super::subjects::{Finding, JobRun, apply, bodies, place};
use crate::config::{Job, JobKind};
use crate::model::invoice::Invoice;
use crate::model::payables::{GoodsReceipt, InvoicedQuantity, PurchaseOrderLine};
use crate::model::{BreakReason, Currency, MatchPass};
use crate::post::PostingRefused;
use crate::post::grir::receipt_entry;
use crate::post::payables::ApAccounts;
use crate::reconcile::payables::{MatchedLine, order_lines_of, order_lines_of_receipts};
use crate::store::{Document, DocumentKind, NewMatch, Posted, RunOutcome, StoreError, Unit};

/// Posts every goods receipt line whose order line is known and that was not posted before
/// (a receipt whose order comes later is posted by the order's run; one sent again has the
/// same key and posts nothing). A receipt line that cannot be posted (its order line names an
/// account the chart lacks) is a break until it can.
///
/// Goods invoiced before GR/IR was switched on (`already` quantities that cleared nothing)
/// were booked to expense by their invoice: that many units of the order line's receipts are
/// not posted, or the upgrade would book the same goods twice.
pub(crate) fn post_receipts(
    u: &mut dyn Unit,
    run: &JobRun<'_>,
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
    already: &[InvoicedQuantity],
    accounts: &ApAccounts,
    out: &mut RunOutcome,
) -> Result<(), WorkError> {
    if accounts.grir.is_none() {
        return Ok(());
    }
    let mut expensed = expensed_before_grir(orders, already);
    let placed = order_lines_of_receipts(orders, receipts);
    let mut findings = Vec::new();
    for (g, o) in receipts.iter().zip(placed) {
        let Some((o, order)) = o.map(|o| (o, &orders[o])) else {
            continue;
        };
        let covered = expensed[o].min(g.quantity_received).max(Decimal::ZERO);
        expensed[o] -= covered;
        let rest;
        let g = if covered.is_zero() {
            g
        } else if covered == g.quantity_received {
            continue;
        } else {
            rest = GoodsReceipt {
                quantity_received: g.quantity_received - covered,
                ..g.clone()
            };
            &rest
        };
        let entry = match receipt_entry(&run.job.name, g, order, accounts) {
            Ok(e) => e,
            Err(PostingRefused::Empty) => continue,
            Err(refused) => {
                findings.push(Finding {
                    subject: format!("receipt|{}|{}", g.receipt_id, order_place(order)),
                    reason: BreakReason::Unbalanced,
                    detail: format!(
                        "goods receipt {} of {} x {} (purchase order {}) cannot be posted to GR/IR: {refused}",
                        g.receipt_id,
                        g.quantity_received,
                        order.item.as_deref().unwrap_or("the item"),
                        order_place(order)
                    ),
                    difference: None,
                    amount: Some(order.unit_price * g.quantity_received),
                    currency: Some(order.currency),
                    since: g.received_on,
                    source: Some(g.source.clone()),
                });
                continue;
            }
        };
        let sources = vec![
            format!("{} (goods receipt {})", place(u, &g.source)?, g.receipt_id),
            format!(
                "{} (purchase order {})",
                place(u, &order.source)?,
                order_place(order)
            ),
        ];
        let why = serde_json::json!({
            "rule": "goods_receipt",
            "explanation": format!(
                "goods receipt {} of {} on {} against purchase order {}: {} x order price {} {} to GR/IR",
                g.receipt_id,
                g.quantity_received,
                g.received_on,
                order_place(order),
                g.quantity_received,
                order.unit_price,
                order.currency
            ),
            "sources": sources,
        })
        .to_string();
        if let Posted::Posted { match_id, .. } = u.post_match(&NewMatch {
            job: &run.job.name,
            run_id: run.run_id,
            pass: MatchPass::GoodsReceipt,
            record_ids: &[],
            entry: &entry,
            at: run.at,
            explanation: Some(&why),
            actor: None,
            reason: None,
        })? {
            u.add_match_sources(match_id, &sources)?;
            out.entries_posted += 1;
        }
    }
    apply(
        u,
        run,
        findings,
        |subject| subject.starts_with("receipt|"),
        |_| "posted to GR/IR".to_string(),
        out,
    )?;
    Ok(())
}

/// "PO-1001 line 1", or the item where the order line has no number.
fn order_place(o: &PurchaseOrderLine) -> String {
    match (&o.line, &o.item) {
        (Some(line), _) => format!("{} line {line}", o.po_number),
        (None, Some(item)) => format!("{} item {item}", o.po_number),
        (None, None) => o.po_number.clone(),
    }
}

/// Where an approved invoice's entry came from: its places in the files (the invoice and
/// each of its lines, the order lines and receipts they were matched with), and each line's
/// pairing as `clerk explain` shows it.
pub(crate) struct InvoiceTrace {
    pub(crate) sources: Vec<String>,
    pub(crate) lines: Vec<serde_json::Value>,
}

pub(crate) fn invoice_trace(
    u: &mut dyn Unit,
    invoice: &Invoice,
    lines: &[MatchedLine],
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
) -> Result<InvoiceTrace, StoreError> {
    let mut sources = vec![format!(
        "{} (invoice {})",
        place(u, &invoice.source)?,
        invoice.number
    )];
    let mut shown = Vec::new();
    for m in lines {
        let Some(order) = orders.get(m.order_line) else {
            continue;
        };
        let label = invoice
            .lines
            .get(m.invoice_line)
            .and_then(|l| l.id.clone())
            .unwrap_or_else(|| (m.invoice_line + 1).to_string());
        if let Some(l) = invoice.lines.get(m.invoice_line)
            && l.source != invoice.source
        {
            sources.push(format!(
                "{} (invoice {} line {label})",
                place(u, &l.source)?,
                invoice.number
            ));
        }
        sources.push(format!(
            "{} (purchase order {})",
            place(u, &order.source)?,
            order_place(order)
        ));
        let mut receipt_ids = Vec::new();
        for &r in &m.receipts {
            let Some(g) = receipts.get(r) else { continue };
            sources.push(format!(
                "{} (goods receipt {})",
                place(u, &g.source)?,
                g.receipt_id
            ));
            receipt_ids.push(format!(
                "{} of {} on {}",
                g.receipt_id, g.quantity_received, g.received_on
            ));
        }
        shown.push(serde_json::json!({
            "invoice_line": label,
            "order_line": order_place(order),
            "item": order.item,
            "quantity": m.quantity.to_string(),
            "unit_price": m.unit_price.to_string(),
            "order_price": order.unit_price.to_string(),
            "receipts": receipt_ids,
            "cleared": m.cleared.map(|c| c.to_string()),
        }));
    }
    sources.dedup();
    Ok(InvoiceTrace {
        sources,
        lines: shown,
    })
}

/// One order line with goods received and not (all) invoiced: what GR/IR holds for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenGrir {
    pub job: String,
    pub supplier: Option<String>,
    pub po_number: String,
    pub line: Option<String>,
    pub item: Option<String>,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    pub received_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub received_value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub invoiced_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub invoiced_value: Decimal,
    /// Received value less invoiced value: the GR/IR credit still open.
    #[serde(with = "rust_decimal::serde::str")]
    pub open: Decimal,
    /// The first receipt's date, and the days since it.
    pub received_on: NaiveDate,
    pub age_days: i64,
}

/// Per order line, the units of goods invoices debited to expense because their job booked no
/// GR/IR then (or because they were kept before clerk knew GR/IR): invoiced, less what credit
/// notes gave back for goods sent back (a return receipt, posted against GR/IR like any).
fn expensed_before_grir(
    orders: &[PurchaseOrderLine],
    already: &[InvoicedQuantity],
) -> Vec<Decimal> {
    let before: Vec<&InvoicedQuantity> = already
        .iter()
        .filter(|q| q.expensed || q.cleared.is_none())
        .collect();
    let placed = order_lines_of(
        orders,
        before
            .iter()
            .map(|q| (q.po_number.as_str(), q.line.as_deref(), q.item.as_deref())),
    );
    let mut units = vec![Decimal::ZERO; orders.len()];
    for (q, o) in before.iter().zip(placed) {
        if let Some(o) = o.filter(|&o| orders[o].charge.is_none()) {
            units[o] += if q.quantity.is_sign_negative() {
                q.cleared.unwrap_or(q.quantity)
            } else {
                q.quantity
            };
        }
    }
    units
}

/// The open GR/IR of every accounts-payable job that clears receipts: per order line, the
/// order's value of what was received less the value invoices cleared; lines at zero are
/// left out. Oldest receipt first.
pub fn open_grir(
    u: &mut dyn Unit,
    jobs: &[Job],
    today: NaiveDate,
) -> Result<Vec<OpenGrir>, WorkError> {
    let mut out = Vec::new();
    for job in jobs {
        let JobKind::AccountsPayable {
            rules, accounts, ..
        } = &job.kind
        else {
            continue;
        };
        if accounts.grir.is_none() || !rules.require_receipt {
            continue;
        }
        let scope = job.name.as_str();
        let orders: Vec<PurchaseOrderLine> =
            bodies(u, scope, DocumentKind::PurchaseOrderLine, |_| true)?;
        let receipts: Vec<GoodsReceipt> = bodies(u, scope, DocumentKind::GoodsReceipt, |_| true)?;
        let mut used: Vec<InvoicedQuantity> = Vec::new();
        for d in u.documents(scope, DocumentKind::ApprovedInvoice)? {
            if let Document::ApprovedInvoice(q) = d.body {
                used.extend(q);
            }
        }
        out.extend(open_of_job(&job.name, &orders, &receipts, &used, today));
    }
    out.sort_by(|a, b| {
        (a.received_on, &a.job, &a.po_number, &a.line).cmp(&(
            b.received_on,
            &b.job,
            &b.po_number,
            &b.line,
        ))
    });
    Ok(out)
}

/// The open GR/IR of one job's order lines. Pure.
fn open_of_job(
    job: &str,
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
    used: &[InvoicedQuantity],
    today: NaiveDate,
) -> Vec<OpenGrir> {
    let placed = order_lines_of_receipts(orders, receipts);
    let mut received: BTreeMap<usize, (Decimal, NaiveDate)> = BTreeMap::new();
    for (g, o) in receipts.iter().zip(&placed) {
        let Some(o) = *o else { continue };
        let e = received.entry(o).or_insert((Decimal::ZERO, g.received_on));
        e.0 += g.quantity_received;
        e.1 = e.1.min(g.received_on);
    }
    // What invoices cleared, on the order line the match found (the kept quantity names it
    // by number, else item, as receipts do); kept before GR/IR: all it invoiced.
    let refs = used
        .iter()
        .map(|q| (q.po_number.as_str(), q.line.as_deref(), q.item.as_deref()));
    let mut cleared: BTreeMap<usize, Decimal> = BTreeMap::new();
    for (q, o) in used.iter().zip(order_lines_of(orders, refs)) {
        if let Some(o) = o {
            *cleared.entry(o).or_default() += q.cleared.unwrap_or(q.quantity);
        }
    }
    received
        .into_iter()
        .filter_map(|(o, (qty, first))| {
            let order = &orders[o];
            let invoiced = cleared.get(&o).copied().unwrap_or_default();
            let received_value = order.unit_price * qty;
            let invoiced_value = order.unit_price * invoiced;
            let open = received_value - invoiced_value;
            (!open.is_zero()).then(|| OpenGrir {
                job: job.to_string(),
                supplier: order.supplier.clone(),
                po_number: order.po_number.clone(),
                line: order.line.clone(),
                item: order.item.clone(),
                currency: order.currency,
                received_quantity: qty,
                received_value,
                invoiced_quantity: invoiced,
                invoiced_value,
                open,
                received_on: first,
                age_days: (today - first).num_days(),
            })
        })
        .collect()
}

/// The open GR/IR totalled per currency: (currency, order lines, open amount, oldest receipt).
pub fn totals(open: &[OpenGrir]) -> Vec<(Currency, usize, Decimal, NaiveDate)> {
    let mut by: BTreeMap<Currency, (usize, Decimal, NaiveDate)> = BTreeMap::new();
    for o in open {
        let e = by
            .entry(o.currency)
            .or_insert((0, Decimal::ZERO, o.received_on));
        e.0 += 1;
        e.1 += o.open;
        e.2 = e.2.min(o.received_on);
    }
    by.into_iter()
        .map(|(c, (n, total, oldest))| (c, n, total, oldest))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn open_grir_is_received_less_cleared_at_the_order_price_per_order_line() {
        let order = |line: &str, price: &str| PurchaseOrderLine {
            po_number: "PO-1".into(),
            line: Some(line.into()),
            supplier: Some("Stuhlwerk GmbH".into()),
            item: None,
            quantity: d("10"),
            unit_price: d(price),
            currency: "EUR".parse().unwrap(),
            expense_account: None,
            supplier_item: None,
            charge: None,
            source: Source::at(Arc::from("po"), None, 2),
        };
        let receipt = |line: &str, qty: &str, on: &str| GoodsReceipt {
            receipt_id: format!("GR-{line}"),
            po_number: "PO-1".into(),
            line: Some(line.into()),
            item: None,
            quantity_received: d(qty),
            received_on: on.parse().unwrap(),
            source: Source::at(Arc::from("grn"), None, 2),
        };
        let used = |line: &str, qty: &str, cleared: Option<&str>| InvoicedQuantity {
            po_number: "PO-1".into(),
            line: Some(line.into()),
            item: None,
            quantity: d(qty),
            cleared: cleared.map(d),
            expensed: false,
        };
        let orders = [order("1", "149.00"), order("2", "10.00")];
        let receipts = [
            receipt("1", "6", "2026-11-20"),
            receipt("2", "10", "2026-11-18"),
            receipt("2", "-2", "2026-11-22"),
        ];
        // Line 2: 10 invoiced, 2 credited as a price reduction (clears nothing), 2 sent back
        // and credited (clears 2): 8 received, 8 cleared, nothing open.
        let kept = [
            used("2", "10", Some("10")),
            used("2", "-2", Some("0")),
            used("2", "-2", Some("-2")),
        ];
        let today = "2026-11-30".parse().unwrap();
        let open = open_of_job("ap", &orders, &receipts, &kept, today);
        assert_eq!(open.len(), 1, "{open:#?}");
        assert_eq!(open[0].line.as_deref(), Some("1"));
        assert_eq!(open[0].open, d("894.00"));
        assert_eq!(open[0].age_days, 10);
        let t = totals(&open);
        assert_eq!(t[0].1, 1);
        assert_eq!(t[0].2, d("894.00"));
        // Invoiced before GR/IR was cleared (nothing kept of what cleared): all of it counts.
        let legacy = [used("1", "6", None)];
        assert!(open_of_job("ap", &orders, &receipts[..1], &legacy, today).is_empty());
    }
}
