//! The summary's open GR/IR: goods received and not yet invoiced, per currency (how many
//! order lines, how much at the order's price, since when), as `clerk payables grir` totals
//! them. A receipt long without its invoice is an invoice lost, or goods never billed.

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{H3, grouped, html_table, text_table};
use crate::model::Currency;

/// The open GR/IR in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrirLine {
    pub currency: Currency,
    /// Order lines with goods received and not (all) invoiced.
    pub order_lines: usize,
    /// What they are worth at the order's prices: the GR/IR credit still open.
    pub open: Decimal,
    /// The oldest of their receipts.
    pub oldest: NaiveDate,
    /// That oldest line, as staff find it ("Stuhlwerk GmbH PO-2001 line 1").
    pub oldest_line: String,
}

const HEAD: [&str; 5] = [
    "Currency",
    "Order lines",
    "Open GR/IR",
    "Oldest receipt",
    "Oldest line",
];
const RIGHT: [usize; 2] = [1, 2];

fn rows(lines: &[GrirLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            vec![
                l.currency.to_string(),
                l.order_lines.to_string(),
                grouped(l.open, Some(l.currency)),
                l.oldest.format("%Y-%m-%d").to_string(),
                l.oldest_line.clone(),
            ]
        })
        .collect()
}

const TITLE: &str = "Goods received, not yet invoiced (open GR/IR)";

/// The section in the text body; empty when GR/IR is clear.
pub(super) fn text(lines: &[GrirLine]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut t = format!("\n{TITLE}\n\n");
    t.push_str(&text_table(&HEAD, &rows(lines), &RIGHT));
    t
}

/// The section in the HTML body.
pub(super) fn html(h: &mut String, lines: &[GrirLine]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h3 style=\"{H3}\">{TITLE}</h3>");
    html_table(h, &HEAD, &rows(lines), &RIGHT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_grir_is_listed_per_currency_and_nothing_when_clear() {
        let line = GrirLine {
            currency: "EUR".parse().unwrap(),
            order_lines: 1,
            open: "894.00".parse().unwrap(),
            oldest: "2026-11-20".parse().unwrap(),
            oldest_line: "Stuhlwerk GmbH PO-2001 line 1".into(),
        };
        let t = text(std::slice::from_ref(&line));
        assert!(
            t.contains(TITLE) && t.contains("894.00") && t.contains("2026-11-20"),
            "{t}"
        );
        assert!(t.contains("PO-2001 line 1"), "{t}");
        let mut h = String::new();
        html(&mut h, &[line]);
        assert!(h.contains("open GR/IR") && h.contains("894.00"), "{h}");
        assert!(text(&[]).is_empty());
    }
}
