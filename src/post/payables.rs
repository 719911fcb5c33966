//! Accounts payable postings: an approved supplier invoice (debit expense and input VAT, credit
//! the supplier's payable), its payment (debit the payable, credit the bank), and which
//! outgoing bank statement line pays which open payable.
//!
//! Same discipline as the cash postings: pure, refused unless balanced in every currency, and
//! keyed by the job and the identity of what is settled, so a rerun posts nothing twice.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{PostingRefused, check_balanced};
use crate::model::invoice::{Invoice, InvoiceKind};
use crate::model::payables::{OpenPayable, compact, invoice_identity, supplier_label};
use crate::model::{Currency, EntryLine, JournalEntry, Record};

/// The accounts of a job's payables postings. Placeholders: `{currency}` in all of them,
/// `{rate}` (the VAT rate, e.g. `19`, else the VAT category) in `input_vat`, `{supplier}` (name,
/// else VAT id) in `payables`, `{bank_account}` (the statement's account) in `bank`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApAccounts {
    /// Accounts payable, e.g. `1600 Payables` or `1600 Payables {supplier}`.
    pub payables: String,
    /// Input VAT (recoverable), e.g. `1576 Input VAT {rate}%`.
    pub input_vat: String,
    /// Expense for lines whose purchase order line names no account.
    pub default_expense: String,
    /// The bank account payments leave from, e.g. `1010 Bank {currency}`.
    pub bank: String,
}

/// The entry of an approved invoice: each line's net amount debited to its expense account
/// (`lines_expense[i]` for line `i`, from its purchase order line; the default where `None` or
/// missing), each VAT breakdown's tax to input VAT, and what is owed to the supplier (the
/// payable amount plus anything prepaid, which the prepayment already cleared) credited to
/// payables. A credit note posts the reverse. Refused unless it balances: an invoice whose VAT
/// breakdown or totals do not add up, or with a rounding amount, needs a person.
pub fn invoice_entry(
    job: &str,
    invoice: &Invoice,
    accounts: &ApAccounts,
    lines_expense: &[Option<String>],
) -> Result<JournalEntry, PostingRefused> {
    let ccy = invoice.currency;
    let supplier = supplier_label(invoice).unwrap_or_default();
    let sign = match invoice.kind {
        InvoiceKind::Invoice => Decimal::ONE,
        InvoiceKind::CreditNote => Decimal::NEGATIVE_ONE,
    };
    let mut lines: Vec<EntryLine> = Vec::new();
    let default_expense = fill(&accounts.default_expense, ccy, &[]);
    if invoice.lines.is_empty() {
        // Profiles without lines (Factur-X MINIMUM): the whole net amount is one expense.
        let net = invoice
            .tax_exclusive
            .unwrap_or_else(|| invoice.tax.iter().map(|t| t.taxable_amount).sum());
        add(&mut lines, &default_expense, ccy, sign * net);
    } else {
        for (i, line) in invoice.lines.iter().enumerate() {
            let account = match lines_expense.get(i).and_then(Option::as_deref) {
                Some(a) => fill(a, ccy, &[]),
                None => default_expense.clone(),
            };
            add(&mut lines, &account, ccy, sign * line.net_amount);
        }
        // Document-level charges and allowances change the cost but belong to no line.
        let adjustment =
            invoice.charge_total.unwrap_or_default() - invoice.allowance_total.unwrap_or_default();
        add(&mut lines, &default_expense, ccy, sign * adjustment);
    }
    for t in &invoice.tax {
        let rate = t
            .rate
            .map(|r| r.normalize().to_string())
            .or_else(|| t.category.clone())
            .unwrap_or_default();
        let account = fill(&accounts.input_vat, ccy, &[("{rate}", &rate)]);
        add(&mut lines, &account, ccy, sign * t.tax_amount);
    }
    let owed = invoice.payable + invoice.prepaid.unwrap_or_default();
    let payables = fill(&accounts.payables, ccy, &[("{supplier}", &supplier)]);
    add(&mut lines, &payables, ccy, -sign * owed);
    lines.retain(|l| !l.amount.is_zero());
    if lines.is_empty() {
        return Err(PostingRefused::Empty);
    }
    check_balanced(&lines)?;
    let what = match invoice.kind {
        InvoiceKind::Invoice => "Invoice",
        InvoiceKind::CreditNote => "Credit note",
    };
    let mut narrative = format!("{what} {} of {supplier}", invoice.number);
    if let Some(po) = &invoice.order_reference {
        let _ = write!(narrative, " (purchase order {po})");
    }
    Ok(JournalEntry {
        idempotency_key: key(job, "invoice", &[&invoice_identity(invoice)]),
        posting_date: invoice.issue_date,
        narrative,
        lines,
    })
}

/// The entry of a payment of `open` by a bank statement line: the payable debited by what left
/// the bank, the bank credited (a supplier's refund of a credit note posts the reverse). Refused
/// when the payment is in another currency than the payable (it would not balance) or is zero.
pub fn payment_entry(
    job: &str,
    open: &OpenPayable,
    payment: &Record,
    accounts: &ApAccounts,
) -> Result<JournalEntry, PostingRefused> {
    if payment.amount.is_zero() {
        return Err(PostingRefused::Empty);
    }
    let supplier = open.supplier_name.clone().unwrap_or_default();
    let bank_account = payment.account.clone().unwrap_or_default();
    let lines = vec![
        EntryLine {
            account: fill(
                &accounts.payables,
                open.currency,
                &[("{supplier}", &supplier)],
            ),
            currency: open.currency,
            amount: -payment.amount,
        },
        EntryLine {
            account: fill(
                &accounts.bank,
                payment.currency,
                &[("{bank_account}", &bank_account)],
            ),
            currency: payment.currency,
            amount: payment.amount,
        },
    ];
    check_balanced(&lines)?;
    Ok(JournalEntry {
        idempotency_key: key(
            job,
            "payment",
            &[&open.invoice_identity, &payment.identity()],
        ),
        posting_date: payment.booking_date.unwrap_or(payment.value_date),
        narrative: format!(
            "Payment of invoice {} to {supplier} (bank {})",
            open.number, payment.external_id
        ),
        lines,
    })
}

/// Which statement line pays which open payable, one to one. A line pays a payable when it is in
/// the payable's currency for exactly minus its open amount (money out for an invoice), and
/// either its remittance or reference quotes the invoice number or the payment reference the
/// supplier asked for, or its counterparty is the supplier's IBAN. Reference pairs are taken
/// before IBAN pairs; within a pass, payables due first and earlier statement lines first, by
/// content, so the outcome does not depend on the order of the inputs. Partial payments are
/// left to a person. Returns `(open index, statement index)` pairs ordered by open index.
pub fn payment_matches(open: &[OpenPayable], statement: &[Record]) -> Vec<(usize, usize)> {
    let mut candidates = Vec::new();
    for (p, payable) in open.iter().enumerate() {
        let iban = payable
            .supplier_iban
            .as_deref()
            .map(compact)
            .filter(|i| !i.is_empty());
        for (s, line) in statement.iter().enumerate() {
            if line.currency != payable.currency
                || line.amount.is_zero()
                || line.amount != -payable.amount_open
            {
                continue;
            }
            let pass = if quotes(payable, line) {
                0u8
            } else if iban.as_ref().is_some_and(|i| {
                line.counterparty
                    .as_deref()
                    .is_some_and(|c| compact(c).contains(i.as_str()))
            }) {
                1
            } else {
                continue;
            };
            candidates.push((
                pass,
                payable.due_date,
                payable.invoice_identity.as_str(),
                line.value_date,
                line.identity(),
                p,
                s,
            ));
        }
    }
    candidates.sort();
    let mut open_taken = vec![false; open.len()];
    let mut line_taken = vec![false; statement.len()];
    let mut pairs = Vec::new();
    for (.., p, s) in candidates {
        if !open_taken[p] && !line_taken[s] {
            open_taken[p] = true;
            line_taken[s] = true;
            pairs.push((p, s));
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Whether the statement line's remittance or reference quotes the invoice number or payment
/// reference as a whole word ("INV-12" is not quoted by "INV-123"). Numbers shorter than three
/// characters are too likely to appear by chance and are not looked for.
fn quotes(payable: &OpenPayable, line: &Record) -> bool {
    let texts = [line.remittance.as_deref(), line.reference.as_deref()];
    let wanted = [
        Some(payable.number.as_str()),
        payable.payment_reference.as_deref(),
    ];
    texts.iter().flatten().any(|text| {
        wanted
            .iter()
            .flatten()
            .map(|w| w.trim())
            .filter(|w| w.chars().count() >= 3)
            .any(|w| {
                contains_word(text, w)
                    // Structured references (RF…, OCR) are printed in groups of four.
                    || (compact(w).len() >= 8 && compact(text).contains(&compact(w)))
            })
    })
}

fn contains_word(text: &str, word: &str) -> bool {
    let text = text.to_uppercase();
    let word = word.to_uppercase();
    text.match_indices(&word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Adds to the line of `account` if there is one, so an entry has one line per account.
fn add(lines: &mut Vec<EntryLine>, account: &str, currency: Currency, amount: Decimal) {
    match lines
        .iter_mut()
        .find(|l| l.account == account && l.currency == currency)
    {
        Some(l) => l.amount += amount,
        None => lines.push(EntryLine {
            account: account.to_string(),
            currency,
            amount,
        }),
    }
}

fn fill(template: &str, currency: Currency, values: &[(&str, &str)]) -> String {
    let mut out = template.replace("{currency}", currency.as_str());
    for (name, value) in values {
        out = out.replace(name, value);
    }
    out
}

/// SHA-256 of the job, what is posted and the identities it settles: a different prefix per kind
/// of entry, so an invoice's key can never equal its payment's.
fn key(job: &str, kind: &str, identities: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(job.as_bytes());
    h.update(b"\nap-");
    h.update(kind.as_bytes());
    for id in identities {
        h.update(b"\n");
        h.update(id.as_bytes());
    }
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        let _ = write!(out, "{b:02x}");
    }
    out
}
