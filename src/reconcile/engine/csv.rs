//! A fast CSV → [`Table`] loader for clean exports: a header row, `,` delimiters, RFC 4180
//! quoting, UTF-8 (a BOM is skipped), LF or CRLF. Amounts are plain decimals (`-1234.56`),
//! dates `YYYY-MM-DD`, currencies three letters. Messy spreadsheets go through `extract`
//! instead; this is for the volumes where records would be too heavy.
//!
//! The file is read in chunks (memory stays at the table plus one chunk) and each field goes
//! straight into its column: no per-row allocation.

use std::io::Read;

use memchr::{memchr, memchr_iter, memchr2_iter, memrchr};

use super::table::{ColumnId, Table, TableBuilder, TableError, TextStorage};

/// How to read one CSV: which header is the identity, and which headers become which fields.
#[derive(Clone, Debug)]
pub struct CsvLayout {
    /// Header of the column holding each row's identity. An empty cell becomes `line N`.
    pub identity: String,
    pub columns: Vec<CsvColumn>,
}

#[derive(Clone, Debug)]
pub struct CsvColumn {
    pub header: String,
    /// The field name in the table (what rules refer to).
    pub field: String,
    pub kind: CsvKind,
}

impl CsvColumn {
    pub fn new(header: &str, field: &str, kind: CsvKind) -> CsvColumn {
        CsvColumn {
            header: header.to_owned(),
            field: field.to_owned(),
            kind,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvKind {
    Text(TextStorage),
    Decimal,
    Date,
    Currency,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("reading: {0}")]
    Io(#[from] std::io::Error),
    #[error("no header row")]
    Empty,
    #[error("no column {0:?} in the header")]
    MissingHeader(String),
    #[error("line {line}, column {column:?}: {message}")]
    Field {
        line: u64,
        column: String,
        message: String,
    },
    #[error("line {line}: {found} fields, the header has {expected}")]
    FieldCount {
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("{0}")]
    Table(#[from] TableError),
}

#[derive(Clone, Copy)]
enum Action {
    Skip,
    Identity,
    Set(ColumnId, CsvKind),
}

const CHUNK: usize = 8 << 20;

/// Reads a whole CSV into a table. `size_hint` (the file's length, when known) lets columns
/// reserve their final size at once.
pub fn load_csv<R: Read>(
    reader: R,
    layout: &CsvLayout,
    size_hint: Option<u64>,
) -> Result<Table, CsvError> {
    load_chunked(reader, layout, size_hint, CHUNK)
}

/// Declares the layout's columns in `b` and says what to do with each field of a record.
fn plan_columns(
    headers: &[String],
    layout: &CsvLayout,
    b: &mut TableBuilder,
    rows_guess: usize,
) -> Result<Vec<Action>, CsvError> {
    let mut actions = vec![Action::Skip; headers.len()];
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CsvError::MissingHeader(name.to_owned()))
    };
    actions[find(&layout.identity)?] = Action::Identity;
    for c in &layout.columns {
        let id = match c.kind {
            CsvKind::Text(storage) => b.text_column(&c.field, storage)?,
            CsvKind::Decimal => b.decimal_column(&c.field)?,
            CsvKind::Date => b.date_column(&c.field)?,
            CsvKind::Currency => b.currency_column(&c.field)?,
        };
        if matches!(c.kind, CsvKind::Text(TextStorage::Dictionary)) {
            // Guess: a column may be nearly unique; an interner sized for it avoids rehashing
            // and costs little when it is not.
            b.reserve_distinct(id, rows_guess / 4);
        }
        actions[find(&c.header)?] = Action::Set(id, c.kind);
    }
    Ok(actions)
}

/// Parses records without quotes (`text` is whole lines, the first being line `line`) into
/// `b`: every delimiter found in one scan, each field straight into its column. Returns the
/// line after the last.
fn parse_plain(
    text: &str,
    mut line: u64,
    headers: &[String],
    actions: &[Action],
    b: &mut TableBuilder,
) -> Result<u64, CsvError> {
    let bytes = text.as_bytes();
    let header_len = headers.len();
    let mut k = 0usize;
    let mut start = 0usize;
    let mut identity = (0usize, 0usize);
    // The first bad cell of the record; reported after its field count is checked.
    let mut bad: Option<CsvError> = None;
    let mut row_name = String::new();
    let mut end_record = |b: &mut TableBuilder,
                          k: usize,
                          identity: (usize, usize),
                          bad: &mut Option<CsvError>,
                          line: u64|
     -> Result<(), CsvError> {
        if k != header_len {
            return Err(CsvError::FieldCount {
                line,
                found: k,
                expected: header_len,
            });
        }
        if let Some(e) = bad.take() {
            return Err(e);
        }
        if identity.0 == identity.1 {
            row_name.clear();
            row_name.push_str("line ");
            row_name.push_str(&line.to_string());
            b.push_row(&row_name);
        } else {
            b.push_row(&text[identity.0..identity.1]);
        }
        Ok(())
    };
    let field = |b: &mut TableBuilder,
                 k: usize,
                 a: usize,
                 z: usize,
                 identity: &mut (usize, usize),
                 bad: &mut Option<CsvError>,
                 line: u64| {
        match actions.get(k) {
            None | Some(Action::Skip) => {}
            Some(Action::Identity) => *identity = (a, z),
            Some(&Action::Set(id, kind)) => {
                let cell = &text[a..z];
                if let Err(m) = set_cell(b, id, kind, cell.as_bytes(), Some(cell))
                    && bad.is_none()
                {
                    *bad = Some(field_error(line, &headers[k], m));
                }
            }
        }
    };
    for d in memchr2_iter(b',', b'\n', bytes) {
        if bytes[d] == b',' {
            field(b, k, start, d, &mut identity, &mut bad, line);
            k += 1;
            start = d + 1;
            continue;
        }
        let z = if d > start && bytes[d - 1] == b'\r' {
            d - 1
        } else {
            d
        };
        if k == 0 && z == start {
            // An empty line.
            line += 1;
            start = d + 1;
            continue;
        }
        field(b, k, start, z, &mut identity, &mut bad, line);
        end_record(b, k + 1, identity, &mut bad, line)?;
        identity = (0, 0);
        k = 0;
        line += 1;
        start = d + 1;
    }
    if start < bytes.len() {
        // The last line, without a line end.
        let z = if bytes[bytes.len() - 1] == b'\r' {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        if k > 0 || z > start {
            field(b, k, start, z, &mut identity, &mut bad, line);
            end_record(b, k + 1, identity, &mut bad, line)?;
            line += 1;
        }
    }
    Ok(line)
}

fn load_chunked<R: Read>(
    mut reader: R,
    layout: &CsvLayout,
    size_hint: Option<u64>,
    chunk: usize,
) -> Result<Table, CsvError> {
    let mut buf: Vec<u8> = Vec::with_capacity(chunk * 2);
    let mut eof = fill(&mut reader, &mut buf, chunk)?;
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(16);
    let mut scratch: Vec<u8> = Vec::new();
    let mut line: u64 = 1;

    let (headers, next, lines) = read_header(
        &mut reader,
        &mut buf,
        &mut eof,
        chunk,
        &mut fields,
        &mut scratch,
    )?;
    let header_len = headers.len();
    let mut pos = next;
    line += lines;

    let rows_guess = rows_guess(size_hint, &buf, pos);
    let mut b = TableBuilder::with_capacity(rows_guess);
    let actions = plan_columns(&headers, layout, &mut b, rows_guess)?;
    let mut row_name = String::new();
    let mut sized = false;

    loop {
        // The chunk's text checked as UTF-8 once, instead of a check per text cell (a call
        // each, a few per row). Cells split at ASCII delimiters of valid text are valid. What
        // lies beyond the valid prefix (a character cut by the chunk's end, or bad bytes)
        // takes the per-cell check, which names the line and column of an error.
        let (checked, base) = valid_prefix(&buf, pos);
        let checked_end = base + checked.len();
        // The whole lines before the first quote (all of them, usually): one delimiter scan.
        let region = &buf[pos..checked_end];
        let plain = match memchr(b'"', region) {
            Some(q) => memrchr(b'\n', &region[..q]),
            None => memrchr(b'\n', region),
        };
        if let Some(n) = plain {
            line = parse_plain(&checked[..n + 1], line, &headers, &actions, &mut b)?;
            pos += n + 1;
        }
        if !sized && size_hint.is_some() {
            sized = b.reserve_text_for(rows_guess);
        }
        while let Some((next, lines, in_scratch)) =
            next_record(&buf, pos, eof, &mut fields, &mut scratch)
        {
            pos = next;
            let text = if in_scratch { &scratch[..] } else { &buf[..] };
            let valid = !in_scratch && fields.last().is_some_and(|&(_, z)| z <= checked_end);
            if fields.len() == 1 && fields[0].0 == fields[0].1 {
                line += lines; // an empty line
                continue;
            }
            if fields.len() != header_len {
                return Err(CsvError::FieldCount {
                    line,
                    found: fields.len(),
                    expected: header_len,
                });
            }
            let mut identity: &str = "";
            for (k, &(a, z)) in fields.iter().enumerate() {
                let cell = &text[a..z];
                let cell_str = if valid {
                    checked.get(a - base..z - base)
                } else {
                    None
                };
                match actions[k] {
                    Action::Skip => {}
                    Action::Identity => {
                        identity = match cell_str {
                            Some(s) => s,
                            None => utf8(cell).map_err(|m| field_error(line, &headers[k], m))?,
                        };
                    }
                    Action::Set(id, kind) => {
                        set_cell(&mut b, id, kind, cell, cell_str)
                            .map_err(|m| field_error(line, &headers[k], m))?;
                    }
                }
            }
            if identity.is_empty() {
                row_name.clear();
                row_name.push_str("line ");
                row_name.push_str(&line.to_string());
                b.push_row(&row_name);
            } else {
                b.push_row(identity);
            }
            line += lines;
        }
        if eof {
            break;
        }
        buf.drain(..pos);
        pos = 0;
        eof = fill(&mut reader, &mut buf, chunk)?;
    }
    Ok(b.finish()?)
}

/// The header line's names (a byte-order mark and spaces trimmed), reading more of the file
/// until the line is complete; with where the body starts and the lines the header took.
fn read_header<R: Read>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    eof: &mut bool,
    chunk: usize,
    fields: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
) -> Result<(Vec<String>, usize, u64), CsvError> {
    let (next, lines, in_scratch) = loop {
        match next_record(buf, 0, *eof, fields, scratch) {
            Some(r) => break r,
            None if *eof => return Err(CsvError::Empty),
            None => *eof = fill(reader, buf, chunk)?,
        }
    };
    let text = if in_scratch { &scratch[..] } else { &buf[..] };
    let headers: Vec<String> = fields
        .iter()
        .map(|&(a, b)| {
            let h = String::from_utf8_lossy(&text[a..b]);
            h.trim_start_matches('\u{FEFF}').trim().to_owned()
        })
        .collect();
    Ok((headers, next, lines))
}

/// The number of rows to reserve for: the file's size over the average line of the first
/// chunk's body (a little more), or a default when the size is not known.
fn rows_guess(size_hint: Option<u64>, buf: &[u8], pos: usize) -> usize {
    size_hint
        .map(|s| {
            let body = buf.len().saturating_sub(pos).max(1);
            let in_body = count_newlines(&buf[pos..]).max(1);
            (s as usize / (body / in_body).max(1)) + 16
        })
        .unwrap_or(1024)
}

fn field_error(line: u64, column: &str, message: String) -> CsvError {
    CsvError::Field {
        line,
        column: column.to_owned(),
        message,
    }
}

/// Reads up to one more chunk; true at the end of input.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>, chunk: usize) -> std::io::Result<bool> {
    let start = buf.len();
    buf.resize(start + chunk, 0);
    let mut got = 0;
    while got < chunk {
        match r.read(&mut buf[start + got..]) {
            Ok(0) => {
                buf.truncate(start + got);
                return Ok(true);
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    Ok(false)
}

fn count_newlines(b: &[u8]) -> usize {
    memchr_iter(b'\n', b).count()
}

/// The fields of the record at `pos` as ranges, into `buf` or (when the record had quotes)
/// into `scratch` (the flag says which); the position after it and the lines it spans.
/// `None` when the record is not complete and more input follows, or at the end.
fn next_record(
    buf: &[u8],
    pos: usize,
    eof: bool,
    fields: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
) -> Option<(usize, u64, bool)> {
    if pos >= buf.len() {
        return None;
    }
    fields.clear();
    let rest = &buf[pos..];
    let (end, next) = match memchr(b'\n', rest) {
        Some(n) => (pos + n, pos + n + 1),
        None if eof => (buf.len(), buf.len()),
        None => return None,
    };
    let mut line_end = end;
    if line_end > pos && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    let line = &buf[pos..line_end];
    if memchr(b'"', line).is_none() {
        let mut start = pos;
        for c in memchr_iter(b',', line) {
            fields.push((start, pos + c));
            start = pos + c + 1;
        }
        fields.push((start, line_end));
        return Some((next, 1, false));
    }
    quoted_record(buf, pos, eof, fields, scratch).map(|(n, l)| (n, l, true))
}

/// The slow path: a record with quotes, unescaped into `scratch`. It may span lines.
fn quoted_record(
    buf: &[u8],
    pos: usize,
    eof: bool,
    fields: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
) -> Option<(usize, u64)> {
    scratch.clear();
    fields.clear();
    let mut i = pos;
    let mut lines = 1;
    let mut start = 0;
    let mut quoted = false;
    loop {
        if i >= buf.len() {
            if !eof || quoted {
                // Incomplete (or an unterminated quote at the end: taken as is).
                if !eof {
                    return None;
                }
            }
            fields.push((start, scratch.len()));
            return Some((buf.len(), lines));
        }
        let c = buf[i];
        if quoted {
            if c == b'"' {
                if buf.get(i + 1) == Some(&b'"') {
                    scratch.push(b'"');
                    i += 2;
                    continue;
                }
                if i + 1 >= buf.len() && !eof {
                    return None;
                }
                quoted = false;
            } else {
                if c == b'\n' {
                    lines += 1;
                }
                scratch.push(c);
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => quoted = true,
            b',' => {
                fields.push((start, scratch.len()));
                start = scratch.len();
            }
            b'\n' => {
                if scratch.len() > start && scratch.last() == Some(&b'\r') {
                    scratch.pop();
                }
                fields.push((start, scratch.len()));
                return Some((i + 1, lines));
            }
            _ => scratch.push(c),
        }
        i += 1;
    }
}

/// The longest valid UTF-8 text of `buf` from `pos`, and `pos`.
fn valid_prefix(buf: &[u8], pos: usize) -> (&str, usize) {
    let rest = buf.get(pos..).unwrap_or_default();
    let text = match std::str::from_utf8(rest) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
    };
    (text, pos)
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| "not valid UTF-8".to_owned())
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[inline]
fn set_cell(
    b: &mut TableBuilder,
    id: ColumnId,
    kind: CsvKind,
    cell: &[u8],
    checked: Option<&str>,
) -> Result<(), String> {
    match kind {
        CsvKind::Text(_) => b.set_text(
            id,
            match checked {
                Some(s) => s,
                None => utf8(cell)?,
            },
        ),
        CsvKind::Decimal => {
            let cell = trim(cell);
            if !cell.is_empty() {
                let (m, s) = parse_decimal(cell).ok_or_else(|| {
                    format!(
                        "expected an amount such as -1234.56, found {:?}",
                        String::from_utf8_lossy(cell)
                    )
                })?;
                b.set_decimal_parts(id, m, s);
            }
        }
        CsvKind::Date => {
            let cell = trim(cell);
            if !cell.is_empty() {
                let d = parse_date(cell).ok_or_else(|| {
                    format!(
                        "expected a date YYYY-MM-DD, found {:?}",
                        String::from_utf8_lossy(cell)
                    )
                })?;
                b.set_days(id, d);
            }
        }
        CsvKind::Currency => {
            let cell = trim(cell);
            if !cell.is_empty() {
                let c = super::table::currency_code_of_bytes(cell).ok_or_else(|| {
                    format!(
                        "expected a three-letter currency code, found {:?}",
                        String::from_utf8_lossy(cell)
                    )
                })?;
                b.set_currency_code(id, c);
            }
        }
    }
    Ok(())
}

/// `[+-]digits[.digits]` as (mantissa, scale); `None` for anything else.
pub(crate) fn parse_decimal(b: &[u8]) -> Option<(i128, u32)> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mut m: u64 = 0;
    let mut n = 0u32;
    let mut scale = 0u32;
    let mut dot = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                if n == 19 {
                    return parse_long_decimal(b);
                }
                m = m * 10 + u64::from(c - b'0');
                n += 1;
                scale += u32::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if n == 0 {
        return None;
    }
    let m = i128::from(m);
    Some((if neg { -m } else { m }, scale))
}

fn parse_long_decimal(b: &[u8]) -> Option<(i128, u32)> {
    let d: rust_decimal::Decimal = std::str::from_utf8(b).ok()?.parse().ok()?;
    Some((d.mantissa(), d.scale()))
}

/// `YYYY-MM-DD` as chrono's day number (`num_days_from_ce`), checked.
pub(crate) fn parse_date(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    // Days since 1970-01-01 (H. Hinnant's days_from_civil), then moved to the CE epoch.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let unix = era * 146_097 + doe - 719_468;
    i32::try_from(unix + 719_163).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    #[test]
    fn dates_agree_with_chrono() {
        let mut d = NaiveDate::from_ymd_opt(1899, 12, 25).unwrap();
        let end = NaiveDate::from_ymd_opt(2101, 3, 1).unwrap();
        while d < end {
            let s = d.format("%Y-%m-%d").to_string();
            assert_eq!(parse_date(s.as_bytes()), Some(d.num_days_from_ce()), "{s}");
            d = d.succ_opt().unwrap();
        }
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-1-01",
            "2025/01/01",
            "x",
        ] {
            assert_eq!(parse_date(bad.as_bytes()), None, "{bad}");
        }
        assert!(parse_date(b"2024-02-29").is_some());
    }

    #[test]
    fn decimals() {
        let cases: &[(&str, Option<(i128, u32)>)] = &[
            ("0", Some((0, 0))),
            ("-1234.05", Some((-123405, 2))),
            ("+7.5", Some((75, 1))),
            ("12.", Some((12, 0))),
            (".5", Some((5, 1))),
            ("1.2.3", None),
            ("1,5", None),
            ("", None),
            ("-", None),
            (
                "12345678901234567890.123",
                Some((12345678901234567890123, 3)),
            ),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_decimal(s.as_bytes()), want, "{s}");
        }
    }

    fn layout() -> CsvLayout {
        CsvLayout {
            identity: "id".into(),
            columns: vec![
                CsvColumn::new("amount", "amount", CsvKind::Decimal),
                CsvColumn::new("day", "value_date", CsvKind::Date),
                CsvColumn::new("ccy", "currency", CsvKind::Currency),
                CsvColumn::new("text", "remittance", CsvKind::Text(TextStorage::Plain)),
                CsvColumn::new("cp", "counterparty", CsvKind::Text(TextStorage::Dictionary)),
            ],
        }
    }

    #[test]
    fn reads_quotes_crlf_bom_and_missing_values() {
        let csv = "\u{FEFF}id,amount,day,ccy,text,cp,unused\r\n\
                   1,10.5,2025-01-02,eur,\"a, \"\"quoted\"\"\ntext\",ACME,x\r\n\
                   \r\n\
                   2,-3,2025-01-03,USD,plain,,y\n\
                   ,,,,,ACME,z";
        let t = load_csv(csv.as_bytes(), &layout(), None).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.identity(0), "1");
        assert_eq!(t.text("remittance", 0), Some("a, \"quoted\"\ntext"));
        assert_eq!(t.decimal("amount", 0), Some("10.5".parse().unwrap()));
        assert_eq!(t.decimal("amount", 1), Some("-3".parse().unwrap()));
        assert_eq!(t.currency("currency", 0).unwrap().as_str(), "EUR");
        assert_eq!(t.text("counterparty", 1), None);
        assert_eq!(t.identity(2), "line 6");
        assert_eq!(t.decimal("amount", 2), None);
        assert_eq!(t.date("value_date", 2), None);
        assert_eq!(t.text("counterparty", 2), Some("ACME"));
    }

    #[test]
    fn errors_name_line_and_column() {
        let csv =
            "id,amount,day,ccy,text,cp\n1,1.00,2025-01-02,EUR,t,c\n2,1;00,2025-01-02,EUR,t,c\n";
        let e = load_csv(csv.as_bytes(), &layout(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, column \"amount\": expected an amount such as -1234.56, found \"1;00\""
        );
        let e = load_csv("id,amount\n".as_bytes(), &layout(), None).unwrap_err();
        assert_eq!(e.to_string(), "no column \"day\" in the header");
        let csv = "id,amount,day,ccy,text,cp\n1,1.00,2025-01-02,EUR,t\n";
        let e = load_csv(csv.as_bytes(), &layout(), None).unwrap_err();
        assert_eq!(e.to_string(), "line 2: 5 fields, the header has 6");
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let mut csv = b"id,amount,day,ccy,text,cp\n1,1,2025-01-02,EUR,ok,c\n".to_vec();
        csv.extend_from_slice(b"2,1,2025-01-02,EUR,t,\xff\n3,1,2025-01-02,EUR,x,c\n");
        let e = load_csv(&csv[..], &layout(), None).unwrap_err();
        assert_eq!(e.to_string(), "line 3, column \"cp\": not valid UTF-8");
        // A multi-byte character cut by a chunk's end is not an error.
        let csv = "id,amount,day,ccy,text,cp\n1,1,2025-01-02,EUR,\u{e9}t\u{e9},M\u{fc}ller\n";
        for chunk in [1, 2, 3, 5, 31, 32, 33] {
            let t = load_chunked(Trickle(csv.as_bytes()), &layout(), None, chunk).unwrap();
            assert_eq!(t.text("remittance", 0), Some("\u{e9}t\u{e9}"), "{chunk}");
            assert_eq!(t.text("counterparty", 0), Some("M\u{fc}ller"), "{chunk}");
        }
    }

    #[test]
    fn plain_lines_read_like_quoted_ones() {
        let mut plain = String::from("\u{FEFF}id,amount,day,ccy,text,cp\r\n");
        let mut quoted = plain.clone();
        for i in 0..3000 {
            let id = if i % 997 == 5 {
                String::new()
            } else {
                i.to_string()
            };
            let row = |t: &str| {
                format!(
                    "{id},{i}.{:02},2025-01-{:02},EUR,{t},c{}\r\n",
                    i % 100,
                    1 + i % 28,
                    i % 7
                )
            };
            plain.push_str(&row(&format!("t {i}")));
            quoted.push_str(&row(&format!("\"t {i}\"")));
            if i % 1111 == 0 {
                plain.push_str("\r\n");
                quoted.push_str("\r\n");
            }
        }
        plain.push_str("last,1.123,2025-02-01,USD,,c9");
        quoted.push_str("last,1.123,2025-02-01,USD,,c9");
        let want = load_csv(quoted.as_bytes(), &layout(), None).unwrap();
        assert_eq!(want.identity(5), "line 8");
        // A quote in the middle: plain lines before it, record by record after.
        let mixed = plain.replace(",t 1717,", ",\"t 1717\",");
        for text in [&plain, &mixed] {
            for chunk in [1, 7, 64, 1000, 100_000] {
                let got = load_chunked(Trickle(text.as_bytes()), &layout(), None, chunk).unwrap();
                assert_eq!(got.len(), want.len(), "{chunk}");
                for r in 0..want.len() {
                    assert_eq!(got.identity(r), want.identity(r), "{chunk} {r}");
                    for f in [
                        "amount",
                        "value_date",
                        "currency",
                        "remittance",
                        "counterparty",
                    ] {
                        assert_eq!(got.display(f, r), want.display(f, r), "{chunk} {r} {f}");
                    }
                }
            }
        }
        // Errors name the line of the file.
        let mut bad = plain.clone();
        bad.push_str("\nx,1;5,2025-01-01,EUR,t,c\n");
        let lines = bad.lines().count();
        for chunk in [64, 100_000] {
            let e = load_chunked(bad.as_bytes(), &layout(), None, chunk).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "line {lines}, column \"amount\": expected an amount such as -1234.56, found \"1;5\""
                ),
            );
        }
        let mut short = plain.clone();
        short.push_str("\nx,1;5,2025-01-01,EUR\n");
        let e = load_csv(short.as_bytes(), &layout(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("line {lines}: 4 fields, the header has 6")
        );
    }

    /// A reader that hands out a few bytes at a time, so records straddle chunk refills.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let mut csv = String::from("id,amount,day,ccy,text,cp\n");
        for i in 0..5000 {
            csv.push_str(&format!(
                "{i},{i}.{:02},2025-01-{:02},EUR,\"t,{i}\",c{}\n",
                i % 100,
                1 + i % 28,
                i % 7
            ));
        }
        let whole = load_csv(csv.as_bytes(), &layout(), None).unwrap();
        for chunk in [1, 2, 7, 64, 1000] {
            let trickled = load_chunked(
                Trickle(csv.as_bytes()),
                &layout(),
                Some(csv.len() as u64),
                chunk,
            )
            .unwrap();
            assert_eq!(trickled.len(), 5000);
            for r in [0, 1, 2499, 4999] {
                assert_eq!(whole.identity(r), trickled.identity(r));
                assert_eq!(whole.text("remittance", r), trickled.text("remittance", r));
                assert_eq!(whole.decimal("amount", r), trickled.decimal("amount", r));
            }
        }
        assert_eq!(whole.len(), 5000);
    }
}
