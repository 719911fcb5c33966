//! Supplier invoices: UBL 2.1 `Invoice`/`CreditNote` (Peppol BIS Billing 3.0 / EN 16931),
//! UN/CEFACT CII `CrossIndustryInvoice` (ZUGFeRD 2 / Factur-X / XRechnung, every profile), and
//! Factur-X/ZUGFeRD PDFs (CII embedded as an attachment of a PDF/A-3).
//!
//! [`sniff`] tells the formats apart by content; [`parse`] reads one file into
//! [`Invoice`]s (one per document). XML goes through clerk's safe reader ([`super::xml`]:
//! no DTD, limited depth and text, local names), so namespace prefixes and XML signatures
//! do not matter, and embedded binary attachments are dropped as they stream by.
//!
//! **Invariant:** amounts are parsed from the document's text into `Decimal` here, exactly as
//! written (any scale, a sign allowed, nothing else); a credit note keeps its amounts as stated
//! and says so in [`Invoice::kind`].
//!
//! **Invariant:** what is missing or malformed is an error naming the element and its line;
//! totals that do not add up are not: the pipeline reports [`Invoice::arithmetic_problems`]
//! as a break.
//!
//! Code map: `ubl` and `cii` map an element tree to an [`Invoice`]; `pdf` finds the invoice
//! attached to a PDF (clerk's own bounded reader: xref tables and streams, object streams,
//! the `/EmbeddedFiles` name tree and `/AF`); this file holds what they share: the problem
//! list, amounts, dates.

mod cii;
mod pdf;
mod terms;
mod ubl;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::xml::{self, Element, Limits};
use super::{ExtractError, Input, MAX_PROBLEMS, Problem};
use crate::model::invoice::Invoice;
use crate::model::{Currency, Source};

pub use pdf::{MAX_ATTACHMENT_BYTES, MAX_PDF_BYTES};

/// The invoice formats clerk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceFormat {
    /// UBL 2.1 `Invoice` or `CreditNote`.
    Ubl,
    /// UN/CEFACT `CrossIndustryInvoice` as XML.
    Cii,
    /// A PDF with a CII invoice attached (Factur-X, ZUGFeRD 2, XRechnung in a PDF).
    FacturX,
}

impl InvoiceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceFormat::Ubl => "ubl",
            InvoiceFormat::Cii => "cii",
            InvoiceFormat::FacturX => "facturx",
        }
    }

    /// How the format is described to people.
    pub fn describe(self) -> &'static str {
        match self {
            InvoiceFormat::Ubl => "a UBL invoice (XML)",
            InvoiceFormat::Cii => "a CII CrossIndustryInvoice (XML)",
            InvoiceFormat::FacturX => "a Factur-X/ZUGFeRD PDF",
        }
    }
}

impl fmt::Display for InvoiceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a file [`sniff`] looks at, after a byte-order mark.
const SNIFF_BYTES: usize = 8 * 1024;

const UBL_INVOICE_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const UBL_CREDIT_NOTE_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const UBL_NS_PREFIX: &str = "urn:oasis:names:specification:ubl:schema:xsd:";

/// Elements whose text is a base64 attachment (a PDF copy of the invoice, a timesheet): never
/// kept, however large.
const BINARY_ELEMENTS: &[&str] = &["EmbeddedDocumentBinaryObject", "AttachmentBinaryObject"];

/// Document type codes (UNTDID 1001) that make a document a credit note.
const CREDIT_NOTE_CODES: &[&str] = &[
    "81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532",
];

/// The format of `bytes` by content, or `None` when it is none of them. Looks at the first
/// few KB only (after a byte-order mark, the XML declaration and comments); for a PDF it also
/// checks cheaply whether the file can hold an attachment at all.
pub fn sniff(bytes: &[u8]) -> Option<InvoiceFormat> {
    if pdf::is_pdf(bytes) {
        return pdf::might_hold_attachment(bytes).then_some(InvoiceFormat::FacturX);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let root = root_tag(head)?;
    match root.local {
        "Invoice" if root.namespace == Some(UBL_INVOICE_NS) => Some(InvoiceFormat::Ubl),
        "CreditNote" if root.namespace == Some(UBL_CREDIT_NOTE_NS) => Some(InvoiceFormat::Ubl),
        "CrossIndustryInvoice" => Some(InvoiceFormat::Cii),
        _ => None,
    }
}

/// Reads an invoice file. With `expected`, a file of another format is refused (saying what
/// it is); without, the format is found by content.
pub fn parse(
    input: &Input<'_>,
    expected: Option<InvoiceFormat>,
) -> Result<(InvoiceFormat, Vec<Invoice>), ExtractError> {
    let whole = |m: String| ExtractError::whole(input.name, m);
    if pdf::is_pdf(input.bytes) {
        if let Some(e) = expected.filter(|e| *e != InvoiceFormat::FacturX) {
            return Err(whole(format!(
                "expected {}, found a PDF file",
                e.describe()
            )));
        }
        let attachment = pdf::embedded_invoice(input.bytes).map_err(whole)?;
        let mut cx = Cx::new(input, Some(&attachment.name));
        let doc = read_xml(&attachment.data, &mut cx)
            .ok_or_else(|| ExtractError::new(input.name, std::mem::take(&mut cx.problems)))?;
        let invoice = match classify(&doc) {
            Ok(InvoiceFormat::Cii) => cii::read(&doc, &mut cx),
            Ok(other) => {
                return Err(whole(format!(
                    "the PDF's attachment {} is {}, not the CII CrossIndustryInvoice Factur-X/ZUGFeRD requires",
                    attachment.name,
                    other.describe()
                )));
            }
            Err(m) => {
                return Err(whole(format!(
                    "the PDF's attachment {}: {m}",
                    attachment.name
                )));
            }
        };
        return cx
            .finish(invoice)
            .map(|i| (InvoiceFormat::FacturX, vec![i]));
    }
    if !looks_like_xml(input.bytes) {
        return Err(whole(format!(
            "neither XML nor PDF (an invoice is UBL or CII XML, or a Factur-X/ZUGFeRD PDF): the file starts with {:?}",
            String::from_utf8_lossy(&input.bytes[..input.bytes.len().min(40)])
        )));
    }
    let mut cx = Cx::new(input, None);
    let doc = read_xml(input.bytes, &mut cx)
        .ok_or_else(|| ExtractError::new(input.name, std::mem::take(&mut cx.problems)))?;
    let format = classify(&doc).map_err(whole)?;
    if let Some(e) = expected.filter(|e| *e != format) {
        return Err(whole(format!(
            "expected {}, found {}",
            e.describe(),
            format.describe()
        )));
    }
    let invoice = match format {
        InvoiceFormat::Ubl => ubl::read(&doc, &mut cx),
        _ => cii::read(&doc, &mut cx),
    };
    cx.finish(invoice).map(|i| (format, vec![i]))
}

/// Whether the bytes start like XML: `<` after a byte-order mark and whitespace (an empty
/// file is left to the XML reader, which says so).
fn looks_like_xml(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match b.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(c) => *c == b'<',
        None => true,
    }
}

/// Reads XML bytes into a tree, or records why not.
fn read_xml(bytes: &[u8], cx: &mut Cx<'_>) -> Option<xml::Document> {
    let limits = Limits {
        drop_text_of: BINARY_ELEMENTS,
        ..Limits::default()
    };
    match xml::parse(bytes, &limits) {
        Ok(doc) => Some(doc),
        Err(e) => {
            // Before the root there is no element to name; inside a PDF, name the attachment.
            let locator = if e.locator.is_empty() {
                cx.within.map(str::to_string)
            } else {
                Some(cx.prefixed(&e.locator))
            };
            cx.problems.push(Problem {
                sheet: None,
                row: Some(e.line),
                column: locator,
                message: e.message,
            });
            None
        }
    }
}

/// Which reader a document's root calls for, or why it is not an invoice.
fn classify(doc: &xml::Document) -> Result<InvoiceFormat, String> {
    let name = doc.root.name.as_str();
    let ns = doc.namespace.as_deref();
    match (name, ns) {
        ("Invoice", Some(UBL_INVOICE_NS)) | ("CreditNote", Some(UBL_CREDIT_NOTE_NS)) => {
            Ok(InvoiceFormat::Ubl)
        }
        ("CrossIndustryInvoice", _) => Ok(InvoiceFormat::Cii),
        ("Invoice" | "CreditNote", _) => Err(format!(
            "the root element <{name}> is not in the UBL 2 namespace ({}): not a UBL invoice",
            ns.map_or("no namespace".to_string(), |n| format!("found {n:?}"))
        )),
        ("CrossIndustryDocument", _) => Err(
            "a ZUGFeRD 1.0 CrossIndustryDocument: clerk reads ZUGFeRD 2 / Factur-X / XRechnung (CrossIndustryInvoice) only"
                .into(),
        ),
        ("Signature", _) => {
            Err("a detached XML signature (<Signature>), not an invoice: send the signed invoice itself".into())
        }
        (_, Some(n)) if n.starts_with(UBL_NS_PREFIX) => Err(format!(
            "a UBL {name} document, not an Invoice or CreditNote: clerk reads supplier invoices and credit notes only"
        )),
        _ => Err(format!(
            "the root element is <{name}>: not an invoice (expected a UBL Invoice or CreditNote, or a CII CrossIndustryInvoice)"
        )),
    }
}

/// The start tag of a document's root: local name and the namespace its prefix maps to.
struct RootTag<'a> {
    local: &'a str,
    namespace: Option<&'a str>,
}

/// Finds the root element's start tag in the first bytes of a document, skipping the XML
/// declaration, processing instructions, comments and whitespace. `None` for anything else
/// (a DOCTYPE, text, a tag cut off before its name ends).
fn root_tag(head: &[u8]) -> Option<RootTag<'_>> {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // Cut in the middle of a character: use what is valid.
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else {
            break;
        }
    }
    let tag = rest.strip_prefix('<')?;
    let name_end = tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let qname = &tag[..name_end];
    if qname.is_empty() || qname.starts_with('!') {
        return None;
    }
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    // Attributes up to the end of the tag (or of what was read).
    let mut attrs = &tag[name_end..];
    if let Some(end) = attrs.find('>') {
        attrs = &attrs[..end];
    }
    let wanted = match prefix {
        Some(p) => format!("xmlns:{p}"),
        None => "xmlns".to_string(),
    };
    let mut namespace = None;
    let mut a = attrs;
    while let Some(eq) = a.find('=') {
        let key = a[..eq].trim();
        let after = a[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = after[1..].find(quote)?;
        let value = &after[1..1 + close];
        if key == wanted {
            namespace = Some(value);
        }
        a = &after[close + 2..];
    }
    Some(RootTag { local, namespace })
}

/// What the readers share while mapping one document: where it came from and the problems
/// found so far (all of them, up to [`MAX_PROBLEMS`], so a file can be fixed in one go).
pub(super) struct Cx<'a> {
    file_name: &'a str,
    file: Arc<str>,
    /// The PDF attachment the XML came from, prefixed to locators (`factur-x.xml: …`).
    within: Option<&'a str>,
    problems: Vec<Problem>,
}

impl<'a> Cx<'a> {
    fn new(input: &Input<'a>, within: Option<&'a str>) -> Self {
        Cx {
            file_name: input.name,
            file: input.file_hash.clone(),
            within,
            problems: Vec::new(),
        }
    }

    fn finish(self, invoice: Invoice) -> Result<Invoice, ExtractError> {
        if self.problems.is_empty() {
            Ok(invoice)
        } else {
            Err(ExtractError::new(self.file_name, self.problems))
        }
    }

    fn prefixed(&self, locator: &str) -> String {
        match self.within {
            Some(w) => format!("{w}: {locator}"),
            None => locator.to_string(),
        }
    }

    /// Records a problem at an element.
    fn problem(&mut self, at: &Element, message: String) {
        self.problem_at(at.line, &at.locator, message);
    }

    fn problem_at(&mut self, line: u32, locator: &str, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            let column = Some(self.prefixed(locator));
            self.problems.push(Problem {
                sheet: None,
                row: Some(line),
                column,
                message,
            });
        }
    }

    /// Records that `path` is missing below `parent`.
    fn missing(&mut self, parent: &Element, path: &str, what: &str) {
        let locator = format!("{}/{path}", parent.locator);
        let name = path.rsplit('/').next().unwrap_or(path);
        self.problem_at(
            parent.line,
            &locator,
            format!("expected <{name}> ({what}), found none"),
        );
    }

    pub(super) fn source(&self, at: &Element) -> Source {
        Source {
            file: self.file.clone(),
            sheet: None,
            row: at.line,
            locator: Some(self.prefixed(&at.locator).into()),
        }
    }

    /// Trimmed text at `path`, `None` when absent or empty.
    fn text(parent: &Element, path: &str) -> Option<String> {
        parent.text_at(path).map(str::to_string)
    }

    /// Trimmed text at `path`; a problem when absent or empty.
    fn required_text(&mut self, parent: &Element, path: &str, what: &str) -> String {
        match parent.find(path) {
            Some(e) => match e.value() {
                Some(v) => v.to_string(),
                None => {
                    self.problem(e, format!("expected {what}, found an empty <{}>", e.name));
                    String::new()
                }
            },
            None => {
                self.missing(parent, path, what);
                String::new()
            }
        }
    }

    /// The amount in an element's text; a problem when it is not a plain decimal.
    fn amount_of(&mut self, e: &Element, what: &str) -> Option<Decimal> {
        let t = e.value()?;
        match parse_decimal(t) {
            Ok(d) => Some(d),
            Err(why) => {
                self.problem(
                    e,
                    format!("expected {what} as a plain decimal such as 1234.56, found {t:?}{why}"),
                );
                None
            }
        }
    }

    /// The amount at `path`: `None` when absent or empty (or malformed, which is recorded).
    fn amount(&mut self, parent: &Element, path: &str, what: &str) -> Option<Decimal> {
        let e = parent.find(path)?;
        self.amount_of(e, what)
    }

    /// The amount at `path`; a problem when absent, empty or malformed (zero is returned then,
    /// and never used: the document is refused).
    fn required_amount(&mut self, parent: &Element, path: &str, what: &str) -> Decimal {
        match parent.find(path) {
            Some(e) if e.value().is_some() => self.amount_of(e, what).unwrap_or_default(),
            Some(e) => {
                self.problem(e, format!("expected {what}, found an empty <{}>", e.name));
                Decimal::ZERO
            }
            None => {
                self.missing(parent, path, what);
                Decimal::ZERO
            }
        }
    }

    /// An XML Schema boolean at `path` (`true`/`false`, `1`/`0`) saying whether an allowance
    /// or charge is a charge; a problem when absent or anything else.
    fn indicator(&mut self, parent: &Element, path: &str) -> Option<bool> {
        const WHAT: &str = "true for a charge, false for an allowance";
        let Some(e) = parent.find(path) else {
            self.missing(parent, path, WHAT);
            return None;
        };
        match e.value() {
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            other => {
                self.problem(
                    e,
                    format!("expected {WHAT}, found {:?}", other.unwrap_or_default()),
                );
                None
            }
        }
    }

    /// A currency code in an element's text or attribute.
    fn currency_of(&mut self, e: &Element, code: &str, what: &str) -> Option<Currency> {
        match code.parse::<Currency>() {
            Ok(c) => Some(c),
            Err(m) => {
                self.problem(e, format!("{what}: {m}"));
                None
            }
        }
    }

    /// An ISO date (`2024-03-31`, an XML Schema time zone after it is ignored) at `path`.
    fn iso_date(&mut self, parent: &Element, path: &str, what: &str) -> Option<NaiveDate> {
        let e = parent.find(path)?;
        let t = e.value()?;
        match parse_iso_date(t) {
            Some(d) => Some(d),
            None => {
                self.problem(
                    e,
                    format!("expected {what} as a date such as 2024-03-31, found {t:?}"),
                );
                None
            }
        }
    }

    /// A CII date: `<DateTimeString format="102">20240331</DateTimeString>` below `path`.
    fn cii_date(&mut self, parent: &Element, path: &str, what: &str) -> Option<NaiveDate> {
        let e = parent.find(path)?.child("DateTimeString")?;
        let t = e.value()?;
        let format = e.attr("format").map(str::trim).unwrap_or("102");
        if format != "102" {
            self.problem(
                e,
                format!("expected {what} as a day (format 102, YYYYMMDD), found format {format:?} with {t:?}"),
            );
            return None;
        }
        match parse_yyyymmdd(t) {
            Some(d) => Some(d),
            None => {
                self.problem(
                    e,
                    format!("expected {what} as a date YYYYMMDD such as 20240331, found {t:?}"),
                );
                None
            }
        }
    }

    /// A quantity: an amount-like decimal. UBL 2.0/2.1 make it optional: a line without one
    /// has none (a three-way match must not take an invented 1 for a delivered quantity).
    fn quantity(&mut self, e: Option<&Element>) -> (Option<Decimal>, Option<String>) {
        match e {
            Some(q) => {
                let unit = q
                    .attr("unitCode")
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string);
                (self.amount_of(q, "a quantity"), unit)
            }
            None => (None, None),
        }
    }
}

/// Stands in for a missing currency in an invoice that is refused anyway (ISO 4217 "no
/// currency").
fn placeholder_currency() -> Currency {
    "XXX".parse().expect("three letters make a currency code")
}

/// Whether a document type code says credit note.
fn is_credit_note_code(code: &str) -> bool {
    CREDIT_NOTE_CODES.contains(&code.trim())
}

/// Parses a plain decimal as invoices write them: an optional sign, digits, an optional `.`
/// and more digits. No thousands separators, no exponent: XML Schema `decimal`. The error is
/// a suffix for a message ("" or ": too many digits").
pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, &'static str> {
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err("");
    }
    let int = int.trim_start_matches('0');
    // Trailing zeros after the point only when the scale would be too large to keep them.
    let mut frac = frac;
    if frac.len() > Decimal::MAX_SCALE as usize {
        frac = frac.trim_end_matches('0');
    }
    if frac.len() > Decimal::MAX_SCALE as usize || int.len() + frac.len() > 29 {
        return Err(": too many digits");
    }
    let mut mantissa: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    if negative {
        mantissa = -mantissa;
    }
    Decimal::try_from_i128_with_scale(mantissa, frac.len() as u32)
        .ok()
        .filter(|d| crate::model::within_magnitude(*d))
        .ok_or(": too large (at most 18 digits before the decimal point)")
}

/// `2024-03-31`, optionally followed by an XML Schema time zone (`Z`, `+01:00`).
fn parse_iso_date(t: &str) -> Option<NaiveDate> {
    let t = t.trim();
    let (day, zone) = t.split_at_checked(10)?;
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes()[3] == b':');
    if !zone_ok || day.as_bytes()[4] != b'-' || day.as_bytes()[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// `20240331`.
fn parse_yyyymmdd(t: &str) -> Option<NaiveDate> {
    let t = t.trim();
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = t[..4].parse().ok()?;
    let m = t[4..6].parse().ok()?;
    let d = t[6..].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// An identifier and its `schemeID` (trimmed; `None` when absent or empty).
fn identifier(e: &Element) -> (Option<String>, Option<String>) {
    let scheme = e
        .attr("schemeID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (e.value().map(str::to_string), scheme)
}

/// An account identifier as machines compare it: IBANs are printed in groups of four, but
/// the spaces are not part of them.
fn compact(account: String) -> String {
    account.split_whitespace().collect()
}
