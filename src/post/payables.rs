//! Accounts payable postings: an approved supplier invoice (debit expense, or GR/IR and price
//! variance for goods received ([`super::grir`]), and input VAT; credit the supplier's payable), its payment (debit the payable, credit the bank), and which
//! outgoing bank statement line pays which open payable.
//!
//! Same discipline as the cash postings: pure, refused unless balanced in every currency, and
//! keyed by the job and the identity of what is settled, so a rerun posts nothing twice.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::vat::{self, VatRules};
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
    /// The bank account payments leave from, e.g. `1010 Bank {currency}`, or
    /// `{bank_account}`: the statement's, which a chart maps to its account.
    pub bank: String,
    /// The GR/IR clearing account and the price variance account, when the job clears
    /// receipts against invoices (`None`: invoices debit expense, receipts post nothing).
    pub grir: Option<(String, String)>,
    /// Input VAT by rate (`7`, `19`, as `{rate}` writes it): the rates that do not go to
    /// `input_vat` (SKR03 books 7 % to 1571, 19 % to 1576).
    pub input_vat_rates: std::collections::BTreeMap<String, String>,
    /// The chart every account must be in, when the job has one.
    pub chart: Option<std::sync::Arc<super::chart::Chart>>,
    /// Tax codes, where the buyer sits, and the cash discount account (`vat.rs`).
    pub vat: VatRules,
}

impl ApAccounts {
    /// The account `text` names, as the chart writes it; the text itself without a chart.
    pub(super) fn resolve(
        &self,
        text: String,
        currency: Currency,
    ) -> Result<String, PostingRefused> {
        match &self.chart {
            Some(chart) => chart.resolve(&text, currency),
            None => Ok(text),
        }
    }
}

/// Where an approved invoice line's net amount is debited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineCost {
    /// To expense: the purchase order line's account, else the job's default.
    Expense(Option<String>),
    /// Against goods received: GR/IR at the order's value of the units received (order price
    /// x quantity cleared, as the receipt credited it), the rest of the net amount (a price
    /// or quantity difference, or a credit that sent no goods back) to price variance.
    Received { order_value: Decimal },
}

/// The entry of an approved invoice: each line's net amount debited as `costs[i]` says for
/// line `i` (the default expense where missing), each VAT breakdown's tax to input VAT, and what is owed to the supplier (the
/// payable amount plus anything prepaid, which the prepayment already cleared) credited to
/// payables. A credit note posts the reverse. Refused unless it balances: an invoice whose VAT
/// breakdown or totals do not add up, or with a rounding amount, needs a person.
pub fn invoice_entry(
    job: &str,
    invoice: &Invoice,
    accounts: &ApAccounts,
    costs: &[LineCost],
) -> Result<JournalEntry, PostingRefused> {
    let ccy = invoice.currency;
    let supplier = supplier_label(invoice).unwrap_or_default();
    let sign = match invoice.kind {
        InvoiceKind::Invoice => Decimal::ONE,
        InvoiceKind::CreditNote => Decimal::NEGATIVE_ONE,
    };
    let mut lines: Vec<EntryLine> = Vec::new();
    let default_expense = accounts.resolve(fill(&accounts.default_expense, ccy, &[]), ccy)?;
    if invoice.lines.is_empty() {
        // Profiles without lines (Factur-X MINIMUM): the whole net amount is one expense.
        let net = invoice
            .tax_exclusive
            .unwrap_or_else(|| invoice.tax.iter().map(|t| t.taxable_amount).sum());
        add(&mut lines, &default_expense, ccy, sign * net);
    } else {
        for (i, line) in invoice.lines.iter().enumerate() {
            let account = match (costs.get(i), &accounts.grir) {
                (Some(LineCost::Received { order_value }), Some((grir, variance))) => {
                    let grir = accounts.resolve(fill(grir, ccy, &[]), ccy)?;
                    let variance = accounts.resolve(fill(variance, ccy, &[]), ccy)?;
                    add(&mut lines, &grir, ccy, sign * order_value);
                    add(
                        &mut lines,
                        &variance,
                        ccy,
                        sign * (line.net_amount - order_value),
                    );
                    continue;
                }
                (Some(LineCost::Expense(Some(a))), _) => {
                    accounts.resolve(fill(a, ccy, &[]), ccy)?
                }
                _ => default_expense.clone(),
            };
            add(&mut lines, &account, ccy, sign * line.net_amount);
        }
        // Document-level charges and allowances change the cost but belong to no line.
        let adjustment =
            invoice.charge_total.unwrap_or_default() - invoice.allowance_total.unwrap_or_default();
        add(&mut lines, &default_expense, ccy, sign * adjustment);
    }
    // VAT by tax category: as shown, self-assessed on both sides, or none (`vat.rs`).
    for v in vat::invoice_vat(
        invoice,
        &accounts.vat,
        &accounts.input_vat,
        &accounts.input_vat_rates,
    )? {
        let account = accounts.resolve(fill(&v.account, ccy, &[("{rate}", &v.rate)]), ccy)?;
        add(&mut lines, &account, ccy, sign * v.amount);
    }
    let owed = invoice.payable + invoice.prepaid.unwrap_or_default();
    let payables = accounts.resolve(
        fill(&accounts.payables, ccy, &[("{supplier}", &supplier)]),
        ccy,
    )?;
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
/// the bank, the bank credited (a supplier's refund of a credit note posts the reverse). A
/// payment that takes the cash discount `open` offers ([`takes_discount`]) clears the whole
/// payable: the discount is credited, its net part to the cash discount account and its VAT
/// part back out of input VAT (`invoice`'s breakdown, § 17 UStG). Refused when the payment is
/// in another currency than the payable (it would not balance) or is zero.
pub fn payment_entry(
    job: &str,
    open: &OpenPayable,
    payment: &Record,
    accounts: &ApAccounts,
    invoice: Option<&Invoice>,
) -> Result<JournalEntry, PostingRefused> {
    if payment.amount.is_zero() {
        return Err(PostingRefused::Empty);
    }
    let supplier = open.supplier_name.clone().unwrap_or_default();
    let bank_account = payment.account.clone().unwrap_or_default();
    let mut discount_lines = Vec::new();
    let mut cleared = -payment.amount;
    if let (Some(invoice), Some(offer)) = (invoice, &open.cash_discount)
        && takes_discount(open, payment)
    {
        let Some(cash_discount) = accounts.vat.cash_discount.as_deref() else {
            return Err(PostingRefused::Vat(vat::VatRefused::NoDiscountAccount {
                amount: offer.amount,
            }));
        };
        cleared = open.amount_open;
        for v in vat::discount_vat(
            invoice,
            offer.amount,
            &accounts.vat,
            cash_discount,
            &accounts.input_vat,
            &accounts.input_vat_rates,
        )? {
            let ccy = open.currency;
            let account = accounts.resolve(fill(&v.account, ccy, &[("{rate}", &v.rate)]), ccy)?;
            add(&mut discount_lines, &account, ccy, v.amount);
        }
    }
    let mut lines = vec![
        EntryLine {
            account: accounts.resolve(
                fill(
                    &accounts.payables,
                    open.currency,
                    &[("{supplier}", &supplier)],
                ),
                open.currency,
            )?,
            currency: open.currency,
            amount: cleared,
            fx: None,
        },
        EntryLine {
            account: accounts.resolve(
                fill(
                    &accounts.bank,
                    payment.currency,
                    &[("{bank_account}", &bank_account)],
                ),
                payment.currency,
            )?,
            currency: payment.currency,
            amount: payment.amount,
            fx: None,
        },
    ];
    lines.extend(discount_lines);
    check_balanced(&lines)?;
    Ok(JournalEntry {
        idempotency_key: key(
            job,
            "payment",
            &[&open.invoice_identity, &payment.identity()],
        ),
        posting_date: payment.booking_date.unwrap_or(payment.value_date),
        narrative: format!(
            "Payment of invoice {} to {supplier} (bank {}){}",
            open.number,
            payment.external_id,
            match &open.cash_discount {
                Some(o) if cleared != -payment.amount =>
                    format!(", less {} cash discount", o.amount),
                _ => String::new(),
            }
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
                || (line.amount != -payable.amount_open && !takes_discount(payable, line))
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

/// Whether `line` pays `open` less the cash discount it offers, within the discount period
/// (the day the money left the account, its value date, counts).
pub fn takes_discount(open: &OpenPayable, line: &Record) -> bool {
    open.cash_discount.as_ref().is_some_and(|o| {
        line.currency == open.currency
            && line.value_date <= o.last_day
            && line.amount == -(open.amount_open - o.amount)
    })
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
    let structured = payable
        .payment_reference
        .as_deref()
        .map(compact)
        .filter(|r| r.len() >= 8);
    texts.iter().flatten().any(|text| {
        wanted
            .iter()
            .flatten()
            .map(|w| w.trim())
            .filter(|w| w.chars().count() >= 3)
            .any(|w| contains_word(text, w))
            // Structured payment references (RF creditor references, OCR numbers) are printed
            // in groups of four; long enough, and check-digited, to be found without spaces.
            || structured
                .as_ref()
                .is_some_and(|r| compact(text).contains(r.as_str()))
    })
}

fn contains_word(text: &str, word: &str) -> bool {
    // German banks structure `:86:` with `?NN` subfields (`?20INV-42?21...`): the marker
    // bounds a word like a space does.
    let text = without_subfield_marks(&text.to_uppercase());
    let word = word.to_uppercase();
    text.match_indices(&word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// `text` with each `?NN` subfield mark (two digits after `?`) replaced by a space.
fn without_subfield_marks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' {
            let mut probe = chars.clone();
            if let (Some(a), Some(b)) = (probe.next(), probe.next())
                && a.is_ascii_digit()
                && b.is_ascii_digit()
            {
                chars.next();
                chars.next();
                out.push(' ');
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Adds to the line of `account` if there is one, so an entry has one line per account.
pub(super) fn add(lines: &mut Vec<EntryLine>, account: &str, currency: Currency, amount: Decimal) {
    match lines
        .iter_mut()
        .find(|l| l.account == account && l.currency == currency)
    {
        Some(l) => l.amount += amount,
        None => lines.push(EntryLine {
            account: account.to_string(),
            currency,
            amount,
            fx: None,
        }),
    }
}

pub(super) fn fill(template: &str, currency: Currency, values: &[(&str, &str)]) -> String {
    let mut out = template.replace("{currency}", currency.as_str());
    for (name, value) in values {
        out = out.replace(name, value);
    }
    out
}

/// The key of a payables entry ([`super::document_key`]).
pub(super) fn key(job: &str, kind: &str, identities: &[&str]) -> String {
    super::document_key(job, "ap-", kind, identities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::{InvoiceLine, Party, TaxBreakdown};
    use crate::model::{Side, Source};
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    fn accounts() -> ApAccounts {
        ApAccounts {
            payables: "1600 Payables {supplier}".into(),
            input_vat: "1576 Input VAT {rate}%".into(),
            default_expense: "6990 Other {currency}".into(),
            bank: "1010 Bank {currency}".into(),
            grir: None,
            input_vat_rates: Default::default(),
            chart: None,
            vat: VatRules::default(),
        }
    }

    fn line(net: &str, rate: &str) -> InvoiceLine {
        InvoiceLine {
            id: None,
            description: None,
            quantity: Some(Decimal::ONE),
            unit_code: None,
            unit_price: Some(d(net)),
            base_quantity: None,
            net_amount: d(net),
            tax_category: Some("S".into()),
            tax_rate: Some(d(rate)),
            order_line: None,
            item_ids: Default::default(),
            source: Source::at(Arc::from("inv"), None, 1),
        }
    }

    fn vat(rate: &str, base: &str, tax: &str) -> TaxBreakdown {
        TaxBreakdown {
            category: Some("S".into()),
            rate: Some(d(rate)),
            taxable_amount: d(base),
            tax_amount: d(tax),
        }
    }

    /// INV-1 of Acme: 60.00 and 40.00 at 19 %, 119.00 to pay.
    fn invoice() -> Invoice {
        Invoice {
            kind: InvoiceKind::Invoice,
            number: "INV-1".into(),
            issue_date: "2026-03-02".parse().unwrap(),
            due_date: Some("2026-04-01".parse().unwrap()),
            currency: eur(),
            supplier: Party {
                name: Some("Acme GmbH".into()),
                vat_id: Some("DE123456789".into()),
                iban: Some("DE89 3704 0044 0532 0130 00".into()),
                ..Party::default()
            },
            customer: Party::default(),
            order_reference: Some("PO-1".into()),
            payment_reference: None,
            preceding_invoice: None,
            lines: vec![line("60.00", "19"), line("40.00", "19")],
            allowances: Vec::new(),
            charges: Vec::new(),
            tax: vec![vat("19", "100.00", "19.00")],
            line_total: Some(d("100.00")),
            allowance_total: None,
            charge_total: None,
            tax_exclusive: Some(d("100.00")),
            tax_total: Some(d("19.00")),
            tax_inclusive: Some(d("119.00")),
            prepaid: None,
            rounding: None,
            payable: d("119.00"),
            cash_discount: None,
            source: Source::at(Arc::from("inv"), None, 1),
        }
    }

    fn lines_of(e: &JournalEntry) -> Vec<(&str, Decimal)> {
        e.lines
            .iter()
            .map(|l| (l.account.as_str(), l.amount))
            .collect()
    }

    fn payment(
        id: &str,
        amount: &str,
        remittance: Option<&str>,
        counterparty: Option<&str>,
        on: &str,
    ) -> Record {
        Record {
            side: Side::Statement,
            external_id: id.into(),
            account: Some("DE02100100100006820101".into()),
            value_date: on.parse().unwrap(),
            booking_date: None,
            amount: d(amount),
            currency: eur(),
            reference: None,
            counterparty: counterparty.map(Into::into),
            remittance: remittance.map(Into::into),
            codes: None,
            source: Source::at(Arc::from("stmt"), None, 1),
        }
    }

    #[test]
    fn an_invoice_debits_expense_and_input_vat_and_credits_the_supplier() {
        let e = invoice_entry(
            "ap",
            &invoice(),
            &accounts(),
            &[
                LineCost::Expense(Some("6000 Material".into())),
                LineCost::Expense(None),
            ],
        )
        .unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("6000 Material", d("60.00")),
                ("6990 Other EUR", d("40.00")),
                ("1576 Input VAT 19%", d("19.00")),
                ("1600 Payables Acme GmbH", d("-119.00")),
            ]
        );
        assert_eq!(e.posting_date, "2026-03-02".parse().unwrap());
        assert_eq!(
            e.narrative,
            "Invoice INV-1 of Acme GmbH (purchase order PO-1)"
        );
        // Lines to the same account become one; a missing expense entry means the default.
        let e = invoice_entry("ap", &invoice(), &accounts(), &[]).unwrap();
        assert_eq!(lines_of(&e)[0], ("6990 Other EUR", d("100.00")));
        assert_eq!(e.lines.len(), 3);
    }

    #[test]
    fn each_vat_rate_gets_its_line_and_document_allowances_reduce_the_expense() {
        let mut i = invoice();
        i.lines = vec![line("100.00", "19"), line("50.00", "7")];
        i.allowance_total = Some(d("10.00"));
        i.tax = vec![vat("19", "90.00", "17.10"), vat("7.0", "50.00", "3.50")];
        i.payable = d("160.60");
        let e = invoice_entry("ap", &i, &accounts(), &[]).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("6990 Other EUR", d("140.00")),
                ("1576 Input VAT 19%", d("17.10")),
                ("1576 Input VAT 7%", d("3.50")),
                ("1600 Payables Acme GmbH", d("-160.60")),
            ]
        );
    }

    #[test]
    fn a_prepaid_invoice_credits_the_whole_amount_owed() {
        let mut i = invoice();
        i.prepaid = Some(d("100.00"));
        i.payable = d("19.00");
        let e = invoice_entry("ap", &i, &accounts(), &[]).unwrap();
        assert_eq!(e.lines.last().unwrap().amount, d("-119.00"));
    }

    #[test]
    fn a_credit_note_posts_the_reverse() {
        let mut i = invoice();
        i.kind = InvoiceKind::CreditNote;
        let e = invoice_entry("ap", &i, &accounts(), &[]).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("6990 Other EUR", d("-100.00")),
                ("1576 Input VAT 19%", d("-19.00")),
                ("1600 Payables Acme GmbH", d("119.00")),
            ]
        );
        assert!(e.narrative.starts_with("Credit note INV-1"));
        assert_ne!(
            e.idempotency_key,
            invoice_entry("ap", &invoice(), &accounts(), &[])
                .unwrap()
                .idempotency_key
        );
    }

    #[test]
    fn an_invoice_that_does_not_add_up_is_refused() {
        // (what is wrong, the change, the difference debits less credits)
        type Change = fn(&mut Invoice);
        let cases: [(&str, Change, &str); 4] = [
            (
                "VAT breakdown short by a rounding cent",
                |i| i.tax[0].tax_amount = d("18.99"),
                "-0.01",
            ),
            ("payable too high", |i| i.payable = d("119.01"), "-0.01"),
            (
                "a line missing",
                |i| {
                    i.lines.pop();
                },
                "-40.00",
            ),
            (
                "rounding",
                |i| {
                    i.rounding = Some(d("0.01"));
                    i.payable = d("119.01");
                },
                "-0.01",
            ),
        ];
        for (what, change, difference) in cases {
            let mut i = invoice();
            change(&mut i);
            assert_eq!(
                invoice_entry("ap", &i, &accounts(), &[]),
                Err(PostingRefused::Unbalanced {
                    currency: eur(),
                    difference: d(difference)
                }),
                "{what}"
            );
        }
        // VAT shown more than a cent off its rate is not deducted, balanced or not.
        let mut short = invoice();
        short.tax[0].tax_amount = d("18.00");
        short.payable = d("118.00");
        assert!(matches!(
            invoice_entry("ap", &short, &accounts(), &[]),
            Err(PostingRefused::Vat(vat::VatRefused::ShownDiffers { .. }))
        ));
        let mut empty = invoice();
        empty.lines.clear();
        empty.tax.clear();
        empty.tax_exclusive = None;
        empty.payable = Decimal::ZERO;
        assert_eq!(
            invoice_entry("ap", &empty, &accounts(), &[]),
            Err(PostingRefused::Empty)
        );
    }

    #[test]
    fn an_invoice_without_lines_posts_its_net_total() {
        let mut i = invoice();
        i.lines.clear();
        let e = invoice_entry("ap", &i, &accounts(), &[]).unwrap();
        assert_eq!(lines_of(&e)[0], ("6990 Other EUR", d("100.00")));
    }

    #[test]
    fn the_invoice_key_is_stable_and_differs_per_invoice() {
        let key = |i: &Invoice, job: &str| {
            invoice_entry(job, i, &accounts(), &[])
                .unwrap()
                .idempotency_key
        };
        let base = key(&invoice(), "ap");
        assert_eq!(base.len(), 64);
        assert_eq!(base, key(&invoice(), "ap"));
        // The same invoice re-read: other expense accounts, retyped number, name spelled otherwise.
        let mut same = invoice();
        same.number = "inv-1 ".into();
        same.supplier.name = Some("ACME".into());
        same.source = Source::at(Arc::from("other file"), None, 9);
        assert_eq!(base, key(&same, "ap"));
        assert_eq!(
            base,
            invoice_entry(
                "ap",
                &invoice(),
                &accounts(),
                &[LineCost::Expense(Some("6000".into()))]
            )
            .unwrap()
            .idempotency_key
        );
        let changes: [fn(&mut Invoice); 3] = [
            |i| i.number = "INV-2".into(),
            |i| i.supplier.vat_id = Some("DE999".into()),
            |i| i.issue_date = "2026-03-03".parse().unwrap(),
        ];
        for change in changes {
            let mut other = invoice();
            change(&mut other);
            assert_ne!(base, key(&other, "ap"));
        }
        assert_ne!(base, key(&invoice(), "ap-2"));
    }

    #[test]
    fn a_payment_debits_the_payable_and_credits_the_bank() {
        let open = OpenPayable::from_invoice(&invoice());
        let p = payment("B1", "-119.00", Some("INV-1"), None, "2026-03-20");
        let e = payment_entry("ap", &open, &p, &accounts(), None).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("1600 Payables Acme GmbH", d("119.00")),
                ("1010 Bank EUR", d("-119.00"))
            ]
        );
        assert_eq!(e.posting_date, "2026-03-20".parse().unwrap());
        assert_eq!(
            e.idempotency_key,
            payment_entry("ap", &open, &p, &accounts(), None)
                .unwrap()
                .idempotency_key
        );
        let other = payment("B2", "-119.00", Some("INV-1"), None, "2026-03-20");
        assert_ne!(
            e.idempotency_key,
            payment_entry("ap", &open, &other, &accounts(), None)
                .unwrap()
                .idempotency_key
        );
        let invoice_key = invoice_entry("ap", &invoice(), &accounts(), &[])
            .unwrap()
            .idempotency_key;
        assert_ne!(e.idempotency_key, invoice_key);

        let mut usd = p.clone();
        usd.currency = "USD".parse().unwrap();
        assert!(matches!(
            payment_entry("ap", &open, &usd, &accounts(), None),
            Err(PostingRefused::Unbalanced { .. })
        ));
        let zero = payment("B3", "0", None, None, "2026-03-20");
        assert_eq!(
            payment_entry("ap", &open, &zero, &accounts(), None),
            Err(PostingRefused::Empty)
        );
    }

    fn open(number: &str, amount: &str, iban: Option<&str>, due: &str) -> OpenPayable {
        OpenPayable {
            invoice_identity: format!("AP|{number}"),
            number: number.into(),
            payment_reference: None,
            supplier_name: Some("Acme GmbH".into()),
            supplier_iban: iban.map(Into::into),
            currency: eur(),
            amount_open: d(amount),
            due_date: Some(due.parse().unwrap()),
            cash_discount: None,
        }
    }

    #[test]
    fn payments_match_by_invoice_number_or_by_iban_and_amount() {
        let iban = "DE89370400440532013000";
        // (statement line, matches the one open payable INV-2026-001 of 119.00)
        let cases = [
            (
                payment(
                    "B",
                    "-119.00",
                    Some("Payment inv-2026-001, thank you"),
                    None,
                    "2026-03-20",
                ),
                true,
            ),
            (
                payment("B", "-119.00", Some("INV-2026-0011"), None, "2026-03-20"),
                false,
            ),
            // A German bank's structured :86:, subfields marked ?20, ?32.
            (
                payment(
                    "B",
                    "-119.00",
                    Some("166?00SEPA UEBERWEISUNG?20INV-2026-001?32ACME GMBH"),
                    None,
                    "2026-03-20",
                ),
                true,
            ),
            (
                payment(
                    "B",
                    "-119.00",
                    Some("?20INV-2026-0011?21"),
                    None,
                    "2026-03-20",
                ),
                false,
            ),
            (
                payment(
                    "B",
                    "-119.00",
                    None,
                    Some("DE89 3704 0044 0532 0130 00"),
                    "2026-03-20",
                ),
                true,
            ),
            (
                payment("B", "-118.99", None, Some(iban), "2026-03-20"),
                false,
            ),
            (
                payment("B", "-118.99", Some("INV-2026-001"), None, "2026-03-20"),
                false,
            ),
            (
                payment("B", "119.00", Some("INV-2026-001"), None, "2026-03-20"),
                false,
            ),
            (
                payment(
                    "B",
                    "-119.00",
                    Some("something else"),
                    Some("DE02 1001 0010 0006 8201 01"),
                    "2026-03-20",
                ),
                false,
            ),
        ];
        let payables = [open("INV-2026-001", "119.00", Some(iban), "2026-04-01")];
        for (line, expected) in cases {
            let got = payment_matches(&payables, std::slice::from_ref(&line));
            assert_eq!(got == vec![(0, 0)], expected, "{line:?} → {got:?}");
        }
        let mut usd = payment("B", "-119.00", Some("INV-2026-001"), None, "2026-03-20");
        usd.currency = "USD".parse().unwrap();
        assert!(payment_matches(&payables, &[usd]).is_empty());
        // The payment reference the supplier asked for, printed in groups.
        let mut with_ref = payables[0].clone();
        with_ref.number = "77".into();
        with_ref.payment_reference = Some("RF18539007547034".into());
        let line = payment(
            "B",
            "-119.00",
            Some("RF18 5390 0754 7034"),
            None,
            "2026-03-20",
        );
        assert_eq!(payment_matches(&[with_ref], &[line]), vec![(0, 0)]);
    }

    #[test]
    fn a_payable_is_paid_once_and_a_payment_pays_one_payable() {
        let iban = Some("DE89370400440532013000");
        // Two payments quote the same invoice: the earlier one pays it.
        let payables = [open("INV-1", "119.00", iban, "2026-04-01")];
        let lines = [
            payment("B2", "-119.00", Some("INV-1"), None, "2026-03-21"),
            payment("B1", "-119.00", Some("INV-1"), None, "2026-03-20"),
        ];
        assert_eq!(payment_matches(&payables, &lines), vec![(0, 1)]);
        // Two payables of one supplier for the same amount, one payment by IBAN: only one is paid,
        // the one due first; a second payment by IBAN then pays the other.
        let payables = [
            open("INV-2", "50.00", iban, "2026-04-10"),
            open("INV-1", "50.00", iban, "2026-04-01"),
        ];
        let one = [payment("B1", "-50.00", None, iban, "2026-03-20")];
        assert_eq!(payment_matches(&payables, &one), vec![(1, 0)]);
        let two = [
            one[0].clone(),
            payment("B2", "-50.00", None, iban, "2026-03-21"),
        ];
        assert_eq!(payment_matches(&payables, &two), vec![(0, 1), (1, 0)]);
        // A reference beats an IBAN: B2 quotes INV-2, so B1 pays INV-1 whatever the order.
        let lines = [
            payment("B1", "-50.00", None, iban, "2026-03-20"),
            payment("B2", "-50.00", Some("INV-2"), iban, "2026-03-21"),
        ];
        let by_ids = |p: &[OpenPayable], l: &[Record]| {
            let mut v: Vec<(String, String)> = payment_matches(p, l)
                .into_iter()
                .map(|(a, b)| (p[a].number.clone(), l[b].external_id.clone()))
                .collect();
            v.sort();
            v
        };
        let expected = vec![
            ("INV-1".to_string(), "B1".to_string()),
            ("INV-2".to_string(), "B2".to_string()),
        ];
        assert_eq!(by_ids(&payables, &lines), expected);
        let (mut p_rev, mut l_rev) = (payables.to_vec(), lines.to_vec());
        p_rev.reverse();
        l_rev.reverse();
        assert_eq!(by_ids(&p_rev, &l_rev), expected);
        assert_eq!(by_ids(&payables, &l_rev), expected);
    }

    /// The job's VAT rules with SKR03's reverse-charge and discount accounts.
    fn with_vat() -> ApAccounts {
        let mut a = accounts();
        a.vat = VatRules {
            codes: vec![vat::TaxCode {
                category: "AE".into(),
                rate: Some(d("19")),
                supplier: None,
                input_vat: "1577 Input VAT 13b {rate}%".into(),
                output_vat: Some("1787 Output VAT 13b {rate}%".into()),
            }],
            home_country: Some("DE".into()),
            cash_discount: Some("3730 Discounts received".into()),
        };
        a
    }

    #[test]
    fn a_reverse_charge_invoice_owes_the_supplier_the_net_and_posts_both_vat_sides() {
        let mut i = invoice();
        i.supplier.vat_id = Some("ATU12345678".into());
        i.tax = vec![TaxBreakdown {
            category: Some("AE".into()),
            rate: Some(Decimal::ZERO),
            taxable_amount: d("100.00"),
            tax_amount: Decimal::ZERO,
        }];
        i.payable = d("100.00");
        let e = invoice_entry("ap", &i, &with_vat(), &[]).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("6990 Other EUR", d("100.00")),
                ("1577 Input VAT 13b 19%", d("19.00")),
                ("1787 Output VAT 13b 19%", d("-19.00")),
                ("1600 Payables Acme GmbH", d("-100.00")),
            ]
        );
        // Without a tax code for AE it is refused, naming what is missing.
        let e = invoice_entry("ap", &i, &accounts(), &[]).unwrap_err();
        assert!(e.to_string().contains("[[payables.tax_codes]]"), "{e}");
    }

    #[test]
    fn a_payment_within_the_discount_period_takes_the_discount_and_its_vat() {
        let mut i = invoice();
        i.cash_discount = Some(crate::model::invoice::CashDiscount {
            percent: d("2"),
            days: Some(10),
            until: None,
        });
        let open = OpenPayable::from_invoice(&i);
        // 2 % of 119.00 is 2.38, until 12 March.
        let offer = open.cash_discount.clone().unwrap();
        assert_eq!(offer.amount, d("2.38"));
        assert_eq!(offer.last_day, "2026-03-12".parse().unwrap());
        let p = payment("B1", "-116.62", Some("INV-1"), None, "2026-03-12");
        assert_eq!(
            payment_matches(std::slice::from_ref(&open), std::slice::from_ref(&p)),
            vec![(0, 0)]
        );
        let e = payment_entry("ap", &open, &p, &with_vat(), Some(&i)).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("1600 Payables Acme GmbH", d("119.00")),
                ("1010 Bank EUR", d("-116.62")),
                ("3730 Discounts received", d("-2.00")),
                ("1576 Input VAT 19%", d("-0.38")),
            ]
        );
        assert!(
            e.narrative.ends_with("less 2.38 cash discount"),
            "{}",
            e.narrative
        );
        // A day late the discount is gone: the short payment pays nothing.
        let late = payment("B2", "-116.62", Some("INV-1"), None, "2026-03-13");
        assert!(payment_matches(std::slice::from_ref(&open), &[late]).is_empty());
        // The full amount within the period pays it in full, no discount.
        let full = payment("B3", "-119.00", Some("INV-1"), None, "2026-03-05");
        let e = payment_entry("ap", &open, &full, &with_vat(), Some(&i)).unwrap();
        assert_eq!(e.lines.len(), 2);
        // No discount account configured: refused, saying which account is missing.
        let e = payment_entry("ap", &open, &p, &accounts(), Some(&i)).unwrap_err();
        assert!(e.to_string().contains("cash_discount"), "{e}");
    }

    /// SKR03's accounts for a supplier invoice and its payment.
    fn skr03() -> ApAccounts {
        let mut chart = crate::post::chart::Chart::parse(
            "skr03.csv",
            "1200,Bank,bank\n1571,Abziehbare Vorsteuer 7 %,tax\n\
             1576,Abziehbare Vorsteuer 19 %,tax\n\
             1600,Verbindlichkeiten aus Lieferungen und Leistungen,payable\n\
             3200,Wareneingang,expense\n4930,Bürobedarf,expense\n",
        )
        .unwrap();
        chart.map_bank("DE02100100100006820101", "1200").unwrap();
        ApAccounts {
            payables: "1600 Payables {supplier}".into(),
            input_vat: "1576".into(),
            default_expense: "3200".into(),
            bank: "{bank_account}".into(),
            grir: None,
            input_vat_rates: [("7".to_string(), "1571".to_string())].into(),
            chart: Some(std::sync::Arc::new(chart)),
            vat: VatRules::default(),
        }
    }

    #[test]
    fn with_a_chart_one_supplier_is_one_account_and_each_vat_rate_its_own() {
        let a = skr03();
        let mut i = invoice();
        i.lines = vec![line("100.00", "19"), line("50.00", "7")];
        i.tax = vec![vat("19", "100.00", "19.00"), vat("7", "50.00", "3.50")];
        i.payable = d("172.50");
        let spellings = [
            LineCost::Expense(Some("4930 Bürobedarf".into())),
            LineCost::Expense(Some("4930 Buerobedarf".into())),
        ];
        let e = invoice_entry("ap", &i, &a, &spellings).unwrap();
        assert_eq!(
            lines_of(&e),
            vec![
                ("4930 Bürobedarf", d("150.00")),
                ("1576 Abziehbare Vorsteuer 19 %", d("19.00")),
                ("1571 Abziehbare Vorsteuer 7 %", d("3.50")),
                (
                    "1600 Verbindlichkeiten aus Lieferungen und Leistungen",
                    d("-172.50")
                ),
            ]
        );
        // The same supplier spelled otherwise on its next invoice: the same payables account.
        let mut other = invoice();
        other.supplier.name = Some("ACME GMBH".into());
        let e2 = invoice_entry("ap", &other, &a, &[]).unwrap();
        assert_eq!(
            e2.lines.last().unwrap().account,
            e.lines.last().unwrap().account
        );
        // The payment leaves the bank account the statement names, mapped by the chart.
        let open = OpenPayable::from_invoice(&invoice());
        let p = payment("B1", "-119.00", Some("INV-1"), None, "2026-03-20");
        let e = payment_entry("ap", &open, &p, &a, None).unwrap();
        assert_eq!(e.lines[1].account, "1200 Bank");
        // An order line's account the chart lacks is refused, never a new account.
        let e = invoice_entry(
            "ap",
            &invoice(),
            &a,
            &[LineCost::Expense(Some("6100 Materials".into()))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("no account 6100"), "{e}");
        let mut elsewhere = p.clone();
        elsewhere.account = Some("DE89370400440532013000".into());
        assert!(matches!(
            payment_entry("ap", &open, &elsewhere, &a, None),
            Err(PostingRefused::NotInChart { .. })
        ));
    }
}
