//! Supplier invoices as a CSV or XLSX export (an ERP's or a scanning service's invoice list):
//! one row per invoice line, the invoice's own fields repeated on each of its rows. The job
//! maps its column names onto these fields. Rows are grouped by invoice number, in the order
//! the file has them; the VAT breakdown is worked out per rate from the lines.
//!
//! A stated total that does not agree with the lines and their VAT is kept as stated: the
//! invoice then fails the same arithmetic check a UBL invoice would, and becomes a break.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use super::rows::{CellStyle, Wanted, read_table};
use super::{ExtractError, Input, Problem};
use crate::model::invoice::{CashDiscount, Invoice, InvoiceKind, InvoiceLine, Party, TaxBreakdown};
use crate::model::{Currency, MAX_INTEGER_DIGITS, Source, within_magnitude};

/// The fields of an invoice file: (key, required).
pub const INVOICE_FIELDS: &[(&str, bool)] = &[
    ("invoice_number", true),
    ("issue_date", true),
    ("supplier", true),
    ("currency", true),
    ("quantity", true),
    ("unit_price", true),
    ("vat_rate", true),
    ("po_number", false),
    ("line", false),
    ("order_line", false),
    ("description", false),
    ("net_amount", false),
    ("supplier_vat_id", false),
    ("supplier_iban", false),
    ("due_date", false),
    ("payment_reference", false),
    ("total", false),
    ("vat_amount", false),
    ("tax_category", false),
    ("discount_percent", false),
    ("discount_days", false),
];

/// One row as read, before its invoice is put together.
struct Row {
    number: String,
    issue_date: NaiveDate,
    supplier: String,
    currency: Currency,
    quantity: Decimal,
    unit_price: Decimal,
    vat_rate: Decimal,
    net_amount: Decimal,
    po_number: Option<String>,
    line: Option<String>,
    order_line: Option<String>,
    description: Option<String>,
    supplier_vat_id: Option<String>,
    supplier_iban: Option<String>,
    due_date: Option<NaiveDate>,
    payment_reference: Option<String>,
    total: Option<Decimal>,
    /// The VAT the invoice shows for this line, when the list carries it: what is deducted.
    vat_amount: Option<Decimal>,
    /// UNCL 5305 (`S`, `AE`, `E`, …); `S`, or `Z` at 0 %, when the list does not say.
    tax_category: String,
    discount_percent: Option<Decimal>,
    discount_days: Option<u32>,
    source: Source,
}

pub fn invoices(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<Invoice>, ExtractError> {
    let rows = read_table(input, columns)?;
    let file = rows.file.clone();
    let read = rows.map(style, |r, s| {
        let number = r.text("invoice_number");
        let issue_date = r.date("issue_date", s);
        let supplier = r.text("supplier");
        let currency = r.currency("currency");
        let quantity = r.decimal("quantity", s);
        let unit_price = r.decimal("unit_price", s);
        let vat_rate = r.decimal("vat_rate", s);
        let stated_net = r.decimal("net_amount", s);
        if !r.positive(
            "quantity",
            quantity,
            "quantity (a credit is a credit note, not a negative line)",
        ) || !r.not_negative("unit_price", unit_price, "a price")
        {
            return None;
        }
        if let Some(v) = vat_rate
            && (v.is_sign_negative() || v > Decimal::ONE_HUNDRED)
        {
            r.refuse(
                "vat_rate",
                format!("expected a VAT rate in percent (0 to 100), found {v}"),
            );
            return None;
        }
        let (quantity, unit_price) = (quantity?, unit_price?);
        // Each is within the magnitude clerk reads; their product need not be.
        let Some(computed) = quantity
            .checked_mul(unit_price)
            .filter(|n| within_magnitude(*n))
            .map(|n| n.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
        else {
            r.refuse(
                "quantity",
                format!(
                    "{quantity} × {unit_price} is too large: a line's net amount may have at most {MAX_INTEGER_DIGITS} digits before the decimal point"
                ),
            );
            return None;
        };
        // A line's net amount is quantity times price, rounded to the cent: a row that says
        // otherwise was keyed or exported wrongly, and staff must see which.
        if let Some(net) = stated_net
            && net != computed
        {
            r.refuse(
                "net_amount",
                format!("expected {quantity} × {unit_price} = {computed}, found {net}"),
            );
            return None;
        }
        let vat_amount = r.decimal("vat_amount", s);
        let discount_percent = r.decimal("discount_percent", s);
        let discount_days = r.decimal("discount_days", s);
        if !r.not_negative("vat_amount", vat_amount, "a VAT amount (a credit is a credit note)")
            || !r.not_negative("discount_percent", discount_percent, "a discount percentage")
        {
            return None;
        }
        let discount_days = match discount_days {
            Some(n) if n.fract().is_zero() && !n.is_sign_negative() => {
                u32::try_from(n.mantissa() / 10i128.pow(n.scale())).ok()
            }
            Some(n) => {
                r.refuse(
                    "discount_days",
                    format!("expected a whole number of days, found {n}"),
                );
                return None;
            }
            None => None,
        };
        let tax_category = match r.text("tax_category") {
            Some(c) => c.trim().to_ascii_uppercase(),
            None if vat_rate.is_some_and(|v| v.is_zero()) => "Z".to_owned(),
            None => "S".to_owned(),
        };
        Some(Row {
            number: number?,
            issue_date: issue_date?,
            supplier: supplier?,
            currency: currency?,
            quantity,
            unit_price,
            vat_rate: vat_rate?,
            net_amount: computed,
            po_number: r.text("po_number"),
            line: r.text("line"),
            order_line: r.text("order_line"),
            description: r.text("description"),
            supplier_vat_id: r.text("supplier_vat_id"),
            supplier_iban: r.text("supplier_iban"),
            due_date: r.date("due_date", s),
            payment_reference: r.text("payment_reference"),
            total: r.decimal("total", s),
            vat_amount,
            tax_category,
            discount_percent,
            discount_days,
            source: r.source(input),
        })
    })?;

    // Group by invoice number, first appearance first.
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in read {
        if !groups.contains_key(&row.number) {
            order.push(row.number.clone());
        }
        groups.entry(row.number.clone()).or_default().push(row);
    }
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(order.len());
    for number in order {
        let rows = groups.remove(&number).unwrap_or_default();
        match invoice(&number, rows) {
            Ok(inv) => out.push(inv),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ExtractError::new(&file, problems))
    }
}

/// One invoice from its rows; the first row whose invoice fields disagree with the first row's
/// is the problem.
fn invoice(number: &str, rows: Vec<Row>) -> Result<Invoice, Problem> {
    let first = &rows[0];
    for r in &rows[1..] {
        let differs = [
            ("issue_date", r.issue_date != first.issue_date),
            ("supplier", r.supplier != first.supplier),
            ("currency", r.currency != first.currency),
            ("po_number", r.po_number != first.po_number),
            ("total", r.total != first.total),
            (
                "discount_percent",
                r.discount_percent != first.discount_percent,
            ),
            ("discount_days", r.discount_days != first.discount_days),
            (
                "vat_amount",
                r.vat_amount.is_some() != first.vat_amount.is_some(),
            ),
        ]
        .into_iter()
        .find(|(_, d)| *d);
        if let Some((field, _)) = differs {
            return Err(Problem {
                sheet: r.source.sheet.as_deref().map(str::to_owned),
                row: Some(r.source.row),
                column: Some(field.to_owned()),
                message: if field == "vat_amount" {
                    format!(
                        "invoice {number}: vat_amount is given on some lines and not on others (first line: line {}); every line of an invoice shows its VAT, or none does",
                        first.source.row
                    )
                } else {
                    format!(
                        "invoice {number}: {field} differs from its first line (line {}); every line of an invoice must repeat the same {field}",
                        first.source.row
                    )
                },
            });
        }
    }
    if first.discount_percent.is_some() != first.discount_days.is_some() {
        let (column, other) = if first.discount_percent.is_some() {
            ("discount_days", "discount_percent")
        } else {
            ("discount_percent", "discount_days")
        };
        return Err(Problem {
            sheet: first.source.sheet.as_deref().map(str::to_owned),
            row: Some(first.source.row),
            column: Some(column.to_owned()),
            message: format!(
                "invoice {number}: a cash discount needs both discount_percent and discount_days; {other} is given, {column} is empty"
            ),
        });
    }
    // The VAT breakdown per category and rate: the VAT the lines show, added up, when the
    // list carries it (that is what the invoice lets the buyer deduct; posting refuses it when
    // it is more than a cent off the rate applied to the base); else worked out, rounded once
    // per rate as EN 16931 does.
    let mut by_rate: BTreeMap<(String, Decimal), (Decimal, Option<Decimal>)> = BTreeMap::new();
    for r in &rows {
        let (taxable, shown) = by_rate
            .entry((r.tax_category.clone(), r.vat_rate.normalize()))
            .or_default();
        *taxable += r.net_amount;
        if let Some(v) = r.vat_amount {
            *shown = Some(shown.unwrap_or_default() + v);
        }
    }
    let tax: Vec<TaxBreakdown> = by_rate
        .iter()
        .map(|((category, rate), &(taxable, shown))| TaxBreakdown {
            category: Some(category.clone()),
            rate: Some(*rate),
            taxable_amount: taxable,
            tax_amount: shown.unwrap_or_else(|| {
                (taxable * rate / Decimal::ONE_HUNDRED)
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
            }),
        })
        .collect();
    let net: Decimal = rows.iter().map(|r| r.net_amount).sum();
    let vat: Decimal = tax.iter().map(|t| t.tax_amount).sum();
    let gross = net + vat;
    let first = &rows[0];
    Ok(Invoice {
        kind: InvoiceKind::Invoice,
        number: number.to_owned(),
        issue_date: first.issue_date,
        due_date: first.due_date,
        currency: first.currency,
        supplier: Party {
            name: Some(first.supplier.clone()),
            vat_id: first.supplier_vat_id.clone(),
            iban: first.supplier_iban.clone(),
            ..Party::default()
        },
        customer: Party::default(),
        order_reference: first.po_number.clone(),
        payment_reference: first.payment_reference.clone(),
        preceding_invoice: None,
        lines: rows
            .iter()
            .map(|r| InvoiceLine {
                id: r.line.clone(),
                description: r.description.clone(),
                quantity: Some(r.quantity),
                unit_code: None,
                unit_price: Some(r.unit_price),
                base_quantity: None,
                net_amount: r.net_amount,
                tax_category: Some(r.tax_category.clone()),
                tax_rate: Some(r.vat_rate.normalize()),
                order_line: r.order_line.clone().or_else(|| r.line.clone()),
                item_ids: Default::default(),
                source: r.source.clone(),
            })
            .collect(),
        allowances: Vec::new(),
        charges: Vec::new(),
        tax,
        line_total: Some(net),
        allowance_total: None,
        charge_total: None,
        tax_exclusive: Some(net),
        tax_total: Some(vat),
        tax_inclusive: Some(gross),
        prepaid: None,
        rounding: None,
        payable: first.total.unwrap_or(gross),
        cash_discount: first.discount_percent.map(|percent| CashDiscount {
            percent,
            days: first.discount_days,
            until: None,
        }),
        source: first.source.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::securities_csv::wanted;

    fn read(text: &str) -> Result<Vec<Invoice>, ExtractError> {
        let input = Input {
            name: "invoices-2026-11.csv",
            bytes: text.as_bytes(),
            file_hash: std::sync::Arc::from("h"),
        };
        invoices(
            &input,
            &wanted(
                INVOICE_FIELDS,
                &[("invoice_number".into(), "Invoice".into())],
            ),
            &CellStyle::default(),
        )
    }

    const HEADER: &str = "Invoice,issue_date,supplier,supplier_iban,currency,po_number,line,quantity,unit_price,vat_rate,total\n";

    #[test]
    fn lines_are_grouped_into_invoices_with_vat_per_rate() {
        let text = format!(
            "{HEADER}\
             INV-7,2026-11-20,ACME GmbH,DE89370400440532013000,EUR,PO-1001,1,10,10.00,19,302.40\n\
             INV-8,2026-11-21,Other Ltd,,EUR,PO-1002,1,1,5.00,0,\n\
             INV-7,2026-11-20,ACME GmbH,DE89370400440532013000,EUR,PO-1001,2,3,20.00,7,302.40\n"
        );
        let inv = read(&text).unwrap();
        assert_eq!(inv.len(), 2);
        let a = &inv[0];
        assert_eq!(a.number, "INV-7");
        assert_eq!(a.order_reference.as_deref(), Some("PO-1001"));
        assert_eq!(a.lines.len(), 2);
        assert_eq!(a.lines[1].order_line.as_deref(), Some("2"));
        assert_eq!(a.lines[1].source.row, 4);
        // 100.00 at 19 % and 60.00 at 7 %: 19.00 + 4.20 VAT.
        assert_eq!(a.tax.len(), 2);
        assert_eq!(a.tax_total, Some("23.20".parse().unwrap()));
        assert_eq!(a.tax_inclusive, Some("183.20".parse().unwrap()));
        assert_eq!(a.supplier.iban.as_deref(), Some("DE89370400440532013000"));
        // The stated total (302.40) is kept as stated: the arithmetic check makes it a break.
        assert_eq!(a.payable, "302.40".parse().unwrap());
        assert!(!a.arithmetic_problems().is_empty());
        let b = &inv[1];
        assert_eq!(b.payable, "5.00".parse().unwrap());
        assert!(
            b.arithmetic_problems().is_empty(),
            "{:?}",
            b.arithmetic_problems()
        );
    }

    #[test]
    fn an_invoice_that_adds_up_has_no_arithmetic_problem() {
        let text =
            format!("{HEADER}INV-9,2026-11-20,ACME GmbH,,EUR,PO-1001,1,10,10.00,19,119.00\n");
        let inv = read(&text).unwrap();
        assert!(inv[0].arithmetic_problems().is_empty());
        assert_eq!(inv[0].payable, "119.00".parse().unwrap());
    }

    #[test]
    fn the_vat_a_list_shows_is_the_breakdown_and_its_cash_discount_the_terms() {
        let text = "Invoice,issue_date,supplier,currency,quantity,unit_price,vat_rate,vat_amount,tax_category,discount_percent,discount_days\n\
                    INV-1,2026-11-20,ACME GmbH,EUR,1,10.03,19,1.91,,2,14\n\
                    INV-1,2026-11-20,ACME GmbH,EUR,1,10.03,19,1.91,,2,14\n\
                    INV-1,2026-11-20,ACME GmbH,EUR,1,500.00,0,0,ae,2,14\n";
        let inv = read(text).unwrap();
        let i = &inv[0];
        // Per category and rate; the 19 % VAT as shown (3.82), not recomputed (3.81).
        let tax: Vec<_> = i
            .tax
            .iter()
            .map(|t| (t.category.as_deref().unwrap(), t.tax_amount.to_string()))
            .collect();
        assert_eq!(
            tax,
            vec![("AE", "0".to_string()), ("S", "3.82".to_string())]
        );
        assert_eq!(i.payable, "523.88".parse().unwrap());
        let d = i.cash_discount.as_ref().unwrap();
        assert_eq!((d.percent, d.days), ("2".parse().unwrap(), Some(14)));

        let text = "Invoice,issue_date,supplier,currency,quantity,unit_price,vat_rate,vat_amount,discount_percent\n\
                    INV-2,2026-11-20,ACME GmbH,EUR,1,10.00,19,1.90,2\n\
                    INV-3,2026-11-20,ACME GmbH,EUR,1,10.00,19,1.90,\n\
                    INV-3,2026-11-20,ACME GmbH,EUR,1,10.00,19,,\n";
        let e = read(text).unwrap_err().to_string();
        assert!(
            e.contains(
                "line 2, column \"discount_days\": invoice INV-2: a cash discount needs both"
            ),
            "{e}"
        );
        assert!(
            e.contains("line 4, column \"vat_amount\": invoice INV-3: vat_amount is given on some lines and not on others"),
            "{e}"
        );
    }

    #[test]
    fn bad_rows_and_disagreeing_lines_name_line_and_column() {
        let text = format!(
            "{HEADER}\
             INV-1,2026-11-20,ACME GmbH,,EUR,PO-1,1,0,10.00,19,\n\
             INV-2,2026-11-20,ACME GmbH,,EUR,PO-1,1,1,10.00,190,\n"
        );
        let e = read(&text).unwrap_err().to_string();
        assert!(e.contains("line 2, column \"quantity\""), "{e}");
        assert!(e.contains("line 3, column \"vat_rate\""), "{e}");

        let text = format!(
            "{HEADER}\
             INV-1,2026-11-20,ACME GmbH,,EUR,PO-1,1,1,10.00,19,\n\
             INV-1,2026-11-20,ACME GmbH,,USD,PO-1,2,1,10.00,19,\n"
        );
        let e = read(&text).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(
            e.contains("invoice INV-1: currency differs from its first line (line 2)"),
            "{e}"
        );

        let text = "Invoice,issue_date,supplier,currency,quantity,unit_price,vat_rate,net_amount\n\
                    INV-3,2026-11-20,ACME GmbH,EUR,3,0.333,19,1.01\n";
        let e = read(text).unwrap_err().to_string();
        assert!(
            e.contains("column \"net_amount\": expected 3 × 0.333 = 1.00, found 1.01"),
            "{e}"
        );
    }

    #[test]
    fn numbers_beyond_what_clerk_computes_with_are_refused_not_a_panic() {
        // Decimal's own maximum as a quantity: `*` would panic on it.
        let text = format!(
            "{HEADER}             INV-1,2026-11-20,ACME GmbH,,EUR,PO-1,1,79228162514264337593543950335,2,19,
             INV-2,2026-11-20,ACME GmbH,,EUR,PO-1,1,999999999999,999999999999,19,
             INV-3,2026-11-20,ACME GmbH,,EUR,PO-1,1,1,10.00,19,
"
        );
        let e = read(&text).unwrap_err().to_string();
        assert!(
            e.contains("line 2, column \"quantity\": 79228162514264337593543950335 is too large"),
            "{e}"
        );
        // Each factor is readable, the product is not.
        assert!(
            e.contains("line 3, column \"quantity\": 999999999999 × 999999999999 is too large"),
            "{e}"
        );
        assert!(!e.contains("line 4"), "{e}");
    }

    /// A positive number: small, near the 18-digit limit, or near `Decimal`'s own (28–29
    /// digits), some with decimals: where sums and products overflow.
    fn number() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let digits = prop_oneof!["[1-9]", "[1-9][0-9]{17,18}", "[1-7][0-9]{27,28}"];
        (digits, proptest::option::of("[0-9]{1,2}")).prop_map(|(i, f)| match f {
            Some(f) => format!("{i}.{f}"),
            None => i,
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any magnitude in any numeric column: invoices or a clear refusal, and the arithmetic
        /// check on what was read never panics either.
        #[test]
        fn any_numbers_are_read_or_refused_never_a_panic(
            lines in proptest::collection::vec(
                (number(), number(), proptest::sample::select(vec!["0", "7", "19"])),
                1..4,
            ),
            total in proptest::option::of(number()),
        ) {
            let mut text = String::from(HEADER);
            for invoice in ["INV-1", "INV-2"] {
                for (quantity, price, vat) in &lines {
                    text.push_str(&format!(
                        "{invoice},2026-11-20,ACME GmbH,,EUR,PO-1,1,{quantity},{price},{vat},{}\n",
                        total.as_deref().unwrap_or("")
                    ));
                }
            }
            match read(&text) {
                Ok(invoices) => {
                    for i in &invoices {
                        let _ = i.arithmetic_problems();
                    }
                }
                Err(e) => proptest::prop_assert!(!e.problems.is_empty()),
            }
        }
    }
}
