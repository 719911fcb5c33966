//! A held invoice decided by a person (`clerk exception approve|reject E-7`): what the job's
//! books say about it, and how the decision is kept so later runs respect it.
//!
//! Approved, it is booked as it stands by the same builder the three-way match uses
//! ([`super::approved_invoice_entry`]): its lines are paired with the order as the match pairs
//! them, a price beyond tolerance going to price variance; a line that pairs with nothing
//! debits expense. It is then kept as an approved invoice with the quantities it used, like
//! one the match approved. Rejected, it is kept under the job's rejected invoices
//! ([`rejected_scope`]) so no run holds, approves or posts it again, nor a re-sent copy (the
//! same identity).

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::{Books, approved_invoice_entry, describe, invoice_refusal, used_quantities};
use crate::config::{Job, JobKind};
use crate::jobs::WorkError;
use crate::model::JournalEntry;
use crate::model::invoice::Invoice;
use crate::model::payables::{InvoicedQuantity, invoice_identity};
use crate::reconcile::ap_tolerance::{PriceTolerance, PriceTolerances};
use crate::reconcile::payables::{ApDecision, ApRules, charges_used, three_way_match_after};
use crate::store::{Document, DocumentKind, NewDocument, StoreError, Unit};

/// Where a job keeps the invoices a person rejected: beside its approved invoices, under the
/// same document kind (an identity and no quantities), in a scope of their own so nothing
/// that reads the approved ones takes a rejected one for approved.
pub fn rejected_scope(job: &str) -> String {
    format!("{job}|rejected")
}

/// The identities of the job's rejected invoices.
pub(super) fn rejected(u: &mut dyn Unit, job: &str) -> Result<BTreeSet<String>, StoreError> {
    Ok(
        u.documents(&rejected_scope(job), DocumentKind::ApprovedInvoice)?
            .into_iter()
            .map(|d| d.identity)
            .collect(),
    )
}

/// A held invoice as a person finds it: the entry approving it would post, what it would
/// use of its order, and where it was read.
pub struct HeldInvoice {
    pub identity: String,
    pub invoice: Invoice,
    /// "invoice 4711 from Press GmbH of 1190.00 EUR (order PO-7)".
    pub words: String,
    pub entry: JournalEntry,
    /// The match's explanation (JSON): the invoice, its lines against the order and receipts.
    pub explanation: String,
    /// Where the invoice, order lines and receipts were read, for the match.
    pub sources: Vec<String>,
    pub used: Vec<InvoicedQuantity>,
    /// The id of the file the invoice came in, which keeps the decision.
    pub file_id: i64,
}

/// The held invoice `identity` of the accounts-payable `job`, with the entry that approves
/// it as it stands. Refused (in words) when it is approved or rejected already, or its entry
/// cannot be made.
pub fn held_invoice(
    u: &mut dyn Unit,
    job: &Job,
    identity: &str,
) -> Result<Result<HeldInvoice, String>, WorkError> {
    let JobKind::AccountsPayable {
        rules, accounts, ..
    } = &job.kind
    else {
        return Ok(Err(format!(
            "job {} is not an accounts-payable job",
            job.name
        )));
    };
    let books = Books::load(u, &job.name)?;
    if books.approved.contains(identity) {
        return Ok(Err("the invoice is approved and posted already".into()));
    }
    if rejected(u, &job.name)?.contains(identity) {
        return Ok(Err("the invoice was rejected already".into()));
    }
    let pending = books.undecided();
    let Some(invoice) = pending.iter().find(|i| invoice_identity(i) == identity) else {
        return Ok(Err(format!(
            "job {} holds no invoice {identity} any more",
            job.name
        )));
    };
    // The person accepts the price as invoiced: the lines pair with the order as the match
    // pairs them, with no price limit; what the match still cannot pair (no order, quantity
    // beyond what was received) is booked to expense.
    let as_it_stands = ApRules {
        price: PriceTolerances::uniform(PriceTolerance {
            absolute: Some(Decimal::from(1_000_000_000_000_000_000u64)),
            ..Default::default()
        }),
        ..rules.clone()
    };
    let decided = three_way_match_after(
        std::slice::from_ref(invoice),
        &books.orders,
        &books.receipts,
        &books.already,
        &as_it_stands,
    );
    let (lines, used) = match decided.decisions.first() {
        Some(ApDecision::Approved { lines, charges, .. }) => {
            let used = used_quantities(lines, &books.orders, accounts)
                .into_iter()
                .chain(charges_used(charges, &books.orders))
                .collect();
            (lines.clone(), used)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let entry = match approved_invoice_entry(&job.name, invoice, &lines, &books.orders, accounts) {
        Ok(e) => e,
        Err(refused) => return Ok(Err(invoice_refusal(invoice, &refused))),
    };
    let trace =
        super::super::grir::invoice_trace(u, invoice, &lines, &books.orders, &books.receipts)?;
    let words = describe(invoice);
    let explanation = serde_json::json!({
        "rule": "approved_by_person",
        "invoice": words,
        "lines": trace.lines,
        "sources": trace.sources,
    })
    .to_string();
    let Some(file_id) = u.processed_file(&job.name, &invoice.source.file)? else {
        return Ok(Err(format!(
            "the file that brought {words} is no longer known to job {}",
            job.name
        )));
    };
    Ok(Ok(HeldInvoice {
        identity: identity.to_string(),
        invoice: invoice.clone(),
        words,
        entry,
        explanation,
        sources: trace.sources,
        used,
        file_id,
    }))
}

/// Keeps the invoice as approved with the quantities it used, so no run holds or posts it
/// again and no later invoice uses them.
pub fn keep_approved(u: &mut dyn Unit, job: &str, h: &HeldInvoice) -> Result<(), StoreError> {
    u.add_documents(
        job,
        h.file_id,
        &[kept(h, Document::ApprovedInvoice(h.used.clone()))],
    )?;
    Ok(())
}

/// Keeps the invoice as rejected: no run holds, approves or posts it again.
pub fn keep_rejected(u: &mut dyn Unit, job: &str, h: &HeldInvoice) -> Result<(), StoreError> {
    u.add_documents(
        &rejected_scope(job),
        h.file_id,
        &[kept(h, Document::ApprovedInvoice(Vec::new()))],
    )?;
    Ok(())
}

fn kept(h: &HeldInvoice, body: Document) -> NewDocument {
    NewDocument {
        identity: h.identity.clone(),
        account: h.invoice.supplier.vat_id.clone(),
        key: Some(h.invoice.number.clone()),
        as_of: Some(h.invoice.issue_date),
        body,
    }
}
