//! Rows of a CSV file by column name, for the files that are not cash records: a portfolio
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
    /// Column index of each [`Wanted`], in the order asked; `None` for an optional column the
    /// file does not have.
    columns: Vec<(Wanted, Option<usize>)>,
    rows: Vec<(u32, Vec<String>)>,
}

/// One data row while it is turned into something typed: bad cells are collected, not
/// returned one at a time, so staff see every problem of a file at once.
pub struct RowCells<'r> {
    rows: &'r Rows,
    pub line: u32,
    cells: &'r [String],
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
            sheet: None,
            row: Some(self.line),
            column: header,
            message,
        });
    }

    /// The trimmed text of a column; `None` when empty or not in the file. A required column
    /// left empty is a problem.
    pub fn text(&mut self, key: &str) -> Option<String> {
        let (wanted, index) = self.column(key)?;
        let required = wanted.required;
        let value = index
            .and_then(|i| self.cells.get(i))
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if value.is_none() && required {
            self.problem(key, "expected a value, found an empty cell".into());
        }
        value
    }

    pub fn decimal(&mut self, key: &str, style: &CellStyle) -> Option<Decimal> {
        let t = self.text(key)?;
        match style.amounts.parse(&t) {
            Ok(v) => v,
            Err(m) => {
                self.problem(key, m);
                None
            }
        }
    }

    pub fn date(&mut self, key: &str, style: &CellStyle) -> Option<NaiveDate> {
        let t = self.text(key)?;
        match style.dates.parse(&t) {
            Ok(v) => v,
            Err(m) => {
                self.problem(key, m);
                None
            }
        }
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
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
        ));
    }
    Ok(Rows {
        file: input.name.to_owned(),
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
