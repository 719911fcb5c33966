//! Which format a file is, by its content (never by its name: names lie, `.csv` files are
//! often workbooks and the other way round).

use memchr::memmem;

use super::Format;
use super::spec::Layout;
use super::text;

const ZIP: &[u8] = b"PK\x03\x04";
const CFB: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const ODS_MIME: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

/// How much of a "CSV" is checked for binary content.
const TEXT_CHECK: usize = 8 * 1024;

/// What the content is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Known(Format),
    /// Something clerk does not read; the words say what it looks like.
    Unreadable(String),
}

fn sniff(layout: &Layout, b: &[u8]) -> Content {
    // Structured documents first: they say what they are in their first bytes.
    if let Some(t) = super::swift::sniff(b) {
        return Content::Known(match t {
            super::swift::MtType::Mt940 => Format::Mt940,
            super::swift::MtType::Mt942 => Format::Mt942,
            super::swift::MtType::Mt950 => Format::Mt950,
            super::swift::MtType::Mt535 => Format::Mt535,
            super::swift::MtType::Mt536 => Format::Mt536,
            super::swift::MtType::Mt537 => Format::Mt537,
        });
    }
    if let Some((m, _version)) = super::iso20022::sniff(b) {
        return Content::Known(match m {
            super::iso20022::IsoMessage::Camt052 => Format::Camt052,
            super::iso20022::IsoMessage::Camt053 => Format::Camt053,
            super::iso20022::IsoMessage::Camt054 => Format::Camt054,
            super::iso20022::IsoMessage::Semt002 => Format::Semt002,
        });
    }
    if let Some(f) = super::invoice::sniff(b) {
        return Content::Known(match f {
            super::invoice::InvoiceFormat::Ubl => Format::Ubl,
            super::invoice::InvoiceFormat::Cii => Format::Cii,
            super::invoice::InvoiceFormat::FacturX => Format::FacturX,
        });
    }
    if let Some(root) = xml_root(b) {
        return Content::Unreadable(xml_what(root));
    }
    if b.starts_with(ZIP) {
        if is_ods(b) {
            return Content::Known(Format::Ods);
        }
        if memmem::find(b, b"xl/workbook.bin").is_some() {
            return Content::Unreadable(
                "an Excel binary workbook (XLSB); save it as XLSX or CSV".into(),
            );
        }
        if memmem::find(b, b"[Content_Types].xml").is_some() && memmem::find(b, b"xl/").is_some() {
            return Content::Known(Format::Xlsx);
        }
        if memmem::find(b, b"word/").is_some() {
            return Content::Unreadable("a Word document".into());
        }
        return Content::Unreadable("a ZIP archive that is not a spreadsheet".into());
    }
    if b.starts_with(CFB) {
        // An encrypted OOXML workbook is an OLE container holding "EncryptedPackage".
        let encrypted: Vec<u8> = "EncryptedPackage"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        if memmem::find(b, &encrypted).is_some() {
            return Content::Unreadable(
                "a password-protected workbook; save it without a password".into(),
            );
        }
        return Content::Known(Format::Xls);
    }
    if b.starts_with(b"%PDF") {
        return Content::Unreadable(
            "a PDF without an embedded Factur-X/ZUGFeRD invoice (no factur-x.xml or zugferd-invoice.xml attachment)".into(),
        );
    }
    if b.starts_with(b"\x1f\x8b") {
        return Content::Unreadable("a gzip archive; unpack it first".into());
    }
    let utf16 =
        layout.encoding.is_utf16() || text::bom(b).is_some_and(|(e, _)| e != encoding_rs::UTF_8);
    let head = &b[..b.len().min(TEXT_CHECK)];
    if !utf16 && memchr::memchr(0, head).is_some() {
        return Content::Unreadable("binary data (it holds NUL bytes), not text".into());
    }
    Content::Known(Format::Csv)
}

/// The root element's local name, if the content is XML (after a BOM, the declaration and
/// comments).
fn xml_root(b: &[u8]) -> Option<&str> {
    let head = &b[..b.len().min(TEXT_CHECK)];
    let text = std::str::from_utf8(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head))
        .ok()
        .or_else(|| {
            // A head cut inside a multi-byte character is still XML.
            let s = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
            std::str::from_utf8(&s[..s.len().saturating_sub(3)]).ok()
        })?;
    let mut rest = text.trim_start();
    if !rest.starts_with('<') {
        return None;
    }
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if rest.starts_with("<!") {
            return Some("!DOCTYPE");
        } else if let Some(r) = rest.strip_prefix('<') {
            let name = &r[..r.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?];
            return Some(name.rsplit(':').next().unwrap_or(name));
        } else {
            return None;
        }
    }
}

/// Words for an XML document clerk does not read.
fn xml_what(root: &str) -> String {
    match root {
        "!DOCTYPE" => {
            "an XML document with a DOCTYPE (refused: clerk never reads DTDs or external entities)"
                .into()
        }
        "Document" => "an ISO 20022 message of a kind clerk does not read".into(),
        "Invoice" | "CreditNote" => format!("a <{root}> without the UBL 2.1 namespace"),
        _ => format!(
            "an XML document (root element <{root}>) that is neither a statement nor an invoice clerk reads"
        ),
    }
}

/// ODF requires `mimetype` as the first entry of the zip, stored uncompressed, so the
/// local file header at offset 0 says whether this is a spreadsheet.
fn is_ods(b: &[u8]) -> bool {
    let u16_at = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
        ])))
    };
    let (Some(name_len), Some(extra_len)) = (u16_at(26), u16_at(28)) else {
        return false;
    };
    if b.get(30..30 + name_len) != Some(b"mimetype".as_slice()) {
        return false;
    }
    let start = 30 + name_len + extra_len;
    b.get(start..start + ODS_MIME.len()) == Some(ODS_MIME)
}

/// The format to read the file as, or why it cannot be read.
pub(crate) fn format(layout: &Layout, bytes: &[u8]) -> Result<Format, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    match (sniff(layout, bytes), layout.format) {
        (Content::Unreadable(what), _) => {
            Err(format!("not a format clerk reads: the content is {what}"))
        }
        (Content::Known(found), None) => Ok(found),
        (Content::Known(found), Some(pinned)) if found == pinned => Ok(found),
        (Content::Known(found), Some(pinned)) => Err(format!(
            "the job says format = {:?}, but the content is {}; fix the job's extract.format or \
             send the right file",
            pinned.as_str(),
            found.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ExtractSpec;
    use crate::model::Side;

    fn layout(extra: &str) -> Layout {
        let text =
            format!("{extra}\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"");
        toml::from_str::<ExtractSpec>(&text)
            .unwrap()
            .check(Side::Statement)
            .unwrap()
    }

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/calamine/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn by_content_not_by_name() {
        let auto = layout("");
        assert_eq!(format(&auto, b"a,b\n1,2\n"), Ok(Format::Csv));
        assert_eq!(format(&auto, &corpus("date.xls")), Ok(Format::Xls));
        assert_eq!(format(&auto, &corpus("date.ods")), Ok(Format::Ods));
        assert_eq!(format(&auto, &corpus("date_1904.xlsx")), Ok(Format::Xlsx));
        assert_eq!(format(&auto, &corpus("any_sheets.xlsx")), Ok(Format::Xlsx));
        // UTF-16 text has NUL bytes but is text.
        assert_eq!(format(&auto, b"\xff\xfea\x00,\x00b\x00"), Ok(Format::Csv));
        assert_eq!(
            format(&layout("encoding = \"utf-16le\""), b"a\x00,\x00b\x00"),
            Ok(Format::Csv)
        );
    }

    #[test]
    fn unreadable_content_is_named() {
        let auto = layout("");
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"\x7fELF\x02\x01\x01\x00\x00\x00", "NUL bytes"),
            (b"%PDF-1.7\n", "PDF"),
            (b"\x1f\x8b\x08\x00", "gzip"),
            (b"PK\x03\x04\x14\x00\x00\x00word/document.xml", "Word"),
            (b"PK\x03\x04\x14\x00\x00\x00foo.txt", "not a spreadsheet"),
        ];
        for (bytes, words) in cases {
            let e = format(&auto, bytes).unwrap_err();
            assert!(e.contains(words), "{e}");
        }
        let e = format(&auto, &corpus("pass_protected.xlsx")).unwrap_err();
        assert!(e.contains("password-protected"), "{e}");
    }

    #[test]
    fn pinned_format_must_agree_with_content() {
        let e = format(&layout("format = \"csv\""), &corpus("date.xls")).unwrap_err();
        assert!(e.contains("format = \"csv\""), "{e}");
        assert!(e.contains("XLS"), "{e}");
        let e = format(&layout("format = \"xlsx\""), b"a,b\n").unwrap_err();
        assert!(
            e.contains("format = \"xlsx\"") && e.contains("CSV text"),
            "{e}"
        );
        let e = format(&layout("format = \"xlsx\""), &corpus("date.ods")).unwrap_err();
        assert!(e.contains("ODS"), "{e}");
        assert_eq!(
            format(&layout("format = \"ods\""), &corpus("date.ods")),
            Ok(Format::Ods)
        );
        assert_eq!(
            format(&layout("format = \"csv\""), b"x;y\n"),
            Ok(Format::Csv)
        );
    }
}
