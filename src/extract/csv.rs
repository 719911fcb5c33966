//! CSV (and other delimited text) into records.
//!
//! The header is looked for in the first 50 lines (title lines above it are common), with each
//! candidate delimiter, unless the job pins them. Rows are then read as `csv::ByteRecord`s into
//! one reused record, and only the mapped columns are looked at.

use csv::{ByteRecord, ReaderBuilder};

use super::row::{Cell, Collector, HeaderMatch, RowScan, is_total_label, match_header};
use super::spec::{FIELDS, Field, Layout};
use super::text::{self, Decoding};
use super::{ExtractError, Input, MAX_COLUMNS, MAX_LINE_BYTES, PROGRESS_EVERY, Skipped};
use crate::model::Record;

/// How many lines are searched for the header when the job does not say where it is.
const HEADER_SEARCH_LINES: u64 = 50;

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

pub(super) fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".into(),
        d => format!("{:?}", d as char),
    }
}

/// Where the header is and what it says.
#[derive(Debug)]
struct Header {
    delimiter: u8,
    /// 0-based index of the header among the file's records.
    index: u64,
    line: u64,
    /// Number of fields in the header: every data row must have as many.
    width: usize,
    /// Column of each mapped field.
    cols: [Option<usize>; FIELDS],
}

pub(super) fn csv_reader(text: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(text)
}

/// The physical line a record starts on. `csv::Position` counts the line where the reader
/// stood before the record: blank lines skipped before it, and the `\n` of the previous
/// line's `\r\n`, are not counted, so the line breaks right after that spot are added here.
pub(super) fn line_of(text: &[u8], rec: &ByteRecord) -> u64 {
    let Some(p) = rec.position() else {
        return 0;
    };
    let start = usize::try_from(p.byte()).unwrap_or(usize::MAX);
    let skipped = text
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    p.line() + skipped as u64
}

/// A line too long or too wide to be a CSV row clerk reads (wrong file, wrong delimiter).
pub(super) fn too_big(text: &[u8], rec: &ByteRecord) -> Option<String> {
    if rec.as_slice().len() > MAX_LINE_BYTES {
        Some(format!(
            "line {} is longer than {} MiB; this is not a CSV file clerk reads",
            line_of(text, rec),
            MAX_LINE_BYTES >> 20
        ))
    } else if rec.len() > MAX_COLUMNS {
        Some(format!(
            "line {} has {} fields, more than the {MAX_COLUMNS} clerk reads",
            line_of(text, rec),
            rec.len()
        ))
    } else {
        None
    }
}

fn field_text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// Finds the header (and the delimiter, unless pinned).
fn find_header(layout: &Layout, text: &[u8], decoding: Decoding) -> Result<Header, String> {
    let delimiters: &[u8] = match &layout.delimiter {
        Some(d) => std::slice::from_ref(d),
        None => &DELIMITERS,
    };
    let mut best: Option<Header> = None;
    // The line that came closest, for the message when none matches.
    let mut closest: Option<(usize, u64, u8, Vec<String>)> = None;
    let mut pinned_line_text: Option<String> = None;
    // The first line with text: most likely the header the sender did write, shown so the
    // job's column names can be corrected.
    let mut first_line: Option<(u64, String)> = None;
    for &d in delimiters {
        let mut rdr = csv_reader(text, d);
        let mut rec = ByteRecord::new();
        let mut index = 0u64;
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(format!("cannot be read as CSV: {e}")),
            }
            if let Some(m) = too_big(text, &rec) {
                return Err(m);
            }
            let line = line_of(text, &rec);
            let wanted = match layout.header_row {
                Some(h) => u64::from(h),
                None => HEADER_SEARCH_LINES,
            };
            if line > wanted {
                break;
            }
            if layout.header_row.is_some_and(|h| u64::from(h) != line) {
                index += 1;
                continue;
            }
            if first_line.is_none() && rec.iter().any(|f| !field_text(f).trim().is_empty()) {
                let fields: Vec<String> = rec.iter().map(|f| field_text(f).into_owned()).collect();
                first_line = Some((line, fields.join(&(d as char).to_string())));
            }
            if layout.header_row.is_some() && pinned_line_text.is_none() {
                let text: Vec<String> = rec.iter().map(|f| field_text(f).into_owned()).collect();
                pinned_line_text = Some(text.join(&(d as char).to_string()));
            }
            let texts: Vec<(u32, String)> = rec
                .iter()
                .enumerate()
                .map(|(j, f)| (j as u32, field_text(f).into_owned()))
                .collect();
            match match_header(layout, &texts) {
                HeaderMatch::Found(cols) => {
                    let better = best
                        .as_ref()
                        .is_none_or(|b| line < b.line || (line == b.line && rec.len() > b.width));
                    if better {
                        best = Some(Header {
                            delimiter: d,
                            index,
                            line,
                            width: rec.len(),
                            cols: cols.map(|c| c.map(|c| c as usize)),
                        });
                    }
                    break;
                }
                HeaderMatch::Twice {
                    name,
                    first,
                    second,
                } => {
                    return Err(format!(
                        "the header on line {line} has the column {name:?} twice (fields {} \
                         and {}); clerk cannot tell which one is meant",
                        first + 1,
                        second + 1
                    ));
                }
                HeaderMatch::Partial { found, missing } => {
                    if found > 0 && closest.as_ref().is_none_or(|c| found > c.0) {
                        closest = Some((found, line, d, missing));
                    }
                }
            }
            index += 1;
        }
    }
    if let Some(h) = best {
        return Ok(h);
    }
    Err(no_header_message(
        layout,
        decoding,
        closest,
        pinned_line_text,
        first_line,
    ))
}

/// Why no header was found, with what came closest: the line lacking the fewest columns,
/// else the pinned header line's text, else the first line with text (most likely the
/// header the sender did write, so the job's column names can be corrected).
fn no_header_message(
    layout: &Layout,
    decoding: Decoding,
    closest: Option<(usize, u64, u8, Vec<String>)>,
    pinned_line_text: Option<String>,
    first_line: Option<(u64, String)>,
) -> String {
    let wanted = layout.wanted_columns();
    let mut msg = match layout.header_row {
        Some(h) => {
            format!("line {h} (extract.header_row) is not a header with the columns {wanted}")
        }
        None => format!(
            "no header line with the columns {wanted} in the first {HEADER_SEARCH_LINES} lines"
        ),
    };
    if let Some(d) = layout.delimiter {
        msg.push_str(&format!(" separated by {}", delimiter_name(d)));
    }
    if let Some((_, line, d, missing)) = closest {
        msg.push_str(&format!(
            "; line {line} (separated by {}) comes closest but lacks {}",
            delimiter_name(d),
            missing.join(", ")
        ));
    } else if let Some(t) = pinned_line_text {
        msg.push_str(&format!("; it reads {:?}", shorten(&t)));
    } else if let Some((line, t)) = first_line {
        msg.push_str(&format!(
            "; the first line with text (line {line}) reads {:?}",
            shorten(&t)
        ));
    }
    if !decoding.is_plain_utf8() {
        msg.push_str(&format!(" (read as {})", decoding.name()));
    }
    msg
}

/// Records not handed over yet and skipped rows, or the file's problems.
pub(crate) type Read = Result<(Vec<Record>, Vec<Skipped>), ExtractError>;

/// Reads a CSV file, keeping every record.
pub(crate) fn extract(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<Skipped>), ExtractError> {
    match read(layout, input, progress, usize::MAX, |_| {
        Ok::<(), std::convert::Infallible>(())
    }) {
        Ok(read) => read,
        Err(never) => match never {},
    }
}

/// Reads a CSV file, handing its records to `take` in batches of `batch` as they are read
/// (what is left at the end comes back with the skipped rows). Once a row has a problem no
/// more records are kept or handed over: the file will be refused whole, and reading goes on
/// only to list its problems.
pub(crate) fn read<E>(
    layout: &Layout,
    input: &Input,
    progress: &dyn Fn(u64, u64),
    batch: usize,
    mut take: impl FnMut(&mut Vec<Record>) -> Result<(), E>,
) -> Result<Read, E> {
    let bytes = input.bytes;
    let decoding = text::choose(layout.encoding, bytes);
    let text = text::decode(bytes, decoding);
    let text = &*text;
    let header = match find_header(layout, text, decoding) {
        Ok(h) => h,
        Err(m) => return Ok(Err(ExtractError::whole(input.name, m))),
    };

    let total = bytes.len() as u64;
    let mut rdr = csv_reader(text, header.delimiter);
    let mut rec = ByteRecord::new();
    let mut out = Collector::new(layout, input.file_hash.clone());
    if batch == usize::MAX {
        // At most one record per line: counting lines (fast) saves re-allocating a big vector.
        let lines = memchr::memchr_iter(b'\n', text).count();
        out.records
            .reserve(lines.saturating_sub(usize::try_from(header.index).unwrap_or(0)));
    } else {
        out.records.reserve(batch);
    }
    let mut index = 0u64;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                out.problem(None, format!("cannot be read as CSV: {e}"));
                break;
            }
        }
        index += 1;
        if index.is_multiple_of(PROGRESS_EVERY) {
            // Bytes of text read, scaled to the input (they differ when transcoded).
            let done = rdr.position().byte().saturating_mul(total) / (text.len() as u64).max(1);
            progress(done.min(total), total);
        }
        if let Some(m) = too_big(text, &rec) {
            out.problem(None, m);
            break;
        }
        if index <= header.index + 1 {
            continue;
        }
        let line = u32::try_from(line_of(text, &rec)).unwrap_or(u32::MAX);
        row(&mut out, &header, &rec, line);
        if out.full() {
            break;
        }
        if out.records.len() >= batch {
            take(&mut out.records)?;
            out.records.clear();
        }
    }
    Ok(out.finish(input.name))
}

/// One data line.
fn row(out: &mut Collector<'_>, header: &Header, rec: &ByteRecord, line: u32) {
    let scan = || RowScan {
        blank: rec.iter().all(|f| f.trim_ascii().is_empty()),
        total_label: rec
            .iter()
            .any(|f| std::str::from_utf8(f).is_ok_and(is_total_label)),
    };
    let mut cells = [Cell::Empty; FIELDS];
    // One UTF-8 check for the whole line, then the mapped fields are slices of it.
    let whole = std::str::from_utf8(rec.as_slice());
    let mut bad_text = false;
    for f in Field::ALL {
        let Some(j) = header.cols[f as usize] else {
            continue;
        };
        let field = match &whole {
            Ok(line) => rec.range(j).and_then(|r| line.get(r)).map(Ok),
            Err(_) => rec.get(j).map(std::str::from_utf8),
        };
        match field {
            None => {}
            Some(Ok(s)) => cells[f as usize] = Cell::Text(s),
            Some(Err(_)) => bad_text = true,
        }
    }
    if rec.len() != header.width {
        // A blank or totals line need not have the header's shape.
        let date_blank = cells[Field::ValueDate as usize].is_blank();
        if date_blank {
            let s = scan();
            if s.blank || (s.total_label && out.skips_totals()) {
                out.row(line, &cells, false, || s);
                return;
            }
        }
        out.problem(
            Some(line),
            format!(
                "expected {} fields as in the header (line {}), found {}",
                header.width,
                header.line,
                rec.len()
            ),
        );
        return;
    }
    if bad_text {
        out.problem(
            Some(line),
            "not valid UTF-8 text; set extract.encoding to the file's encoding (e.g. \"windows-1252\")",
        );
        return;
    }
    out.row(line, &cells, false, scan);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ExtractSpec, Format, extract};
    use crate::model::Side;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use std::str::FromStr;
    use std::sync::Arc;

    fn layout(side: Side, text: &str) -> Layout {
        toml::from_str::<ExtractSpec>(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .check(side)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(
        l: &Layout,
        name: &str,
        bytes: &[u8],
    ) -> Result<crate::extract::Extracted, ExtractError> {
        extract(
            l,
            &crate::extract::Input {
                name,
                bytes,
                file_hash: Arc::from("cafe"),
            },
        )
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const LEDGER_SPEC: &str = r#"
        [columns]
        id = "id"
        account = "account"
        value_date = "value_date"
        amount = "amount"
        currency = "currency"
        reference = "reference"
        counterparty = "counterparty"
    "#;

    const STATEMENT_SPEC: &str = r#"
        [columns]
        id = "bank_reference"
        booking_date = "booking_date"
        value_date = "value_date"
        amount = "amount"
        currency = "currency"
        remittance = "remittance_info"
    "#;

    #[test]
    fn reads_the_benchmark_generators_ledger_shape() {
        let l = layout(Side::Ledger, LEDGER_SPEC);
        let text = "id,account,value_date,amount,currency,reference,counterparty\n\
                    1,CASH-EUR-01,2025-01-01,1234.05,EUR,INV-123456789,NORTHWIND TRADING LTD 000000\n\
                    2,CASH-USD-03,2025-01-01,-50.10,USD,INV-000000042,CONTOSO LOGISTICS GMBH 000001\n";
        let x = run(&l, "ledger.csv", text.as_bytes()).unwrap();
        assert_eq!(x.format, Format::Csv);
        assert_eq!(x.records.len(), 2);
        let r = &x.records[0];
        assert_eq!(r.side, Side::Ledger);
        assert_eq!(r.external_id, "1");
        assert_eq!(r.account.as_deref(), Some("CASH-EUR-01"));
        assert_eq!(r.value_date, ymd(2025, 1, 1));
        assert_eq!(r.booking_date, None);
        assert_eq!(r.amount, dec("1234.05"));
        assert_eq!(r.currency.as_str(), "EUR");
        assert_eq!(r.reference.as_deref(), Some("INV-123456789"));
        assert_eq!(
            r.counterparty.as_deref(),
            Some("NORTHWIND TRADING LTD 000000")
        );
        assert_eq!(r.remittance, None);
        assert_eq!(&*r.source.file, "cafe");
        assert_eq!(r.source.sheet, None);
        assert_eq!(r.source.row, 2);
        assert_eq!(x.records[1].amount, dec("-50.10"));
        assert_eq!(x.records[1].source.row, 3);
    }

    #[test]
    fn reads_the_benchmark_generators_statement_shape() {
        let l = layout(Side::Statement, STATEMENT_SPEC);
        let text = "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
                    2025-01-02,2025-01-01,1234.05,EUR,BK0000000001,INV-123456789 NORTHWIND TRADING LTD 000000\n\
                    2025-01-02,2025-01-02,-3.50,EUR,BK0000000002,ACCOUNT MAINTENANCE FEE 01\n";
        let x = run(&l, "statement.csv", text.as_bytes()).unwrap();
        assert_eq!(x.records.len(), 2);
        let r = &x.records[0];
        assert_eq!(r.side, Side::Statement);
        assert_eq!(r.external_id, "BK0000000001");
        assert_eq!(r.booking_date, Some(ymd(2025, 1, 2)));
        assert_eq!(r.value_date, ymd(2025, 1, 1));
        assert_eq!(
            r.remittance.as_deref(),
            Some("INV-123456789 NORTHWIND TRADING LTD 000000")
        );
        assert_eq!(r.account, None);
        assert_eq!(x.records[1].amount, dec("-3.50"));
    }

    const BANK_SPEC: &str = r#"
        decimal_separator = ","
        thousands_separator = "."
        date_formats = ["%d.%m.%Y"]
        [columns]
        booking_date = "Buchungstag"
        value_date = "Valuta"
        amount = "Betrag"
        currency = "Währung"
        counterparty = "Empfänger/Zahlungspflichtiger"
        remittance = "Verwendungszweck"
    "#;

    /// A German bank export: title lines, `;`, comma decimals, a quoted field with the
    /// delimiter and a line break in it, a blank line, a totals line.
    const BANK_CSV: &str = "Umsätze Girokonto;DE02 1203 0000 0000 2020 51\n\
        Zeitraum: 01.01.2025 - 31.01.2025\n\
        \n\
        Buchungstag;Valuta;Empfänger/Zahlungspflichtiger;Verwendungszweck;Betrag;Währung\n\
        02.01.2025;02.01.2025;Müller GmbH;\"RE 4711; Danke\nzweite Zeile\";-1.234,56;EUR\n\
        \n\
        03.01.2025;03.01.2025;Café Zoë;INV-1;99,00;EUR\n\
        ;;;;;\n\
        Summe;;;;-1.135,56;EUR\n";

    fn check_bank(x: &crate::extract::Extracted) {
        assert_eq!(x.records.len(), 2, "{:?}", x.records);
        let r = &x.records[0];
        assert_eq!(r.amount, dec("-1234.56"));
        assert_eq!(r.value_date, ymd(2025, 1, 2));
        assert_eq!(r.counterparty.as_deref(), Some("Müller GmbH"));
        assert_eq!(
            r.remittance.as_deref(),
            Some("RE 4711; Danke\nzweite Zeile")
        );
        assert_eq!(r.source.row, 5);
        let r = &x.records[1];
        assert_eq!(r.counterparty.as_deref(), Some("Café Zoë"));
        assert_eq!(r.amount, dec("99.00"));
        // The quoted line break and the blank line count as lines.
        assert_eq!(r.source.row, 8);
        let skipped: Vec<(u32, &str)> = x.skipped.iter().map(|s| (s.row, s.why.as_str())).collect();
        assert_eq!(skipped, [(9, "blank row"), (10, "totals row")]);
    }

    #[test]
    fn header_below_title_lines_with_sniffed_semicolon() {
        let l = layout(Side::Statement, BANK_SPEC);
        check_bank(&run(&l, "konto.csv", BANK_CSV.as_bytes()).unwrap());
    }

    #[test]
    fn utf8_with_bom() {
        let l = layout(Side::Statement, BANK_SPEC);
        let mut bytes = b"\xef\xbb\xbf".to_vec();
        bytes.extend_from_slice(BANK_CSV.as_bytes());
        check_bank(&run(&l, "konto.csv", &bytes).unwrap());
    }

    #[test]
    fn windows_1252_detected_and_pinned() {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(BANK_CSV);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
        let l = layout(Side::Statement, BANK_SPEC);
        check_bank(&run(&l, "konto.csv", &bytes).unwrap());
        let pinned = format!("encoding = \"windows-1252\"\n{BANK_SPEC}");
        check_bank(&run(&layout(Side::Statement, &pinned), "konto.csv", &bytes).unwrap());
        // The same bytes read as UTF-8 because the job says so: refused, naming the line.
        let wrong = format!("encoding = \"utf-8\"\n{BANK_SPEC}");
        let e = run(&layout(Side::Statement, &wrong), "konto.csv", &bytes).unwrap_err();
        assert!(e.to_string().contains("Valuta"), "{e}");
    }

    fn utf16(s: &str, le: bool) -> Vec<u8> {
        let mut v: Vec<u8> = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in s.encode_utf16() {
            v.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        v
    }

    #[test]
    fn utf16_with_bom_both_byte_orders() {
        let l = layout(Side::Statement, BANK_SPEC);
        check_bank(&run(&l, "konto.csv", &utf16(BANK_CSV, true)).unwrap());
        check_bank(&run(&l, "konto.csv", &utf16(BANK_CSV, false)).unwrap());
    }

    #[test]
    fn fixture_files_in_legacy_encodings() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/extract");
        let l = layout(Side::Statement, BANK_SPEC);
        for name in ["bank_windows1252.csv", "bank_utf16le.csv"] {
            let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
            check_bank(&run(&l, name, &bytes).unwrap());
        }
    }

    #[test]
    fn line_numbers_are_physical_lines_with_crlf_and_blank_lines() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"\nremittance = \"r\"",
        );
        let text = "d,a,c,r\r\n\r\n2025-01-01,1,EUR,\"two\r\nlines\"\r\n\r\n\r\n2025-01-02,2,EUR,x\r\n2025-01-03,3,EUR,y";
        let x = run(&l, "crlf.csv", text.as_bytes()).unwrap();
        let rows: Vec<u32> = x.records.iter().map(|r| r.source.row).collect();
        assert_eq!(rows, [3, 7, 8]);
        assert_eq!(x.records[0].remittance.as_deref(), Some("two\r\nlines"));
    }

    #[test]
    fn debit_and_credit_columns_and_dc_marks() {
        let l = layout(
            Side::Statement,
            "decimal_separator = \",\"\n[columns]\nvalue_date = \"Datum\"\ndebit = \"Soll\"\ncredit = \"Haben\"\n\
             [defaults]\ncurrency = \"EUR\"\naccount = \"DE02120300000000202051\"",
        );
        let text = "Datum;Soll;Haben\n2025-01-02;12,50;\n2025-01-03;;7,00\n";
        let x = run(&l, "sh.csv", text.as_bytes()).unwrap();
        let amounts: Vec<Decimal> = x.records.iter().map(|r| r.amount).collect();
        assert_eq!(amounts, [dec("-12.50"), dec("7.00")]);
        assert_eq!(
            x.records[0].account.as_deref(),
            Some("DE02120300000000202051")
        );
        assert_eq!(x.records[0].currency.as_str(), "EUR");

        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\ndc_mark = \"D/C\"\ncurrency = \"Ccy\"",
        );
        let text = "Date,Amount,D/C,Ccy\n2025-01-02,12.50,D,EUR\n2025-01-03,7.00,C,EUR\n";
        let x = run(&l, "dc.csv", text.as_bytes()).unwrap();
        let amounts: Vec<Decimal> = x.records.iter().map(|r| r.amount).collect();
        assert_eq!(amounts, [dec("-12.50"), dec("7.00")]);
    }

    #[test]
    fn every_delimiter_is_sniffed() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\ncurrency = \"Ccy\"\nremittance = \"Text\"",
        );
        for d in [",", ";", "\t", "|"] {
            let text =
                format!("Date{d}Text{d}Amount{d}Ccy\n2025-01-31{d}\"a{d}b\"{d}-1.50{d}EUR\n");
            let x = run(&l, "f.csv", text.as_bytes()).unwrap_or_else(|e| panic!("{d:?}: {e}"));
            assert_eq!(
                x.records[0].remittance.as_deref(),
                Some(&*format!("a{d}b")),
                "{d:?}"
            );
            assert_eq!(x.records[0].amount, dec("-1.50"));
        }
        // Pinned: the header must split on it.
        let pinned = layout(
            Side::Statement,
            "delimiter = \"tab\"\n[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\ncurrency = \"Ccy\"",
        );
        let e = run(&pinned, "f.csv", b"Date;Amount;Ccy\n2025-01-31;1;EUR\n").unwrap_err();
        assert!(e.to_string().contains("separated by tab"), "{e}");
        let x = run(&pinned, "f.csv", b"Date\tAmount\tCcy\n2025-01-31\t1\tEUR\n").unwrap();
        assert_eq!(x.records.len(), 1);
    }

    #[test]
    fn pinned_header_row() {
        let l = layout(
            Side::Statement,
            "header_row = 3\n[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\ncurrency = \"Ccy\"",
        );
        let text = "Date,Amount,Ccy\nnot,a,row\nDate,Amount,Ccy\n2025-01-31,1.00,EUR\n";
        let x = run(&l, "f.csv", text.as_bytes()).unwrap();
        assert_eq!(x.records.len(), 1);
        assert_eq!(x.records[0].source.row, 4);
        let e = run(&l, "f.csv", b"a,b\nc,d\ne,f\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 3 (extract.header_row) is not a header"),
            "{e}"
        );
        assert!(e.to_string().contains("\"e,f\""), "{e}");
    }

    #[test]
    fn missing_header_says_what_was_looked_for_and_what_came_closest() {
        let l = layout(Side::Statement, STATEMENT_SPEC);
        let e = run(
            &l,
            "s.csv",
            b"booking_date,value_date,amt,currency,bank_reference,remittance_info\n",
        )
        .unwrap_err();
        let t = e.to_string();
        assert!(
            t.starts_with("s.csv: no header line with the columns"),
            "{t}"
        );
        assert!(
            t.contains("line 1 (separated by ',') comes closest but lacks \"amount\""),
            "{t}"
        );
        let e = run(
            &l,
            "s.csv",
            b"value_date,amount,amount,currency,bank_reference,booking_date,remittance_info\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn wrong_field_count_names_the_line_and_all_problems_are_listed() {
        let l = layout(Side::Ledger, LEDGER_SPEC);
        let text = "id,account,value_date,amount,currency,reference,counterparty\n\
                    1,A,2025-01-01,1.00,EUR,R,C\n\
                    2,A,2025-01-01,1.00,EUR,R\n\
                    3,A,2025-01-01,12,3x,EUR,R,C\n\
                    4,A,2025-01-01,\"12,3x\",EUR,R,C\n\
                    5,A,01/01/2025,1.00,EURO,R,C\n\
                    ,A,2025-01-01,,EUR,R,C\n";
        let e = run(&l, "ledger.csv", text.as_bytes()).unwrap_err();
        let t = e.to_string();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines,
            [
                "ledger.csv line 3: expected 7 fields as in the header (line 1), found 6",
                "ledger.csv line 4: expected 7 fields as in the header (line 1), found 8",
                "ledger.csv line 5, column \"amount\": expected an amount such as -1234.56 or (1234.56), found \"12,3x\" (',' is not the decimal separator '.', and no thousands_separator is set)",
                "ledger.csv line 6, column \"currency\": expected a three-letter currency code such as EUR, found \"EURO\"",
                "ledger.csv line 6, column \"value_date\": expected a date in the format %Y-%m-%d (e.g. 2025-12-31), found \"01/01/2025\"",
                "ledger.csv line 7, column \"amount\": the amount is empty",
                "ledger.csv line 7, column \"id\": the id is empty",
            ]
        );
    }

    #[test]
    fn amounts_with_more_decimals_than_their_currency_are_refused_naming_line_and_column() {
        let l = layout(Side::Ledger, LEDGER_SPEC);
        let text = "id,account,value_date,amount,currency,reference,counterparty\n\
                    1,A,2025-01-01,100.005,EUR,R,C\n\
                    2,A,2025-01-01,1000.5,JPY,R,C\n\
                    3,A,2025-01-01,100.01,EUR,R,C\n\
                    4,A,2025-01-01,1000,JPY,R,C\n\
                    5,A,2025-01-01,1.234,KWD,R,C\n";
        let e = run(&l, "ledger.csv", text.as_bytes()).unwrap_err();
        let t = e.to_string();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(
            lines[0].starts_with(
                "ledger.csv line 2, column \"amount\": EUR has 2 decimals; 100.005 has 3"
            ),
            "{t}"
        );
        assert!(
            lines[1].starts_with(
                "ledger.csv line 3, column \"amount\": JPY has no decimals; 1000.5 has 1"
            ),
            "{t}"
        );
        // Zeros beyond the minor unit say the same amount: read, trimmed to the unit.
        let text = "id,account,value_date,amount,currency,reference,counterparty\n\
                    1,A,2025-01-01,100.000,EUR,R,C\n\
                    2,A,2025-01-01,1000.00,JPY,R,C\n";
        let x = run(&l, "ledger.csv", text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let amounts: Vec<String> = x.records.iter().map(|r| r.amount.to_string()).collect();
        assert_eq!(amounts, ["100.00", "1000"]);
        // Debit and credit columns follow the same rule.
        let l = layout(
            Side::Statement,
            "[columns]\nid = \"ref\"\nvalue_date = \"date\"\ndebit = \"debit\"\n\
             credit = \"credit\"\n[defaults]\ncurrency = \"EUR\"",
        );
        let text = "ref,date,debit,credit\nB1,2025-01-01,,12.345\n";
        let e = run(&l, "bank.csv", text.as_bytes()).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "bank.csv line 2, column \"credit\": EUR has 2 decimals; 12.345 has 3"
            ),
            "{e}"
        );
    }

    #[test]
    fn oversized_lines_and_rows_are_refused() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
        );
        let mut big = b"d,a,c\n2025-01-01,1,EUR,".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        big.push(b'\n');
        let e = run(&l, "big.csv", &big).unwrap_err();
        assert!(e.to_string().contains("line 2 is longer than 1 MiB"), "{e}");
        let mut wide = b"d,a,c\n".to_vec();
        wide.extend(std::iter::repeat_n(b',', MAX_COLUMNS + 1));
        let e = run(&l, "wide.csv", &wide).unwrap_err();
        assert!(e.to_string().contains("more than the 10000"), "{e}");
    }

    #[test]
    fn progress_is_reported() {
        let l = layout(
            Side::Statement,
            "[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
        );
        let mut text = String::from("d,a,c\n");
        for i in 0..(PROGRESS_EVERY * 2 + 5) {
            text.push_str(&format!("2025-01-01,{i}.00,EUR\n"));
        }
        let calls = std::cell::RefCell::new(Vec::new());
        let input = crate::extract::Input {
            name: "p.csv",
            bytes: text.as_bytes(),
            file_hash: Arc::from("h"),
        };
        let x = crate::extract::extract_with_progress(&l, &input, &|d, t| {
            calls.borrow_mut().push((d, t))
        })
        .unwrap();
        assert_eq!(x.records.len() as u64, PROGRESS_EVERY * 2 + 5);
        let calls = calls.into_inner();
        let total = text.len() as u64;
        assert!(calls.len() >= 4, "{calls:?}");
        assert_eq!(calls.first(), Some(&(0, total)));
        assert_eq!(calls.last(), Some(&(total, total)));
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    }
}
