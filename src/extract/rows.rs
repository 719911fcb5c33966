//! Rows of a CSV file or an XLSX worksheet by column name, for the files that are not cash records: a portfolio
//! system's book positions, the front office's trade blotter, purchase orders and goods
//! receipts. Each reconciliation says which columns it needs ([`Wanted`]); this finds the
//! header (in the first 50 lines, with any of the usual delimiters, in any of the encodings
//! the cash reader handles) and hands back each data row with its line number, so whatever
//! is built from a row can say where it came from.
//!
//! Typed cells go through the same amount and date parsers as ledger files, and every bad
//! cell is reported as `file line N, column "X": expected …`; a file with any bad row is
//! refused whole, as for ledger files.

use csv::ByteRecord;

use super::amount::AmountStyle;
use super::csv::{csv_reader, delimiter_name, line_of, too_big};
use super::date::DateFormats;
use super::text::{self, TextEncoding};
use super::{ExtractError, Input, MAX_PROBLEMS, Problem};
use crate::model::checked_magnitude;
use chrono::NaiveDate;
use rust_decimal::Decimal;

const HEADER_SEARCH_LINES: u64 = 50;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Rows per file: far above any blotter or position file, low enough to bound memory.
const MAX_ROWS: usize = 5_000_000;

/// A column a reconciliation reads: its key in the job file's `[columns]` table, the header
/// the file uses for it, and whether a row may leave it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub key: &'static str,
    /// As the job file wrote it (shown in messages); compared trimmed and case-insensitively.
    pub header: String,
    pub required: bool,
}

/// How the file writes numbers and dates, from the job's `[extract]` table.
#[derive(Clone, Debug, Default)]
pub struct CellStyle {
    pub(crate) amounts: AmountStyle,
    pub(crate) dates: DateFormats,
}

impl CellStyle {
    /// `decimal` is `.` or `,`; `dates` are chrono formats (ISO when empty).
    pub fn new(decimal: char, thousands: Option<char>, dates: &[String]) -> Result<Self, String> {
        let dates =
            DateFormats::new(dates).map_err(|(i, m)| format!("date format {}: {m}", i + 1))?;
        Ok(CellStyle {
            amounts: AmountStyle::new(decimal, thousands),
            dates,
        })
    }
}

/// The data rows of one file, by the columns asked for.
#[derive(Debug)]
pub struct Rows {
    pub file: String,
    /// The worksheet, for a workbook: problems then say "sheet X, row N".
    sheet: Option<String>,
    /// Column index of each [`Wanted`], in the order asked; `None` for an optional column the
    /// file does not have.
    columns: Vec<(Wanted, Option<usize>)>,
    rows: Vec<(u32, Vec<Value>)>,
}

/// A cell as the file holds it: text from CSV, or a spreadsheet's typed number or date (which
/// must not go through the job's text conventions: 12.4 in a cell is not "124" in a
/// decimal-comma file).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Number(Decimal),
    Date(NaiveDate),
}

/// One data row while it is turned into something typed: bad cells are collected, not
/// returned one at a time, so staff see every problem of a file at once.
pub struct RowCells<'r> {
    rows: &'r Rows,
    pub line: u32,
    cells: &'r [Value],
    problems: &'r mut Vec<Problem>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Builds one value per row with `each`, or refuses the file with every problem found.
    pub fn map<T>(
        &self,
        style: &CellStyle,
        mut each: impl FnMut(&mut RowCells<'_>, &CellStyle) -> Option<T>,
    ) -> Result<Vec<T>, ExtractError> {
        let mut problems = Vec::new();
        let mut out = Vec::with_capacity(self.rows.len());
        for (line, cells) in &self.rows {
            let mut row = RowCells {
                rows: self,
                line: *line,
                cells,
                problems: &mut problems,
            };
            if let Some(v) = each(&mut row, style) {
                out.push(v);
            }
            if problems.len() >= MAX_PROBLEMS {
                break;
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ExtractError::new(&self.file, problems))
        }
    }
}

impl RowCells<'_> {
    fn column(&self, key: &str) -> Option<(&Wanted, Option<usize>)> {
        self.rows
            .columns
            .iter()
            .find(|(w, _)| w.key == key)
            .map(|(w, i)| (w, *i))
    }

    fn problem(&mut self, key: &str, message: String) {
        let header = self.column(key).map(|(w, _)| w.header.clone());
        self.problems.push(Problem {
            sheet: self.rows.sheet.clone(),
            row: Some(self.line),
            column: header,
            message,
        });
    }

    fn value(&mut self, key: &str) -> Option<Value> {
        let (wanted, index) = self.column(key)?;
        let required = wanted.required;
        let value = index.and_then(|i| self.cells.get(i)).and_then(|v| match v {
            Value::Text(t) if t.trim().is_empty() => None,
            Value::Text(t) => Some(Value::Text(t.trim().to_owned())),
            other => Some(other.clone()),
        });
        if value.is_none() && required {
            self.problem(key, "expected a value, found an empty cell".into());
        }
        value
    }

    /// The trimmed text of a column; `None` when empty or not in the file. A required column
    /// left empty is a problem.
    pub fn text(&mut self, key: &str) -> Option<String> {
        Some(match self.value(key)? {
            Value::Text(t) => t,
            Value::Number(d) => d.normalize().to_string(),
            Value::Date(d) => d.to_string(),
        })
    }

    pub fn decimal(&mut self, key: &str, style: &CellStyle) -> Option<Decimal> {
        let t = match self.value(key)? {
            Value::Number(d) => {
                return checked_magnitude(d).map_err(|m| self.problem(key, m)).ok();
            }
            Value::Date(d) => {
                self.problem(key, format!("expected a number, found the date {d}"));
                return None;
            }
            Value::Text(t) => t,
        };
        match style.amounts.parse(&t) {
            Ok(v) => v,
            Err(m) => {
                self.problem(key, m);
                None
            }
        }
    }

    pub fn date(&mut self, key: &str, style: &CellStyle) -> Option<NaiveDate> {
        let t = match self.value(key)? {
            Value::Date(d) => return Some(d),
            Value::Number(n) => {
                self.problem(key, format!("expected a date, found the number {n}"));
                return None;
            }
            Value::Text(t) => t,
        };
        // ISO dates are unambiguous whatever the job's formats.
        if let Some(d) = super::date::parse_iso(t.as_bytes()) {
            return Some(d);
        }
        match style.dates.parse(&t) {
            Ok(v) => v,
            Err(m) => {
                self.problem(key, m);
                None
            }
        }
    }

    /// A currency code (`EUR`); `None` when empty, a problem when not ISO 4217-shaped.
    pub fn currency(&mut self, key: &str) -> Option<crate::model::Currency> {
        let t = self.text(key)?;
        match t.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                self.problem(
                    key,
                    format!("expected a currency code such as EUR, found {t:?}"),
                );
                None
            }
        }
    }

    /// Where this row came from, for what is built from it.
    pub fn source(&self, input: &Input) -> crate::model::Source {
        crate::model::Source::at(std::sync::Arc::clone(&input.file_hash), None, self.line)
    }

    /// A cell that must be one of a few words (e.g. `B`/`BUY`/`S`/`SELL`).
    pub fn choice<T: Copy>(
        &mut self,
        key: &str,
        choices: &[(&str, T)],
        expected: &str,
    ) -> Option<T> {
        let t = self.text(key)?;
        let found = choices
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(&t))
            .map(|(_, v)| *v);
        if found.is_none() {
            self.problem(key, format!("expected {expected}, found {t:?}"));
        }
        found
    }

    /// Reports a problem that spans cells (a quantity that does not fit its price).
    pub fn refuse(&mut self, key: &str, message: impl Into<String>) {
        self.problem(key, message.into());
    }

    /// `false` (and the column refused) when `value` is zero or less: "expected a positive
    /// {what}".
    pub fn positive(&mut self, key: &str, value: Option<Decimal>, what: &str) -> bool {
        match value {
            Some(v) if v <= Decimal::ZERO => {
                self.refuse(key, format!("expected a positive {what}, found {v}"));
                false
            }
            _ => true,
        }
    }

    /// `false` (and the column refused) when `value` is below zero: "expected {what} of zero
    /// or more".
    pub fn not_negative(&mut self, key: &str, value: Option<Decimal>, what: &str) -> bool {
        match value {
            Some(v) if v.is_sign_negative() => {
                self.refuse(key, format!("expected {what} of zero or more, found {v}"));
                false
            }
            _ => true,
        }
    }
}

/// Reads the rows of a delimited text file with the `wanted` columns.
pub fn read_csv(input: &Input, wanted: &[Wanted]) -> Result<Rows, ExtractError> {
    let decoding = text::choose(TextEncoding::Auto, input.bytes);
    let text = text::decode(input.bytes, decoding);
    let text = &*text;
    let norm = |s: &[u8]| String::from_utf8_lossy(s).trim().to_lowercase();
    let required: Vec<String> = wanted
        .iter()
        .filter(|w| w.required)
        .map(|w| w.header.trim().to_lowercase())
        .collect();

    let mut found: Option<(u8, u64, Vec<String>)> = None;
    let mut closest: Option<(usize, u64, u8)> = None;
    'delimiters: for d in DELIMITERS {
        let mut rdr = csv_reader(text, d);
        let mut rec = ByteRecord::new();
        let mut index = 0u64;
        while rdr
            .read_byte_record(&mut rec)
            .map_err(|e| ExtractError::whole(input.name, format!("cannot be read as CSV: {e}")))?
        {
            if let Some(m) = too_big(text, &rec) {
                return Err(ExtractError::whole(input.name, m));
            }
            if line_of(text, &rec) > HEADER_SEARCH_LINES {
                break;
            }
            let cells: Vec<String> = rec.iter().map(norm).collect();
            let have = required.iter().filter(|r| cells.contains(r)).count();
            if have == required.len() {
                found = Some((d, index, cells));
                break 'delimiters;
            }
            if have > 0 && closest.is_none_or(|c| have > c.0) {
                closest = Some((have, line_of(text, &rec), d));
            }
            index += 1;
        }
    }
    let Some((delimiter, header_index, header)) = found else {
        let names: Vec<String> = wanted
            .iter()
            .filter(|w| w.required)
            .map(|w| format!("{:?}", w.header))
            .collect();
        let mut m = format!(
            "no header line with the columns {} in the first {HEADER_SEARCH_LINES} lines",
            names.join(", ")
        );
        if let Some((_, line, d)) = closest {
            m.push_str(&format!(
                "; line {line} (separated by {}) comes closest",
                delimiter_name(d)
            ));
        }
        return Err(ExtractError::whole(input.name, m));
    };
    let columns: Vec<(Wanted, Option<usize>)> = wanted
        .iter()
        .map(|w| {
            let key = w.header.trim().to_lowercase();
            (w.clone(), header.iter().position(|h| *h == key))
        })
        .collect();

    let mut rdr = csv_reader(text, delimiter);
    let mut rec = ByteRecord::new();
    let mut rows = Vec::new();
    let mut index = 0u64;
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| ExtractError::whole(input.name, format!("cannot be read as CSV: {e}")))?
    {
        index += 1;
        if index <= header_index + 1 {
            continue;
        }
        if let Some(m) = too_big(text, &rec) {
            return Err(ExtractError::whole(input.name, m));
        }
        if rec.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(ExtractError::whole(
                input.name,
                format!("more than {MAX_ROWS} rows; split the file"),
            ));
        }
        let line = u32::try_from(line_of(text, &rec)).unwrap_or(u32::MAX);
        rows.push((
            line,
            rec.iter()
                .map(|c| Value::Text(String::from_utf8_lossy(c).into_owned()))
                .collect(),
        ));
    }
    Ok(Rows {
        file: input.name.to_owned(),
        sheet: None,
        columns,
        rows,
    })
}

/// Reads the rows of a CSV file or an XLSX workbook (its first visible worksheet), whichever
/// the content is.
pub fn read_table(input: &Input, wanted: &[Wanted]) -> Result<Rows, ExtractError> {
    match super::recognise(input.bytes) {
        Some(super::Format::Xlsx) => read_xlsx(input, wanted),
        Some(f) if f.is_tabular() && f != super::Format::Csv => Err(ExtractError::whole(
            input.name,
            format!("is {}; for this job save it as XLSX or CSV", f.as_str()),
        )),
        _ => read_csv(input, wanted),
    }
}

/// Reads an XLSX workbook's first visible worksheet, streamed cell by cell (never calamine's
/// dense range, which a stray far cell would blow up), behind the same ZIP guard as the
/// ledger reader.
pub fn read_xlsx(input: &Input, wanted: &[Wanted]) -> Result<Rows, ExtractError> {
    super::sheet::guarded(input.name, || read_xlsx_inner(input, wanted))
}

fn read_xlsx_inner(input: &Input, wanted: &[Wanted]) -> Result<Rows, ExtractError> {
    use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx};
    let whole = |m: String| ExtractError::whole(input.name, m);
    if let Some(m) = super::zip_guard::refuse(input.bytes) {
        return Err(whole(m));
    }
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(input.bytes))
        .map_err(|e| whole(format!("cannot be opened as an XLSX workbook: {e}")))?;
    let sheet = wb
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
        .map(|s| s.name.clone())
        .ok_or_else(|| whole("has no visible worksheet".into()))?;
    let mut cells = wb
        .worksheet_cells_reader(&sheet)
        .map_err(|e| whole(format!("sheet {sheet:?} cannot be read: {e}")))?;
    let mut table: Vec<(u32, Vec<Value>)> = Vec::new();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| whole(format!("sheet {sheet:?} cannot be read: {e}")))?
    {
        let (r, c) = cell.get_position();
        let c = c as usize;
        if c >= super::MAX_COLUMNS {
            return Err(whole(format!(
                "sheet {sheet:?} row {} has cells beyond column {}; this is not a table clerk reads",
                r + 1,
                super::MAX_COLUMNS
            )));
        }
        let value = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::String(t) => Value::Text(t.clone()),
            DataRef::SharedString(t) => Value::Text((*t).to_owned()),
            DataRef::Int(i) => Value::Number(Decimal::from(*i)),
            // The shortest text that reads back as the same float: what the cell shows.
            DataRef::Float(f) => match Decimal::from_str_exact(&f.to_string()) {
                Ok(d) => Value::Number(d),
                Err(_) => Value::Text(f.to_string()),
            },
            DataRef::DateTime(dt) => match super::date::from_excel(*dt) {
                Some(d) => Value::Date(d),
                None => Value::Text(dt.as_f64().to_string()),
            },
            DataRef::DateTimeIso(t) => Value::Text(t.chars().take(10).collect()),
            DataRef::Bool(b) => Value::Text(b.to_string()),
            other => Value::Text(format!("{other:?}")),
        };
        let row = r + 1;
        if table.last().is_none_or(|(last, _)| *last != row) {
            if table.last().is_some_and(|(last, _)| *last > row) {
                return Err(whole(format!(
                    "sheet {sheet:?} lists row {row} after a later one; the file is damaged"
                )));
            }
            if table.len() >= MAX_ROWS {
                return Err(whole(format!("more than {MAX_ROWS} rows; split the file")));
            }
            table.push((row, Vec::new()));
        }
        let cells = &mut table.last_mut().expect("pushed above").1;
        if cells.len() <= c {
            cells.resize(c + 1, Value::Text(String::new()));
        }
        cells[c] = value;
    }
    let key = |v: &Value| match v {
        Value::Text(t) => t.trim().to_lowercase(),
        _ => String::new(),
    };
    let required: Vec<String> = wanted
        .iter()
        .filter(|w| w.required)
        .map(|w| w.header.trim().to_lowercase())
        .collect();
    let header_at = table
        .iter()
        .take(HEADER_SEARCH_LINES as usize)
        .position(|(_, cells)| {
            let names: Vec<String> = cells.iter().map(key).collect();
            required.iter().all(|r| names.contains(r))
        })
        .ok_or_else(|| {
            let names: Vec<String> = wanted
                .iter()
                .filter(|w| w.required)
                .map(|w| format!("{:?}", w.header))
                .collect();
            whole(format!(
                "sheet {sheet:?}: no header row with the columns {} in the first {HEADER_SEARCH_LINES} rows",
                names.join(", ")
            ))
        })?;
    let header: Vec<String> = table[header_at].1.iter().map(key).collect();
    let columns = wanted
        .iter()
        .map(|w| {
            let k = w.header.trim().to_lowercase();
            (w.clone(), header.iter().position(|h| *h == k))
        })
        .collect();
    let rows = table.split_off(header_at + 1);
    Ok(Rows {
        file: input.name.to_owned(),
        sheet: Some(sheet),
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn wanted() -> Vec<Wanted> {
        vec![
            Wanted {
                key: "isin",
                header: "ISIN".into(),
                required: true,
            },
            Wanted {
                key: "quantity",
                header: "Qty".into(),
                required: true,
            },
            Wanted {
                key: "price",
                header: "Price".into(),
                required: false,
            },
        ]
    }

    fn input(text: &str) -> Input<'_> {
        Input {
            name: "book.csv",
            bytes: text.as_bytes(),
            file_hash: Arc::from("h"),
        }
    }

    #[test]
    fn finds_the_header_below_a_title_with_any_delimiter_and_reads_typed_cells() {
        let text = "Positions as of 2026-11-26\n\nisin;QTY;Price\nDE0005557508;1.000,5;12,40\nUS0378331005;20;\n";
        let rows = read_csv(&input(text), &wanted()).unwrap();
        assert_eq!(rows.len(), 2);
        let style = CellStyle::new(',', Some('.'), &[]).unwrap();
        let got = rows
            .map(&style, |r, s| {
                Some((
                    r.line,
                    r.text("isin")?,
                    r.decimal("quantity", s)?,
                    r.decimal("price", s),
                ))
            })
            .unwrap();
        assert_eq!(
            got[0],
            (
                4,
                "DE0005557508".into(),
                "1000.5".parse().unwrap(),
                Some("12.40".parse().unwrap())
            )
        );
        assert_eq!(got[1], (5, "US0378331005".into(), Decimal::from(20), None));
    }

    #[test]
    fn every_bad_cell_is_named_by_line_and_column() {
        let text = "ISIN,Qty\nDE0005557508,abc\n,5\n";
        let rows = read_csv(&input(text), &wanted()).unwrap();
        let style = CellStyle::default();
        let err = rows
            .map(&style, |r, s| {
                Some((r.text("isin"), r.decimal("quantity", s)))
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("book.csv line 2, column \"Qty\": expected an amount"),
            "{err}"
        );
        assert!(
            err.contains("book.csv line 3, column \"ISIN\": expected a value"),
            "{err}"
        );
    }

    #[test]
    fn xlsx_cells_keep_their_types_and_problems_name_sheet_and_row() {
        use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.set_name("Positions").unwrap();
        s.write_string(0, 0, "Holdings report").unwrap();
        for (c, h) in ["ISIN", "Qty", "Price"].iter().enumerate() {
            s.write_string(2, c as u16, *h).unwrap();
        }
        s.write_string(3, 0, "DE0005557508").unwrap();
        s.write_number(3, 1, 1000.5).unwrap();
        s.write_number(3, 2, 12.4).unwrap();
        s.write_string(4, 0, "US0378331005").unwrap();
        s.write_string(4, 1, "lots").unwrap();
        let date = XFormat::new().set_num_format("yyyy-mm-dd");
        s.write_datetime_with_format(4, 2, ExcelDateTime::from_ymd(2026, 11, 26).unwrap(), &date)
            .unwrap();
        // A typed number beyond what clerk computes with.
        s.write_string(5, 0, "US5949181045").unwrap();
        s.write_number(5, 1, 1e20).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let input = Input {
            name: "holdings.xlsx",
            bytes: &bytes,
            file_hash: Arc::from("h"),
        };
        let rows = read_table(&input, &wanted()).unwrap();
        assert_eq!(rows.len(), 3);
        // A decimal-comma job still reads a typed 12.4 as 12.4.
        let style = CellStyle::new(',', Some('.'), &[]).unwrap();
        let mut got = Vec::new();
        let err = rows
            .map(&style, |r, s| {
                got.push((
                    r.line,
                    r.text("isin"),
                    r.decimal("quantity", s),
                    r.decimal("price", s),
                ));
                Some(())
            })
            .unwrap_err()
            .to_string();
        assert_eq!(
            got[0],
            (
                4,
                Some("DE0005557508".into()),
                Some("1000.5".parse().unwrap()),
                Some("12.4".parse().unwrap())
            )
        );
        assert!(
            err.contains(
                "holdings.xlsx sheet \"Positions\", row 5, column \"Qty\": expected an amount"
            ),
            "{err}"
        );
        assert!(
            err.contains("row 5, column \"Price\": expected a number, found the date 2026-11-26"),
            "{err}"
        );
        assert!(
            err.contains("row 6, column \"Qty\": 100000000000000000000 is too large"),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_the_columns_says_which_and_what_came_closest() {
        let err = read_csv(&input("ISIN,Amount\nX,1\n"), &wanted())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no header line with the columns \"ISIN\", \"Qty\""),
            "{err}"
        );
        assert!(err.contains("line 1"), "{err}");
    }
}
