//! Purchasing files from the firm's ERP, as CSV or XLSX: purchase order lines and goods receipts, the
//! two other legs of the accounts-payable three-way match. The job maps its column names onto
//! these fields.

use super::rows::{CellStyle, Wanted, read_table};
use super::{ExtractError, Input};
use crate::model::payables::{GoodsReceipt, PurchaseOrderLine};

/// The fields of a purchase order file: (key, required).
pub const ORDER_FIELDS: &[(&str, bool)] = &[
    ("po_number", true),
    ("quantity", true),
    ("unit_price", true),
    ("currency", true),
    ("line", false),
    ("supplier", false),
    ("item", false),
    ("expense_account", false),
    ("supplier_item", false),
    ("charge", false),
];

/// The fields of a goods receipt file: (key, required).
pub const RECEIPT_FIELDS: &[(&str, bool)] = &[
    ("receipt_id", true),
    ("po_number", true),
    ("quantity_received", true),
    ("received_on", true),
    ("line", false),
    ("item", false),
];

pub fn orders(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<PurchaseOrderLine>, ExtractError> {
    let rows = read_table(input, columns)?;
    rows.map(style, |r, s| {
        let po_number = r.text("po_number");
        let quantity = r.decimal("quantity", s);
        let unit_price = r.decimal("unit_price", s);
        let currency = r.currency("currency");
        if !r.positive("quantity", quantity, "quantity")
            || !r.not_negative("unit_price", unit_price, "a price")
        {
            return None;
        }
        Some(PurchaseOrderLine {
            po_number: po_number?,
            line: r.text("line"),
            supplier: r.text("supplier"),
            item: r.text("item"),
            quantity: quantity?,
            unit_price: unit_price?,
            currency: currency?,
            expense_account: r.text("expense_account"),
            supplier_item: r.text("supplier_item"),
            charge: r.text("charge"),
            source: r.source(input),
        })
    })
}

pub fn receipts(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<GoodsReceipt>, ExtractError> {
    let rows = read_table(input, columns)?;
    rows.map(style, |r, s| {
        let receipt_id = r.text("receipt_id");
        let po_number = r.text("po_number");
        // A negative quantity is goods sent back to the supplier (a return line of the
        // warehouse's export): it reverses the receipt's GR/IR posting for those units.
        let quantity = r.decimal("quantity_received", s);
        let received_on = r.date("received_on", s);
        Some(GoodsReceipt {
            receipt_id: receipt_id?,
            po_number: po_number?,
            line: r.text("line"),
            item: r.text("item"),
            quantity_received: quantity?,
            received_on: received_on?,
            source: r.source(input),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::securities_csv::wanted;
    use rust_decimal::Decimal;

    fn input(text: &str) -> Input<'_> {
        Input {
            name: "po.csv",
            bytes: text.as_bytes(),
            file_hash: std::sync::Arc::from("h"),
        }
    }

    #[test]
    fn order_lines_and_receipts_by_mapped_headers() {
        let cols = wanted(ORDER_FIELDS, &[("po_number".into(), "PO".into())]);
        let text = "PO,line,supplier,item,quantity,unit_price,currency,expense_account\n\
                    PO-1,1,ACME GmbH,WIDGET,10,10.00,EUR,6100 Materials\n";
        let o = orders(&input(text), &cols, &CellStyle::default()).unwrap();
        assert_eq!(o[0].po_number, "PO-1");
        assert_eq!(o[0].unit_price, "10.00".parse().unwrap());
        assert_eq!(o[0].expense_account.as_deref(), Some("6100 Materials"));
        assert_eq!(o[0].source.row, 2);

        let cols = wanted(RECEIPT_FIELDS, &[]);
        let text =
            "receipt_id,po_number,line,quantity_received,received_on\nGR-7,PO-1,1,10,2026-11-20\n";
        let g = receipts(&input(text), &cols, &CellStyle::default()).unwrap();
        assert_eq!(g[0].quantity_received, Decimal::from(10));
        assert_eq!(g[0].received_on.to_string(), "2026-11-20");
    }

    #[test]
    fn bad_order_lines_name_line_and_column() {
        let cols = wanted(ORDER_FIELDS, &[]);
        let text =
            "po_number,quantity,unit_price,currency\nPO-1,0,10,EUR\nPO-2,1,-3,EUR\nPO-3,1,3,EURO\n";
        let e = orders(&input(text), &cols, &CellStyle::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2, column \"quantity\": expected a positive quantity"),
            "{e}"
        );
        assert!(e.contains("line 3, column \"unit_price\""), "{e}");
        assert!(e.contains("line 4, column \"currency\""), "{e}");
    }
}
