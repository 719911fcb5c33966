//! Invoices: UBL, CII and Factur-X samples against what is known of them.
//!
//! - `ubl/en16931-eu`, `cii/en16931-eu`: every file is valid EN 16931 (the project's schematron
//!   says so), so each must read and its totals must add up (`arithmetic_problems()` empty).
//!   The examples published in both syntaxes must agree (number, dates, currency, totals,
//!   lines, and each party's legal and trading name, identifier, legal registration and VAT
//!   id: UBL's PartyLegalEntity/RegistrationName is CII's Name, PartyName CII's
//!   TradingBusinessName).
//! - `ubl/oasis-ubl21`: no oracle; invoices and credit notes must read, other UBL document
//!   types and a detached signature must be refused with a message saying what they are.
//! - `cii/horstoeko-zugferd`: the values horstoeko/zugferd's PHPUnit tests assert
//!   (`tests/testcases/Reader*Test.php`, transcribed below as facts), and its negatives
//!   (not an invoice, not XML) refused.
//! - `facturx/horstoeko-zugferd`: every PDF with an attachment reads; `pdf_plain.pdf` and
//!   `pdf_invalid.pdf` have none and must be refused saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clerk::extract::Input;
use clerk::extract::invoice::{self, InvoiceFormat};
use clerk::model::invoice::{AllowanceCharge, Invoice, InvoiceKind, Party};
use rust_decimal::Decimal;

use crate::report::SourceReport;

/// Disagreements that are understood: (file name, start of the disagreement, why). The first
/// entry whose file and start match explains a disagreement, so specific ones come first.
const EXPLAINED: &[(&str, &str, &str)] = &[
    (
        "ubl-tc434-example3.xml / CII_example3.xml",
        "supplier identifier",
        "the two differ upstream: the UBL seller has a GLN (PartyIdentification/ID 0088:1238764941386), the CII seller no ID or GlobalID",
    ),
    (
        "ubl-tc434-example3.xml / CII_example3.xml",
        "customer legal registration",
        "the two differ upstream: the UBL buyer has PartyLegalEntity/CompanyID 987654321, the CII buyer no SpecifiedLegalOrganization",
    ),
    (
        "ubl-tc434-example3.xml / CII_example3.xml",
        "customer VAT id",
        "the two differ upstream: the UBL buyer has the VAT id NO987654321MVA, the CII buyer no SpecifiedTaxRegistration",
    ),
    (
        "ubl-tc434-example3.xml / CII_example3.xml",
        "",
        "the two syntaxes differ upstream: the UBL example has two invoice lines (1600.00 net), the CII example one (800.00 net); clerk reads each as written",
    ),
    (
        "ubl-tc434-example2.xml / CII_example2.xml",
        "prices per unit",
        "the CII example repeats each net price as its base quantity (NetPriceProductTradePrice/BasisQuantity = ChargeAmount, e.g. 1273 per 1273 units for a line of 1 at 1273.00), which makes every unit's price 1 and quantity × price / base quantity differ from the line's net amount: an error upstream; the UBL twin gives the base quantity (BaseQuantity) right, and clerk reads each as written",
    ),
    (
        "ubl-tc434-example8.xml / CII_example8.xml",
        "prices per unit",
        "the CII example repeats each net price as its base quantity (NetPriceProductTradePrice/BasisQuantity = ChargeAmount, e.g. 0.00880 per 0.00880 kWh for 16000 kWh at 140.80), which makes every unit's price 1 and quantity × price / base quantity differ from the line's net amount: an error upstream; the UBL twin gives the base quantity (BaseQuantity) right, and clerk reads each as written",
    ),
    (
        "ubl-tc434-example9.xml / CII_example9.xml",
        "prices per unit",
        "the CII example repeats each net price as its base quantity (NetPriceProductTradePrice/BasisQuantity = ChargeAmount, e.g. 49 per 49 months for 3 months at 147), which makes every unit's price 1 and quantity × price / base quantity differ from the line's net amount: an error upstream; the UBL twin gives the base quantity (BaseQuantity) right, and clerk reads each as written",
    ),
    (
        "ubl-tc434-example5.xml / CII_example5.xml",
        "supplier IBAN",
        "the two differ upstream: the UBL example is paid by direct debit (PaymentMeans 49, the buyer's account in the mandate), the CII example by credit transfer to the supplier's account (TypeCode 58)",
    ),
    (
        "ubl-tc434-example7.xml / CII_example7.xml",
        "issue date",
        "the two differ upstream: UBL IssueDate 2013-03-11, CII 20130513",
    ),
    (
        "ubl-tc434-example7.xml / CII_example7.xml",
        "VAT",
        "VAT category O (not subject to VAT): the CII example leaves the optional VAT total (BT-110) out, the UBL one states 0.00; the same VAT, kept as written",
    ),
    (
        "ubl-tc434-example9.xml / CII_example9.xml",
        "due date",
        "the two differ upstream: UBL DueDate 2015-04-14, CII 20150415",
    ),
];

/// Files of the EN 16931 folders that are not invoices but schematron rule test sets
/// (`<testSet>` holding invoice fragments with the rule outcome each must give): refused as
/// not being an invoice.
const RULE_TEST_SETS: &[&str] = &["BR-CO-15-2.xml", "BR-CO-17.xml"];

/// Files of `ubl/oasis-ubl21` that are not invoices clerk reads, and what the refusal must say.
const OASIS_REFUSED: &[(&str, &str)] = &[
    (
        "UBL-FreightInvoice-2.1-Example.xml",
        "a UBL FreightInvoice document",
    ),
    (
        "UBL-SelfBilledCreditNote-2.1-Example.xml",
        "a UBL SelfBilledCreditNote document",
    ),
    (
        "UBL-RemittanceAdvice-2.0-Example.xml",
        "a UBL RemittanceAdvice document",
    ),
    ("UBL-Statement-2.0-Example.xml", "a UBL Statement document"),
    (
        "UBL-Invoice-2.0-Detached-Signature.xml",
        "a detached XML signature",
    ),
];

/// horstoeko/zugferd's negatives and what the refusal must say.
const HORSTOEKO_REFUSED: &[(&str, &str)] = &[
    (
        "xml_dummy.xml",
        "the root element is <root>: not an invoice",
    ),
    (
        "xml_invalid_1.xml",
        "the root element is <dummy>: not an invoice",
    ),
    ("xml_invalid_2.xml", "neither XML nor PDF"),
    (
        "pdf_plain.pdf",
        "a PDF without an embedded Factur-X/ZUGFeRD invoice",
    ),
    (
        "pdf_invalid.pdf",
        "a PDF without an embedded Factur-X/ZUGFeRD invoice",
    ),
];

/// What horstoeko/zugferd's reader tests assert about its sample files (commit 50e16a1):
/// (file, field, value). Fields: number, date, currency, kind, due, grand, payable, lines
/// (line total), charges, allowances, basis, tax, prepaid, rounding, seller, seller_vat,
/// buyer, buyer_vat, iban (payee, compared without spaces), payment_ref (empty = none).
const HORSTOEKO_ORACLE: &[(&str, &str, &str)] = &[
    // ReaderEn16931SimpleTest (the same document: number 471102, 529.87).
    ("xml_en16931_1.xml", "number", "471102"),
    ("xml_en16931_1.xml", "date", "2018-03-05"),
    ("xml_en16931_1.xml", "currency", "EUR"),
    ("xml_en16931_1.xml", "kind", "invoice"),
    ("xml_en16931_1.xml", "grand", "529.87"),
    ("xml_en16931_1.xml", "payable", "529.87"),
    ("xml_en16931_1.xml", "lines", "473.00"),
    ("xml_en16931_1.xml", "basis", "473.00"),
    ("xml_en16931_1.xml", "tax", "56.87"),
    ("xml_en16931_1.xml", "seller", "Lieferant GmbH"),
    ("xml_en16931_1.xml", "seller_vat", "DE123456789"),
    ("xml_en16931_1.xml", "buyer", "Kunden AG Mitte"),
    // ReaderEn16931Bank2Test.
    ("xml_en16931_3.xml", "number", "F20200024"),
    ("xml_en16931_3.xml", "date", "2020-01-15"),
    ("xml_en16931_3.xml", "currency", "EUR"),
    ("xml_en16931_3.xml", "kind", "invoice"),
    ("xml_en16931_3.xml", "due", "2020-02-15"),
    ("xml_en16931_3.xml", "iban", "FR7612542547256985425874698"),
    ("xml_en16931_3.xml", "payment_ref", "F20180023BUYER"),
    // ReaderEn16931Bank1Test.
    ("xml_en16931_4.xml", "number", "471102"),
    ("xml_en16931_4.xml", "date", "2018-03-05"),
    ("xml_en16931_4.xml", "currency", "EUR"),
    ("xml_en16931_4.xml", "kind", "invoice"),
    ("xml_en16931_4.xml", "iban", ""),
    ("xml_en16931_4.xml", "payment_ref", ""),
    // ReaderExtendedTest.
    ("xml_extended_1.xml", "number", "KR87654321012"),
    ("xml_extended_1.xml", "date", "2018-10-06"),
    ("xml_extended_1.xml", "currency", "EUR"),
    ("xml_extended_1.xml", "kind", "invoice"),
    ("xml_extended_1.xml", "grand", "480.22"),
    ("xml_extended_1.xml", "payable", "480.22"),
    ("xml_extended_1.xml", "lines", "410.10"),
    ("xml_extended_1.xml", "charges", "15.00"),
    ("xml_extended_1.xml", "allowances", "21.55"),
    ("xml_extended_1.xml", "basis", "403.55"),
    ("xml_extended_1.xml", "tax", "76.67"),
    ("xml_extended_1.xml", "seller", "MUSTERLIEFERANT GMBH"),
    ("xml_extended_1.xml", "buyer", "MUSTER-KUNDE GMBH"),
    ("xml_extended_1.xml", "payment_ref", ""),
    // ReaderExtended2Test.
    ("xml_extended_2.xml", "number", "F20200027"),
    ("xml_extended_2.xml", "date", "2020-01-15"),
    ("xml_extended_2.xml", "currency", "EUR"),
    ("xml_extended_2.xml", "kind", "invoice"),
    ("xml_extended_2.xml", "grand", "110.0"),
    ("xml_extended_2.xml", "payable", "100.0"),
    ("xml_extended_2.xml", "lines", "95.0"),
    ("xml_extended_2.xml", "charges", "10.0"),
    ("xml_extended_2.xml", "allowances", "5.0"),
    ("xml_extended_2.xml", "basis", "100.0"),
    ("xml_extended_2.xml", "tax", "10.0"),
    ("xml_extended_2.xml", "prepaid", "10.00"),
    ("xml_extended_2.xml", "seller", "LE FOURNISSEUR"),
    ("xml_extended_2.xml", "seller_vat", "FR32123456789"),
    ("xml_extended_2.xml", "buyer", "LE CLIENT"),
    ("xml_extended_2.xml", "buyer_vat", "FR 05 987 654 321"),
    ("xml_extended_2.xml", "payment_ref", "F20180023BUYER"),
    // ReaderXRechnungAttachedBinaryObjectTest (a 150 KB PDF inside the XML).
    ("xml_xrechnung_2.xml", "number", "123456789"),
    ("xml_xrechnung_2.xml", "date", "2018-06-05"),
    ("xml_xrechnung_2.xml", "currency", "EUR"),
    ("xml_xrechnung_2.xml", "kind", "invoice"),
];

pub fn check(corpus: &Path) -> Vec<SourceReport> {
    let mut reports = Vec::new();
    let mut en16931: BTreeMap<String, Invoice> = BTreeMap::new();
    for (source, format) in [
        ("ubl/en16931-eu", InvoiceFormat::Ubl),
        ("cii/en16931-eu", InvoiceFormat::Cii),
    ] {
        let mut r = report(source);
        for path in samples(&corpus.join(source)) {
            let name = file_name(&path);
            r.files += 1;
            if RULE_TEST_SETS.contains(&name.as_str()) {
                match read(&path) {
                    Err(e) if e.contains("the root element is <testSet>: not an invoice") => {
                        r.refused_as_expected += 1
                    }
                    other => disagree(
                        &mut r,
                        &name,
                        format!(
                            "a rule test set, expected a refusal, got {:?}",
                            other.map(|(f, _)| f)
                        ),
                    ),
                }
                continue;
            }
            r.compared += 1;
            r.fields += 2;
            match read(&path) {
                Ok((f, invoices)) if f == format && invoices.len() == 1 => {
                    r.read += 1;
                    r.agreed += 1;
                    let problems = invoices[0].arithmetic_problems();
                    if problems.is_empty() {
                        r.agreed += 1;
                    } else {
                        disagree(
                            &mut r,
                            &name,
                            format!("valid per EN 16931, but: {}", problems.join("; ")),
                        );
                    }
                    en16931.insert(name, invoices.into_iter().next().unwrap());
                }
                Ok((f, invoices)) => disagree(
                    &mut r,
                    &name,
                    format!(
                        "read as {f} with {} invoices, expected one {format}",
                        invoices.len()
                    ),
                ),
                Err(e) => {
                    r.fields -= 1;
                    disagree(&mut r, &name, format!("valid per EN 16931, refused: {e}"));
                }
            }
        }
        reports.push(r);
    }
    reports.push(twins(&en16931));
    reports.push(oasis(corpus));
    reports.push(horstoeko(
        corpus,
        "cii/horstoeko-zugferd",
        InvoiceFormat::Cii,
    ));
    reports.push(horstoeko(
        corpus,
        "facturx/horstoeko-zugferd",
        InvoiceFormat::FacturX,
    ));
    reports
}

fn report(source: &str) -> SourceReport {
    SourceReport {
        source: source.to_string(),
        ..SourceReport::default()
    }
}

/// Records a disagreement, as explained when [`EXPLAINED`] covers it.
fn disagree(r: &mut SourceReport, file: &str, what: String) {
    match EXPLAINED
        .iter()
        .find(|(f, start, _)| *f == file && what.starts_with(start))
    {
        Some((_, _, why)) => r.explained.push(format!("{file}: {what} ({why})")),
        None => r.unexplained.push(format!("{file}: {what}")),
    }
}

/// Sample files below a folder (sorted), leaving out licences and notes.
fn samples(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(ext) = p.extension().and_then(|x| x.to_str())
                && matches!(ext.to_ascii_lowercase().as_str(), "xml" | "pdf")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Result<(InvoiceFormat, Vec<Invoice>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let name = file_name(path);
    let input = Input {
        name: &name,
        bytes: &bytes,
        file_hash: Arc::from("corpus"),
    };
    invoice::parse(&input, None).map_err(|e| e.to_string())
}

/// The EN 16931 examples published in both syntaxes: `ubl-tc434-exampleN.xml` and
/// `CII_exampleN.xml` are the same invoices.
fn twins(read: &BTreeMap<String, Invoice>) -> SourceReport {
    let mut r = report("ubl+cii/en16931-eu twins");
    for n in 1..=10 {
        let (u, c) = (
            format!("ubl-tc434-example{n}.xml"),
            format!("CII_example{n}.xml"),
        );
        let (Some(ubl), Some(cii)) = (read.get(&u), read.get(&c)) else {
            continue;
        };
        r.files += 2;
        r.read += 2;
        r.compared += 1;
        let pair = format!("{u} / {c}");
        let fields: [(&str, String, String); 13] = [
            ("number", ubl.number.clone(), cii.number.clone()),
            ("kind", kind(ubl.kind).into(), kind(cii.kind).into()),
            (
                "issue date",
                ubl.issue_date.to_string(),
                cii.issue_date.to_string(),
            ),
            ("due date", opt(ubl.due_date), opt(cii.due_date)),
            (
                "currency",
                ubl.currency.to_string(),
                cii.currency.to_string(),
            ),
            (
                "line count",
                ubl.lines.len().to_string(),
                cii.lines.len().to_string(),
            ),
            ("line total", amount(ubl.line_total), amount(cii.line_total)),
            (
                "without VAT",
                amount(ubl.tax_exclusive),
                amount(cii.tax_exclusive),
            ),
            ("VAT", amount(ubl.tax_total), amount(cii.tax_total)),
            (
                "with VAT",
                amount(ubl.tax_inclusive),
                amount(cii.tax_inclusive),
            ),
            (
                "payable",
                amount(Some(ubl.payable)),
                amount(Some(cii.payable)),
            ),
            (
                "supplier VAT id",
                opt(ubl.supplier.vat_id.clone()),
                opt(cii.supplier.vat_id.clone()),
            ),
            (
                "supplier IBAN",
                opt(ubl.supplier.iban.clone()),
                opt(cii.supplier.iban.clone()),
            ),
        ];
        let mut fields: Vec<(String, String, String)> = fields
            .into_iter()
            .map(|(what, a, b)| (what.to_string(), a, b))
            .collect();
        // The document-level allowances and charges as listed (what the totals are recomputed
        // from), and each line's price of one unit (price over its base quantity).
        fields.extend([
            (
                "allowances listed".to_string(),
                listed(&ubl.allowances),
                listed(&cii.allowances),
            ),
            (
                "charges listed".to_string(),
                listed(&ubl.charges),
                listed(&cii.charges),
            ),
            (
                "prices per unit".to_string(),
                prices_per_unit(ubl),
                prices_per_unit(cii),
            ),
        ]);
        // Names and identifiers of both parties: UBL and CII fill them from equivalent elements.
        for (role, u, c) in [
            ("supplier", &ubl.supplier, &cii.supplier),
            ("customer", &ubl.customer, &cii.customer),
        ] {
            let named = |p: &Party| {
                [
                    ("name", opt(p.name.clone())),
                    ("trading name", opt(p.trading_name.clone())),
                    ("identifier", scheme_and_id(&p.id, &p.id_scheme)),
                    (
                        "legal registration",
                        scheme_and_id(&p.legal_id, &p.legal_id_scheme),
                    ),
                    ("VAT id", opt(p.vat_id.clone())),
                ]
            };
            for ((what, a), (_, b)) in named(u).into_iter().zip(named(c)) {
                let what = format!("{role} {what}");
                if !fields.iter().any(|(w, _, _)| *w == what) {
                    fields.push((what, a, b));
                }
            }
        }
        for (what, a, b) in fields {
            r.fields += 1;
            if a == b {
                r.agreed += 1;
            } else {
                disagree(&mut r, &pair, format!("{what}: UBL {a}, CII {b}"));
            }
        }
    }
    r
}

/// Allowances or charges as `amount reason` each, in document order.
fn listed(list: &[AllowanceCharge]) -> String {
    list.iter()
        .map(|a| {
            format!(
                "{} {}",
                amount(Some(a.amount)),
                a.reason.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Each line's net price of one unit: the price over its base quantity.
fn prices_per_unit(i: &Invoice) -> String {
    i.lines
        .iter()
        .map(|l| match (l.unit_price, l.base_quantity) {
            (Some(p), Some(b)) if !b.is_zero() => amount(Some(p / b)),
            (p, _) => amount(p),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An identifier with its scheme, `0088:5790000436101`.
fn scheme_and_id(id: &Option<String>, scheme: &Option<String>) -> String {
    match (id, scheme) {
        (Some(id), Some(scheme)) => format!("{scheme}:{id}"),
        (id, _) => opt(id.clone()),
    }
}

fn kind(k: InvoiceKind) -> &'static str {
    match k {
        InvoiceKind::Invoice => "invoice",
        InvoiceKind::CreditNote => "credit_note",
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// An amount compared by value (19.9 = 19.90), shown normalised.
fn amount(d: Option<Decimal>) -> String {
    d.map(|x| x.normalize().to_string()).unwrap_or_default()
}

fn oasis(corpus: &Path) -> SourceReport {
    let source = "ubl/oasis-ubl21";
    let mut r = report(source);
    for path in samples(&corpus.join(source)) {
        let name = file_name(&path);
        r.files += 1;
        let refusal = OASIS_REFUSED.iter().find(|(f, _)| *f == name);
        match (read(&path), refusal) {
            (Ok((InvoiceFormat::Ubl, _)), None) => r.read += 1,
            (Ok((f, _)), None) => disagree(&mut r, &name, format!("read as {f}, expected UBL")),
            (Err(e), Some((_, says))) if e.contains(says) => r.refused_as_expected += 1,
            (Err(e), Some((_, says))) => disagree(
                &mut r,
                &name,
                format!("refused without saying {says:?}: {e}"),
            ),
            (Err(e), None) => disagree(&mut r, &name, format!("refused: {e}")),
            (Ok(_), Some(_)) => disagree(&mut r, &name, "read, expected a refusal".into()),
        }
    }
    r
}

fn horstoeko(corpus: &Path, source: &str, format: InvoiceFormat) -> SourceReport {
    let mut r = report(source);
    for path in samples(&corpus.join(source)) {
        let name = file_name(&path);
        r.files += 1;
        let refusal = HORSTOEKO_REFUSED.iter().find(|(f, _)| *f == name);
        let invoice = match (read(&path), refusal) {
            (Ok((f, mut invoices)), None) if f == format && invoices.len() == 1 => {
                r.read += 1;
                invoices.remove(0)
            }
            (Ok((f, invoices)), None) => {
                disagree(
                    &mut r,
                    &name,
                    format!(
                        "read as {f} with {} invoices, expected one {format}",
                        invoices.len()
                    ),
                );
                continue;
            }
            (Err(e), Some((_, says))) if e.contains(says) => {
                r.refused_as_expected += 1;
                continue;
            }
            (Err(e), Some((_, says))) => {
                disagree(
                    &mut r,
                    &name,
                    format!("refused without saying {says:?}: {e}"),
                );
                continue;
            }
            (Err(e), None) => {
                disagree(&mut r, &name, format!("refused: {e}"));
                continue;
            }
            (Ok(_), Some(_)) => {
                disagree(&mut r, &name, "read, expected a refusal".into());
                continue;
            }
        };
        let oracle: Vec<_> = HORSTOEKO_ORACLE
            .iter()
            .filter(|(f, _, _)| *f == name)
            .collect();
        if oracle.is_empty() {
            continue;
        }
        r.compared += 1;
        for (_, field, expected) in oracle {
            r.fields += 1;
            let got = field_value(&invoice, field);
            let same = match (parse_amount(expected), parse_amount(&got)) {
                (Some(a), Some(b)) => a == b,
                _ => got == *expected,
            };
            if same {
                r.agreed += 1;
            } else {
                disagree(
                    &mut r,
                    &name,
                    format!("{field}: expected {expected:?}, read {got:?}"),
                );
            }
        }
    }
    r
}

fn parse_amount(s: &str) -> Option<Decimal> {
    if s.contains('.') {
        s.parse().ok()
    } else {
        None
    }
}

fn field_value(i: &Invoice, field: &str) -> String {
    match field {
        "number" => i.number.clone(),
        "date" => i.issue_date.to_string(),
        "currency" => i.currency.to_string(),
        "kind" => kind(i.kind).into(),
        "due" => opt(i.due_date),
        "grand" => opt(i.tax_inclusive),
        "payable" => i.payable.to_string(),
        "lines" => opt(i.line_total),
        "charges" => opt(i.charge_total),
        "allowances" => opt(i.allowance_total),
        "basis" => opt(i.tax_exclusive),
        "tax" => opt(i.tax_total),
        "prepaid" => opt(i.prepaid),
        "rounding" => opt(i.rounding),
        "seller" => opt(i.supplier.name.clone()),
        "seller_vat" => opt(i.supplier.vat_id.clone()),
        "buyer" => opt(i.customer.name.clone()),
        "buyer_vat" => opt(i.customer.vat_id.clone()),
        "iban" => opt(i.supplier.iban.clone()),
        "payment_ref" => opt(i.payment_reference.clone()),
        other => format!("(unknown field {other})"),
    }
}
