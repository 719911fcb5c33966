//! One row's cells into a [`Record`]: the mapping every format shares. A format module finds
//! the header, picks each mapped field's cell out of a row and hands the cells here; this
//! module parses them, applies defaults and signs, and collects records, skipped rows and
//! problems for the whole file.

use std::sync::Arc;

use calamine::{CellErrorType, ExcelDateTime};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::spec::{FIELDS, Field, Layout, Money};
use super::{ExtractError, MAX_PROBLEMS, Problem, Skipped, amount, date};
use crate::model::{Currency, Record, Source, check_minor_unit, checked_magnitude};

/// A cell as the formats deliver it. CSV gives only `Text` and `Empty`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Cell<'a> {
    #[default]
    Empty,
    Text(&'a str),
    Float(f64),
    Int(i64),
    Bool(bool),
    /// A spreadsheet date cell; it knows its workbook's epoch.
    DateTime(ExcelDateTime),
    /// An ISO 8601 date or date-time (ODS stores dates so).
    IsoDateTime(&'a str),
    /// A time span (`[hh]:mm`, ISO duration): never a date or an amount.
    Duration,
    /// A formula error such as `#N/A`.
    Error(&'a CellErrorType),
}

impl Cell<'_> {
    /// Empty, or text of nothing but spaces.
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// Skipped rows listed per file at most.
const MAX_SKIPPED_LISTED: usize = 1000;

/// Words a totals row's label starts with (case-insensitive).
const TOTAL_WORDS: [&str; 5] = ["total", "totals", "sum", "summe", "gesamt"];

/// Whether a cell's text labels a totals row ("Total", "TOTALS:", "Summe", "Gesamtbetrag").
pub(crate) fn is_total_label(s: &str) -> bool {
    let t = s.trim_start().as_bytes();
    TOTAL_WORDS
        .iter()
        .any(|w| t.len() >= w.len() && t[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
}

/// Column letters as a spreadsheet shows them: 0 → "A", 25 → "Z", 26 → "AA".
pub(crate) fn column_letters(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// How well a row matches the mapped column names.
pub(crate) enum HeaderMatch {
    /// Every mapped name found once: the 0-based column of each field.
    Found([Option<u32>; FIELDS]),
    /// A mapped name found in two columns (0-based).
    Twice {
        name: String,
        first: u32,
        second: u32,
    },
    /// Some names found (how many), the rest listed.
    Partial { found: usize, missing: Vec<String> },
}

/// Compares a row's text cells (0-based column, text) with the mapped column names.
pub(crate) fn match_header(layout: &Layout, cells: &[(u32, String)]) -> HeaderMatch {
    let mut cols = [None; FIELDS];
    let mut missing = Vec::new();
    let mut found = 0;
    for (f, name) in layout.mapped() {
        let mut at = None;
        for (j, text) in cells {
            if name.matches(text) {
                if let Some(first) = at {
                    return HeaderMatch::Twice {
                        name: name.shown.clone(),
                        first,
                        second: *j,
                    };
                }
                at = Some(*j);
            }
        }
        match at {
            Some(j) => {
                cols[f as usize] = Some(j);
                found += 1;
            }
            None => missing.push(format!("{:?}", name.shown)),
        }
    }
    if missing.is_empty() {
        HeaderMatch::Found(cols)
    } else {
        HeaderMatch::Partial { found, missing }
    }
}

/// What a format module knows about the row it hands over.
pub(crate) struct RowScan {
    /// No cell of the row holds anything.
    pub(crate) blank: bool,
    /// Some cell of the row starts with a totals word.
    pub(crate) total_label: bool,
}

/// Records, skipped rows and problems of one file, as its rows come in.
pub(crate) struct Collector<'l> {
    layout: &'l Layout,
    file_hash: Arc<str>,
    /// Worksheet name, for spreadsheets.
    sheet: Option<Arc<str>>,
    /// Spreadsheets: the 0-based column of each mapped field, to name cells in messages.
    field_cols: [Option<u32>; FIELDS],
    pub(crate) records: Vec<Record>,
    skipped: Vec<Skipped>,
    problems: Vec<Problem>,
    /// Reused for each row's problems.
    row_problems: Vec<(Field, String)>,
}

impl<'l> Collector<'l> {
    pub(crate) fn new(layout: &'l Layout, file_hash: Arc<str>) -> Self {
        Collector {
            layout,
            file_hash,
            sheet: None,
            field_cols: [None; FIELDS],
            records: Vec::new(),
            skipped: Vec::new(),
            problems: Vec::new(),
            row_problems: Vec::new(),
        }
    }

    /// For spreadsheets: the sheet being read and where each field's column is.
    pub(crate) fn set_sheet(&mut self, name: &str, field_cols: [Option<u32>; FIELDS]) {
        self.sheet = Some(Arc::from(name));
        self.field_cols = field_cols;
    }

    /// Whether enough problems are known to stop reading.
    pub(crate) fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }

    pub(crate) fn skips_totals(&self) -> bool {
        self.layout.skip_totals
    }

    #[cfg(test)]
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// A problem with a row (or the file: `row` None), not with one field.
    pub(crate) fn problem(&mut self, row: Option<u32>, message: impl Into<String>) {
        if self.full() {
            return;
        }
        self.problems.push(Problem {
            sheet: self.sheet.as_deref().map(str::to_owned),
            row,
            column: None,
            message: message.into(),
        });
    }

    fn skip(&mut self, row: u32, why: &str) {
        // Listed for the run's log: a file of a million blank rows must not fill memory.
        if self.skipped.len() >= MAX_SKIPPED_LISTED {
            return;
        }
        self.skipped.push(Skipped {
            sheet: self.sheet.as_deref().map(str::to_owned),
            row,
            why: why.to_owned(),
        });
    }

    /// One data row. `cells` is indexed by `Field as usize` (`Empty` where unmapped);
    /// `scan` looks at the whole row and is only called when the value date is blank
    /// (a blank row or a totals row has no date), so the common row costs nothing extra.
    pub(crate) fn row(
        &mut self,
        row: u32,
        cells: &[Cell<'_>; FIELDS],
        is_1904: bool,
        scan: impl FnOnce() -> RowScan,
    ) {
        if cells[Field::ValueDate as usize].is_blank() {
            let s = scan();
            if s.blank {
                self.skip(row, "blank row");
                return;
            }
            if s.total_label && self.layout.skip_totals {
                self.skip(row, "totals row");
                return;
            }
        }
        if let Some(r) = self.build(row, cells, is_1904) {
            // A file with a problem is refused whole: its records are of no use any more.
            if self.problems.is_empty() {
                self.records.push(r);
            }
        } else {
            let mut probs = std::mem::take(&mut self.row_problems);
            for (f, m) in probs.drain(..) {
                if self.full() {
                    break;
                }
                let column = self.layout.column(f).map(|c| c.shown.clone());
                let message = match (&self.sheet, self.field_cols[f as usize]) {
                    (Some(_), Some(c)) => format!("cell {}{row}: {m}", column_letters(c)),
                    _ => m,
                };
                self.problems.push(Problem {
                    sheet: self.sheet.as_deref().map(str::to_owned),
                    row: Some(row),
                    column,
                    message,
                });
            }
            self.row_problems = probs;
        }
    }

    /// The record, or `None` with the row's problems in `row_problems`.
    fn build(&mut self, row: u32, c: &[Cell<'_>; FIELDS], is_1904: bool) -> Option<Record> {
        let l = self.layout;
        let probs = &mut self.row_problems;
        probs.clear();
        let cell = |f: Field| c[f as usize];
        macro_rules! get {
            ($f:expr, $e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(m) => {
                        probs.push(($f, m));
                        None
                    }
                }
            };
        }

        let currency =
            get!(Field::Currency, currency_of(cell(Field::Currency))).or(l.default_currency);
        if currency.is_none() && !probs.iter().any(|p| p.0 == Field::Currency) {
            probs.push((Field::Currency, "the currency is empty".into()));
        }

        let value_date = get!(
            Field::ValueDate,
            date_of(cell(Field::ValueDate), &l.dates, is_1904)
        );
        if value_date.is_none() && !probs.iter().any(|p| p.0 == Field::ValueDate) {
            probs.push((Field::ValueDate, "the value date is empty".into()));
        }
        let booking_date = get!(
            Field::BookingDate,
            date_of(cell(Field::BookingDate), &l.dates, is_1904)
        );

        let amount = match l.money {
            Money::Signed => {
                let a = get!(Field::Amount, amount_of(cell(Field::Amount), l, currency));
                if a.is_none() && !probs.iter().any(|p| p.0 == Field::Amount) {
                    probs.push((Field::Amount, "the amount is empty".into()));
                }
                a
            }
            Money::DebitCredit => {
                let mut side = |f: Field| -> Option<Decimal> {
                    let v = get!(f, amount_of(cell(f), l, currency));
                    if v.is_some_and(|v| v.is_sign_negative() && !v.is_zero()) {
                        probs.push((
                            f,
                            format!(
                                "a negative amount in the {} column is ambiguous: write {}s as \
                                 positive numbers",
                                f.key(),
                                f.key()
                            ),
                        ));
                        return None;
                    }
                    v
                };
                let debit = side(Field::Debit);
                let credit = side(Field::Credit);
                if debit.is_none() && credit.is_none() {
                    if !probs
                        .iter()
                        .any(|p| matches!(p.0, Field::Debit | Field::Credit))
                    {
                        let f = if l.column(Field::Debit).is_some() {
                            Field::Debit
                        } else {
                            Field::Credit
                        };
                        probs.push((f, "no amount: debit and credit are both empty".into()));
                    }
                    None
                } else {
                    Some(credit.unwrap_or_default() - debit.unwrap_or_default())
                }
            }
            Money::Marked => {
                let a = get!(Field::Amount, amount_of(cell(Field::Amount), l, currency));
                let mark = get!(Field::DcMark, text_of(cell(Field::DcMark)));
                match (a, mark) {
                    (None, _) => {
                        if !probs.iter().any(|p| p.0 == Field::Amount) {
                            probs.push((Field::Amount, "the amount is empty".into()));
                        }
                        None
                    }
                    (Some(_), None) => {
                        if !probs.iter().any(|p| p.0 == Field::DcMark) {
                            probs.push((Field::DcMark, "the debit/credit mark is empty".into()));
                        }
                        None
                    }
                    (Some(a), Some(_)) if a.is_sign_negative() && !a.is_zero() => {
                        probs.push((
                            Field::Amount,
                            "a negative amount with a debit/credit mark is ambiguous".into(),
                        ));
                        None
                    }
                    (Some(a), Some(m)) => {
                        let m = m.to_uppercase();
                        Some(if l.debit_marks.contains(&m) { -a } else { a })
                    }
                }
            }
        };

        let external_id = get!(Field::Id, text_of(cell(Field::Id)));
        if l.side == crate::model::Side::Ledger
            && external_id.is_none()
            && !probs.iter().any(|p| p.0 == Field::Id)
        {
            probs.push((Field::Id, "the id is empty".into()));
        }
        let account = get!(Field::Account, text_of(cell(Field::Account)))
            .or_else(|| l.default_account.clone());
        let reference = get!(Field::Reference, text_of(cell(Field::Reference)));
        let counterparty = get!(Field::Counterparty, text_of(cell(Field::Counterparty)));
        let remittance = get!(Field::Remittance, text_of(cell(Field::Remittance)));
        let transaction_code = get!(
            Field::TransactionCode,
            text_of(cell(Field::TransactionCode))
        );

        if !probs.is_empty() {
            return None;
        }
        Some(Record {
            side: l.side,
            external_id: external_id.unwrap_or_default(),
            account,
            value_date: value_date?,
            booking_date,
            amount: amount?,
            currency: currency?,
            reference,
            counterparty,
            remittance,
            // A ledger item has no bank codes.
            codes: match l.side {
                crate::model::Side::Statement => crate::model::BankCodes {
                    transaction: transaction_code,
                    ..Default::default()
                }
                .boxed(),
                crate::model::Side::Ledger => None,
            },
            source: Source {
                file: self.file_hash.clone(),
                sheet: self.sheet.clone(),
                row,
                locator: None,
            },
        })
    }

    /// All records and skipped rows, or every problem found.
    pub(crate) fn finish(self, file: &str) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
        if self.problems.is_empty() {
            Ok((self.records, self.skipped))
        } else {
            Err(ExtractError::new(file, self.problems))
        }
    }
}

fn error_cell(e: &CellErrorType) -> String {
    format!("holds the formula error {e}")
}

/// A text field: trimmed, `None` when empty. Numbers are written as a spreadsheet shows
/// them (12345, not 12345.0).
fn text_of(c: Cell<'_>) -> Result<Option<String>, String> {
    Ok(match c {
        Cell::Empty => None,
        Cell::Text(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Cell::Float(f) => Some(f.to_string()),
        Cell::Int(i) => Some(i.to_string()),
        Cell::Bool(b) => Some(if b { "TRUE" } else { "FALSE" }.to_owned()),
        Cell::DateTime(dt) => date::from_excel(dt).map(|d| d.to_string()),
        Cell::IsoDateTime(s) => Some(s.trim().to_owned()),
        Cell::Duration => return Err("holds a time span, expected text".into()),
        Cell::Error(e) => return Err(error_cell(e)),
    })
}

fn currency_of(c: Cell<'_>) -> Result<Option<Currency>, String> {
    match c {
        // The common case, without allocating.
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => s.parse().map(Some),
        c => match text_of(c)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some),
        },
    }
}

fn date_of(
    c: Cell<'_>,
    formats: &date::DateFormats,
    is_1904: bool,
) -> Result<Option<NaiveDate>, String> {
    match c {
        Cell::Empty => Ok(None),
        Cell::Text(s) => formats.parse(s),
        Cell::DateTime(dt) => date::from_excel(dt)
            .map(Some)
            .ok_or_else(|| format!("holds {}, not a date", dt.as_f64())),
        Cell::IsoDateTime(s) => date::parse_iso_datetime(s)
            .map(Some)
            .ok_or_else(|| format!("expected a date, found {s:?}")),
        Cell::Float(f) => date::from_serial(f, is_1904)
            .map(Some)
            .ok_or_else(|| format!("expected a date, found the number {f}")),
        Cell::Int(i) => date::from_serial(i as f64, is_1904)
            .map(Some)
            .ok_or_else(|| format!("expected a date, found the number {i}")),
        Cell::Bool(b) => Err(format!(
            "expected a date, found {}",
            if b { "TRUE" } else { "FALSE" }
        )),
        Cell::Duration => Err("holds a time span, expected a date".into()),
        Cell::Error(e) => Err(error_cell(e)),
    }
}

/// An amount cell, read by the rule of [`check_minor_unit`]: text (every CSV cell, a
/// spreadsheet's text cell) is taken as written and refused with more decimals than its
/// currency has; a spreadsheet's number cell is a binary float and is rounded to the
/// currency's minor unit. Without a currency (already a problem of the row) the text is
/// read as written, so the row's other problems are still reported.
fn amount_of(
    c: Cell<'_>,
    l: &Layout,
    currency: Option<Currency>,
) -> Result<Option<Decimal>, String> {
    match c {
        Cell::Empty => Ok(None),
        Cell::Text(s) => match (l.amounts.parse(s)?, currency) {
            (Some(a), Some(cur)) => check_minor_unit(a, cur).map(Some),
            (a, _) => Ok(a),
        },
        Cell::Float(f) => {
            amount::from_float(f, currency.map_or(2, Currency::minor_units)).map(Some)
        }
        Cell::Int(i) => checked_magnitude(Decimal::from(i)).map(Some),
        Cell::Bool(b) => Err(format!(
            "expected an amount, found {}",
            if b { "TRUE" } else { "FALSE" }
        )),
        Cell::DateTime(_) | Cell::IsoDateTime(_) => {
            Err("holds a date, expected an amount (check the cell's number format)".into())
        }
        Cell::Duration => Err("holds a time span, expected an amount".into()),
        Cell::Error(e) => Err(error_cell(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ExtractSpec;
    use crate::model::Side;
    use std::str::FromStr;

    fn layout(side: Side, text: &str) -> Layout {
        toml::from_str::<ExtractSpec>(text)
            .unwrap()
            .check(side)
            .unwrap()
    }

    fn cells<'a>(pairs: &[(Field, Cell<'a>)]) -> [Cell<'a>; FIELDS] {
        let mut c = [Cell::Empty; FIELDS];
        for (f, v) in pairs {
            c[*f as usize] = *v;
        }
        c
    }

    fn no_scan() -> RowScan {
        RowScan {
            blank: false,
            total_label: false,
        }
    }

    #[test]
    fn labels_and_letters() {
        for s in [
            "Total",
            "TOTALS:",
            "  sum",
            "Summe EUR",
            "Gesamtbetrag",
            "total amount",
        ] {
            assert!(is_total_label(s), "{s}");
        }
        for s in ["", "Tot", "Subtotal", "Amount", "Σ"] {
            assert!(!is_total_label(s), "{s}");
        }
        let cases = [
            (0, "A"),
            (2, "C"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (701, "ZZ"),
            (702, "AAA"),
            (16383, "XFD"),
        ];
        for (c, want) in cases {
            assert_eq!(column_letters(c), want);
        }
    }

    #[test]
    fn debit_credit_columns_give_a_signed_amount() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\ndebit = \"Soll\"\ncredit = \"Haben\"\n[defaults]\ncurrency = \"EUR\"",
        );
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("12.50", "", Some("-12.50")),
            ("", "7.00", Some("7.00")),
            ("0.00", "7.00", Some("7.00")),
            ("1.00", "3.00", Some("2.00")),
            ("", "", None),
            ("-1.00", "", None),
        ];
        for (debit, credit, want) in cases {
            let mut col = Collector::new(&l, Arc::from("h"));
            let c = cells(&[
                (Field::ValueDate, Cell::Text("2025-01-02")),
                (Field::Debit, Cell::Text(debit)),
                (Field::Credit, Cell::Text(credit)),
            ]);
            col.row(2, &c, false, no_scan);
            match want {
                Some(w) => {
                    assert_eq!(
                        col.records[0].amount,
                        Decimal::from_str(w).unwrap(),
                        "{debit}/{credit}"
                    );
                }
                None => {
                    let e = col.finish("f.csv").unwrap_err();
                    assert_eq!(e.problems[0].column.as_deref(), Some("Soll"), "{e}");
                }
            }
        }
    }

    #[test]
    fn dc_mark_signs_an_unsigned_amount() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\namount = \"a\"\ndc_mark = \"DC\"\ncurrency = \"c\"",
        );
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("10.00", "D", Some("-10.00")),
            ("10.00", " dr ", Some("-10.00")),
            ("10.00", "Soll", Some("-10.00")),
            ("10.00", "C", Some("10.00")),
            ("10.00", "H", Some("10.00")),
            ("10.00", "", None),
            ("-10.00", "D", None),
        ];
        for (amount, mark, want) in cases {
            let mut col = Collector::new(&l, Arc::from("h"));
            let c = cells(&[
                (Field::ValueDate, Cell::Text("2025-01-02")),
                (Field::Amount, Cell::Text(amount)),
                (Field::DcMark, Cell::Text(mark)),
                (Field::Currency, Cell::Text("EUR")),
            ]);
            col.row(2, &c, false, no_scan);
            match want {
                Some(w) => assert_eq!(col.records[0].amount, Decimal::from_str(w).unwrap()),
                None => assert!(col.finish("f").is_err(), "{amount} {mark}"),
            }
        }
    }

    #[test]
    fn typed_cells_and_defaults() {
        let l = layout(
            Side::Ledger,
            "[columns]\nid = \"id\"\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"\n\
             reference = \"r\"\n[defaults]\naccount = \"CASH-01\"",
        );
        let mut col = Collector::new(&l, Arc::from("hash"));
        col.set_sheet("Data", [Some(0); FIELDS]);
        let c = cells(&[
            (Field::Id, Cell::Float(12345.0)),
            (Field::ValueDate, Cell::Float(45658.0)),
            (Field::Amount, Cell::Float(0.125)),
            (Field::Currency, Cell::Text(" eur ")),
            (Field::Reference, Cell::Text("   ")),
        ]);
        col.row(7, &c, false, no_scan);
        let r = &col.records[0];
        assert_eq!(r.external_id, "12345");
        assert_eq!(r.value_date, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        assert_eq!(r.amount, Decimal::from_str("0.13").unwrap());
        assert_eq!(r.currency.as_str(), "EUR");
        assert_eq!(r.reference, None);
        assert_eq!(r.account.as_deref(), Some("CASH-01"));
        assert_eq!(r.source.sheet.as_deref(), Some("Data"));
        assert_eq!(r.source.row, 7);
        assert_eq!(&*r.source.file, "hash");
        // JPY has no minor units.
        let mut col = Collector::new(&l, Arc::from("hash"));
        let c = cells(&[
            (Field::Id, Cell::Int(1)),
            (Field::ValueDate, Cell::Text("2025-01-01")),
            (Field::Amount, Cell::Float(1234.5)),
            (Field::Currency, Cell::Text("JPY")),
        ]);
        col.row(2, &c, false, no_scan);
        assert_eq!(col.records[0].amount, Decimal::from(1235));
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported_with_its_cell() {
        let l = layout(
            Side::Ledger,
            "[columns]\nid = \"ID\"\nvalue_date = \"Date\"\namount = \"Amount\"\ncurrency = \"Ccy\"",
        );
        let mut col = Collector::new(&l, Arc::from("h"));
        let mut at = [None; FIELDS];
        at[Field::Id as usize] = Some(0);
        at[Field::ValueDate as usize] = Some(1);
        at[Field::Amount as usize] = Some(2);
        at[Field::Currency as usize] = Some(3);
        col.set_sheet("Sheet1", at);
        let c = cells(&[
            (Field::ValueDate, Cell::Text("31/01/2025")),
            (Field::Amount, Cell::Error(&CellErrorType::NA)),
            (Field::Currency, Cell::Text("EURO")),
        ]);
        col.row(14, &c, false, no_scan);
        let e = col.finish("book.xlsx").unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 4, "{text}");
        assert!(text.contains("sheet \"Sheet1\", row 14, column \"Amount\": cell C14: holds the formula error #N/A"), "{text}");
        assert!(
            text.contains("column \"Date\": cell B14: expected a date"),
            "{text}"
        );
        assert!(
            text.contains("column \"Ccy\": cell D14: expected a three-letter currency code"),
            "{text}"
        );
        assert!(
            text.contains("column \"ID\": cell A14: the id is empty"),
            "{text}"
        );

        // Integer and float cells beyond what clerk computes with.
        for (row, amount) in [(15, Cell::Int(i64::MAX)), (16, Cell::Float(1e19))] {
            let mut col = Collector::new(&l, Arc::from("h"));
            col.set_sheet("Sheet1", at);
            let c = cells(&[
                (Field::Id, Cell::Text("X")),
                (Field::ValueDate, Cell::Text("2025-01-31")),
                (Field::Amount, amount),
                (Field::Currency, Cell::Text("EUR")),
            ]);
            col.row(row, &c, false, no_scan);
            let text = col.finish("book.xlsx").unwrap_err().to_string();
            assert!(
                text.contains(&format!("row {row}, column \"Amount\": cell C{row}: "))
                    && text.contains("is too large"),
                "{text}"
            );
        }
    }

    #[test]
    fn blank_and_totals_rows_are_skipped_only_without_a_date() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\namount = \"a\"\n[defaults]\ncurrency = \"EUR\"",
        );
        let mut col = Collector::new(&l, Arc::from("h"));
        let blank = cells(&[]);
        col.row(5, &blank, false, || RowScan {
            blank: true,
            total_label: false,
        });
        let total = cells(&[(Field::Amount, Cell::Text("100.00"))]);
        col.row(6, &total, false, || RowScan {
            blank: false,
            total_label: true,
        });
        assert!(!col.has_problems());
        let (records, skipped) = col.finish("f").unwrap();
        assert!(records.is_empty());
        assert_eq!(skipped.len(), 2);
        assert_eq!((skipped[0].row, skipped[0].why.as_str()), (5, "blank row"));
        assert_eq!((skipped[1].row, skipped[1].why.as_str()), (6, "totals row"));

        let l = layout(
            Side::Statement,
            "skip_totals = false\n[columns]\nvalue_date = \"d\"\namount = \"a\"\n[defaults]\ncurrency = \"EUR\"",
        );
        let mut col = Collector::new(&l, Arc::from("h"));
        col.row(6, &total, false, || RowScan {
            blank: false,
            total_label: true,
        });
        let e = col.finish("f.csv").unwrap_err();
        assert!(e.to_string().contains("the value date is empty"), "{e}");
    }
}
