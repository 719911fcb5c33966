//! Accounts payable: the three-way match of supplier invoices against purchase orders and goods
//! receipts.
//!
//! An invoice is **approved** when it quotes a known purchase order of its supplier, every line
//! pairs with a line of that order, every unit price is the ordered one within the price
//! tolerance, and the quantity invoiced so far on each order line (earlier invoices included)
//! is neither more than was ordered nor, when receipts are required, more than was received,
//! both within the quantity tolerance. Otherwise it is **held**, with one finding per problem in
//! words an AP clerk acts on.
//!
//! Invoices are taken in a fixed order (issue date, invoices before credit notes, identity), not
//! in the order given: which invoice uses up a partial delivery first must not depend on how the
//! files happened to be listed. Only approved invoices use up received quantities; a held one
//! leaves them for the next.
//!
//! A credit note gives back quantity invoiced before (it may not give back more) and so makes
//! room for a later invoice; goods sent back are negative goods receipts. One that quotes only
//! the invoice it corrects takes that invoice's order ([`orders_of_credited_invoices`]). A credit note that only
//! corrects a price has a price unlike the order's and is held for a person to judge.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;

use super::ap_tolerance::{PriceTolerance, PriceTolerances};
use crate::model::BreakReason;
use crate::model::invoice::{Invoice, InvoiceKind, InvoiceLine};
use crate::model::payables::{
    GoodsReceipt, InvoicedQuantity, PurchaseOrderLine, compact, invoice_identity, supplier_key,
    supplier_label,
};

/// Credit notes that quote no purchase order, only the invoice they correct (BT-25, as most
/// suppliers' credit notes do), take that invoice's order from `known` (same supplier, same
/// number): they are then matched like any credit note, giving back what the invoice used.
/// Returns how many took one.
pub fn orders_of_credited_invoices(pending: &mut [Invoice], known: &[Invoice]) -> usize {
    let mut taken = 0;
    for cn in pending
        .iter_mut()
        .filter(|i| i.kind == InvoiceKind::CreditNote)
    {
        let quotes_order = cn
            .order_reference
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty());
        let Some(cited) = cn.preceding_invoice.as_deref().map(compact) else {
            continue;
        };
        if quotes_order || cited.is_empty() {
            continue;
        }
        let from = supplier_key(cn);
        let order = known
            .iter()
            .filter(|i| {
                i.kind == InvoiceKind::Invoice
                    && compact(&i.number) == cited
                    && supplier_key(i) == from
            })
            .find_map(|i| i.order_reference.clone());
        if order.is_some() {
            cn.order_reference = order;
            taken += 1;
        }
    }
    taken
}

/// The tolerances of a job's three-way match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApRules {
    /// How many units an invoiced quantity may exceed what was ordered or received.
    pub quantity_tolerance: Decimal,
    /// How far an invoiced price may differ from the ordered one: per unit in money and as a
    /// share (both apply unless agreed otherwise), on the line total, per supplier.
    pub price: PriceTolerances,
    /// Three-way (true) or two-way match: whether invoiced quantities must have been received.
    pub require_receipt: bool,
}

/// One reason an invoice is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub reason: BreakReason,
    /// The invoice line (its id, else its 1-based position); `None` for the whole invoice.
    pub line: Option<String>,
    /// What the purchase order or receipts allow (price, or quantity still open).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub expected: Option<Decimal>,
    /// What the invoice says.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub found: Option<Decimal>,
    /// How far beyond: invoiced price less ordered price, or the quantity too many.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub difference: Option<Decimal>,
    pub message: String,
}

/// An invoice line paired with its purchase order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchedLine {
    /// Index into the invoice's `lines`.
    pub invoice_line: usize,
    /// Index into the `orders` slice.
    pub order_line: usize,
    /// Indexes into the `receipts` slice: every receipt booked against the order line.
    pub receipts: Vec<usize>,
    /// Quantity this line invoices: negative for a credit note.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Unit price as invoiced (per one unit).
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// How much of the quantity (unsigned) clears goods received, for GR/IR: an invoice's
    /// received and not yet invoiced units, a credit note's units sent back and not yet
    /// credited. `None` when the line is not matched against receipts (a two-way match).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cleared: Option<Decimal>,
}

/// A document-level charge of the invoice (BG-21) paired with the order's charge row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchedCharge {
    /// Index into the invoice's `charges`.
    pub charge: usize,
    /// Index into the `orders` slice: the order's charge row.
    pub order_line: usize,
    /// The charge as invoiced.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// What the order still allowed of it before this invoice.
    #[serde(with = "rust_decimal::serde::str")]
    pub ordered: Decimal,
}

/// What the match decided for one invoice. `invoice` indexes the `invoices` slice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ApDecision {
    Approved {
        invoice: usize,
        /// The purchase order as written on the order lines.
        purchase_order: String,
        lines: Vec<MatchedLine>,
        /// The invoice's charges with the order's charge rows they are within.
        charges: Vec<MatchedCharge>,
        explanation: String,
    },
    Held {
        invoice: usize,
        findings: Vec<Finding>,
    },
}

impl ApDecision {
    pub fn invoice(&self) -> usize {
        match self {
            ApDecision::Approved { invoice, .. } | ApDecision::Held { invoice, .. } => *invoice,
        }
    }

    pub fn is_approved(&self) -> bool {
        matches!(self, ApDecision::Approved { .. })
    }
}

/// The decisions, one per invoice in the order of the `invoices` slice, and what the approved
/// invoices invoiced per order line: the caller keeps these and passes them back as
/// `already_invoiced` next time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApOutcome {
    pub decisions: Vec<ApDecision>,
    pub invoiced: Vec<InvoicedQuantity>,
}

impl ApOutcome {
    pub fn decision(&self, invoice: usize) -> Option<&ApDecision> {
        self.decisions.iter().find(|d| d.invoice() == invoice)
    }
}

/// The expense account of each line of an approved invoice, from its purchase order lines
/// (`None` where the order does not say): what `post::payables::invoice_entry` takes.
pub fn expense_accounts(
    invoice: &Invoice,
    lines: &[MatchedLine],
    orders: &[PurchaseOrderLine],
) -> Vec<Option<String>> {
    let mut out = vec![None; invoice.lines.len()];
    for m in lines {
        if let (Some(slot), Some(order)) = (out.get_mut(m.invoice_line), orders.get(m.order_line)) {
            slot.clone_from(&order.expense_account);
        }
    }
    out
}

/// What an approved invoice line used of its order line, as kept for later runs: the
/// quantity invoiced (negative for a credit note) and how much of it cleared goods received.
pub fn invoiced_quantity(m: &MatchedLine, order: &PurchaseOrderLine) -> InvoicedQuantity {
    let sign = if m.quantity.is_sign_negative() {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    };
    InvoicedQuantity {
        po_number: order.po_number.clone(),
        line: order.line.clone(),
        item: order.item.clone(),
        quantity: m.quantity,
        cleared: m.cleared.map(|c| sign * c),
        expensed: false,
    }
}

/// The order line each receipt is booked against (by line number, else item, else the
/// order's only line), `None` while its order is not known or names no such line.
pub fn order_lines_of_receipts(
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
) -> Vec<Option<usize>> {
    order_lines_of(
        orders,
        receipts
            .iter()
            .map(|g| (g.po_number.as_str(), g.line.as_deref(), g.item.as_deref())),
    )
}

/// The order line each (order number, line, item) names, found as receipts find theirs.
pub fn order_lines_of<'r>(
    orders: &[PurchaseOrderLine],
    refs: impl IntoIterator<Item = (&'r str, Option<&'r str>, Option<&'r str>)>,
) -> Vec<Option<usize>> {
    let book = OrderBook::new(orders, &[], &[]);
    refs.into_iter()
        .map(|(po, line, item)| book.locate(po, line, item))
        .collect()
}

/// The three-way match of `invoices` against `orders` and `receipts`, with nothing invoiced
/// before.
pub fn three_way_match(
    invoices: &[Invoice],
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
    rules: &ApRules,
) -> ApOutcome {
    three_way_match_after(invoices, orders, receipts, &[], rules)
}

/// The three-way match, counting `already_invoiced` (by invoices approved in earlier runs)
/// against what was received and ordered.
pub fn three_way_match_after(
    invoices: &[Invoice],
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
    already_invoiced: &[InvoicedQuantity],
    rules: &ApRules,
) -> ApOutcome {
    let mut book = OrderBook::new(orders, receipts, already_invoiced);

    let mut sequence: Vec<usize> = (0..invoices.len()).collect();
    sequence.sort_by_cached_key(|&i| {
        let inv = &invoices[i];
        let kind = match inv.kind {
            InvoiceKind::Invoice => 0u8,
            InvoiceKind::CreditNote => 1,
        };
        (
            inv.issue_date,
            kind,
            invoice_identity(inv),
            inv.source.file.clone(),
            inv.source.row,
            i,
        )
    });

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut decisions = Vec::with_capacity(invoices.len());
    let mut invoiced = Vec::new();
    for i in sequence {
        let inv = &invoices[i];
        let identity = invoice_identity(inv);
        if let Some(&first) = seen.get(&identity) {
            let f = &invoices[first].source;
            decisions.push(ApDecision::Held {
                invoice: i,
                findings: vec![Finding {
                    reason: BreakReason::Duplicate,
                    line: None,
                    expected: None,
                    found: None,
                    difference: None,
                    message: format!(
                        "invoice {} of {} dated {} arrived twice (also in file {} row {})",
                        inv.number,
                        supplier_label(inv).unwrap_or_else(|| "an unnamed supplier".into()),
                        inv.issue_date,
                        short(&f.file),
                        f.row
                    ),
                }],
            });
            continue;
        }
        seen.insert(identity, i);
        let decision = match check_invoice(inv, &book, rules) {
            Ok((purchase_order, lines, charges, explanation)) => {
                for m in &lines {
                    let q = invoiced_quantity(m, &orders[m.order_line]);
                    book.count_invoiced(m.order_line, &q);
                    invoiced.push(q);
                }
                for c in &charges {
                    let used = charge_units(c.amount, &orders[c.order_line]);
                    book.invoiced[c.order_line] += used;
                    invoiced.extend(charges_used(std::slice::from_ref(c), orders));
                }
                ApDecision::Approved {
                    invoice: i,
                    purchase_order,
                    lines,
                    charges,
                    explanation,
                }
            }
            Err(findings) => ApDecision::Held {
                invoice: i,
                findings,
            },
        };
        decisions.push(decision);
    }
    decisions.sort_by_key(ApDecision::invoice);
    ApOutcome {
        decisions,
        invoiced,
    }
}

/// The order lines by purchase order, with what was received and invoiced on each.
struct OrderBook<'a> {
    orders: &'a [PurchaseOrderLine],
    receipts: &'a [GoodsReceipt],
    /// Normalised PO number → its order lines in a fixed order (not the input order).
    by_po: BTreeMap<String, Vec<usize>>,
    /// Normalised PO number → its charge rows (freight, packing), in the same fixed order.
    charges: BTreeMap<String, Vec<usize>>,
    /// Per order line: received quantity and the receipts behind it (in receipt order).
    received: Vec<Decimal>,
    receipts_of: Vec<Vec<usize>>,
    /// Normalised PO number → receipts against the order that name no line or item it has:
    /// not counted anywhere, but named when goods are missing, since they may be the goods.
    unplaced: BTreeMap<String, Vec<usize>>,
    /// Per order line: quantity invoiced so far (earlier runs, then approved in this one).
    invoiced: Vec<Decimal>,
    /// Per order line: quantity received back (negative receipts, as a positive number).
    returned: Vec<Decimal>,
    /// Per order line: quantity credited by credit notes, and how much of it credited
    /// goods sent back (cleared against GR/IR).
    credited: Vec<Decimal>,
    returns_credited: Vec<Decimal>,
}

impl<'a> OrderBook<'a> {
    fn new(
        orders: &'a [PurchaseOrderLine],
        receipts: &'a [GoodsReceipt],
        already_invoiced: &[InvoicedQuantity],
    ) -> Self {
        let mut by_po: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, o) in orders.iter().enumerate() {
            by_po.entry(compact(&o.po_number)).or_default().push(i);
        }
        let mut charges: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (po, lines) in &mut by_po {
            let (charge_rows, goods): (Vec<usize>, Vec<usize>) =
                lines.iter().partition(|&&i| orders[i].charge.is_some());
            *lines = goods;
            if !charge_rows.is_empty() {
                charges.insert(po.clone(), charge_rows);
            }
        }
        by_po.retain(|po, lines| !lines.is_empty() || charges.contains_key(po));
        for lines in by_po.values_mut().chain(charges.values_mut()) {
            lines.sort_by_cached_key(|&i| {
                let o = &orders[i];
                (
                    o.line.as_deref().map(line_key),
                    o.item.as_deref().map(compact),
                    o.unit_price,
                    o.quantity,
                    o.source.file.clone(),
                    o.source.sheet.clone(),
                    o.source.row,
                    i,
                )
            });
        }
        let mut book = OrderBook {
            orders,
            receipts,
            by_po,
            charges,
            received: vec![Decimal::ZERO; orders.len()],
            receipts_of: vec![Vec::new(); orders.len()],
            unplaced: BTreeMap::new(),
            invoiced: vec![Decimal::ZERO; orders.len()],
            returned: vec![Decimal::ZERO; orders.len()],
            credited: vec![Decimal::ZERO; orders.len()],
            returns_credited: vec![Decimal::ZERO; orders.len()],
        };
        let mut receipt_order: Vec<usize> = (0..receipts.len()).collect();
        receipt_order.sort_by_cached_key(|&r| {
            let g = &receipts[r];
            (
                g.received_on,
                g.receipt_id.clone(),
                g.source.file.clone(),
                g.source.row,
                r,
            )
        });
        for r in receipt_order {
            let g = &receipts[r];
            if let Some(o) = book.locate(&g.po_number, g.line.as_deref(), g.item.as_deref()) {
                book.received[o] += g.quantity_received;
                if g.quantity_received.is_sign_negative() {
                    book.returned[o] -= g.quantity_received;
                }
                book.receipts_of[o].push(r);
            } else if book.by_po.contains_key(&compact(&g.po_number)) {
                book.unplaced
                    .entry(compact(&g.po_number))
                    .or_default()
                    .push(r);
            }
        }
        for q in already_invoiced {
            if let Some(o) = book
                .locate_charge(&q.po_number, q.line.as_deref(), q.item.as_deref())
                .or_else(|| book.locate(&q.po_number, q.line.as_deref(), q.item.as_deref()))
            {
                book.count_invoiced(o, q);
            }
        }
        book
    }

    /// Counts an approved invoice's (or credit note's) quantity on order line `o`. What a
    /// credit note credits beyond goods sent back leaves the goods received and invoiced: it
    /// lowers the price, it does not make room for another invoice of the same goods.
    fn count_invoiced(&mut self, o: usize, q: &InvoicedQuantity) {
        self.invoiced[o] += q.quantity;
        if q.quantity.is_sign_negative() {
            self.credited[o] -= q.quantity;
            // Kept before GR/IR: a credit note then gave back all it credited.
            self.returns_credited[o] -= q.cleared.unwrap_or(q.quantity);
        }
    }

    /// Quantity credited on order line `o` with no goods sent back for it (a price
    /// reduction after the fact): received and invoiced once, never to be invoiced again.
    fn credited_not_returned(&self, o: usize) -> Decimal {
        (self.credited[o] - self.returned[o]).max(Decimal::ZERO)
    }

    /// The charge row an earlier invoice's charge used: by line number, else by kind (kept as
    /// its item). Only a quantity recorded for a charge row names one.
    fn locate_charge(&self, po: &str, line: Option<&str>, item: Option<&str>) -> Option<usize> {
        let rows = self.charges.get(&compact(po))?;
        rows.iter().copied().find(|&o| {
            let c = &self.orders[o];
            match (line, &c.line) {
                (Some(a), Some(b)) => line_key(a) == line_key(b),
                _ => item
                    .map(compact)
                    .is_some_and(|k| c.charge.as_deref().map(compact) == Some(k)),
            }
        })
    }

    /// The order line a receipt or earlier invoice refers to: by line number, else by item,
    /// else the order's only line.
    fn locate(&self, po: &str, line: Option<&str>, item: Option<&str>) -> Option<usize> {
        let lines = self.by_po.get(&compact(po))?;
        let by_line = line.map(line_key).and_then(|k| {
            lines
                .iter()
                .copied()
                .find(|&o| self.orders[o].line.as_deref().map(line_key).as_ref() == Some(&k))
        });
        let by_item = || {
            item.map(compact).and_then(|k| {
                lines
                    .iter()
                    .copied()
                    .find(|&o| self.orders[o].item.as_deref().map(compact).as_ref() == Some(&k))
            })
        };
        by_line
            .or_else(by_item)
            .or_else(|| (lines.len() == 1).then_some(lines[0]))
    }
}

type Approval = (String, Vec<MatchedLine>, Vec<MatchedCharge>, String);

/// A finding about the whole invoice rather than one of its lines.
fn whole_invoice(reason: BreakReason, message: String) -> Finding {
    Finding {
        reason,
        line: None,
        expected: None,
        found: None,
        difference: None,
        message,
    }
}

/// The three-way match of one invoice: its purchase order, its supplier, then each of its lines
/// against the order's price and the quantities ordered, received and already invoiced. Every
/// finding is gathered (not only the first), so the break says all that is wrong at once.
fn check_invoice(
    inv: &Invoice,
    book: &OrderBook<'_>,
    rules: &ApRules,
) -> Result<Approval, Vec<Finding>> {
    let (po, order_lines) = quoted_order(inv, book)?;
    let orders = book.orders;
    let mut findings = Vec::new();
    findings.extend(supplier_finding(inv, po, order_lines, orders));
    if inv.lines.is_empty() {
        findings.push(whole_invoice(
            BreakReason::NoPurchaseOrder,
            format!(
                "invoice {} has no lines to match with the lines of purchase order {po}",
                inv.number
            ),
        ));
    }

    let pairs = pair_lines(inv, order_lines, orders);
    let credit = inv.kind == InvoiceKind::CreditNote;
    let mut matched = Vec::new();
    let mut explained = Vec::new();
    for (n, (line, pair)) in inv.lines.iter().zip(&pairs).enumerate() {
        let mut at = LineFindings {
            findings: &mut findings,
            label: line_label(line, n),
        };
        let Some(o) = *pair else {
            at.push(
                BreakReason::NoPurchaseOrder,
                None,
                None,
                None,
                format!(
                    "{} is not on purchase order {po} (or its order line is already taken by another line of this invoice)",
                    line.description.as_deref().unwrap_or("the item")
                ),
            );
            continue;
        };
        let Some((price, quantity)) = at.price_and_quantity(line, &orders[o], inv, rules) else {
            continue;
        };
        let mut standing = OrderLineStanding::of(book, o, po);
        standing.credited_not_returned = book.credited_not_returned(o);
        let order_label = order_line_label(&orders[o]);
        if credit {
            at.check_credited(&standing, &order_label, quantity, price, rules);
        } else {
            at.check_invoiced(&standing, &orders[o], &order_label, quantity, price, rules);
        }
        let signed = if credit { -quantity } else { quantity };
        let cleared = (rules.require_receipt && !standing.receipts.is_empty()).then(|| {
            let room = if credit {
                book.returned[o] - book.returns_credited[o]
            } else {
                standing.received - standing.invoiced_before - book.credited_not_returned(o)
            };
            quantity.min(room.max(Decimal::ZERO))
        });
        explained.push(format!(
            "line {} → PO line {order_label}: {} {quantity} at {price}, {}{}",
            at.label,
            if credit { "credited" } else { "invoiced" },
            standing.received_text,
            standing.already
        ));
        matched.push(MatchedLine {
            invoice_line: n,
            order_line: o,
            receipts: standing.receipts.clone(),
            quantity: signed,
            unit_price: price,
            cleared,
        });
    }
    let charges = check_charges(inv, po, book, rules, &mut findings, &mut explained);
    if findings.is_empty() {
        let purchase_order = order_lines
            .first()
            .map_or_else(|| po.to_string(), |&o| orders[o].po_number.clone());
        let explanation = format!(
            "{} {} matches purchase order {purchase_order}: {}",
            if credit { "credit note" } else { "invoice" },
            inv.number,
            explained.join("; ")
        );
        Ok((purchase_order, matched, charges, explanation))
    } else {
        Err(findings)
    }
}

/// The invoice's document-level charges (BG-21) against the order's charge rows: each pairs
/// with an unused row of the same kind (the row's `charge` as the invoice's reason code or
/// reason), else with the first unused row, and may be what is left of it (earlier invoices'
/// charges taken off) plus the price tolerance, taking the charge as one unit. A charge the
/// order has no row for, or more than is left of it, holds the invoice (`unexpected_charge`).
/// Allowances (BG-20) are in the buyer's favour: accepted, and named in the explanation so
/// the entry's lower expense is seen, not hidden. A credit note's charges give back what was
/// charged and are not checked here.
fn check_charges(
    inv: &Invoice,
    po: &str,
    book: &OrderBook<'_>,
    rules: &ApRules,
    findings: &mut Vec<Finding>,
    explained: &mut Vec<String>,
) -> Vec<MatchedCharge> {
    for a in &inv.allowances {
        explained.push(format!(
            "allowance {}{} accepted: it lowers the cost",
            a.amount,
            charge_kind(a)
                .map(|k| format!(" ({k})"))
                .unwrap_or_default()
        ));
    }
    let mut matched = Vec::new();
    if inv.kind == InvoiceKind::CreditNote {
        return matched;
    }
    let rows: &[usize] = book.charges.get(&compact(po)).map_or(&[], Vec::as_slice);
    let tolerance = rules.price.for_invoice(inv);
    let mut used: BTreeSet<usize> = BTreeSet::new();
    for (n, c) in inv.charges.iter().enumerate() {
        let kind = charge_kind(c);
        let same_kind = |o: usize| {
            let row = book.orders[o].charge.as_deref().map(compact);
            [&c.reason_code, &c.reason]
                .into_iter()
                .filter_map(|v| v.as_deref())
                .any(|v| row.as_deref() == Some(compact(v).as_str()))
        };
        let pick = rows
            .iter()
            .copied()
            .find(|&o| !used.contains(&o) && same_kind(o))
            .or_else(|| rows.iter().copied().find(|o| !used.contains(o)));
        let what = format!(
            "charge {}{} {}",
            n + 1,
            kind.map(|k| format!(" ({k})")).unwrap_or_default(),
            c.amount
        );
        let Some(o) = pick else {
            findings.push(whole_invoice(
                BreakReason::UnexpectedCharge,
                format!(
                    "{what} {}: purchase order {po} agrees to no charge; ask the supplier for a credit note or have purchasing add it to the order",
                    inv.currency
                ),
            ));
            findings.last_mut().expect("pushed").found = Some(c.amount);
            continue;
        };
        used.insert(o);
        let row = &book.orders[o];
        let ordered = row.quantity * row.unit_price;
        let before = book.invoiced[o] * row.unit_price;
        let left = ordered - before;
        let over = c.amount - left;
        let allowed = tolerance.per_unit(left.max(Decimal::ZERO));
        if over > allowed {
            findings.push(Finding {
                reason: BreakReason::UnexpectedCharge,
                line: None,
                expected: Some(left),
                found: Some(c.amount),
                difference: Some(over),
                message: format!(
                    "{what}, purchase order {po} agrees to {ordered} ({}{}): {over} above the order, beyond the {}",
                    row.charge.as_deref().unwrap_or("charge"),
                    if before.is_zero() {
                        String::new()
                    } else {
                        format!(", {before} charged before")
                    },
                    tolerance.per_unit_words(left.max(Decimal::ZERO))
                ),
            });
            continue;
        }
        explained.push(format!("{what} within the order's {ordered}"));
        matched.push(MatchedCharge {
            charge: n,
            order_line: o,
            amount: c.amount,
            ordered: left,
        });
    }
    matched
}

/// A charge or allowance as people name it: its reason, else its code.
fn charge_kind(c: &crate::model::invoice::AllowanceCharge) -> Option<&str> {
    c.reason
        .as_deref()
        .or(c.reason_code.as_deref())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// How much of a charge row an invoiced charge uses, in the row's units (its amount over the
/// row's unit price): what is kept so that no later invoice charges it again.
fn charge_units(amount: Decimal, row: &PurchaseOrderLine) -> Decimal {
    amount.checked_div(row.unit_price).unwrap_or(row.quantity)
}

/// The order quantities an approved invoice's charges used, kept with its lines' so no later
/// invoice charges them again (the charge row is named by its line, else by its kind).
pub fn charges_used(
    charges: &[MatchedCharge],
    orders: &[PurchaseOrderLine],
) -> Vec<InvoicedQuantity> {
    charges
        .iter()
        .filter_map(|c| {
            orders.get(c.order_line).map(|o| InvoicedQuantity {
                po_number: o.po_number.clone(),
                line: o.line.clone(),
                item: o.charge.clone(),
                quantity: charge_units(c.amount, o),
                // A charge is not goods: nothing of it was received against GR/IR.
                cleared: None,
                expensed: false,
            })
        })
        .collect()
}

/// The purchase order the invoice quotes and its lines; an invoice that quotes none, or one
/// not among the orders, goes no further.
fn quoted_order<'i, 'b>(
    inv: &'i Invoice,
    book: &'b OrderBook<'_>,
) -> Result<(&'i str, &'b [usize]), Vec<Finding>> {
    let Some(po) = inv
        .order_reference
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Err(vec![whole_invoice(
            BreakReason::NoPurchaseOrder,
            format!(
                "invoice {} quotes no purchase order: find the order and ask the supplier to quote it",
                inv.number
            ),
        )]);
    };
    let Some(order_lines) = book.by_po.get(&compact(po)).map(Vec::as_slice) else {
        return Err(vec![whole_invoice(
            BreakReason::NoPurchaseOrder,
            format!(
                "invoice {} quotes purchase order {po}, which is not among the purchase orders",
                inv.number
            ),
        )]);
    };
    Ok((po, order_lines))
}

/// The order names its supplier by name, trading name or VAT id; any of the invoice's will do.
/// An order that names no supplier accepts any.
fn supplier_finding(
    inv: &Invoice,
    po: &str,
    order_lines: &[usize],
    orders: &[PurchaseOrderLine],
) -> Option<Finding> {
    let ordered_from: BTreeSet<String> = order_lines
        .iter()
        .filter_map(|&o| orders[o].supplier.as_deref())
        .map(compact)
        .filter(|s| !s.is_empty())
        .collect();
    if ordered_from.is_empty() {
        return None;
    }
    let invoiced_by = [
        &inv.supplier.name,
        &inv.supplier.trading_name,
        &inv.supplier.vat_id,
    ];
    let known = invoiced_by
        .iter()
        .filter_map(|s| s.as_deref())
        .any(|s| ordered_from.contains(&compact(s)));
    if known {
        return None;
    }
    let on_order = order_lines
        .iter()
        .find_map(|&o| orders[o].supplier.clone())
        .unwrap_or_default();
    Some(whole_invoice(
        BreakReason::UnknownSupplier,
        format!(
            "purchase order {po} was placed with {on_order}, the invoice is from {}",
            supplier_label(inv).unwrap_or_else(|| "a supplier it does not name".into())
        ),
    ))
}

/// An order line as the wording names it: its line number, else its item.
fn order_line_label(order: &PurchaseOrderLine) -> String {
    order
        .line
        .clone()
        .or_else(|| order.item.clone())
        .unwrap_or_else(|| "?".into())
}

/// Where an order line stands before this invoice line: what was received (and on which
/// receipts), what was invoiced already, and receipts of the order that could not be placed on
/// a line, in the words the findings and the explanation use.
struct OrderLineStanding<'b> {
    invoiced_before: Decimal,
    /// Credited with no goods sent back: still received and invoiced.
    credited_not_returned: Decimal,
    received: Decimal,
    receipts: &'b Vec<usize>,
    received_text: String,
    already: String,
    unplaced: String,
}

impl<'b> OrderLineStanding<'b> {
    fn of(book: &'b OrderBook<'_>, o: usize, po: &str) -> Self {
        let before = book.invoiced[o];
        let receipts = &book.receipts_of[o];
        let receipt_ids = receipts
            .iter()
            .map(|&r| book.receipts[r].receipt_id.as_str())
            .collect::<Vec<_>>();
        let received_text = match receipt_ids.len() {
            0 => "nothing received yet".to_string(),
            1 => format!("received {} (receipt {})", book.received[o], receipt_ids[0]),
            _ => format!(
                "received {} (receipts {})",
                book.received[o],
                receipt_ids.join(", ")
            ),
        };
        let already = if before.is_zero() {
            String::new()
        } else {
            format!(", {before} already invoiced")
        };
        let unplaced = match book.unplaced.get(&compact(po)) {
            Some(rs) => format!(
                " (receipt {} against {po} names no line or item of the order and was not counted)",
                rs.iter()
                    .map(|&r| book.receipts[r].receipt_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        OrderLineStanding {
            invoiced_before: before,
            credited_not_returned: Decimal::ZERO,
            received: book.received[o],
            receipts,
            received_text,
            already,
            unplaced,
        }
    }
}

/// The findings about one invoice line, each worded `line <label>: ...`.
struct LineFindings<'f> {
    findings: &'f mut Vec<Finding>,
    label: String,
}

impl LineFindings<'_> {
    fn push(
        &mut self,
        reason: BreakReason,
        expected: Option<Decimal>,
        found: Option<Decimal>,
        difference: Option<Decimal>,
        message: String,
    ) {
        self.findings.push(Finding {
            reason,
            line: Some(self.label.clone()),
            expected,
            found,
            difference,
            message: format!("line {}: {message}", self.label),
        });
    }

    /// The line's unit price and quantity, when it can be checked against its order line at
    /// all (same currency, both given); a price beyond the tolerance is a finding but the
    /// quantities are still checked.
    fn price_and_quantity(
        &mut self,
        line: &InvoiceLine,
        order: &PurchaseOrderLine,
        inv: &Invoice,
        rules: &ApRules,
    ) -> Option<(Decimal, Decimal)> {
        if order.currency != inv.currency {
            self.push(
                BreakReason::PriceDifference,
                None,
                None,
                None,
                format!(
                    "ordered in {}, invoiced in {}",
                    order.currency, inv.currency
                ),
            );
            return None;
        }
        let Some(price) = unit_price(line) else {
            self.push(
                BreakReason::PriceDifference,
                Some(order.unit_price),
                None,
                None,
                format!(
                    "gives no unit price to check against the ordered {}",
                    order.unit_price
                ),
            );
            return None;
        };
        let Some(quantity) = line.quantity else {
            self.push(
                BreakReason::QuantityDifference,
                None,
                None,
                None,
                "gives no quantity to check against the purchase order and receipts".into(),
            );
            return None;
        };
        self.check_price(order, price, quantity, rules.price.for_invoice(inv));
        Some((price, quantity))
    }

    /// The invoiced price may differ from the ordered one by the supplier's (else the job's)
    /// limits: per unit, then on the line total (the per-unit difference times the quantity).
    fn check_price(
        &mut self,
        order: &PurchaseOrderLine,
        price: Decimal,
        quantity: Decimal,
        tolerance: &PriceTolerance,
    ) {
        let price_gap = price - order.unit_price;
        let allowed = tolerance.per_unit(order.unit_price);
        let direction = if price_gap.is_sign_positive() {
            "above"
        } else {
            "below"
        };
        if price_gap.abs() > allowed {
            self.push(
                BreakReason::PriceDifference,
                Some(order.unit_price),
                Some(price),
                Some(price_gap),
                format!(
                    "invoiced at {price}, ordered at {} (PO line {}): {} {direction} the order per unit, beyond the {}",
                    order.unit_price,
                    order_line_label(order),
                    price_gap.abs(),
                    tolerance.per_unit_words(order.unit_price),
                ),
            );
            return;
        }
        let line_gap = price_gap * quantity;
        if let Some(limit) = tolerance.line
            && line_gap.abs() > limit
        {
            self.push(
                BreakReason::PriceDifference,
                Some(order.unit_price * quantity),
                Some(price * quantity),
                Some(line_gap),
                format!(
                    "invoiced {quantity} at {price}, ordered at {} (PO line {}): {} {direction} the order on the line, beyond the line tolerance {limit}",
                    order.unit_price,
                    order_line_label(order),
                    line_gap.abs(),
                ),
            );
        }
    }

    /// A credit note gives back what was invoiced; it cannot give back more.
    fn check_credited(
        &mut self,
        standing: &OrderLineStanding<'_>,
        order_label: &str,
        quantity: Decimal,
        price: Decimal,
        rules: &ApRules,
    ) {
        let before = standing.invoiced_before;
        let over = quantity - before;
        if over > rules.quantity_tolerance {
            self.push(
                BreakReason::QuantityDifference,
                Some(before),
                Some(quantity),
                Some(over),
                format!(
                    "credits {quantity} at {price}, only {before} invoiced so far on PO line {order_label}: {over} more than invoiced"
                ),
            );
        }
    }

    /// An invoice may not bill, with what was invoiced before, more than was ordered, nor
    /// (when the rules require receipts) more than was received.
    fn check_invoiced(
        &mut self,
        standing: &OrderLineStanding<'_>,
        order: &PurchaseOrderLine,
        order_label: &str,
        quantity: Decimal,
        price: Decimal,
        rules: &ApRules,
    ) {
        let before = standing.invoiced_before;
        let already = &standing.already;
        let total = before + quantity;
        let over_ordered = total - order.quantity;
        if over_ordered > rules.quantity_tolerance {
            self.push(
                BreakReason::QuantityDifference,
                Some(order.quantity - before),
                Some(quantity),
                Some(over_ordered),
                format!(
                    "invoiced {quantity} at {price}, ordered {} (PO line {order_label}){already}: {over_ordered} more than ordered",
                    order.quantity
                ),
            );
        }
        // A receipt's goods are invoiced once: what a credit note took off the price (no
        // goods sent back) is still invoiced as far as the receipts go.
        let credited = standing.credited_not_returned;
        let not_received = total + credited - standing.received;
        if rules.require_receipt && not_received > rules.quantity_tolerance {
            let again = if credited > Decimal::ZERO {
                format!(
                    "; the received goods were already invoiced: {credited} credited by credit note without a return receipt stay invoiced (only goods sent back free quantity)"
                )
            } else {
                String::new()
            };
            self.push(
                BreakReason::QuantityDifference,
                Some(standing.received - before - credited),
                Some(quantity),
                Some(not_received),
                format!(
                    "invoiced {quantity} at {price}, {}{already}: {not_received} not received{}{again}",
                    standing.received_text, standing.unplaced
                ),
            );
        }
    }
}

/// Pairs each invoice line with an unused line of the order: by order line number, then by
/// the item's ids (the buyer's id, the seller's, a standard id such as a GTIN, against the
/// order line's item and the supplier's item number), then by the item's name, then by unit
/// price and quantity. A line whose ids name an item the order line does not carry is never
/// paired with it by price and quantity: that is another item at the same price. Each
/// pass goes through the invoice's lines in their order and the order's lines in their fixed
/// order, so the pairing is the same every time.
fn pair_lines(
    inv: &Invoice,
    order_lines: &[usize],
    orders: &[PurchaseOrderLine],
) -> Vec<Option<usize>> {
    let mut pairs: Vec<Option<usize>> = vec![None; inv.lines.len()];
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut pass = |same: &dyn Fn(&InvoiceLine, &PurchaseOrderLine) -> bool,
                    pairs: &mut Vec<Option<usize>>| {
        for (n, line) in inv.lines.iter().enumerate() {
            if pairs[n].is_some() {
                continue;
            }
            if let Some(&o) = order_lines
                .iter()
                .find(|&&o| !used.contains(&o) && same(line, &orders[o]))
            {
                used.insert(o);
                pairs[n] = Some(o);
            }
        }
    };
    pass(
        &|l, o| match (&l.order_line, &o.line) {
            (Some(a), Some(b)) => line_key(a) == line_key(b),
            _ => false,
        },
        &mut pairs,
    );
    pass(&|l, o| same_item(l, o) == Some(true), &mut pairs);
    pass(
        &|l, o| match (&l.description, &o.item) {
            (Some(a), Some(b)) => !compact(a).is_empty() && compact(a) == compact(b),
            _ => false,
        },
        &mut pairs,
    );
    pass(
        &|l, o| {
            same_item(l, o) != Some(false)
                && unit_price(l) == Some(o.unit_price)
                && l.quantity == Some(o.quantity)
        },
        &mut pairs,
    );
    pairs
}

/// Whether the invoice line's item ids name the order line's item: `None` when there is
/// nothing to compare (the line gives no ids, or the order line names no item).
fn same_item(line: &InvoiceLine, order: &PurchaseOrderLine) -> Option<bool> {
    let ids = &line.item_ids;
    let key = |s: &Option<String>| s.as_deref().map(compact).filter(|k| !k.is_empty());
    let ours = key(&order.item);
    let theirs = key(&order.supplier_item);
    if ids.is_empty() || (ours.is_none() && theirs.is_none()) {
        return None;
    }
    let named = |id: &Option<String>, on_order: &[&Option<String>]| {
        key(id).is_some_and(|k| on_order.iter().any(|o| o.as_ref() == Some(&k)))
    };
    Some(
        named(&ids.buyer, &[&ours])
            || named(&ids.seller, &[&theirs, &ours])
            || named(&ids.standard, &[&ours, &theirs]),
    )
}

/// Price of one unit: UBL states a price per `base_quantity` units. Without a price, the net
/// amount over the quantity.
fn unit_price(line: &InvoiceLine) -> Option<Decimal> {
    match (line.unit_price, line.quantity) {
        (Some(p), _) => match line.base_quantity {
            Some(b) if !b.is_zero() && b != Decimal::ONE => p.checked_div(b),
            // Kept as written, so messages show the price as the supplier wrote it.
            _ => Some(p),
        },
        (None, Some(q)) if !q.is_zero() => line.net_amount.checked_div(q).map(|u| u.normalize()),
        _ => None,
    }
}

/// Line numbers compare without case, spaces or leading zeros ("001" is line 1).
fn line_key(s: &str) -> String {
    let c = compact(s);
    if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
        let t = c.trim_start_matches('0');
        if t.is_empty() { "0".into() } else { t.into() }
    } else {
        c
    }
}

fn line_label(line: &InvoiceLine, n: usize) -> String {
    line.id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map_or_else(|| (n + 1).to_string(), str::to_string)
}

/// The start of a file's hash: enough for a person to find it.
fn short(file: &str) -> &str {
    file.get(..12).unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::model::invoice::{ItemIds, Party, TaxBreakdown};
    use crate::reconcile::ap_tolerance::ToleranceRule;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn src(file: &str, row: u32) -> Source {
        Source::at(Arc::from(file), None, row)
    }

    fn po(
        number: &str,
        line: Option<&str>,
        item: Option<&str>,
        qty: &str,
        price: &str,
    ) -> PurchaseOrderLine {
        PurchaseOrderLine {
            po_number: number.into(),
            line: line.map(Into::into),
            supplier: Some("Acme GmbH".into()),
            item: item.map(Into::into),
            quantity: d(qty),
            unit_price: d(price),
            currency: "EUR".parse().unwrap(),
            expense_account: Some(format!("6000 {}", line.or(item).unwrap_or("?"))),
            supplier_item: None,
            charge: None,
            source: src("orders", 1),
        }
    }

    fn gr(
        id: &str,
        number: &str,
        line: Option<&str>,
        item: Option<&str>,
        qty: &str,
        on: &str,
    ) -> GoodsReceipt {
        GoodsReceipt {
            receipt_id: id.into(),
            po_number: number.into(),
            line: line.map(Into::into),
            item: item.map(Into::into),
            quantity_received: d(qty),
            received_on: on.parse().unwrap(),
            source: src("receipts", 1),
        }
    }

    /// An invoice line: (its id, the order line it quotes, description, quantity, unit price).
    type L<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str, &'a str);

    fn invoice(number: &str, date: &str, order: Option<&str>, lines: &[L<'_>]) -> Invoice {
        let lines: Vec<InvoiceLine> = lines
            .iter()
            .map(|&(id, order_line, desc, qty, price)| InvoiceLine {
                id: Some(id.into()),
                description: desc.map(Into::into),
                quantity: Some(d(qty)),
                unit_code: None,
                unit_price: Some(d(price)),
                base_quantity: None,
                net_amount: d(qty) * d(price),
                tax_category: Some("S".into()),
                tax_rate: Some(d("19")),
                order_line: order_line.map(Into::into),
                item_ids: Default::default(),
                source: src(number, 1),
            })
            .collect();
        let net: Decimal = lines.iter().map(|l| l.net_amount).sum();
        Invoice {
            kind: InvoiceKind::Invoice,
            number: number.into(),
            issue_date: date.parse().unwrap(),
            due_date: None,
            currency: "EUR".parse().unwrap(),
            supplier: Party {
                name: Some("Acme GmbH".into()),
                vat_id: Some("DE123456789".into()),
                ..Party::default()
            },
            customer: Party::default(),
            order_reference: order.map(Into::into),
            payment_reference: None,
            preceding_invoice: None,
            lines,
            allowances: Vec::new(),
            charges: Vec::new(),
            tax: vec![TaxBreakdown {
                category: Some("S".into()),
                rate: Some(d("19")),
                taxable_amount: net,
                tax_amount: net * d("0.19"),
            }],
            line_total: Some(net),
            allowance_total: None,
            charge_total: None,
            tax_exclusive: Some(net),
            tax_total: None,
            tax_inclusive: None,
            prepaid: None,
            rounding: None,
            payable: net * d("1.19"),
            cash_discount: None,
            source: src(number, 1),
        }
    }

    fn credit(mut i: Invoice) -> Invoice {
        i.kind = InvoiceKind::CreditNote;
        i
    }

    fn rules() -> ApRules {
        ApRules {
            quantity_tolerance: Decimal::ZERO,
            price: PriceTolerances::uniform(PriceTolerance {
                absolute: Some(d("0.05")),
                ..Default::default()
            }),
            require_receipt: true,
        }
    }

    fn findings(d: &ApDecision) -> &[Finding] {
        match d {
            ApDecision::Held { findings, .. } => findings,
            ApDecision::Approved { explanation, .. } => panic!("approved: {explanation}"),
        }
    }

    fn matched(d: &ApDecision) -> &[MatchedLine] {
        match d {
            ApDecision::Approved { lines, .. } => lines,
            ApDecision::Held { findings, .. } => panic!("held: {findings:?}"),
        }
    }

    #[test]
    fn an_exact_match_is_approved_with_its_order_line_and_receipts() {
        let orders = [
            po("PO-1", Some("2"), None, "5", "1.00"),
            po("PO-1", Some("1"), None, "10", "10.00"),
        ];
        let receipts = [
            gr("GR-1", "PO-1", Some("1"), None, "6", "2026-03-01"),
            gr("GR-2", "PO-1", Some("1"), None, "4", "2026-03-02"),
        ];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        assert_eq!(out.decisions.len(), 1);
        let ApDecision::Approved {
            invoice,
            purchase_order,
            lines,
            explanation,
            ..
        } = &out.decisions[0]
        else {
            panic!("{:?}", out.decisions[0]);
        };
        assert_eq!((*invoice, purchase_order.as_str()), (0, "PO-1"));
        assert_eq!(
            lines,
            &[MatchedLine {
                invoice_line: 0,
                order_line: 1,
                receipts: vec![0, 1],
                quantity: d("10"),
                unit_price: d("10.00"),
                cleared: Some(d("10")),
            }]
        );
        assert!(explanation.contains("receipts GR-1, GR-2"), "{explanation}");
        assert_eq!(
            out.invoiced,
            vec![InvoicedQuantity {
                po_number: "PO-1".into(),
                line: Some("1".into()),
                item: None,
                quantity: d("10"),
                cleared: Some(d("10")),
                expensed: false,
            }]
        );
        assert_eq!(
            expense_accounts(&inv, lines, &orders),
            vec![Some("6000 1".to_string())]
        );
    }

    #[test]
    fn prices_within_the_tolerance_pass_and_a_cent_beyond_is_held_with_the_difference() {
        let abs = rules();
        let rel = ApRules {
            price: PriceTolerances::uniform(PriceTolerance {
                relative: Some(d("0.01")),
                ..Default::default()
            }),
            ..rules()
        };
        // (rules, invoiced price, expected difference when held)
        let cases: [(&ApRules, &str, Option<&str>); 8] = [
            (&abs, "10.00", None),
            (&abs, "10.05", None),
            (&abs, "9.95", None),
            (&abs, "10.06", Some("0.06")),
            (&abs, "9.94", Some("-0.06")),
            (&rel, "10.10", None),
            (&rel, "10.11", Some("0.11")),
            (&rel, "9.89", Some("-0.11")),
        ];
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        for (r, price, held) in cases {
            let inv = invoice(
                "INV-1",
                "2026-03-03",
                Some("PO-1"),
                &[("1", Some("1"), None, "10", price)],
            );
            let out = three_way_match(&[inv], &orders, &receipts, r);
            match held {
                None => assert!(
                    out.decisions[0].is_approved(),
                    "{price}: {:?}",
                    out.decisions[0]
                ),
                Some(diff) => {
                    let f = findings(&out.decisions[0]);
                    assert_eq!(f.len(), 1, "{price}: {f:?}");
                    assert_eq!(f[0].reason, BreakReason::PriceDifference);
                    assert_eq!(f[0].difference, Some(d(diff)), "{price}");
                    assert_eq!(
                        (f[0].expected, f[0].found),
                        (Some(d("10.00")), Some(d(price)))
                    );
                    assert!(
                        f[0].message
                            .starts_with(&format!("line 1: invoiced at {price}, ordered at 10.00")),
                        "{}",
                        f[0].message
                    );
                    assert!(out.invoiced.is_empty(), "a held invoice uses up nothing");
                }
            }
        }
    }

    #[test]
    fn both_price_limits_apply_so_a_large_order_is_not_let_through_by_its_percentage() {
        // The issue: 252,500 against an order of 250,000 passed on 1 % beside 0.05 per unit.
        let both = PriceTolerance {
            absolute: Some(d("0.05")),
            relative: Some(d("0.01")),
            ..Default::default()
        };
        let strict = ApRules {
            price: PriceTolerances::uniform(both.clone()),
            ..rules()
        };
        let orders = [po("PO-9", Some("1"), None, "1", "250000.00")];
        let receipts = [gr("GR-9", "PO-9", Some("1"), None, "1", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-9"),
            &[("1", Some("1"), None, "1", "252500.00")],
        );
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &strict);
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].reason, BreakReason::PriceDifference);
        assert_eq!(f[0].difference, Some(d("2500.00")));
        assert!(
            f[0].message.contains("2500.00 above the order per unit")
                && f[0].message.contains("the stricter applies"),
            "{}",
            f[0].message
        );
        // A supplier with whom "either" was agreed keeps the generous reading; the difference
        // the match accepted is on the matched line (invoiced price against the order line's).
        let mut per_supplier = strict.clone();
        per_supplier.price.suppliers.insert(
            "de 123456789".into(),
            PriceTolerance {
                rule: ToleranceRule::Either,
                ..both
            },
        );
        let out = three_way_match(&[inv], &orders, &receipts, &per_supplier);
        let m = matched(&out.decisions[0]);
        assert_eq!(
            m[0].unit_price - orders[m[0].order_line].unit_price,
            d("2500")
        );
    }

    #[test]
    fn a_tiny_unit_difference_on_a_large_quantity_is_caught_on_the_line_total() {
        let rules = ApRules {
            price: PriceTolerances::uniform(PriceTolerance {
                absolute: Some(d("0.01")),
                line: Some(d("5.00")),
                ..Default::default()
            }),
            ..rules()
        };
        let orders = [po("PO-1", Some("1"), None, "10000", "1.000")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10000", "2026-03-01")];
        let at = |price: &str| {
            let inv = invoice(
                "INV-1",
                "2026-03-03",
                Some("PO-1"),
                &[("1", Some("1"), None, "10000", price)],
            );
            three_way_match(&[inv], &orders, &receipts, &rules)
        };
        // 0.0005 more per unit is 5.00 on the line: within.
        assert!(at("1.0005").decisions[0].is_approved());
        // 0.009 more per unit is within 0.01, but 90.00 on the line.
        let out = at("1.009");
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].reason, BreakReason::PriceDifference);
        assert_eq!(f[0].difference, Some(d("90.000")));
        assert!(
            f[0].message.contains("beyond the line tolerance 5.00"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn lines_pair_by_item_ids_before_names_and_never_by_price_alone_against_another_item() {
        let mut orders = [
            po("PO-1", Some("1"), Some("W-1"), "2", "10.00"),
            po("PO-1", Some("2"), Some("G-2"), "2", "10.00"),
        ];
        // The supplier's own number for the gadget, as the order export carries it.
        orders[1].supplier_item = Some("ACME-7731".into());
        let receipts = [
            gr("GR-1", "PO-1", Some("1"), None, "2", "2026-03-01"),
            gr("GR-1", "PO-1", Some("2"), None, "2", "2026-03-01"),
        ];
        for ids in [
            ItemIds {
                seller: Some("acme-7731".into()),
                ..Default::default()
            },
            ItemIds {
                buyer: Some("G-2".into()),
                ..Default::default()
            },
        ] {
            let mut inv = invoice(
                "INV-1",
                "2026-03-03",
                Some("PO-1"),
                &[("1", None, Some("Gadget"), "2", "10.00")],
            );
            inv.lines[0].item_ids = ids;
            let out = three_way_match(&[inv], &orders, &receipts, &rules());
            assert_eq!(matched(&out.decisions[0])[0].order_line, 1, "{out:?}");
        }
        // The issue: "Widget" with an item id the order does not carry is not W-1 just because
        // quantity and price agree.
        let mut cn = invoice(
            "CN-1",
            "2026-03-04",
            Some("PO-1"),
            &[("1", None, Some("Widget"), "2", "10.00")],
        );
        cn.lines[0].item_ids.seller = Some("X-9".into());
        let out = three_way_match(&[cn], &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f[0].reason, BreakReason::NoPurchaseOrder, "{f:?}");
    }

    fn freight(amount: &str) -> crate::model::invoice::AllowanceCharge {
        crate::model::invoice::AllowanceCharge {
            amount: d(amount),
            base_amount: None,
            percentage: None,
            tax_category: Some("S".into()),
            tax_rate: Some(d("19")),
            reason: Some("Freight".into()),
            reason_code: Some("FC".into()),
            source: src("inv", 1),
        }
    }

    #[test]
    fn a_charge_the_order_does_not_agree_to_is_held_and_an_ordered_one_passes_once() {
        // The issue: 500.00 freight on an invoice against a 100.00 order.
        let mut orders = vec![po("PO-1", Some("1"), Some("W-1"), "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let mut inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        inv.charges.push(freight("500.00"));
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].reason, BreakReason::UnexpectedCharge);
        assert_eq!(f[0].found, Some(d("500.00")));
        assert!(
            f[0].message
                .contains("charge 1 (Freight) 500.00 EUR: purchase order PO-1 agrees to no charge"),
            "{}",
            f[0].message
        );

        // The order agrees to 500.00 freight (a charge row): it passes, and is used up.
        let mut row = po("PO-1", Some("2"), None, "1", "500.00");
        row.charge = Some("freight".into());
        orders.push(row);
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        let ApDecision::Approved { charges, .. } = &out.decisions[0] else {
            panic!("{:?}", out.decisions[0]);
        };
        assert_eq!(charges[0].order_line, 1);
        assert_eq!(charges[0].amount, d("500.00"));
        assert!(
            out.invoiced
                .iter()
                .any(|q| q.line.as_deref() == Some("2") && q.quantity == d("1"))
        );

        // Charged again by a later invoice, nothing is left of it.
        let mut again = invoice("INV-2", "2026-03-05", Some("PO-1"), &[]);
        again.charges.push(freight("500.00"));
        let later = three_way_match_after(&[again], &orders, &receipts, &out.invoiced, &rules());
        let f = findings(&later.decisions[0]);
        assert!(
            f.iter().any(|f| f.reason == BreakReason::UnexpectedCharge
                && f.message.contains("500.00 above the order")),
            "{f:?}"
        );

        // More than the order agrees to is held with the difference.
        let mut dear = inv.clone();
        dear.charges[0] = freight("520.00");
        let out = three_way_match(&[dear], &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(
            (f[0].reason, f[0].difference),
            (BreakReason::UnexpectedCharge, Some(d("20.00")))
        );
    }

    #[test]
    fn a_held_invoice_serialises_with_its_reason_and_decimals_as_text() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.06")],
        );
        let out = three_way_match(
            &[inv],
            &orders,
            &[],
            &ApRules {
                require_receipt: false,
                ..rules()
            },
        );
        let v = serde_json::to_value(&out).unwrap();
        let held = &v["decisions"][0];
        assert_eq!(held["decision"], "held");
        assert_eq!(held["findings"][0]["reason"], "price_difference");
        assert_eq!(held["findings"][0]["difference"], "0.06");
    }

    #[test]
    fn a_price_per_base_quantity_is_compared_per_unit() {
        let orders = [po("PO-1", Some("1"), None, "100", "0.50")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "100", "2026-03-01")];
        let mut inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "100", "50.00")],
        );
        inv.lines[0].base_quantity = Some(d("100"));
        let out = three_way_match(&[inv], &orders, &receipts, &rules());
        assert_eq!(matched(&out.decisions[0])[0].unit_price, d("0.5"));
    }

    #[test]
    fn invoicing_more_than_was_received_is_held_with_what_was_not_received() {
        let orders = [
            po("PO-1", Some("1"), None, "1", "3.00"),
            po("PO-1", Some("2"), None, "20", "10.00"),
        ];
        let receipts = [gr("GR-7", "PO-1", Some("2"), None, "10", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("2", Some("2"), None, "12", "10.00")],
        );
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].reason, BreakReason::QuantityDifference);
        assert_eq!(f[0].line.as_deref(), Some("2"));
        assert_eq!(
            (f[0].expected, f[0].found, f[0].difference),
            (Some(d("10")), Some(d("12")), Some(d("2")))
        );
        assert_eq!(
            f[0].message,
            "line 2: invoiced 12 at 10.00, received 10 (receipt GR-7): 2 not received"
        );

        // Within the quantity tolerance, or a two-way match, it passes.
        let lenient = ApRules {
            quantity_tolerance: d("2"),
            ..rules()
        };
        assert!(
            three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &lenient).decisions[0]
                .is_approved()
        );
        let two_way = ApRules {
            require_receipt: false,
            ..rules()
        };
        assert!(
            three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &two_way).decisions[0]
                .is_approved()
        );
        // Nothing received at all.
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &[], &rules());
        assert_eq!(
            findings(&out.decisions[0])[0].message,
            "line 2: invoiced 12 at 10.00, nothing received yet: 12 not received"
        );
    }

    #[test]
    fn invoicing_more_than_was_ordered_is_held_even_when_received() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "12", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "12", "10.00")],
        );
        let out = three_way_match(&[inv], &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].reason, BreakReason::QuantityDifference);
        assert_eq!(f[0].difference, Some(d("2")));
        assert!(
            f[0].message.ends_with("2 more than ordered"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn partial_deliveries_are_invoiced_by_several_invoices() {
        let orders = [po("PO-1", Some("1"), None, "20", "10.00")];
        let first_delivery = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let both = [
            first_delivery[0].clone(),
            gr("GR-2", "PO-1", Some("1"), None, "10", "2026-03-10"),
        ];
        let a = invoice(
            "INV-A",
            "2026-03-02",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        let b = invoice(
            "INV-B",
            "2026-03-11",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        let c = invoice(
            "INV-C",
            "2026-03-12",
            Some("PO-1"),
            &[("1", Some("1"), None, "1", "10.00")],
        );

        // Both deliveries in: A and B each invoice one, C is one too many (ordered 20).
        let out = three_way_match(&[c.clone(), b.clone(), a.clone()], &orders, &both, &rules());
        assert!(out.decision(2).unwrap().is_approved());
        assert!(out.decision(1).unwrap().is_approved());
        let f = findings(out.decision(0).unwrap());
        assert_eq!(f.len(), 2, "over ordered and over received: {f:?}");
        assert!(
            f.iter().all(
                |f| f.reason == BreakReason::QuantityDifference && f.difference == Some(d("1"))
            )
        );
        assert_eq!(
            f[1].message,
            "line 1: invoiced 1 at 10.00, received 20 (receipts GR-1, GR-2), 20 already invoiced: 1 not received"
        );

        // Only the first delivery in: B waits for the second.
        let out = three_way_match(&[a.clone(), b.clone()], &orders, &first_delivery, &rules());
        assert!(out.decisions[0].is_approved());
        let f = findings(&out.decisions[1]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].expected, Some(d("0")));
        assert_eq!(
            f[0].message,
            "line 1: invoiced 10 at 10.00, received 10 (receipt GR-1), 10 already invoiced: 10 not received"
        );

        // The same in two runs: what run one invoiced is passed to run two.
        let run1 = three_way_match(std::slice::from_ref(&a), &orders, &first_delivery, &rules());
        let run2 = three_way_match_after(
            std::slice::from_ref(&b),
            &orders,
            &first_delivery,
            &run1.invoiced,
            &rules(),
        );
        assert!(!run2.decisions[0].is_approved());
        let run2 = three_way_match_after(
            std::slice::from_ref(&b),
            &orders,
            &both,
            &run1.invoiced,
            &rules(),
        );
        assert!(run2.decisions[0].is_approved());
        // Without the history the second run would approve B against the first delivery.
        assert!(
            three_way_match(std::slice::from_ref(&b), &orders, &first_delivery, &rules()).decisions
                [0]
            .is_approved()
        );
    }

    #[test]
    fn an_invoice_without_a_known_purchase_order_is_held() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let line: L<'_> = ("1", Some("1"), None, "10", "10.00");
        // (order reference, approved, text in the message)
        let cases = [
            (None, false, "quotes no purchase order"),
            (Some("  "), false, "quotes no purchase order"),
            (
                Some("PO-9"),
                false,
                "purchase order PO-9, which is not among",
            ),
            (Some(" po-1 "), true, ""),
        ];
        for (reference, approved, text) in cases {
            let inv = invoice("INV-1", "2026-03-03", reference, &[line]);
            let out = three_way_match(&[inv], &orders, &receipts, &rules());
            assert_eq!(out.decisions[0].is_approved(), approved, "{reference:?}");
            if !approved {
                let f = findings(&out.decisions[0]);
                assert_eq!(f.len(), 1);
                assert_eq!(
                    (f[0].reason, f[0].line.as_deref()),
                    (BreakReason::NoPurchaseOrder, None)
                );
                assert!(f[0].message.contains(text), "{}", f[0].message);
            }
        }
    }

    #[test]
    fn an_invoice_from_another_supplier_than_the_order_is_held() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let line: L<'_> = ("1", Some("1"), None, "10", "10.00");
        // (supplier name, VAT id, order's supplier, approved)
        let cases = [
            (Some("Other Ltd"), Some("GB999"), Some("Acme GmbH"), false),
            (None, None, Some("Acme GmbH"), false),
            (Some("ACME  gmbh"), None, Some("Acme GmbH"), true),
            (
                Some("Acme Trading"),
                Some("DE 123456789"),
                Some("DE123456789"),
                true,
            ),
            (Some("Other Ltd"), None, None, true),
        ];
        for (name, vat, ordered_from, approved) in cases {
            let mut inv = invoice("INV-1", "2026-03-03", Some("PO-1"), &[line]);
            inv.supplier.name = name.map(Into::into);
            inv.supplier.vat_id = vat.map(Into::into);
            let mut orders = orders.clone();
            orders[0].supplier = ordered_from.map(Into::into);
            let out = three_way_match(&[inv], &orders, &receipts, &rules());
            assert_eq!(
                out.decisions[0].is_approved(),
                approved,
                "{name:?} {vat:?} {ordered_from:?}"
            );
            if !approved {
                let f = findings(&out.decisions[0]);
                assert_eq!(f.len(), 1);
                assert_eq!(f[0].reason, BreakReason::UnknownSupplier);
                assert!(
                    f[0].message
                        .starts_with("purchase order PO-1 was placed with Acme GmbH"),
                    "{}",
                    f[0].message
                );
            }
        }
        // An order placed under the trading name: the invoice gives the legal name, the
        // trading name beside it.
        let mut inv = invoice("INV-1", "2026-03-03", Some("PO-1"), &[line]);
        inv.supplier.name = Some("Acme Handelsgesellschaft mbH".into());
        inv.supplier.trading_name = Some("Acme".into());
        inv.supplier.vat_id = None;
        let mut orders = orders.clone();
        orders[0].supplier = Some("ACME".into());
        let out = three_way_match(&[inv], &orders, &receipts, &rules());
        assert!(out.decisions[0].is_approved());
    }

    #[test]
    fn a_credit_note_quoting_only_its_invoice_takes_that_invoices_order() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-02",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        let mut cn = credit(invoice(
            "CN-1",
            "2026-03-03",
            None,
            &[("1", Some("1"), None, "4", "10.00")],
        ));
        cn.preceding_invoice = Some(" inv-1 ".into());
        // Another supplier's invoice of the same number is not the one credited.
        let mut stranger = inv.clone();
        stranger.supplier.vat_id = Some("FR00999999999".into());
        stranger.order_reference = Some("PO-9".into());

        let mut pending = vec![cn.clone()];
        assert_eq!(
            orders_of_credited_invoices(&mut pending, &[stranger.clone(), inv.clone()]),
            1
        );
        assert_eq!(pending[0].order_reference.as_deref(), Some("PO-1"));
        let out = three_way_match(
            &[inv.clone(), pending[0].clone()],
            &orders,
            &receipts,
            &rules(),
        );
        assert!(
            out.decisions.iter().all(ApDecision::is_approved),
            "{:?}",
            out.decisions
        );
        assert_eq!(matched(&out.decisions[1])[0].quantity, d("-4"));

        // Citing an invoice clerk has not seen (or none): still no purchase order, for a
        // person to find.
        let mut alone = vec![cn.clone()];
        assert_eq!(orders_of_credited_invoices(&mut alone, &[stranger]), 0);
        assert_eq!(alone[0].order_reference, None);
        // A credit note that quotes its own order keeps it.
        let mut own = credit(invoice(
            "CN-2",
            "2026-03-03",
            Some("PO-7"),
            &[("1", Some("1"), None, "1", "10.00")],
        ));
        own.preceding_invoice = Some("INV-1".into());
        let mut pending = vec![own];
        assert_eq!(orders_of_credited_invoices(&mut pending, &[inv]), 0);
        assert_eq!(pending[0].order_reference.as_deref(), Some("PO-7"));
    }

    #[test]
    fn a_credit_note_gives_back_invoiced_quantity_but_goods_are_invoiced_once() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-02",
            Some("PO-1"),
            &[("1", Some("1"), None, "10", "10.00")],
        );
        let cn = credit(invoice(
            "CN-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "4", "10.00")],
        ));
        let again = invoice(
            "INV-2",
            "2026-03-04",
            Some("PO-1"),
            &[("1", Some("1"), None, "4", "10.00")],
        );
        // No goods went back: the credit note lowers the price (it clears nothing of GR/IR),
        // and the 10 received are invoiced already, so INV-2 for 4 of them is held.
        let all = [again.clone(), cn.clone(), inv.clone()];
        let out = three_way_match(&all, &orders, &receipts, &rules());
        assert!(out.decisions[2].is_approved() && out.decisions[1].is_approved());
        assert_eq!(matched(&out.decisions[1])[0].quantity, d("-4"));
        assert_eq!(matched(&out.decisions[1])[0].cleared, Some(d("0")));
        let f = findings(&out.decisions[0]);
        assert_eq!(
            (f[0].reason, f[0].difference),
            (BreakReason::QuantityDifference, Some(d("4")))
        );
        assert!(
            f[0].message.contains("already invoiced") && f[0].message.contains("4 credited"),
            "{}",
            f[0].message
        );
        // Kept and read back in a later run, the same.
        let before = three_way_match(&[inv.clone(), cn.clone()], &orders, &receipts, &rules());
        let later = three_way_match_after(
            std::slice::from_ref(&again),
            &orders,
            &receipts,
            &before.invoiced,
            &rules(),
        );
        assert!(!later.decisions[0].is_approved());

        // 4 sent back (a return receipt) and 4 delivered anew: the credit note credits the
        // return (clearing GR/IR) and INV-2 invoices the new delivery.
        let returned = [
            receipts[0].clone(),
            gr("GR-R", "PO-1", Some("1"), None, "-4", "2026-03-02"),
            gr("GR-3", "PO-1", Some("1"), None, "4", "2026-03-04"),
        ];
        let out = three_way_match(&all, &orders, &returned, &rules());
        assert!(
            out.decisions.iter().all(ApDecision::is_approved),
            "{:?}",
            out.decisions
        );
        assert_eq!(matched(&out.decisions[1])[0].cleared, Some(d("4")));
        assert_eq!(matched(&out.decisions[0])[0].cleared, Some(d("4")));
        let net: Decimal = out.invoiced.iter().map(|q| q.quantity).sum();
        assert_eq!(net, d("10"));
        // Sent back and not delivered again: nothing to invoice.
        let first = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        let out = three_way_match_after(
            &[again.clone(), cn.clone()],
            &orders,
            &returned[..2],
            &first.invoiced,
            &rules(),
        );
        assert!(out.decisions[1].is_approved() && !out.decisions[0].is_approved());

        // Without the credit note, INV-2 would be over the received quantity.
        let out = three_way_match(&[again, inv.clone()], &orders, &receipts, &rules());
        assert!(!out.decisions[0].is_approved());

        // A credit note cannot give back more than was invoiced.
        let too_much = credit(invoice(
            "CN-2",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "12", "10.00")],
        ));
        let out = three_way_match(&[inv, too_much], &orders, &receipts, &rules());
        let f = findings(&out.decisions[1]);
        assert_eq!(
            (f[0].reason, f[0].difference),
            (BreakReason::QuantityDifference, Some(d("2")))
        );
        assert!(
            f[0].message.contains("only 10 invoiced so far"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn lines_pair_by_item_then_by_price_and_quantity_when_numbers_are_absent() {
        let orders = [
            po("PO-1", None, Some("Blue Widget"), "5", "2.00"),
            po("PO-1", None, Some("Red Widget"), "5", "3.00"),
            po("PO-1", None, None, "1", "99.00"),
        ];
        let receipts = [
            gr("GR-1", "PO-1", None, Some("red widget"), "5", "2026-03-01"),
            gr("GR-2", "PO-1", None, Some("BLUE WIDGET"), "5", "2026-03-01"),
            gr("GR-3", "PO-1", None, None, "1", "2026-03-01"),
        ];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[
                ("1", None, Some(" RED widget"), "5", "3.00"),
                ("2", None, Some("Freight"), "1", "99.00"),
                ("3", None, Some("blue  widget"), "5", "2.00"),
            ],
        );
        // GR-3 names neither line nor item and the order has three lines: it cannot be placed,
        // so the freight line has nothing received.
        let out = three_way_match(std::slice::from_ref(&inv), &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].line.as_deref(), Some("2"));
        assert_eq!(
            f[0].message,
            "line 2: invoiced 1 at 99.00, nothing received yet: 1 not received \
             (receipt GR-3 against PO-1 names no line or item of the order and was not counted)"
        );
        let two_way = ApRules {
            require_receipt: false,
            ..rules()
        };
        let out = three_way_match(&[inv], &orders, &receipts, &two_way);
        let pairs: Vec<(usize, usize)> = matched(&out.decisions[0])
            .iter()
            .map(|m| (m.invoice_line, m.order_line))
            .collect();
        assert_eq!(pairs, vec![(0, 1), (1, 2), (2, 0)]);
        assert_eq!(matched(&out.decisions[0])[0].receipts, vec![0]);
    }

    #[test]
    fn line_numbers_compare_without_leading_zeros_and_each_order_line_is_used_once() {
        let orders = [po("PO-1", Some("001"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let inv = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[
                ("1", Some("1"), None, "5", "10.00"),
                ("2", Some("01"), None, "5", "10.00"),
            ],
        );
        let out = three_way_match(&[inv], &orders, &receipts, &rules());
        let f = findings(&out.decisions[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].reason, f[0].line.as_deref()),
            (BreakReason::NoPurchaseOrder, Some("2"))
        );
    }

    #[test]
    fn the_same_invoice_twice_is_held_as_a_duplicate() {
        let orders = [po("PO-1", Some("1"), None, "10", "10.00")];
        let receipts = [gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01")];
        let a = invoice(
            "INV-1",
            "2026-03-03",
            Some("PO-1"),
            &[("1", Some("1"), None, "5", "10.00")],
        );
        let mut b = a.clone();
        b.number = " inv-1".into();
        b.source = src("resent", 1);
        let out = three_way_match(&[b, a], &orders, &receipts, &rules());
        assert!(out.decisions[1].is_approved());
        let f = findings(&out.decisions[0]);
        assert_eq!(f[0].reason, BreakReason::Duplicate);
        assert!(f[0].message.contains("arrived twice"), "{}", f[0].message);
        assert_eq!(out.invoiced.len(), 1, "the duplicate used up nothing");
    }

    /// Every ordering of `items`.
    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut p in permutations(&rest) {
                p.insert(0, first.clone());
                out.push(p);
            }
        }
        out
    }

    /// The outcome in terms of the documents rather than of slice positions.
    fn described(
        out: &ApOutcome,
        invoices: &[Invoice],
        orders: &[PurchaseOrderLine],
        receipts: &[GoodsReceipt],
    ) -> Vec<String> {
        let mut v: Vec<String> = out
            .decisions
            .iter()
            .map(|dec| {
                let number = &invoices[dec.invoice()].number;
                match dec {
                    ApDecision::Approved {
                        lines, explanation, ..
                    } => {
                        let lines: Vec<String> = lines
                            .iter()
                            .map(|m| {
                                let ids: Vec<&str> = m
                                    .receipts
                                    .iter()
                                    .map(|&r| receipts[r].receipt_id.as_str())
                                    .collect();
                                format!(
                                    "{}>{:?}{:?} {} {ids:?}",
                                    m.invoice_line,
                                    orders[m.order_line].line,
                                    orders[m.order_line].item,
                                    m.quantity
                                )
                            })
                            .collect();
                        format!("{number} approved {lines:?} {explanation}")
                    }
                    ApDecision::Held { findings, .. } => format!("{number} held {findings:?}"),
                }
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_outcome_does_not_depend_on_the_order_of_the_inputs() {
        let orders = vec![
            po("PO-1", Some("1"), None, "20", "10.00"),
            po("PO-1", None, Some("Bolt"), "100", "0.10"),
            po("PO-2", Some("1"), None, "5", "4.00"),
        ];
        let receipts = vec![
            gr("GR-1", "PO-1", Some("1"), None, "10", "2026-03-01"),
            gr("GR-2", "PO-1", None, Some("bolt"), "60", "2026-03-01"),
            gr("GR-3", "PO-2", None, None, "5", "2026-03-02"),
            gr("GR-4", "PO-1", Some("1"), None, "5", "2026-03-04"),
        ];
        // INV-A and INV-B compete for the same received goods on the same day.
        let invoices = vec![
            invoice(
                "INV-A",
                "2026-03-05",
                Some("PO-1"),
                &[
                    ("1", Some("1"), None, "10", "10.00"),
                    ("2", None, Some("Bolt"), "60", "0.10"),
                ],
            ),
            invoice(
                "INV-B",
                "2026-03-05",
                Some("PO-1"),
                &[("1", Some("1"), None, "10", "10.00")],
            ),
            invoice(
                "INV-C",
                "2026-03-06",
                Some("PO-2"),
                &[("1", None, None, "5", "4.00")],
            ),
            credit(invoice(
                "CN-1",
                "2026-03-05",
                Some("PO-1"),
                &[("1", Some("1"), None, "5", "10.00")],
            )),
            invoice(
                "INV-D",
                "2026-03-07",
                Some("PO-1"),
                &[("1", Some("1"), None, "10", "10.00")],
            ),
        ];
        let expected = described(
            &three_way_match(&invoices, &orders, &receipts, &rules()),
            &invoices,
            &orders,
            &receipts,
        );
        assert!(
            expected.iter().any(|d| d.contains(" held ")),
            "{expected:#?}"
        );
        assert!(
            expected.iter().any(|d| d.contains(" approved ")),
            "{expected:#?}"
        );
        let mut o_rev = orders.clone();
        o_rev.reverse();
        let mut r_rev = receipts.clone();
        r_rev.reverse();
        for (n, inv) in permutations(&invoices).iter().enumerate() {
            let (o, r) = if n % 2 == 0 {
                (&orders, &receipts)
            } else {
                (&o_rev, &r_rev)
            };
            let out = three_way_match(inv, o, r, &rules());
            assert_eq!(described(&out, inv, o, r), expected, "permutation {n}");
        }
    }
}
