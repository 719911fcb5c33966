//! A look inside a zip-based workbook (XLSX, ODS) before calamine opens it.
//!
//! calamine decompresses the parts it needs with no limit of its own, so a few kilobytes of
//! deflate can unpack to gigabytes (a zip bomb inside an "XLSX"). A zip's declared sizes can
//! lie, so clerk decompresses every part itself first, counting bytes and throwing them away,
//! and refuses the file as soon as a part or the whole goes past a limit that no real
//! statement or ledger export comes near.

use std::io::{Cursor, Read};

/// Most parts in one workbook.
const MAX_ENTRIES: usize = 10_000;
/// Largest one part may unpack to.
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// Largest all parts together may unpack to.
const MAX_TOTAL_BYTES: u64 = 2 << 30;

/// Why calamine must not open this zip, if it must not. A zip that cannot be read at all is
/// left to calamine, which refuses it as damaged.
pub(crate) fn refuse(file: &[u8]) -> Option<String> {
    refuse_within(file, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES)
}

fn refuse_within(file: &[u8], max_entry: u64, max_total: u64) -> Option<String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(file)).ok()?;
    if zip.len() > MAX_ENTRIES {
        return Some(format!(
            "the workbook holds {} parts, more than {MAX_ENTRIES}: it is damaged or not a spreadsheet",
            zip.len()
        ));
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let Ok(mut part) = zip.by_index(i) else {
            // Unreadable or encrypted parts: calamine will say so.
            continue;
        };
        let name = part
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{i}"));
        let mut size = 0u64;
        loop {
            match part.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    size += n as u64;
                    total += n as u64;
                    if size > max_entry || total > max_total {
                        return Some(format!(
                            "the workbook's part {name:?} unpacks to more than {} MB from {} bytes in the file: a zip bomb, refused",
                            size.max(total) >> 20,
                            file.len()
                        ));
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_with(parts: &[(&str, &[u8])], repeat_last: u64) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(repeat_last > (1 << 30));
        for (i, (name, bytes)) in parts.iter().enumerate() {
            z.start_file(*name, opts).unwrap();
            let times = if i + 1 == parts.len() { repeat_last } else { 1 };
            for _ in 0..times {
                z.write_all(bytes).unwrap();
            }
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn an_ordinary_workbook_passes() {
        let path = format!(
            "{}/tests/fixtures/calamine/date_1904.xlsx",
            env!("CARGO_MANIFEST_DIR")
        );
        assert_eq!(refuse(&std::fs::read(path).unwrap()), None);
    }

    #[test]
    fn a_part_that_unpacks_past_the_limit_is_refused() {
        // 3 MB of zeros deflate to some 3 KB; with a 1 MB limit that is a bomb (the real
        // limit is 1 GB, the same code path; kept small so a debug build tests it quickly).
        let zeros = vec![0u8; 256 << 10];
        let bomb = zip_with(
            &[
                ("[Content_Types].xml", b"<x/>"),
                ("xl/sharedStrings.xml", &zeros),
            ],
            12,
        );
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        assert_eq!(refuse(&bomb), None, "under the real limit");
        let why = refuse_within(&bomb, 1 << 20, 2 << 20).expect("refused");
        assert!(
            why.contains("xl/sharedStrings.xml") && why.contains("zip bomb"),
            "{why}"
        );
    }
}
