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

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::model::BreakReason;
use crate::model::invoice::{Invoice, InvoiceKind, InvoiceLine};
use crate::model::payables::{
    GoodsReceipt, InvoicedQuantity, PurchaseOrderLine, compact, invoice_identity, supplier_label,
};

/// The tolerances of a job's three-way match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApRules {
    /// How many units an invoiced quantity may exceed what was ordered or received.
    pub quantity_tolerance: Decimal,
    /// How far an invoiced unit price may differ from the ordered one, in money.
    pub price_tolerance_abs: Decimal,
    /// How far an invoiced unit price may differ, as a fraction of the ordered price (0.02 is
    /// 2 %). A price passes when it is within either tolerance.
    pub price_tolerance_rel: Decimal,
    /// Three-way (true) or two-way match: whether invoiced quantities must have been received.
    pub require_receipt: bool,
}

/// One reason an invoice is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub reason: BreakReason,
    /// The invoice line (its id, else its 1-based position); `None` for the whole invoice.
    pub line: Option<String>,
    /// What the purchase order or receipts allow (price, or quantity still open).
    pub expected: Option<Decimal>,
    /// What the invoice says.
    pub found: Option<Decimal>,
    /// How far beyond: invoiced price less ordered price, or the quantity too many.
    pub difference: Option<Decimal>,
    pub message: String,
}

/// An invoice line paired with its purchase order line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedLine {
    /// Index into the invoice's `lines`.
    pub invoice_line: usize,
    /// Index into the `orders` slice.
    pub order_line: usize,
    /// Indexes into the `receipts` slice: every receipt booked against the order line.
    pub receipts: Vec<usize>,
    /// Quantity this line invoices: negative for a credit note.
    pub quantity: Decimal,
    /// Unit price as invoiced (per one unit).
    pub unit_price: Decimal,
}

/// What the match decided for one invoice. `invoice` indexes the `invoices` slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApDecision {
    Approved {
        invoice: usize,
        /// The purchase order as written on the order lines.
        purchase_order: String,
        lines: Vec<MatchedLine>,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
            Ok((purchase_order, lines, explanation)) => {
                for m in &lines {
                    book.invoiced[m.order_line] += m.quantity;
                    let o = &orders[m.order_line];
                    invoiced.push(InvoicedQuantity {
                        po_number: o.po_number.clone(),
                        line: o.line.clone(),
                        item: o.item.clone(),
                        quantity: m.quantity,
                    });
                }
                ApDecision::Approved {
                    invoice: i,
                    purchase_order,
                    lines,
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
    /// Per order line: received quantity and the receipts behind it (in receipt order).
    received: Vec<Decimal>,
    receipts_of: Vec<Vec<usize>>,
    /// Per order line: quantity invoiced so far (earlier runs, then approved in this one).
    invoiced: Vec<Decimal>,
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
        for lines in by_po.values_mut() {
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
            received: vec![Decimal::ZERO; orders.len()],
            receipts_of: vec![Vec::new(); orders.len()],
            invoiced: vec![Decimal::ZERO; orders.len()],
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
                book.receipts_of[o].push(r);
            }
        }
        for q in already_invoiced {
            if let Some(o) = book.locate(&q.po_number, q.line.as_deref(), q.item.as_deref()) {
                book.invoiced[o] += q.quantity;
            }
        }
        book
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

type Approval = (String, Vec<MatchedLine>, String);

fn check_invoice(
    inv: &Invoice,
    book: &OrderBook<'_>,
    rules: &ApRules,
) -> Result<Approval, Vec<Finding>> {
    let whole = |reason, message: String| Finding {
        reason,
        line: None,
        expected: None,
        found: None,
        difference: None,
        message,
    };
    let Some(po) = inv
        .order_reference
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Err(vec![whole(
            BreakReason::NoPurchaseOrder,
            format!(
                "invoice {} quotes no purchase order: find the order and ask the supplier to quote it",
                inv.number
            ),
        )]);
    };
    let Some(order_lines) = book.by_po.get(&compact(po)) else {
        return Err(vec![whole(
            BreakReason::NoPurchaseOrder,
            format!(
                "invoice {} quotes purchase order {po}, which is not among the purchase orders",
                inv.number
            ),
        )]);
    };
    let orders = book.orders;
    let mut findings = Vec::new();

    // The order names its supplier by name or VAT id; either of the invoice's will do.
    let ordered_from: BTreeSet<String> = order_lines
        .iter()
        .filter_map(|&o| orders[o].supplier.as_deref())
        .map(compact)
        .filter(|s| !s.is_empty())
        .collect();
    if !ordered_from.is_empty() {
        let invoiced_by = [&inv.supplier.name, &inv.supplier.vat_id];
        let known = invoiced_by
            .iter()
            .filter_map(|s| s.as_deref())
            .any(|s| ordered_from.contains(&compact(s)));
        if !known {
            let on_order = order_lines
                .iter()
                .find_map(|&o| orders[o].supplier.clone())
                .unwrap_or_default();
            findings.push(whole(
                BreakReason::UnknownSupplier,
                format!(
                    "purchase order {po} was placed with {on_order}, the invoice is from {}",
                    supplier_label(inv).unwrap_or_else(|| "a supplier it does not name".into())
                ),
            ));
        }
    }
    if inv.lines.is_empty() {
        findings.push(whole(
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
        let label = line_label(line, n);
        let mut at = |reason, expected, found, difference, message: String| {
            findings.push(Finding {
                reason,
                line: Some(label.clone()),
                expected,
                found,
                difference,
                message: format!("line {label}: {message}"),
            });
        };
        let Some(o) = *pair else {
            at(
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
        let order = &orders[o];
        let order_label = order
            .line
            .clone()
            .or_else(|| order.item.clone())
            .unwrap_or_else(|| "?".into());
        if order.currency != inv.currency {
            at(
                BreakReason::PriceDifference,
                None,
                None,
                None,
                format!(
                    "ordered in {}, invoiced in {}",
                    order.currency, inv.currency
                ),
            );
            continue;
        }
        let Some(price) = unit_price(line) else {
            at(
                BreakReason::PriceDifference,
                Some(order.unit_price),
                None,
                None,
                format!(
                    "gives no unit price to check against the ordered {}",
                    order.unit_price
                ),
            );
            continue;
        };
        let Some(quantity) = line.quantity else {
            at(
                BreakReason::QuantityDifference,
                None,
                None,
                None,
                "gives no quantity to check against the purchase order and receipts".into(),
            );
            continue;
        };
        let price_gap = price - order.unit_price;
        let allowed = rules
            .price_tolerance_abs
            .max(rules.price_tolerance_rel * order.unit_price.abs());
        if price_gap.abs() > allowed {
            at(
                BreakReason::PriceDifference,
                Some(order.unit_price),
                Some(price),
                Some(price_gap),
                format!(
                    "invoiced at {price}, ordered at {} (PO line {order_label}): {} {} the price (tolerance {allowed})",
                    order.unit_price,
                    price_gap.abs(),
                    if price_gap.is_sign_positive() {
                        "over"
                    } else {
                        "under"
                    },
                ),
            );
        }

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
        if credit {
            // A credit note gives back what was invoiced; it cannot give back more.
            let over = quantity - before;
            if over > rules.quantity_tolerance {
                at(
                    BreakReason::QuantityDifference,
                    Some(before),
                    Some(quantity),
                    Some(over),
                    format!(
                        "credits {quantity} at {price}, only {before} invoiced so far on PO line {order_label}: {over} more than invoiced"
                    ),
                );
            }
        } else {
            let total = before + quantity;
            let over_ordered = total - order.quantity;
            if over_ordered > rules.quantity_tolerance {
                at(
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
            let not_received = total - book.received[o];
            if rules.require_receipt && not_received > rules.quantity_tolerance {
                at(
                    BreakReason::QuantityDifference,
                    Some(book.received[o] - before),
                    Some(quantity),
                    Some(not_received),
                    format!(
                        "invoiced {quantity} at {price}, {received_text}{already}: {not_received} not received"
                    ),
                );
            }
        }
        let signed = if credit { -quantity } else { quantity };
        explained.push(format!(
            "line {label} → PO line {order_label}: {} {quantity} at {price}, {received_text}{already}",
            if credit { "credited" } else { "invoiced" }
        ));
        matched.push(MatchedLine {
            invoice_line: n,
            order_line: o,
            receipts: receipts.clone(),
            quantity: signed,
            unit_price: price,
        });
    }
    if findings.is_empty() {
        let purchase_order = orders[order_lines[0]].po_number.clone();
        let explanation = format!(
            "{} {} matches purchase order {purchase_order}: {}",
            if credit { "credit note" } else { "invoice" },
            inv.number,
            explained.join("; ")
        );
        Ok((purchase_order, matched, explanation))
    } else {
        Err(findings)
    }
}

/// Pairs each invoice line with an unused line of the order: by order line number, then by
/// item, then by unit price and quantity. Each pass goes through the invoice's lines in their
/// order and the order's lines in their fixed order, so the pairing is the same every time.
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
    pass(
        &|l, o| match (&l.description, &o.item) {
            (Some(a), Some(b)) => !compact(a).is_empty() && compact(a) == compact(b),
            _ => false,
        },
        &mut pairs,
    );
    pass(
        &|l, o| unit_price(l) == Some(o.unit_price) && l.quantity == Some(o.quantity),
        &mut pairs,
    );
    pairs
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
