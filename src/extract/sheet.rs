//! Spreadsheets (XLSX/XLSM, XLS, ODS) into records, through calamine.
//!
//! XLSX is streamed cell by cell (`worksheet_cells_reader`): `worksheet_range` would allocate
//! a dense grid up to the furthest used cell, and one stray cell in column XFD of row
//! 1,048,576 makes that tens of gigabytes. XLS and ODS only have calamine's range API; their
//! formats bound the grid (XLS: 65,536 × 256) or calamine caps it (ODS), and clerk refuses a
//! sheet whose range is larger than any real statement.
//!
//! Rows are handed to one [`Rows`] engine whatever the format: it finds the header, then turns
//! each row's cells into a record through [`Collector`].

use std::io::Cursor;

use calamine::{
    Data, DataRef, Ods, Range, Reader, Sheet, SheetType, SheetVisible, Xls, Xlsx, XlsxCellReader,
};

use super::row::{
    Cell, Collector, HeaderMatch, RowScan, column_letters, is_total_label, match_header,
};
use super::spec::{FIELDS, Field, Layout};
use super::{ExtractError, Input, MAX_COLUMNS, PROGRESS_EVERY, Skipped};
use super::{ods_guard, xls_guard};
use crate::model::Record;

/// How many rows are searched for the header when the job does not say where it is.
const HEADER_SEARCH_ROWS: u32 = 50;

/// Excel's own limits; a range beyond them is corrupt.
const MAX_SHEET_ROWS: usize = 1_048_576;
const MAX_SHEET_COLS: usize = 16_384;
/// Largest grid (rows × columns) accepted from the range API: far beyond any statement
/// (1,000,000 rows of 10 columns), and at most some hundreds of megabytes in calamine.
const MAX_RANGE_CELLS: usize = 10_000_000;

/// A calamine cell value, seen as clerk's [`Cell`].
trait AsCell {
    fn cell(&self) -> Cell<'_>;
}

impl AsCell for DataRef<'_> {
    fn cell(&self) -> Cell<'_> {
        match self {
            DataRef::Empty => Cell::Empty,
            DataRef::String(s) => Cell::Text(s),
            DataRef::SharedString(s) => Cell::Text(s),
            DataRef::Float(f) => Cell::Float(*f),
            DataRef::Int(i) => Cell::Int(*i),
            DataRef::Bool(b) => Cell::Bool(*b),
            DataRef::DateTime(dt) if dt.is_duration() => Cell::Duration,
            DataRef::DateTime(dt) => Cell::DateTime(*dt),
            DataRef::DateTimeIso(s) => Cell::IsoDateTime(s),
            DataRef::DurationIso(_) => Cell::Duration,
            DataRef::Error(e) => Cell::Error(e),
        }
    }
}

impl AsCell for Data {
    fn cell(&self) -> Cell<'_> {
        match self {
            Data::Empty => Cell::Empty,
            Data::String(s) => Cell::Text(s),
            Data::Float(f) => Cell::Float(*f),
            Data::Int(i) => Cell::Int(*i),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) if dt.is_duration() => Cell::Duration,
            Data::DateTime(dt) => Cell::DateTime(*dt),
            Data::DateTimeIso(s) => Cell::IsoDateTime(s),
            Data::DurationIso(_) => Cell::Duration,
            Data::Error(e) => Cell::Error(e),
        }
    }
}

impl<T: AsCell> AsCell for &T {
    fn cell(&self) -> Cell<'_> {
        (*self).cell()
    }
}

/// Picks the worksheet: the one the job names, else the first visible worksheet.
fn choose_sheet(layout: &Layout, sheets: &[Sheet]) -> Result<String, String> {
    let describe = || {
        sheets
            .iter()
            .map(|s| {
                let mut d = format!("{:?}", s.name);
                if s.typ != SheetType::WorkSheet {
                    d.push_str(" (not a worksheet)");
                } else if s.visible != SheetVisible::Visible {
                    d.push_str(" (hidden)");
                }
                d
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(want) = &layout.sheet {
        let found = sheets.iter().find(|s| s.name == *want).or_else(|| {
            sheets
                .iter()
                .find(|s| s.name.trim().to_lowercase() == want.to_lowercase())
        });
        return match found {
            Some(s) if s.typ == SheetType::WorkSheet => Ok(s.name.clone()),
            Some(s) => Err(format!(
                "the sheet {:?} (extract.sheet) is not a worksheet; the workbook has {}",
                s.name,
                describe()
            )),
            None => Err(format!(
                "no sheet named {want:?} (extract.sheet); the workbook has {}",
                describe()
            )),
        };
    }
    sheets
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
        .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
        .map(|s| s.name.clone())
        .ok_or_else(|| format!("the workbook has no worksheet; it has {}", describe()))
}

/// Where the engine is in the sheet.
enum State {
    /// Looking for the header; the row that came closest so far (found, row, missing).
    Seeking(Option<(usize, u32, Vec<String>)>),
    /// Reading data rows under the header.
    Data {
        /// (0-based column, field), sorted by column: which cells feed which fields.
        feeds: Vec<(u32, Field)>,
    },
    /// A fatal problem ended reading.
    Stopped,
}

/// The row engine every spreadsheet format feeds.
struct Rows<'l> {
    layout: &'l Layout,
    out: Collector<'l>,
    sheet: String,
    is_1904: bool,
    state: State,
    /// The first row with several text cells: most likely the header the sender did write,
    /// which the refusal shows so the job's column names can be corrected.
    first_texts: Option<(u32, Vec<String>)>,
}

impl<'l> Rows<'l> {
    fn new(layout: &'l Layout, input: &Input, sheet: &str, is_1904: bool) -> Self {
        let mut out = Collector::new(layout, input.file_hash.clone());
        out.set_sheet(sheet, [None; FIELDS]);
        Rows {
            layout,
            out,
            sheet: sheet.to_owned(),
            is_1904,
            state: State::Seeking(None),
            first_texts: None,
        }
    }

    /// Whether reading can stop.
    fn done(&self) -> bool {
        matches!(self.state, State::Stopped) || self.out.full()
    }

    fn fatal(&mut self, message: String) {
        self.out.problem(None, message);
        self.state = State::Stopped;
    }

    /// One row (1-based number as Excel shows it) with its non-empty cells (0-based column).
    fn row<V: AsCell>(&mut self, row: u32, cells: &[(u32, V)]) {
        match &self.state {
            State::Stopped => {}
            State::Seeking(_) => self.seek(row, cells),
            State::Data { feeds } => {
                let mut values = [Cell::Empty; FIELDS];
                for (c, v) in cells {
                    // Few feeds: a short scan beats anything cleverer.
                    for (fc, f) in feeds {
                        if fc == c {
                            values[*f as usize] = v.cell();
                        }
                    }
                }
                let scan = || RowScan {
                    blank: cells.iter().all(|(_, v)| v.cell().is_blank()),
                    total_label: cells
                        .iter()
                        .any(|(_, v)| matches!(v.cell(), Cell::Text(s) if is_total_label(s))),
                };
                self.out.row(row, &values, self.is_1904, scan);
            }
        }
    }

    /// A row above (or at) the header.
    fn seek<V: AsCell>(&mut self, row: u32, cells: &[(u32, V)]) {
        let wanted = self.layout.header_row.unwrap_or(HEADER_SEARCH_ROWS);
        if row > wanted {
            let m = self.no_header(None);
            self.fatal(m);
            return;
        }
        if self.layout.header_row.is_some_and(|h| h != row) {
            return;
        }
        let texts: Vec<(u32, String)> = cells
            .iter()
            .filter_map(|(c, v)| match v.cell() {
                Cell::Text(s) => Some((*c, s.to_owned())),
                _ => None,
            })
            .collect();
        if self.first_texts.is_none() && texts.len() >= 2 {
            self.first_texts = Some((row, texts.iter().map(|(_, t)| t.clone()).collect()));
        }
        match match_header(self.layout, &texts) {
            HeaderMatch::Found(cols) => {
                let mut feeds: Vec<(u32, Field)> = Field::ALL
                    .into_iter()
                    .filter_map(|f| cols[f as usize].map(|c| (c, f)))
                    .collect();
                feeds.sort_by_key(|x| x.0);
                self.out.set_sheet(&self.sheet, cols);
                self.state = State::Data { feeds };
            }
            HeaderMatch::Twice {
                name,
                first,
                second,
            } => {
                let m = format!(
                    "the header in row {row} has the column {name:?} twice (cells {}{row} and \
                     {}{row}); clerk cannot tell which one is meant",
                    column_letters(first),
                    column_letters(second)
                );
                self.fatal(m);
            }
            HeaderMatch::Partial { found, missing } => {
                if self.layout.header_row.is_some() {
                    let m = self.no_header(Some(&texts));
                    self.fatal(m);
                } else if let State::Seeking(closest) = &mut self.state
                    && found > 0
                    && closest.as_ref().is_none_or(|c| found > c.0)
                {
                    *closest = Some((found, row, missing));
                }
            }
        }
    }

    /// Why no header was found.
    fn no_header(&self, pinned_texts: Option<&[(u32, String)]>) -> String {
        let wanted = self.layout.wanted_columns();
        let mut m = match self.layout.header_row {
            Some(h) => {
                format!("row {h} (extract.header_row) is not a header with the columns {wanted}")
            }
            None => format!(
                "no header row with the columns {wanted} in the first {HEADER_SEARCH_ROWS} rows"
            ),
        };
        if let State::Seeking(Some((_, row, missing))) = &self.state {
            m.push_str(&format!(
                "; row {row} comes closest but lacks {}",
                missing.join(", ")
            ));
        } else if let Some(t) = pinned_texts {
            let cells: Vec<String> = t.iter().map(|(_, s)| format!("{s:?}")).collect();
            m.push_str(&format!("; it holds {}", cells.join(", ")));
        } else if let Some((row, texts)) = &self.first_texts {
            const SHOWN: usize = 20;
            let mut cells: Vec<String> =
                texts.iter().take(SHOWN).map(|s| format!("{s:?}")).collect();
            if texts.len() > SHOWN {
                cells.push(format!("and {} more", texts.len() - SHOWN));
            }
            m.push_str(&format!(
                "; the headers found (row {row}) are {}",
                cells.join(", ")
            ));
        }
        m
    }

    fn finish(mut self, file: &str) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
        if matches!(self.state, State::Seeking(_)) {
            let m = self.no_header(None);
            self.fatal(m);
        }
        self.out.finish(file)
    }
}

/// Runs a spreadsheet read, turning a panic inside calamine (it has some on damaged files)
/// into an error about the file: a bad file must never take the daemon down.
pub(super) fn guarded<T>(
    file: &str,
    read: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(ExtractError::whole(
            file,
            format!("the workbook is damaged and cannot be read ({why})"),
        ))
    })
}

fn open_error(format: &str, e: impl std::fmt::Display) -> String {
    format!("cannot be opened as {format}: {e}")
}

/// Reads an XLSX/XLSM workbook, streaming the sheet's cells.
pub(crate) fn extract_xlsx(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    guarded(input.name, || extract_xlsx_inner(layout, input, progress))
}

fn extract_xlsx_inner(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    let whole = |m: String| ExtractError::whole(input.name, m);
    // calamine unpacks parts without a limit: look first.
    if let Some(m) = super::zip_guard::refuse(input.bytes) {
        return Err(whole(m));
    }
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(input.bytes))
        .map_err(|e| whole(open_error("an XLSX workbook", e)))?;
    let sheet = choose_sheet(layout, wb.sheets_metadata()).map_err(whole)?;
    let is_1904 = wb.has_1904_epoch();
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| whole(format!("sheet {sheet:?} cannot be read: {e}")))?;
    let mut rows = Rows::new(layout, input, &sheet, is_1904);
    stream_rows(&mut cells, &mut rows, input.bytes.len() as u64, progress);
    rows.finish(input.name)
}

/// Feeds a streamed XLSX sheet to the row engine, one row at a time.
fn stream_rows<RS: std::io::Read + std::io::Seek>(
    cells: &mut XlsxCellReader<'_, RS>,
    rows: &mut Rows<'_>,
    total: u64,
    progress: &dyn Fn(u64, u64),
) {
    // Only for the progress estimate: nothing is allocated from it.
    let declared_rows = u64::from(cells.dimensions().end.0) + 1;
    let mut row_cells: Vec<(u32, DataRef<'_>)> = Vec::new();
    let mut current: Option<u32> = None;
    let mut seen_rows = 0u64;
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let m = format!("the sheet cannot be read: {e}");
                rows.fatal(m);
                return;
            }
        };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(cur) = current {
                if r < cur {
                    let m = format!(
                        "the sheet lists row {} after row {}; the file is damaged",
                        r + 1,
                        cur + 1
                    );
                    rows.fatal(m);
                    return;
                }
                if !row_cells.is_empty() {
                    rows.row(cur + 1, &row_cells);
                    row_cells.clear();
                }
                if rows.done() {
                    return;
                }
            }
            current = Some(r);
            seen_rows += 1;
            if seen_rows.is_multiple_of(PROGRESS_EVERY) {
                let est = u64::from(r) * total / declared_rows.max(u64::from(r) + 1);
                progress(est.min(total), total);
            }
        }
        let v = cell.get_value();
        if *v != DataRef::Empty && row_cells.len() < MAX_COLUMNS {
            row_cells.push((c, v.clone()));
        }
    }
    if let Some(cur) = current
        && !row_cells.is_empty()
        && !rows.done()
    {
        rows.row(cur + 1, &row_cells);
    }
}

/// Reads an XLS workbook (calamine's range API).
pub(crate) fn extract_xls(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    guarded(input.name, || extract_xls_inner(layout, input, progress))
}

fn extract_xls_inner(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    // calamine reserves what the file declares before we could check it: look first.
    if let Some(m) = xls_guard::refuse(input.bytes, MAX_RANGE_CELLS as u64) {
        return Err(ExtractError::whole(input.name, m));
    }
    let wb: Xls<_> = Xls::new(Cursor::new(input.bytes))
        .map_err(|e| ExtractError::whole(input.name, open_error("an XLS workbook", e)))?;
    let is_1904 = wb.has_1904_epoch();
    extract_range(wb, is_1904, layout, input, progress)
}

/// Reads an ODS spreadsheet (calamine's range API). ODS stores dates as ISO text; numbers
/// in a date column count from ODS's default epoch, the same as Excel's 1900 one.
pub(crate) fn extract_ods(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    guarded(input.name, || extract_ods_inner(layout, input, progress))
}

fn extract_ods_inner(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    // calamine expands every sheet's repeated rows when it opens the file, and unpacks parts
    // without a limit: look first.
    if let Some(m) = super::zip_guard::refuse(input.bytes) {
        return Err(ExtractError::whole(input.name, m));
    }
    if let Some(m) = ods_guard::refuse(input.bytes, MAX_RANGE_CELLS as u64) {
        return Err(ExtractError::whole(input.name, m));
    }
    let wb: Ods<_> = Ods::new(Cursor::new(input.bytes))
        .map_err(|e| ExtractError::whole(input.name, open_error("an ODS spreadsheet", e)))?;
    extract_range(wb, false, layout, input, progress)
}

fn extract_range<'b, R>(
    mut wb: R,
    is_1904: bool,
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError>
where
    R: Reader<Cursor<&'b [u8]>>,
    R::Error: std::fmt::Display,
{
    let whole = |m: String| ExtractError::whole(input.name, m);
    let sheet = choose_sheet(layout, wb.sheets_metadata()).map_err(whole)?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| whole(format!("sheet {sheet:?} cannot be read: {e}")))?;
    check_range_size(&sheet, &range).map_err(whole)?;
    let mut rows = Rows::new(layout, input, &sheet, is_1904);
    feed_range(&range, &mut rows, input.bytes.len() as u64, progress);
    rows.finish(input.name)
}

/// Refuses a range larger than any real statement (a corrupt file, or stray cells far away).
fn check_range_size(sheet: &str, range: &Range<Data>) -> Result<(), String> {
    let (height, width) = range.get_size();
    if height > MAX_SHEET_ROWS
        || width > MAX_SHEET_COLS
        || height.saturating_mul(width) > MAX_RANGE_CELLS
    {
        let (r0, c0) = range.start().unwrap_or_default();
        let (r1, c1) = range.end().unwrap_or_default();
        return Err(format!(
            "sheet {sheet:?} spans {}{}:{}{} ({height} rows × {width} columns), more than clerk \
             reads; delete the stray cells far below or right of the data",
            column_letters(c0),
            r0 + 1,
            column_letters(c1),
            r1 + 1
        ));
    }
    Ok(())
}

/// Feeds a range's rows to the row engine.
fn feed_range(range: &Range<Data>, rows: &mut Rows<'_>, total: u64, progress: &dyn Fn(u64, u64)) {
    let height = range.height().max(1) as u64;
    let (r0, c0) = range.start().unwrap_or_default();
    let mut row_cells: Vec<(u32, &Data)> = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        row_cells.clear();
        row_cells.extend(
            cells
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != Data::Empty)
                .map(|(j, v)| (c0 + j as u32, v)),
        );
        if !row_cells.is_empty() {
            rows.row(r0 + i as u32 + 1, &row_cells);
        }
        if rows.done() {
            break;
        }
        if (i as u64 + 1).is_multiple_of(PROGRESS_EVERY) {
            progress((i as u64 * total) / height, total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ExtractSpec, Extracted, Format, extract};
    use crate::model::Side;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Formula, Workbook};
    use std::str::FromStr;
    use std::sync::Arc;

    fn layout(text: &str) -> Layout {
        toml::from_str::<ExtractSpec>(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .check(Side::Statement)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn input<'a>(name: &'a str, bytes: &'a [u8]) -> Input<'a> {
        Input {
            name,
            bytes,
            file_hash: Arc::from("f00d"),
        }
    }

    fn run(l: &Layout, name: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
        extract(l, &input(name, bytes))
    }

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/calamine/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const BANK: &str = r#"
        sheet = "Data"
        thousands_separator = ","
        date_formats = ["%d.%m.%Y", "%Y-%m-%d"]
        [columns]
        booking_date = "Buchungstag"
        value_date = "Valuta"
        remittance = "Text"
        amount = "Betrag"
        currency = "Währung"
    "#;

    /// A workbook as banks send them: a summary sheet first, then the data sheet with a merged
    /// title above the header, dates as date cells, as text and as plain serial numbers,
    /// amounts as floats and as text, a blank row, a totals row, and a stray blank cell in
    /// the very last cell of the sheet (XFD1048576).
    fn bank_workbook(amount_row5: &str) -> Vec<u8> {
        let mut wb = Workbook::new();
        let date = XFormat::new().set_num_format("yyyy-mm-dd");
        let d = |y, m, dd| ExcelDateTime::from_ymd(y, m, dd).unwrap();
        let s = wb.add_worksheet();
        s.set_name("Summary").unwrap();
        s.write_string(0, 0, "See sheet Data").unwrap();
        let s = wb.add_worksheet();
        s.set_name("Data").unwrap();
        s.merge_range(0, 0, 0, 4, "Kontoauszug Januar 2025", &XFormat::new())
            .unwrap();
        for (c, h) in ["Buchungstag", "Valuta", "Text", "Betrag", "Währung"]
            .iter()
            .enumerate()
        {
            s.write_string(2, c as u16, *h).unwrap();
        }
        // Row 4: date cells, a float amount.
        s.write_datetime_with_format(3, 0, d(2025, 1, 2), &date)
            .unwrap();
        s.write_datetime_with_format(3, 1, d(2025, 1, 2), &date)
            .unwrap();
        s.write_string(3, 2, "INV-1 Müller").unwrap();
        s.write_number(3, 3, 1234.56).unwrap();
        s.write_string(3, 4, "EUR").unwrap();
        // Row 5: a date as text, a date as a plain number, an amount as text.
        s.write_string(4, 0, "31.01.2025").unwrap();
        s.write_number(4, 1, 45688.0).unwrap();
        s.write_string(4, 2, "Gebühr").unwrap();
        s.write_string(4, 3, amount_row5).unwrap();
        s.write_string(4, 4, "EUR").unwrap();
        // Row 6: a float that rounds half away from zero.
        s.write_datetime_with_format(5, 0, d(2025, 2, 3), &date)
            .unwrap();
        s.write_datetime_with_format(5, 1, d(2025, 2, 3), &date)
            .unwrap();
        s.write_number(5, 3, 0.125).unwrap();
        s.write_string(5, 4, "EUR").unwrap();
        // Row 7: blank (spaces only); row 8: totals.
        s.write_string(6, 2, "   ").unwrap();
        s.write_string(7, 2, "Summe").unwrap();
        s.write_formula(7, 3, Formula::new("=SUM(D4:D6)").set_result("0.125"))
            .unwrap();
        s.write_string(1_048_575, 16_383, " ").unwrap();
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_sheet_by_name_title_dates_floats_totals_and_a_stray_far_cell() {
        let bytes = bank_workbook("(1,234.56)");
        let x = run(&layout(BANK), "konto.xlsx", &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(x.format, Format::Xlsx);
        let got: Vec<(u32, NaiveDate, Option<NaiveDate>, Decimal)> = x
            .records
            .iter()
            .map(|r| (r.source.row, r.value_date, r.booking_date, r.amount))
            .collect();
        assert_eq!(
            got,
            [
                (4, ymd(2025, 1, 2), Some(ymd(2025, 1, 2)), dec("1234.56")),
                (5, ymd(2025, 1, 31), Some(ymd(2025, 1, 31)), dec("-1234.56")),
                (6, ymd(2025, 2, 3), Some(ymd(2025, 2, 3)), dec("0.13")),
            ]
        );
        let r = &x.records[0];
        assert_eq!(r.source.sheet.as_deref(), Some("Data"));
        assert_eq!(&*r.source.file, "f00d");
        assert_eq!(r.remittance.as_deref(), Some("INV-1 Müller"));
        assert_eq!(r.currency.as_str(), "EUR");
        assert_eq!(x.records[2].remittance, None);
        let skipped: Vec<(Option<&str>, u32, &str)> = x
            .skipped
            .iter()
            .map(|s| (s.sheet.as_deref(), s.row, s.why.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (Some("Data"), 7, "blank row"),
                (Some("Data"), 8, "totals row"),
                (Some("Data"), 1_048_576, "blank row"),
            ]
        );
    }

    #[test]
    fn xlsx_bad_cell_is_named_by_sheet_row_and_cell() {
        let bytes = bank_workbook("12,3x");
        let e = run(&layout(BANK), "konto.xlsx", &bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "konto.xlsx sheet \"Data\", row 5, column \"Betrag\": cell D5: expected an amount \
             such as 1234.56 or (1,234.56), found \"12,3x\""
        );
        assert_eq!(e.problems[0].row, Some(5));
        assert_eq!(e.problems[0].sheet.as_deref(), Some("Data"));
    }

    #[test]
    fn xlsx_text_amounts_follow_the_minor_unit_rule_and_floats_are_rounded_to_it() {
        // A text cell is the amount as written: three euro decimals are refused.
        let bytes = bank_workbook("100.005");
        let e = run(&layout(BANK), "konto.xlsx", &bytes).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "konto.xlsx sheet \"Data\", row 5, column \"Betrag\": cell D5: EUR has 2 \
                 decimals; 100.005 has 3"
            ),
            "{e}"
        );
        // A number cell is a binary float: 0.1 + 0.2 is read as the 0.30 the cell shows.
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.set_name("Data").unwrap();
        for (c, h) in ["Valuta", "Betrag", "Währung"].iter().enumerate() {
            s.write_string(0, c as u16, *h).unwrap();
        }
        s.write_string(1, 0, "2025-01-02").unwrap();
        s.write_number(1, 1, 0.1 + 0.2).unwrap();
        s.write_string(1, 2, "EUR").unwrap();
        s.write_string(2, 0, "2025-01-03").unwrap();
        s.write_number(2, 1, 1000.5).unwrap();
        s.write_string(2, 2, "JPY").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let l = layout(
            r#"
            sheet = "Data"
            [columns]
            value_date = "Valuta"
            amount = "Betrag"
            currency = "Währung"
            "#,
        );
        let x = run(&l, "floats.xlsx", &bytes).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<String> = x.records.iter().map(|r| r.amount.to_string()).collect();
        assert_eq!(got, ["0.30", "1001"]);
    }

    #[test]
    fn xlsx_pinned_header_row_and_default_first_sheet() {
        let bytes = bank_workbook("1.00");
        let pinned = BANK.replace("sheet = \"Data\"", "sheet = \"data\"\nheader_row = 3");
        let x = run(&layout(&pinned), "konto.xlsx", &bytes).unwrap();
        assert_eq!(x.records.len(), 3);
        let wrong = BANK.replace("sheet = \"Data\"", "sheet = \"Data\"\nheader_row = 4");
        let e = run(&layout(&wrong), "konto.xlsx", &bytes).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "konto.xlsx sheet \"Data\": row 4 (extract.header_row) is not a header"
            ),
            "{e}"
        );
        // Without a sheet name, the first sheet ("Summary") is read, and has no header.
        let first = BANK.replace("sheet = \"Data\"", "");
        let e = run(&layout(&first), "konto.xlsx", &bytes).unwrap_err();
        assert!(e.to_string().starts_with("konto.xlsx sheet \"Summary\": no header row with the columns \"Valuta\", \"Buchungstag\""), "{e}");
    }

    #[test]
    fn missing_sheet_lists_the_sheets_that_exist() {
        let l = layout(&BANK.replace("sheet = \"Data\"", "sheet = \"Umsätze\""));
        for f in ["any_sheets.xlsx", "any_sheets.xls", "any_sheets.ods"] {
            let e = run(&l, f, &corpus(f)).unwrap_err();
            let t = e.to_string();
            assert!(t.contains("no sheet named \"Umsätze\" (extract.sheet); the workbook has \"Visible\", \"Hidden\" (hidden), \"VeryHidden\" (hidden)"), "{f}: {t}");
        }
        let e = run(&l, "x.xlsx", &corpus("any_sheets.xlsx")).unwrap_err();
        assert!(e.to_string().contains("\"Chart\" (not a worksheet)"), "{e}");
        let chart = layout(&BANK.replace("sheet = \"Data\"", "sheet = \"Chart\""));
        let e = run(&chart, "x.xlsx", &corpus("any_sheets.xlsx")).unwrap_err();
        assert!(e.to_string().contains("is not a worksheet"), "{e}");
    }

    #[test]
    fn default_sheet_is_the_first_visible_worksheet() {
        let sheets = |spec: &[(&str, SheetType, SheetVisible)]| -> Vec<Sheet> {
            spec.iter()
                .map(|(n, t, v)| Sheet {
                    name: (*n).into(),
                    typ: *t,
                    visible: *v,
                })
                .collect()
        };
        let l = layout(&BANK.replace("sheet = \"Data\"", ""));
        let s = sheets(&[
            ("Chart", SheetType::ChartSheet, SheetVisible::Visible),
            ("Old", SheetType::WorkSheet, SheetVisible::Hidden),
            ("Now", SheetType::WorkSheet, SheetVisible::Visible),
        ]);
        assert_eq!(choose_sheet(&l, &s).unwrap(), "Now");
        let s = sheets(&[("Old", SheetType::WorkSheet, SheetVisible::VeryHidden)]);
        assert_eq!(choose_sheet(&l, &s).unwrap(), "Old");
        let s = sheets(&[("Chart", SheetType::ChartSheet, SheetVisible::Visible)]);
        assert!(choose_sheet(&l, &s).unwrap_err().contains("no worksheet"));
    }

    /// Runs a real file's first sheet through the row engine under a header row 0 that the
    /// test supplies (calamine's fixtures have no header): A = "Date", B = "Amount".
    fn with_header(
        file: &str,
        format: Format,
        spec: &str,
    ) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
        let l = layout(spec);
        let bytes = corpus(file);
        let inp = input(file, &bytes);
        let header = [
            (0u32, Data::String("Date".into())),
            (1, Data::String("Amount".into())),
        ];
        let noop = |_: u64, _: u64| {};
        match format {
            Format::Xlsx => {
                let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..])).unwrap();
                let is_1904 = wb.has_1904_epoch();
                let mut rows = Rows::new(&l, &inp, "Sheet1", is_1904);
                rows.row(0, &header);
                let mut cells = wb.worksheet_cells_reader("Sheet1").unwrap();
                stream_rows(&mut cells, &mut rows, 1, &noop);
                rows.finish(file)
            }
            Format::Xls | Format::Ods => {
                let (range, is_1904) = if format == Format::Xls {
                    let mut wb: Xls<_> = Xls::new(Cursor::new(&bytes[..])).unwrap();
                    (wb.worksheet_range("Sheet1").unwrap(), wb.has_1904_epoch())
                } else {
                    let mut wb: Ods<_> = Ods::new(Cursor::new(&bytes[..])).unwrap();
                    (wb.worksheet_range("Sheet1").unwrap(), false)
                };
                let mut rows = Rows::new(&l, &inp, "Sheet1", is_1904);
                rows.row(0, &header);
                feed_range(&range, &mut rows, 1, &noop);
                rows.finish(file)
            }
            _ => unreachable!("spreadsheets only"),
        }
    }

    const DATE_AMOUNT: &str =
        "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\n[defaults]\ncurrency = \"EUR\"";

    #[test]
    fn real_xls_ods_and_1904_date_cells() {
        for (file, format) in [
            ("date.xls", Format::Xls),
            ("date.ods", Format::Ods),
            ("date_1904.xlsx", Format::Xlsx),
        ] {
            // Row 3 holds a time span, not a date: refused, naming the cell.
            let e = with_header(file, format, DATE_AMOUNT).unwrap_err();
            let t = e.to_string();
            assert!(
                t.contains(&format!(
                    "{file} sheet \"Sheet1\", row 3, column \"Date\": cell A3: holds a time span"
                )),
                "{t}"
            );
            // The rows before it read fine: check them through the records kept so far.
            let l = layout(DATE_AMOUNT);
            let bytes = corpus(file);
            let inp = input(file, &bytes);
            let mut rows = Rows::new(&l, &inp, "Sheet1", format == Format::Xlsx);
            rows.row(
                0,
                &[
                    (0u32, Data::String("Date".into())),
                    (1, Data::String("Amount".into())),
                ],
            );
            let first = match format {
                Format::Xls => {
                    let mut wb: Xls<_> = Xls::new(Cursor::new(&bytes[..])).unwrap();
                    wb.worksheet_range("Sheet1").unwrap()
                }
                Format::Ods => {
                    let mut wb: Ods<_> = Ods::new(Cursor::new(&bytes[..])).unwrap();
                    wb.worksheet_range("Sheet1").unwrap()
                }
                _ => {
                    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..])).unwrap();
                    wb.worksheet_range("Sheet1").unwrap()
                }
            };
            let two = first.range((0, 0), (1, 1));
            feed_range(&two, &mut rows, 1, &|_, _| {});
            let (records, _) = rows.finish(file).unwrap_or_else(|e| panic!("{e}"));
            let got: Vec<(u32, NaiveDate, Decimal)> = records
                .iter()
                .map(|r| (r.source.row, r.value_date, r.amount))
                .collect();
            let second = if format == Format::Ods {
                ymd(2021, 1, 1)
            } else {
                ymd(2021, 1, 2)
            };
            assert_eq!(
                got,
                [(1, ymd(2021, 1, 1), dec("15")), (2, second, dec("16"))],
                "{file}"
            );
        }
    }

    #[test]
    fn plain_numbers_in_a_date_column_count_from_the_workbooks_epoch() {
        // Column B of these files holds plain numbers 15, 16, 17: read as date serials (and
        // as amounts, through the same column mapped twice).
        let spec = "[columns]\nvalue_date = \"N\"\namount = \"N\"\n[defaults]\ncurrency = \"EUR\"";
        let l = layout(spec);
        let header = [(1u32, Data::String("N".into()))];
        for (file, want) in [
            ("date_1904.xlsx", ymd(1904, 1, 16)),
            ("date.xls", ymd(1900, 1, 15)),
        ] {
            let bytes = corpus(file);
            let inp = input(file, &bytes);
            let (range, is_1904) = if file.ends_with("xlsx") {
                let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..])).unwrap();
                (wb.worksheet_range("Sheet1").unwrap(), wb.has_1904_epoch())
            } else {
                let mut wb: Xls<_> = Xls::new(Cursor::new(&bytes[..])).unwrap();
                (wb.worksheet_range("Sheet1").unwrap(), wb.has_1904_epoch())
            };
            let mut rows = Rows::new(&l, &inp, "Sheet1", is_1904);
            rows.row(0, &header);
            let only_b = range.range((0, 1), (2, 1));
            feed_range(&only_b, &mut rows, 1, &|_, _| {});
            let (records, _) = rows.finish(file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(records[0].value_date, want, "{file}");
            assert_eq!(records[0].amount, dec("15"), "{file}");
            assert_eq!(records.len(), 3);
        }
    }

    #[test]
    fn formula_error_cells_are_named() {
        let spec =
            "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\n[defaults]\ncurrency = \"EUR\"";
        let l = layout(spec);
        let bytes = corpus("errors.xlsx");
        let inp = input("errors.xlsx", &bytes);
        let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..])).unwrap();
        let mut rows = Rows::new(&l, &inp, "Feuil1", false);
        // Header in row 0: A = "Amount" (the error cells), B = "Date".
        rows.row(
            0,
            &[
                (0u32, Data::String("Amount".into())),
                (1, Data::String("Date".into())),
            ],
        );
        let mut cells = wb.worksheet_cells_reader("Feuil1").unwrap();
        stream_rows(&mut cells, &mut rows, 1, &|_, _| {});
        let e = rows.finish("errors.xlsx").unwrap_err();
        let t = e.to_string();
        for (row, err) in [(1, "#DIV/0!"), (2, "#NAME?"), (7, "#N/A")] {
            let want = format!(
                "errors.xlsx sheet \"Feuil1\", row {row}, column \"Amount\": cell A{row}: holds the formula error {err}"
            );
            assert!(t.contains(&want), "{want}\n{t}");
        }
    }

    #[test]
    fn absurd_ranges_are_refused() {
        let mut r: Range<Data> = Range::new((0, 0), (0, 0));
        r.set_value((0, 0), Data::String("x".into()));
        assert!(check_range_size("S", &r).is_ok());
        let big = Range::<Data>::new((0, 0), (MAX_RANGE_CELLS as u32 / 10, 10));
        let e = check_range_size("S", &big).unwrap_err();
        assert!(e.starts_with("sheet \"S\" spans A1:K1000001"), "{e}");
    }

    #[test]
    fn xlsb_and_protected_workbooks_are_refused_clearly() {
        let l = layout(DATE_AMOUNT);
        let e = run(&l, "a.xlsb", &corpus("any_sheets.xlsb")).unwrap_err();
        assert!(e.to_string().contains("XLSB"), "{e}");
        let e = run(&l, "p.xlsx", &corpus("pass_protected.xlsx")).unwrap_err();
        assert!(e.to_string().contains("password-protected"), "{e}");
    }

    #[test]
    fn damaged_workbooks_are_errors_not_panics() {
        let l = layout(DATE_AMOUNT);
        let mut bytes = bank_workbook("1.00");
        bytes.truncate(bytes.len() / 2);
        assert!(run(&l, "cut.xlsx", &bytes).is_err());
        let mut xls = corpus("date.xls");
        xls.truncate(600);
        assert!(run(&l, "cut.xls", &xls).is_err());
        let mut ods = corpus("date.ods");
        ods.truncate(2000);
        assert!(run(&l, "cut.ods", &ods).is_err());
    }
}

/// Damaged files must give errors: never a panic, never an abort. Bytes of real files are
/// overwritten at random (deterministically) and every result must be an `Err` or an `Ok`.
#[cfg(test)]
mod damaged {
    use crate::extract::{ExtractSpec, Input, extract};
    use crate::model::Side;
    use std::sync::Arc;

    #[test]
    fn random_damage_never_panics() {
        let l = toml::from_str::<ExtractSpec>(
            "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\n[defaults]\ncurrency = \"EUR\"",
        )
        .unwrap()
        .check(Side::Statement)
        .unwrap();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for f in [
            "date.xls",
            "any_sheets.xls",
            "date.ods",
            "date_1904.xlsx",
            "errors.xlsx",
        ] {
            let path = format!("{}/tests/fixtures/calamine/{f}", env!("CARGO_MANIFEST_DIR"));
            let orig = std::fs::read(path).unwrap();
            for round in 0..300 {
                let mut b = orig.clone();
                for _ in 0..(1 + next() % 8) {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                let input = Input {
                    name: f,
                    bytes: &b,
                    file_hash: Arc::from("h"),
                };
                let r = std::panic::catch_unwind(|| extract(&l, &input).map(|x| x.records.len()));
                assert!(r.is_ok(), "{f} round {round} panicked");
            }
        }
    }
}
