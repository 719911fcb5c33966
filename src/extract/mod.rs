//! The extract stage: a file's bytes in, normalised [`Record`]s out.
//!
//! **Invariant:** extract does no I/O. It is given bytes and returns records or an error; it
//! never opens, moves or writes a file, so it can be tested with byte strings and run anywhere.
//!
//! **Invariant:** a file with any bad row is refused whole (nothing half-imported), with up to
//! [`MAX_PROBLEMS`] problems listed so staff can fix the file in one go.
//!
//! Code map:
//! - `spec`: the job file's `[extract]` table ([`ExtractSpec`]) and its check into a [`Layout`].
//! - `detect`: which format a file is, by content (never by name).
//! - `csv`, `sheet`: one reader per family of formats. Each finds the header, walks the rows
//!   and hands each row's cells to `row`. `xls_guard` and `ods_guard` check a workbook's
//!   declared sheet sizes before calamine opens (and allocates) it.
//! - `row`: cells → [`Record`] (the mapping shared by every format), totals and blank rows.
//! - `amount`, `date`, `text`: clerk's own parsers for amounts, dates and text encodings.
//!
//! Adding a format (MT940, camt.053) is one new file with an `extract` function plus one arm
//! in [`Format`], in `detect` and in [`extract_with_progress`].

mod amount;
mod csv;
mod date;
mod detect;
pub mod invoice;
pub mod invoice_csv;
pub mod iso20022;
mod ods_guard;
pub mod payables_csv;
mod row;
pub mod rows;
pub mod securities_csv;
mod sheet;
pub mod sink;
mod spec;
pub mod swift;
mod text;
mod xls_guard;
pub mod xml;
mod zip_guard;

#[cfg(test)]
mod regressions;

use std::fmt;
use std::sync::Arc;

use crate::model::Record;
use crate::model::invoice::Invoice;
use crate::model::securities::{HoldingStatement, TransactionStatement};
use crate::model::statement::BankStatement;

pub use spec::{Columns, Defaults, ExtractSpec, Layout, SpecError};
// For `clerk reconcile`, which reads plain CSV layouts straight into columns.
pub(crate) use spec::{Field, Money};

/// Most problems listed for one file; reading stops there.
pub const MAX_PROBLEMS: usize = 20;

/// Longest CSV line accepted (bytes), so a file without line breaks cannot eat memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most fields in a CSV line / columns read from a spreadsheet row.
pub const MAX_COLUMNS: usize = 10_000;

/// How often (in rows) `progress` is called.
const PROGRESS_EVERY: u64 = 1 << 16;

/// A file to read: its bytes, and the names it is known by.
pub struct Input<'a> {
    /// File name, for messages.
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// The file's content hash: [`crate::model::Source::file`] of every record.
    pub file_hash: Arc<str>,
}

/// The formats clerk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Csv,
    /// Office Open XML workbook (`.xlsx`, `.xlsm`).
    Xlsx,
    /// Excel 97-2003 binary workbook.
    Xls,
    /// OpenDocument spreadsheet.
    Ods,
    /// SWIFT MT940 customer statement.
    Mt940,
    /// SWIFT MT942 interim (intraday) report.
    Mt942,
    /// SWIFT MT950 statement.
    Mt950,
    /// SWIFT MT535 statement of holdings.
    Mt535,
    /// SWIFT MT536 statement of transactions.
    Mt536,
    /// SWIFT MT537 statement of pending transactions.
    Mt537,
    /// ISO 20022 camt.052 bank-to-customer account report (intraday).
    Camt052,
    /// ISO 20022 camt.053 bank-to-customer statement.
    Camt053,
    /// ISO 20022 camt.054 debit/credit notification.
    Camt054,
    /// ISO 20022 semt.002 custody statement of holdings.
    Semt002,
    /// UBL 2.1 Invoice or CreditNote (Peppol BIS 3.0, EN 16931).
    Ubl,
    /// UN/CEFACT Cross Industry Invoice.
    Cii,
    /// Factur-X / ZUGFeRD: a PDF holding a CII invoice.
    FacturX,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
            Format::Mt940 => "mt940",
            Format::Mt942 => "mt942",
            Format::Mt950 => "mt950",
            Format::Mt535 => "mt535",
            Format::Mt536 => "mt536",
            Format::Mt537 => "mt537",
            Format::Camt052 => "camt.052",
            Format::Camt053 => "camt.053",
            Format::Camt054 => "camt.054",
            Format::Semt002 => "semt.002",
            Format::Ubl => "ubl",
            Format::Cii => "cii",
            Format::FacturX => "facturx",
        }
    }

    /// From a job file's `format` value (`auto` is handled by the caller).
    pub(crate) fn from_name(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "csv" => Format::Csv,
            "xlsx" | "xlsm" => Format::Xlsx,
            "xls" => Format::Xls,
            "ods" => Format::Ods,
            "mt940" => Format::Mt940,
            "mt942" => Format::Mt942,
            "mt950" => Format::Mt950,
            "mt535" => Format::Mt535,
            "mt536" => Format::Mt536,
            "mt537" => Format::Mt537,
            "camt.052" | "camt052" => Format::Camt052,
            "camt.053" | "camt053" => Format::Camt053,
            "camt.054" | "camt054" => Format::Camt054,
            "semt.002" | "semt002" => Format::Semt002,
            "ubl" => Format::Ubl,
            "cii" => Format::Cii,
            "facturx" | "factur-x" | "zugferd" => Format::FacturX,
            _ => return None,
        })
    }

    /// Whether records come from columns the job maps (CSV, spreadsheets), rather than from
    /// the document's own structure.
    pub fn is_tabular(self) -> bool {
        matches!(self, Format::Csv | Format::Xlsx | Format::Xls | Format::Ods)
    }

    /// MT940/942/950, camt.052/053/054.
    pub fn is_bank_statement(self) -> bool {
        matches!(
            self,
            Format::Mt940
                | Format::Mt942
                | Format::Mt950
                | Format::Camt052
                | Format::Camt053
                | Format::Camt054
        )
    }

    /// MT535/536/537, semt.002.
    pub fn is_custody(self) -> bool {
        matches!(
            self,
            Format::Mt535 | Format::Mt536 | Format::Mt537 | Format::Semt002
        )
    }

    /// UBL, CII, Factur-X.
    pub fn is_invoice(self) -> bool {
        matches!(self, Format::Ubl | Format::Cii | Format::FacturX)
    }

    /// How the format is described to people.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Format::Csv => "CSV text",
            Format::Xlsx => "an Excel workbook (XLSX)",
            Format::Xls => "an Excel 97-2003 workbook (XLS)",
            Format::Ods => "an OpenDocument spreadsheet (ODS)",
            Format::Mt940 => "a SWIFT MT940 statement",
            Format::Mt942 => "a SWIFT MT942 interim report",
            Format::Mt950 => "a SWIFT MT950 statement",
            Format::Mt535 => "a SWIFT MT535 statement of holdings",
            Format::Mt536 => "a SWIFT MT536 statement of transactions",
            Format::Mt537 => "a SWIFT MT537 statement of pending transactions",
            Format::Camt052 => "an ISO 20022 camt.052 account report",
            Format::Camt053 => "an ISO 20022 camt.053 statement",
            Format::Camt054 => "an ISO 20022 camt.054 notification",
            Format::Semt002 => "an ISO 20022 semt.002 statement of holdings",
            Format::Ubl => "a UBL invoice",
            Format::Cii => "a CII invoice",
            Format::FacturX => "a Factur-X/ZUGFeRD PDF invoice",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file yielded. A tabular file (CSV, spreadsheet) yields `records` through the
/// job's column mapping; a structured document yields its own shape (statements, holdings,
/// custody transactions or invoices) and the pipeline decides what becomes records.
#[derive(Debug, Default)]
pub struct Extracted {
    pub format: Format,
    pub records: Vec<Record>,
    pub statements: Vec<BankStatement>,
    pub holdings: Vec<HoldingStatement>,
    pub transactions: Vec<TransactionStatement>,
    pub invoices: Vec<Invoice>,
    /// The books' positions, from the portfolio system's CSV (position reconciliation).
    pub book_positions: Vec<crate::model::securities::Position>,
    /// The front office's trades, from a blotter CSV (trade settlement).
    pub trades: Vec<crate::model::securities::Trade>,
    /// Purchase order lines and goods receipts from the ERP's CSV (accounts payable).
    pub purchase_orders: Vec<crate::model::payables::PurchaseOrderLine>,
    pub goods_receipts: Vec<crate::model::payables::GoodsReceipt>,
    /// Rows deliberately left out (totals rows, blank rows), for the run's log.
    pub skipped: Vec<Skipped>,
    /// Parts of the file that could not be read while the rest was (a SWIFT file whose last
    /// message is cut short): where, and what was expected. Each becomes a break.
    pub unread: Vec<Problem>,
}

/// A row left out on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub sheet: Option<String>,
    /// CSV line or spreadsheet row, 1-based.
    pub row: u32,
    pub why: String,
}

/// One problem in a file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub sheet: Option<String>,
    /// CSV line or spreadsheet row (1-based); `None` for a problem with the whole file.
    pub row: Option<u32>,
    /// The column's header name as the job maps it.
    pub column: Option<String>,
    /// What is wrong, in words (for spreadsheets it starts with the cell, e.g. "cell C14: …").
    pub message: String,
}

impl Problem {
    /// A problem with the file as a whole.
    pub fn file(message: impl Into<String>) -> Self {
        Problem {
            sheet: None,
            row: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(s) = &self.sheet {
            write!(f, "sheet {s:?}")?;
            sep = ", ";
        }
        if let Some(r) = self.row {
            let word = if self.sheet.is_some() { "row" } else { "line" };
            write!(f, "{sep}{word} {r}")?;
            sep = ", ";
        }
        if let Some(c) = &self.column {
            write!(f, "{sep}column {c:?}")?;
        }
        if self.sheet.is_some() || self.row.is_some() || self.column.is_some() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// A file that cannot be read. Display is what ops staff read in `failed/<file>.error.txt` and
/// in the summary, one problem per line, e.g.
/// `statement.csv line 14, column "amount": expected an amount such as 1234.56 or (1,234.56), found "12,3x"`.
/// It lists up to [`MAX_PROBLEMS`] problems so staff can fix a file in one go. A file with any
/// bad row is refused whole (nothing half-imported).
#[derive(Debug, thiserror::Error)]
pub struct ExtractError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl ExtractError {
    /// Whether the file was refused because no row or line had the columns the job names:
    /// then the fix is usually in the job file's `[extract.columns]`, not in the file. Every
    /// such message (CSV and spreadsheets alike) says "... with the columns ...".
    pub fn header_not_found(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.row.is_none() && p.message.contains(" with the columns "))
    }

    pub(crate) fn new(file: &str, problems: Vec<Problem>) -> Self {
        ExtractError {
            file: file.to_owned(),
            problems,
        }
    }

    pub(crate) fn whole(file: &str, message: impl Into<String>) -> Self {
        ExtractError::new(file, vec![Problem::file(message)])
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let sep = if p.sheet.is_none() && p.row.is_none() && p.column.is_none() {
                ": "
            } else {
                " "
            };
            write!(f, "{}{sep}{p}", self.file)?;
        }
        if self.problems.is_empty() {
            write!(f, "{}: cannot be read", self.file)?;
        }
        if self.problems.len() >= MAX_PROBLEMS {
            write!(
                f,
                "\n{}: stopped after {MAX_PROBLEMS} problems; fix these and send the file again",
                self.file
            )?;
        }
        Ok(())
    }
}

/// Which format a file is, judged by its content alone; `None` for something clerk does not
/// read.
pub fn recognise(bytes: &[u8]) -> Option<Format> {
    let layout = ExtractSpec::default()
        .check(crate::model::Side::Statement)
        .ok()?;
    detect::format(&layout, bytes).ok()
}

/// Reads a file into records.
pub fn extract(layout: &Layout, input: &Input) -> Result<Extracted, ExtractError> {
    extract_with_progress(layout, input, &|_, _| {})
}

/// Reads a file into records, calling `progress(bytes done, total)` every ~64k rows (for
/// spreadsheets the bytes done are estimated from the rows read).
pub fn extract_with_progress(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<Extracted, ExtractError> {
    let format =
        detect::format(layout, input.bytes).map_err(|m| ExtractError::whole(input.name, m))?;
    if format.is_tabular() && !layout.tabular {
        return Err(ExtractError::whole(
            input.name,
            format!(
                "is {}, but this job maps no columns ([extract.columns]); it reads only statements and documents with their own structure",
                format.describe()
            ),
        ));
    }
    let total = input.bytes.len() as u64;
    progress(0, total);
    let mut out = Extracted {
        format,
        ..Default::default()
    };
    match format {
        Format::Csv => (out.records, out.skipped) = csv::extract(layout, input, progress)?,
        Format::Xlsx => (out.records, out.skipped) = sheet::extract_xlsx(layout, input, progress)?,
        Format::Xls => (out.records, out.skipped) = sheet::extract_xls(layout, input, progress)?,
        Format::Ods => (out.records, out.skipped) = sheet::extract_ods(layout, input, progress)?,
        Format::Mt940
        | Format::Mt942
        | Format::Mt950
        | Format::Mt535
        | Format::Mt536
        | Format::Mt537 => {
            let expected = match format {
                Format::Mt940 => swift::MtType::Mt940,
                Format::Mt942 => swift::MtType::Mt942,
                Format::Mt950 => swift::MtType::Mt950,
                Format::Mt535 => swift::MtType::Mt535,
                Format::Mt536 => swift::MtType::Mt536,
                _ => swift::MtType::Mt537,
            };
            let file = swift::parse(input, Some(expected))?;
            out.unread.extend(file.cut_short);
            match file.doc {
                swift::MtDocument::Statements(s) => out.statements = s,
                swift::MtDocument::Holdings(h) => out.holdings = h,
                swift::MtDocument::Transactions(t) => out.transactions = t,
            }
        }
        Format::Camt052 | Format::Camt053 | Format::Camt054 | Format::Semt002 => {
            let expected = match format {
                Format::Camt052 => iso20022::IsoMessage::Camt052,
                Format::Camt053 => iso20022::IsoMessage::Camt053,
                Format::Camt054 => iso20022::IsoMessage::Camt054,
                _ => iso20022::IsoMessage::Semt002,
            };
            match iso20022::parse(input, Some(expected), layout.timezone)?.1 {
                iso20022::IsoDocument::Statements(s) => out.statements = s,
                iso20022::IsoDocument::Holdings(h) => out.holdings = h,
            }
        }
        Format::Ubl | Format::Cii | Format::FacturX => {
            let expected = match format {
                Format::Ubl => invoice::InvoiceFormat::Ubl,
                Format::Cii => invoice::InvoiceFormat::Cii,
                _ => invoice::InvoiceFormat::FacturX,
            };
            out.invoices = invoice::parse(input, Some(expected))?.1;
        }
    }
    amount::check_statements(input.name, &out.statements)?;
    progress(total, total);
    Ok(out)
}

/// Records handed over at a time when a file is read in batches ([`read_in_batches`]): enough
/// to make each store call worth it, few enough that a batch costs a few megabytes.
pub const RECORD_BATCH: usize = 8192;

/// What a file read in batches yielded besides its records.
#[derive(Debug)]
pub struct ReadInBatches {
    pub format: Format,
    /// Records handed over.
    pub records: u64,
    pub skipped: Vec<Skipped>,
}

/// Whether `layout` reads this file in batches ([`read_in_batches`]): CSV, read through the
/// job's columns. Every other format is read whole ([`extract`]); see the README's Operations
/// section for what that costs in memory.
pub fn reads_in_batches(layout: &Layout, bytes: &[u8]) -> bool {
    layout.tabular && detect::format(layout, bytes) == Ok(Format::Csv)
}

/// Reads a CSV file, handing its records to `take` at most [`RECORD_BATCH`] at a time as they
/// are read, so memory does not grow with the number of rows. The outer error is `take`'s
/// own, which stops the reading. The inner error is the file's: a file with any bad row is
/// refused whole, so once one is found nothing more is handed over, and the caller must give
/// up what it did with the batches before (roll its transaction back).
pub fn read_in_batches<E>(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
    mut take: impl FnMut(&[Record]) -> Result<(), E>,
) -> Result<Result<ReadInBatches, ExtractError>, E> {
    let format = match detect::format(layout, input.bytes) {
        Ok(f) => f,
        Err(m) => return Ok(Err(ExtractError::whole(input.name, m))),
    };
    if format != Format::Csv || !layout.tabular {
        return Ok(Err(ExtractError::whole(
            input.name,
            format!(
                "is {}, which is read whole, not in batches",
                format.describe()
            ),
        )));
    }
    let total = input.bytes.len() as u64;
    progress(0, total);
    let mut handed = 0u64;
    let read = csv::read(layout, input, progress, RECORD_BATCH, |batch| {
        handed += batch.len() as u64;
        take(batch)
    })?;
    let (rest, skipped) = match read {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    if !rest.is_empty() {
        handed += rest.len() as u64;
        take(&rest)?;
    }
    progress(total, total);
    Ok(Ok(ReadInBatches {
        format,
        records: handed,
        skipped,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_problem_with_file_and_place() {
        let e = ExtractError::new(
            "statement.csv",
            vec![
                Problem {
                    sheet: None,
                    row: Some(14),
                    column: Some("amount".into()),
                    message: "expected an amount such as 1234.56 or (1,234.56), found \"12,3x\""
                        .into(),
                },
                Problem {
                    sheet: Some("Data".into()),
                    row: Some(3),
                    column: Some("Betrag".into()),
                    message: "cell C3: holds the formula error #N/A".into(),
                },
                Problem::file("no header row"),
            ],
        );
        assert_eq!(
            e.to_string(),
            "statement.csv line 14, column \"amount\": expected an amount such as 1234.56 or (1,234.56), found \"12,3x\"\n\
             statement.csv sheet \"Data\", row 3, column \"Betrag\": cell C3: holds the formula error #N/A\n\
             statement.csv: no header row"
        );
    }

    #[test]
    fn display_says_when_it_stopped_counting() {
        let problems = (1..=MAX_PROBLEMS as u32)
            .map(|r| Problem {
                sheet: None,
                row: Some(r),
                column: None,
                message: "bad".into(),
            })
            .collect();
        let text = ExtractError::new("f.csv", problems).to_string();
        assert_eq!(text.lines().count(), MAX_PROBLEMS + 1);
        assert!(text.ends_with("stopped after 20 problems; fix these and send the file again"));
    }

    #[test]
    fn a_file_read_in_batches_gives_what_it_gives_read_whole() {
        let layout = toml::from_str::<ExtractSpec>(
            "[columns]\nid = \"id\"\nvalue_date = \"date\"\namount = \"amount\"\ncurrency = \"ccy\"\n",
        )
        .unwrap()
        .check(crate::model::Side::Ledger)
        .unwrap();
        let rows = 2 * RECORD_BATCH + 5;
        let mut text = String::from("id,date,amount,ccy\n");
        for k in 0..rows {
            text.push_str(&format!("{k},2026-03-02,{k}.25,EUR\n"));
        }
        let input = Input {
            name: "ledger.csv",
            bytes: text.as_bytes(),
            file_hash: Arc::from("cafe"),
        };
        assert!(reads_in_batches(&layout, input.bytes));
        let whole = extract(&layout, &input).unwrap().records;
        let mut batches = Vec::new();
        let read = read_in_batches(&layout, &input, &|_, _| {}, |b| {
            batches.push(b.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(read.records, rows as u64);
        assert_eq!(batches.len(), 3);
        assert!(batches.iter().all(|b| b.len() <= RECORD_BATCH));
        assert_eq!(batches.concat(), whole);

        // A bad row past the first batch: nothing more is handed over, and every problem is
        // listed as when read whole.
        let bad = text.replacen(
            &format!("\n{},2026-03-02,", RECORD_BATCH + 10),
            &format!("\n{},2026-13-02,", RECORD_BATCH + 10),
            1,
        );
        let input = Input {
            bytes: bad.as_bytes(),
            ..input
        };
        let mut handed = 0;
        let e = read_in_batches(&layout, &input, &|_, _| {}, |b| {
            handed += b.len();
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(handed, RECORD_BATCH);
        assert_eq!(
            e.to_string(),
            extract(&layout, &input).unwrap_err().to_string()
        );
        // The sink's own error stops the reading.
        assert_eq!(
            read_in_batches(&layout, &input, &|_, _| {}, |_| Err("full")).unwrap_err(),
            "full"
        );
    }

    #[test]
    fn format_names() {
        for f in [Format::Csv, Format::Xlsx, Format::Xls, Format::Ods] {
            assert_eq!(Format::from_name(f.as_str()), Some(f));
        }
        assert_eq!(Format::from_name("XLSM"), Some(Format::Xlsx));
        assert_eq!(Format::from_name("pdf"), None);
    }
}
