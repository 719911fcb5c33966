//! Accounts payable in the daemon: purchase orders and goods receipts read from CSV, supplier
//! invoices matched three ways ([`crate::reconcile::payables`]) and posted when they agree
//! ([`crate::post::payables`]), held invoices as breaks that close themselves when the missing
//! receipt or corrected order arrives, and outgoing payments on the bank statement matched to
//! the open payables and posted.
//!
//! What was decided is kept in the store with the work: each approved invoice with the order
//! quantities it used (so no later invoice can use them again, and a re-sent invoice is not
//! matched twice), each paid invoice with its payment.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::subjects::{Finding, apply, bodies};
use crate::config::{Job, JobKind};
use crate::extract::{ExtractError, Extracted, Format, Input, invoice_csv, payables_csv};
use crate::model::invoice::Invoice;
use crate::model::payables::{
    GoodsReceipt, InvoicedQuantity, OpenPayable, PurchaseOrderLine, invoice_identity,
    supplier_label,
};
use crate::model::{BreakReason, MatchPass, Side};
use crate::post::payables::{invoice_entry, payment_entry, payment_matches};
use crate::reconcile::payables::{
    ApDecision, expense_accounts, orders_of_credited_invoices, three_way_match_after,
};
use crate::store::{DocumentKind, NewDocument, NewMatch, Posted, RunOutcome, StoreError, Unit};

/// Reads a purchase order, goods receipt or invoice list (CSV/XLSX) by the job's columns;
/// `None` for other files (UBL/CII invoices and bank statements are recognised by content).
pub fn read(job: &Job, input: &Input) -> Option<Result<Extracted, ExtractError>> {
    let JobKind::AccountsPayable { purchasing, .. } = &job.kind else {
        return None;
    };
    if purchasing.orders.files.matches(input.name) {
        let o = &purchasing.orders;
        Some(
            payables_csv::orders(input, &o.columns, &o.style).map(|purchase_orders| Extracted {
                format: Format::Csv,
                purchase_orders,
                ..Default::default()
            }),
        )
    } else if purchasing.receipts.files.matches(input.name) {
        let r = &purchasing.receipts;
        Some(
            payables_csv::receipts(input, &r.columns, &r.style).map(|goods_receipts| Extracted {
                format: Format::Csv,
                goods_receipts,
                ..Default::default()
            }),
        )
    } else if let Some(i) = &purchasing.invoices
        && i.files.matches(input.name)
    {
        Some(
            invoice_csv::invoices(input, &i.columns, &i.style).map(|invoices| Extracted {
                format: Format::Csv,
                invoices,
                ..Default::default()
            }),
        )
    } else {
        None
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(format!("cannot encode document: {e}")))
}

fn describe(inv: &Invoice) -> String {
    format!(
        "invoice {} from {} of {} {}{}",
        inv.number,
        supplier_label(inv).unwrap_or_else(|| "an unnamed supplier".into()),
        inv.payable,
        inv.currency,
        inv.order_reference
            .as_deref()
            .map(|po| format!(" (order {po})"))
            .unwrap_or_default()
    )
}

/// Decides the invoices not decided before, posts the approved ones and the payments that
/// settle open payables. Runs inside the file's unit of work.
pub fn reconcile_payables_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    file_id: i64,
    at: DateTime<Utc>,
) -> Result<RunOutcome, StoreError> {
    let JobKind::AccountsPayable {
        rules, accounts, ..
    } = &job.kind
    else {
        return Ok(RunOutcome::default());
    };
    let scope = job.name.as_str();
    let invoices: Vec<Invoice> = bodies(u, scope, DocumentKind::Invoice, |_| true)?;
    let orders: Vec<PurchaseOrderLine> =
        bodies(u, scope, DocumentKind::PurchaseOrderLine, |_| true)?;
    let receipts: Vec<GoodsReceipt> = bodies(u, scope, DocumentKind::GoodsReceipt, |_| true)?;
    let approved_docs = u.documents(scope, DocumentKind::ApprovedInvoice)?;
    let mut approved: BTreeSet<String> = approved_docs.iter().map(|d| d.identity.clone()).collect();
    let mut already: Vec<InvoicedQuantity> = Vec::new();
    for d in &approved_docs {
        let used: Vec<InvoicedQuantity> = serde_json::from_str(&d.body).map_err(|e| {
            StoreError::Other(format!(
                "approved invoice {} cannot be read back: {e}",
                d.identity
            ))
        })?;
        already.extend(used);
    }
    let mut pending: Vec<Invoice> = invoices
        .iter()
        .filter(|i| !approved.contains(&invoice_identity(i)))
        .cloned()
        .collect();
    orders_of_credited_invoices(&mut pending, &invoices);

    let mut out = RunOutcome::default();
    let mut findings = Vec::new();
    let mut approved_now = Vec::new();
    let decided = three_way_match_after(&pending, &orders, &receipts, &already, rules);
    for decision in &decided.decisions {
        let inv = &pending[decision.invoice()];
        let identity = invoice_identity(inv);
        let subject = format!("invoice|{identity}");
        let source = Some(inv.source.clone());
        match decision {
            ApDecision::Approved {
                lines, explanation, ..
            } => {
                let expense = expense_accounts(inv, lines, &orders);
                let entry = match invoice_entry(&job.name, inv, accounts, &expense) {
                    Ok(e) => e,
                    Err(refused) => {
                        findings.push(Finding {
                            subject,
                            reason: BreakReason::Unbalanced,
                            detail: format!(
                                "{}: agrees with its order, but {refused}",
                                describe(inv)
                            ),
                            difference: None,
                            amount: Some(inv.payable),
                            currency: Some(inv.currency),
                            since: inv.issue_date,
                            source,
                        });
                        continue;
                    }
                };
                let why = serde_json::json!({ "rule": "three_way", "explanation": explanation })
                    .to_string();
                if let Posted::Posted { .. } = u.post_match(&NewMatch {
                    job: &job.name,
                    run_id,
                    pass: MatchPass::ThreeWay,
                    record_ids: &[],
                    entry: &entry,
                    at,
                    explanation: Some(&why),
                    actor: None,
                    reason: None,
                })? {
                    out.entries_posted += 1;
                }
                out.matched += 1;
                let used: Vec<InvoicedQuantity> = lines
                    .iter()
                    .filter_map(|l| {
                        orders.get(l.order_line).map(|o| InvoicedQuantity {
                            po_number: o.po_number.clone(),
                            line: o.line.clone(),
                            item: o.item.clone(),
                            quantity: l.quantity,
                        })
                    })
                    .collect();
                approved.insert(identity.clone());
                approved_now.push(NewDocument {
                    kind: DocumentKind::ApprovedInvoice,
                    identity,
                    account: inv.supplier.vat_id.clone(),
                    key: Some(inv.number.clone()),
                    as_of: Some(inv.issue_date),
                    body: json(&used)?,
                });
            }
            ApDecision::Held { findings: why, .. } => {
                let first = why.first();
                findings.push(Finding {
                    subject,
                    reason: first
                        .map(|f| f.reason)
                        .unwrap_or(BreakReason::NoPurchaseOrder),
                    detail: format!(
                        "{} on hold: {}",
                        describe(inv),
                        why.iter()
                            .map(|f| f.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    difference: first.and_then(|f| f.difference),
                    amount: Some(inv.payable),
                    currency: Some(inv.currency),
                    since: inv.issue_date,
                    source,
                });
            }
        }
    }
    if !approved_now.is_empty() {
        u.add_documents(scope, file_id, &approved_now)?;
    }
    apply(
        u,
        job,
        run_id,
        at,
        findings,
        |subject| subject.starts_with("invoice|"),
        |_| "approved: agrees with its purchase order and goods receipts; posted".to_string(),
        &mut out,
    )?;

    // Payments: outgoing statement lines against what is approved and not yet paid.
    let paid: BTreeSet<String> = u
        .documents(scope, DocumentKind::PaidInvoice)?
        .into_iter()
        .map(|d| d.identity)
        .collect();
    let open: Vec<OpenPayable> = invoices
        .iter()
        .filter(|i| {
            let id = invoice_identity(i);
            approved.contains(&id) && !paid.contains(&id)
        })
        .map(OpenPayable::from_invoice)
        .collect();
    if open.is_empty() {
        return Ok(out);
    }
    let lines = u.open_records(scope, Side::Statement, None)?;
    let records: Vec<_> = lines.iter().map(|s| s.record.clone()).collect();
    let mut settled = Vec::new();
    for (p, s) in payment_matches(&open, &records) {
        let payable = &open[p];
        let entry = payment_entry(&job.name, payable, &records[s], accounts)
            .map_err(|e| StoreError::Other(format!("payment of {}: {e}", payable.number)))?;
        let why = serde_json::json!({
            "rule": "payment",
            "invoice": payable.number,
            "statement_line": records[s].external_id,
        })
        .to_string();
        if let Posted::Posted { .. } = u.post_match(&NewMatch {
            job: &job.name,
            run_id,
            pass: MatchPass::Payment,
            record_ids: &[lines[s].id],
            entry: &entry,
            at,
            explanation: Some(&why),
            actor: None,
            reason: None,
        })? {
            out.entries_posted += 1;
        }
        out.matched += 1;
        settled.push(NewDocument {
            kind: DocumentKind::PaidInvoice,
            identity: payable.invoice_identity.clone(),
            account: None,
            key: Some(payable.number.clone()),
            as_of: Some(records[s].value_date),
            body: why,
        });
    }
    if !settled.is_empty() {
        u.add_documents(scope, file_id, &settled)?;
    }
    Ok(out)
}
