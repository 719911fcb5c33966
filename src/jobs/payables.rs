//! Accounts payable: invoices three ways against purchase orders and goods receipts, and
//! outgoing payments on the bank statement against the open payables. Here: what it takes
//! from a file, how it reads purchase orders, goods receipts and invoice lists from CSV, and
//! its run: supplier invoices matched three ways ([`crate::reconcile::payables`]) and posted
//! when they agree ([`crate::post::payables`]), held invoices as breaks that close
//! themselves when the missing receipt or corrected order arrives (`jobs::subjects`), and
//! outgoing payments matched to the open payables and posted.
//!
//! What was decided is kept in the store with the work: each approved invoice with the order
//! quantities it used (so no later invoice can use them again, and a re-sent invoice is not
//! matched twice), each paid invoice with its payment.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::subjects::{Finding, JobRun, apply, bodies};
use super::{Holds, Room, WorkError};
use crate::config::{Job, JobKind};
use crate::extract::{ExtractError, Extracted, Format, Input, invoice_csv, payables_csv};
use crate::model::invoice::Invoice;
use crate::model::payables::{
    GoodsReceipt, InvoicedQuantity, OpenPayable, PurchaseOrderLine, invoice_identity,
    supplier_label,
};
use crate::model::{BreakReason, JournalEntry, MatchPass, Side};
use crate::post::PostingRefused;
use crate::post::payables::{ApAccounts, LineCost, invoice_entry, payment_entry, payment_matches};
use crate::reconcile::payables::{
    ApDecision, ApRules, Finding as HoldReason, MatchedLine, charges_used, invoiced_quantity,
    orders_of_credited_invoices, three_way_match_after,
};
use crate::store::{
    Document, DocumentKind, NewBreak, NewDocument, NewMatch, Posted, RunOutcome, StoreError, Unit,
};

pub mod held;

pub static ROOM: Room = Room {
    takes: &[
        Holds::Invoices,
        Holds::BankStatements,
        Holds::PurchaseOrders,
        Holds::GoodsReceipts,
    ],
    wants: "invoices (UBL, CII, Factur-X), bank statements (MT940, camt), or purchase orders and goods receipts (CSV named as [payables] says)",
};

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

/// The run this is: which job, its run and the file that set it off, and when.
struct Run<'a> {
    job: &'a Job,
    run_id: i64,
    file_id: i64,
    at: DateTime<Utc>,
}

/// Decides the invoices not decided before, posts the approved ones and the payments that
/// settle open payables. Runs inside the file's unit of work.
pub fn reconcile_payables_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    file_id: i64,
    at: DateTime<Utc>,
) -> Result<RunOutcome, WorkError> {
    let JobKind::AccountsPayable {
        rules, accounts, ..
    } = &job.kind
    else {
        return Ok(RunOutcome::default());
    };
    let run = Run {
        job,
        run_id,
        file_id,
        at,
    };
    let mut books = Books::load(u, &job.name)?;
    let mut out = RunOutcome::default();
    // Goods are in the books when they arrive: each receipt line once, before any invoice
    // of this run clears it. A two-way match has no receipts to clear.
    if rules.require_receipt {
        super::grir::post_receipts(
            u,
            &JobRun { job, run_id, at },
            &books.orders,
            &books.receipts,
            &books.already,
            accounts,
            &mut out,
        )?;
    }
    let pending = books.undecided();
    let decided = decide_invoices(&job.name, &pending, &books, rules, accounts);
    post_approvals(u, &run, &books, &decided.approvals, &mut out)?;
    books
        .approved
        .extend(decided.approvals.iter().map(|a| a.identity.clone()));
    apply(
        u,
        &JobRun { job, run_id, at },
        decided.findings,
        |subject| subject.starts_with("invoice|"),
        |_| "approved: agrees with its purchase order and goods receipts; posted".to_string(),
        &mut out,
    )?;
    settle_payments(u, &run, &books, accounts, &mut out)?;
    unsettled_payments_are_breaks(u, &run, &mut out)?;
    Ok(out)
}

/// Each outgoing payment on a statement this job took that settles no approved payable is a
/// break at once (`missing_in_ledger`): money left the bank account and nothing in the books
/// says why (unless another job holding the same statement, the bank reconciliation, reports
/// it). It is never "not due": the bank has booked it. Its break closes when a payable it
/// settles is approved later.
fn unsettled_payments_are_breaks(
    u: &mut dyn Unit,
    run: &Run,
    out: &mut RunOutcome,
) -> Result<(), WorkError> {
    let scope = run.job.name.as_str();
    let lines = u.open_records(scope, Side::Statement, None)?;
    if !lines.iter().any(|l| l.record.amount.is_sign_negative()) {
        return Ok(());
    }
    let with_break = u.records_with_open_breaks(scope)?;
    // A line of a statement the bank reconciliation reads too is its break to report while
    // no payable settles it: one break per bank line, not one per job. A break this job
    // opened before the other job had the line (the statement came here first) closes.
    let shared = u.statement_lines_shared(scope)?;
    let reported: Vec<i64> = shared
        .iter()
        .copied()
        .filter(|id| with_break.contains(id))
        .collect();
    if !reported.is_empty() {
        out.breaks_closed += u.close_breaks_of_records(
            &reported,
            "reported by the other job that reads this statement (one break per bank line)",
            run.run_id,
            run.at,
        )?;
    }
    for l in &lines {
        let r = &l.record;
        if !r.amount.is_sign_negative()
            || r.amount.is_zero()
            || with_break.contains(&l.id)
            || shared.contains(&l.id)
        {
            continue;
        }
        let name = u.file_name(&r.source.file)?.unwrap_or_default();
        let source = super::subjects::in_file(&name, &r.source);
        let detail = format!(
            "bank line {} of {} {} value {}{}: an outgoing payment that settles no approved payable",
            if r.external_id.is_empty() {
                format!("(line {})", r.source.row)
            } else {
                r.external_id.clone()
            },
            r.amount,
            r.currency,
            r.value_date,
            r.remittance
                .as_deref()
                .map(|t| format!(" \"{t}\""))
                .unwrap_or_default()
        );
        let opened = u.open_break(&NewBreak {
            job: scope,
            run_id: run.run_id,
            reason: BreakReason::MissingInLedger,
            detail: &detail,
            amount: Some(r.amount),
            currency: Some(r.currency),
            difference: None,
            since: r.value_date,
            owner: run.job.owner.as_deref(),
            record_id: Some(l.id),
            source: Some(&source),
            at: run.at,
            subject: None,
        })?;
        out.breaks_opened += u64::from(opened.is_some());
    }
    Ok(())
}

/// What the store holds for the job: the invoices, orders and receipts read so far, and
/// which invoices were approved with the order quantities they used.
struct Books {
    invoices: Vec<Invoice>,
    orders: Vec<PurchaseOrderLine>,
    receipts: Vec<GoodsReceipt>,
    approved: BTreeSet<String>,
    /// Invoices a person rejected: never held, approved or posted again.
    rejected: BTreeSet<String>,
    already: Vec<InvoicedQuantity>,
}

impl Books {
    fn load(u: &mut dyn Unit, scope: &str) -> Result<Books, WorkError> {
        let invoices: Vec<Invoice> = bodies(u, scope, DocumentKind::Invoice, |_| true)?;
        let orders: Vec<PurchaseOrderLine> =
            bodies(u, scope, DocumentKind::PurchaseOrderLine, |_| true)?;
        let receipts: Vec<GoodsReceipt> = bodies(u, scope, DocumentKind::GoodsReceipt, |_| true)?;
        let approved_docs = u.documents(scope, DocumentKind::ApprovedInvoice)?;
        let approved: BTreeSet<String> = approved_docs.iter().map(|d| d.identity.clone()).collect();
        let mut already: Vec<InvoicedQuantity> = Vec::new();
        for d in &approved_docs {
            let Document::ApprovedInvoice(used) = &d.body else {
                return Err(WorkError::KeptUnreadable {
                    what: "approved invoice",
                    identity: d.identity.clone(),
                    message: "not the quantities it used".into(),
                });
            };
            already.extend(used.iter().cloned());
        }
        Ok(Books {
            invoices,
            orders,
            receipts,
            approved,
            rejected: held::rejected(u, scope)?,
            already,
        })
    }

    /// The invoices not approved yet, credit notes with the orders of what they credit.
    fn undecided(&self) -> Vec<Invoice> {
        let mut pending: Vec<Invoice> = self
            .invoices
            .iter()
            .filter(|i| {
                let id = invoice_identity(i);
                !self.approved.contains(&id) && !self.rejected.contains(&id)
            })
            .cloned()
            .collect();
        orders_of_credited_invoices(&mut pending, &self.invoices);
        pending
    }
}

/// An invoice approved this run: the entry to post, why, the order lines (and their
/// receipts) it was matched with, and the order quantities it used.
struct Approval<'a> {
    invoice: &'a Invoice,
    identity: String,
    entry: JournalEntry,
    explanation: String,
    lines: Vec<MatchedLine>,
    used: Vec<InvoicedQuantity>,
}

/// The one entry of an approved invoice, whoever approved it (the three-way match, or a
/// person approving a held invoice): each line matched to received order lines debits GR/IR
/// at the order's value of what it clears and the rest to price variance; a line of a
/// two-way match, or matched to no order line, debits expense (the order line's account,
/// else the job's). VAT and the payable as [`invoice_entry`] books them.
pub fn approved_invoice_entry(
    job: &str,
    invoice: &Invoice,
    lines: &[MatchedLine],
    orders: &[PurchaseOrderLine],
    accounts: &ApAccounts,
) -> Result<JournalEntry, PostingRefused> {
    let mut costs = vec![LineCost::Expense(None); invoice.lines.len()];
    for m in lines {
        let (Some(cost), Some(order)) = (costs.get_mut(m.invoice_line), orders.get(m.order_line))
        else {
            continue;
        };
        *cost = match m.cleared {
            Some(q) if accounts.grir.is_some() => LineCost::Received {
                order_value: order.unit_price * q,
            },
            _ => LineCost::Expense(order.expense_account.clone()),
        };
    }
    invoice_entry(job, invoice, accounts, &costs)
}

/// What the three-way match decided about the pending invoices: the approvals to post, and
/// a finding, worded for staff, about each invoice on hold or that cannot be posted.
struct InvoiceDecisions<'a> {
    approvals: Vec<Approval<'a>>,
    findings: Vec<Finding>,
}

/// Matches the pending invoices three ways and words what it found. Pure: nothing is
/// written.
fn decide_invoices<'a>(
    job: &str,
    pending: &'a [Invoice],
    books: &Books,
    rules: &ApRules,
    accounts: &ApAccounts,
) -> InvoiceDecisions<'a> {
    let mut decisions = InvoiceDecisions {
        approvals: Vec::new(),
        findings: Vec::new(),
    };
    let decided = three_way_match_after(
        pending,
        &books.orders,
        &books.receipts,
        &books.already,
        rules,
    );
    for decision in &decided.decisions {
        let inv = &pending[decision.invoice()];
        let identity = invoice_identity(inv);
        let subject = format!("invoice|{identity}");
        let source = Some(inv.source.clone());
        match decision {
            ApDecision::Approved {
                lines,
                charges,
                explanation,
                ..
            } => {
                let entry = match approved_invoice_entry(job, inv, lines, &books.orders, accounts) {
                    Ok(e) => e,
                    Err(refused) => {
                        decisions.findings.push(Finding {
                            subject,
                            reason: BreakReason::Unbalanced,
                            detail: format!(
                                "{}: agrees with its order, but {}",
                                describe(inv),
                                invoice_refusal(inv, &refused)
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
                decisions.approvals.push(Approval {
                    invoice: inv,
                    identity,
                    entry,
                    explanation: explanation.clone(),
                    lines: lines.clone(),
                    used: used_quantities(lines, &books.orders, accounts)
                        .into_iter()
                        .chain(charges_used(charges, &books.orders))
                        .collect(),
                });
            }
            ApDecision::Held { findings: why, .. } => {
                decisions.findings.push(held(inv, subject, why));
            }
        }
    }
    decisions
}

/// Why an approved invoice's entry cannot be made, in an invoice's words: an entry that does
/// not balance is the invoice's lines, VAT and amount due not adding up, not a ledger item
/// against a statement line (the wording the bank reconciliation's refusal uses).
fn invoice_refusal(inv: &Invoice, refused: &PostingRefused) -> String {
    match refused {
        PostingRefused::Unbalanced {
            currency,
            difference,
        } => format!(
            "its lines, charges, allowances and VAT do not add up to the {} {currency} it asks for: the entry would differ by {difference}",
            inv.payable
        ),
        other => other.to_string(),
    }
}

/// The order quantities an approved invoice used, kept so no later invoice uses them again;
/// marked expensed when the job books no GR/IR (see `grir::post_receipts`).
fn used_quantities(
    lines: &[MatchedLine],
    orders: &[PurchaseOrderLine],
    accounts: &ApAccounts,
) -> Vec<InvoicedQuantity> {
    lines
        .iter()
        .filter_map(|l| {
            orders.get(l.order_line).map(|o| InvoicedQuantity {
                expensed: accounts.grir.is_none(),
                ..invoiced_quantity(l, o)
            })
        })
        .collect()
}

/// The finding about an invoice on hold: every reason, the first one's reason and difference.
fn held(inv: &Invoice, subject: String, why: &[HoldReason]) -> Finding {
    let first = why.first();
    Finding {
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
        source: Some(inv.source.clone()),
    }
}

/// Posts each approved invoice and keeps it, with the order quantities it used, as an
/// approved invoice of the run's file. Its entry names where the invoice, the order lines and
/// the receipts it used were read, whichever file's run approved it.
fn post_approvals(
    u: &mut dyn Unit,
    run: &Run,
    books: &Books,
    approvals: &[Approval],
    out: &mut RunOutcome,
) -> Result<(), StoreError> {
    let mut approved_now = Vec::new();
    for a in approvals {
        let trace =
            super::grir::invoice_trace(u, a.invoice, &a.lines, &books.orders, &books.receipts)?;
        let why = serde_json::json!({
            "rule": "three_way",
            "explanation": a.explanation,
            "invoice": describe(a.invoice),
            "lines": trace.lines,
            "sources": trace.sources,
        })
        .to_string();
        if let Posted::Posted { match_id, .. } = u.post_match(&NewMatch {
            job: &run.job.name,
            run_id: run.run_id,
            pass: MatchPass::ThreeWay,
            record_ids: &[],
            entry: &a.entry,
            at: run.at,
            explanation: Some(&why),
            actor: None,
            reason: None,
        })? {
            u.add_match_sources(match_id, &trace.sources)?;
            out.entries_posted += 1;
        }
        out.matched += 1;
        approved_now.push(NewDocument {
            identity: a.identity.clone(),
            account: a.invoice.supplier.vat_id.clone(),
            key: Some(a.invoice.number.clone()),
            as_of: Some(a.invoice.issue_date),
            body: Document::ApprovedInvoice(a.used.clone()),
        });
    }
    if !approved_now.is_empty() {
        u.add_documents(&run.job.name, run.file_id, &approved_now)?;
    }
    Ok(())
}

/// Payments: outgoing statement lines against what is approved and not yet paid; each
/// payment found is posted and kept as a paid invoice of the run's file.
fn settle_payments(
    u: &mut dyn Unit,
    run: &Run,
    books: &Books,
    accounts: &ApAccounts,
    out: &mut RunOutcome,
) -> Result<(), WorkError> {
    let scope = run.job.name.as_str();
    let paid: BTreeSet<String> = u
        .documents(scope, DocumentKind::PaidInvoice)?
        .into_iter()
        .map(|d| d.identity)
        .collect();
    let open: Vec<OpenPayable> = books
        .invoices
        .iter()
        .filter(|i| {
            let id = invoice_identity(i);
            books.approved.contains(&id) && !paid.contains(&id)
        })
        .map(OpenPayable::from_invoice)
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    let lines = u.open_records(scope, Side::Statement, None)?;
    let records: Vec<_> = lines.iter().map(|s| s.record.clone()).collect();
    let mut settled = Vec::new();
    for (p, s) in payment_matches(&open, &records) {
        let payable = &open[p];
        let invoice = books
            .invoices
            .iter()
            .find(|i| invoice_identity(i) == payable.invoice_identity);
        let entry = match payment_entry(&run.job.name, payable, &records[s], accounts, invoice) {
            Ok(entry) => entry,
            Err(refused) => {
                // A payment the books cannot take (a bank account the chart does not map):
                // a break on the bank line saying why; the rest of the run goes on.
                let r = &records[s];
                let name = u.file_name(&r.source.file)?.unwrap_or_default();
                let source = super::subjects::in_file(&name, &r.source);
                let detail = format!(
                    "payment of {} by bank line {} of {} {} cannot be posted: {refused}",
                    payable.number, r.external_id, r.amount, r.currency
                );
                let opened = u.open_break(&NewBreak {
                    job: scope,
                    run_id: run.run_id,
                    reason: BreakReason::Unbalanced,
                    detail: &detail,
                    amount: Some(r.amount),
                    currency: Some(r.currency),
                    difference: None,
                    since: r.value_date,
                    owner: run.job.owner.as_deref(),
                    record_id: Some(lines[s].id),
                    source: Some(&source),
                    at: run.at,
                    subject: None,
                })?;
                out.breaks_opened += u64::from(opened.is_some());
                continue;
            }
        };
        let why = serde_json::json!({
            "rule": "payment",
            "invoice": payable.number,
            "statement_line": records[s].external_id,
        })
        .to_string();
        if let Posted::Posted { match_id, .. } = u.post_match(&NewMatch {
            job: &run.job.name,
            run_id: run.run_id,
            pass: MatchPass::Payment,
            record_ids: &[lines[s].id],
            entry: &entry,
            at: run.at,
            explanation: Some(&why),
            actor: None,
            reason: None,
        })? {
            // The bank line is the match's record; the invoice it pays is named beside it.
            if let Some(inv) = books
                .invoices
                .iter()
                .find(|i| invoice_identity(i) == payable.invoice_identity)
            {
                let paid = format!(
                    "{} (invoice {})",
                    super::subjects::place(u, &inv.source)?,
                    inv.number
                );
                u.add_match_sources(match_id, &[paid])?;
            }
            out.entries_posted += 1;
            // A payment that came before its invoice was approved had a break meanwhile.
            out.breaks_closed += u.close_breaks_of_records(
                &[lines[s].id],
                &format!("settled payable {}", payable.number),
                run.run_id,
                run.at,
            )?;
        }
        out.matched += 1;
        settled.push(NewDocument {
            identity: payable.invoice_identity.clone(),
            account: None,
            key: Some(payable.number.clone()),
            as_of: Some(records[s].value_date),
            body: Document::PaidInvoice(why),
        });
    }
    if !settled.is_empty() {
        u.add_documents(scope, run.file_id, &settled)?;
    }
    Ok(())
}
