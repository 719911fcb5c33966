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

use calamine::{Data, DataRef, Ods, Reader, Sheet, SheetType, SheetVisible, Xls, Xlsx};

use super::row::{
    Cell, Collector, HeaderMatch, RowScan, column_letters, is_total_label, match_header,
};
use super::spec::{FIELDS, Field, Layout};
use super::{ExtractError, Input, MAX_COLUMNS, PROGRESS_EVERY, Skipped};
use crate::model::Record;

/// How many rows are searched for the header when the job does not say where it is.
const HEADER_SEARCH_ROWS: u32 = 50;

/// Excel's own limits; a range beyond them is corrupt.
const MAX_SHEET_ROWS: usize = 1_048_576;
const MAX_SHEET_COLS: usize = 16_384;
/// Largest grid (rows × columns) accepted from the range API: far beyond any statement.
const MAX_RANGE_CELLS: usize = 20_000_000;

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
                } else if let State::Seeking(closest) = &mut self.state {
                    if found > 0 && closest.as_ref().is_none_or(|c| found > c.0) {
                        *closest = Some((found, row, missing));
                    }
                }
            }
        }
    }

    /// Why no header was found.
    fn no_header(&self, pinned_texts: Option<&[(u32, String)]>) -> String {
        let wanted = self.layout.wanted_columns();
        let mut m = match self.layout.header_row {
            Some(h) => format!(
                "row {h} of sheet {:?} (extract.header_row) is not a header with the columns {wanted}",
                self.sheet
            ),
            None => format!(
                "no header row with the columns {wanted} in the first {HEADER_SEARCH_ROWS} rows \
                 of sheet {:?}",
                self.sheet
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

fn open_error(format: &str, e: impl std::fmt::Display) -> String {
    format!("cannot be opened as {format}: {e}")
}

/// Reads an XLSX/XLSM workbook, streaming the sheet's cells.
pub(crate) fn extract_xlsx(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    let whole = |m: String| ExtractError::whole(input.name, m);
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(input.bytes))
        .map_err(|e| whole(open_error("an XLSX workbook", e)))?;
    let sheet = choose_sheet(layout, wb.sheets_metadata()).map_err(whole)?;
    let is_1904 = wb.has_1904_epoch();
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| whole(format!("sheet {sheet:?} cannot be read: {e}")))?;
    // Only for the progress estimate: nothing is allocated from it.
    let declared_rows = u64::from(cells.dimensions().end.0) + 1;
    let total = input.bytes.len() as u64;

    let mut rows = Rows::new(layout, input, &sheet, is_1904);
    let mut row_cells: Vec<(u32, DataRef<'_>)> = Vec::new();
    let mut current: Option<u32> = None;
    let mut seen_rows = 0u64;
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                rows.fatal(format!("sheet {sheet:?} cannot be read: {e}"));
                break;
            }
        };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(cur) = current {
                if r < cur {
                    rows.fatal(format!(
                        "sheet {sheet:?} lists row {} after row {}; the file is damaged",
                        r + 1,
                        cur + 1
                    ));
                    break;
                }
                if !row_cells.is_empty() {
                    rows.row(cur + 1, &row_cells);
                    row_cells.clear();
                }
                if rows.done() {
                    break;
                }
            }
            current = Some(r);
            seen_rows += 1;
            if seen_rows % PROGRESS_EVERY == 0 {
                let est = u64::from(r) * total / declared_rows.max(u64::from(r) + 1);
                progress(est.min(total), total);
            }
        }
        let v = cell.get_value();
        if *v != DataRef::Empty && row_cells.len() < MAX_COLUMNS {
            row_cells.push((c, v.clone()));
        }
    }
    if let Some(cur) = current {
        if !row_cells.is_empty() && !rows.done() {
            rows.row(cur + 1, &row_cells);
        }
    }
    rows.finish(input.name)
}

/// Reads an XLS workbook (calamine's range API).
pub(crate) fn extract_xls(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
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
    let (height, width) = range.get_size();
    if height > MAX_SHEET_ROWS
        || width > MAX_SHEET_COLS
        || height.saturating_mul(width) > MAX_RANGE_CELLS
    {
        let (r0, c0) = range.start().unwrap_or_default();
        let (r1, c1) = range.end().unwrap_or_default();
        return Err(whole(format!(
            "sheet {sheet:?} spans {}{}:{}{} ({height} rows × {width} columns), more than clerk \
             reads; delete the stray cells far below or right of the data",
            column_letters(c0),
            r0 + 1,
            column_letters(c1),
            r1 + 1
        )));
    }
    let total = input.bytes.len() as u64;
    let (r0, c0) = range.start().unwrap_or_default();
    let mut rows = Rows::new(layout, input, &sheet, is_1904);
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
        if (i as u64 + 1) % PROGRESS_EVERY == 0 {
            progress((i as u64 * total) / height as u64, total);
        }
    }
    rows.finish(input.name)
}
