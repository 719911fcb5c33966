//! A look at an ODS file's sheet sizes before calamine opens it.
//!
//! ODS compresses runs of rows and cells (`table:number-rows-repeated`), and calamine expands
//! every sheet of the workbook into a dense grid when it opens the file, up to 100 million
//! cells (several gigabytes) per sheet. A few kilobytes of ODS can ask for that. So clerk
//! streams `content.xml` itself first (bounded memory) and estimates each sheet's grid as
//! calamine will build it: rows up to the last non-empty one, times the widest non-empty row.

use std::io::{BufReader, Cursor};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// calamine's own caps on repeats.
const MAX_ROWS: u64 = 1_048_576;
const MAX_COLUMNS: u64 = 16_384;

fn attr_u64(e: &BytesStart<'_>, name: &str) -> Option<u64> {
    let a = e.try_get_attribute(name).ok()??;
    a.value.trim().parse().ok()
}

fn attr_present(e: &BytesStart<'_>, name: &str) -> bool {
    matches!(e.try_get_attribute(name), Ok(Some(_)))
}

/// One sheet's running estimate.
#[derive(Default)]
struct Table {
    name: String,
    /// Rows so far, repeats included.
    rows: u64,
    /// End (exclusive) of the last row holding something.
    last_filled_end: u64,
    widest: u64,
    /// The row being read: its repeat count, the next column, its filled width.
    row_repeats: u64,
    col: u64,
    width: u64,
}

impl Table {
    fn cells(&self) -> u64 {
        self.last_filled_end.saturating_mul(self.widest)
    }
}

/// Why calamine must not open this ODS file, if it must not. Files that cannot be scanned
/// here are left to calamine, which reports them as damaged.
pub(crate) fn refuse(file: &[u8], max_cells: u64) -> Option<String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(file)).ok()?;
    let content = zip.by_name("content.xml").ok()?;
    let mut xml = Reader::from_reader(BufReader::new(content));
    let mut buf = Vec::new();
    let mut table: Option<Table> = None;
    loop {
        buf.clear();
        let (e, is_empty) = match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(e)) => {
                match e.name().as_ref() {
                    "table:table-row" => {
                        if let Some(t) = table.as_mut() {
                            end_row(t);
                        }
                    }
                    "table:table" => {
                        if let Some(t) = table.take()
                            && t.cells() > max_cells
                        {
                            return Some(too_big(&t));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => continue,
        };
        match e.name().as_ref() {
            "table:table" => {
                let name = e
                    .try_get_attribute("table:name")
                    .ok()
                    .flatten()
                    .map(|a| a.value.into_owned())
                    .unwrap_or_default();
                table = (!is_empty).then(|| Table {
                    name,
                    ..Table::default()
                });
            }
            "table:table-row" => {
                if let Some(t) = table.as_mut() {
                    let repeats = attr_u64(&e, "table:number-rows-repeated").unwrap_or(1);
                    t.row_repeats = repeats.min(MAX_ROWS.saturating_sub(t.rows));
                    t.col = 0;
                    t.width = 0;
                    if is_empty {
                        end_row(t);
                    }
                }
            }
            "table:table-cell" | "table:covered-table-cell" => {
                if let Some(t) = table.as_mut() {
                    let repeats = attr_u64(&e, "table:number-columns-repeated").unwrap_or(1);
                    let end = t.col.saturating_add(repeats).min(MAX_COLUMNS);
                    // A cell with content has a value type, a formula or child elements.
                    if !is_empty
                        || attr_present(&e, "office:value-type")
                        || attr_present(&e, "table:formula")
                    {
                        t.width = end;
                    }
                    t.col = end;
                }
            }
            _ => {}
        }
    }
}

fn end_row(t: &mut Table) {
    if t.width > 0 {
        t.last_filled_end = t.rows + t.row_repeats;
        t.widest = t.widest.max(t.width);
    }
    t.rows += t.row_repeats;
}

fn too_big(t: &Table) -> String {
    format!(
        "sheet {:?} spans {} rows × {} columns once its repeated rows and cells are expanded, \
         more than clerk reads; the file is damaged or not a statement",
        t.name, t.last_filled_end, t.widest
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// A minimal ODS: the mimetype entry first and stored, a manifest, then `content.xml`.
    fn ods_with_rows(rows: &str) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        z.start_file("mimetype", stored).unwrap();
        z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        z.start_file("META-INF/manifest.xml", stored).unwrap();
        z.write_all(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
        )
        .unwrap();
        z.start_file("content.xml", stored).unwrap();
        write!(
            z,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Data">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        z.finish().unwrap().into_inner()
    }

    const HEADER: &str = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>Date</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Amount</text:p></table:table-cell></table:table-row>"#;
    const DATA_ROW: &str = r#"<table:table-row{R}><table:table-cell office:value-type="date" office:date-value="2025-01-31"><text:p>31.01.2025</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="1.5"><text:p>1.5</text:p></table:table-cell></table:table-row>"#;
    /// What LibreOffice writes below the data: empty rows up to the sheet's end.
    const TRAILER: &str = r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;

    fn data_row(repeats: u64) -> String {
        DATA_ROW.replace("{R}", &format!(" table:number-rows-repeated=\"{repeats}\""))
    }

    #[test]
    fn real_and_plain_files_pass() {
        let f = format!(
            "{}/tests/fixtures/calamine/date.ods",
            env!("CARGO_MANIFEST_DIR")
        );
        assert_eq!(refuse(&std::fs::read(f).unwrap(), 10_000_000), None);
        let ods = ods_with_rows(&format!("{HEADER}{}{TRAILER}", data_row(3)));
        assert_eq!(refuse(&ods, 10_000_000), None);
    }

    #[test]
    fn a_repeated_filled_row_is_refused() {
        let ods = ods_with_rows(&format!("{HEADER}{}{TRAILER}", data_row(1_000_000)));
        let m = refuse(&ods, 1_000_000).unwrap();
        assert_eq!(
            m,
            "sheet \"Data\" spans 1000001 rows × 2 columns once its repeated rows and cells are \
             expanded, more than clerk reads; the file is damaged or not a statement"
        );
        let wide = r#"<table:table-row><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="16384"/></table:table-row>"#;
        let ods = ods_with_rows(&format!("{HEADER}{}{wide}", data_row(1000)));
        assert!(
            refuse(&ods, 10_000_000)
                .unwrap()
                .contains("1002 rows × 16384 columns")
        );
    }

    #[test]
    fn refused_through_extract_before_calamine_expands_it() {
        use crate::extract::{ExtractSpec, Input, extract};
        let l = toml::from_str::<ExtractSpec>(
            "[columns]\nvalue_date = \"Date\"\namount = \"Amount\"\n[defaults]\ncurrency = \"EUR\"",
        )
        .unwrap()
        .check(crate::model::Side::Statement)
        .unwrap();
        // 6,000 filled rows × 16,384 columns: 98 million cells, just under calamine's own cap,
        // so calamine would allocate gigabytes for this file of a few hundred bytes.
        let wide = r#"<table:table-row table:number-rows-repeated="6000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="16384"/></table:table-row>"#;
        let bytes = ods_with_rows(&format!("{HEADER}{wide}"));
        let input = Input {
            name: "bomb.ods",
            bytes: &bytes,
            file_hash: std::sync::Arc::from("h"),
        };
        let e = extract(&l, &input).unwrap_err();
        assert!(
            e.to_string().starts_with("bomb.ods: sheet \"Data\" spans"),
            "{e}"
        );
        // A small file of the same shape reads.
        let bytes = ods_with_rows(&format!("{HEADER}{}{TRAILER}", data_row(2)));
        let input = Input {
            name: "ok.ods",
            bytes: &bytes,
            file_hash: std::sync::Arc::from("h"),
        };
        let x = extract(&l, &input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(x.records.len(), 2);
        assert_eq!(x.records[1].source.row, 3);
        assert_eq!(
            x.records[0].value_date,
            chrono::NaiveDate::from_ymd_opt(2025, 1, 31).unwrap()
        );
    }
}
