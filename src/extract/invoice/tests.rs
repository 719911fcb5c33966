use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use super::*;
use crate::model::invoice::{AllowanceCharge, InvoiceKind, Party};

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invoice")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(bytes: &[u8]) -> Result<(InvoiceFormat, Vec<Invoice>), ExtractError> {
    let input = Input {
        name: "invoice.xml",
        bytes,
        file_hash: Arc::from("hash"),
    };
    parse(&input, None)
}

fn one(bytes: &[u8]) -> (InvoiceFormat, Invoice) {
    let (format, mut invoices) = read(bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(invoices.len(), 1);
    (format, invoices.remove(0))
}

fn refused(bytes: &[u8]) -> ExtractError {
    match read(bytes) {
        Ok(_) => panic!("read, expected a refusal"),
        Err(e) => e,
    }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A MINIMUM-profile CII invoice: no lines, totals only.
const CII_MINIMUM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:factur-x.eu:1p0:minimum</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>MIN-1</ram:ID>
    <ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">20240131</udt:DateTimeString></ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:SellerTradeParty>
        <ram:Name>Seller SARL</ram:Name>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="FC">123/456</ram:ID></ram:SpecifiedTaxRegistration>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">FR32123456789</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty><ram:Name>Buyer GmbH</ram:Name></ram:BuyerTradeParty>
      <ram:BuyerOrderReferencedDocument><ram:IssuerAssignedID>PO-7</ram:IssuerAssignedID></ram:BuyerOrderReferencedDocument>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery/>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="CHF">19.50</ram:TaxTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">20.00</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>120.00</ram:GrandTotalAmount>
        <ram:DuePayableAmount>120.00</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
"#;

// ---------------------------------------------------------------------------------------------
// UBL

#[test]
fn ubl_invoice_reads_every_field() {
    let (format, inv) = one(&fixture("en16931-eu/ubl-tc434-example1.xml"));
    assert_eq!(format, InvoiceFormat::Ubl);
    assert_eq!(inv.kind, InvoiceKind::Invoice);
    assert_eq!(inv.number, "12115118");
    assert_eq!(inv.issue_date, date("2015-01-09"));
    assert_eq!(inv.due_date, Some(date("2015-01-09")));
    assert_eq!(inv.currency.as_str(), "EUR");
    assert_eq!(inv.supplier.name.as_deref(), Some("De Koksmaat"));
    assert_eq!(inv.supplier.vat_id.as_deref(), Some("NL8200.98.395.B.01"));
    // PartyLegalEntity/CompanyID is the legal registration (BT-30), not a party identifier.
    assert_eq!(inv.supplier.legal_id.as_deref(), Some("57151520"));
    assert_eq!(inv.supplier.id, None);
    assert_eq!(inv.supplier.country.as_deref(), Some("NL"));
    assert_eq!(inv.supplier.iban.as_deref(), Some("NL57RABO0107307510"));
    assert_eq!(inv.customer.name.as_deref(), Some("ODIN 59"));
    assert_eq!(inv.customer.id.as_deref(), Some("10202"));
    assert_eq!(
        inv.payment_reference.as_deref(),
        Some("Deb. 10202 / Fact. 12115118")
    );
    assert_eq!(inv.lines.len(), 20);
    let l = &inv.lines[0];
    assert_eq!(l.id.as_deref(), Some("1"));
    assert_eq!(l.description.as_deref(), Some("PATAT FRITES 10MM 10KG"));
    assert_eq!(
        (l.quantity, l.unit_code.as_deref()),
        (Some(d("2")), Some("EA"))
    );
    assert_eq!(l.net_amount, d("19.90"));
    assert_eq!(l.net_amount.scale(), 2, "the scale is kept as written");
    assert_eq!(l.unit_price, Some(d("9.95")));
    assert_eq!(l.tax_category.as_deref(), Some("S"));
    assert_eq!(l.tax_rate, Some(d("6")));
    let third = &inv.lines[2].source;
    assert_eq!(third.locator.as_deref(), Some("Invoice/InvoiceLine[3]"));
    assert_eq!(third.row, 152);
    assert_eq!(&*third.file, "hash");
    assert_eq!(inv.source.locator.as_deref(), Some("Invoice"));
    assert_eq!(inv.tax.len(), 2);
    assert_eq!(inv.tax[1].rate, Some(d("21")));
    assert_eq!(inv.tax[1].taxable_amount, d("46.37"));
    assert_eq!(inv.tax[1].tax_amount, d("9.74"));
    assert_eq!(inv.line_total, Some(d("229.60")));
    assert_eq!(inv.tax_exclusive, Some(d("229.60")));
    assert_eq!(inv.tax_total, Some(d("20.73")));
    assert_eq!(inv.tax_inclusive, Some(d("250.33")));
    assert_eq!(inv.payable, d("250.33"));
    assert_eq!(inv.arithmetic_problems(), Vec::<String>::new());
}

#[test]
fn ubl_credit_note_keeps_its_amounts_and_says_credit_note() {
    let (format, inv) = one(&fixture("en16931-eu/ubl-tc434-creditnote1.xml"));
    assert_eq!(format, InvoiceFormat::Ubl);
    assert_eq!(inv.kind, InvoiceKind::CreditNote);
    assert_eq!(inv.number, "018304 / 28865");
    assert_eq!(inv.issue_date, date("2019-09-23"));
    assert_eq!(inv.payable, d("100.11"));
    assert_eq!(inv.payment_reference.as_deref(), Some("010676609538"));
    assert_eq!(inv.supplier.iban.as_deref(), Some("BE91000000143476"));
    assert_eq!(inv.lines.len(), 1);
    assert_eq!(inv.lines[0].quantity, Some(d("1.00")));
    assert_eq!(inv.lines[0].unit_code.as_deref(), Some("C62"));
    assert_eq!(inv.lines[0].net_amount, d("100.11"));
    assert_eq!(
        inv.lines[0].source.locator.as_deref(),
        Some("CreditNote/CreditNoteLine")
    );
    assert_eq!(inv.tax[0].category.as_deref(), Some("E"));
    assert!(inv.arithmetic_problems().is_empty());
    assert_eq!(inv.preceding_invoice, None);

    // The invoice it corrects, as most credit notes quote it (BT-25).
    let text = String::from_utf8(fixture("en16931-eu/ubl-tc434-creditnote1.xml")).unwrap();
    let cited = text.replacen(
        "<cac:AccountingSupplierParty>",
        "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>INV-2019-77</cbc:ID>\
         </cac:InvoiceDocumentReference></cac:BillingReference><cac:AccountingSupplierParty>",
        1,
    );
    assert_ne!(cited, text);
    let (_, inv) = one(cited.as_bytes());
    assert_eq!(inv.preceding_invoice.as_deref(), Some("INV-2019-77"));
}

#[test]
fn namespace_prefixes_and_xml_signatures_change_nothing() {
    let (_, plain) = one(&fixture("oasis-ubl21/UBL-Invoice-2.0-Example.xml"));
    let (_, prefixed) = one(&fixture("oasis-ubl21/UBL-Invoice-2.0-Example-NS1.xml"));
    let (_, signed) = one(&fixture("oasis-ubl21/UBL-Invoice-2.0-Enveloped.xml"));
    assert_eq!(plain.number, "A00095678");
    // No DocumentCurrencyCode in these UBL 2.0 examples: the amount due's currency is used.
    assert_eq!(plain.currency.as_str(), "GBP");
    assert_eq!(plain.payable, d("107.50"));
    assert_eq!(plain.lines[0].order_line.as_deref(), Some("1"));
    assert_eq!(plain.order_reference.as_deref(), Some("AEG012345"));
    for other in [&prefixed, &signed] {
        assert_eq!(other.number, plain.number);
        assert_eq!(other.issue_date, plain.issue_date);
        assert_eq!(other.currency, plain.currency);
        assert_eq!(other.supplier, plain.supplier);
        assert_eq!(other.customer, plain.customer);
        assert_eq!(other.tax, plain.tax);
        assert_eq!(other.payable, plain.payable);
        assert_eq!(other.lines.len(), plain.lines.len());
        assert_eq!(other.lines[0].net_amount, plain.lines[0].net_amount);
    }
}

#[test]
fn two_tax_totals_take_the_one_in_the_document_currency() {
    let xml = String::from_utf8(fixture("en16931-eu/ubl-tc434-example1.xml")).unwrap();
    // BR-53: VAT accounted in another currency adds a TaxTotal with only that amount.
    let xml = xml.replace(
        "<cac:TaxTotal>",
        "<cac:TaxTotal><cbc:TaxAmount currencyID=\"SEK\">210.00</cbc:TaxAmount></cac:TaxTotal>\n<cac:TaxTotal>",
    );
    let (_, inv) = one(xml.as_bytes());
    assert_eq!(inv.tax_total, Some(d("20.73")));
    assert_eq!(inv.tax.len(), 2);
    assert!(inv.arithmetic_problems().is_empty());
}

// ---------------------------------------------------------------------------------------------
// CII

#[test]
fn cii_en16931_with_lines_reads_like_its_ubl_twin() {
    let (format, cii) = one(&fixture("en16931-eu/CII_example1.xml"));
    let (_, ubl) = one(&fixture("en16931-eu/ubl-tc434-example1.xml"));
    assert_eq!(format, InvoiceFormat::Cii);
    assert_eq!(cii.kind, InvoiceKind::Invoice);
    assert_eq!(cii.number, ubl.number);
    assert_eq!(cii.issue_date, ubl.issue_date);
    assert_eq!(cii.due_date, ubl.due_date);
    assert_eq!(cii.currency, ubl.currency);
    assert_eq!(cii.supplier.vat_id, ubl.supplier.vat_id);
    assert_eq!(cii.supplier.iban, ubl.supplier.iban);
    assert_eq!(cii.payment_reference, ubl.payment_reference);
    assert_eq!(cii.lines.len(), ubl.lines.len());
    for (c, u) in cii.lines.iter().zip(&ubl.lines) {
        assert_eq!(c.net_amount, u.net_amount);
        assert_eq!(c.quantity, u.quantity);
        assert_eq!(c.tax_rate, u.tax_rate);
    }
    assert_eq!(cii.lines[0].unit_code.as_deref(), Some("H87"));
    assert_eq!(
        cii.lines[1].source.locator.as_deref(),
        Some(
            "CrossIndustryInvoice/SupplyChainTradeTransaction/IncludedSupplyChainTradeLineItem[2]"
        )
    );
    assert_eq!(cii.tax, ubl.tax);
    assert_eq!(cii.line_total, ubl.line_total);
    assert_eq!(cii.tax_exclusive, ubl.tax_exclusive);
    assert_eq!(cii.tax_total, ubl.tax_total);
    assert_eq!(cii.tax_inclusive, ubl.tax_inclusive);
    assert_eq!(cii.payable, ubl.payable);
    assert!(cii.arithmetic_problems().is_empty());
}

#[test]
fn cii_extended_profile_reads() {
    let (_, inv) = one(&fixture("horstoeko-zugferd/xml_extended_1.xml"));
    // The values horstoeko/zugferd's ReaderExtendedTest asserts.
    assert_eq!(inv.number, "KR87654321012");
    assert_eq!(inv.issue_date, date("2018-10-06"));
    // The first of the invoices it refers to (BT-25).
    assert_eq!(inv.preceding_invoice.as_deref(), Some("S-INV1"));
    assert_eq!(inv.supplier.name.as_deref(), Some("MUSTERLIEFERANT GMBH"));
    assert_eq!(inv.line_total, Some(d("410.10")));
    assert_eq!(inv.charge_total, Some(d("15.00")));
    assert_eq!(inv.allowance_total, Some(d("21.55")));
    assert_eq!(inv.tax_exclusive, Some(d("403.55")));
    // EXTENDED states freight as a logistics service charge: among the charges.
    assert_eq!(inv.allowances.len(), 1);
    assert_eq!(inv.allowances[0].amount, d("21.55"));
    assert_eq!(inv.allowances[0].reason.as_deref(), Some("Sonderrabatt"));
    assert_eq!(inv.charges.len(), 1);
    assert_eq!(inv.charges[0].amount, d("15.00"));
    assert_eq!(
        inv.charges[0].reason.as_deref(),
        Some("Transportkosten: Frachbetrag")
    );
    assert_eq!(inv.tax_total, Some(d("76.67")));
    assert_eq!(inv.tax_inclusive, Some(d("480.22")));
    assert_eq!(inv.payable, d("480.22"));
    assert!(!inv.lines.is_empty());
    assert!(inv.arithmetic_problems().is_empty());
}

#[test]
fn cii_minimum_profile_has_no_lines() {
    let (format, inv) = one(CII_MINIMUM.as_bytes());
    assert_eq!(format, InvoiceFormat::Cii);
    assert_eq!(inv.number, "MIN-1");
    assert_eq!(inv.issue_date, date("2024-01-31"));
    assert!(inv.lines.is_empty());
    assert!(inv.tax.is_empty());
    assert_eq!(inv.supplier.name.as_deref(), Some("Seller SARL"));
    assert_eq!(inv.supplier.vat_id.as_deref(), Some("FR32123456789"));
    assert_eq!(inv.customer.name.as_deref(), Some("Buyer GmbH"));
    assert_eq!(inv.order_reference.as_deref(), Some("PO-7"));
    // The VAT total in the invoice currency, not the one in the VAT accounting currency.
    assert_eq!(inv.tax_total, Some(d("20.00")));
    assert_eq!(inv.payable, d("120.00"));
    assert_eq!(inv.line_total, None);
}

#[test]
fn cii_type_code_381_is_a_credit_note() {
    let xml = CII_MINIMUM.replace(
        "<ram:TypeCode>380</ram:TypeCode>",
        "<ram:TypeCode>381</ram:TypeCode>",
    );
    let (_, inv) = one(xml.as_bytes());
    assert_eq!(inv.kind, InvoiceKind::CreditNote);
    assert_eq!(inv.payable, d("120.00"), "amounts as stated");
}

// ---------------------------------------------------------------------------------------------
// One invoice in both syntaxes (tests/fixtures/invoice/clerk, written from EN 16931)

const UBL_TWIN: &str = "clerk/ubl-twin.xml";
const CII_TWIN: &str = "clerk/cii-twin.xml";

fn twin_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

#[test]
fn ubl_and_cii_twins_name_the_same_parties() {
    let seller = Party {
        name: Some("Nordlicht Kantoorartikelen B.V.".into()),
        trading_name: Some("Nordlicht Office".into()),
        vat_id: Some("NL123456789B01".into()),
        id: Some("8712345000004".into()),
        id_scheme: Some("0088".into()),
        legal_id: Some("12345678".into()),
        legal_id_scheme: Some("0106".into()),
        iban: Some("NL91ABNA0417164300".into()),
        country: Some("NL".into()),
    };
    let buyer = Party {
        name: Some("Hafenblick Logistik GmbH".into()),
        trading_name: Some("Hafenblick".into()),
        vat_id: Some("DE987654321".into()),
        id: Some("CUST-7781".into()),
        id_scheme: None,
        legal_id: Some("HRB 98765".into()),
        legal_id_scheme: None,
        iban: None,
        country: Some("DE".into()),
    };
    for name in [UBL_TWIN, CII_TWIN] {
        let (_, inv) = one(&fixture(name));
        assert_eq!(inv.supplier, seller, "{name}");
        assert_eq!(inv.customer, buyer, "{name}");
    }

    // A seller's SEPA creditor identifier (BT-90) is a PartyIdentification too, but not the
    // party identifier.
    let ubl = twin_text(UBL_TWIN);
    let with_sepa = ubl.replacen(
        "<cac:PartyIdentification>",
        "<cac:PartyIdentification><cbc:ID schemeID=\"SEPA\">NL98ZZZ999999990000</cbc:ID></cac:PartyIdentification>\n<cac:PartyIdentification>",
        1,
    );
    assert_ne!(with_sepa, ubl);
    assert_eq!(one(with_sepa.as_bytes()).1.supplier, seller);

    // Without a legal name (UBL 2.0 has none), the trading name names the party.
    for (syntax, legal_name) in [
        (
            UBL_TWIN,
            "<cbc:RegistrationName>Nordlicht Kantoorartikelen B.V.</cbc:RegistrationName>",
        ),
        (
            CII_TWIN,
            "<ram:Name>Nordlicht Kantoorartikelen B.V.</ram:Name>",
        ),
    ] {
        let text = twin_text(syntax);
        let (_, inv) = one(text.replace(legal_name, "").as_bytes());
        assert_eq!(
            inv.supplier.name.as_deref(),
            Some("Nordlicht Office"),
            "{syntax}"
        );
        assert_eq!(
            inv.supplier.trading_name.as_deref(),
            Some("Nordlicht Office")
        );
    }
}

#[test]
fn document_allowances_and_charges_recompute_the_total_without_vat() {
    for name in [UBL_TWIN, CII_TWIN] {
        let (_, inv) = one(&fixture(name));
        // Only the document's own: a price's discount (UBL Price/AllowanceCharge, CII
        // AppliedTradeAllowanceCharge) is not one.
        assert_eq!(inv.allowances.len(), 1, "{name}");
        assert_eq!(inv.charges.len(), 1, "{name}");
        let (discount, freight) = (&inv.allowances[0], &inv.charges[0]);
        assert_eq!(
            *discount,
            AllowanceCharge {
                amount: d("10.00"),
                base_amount: Some(d("200.00")),
                percentage: Some(d("5")),
                tax_category: Some("S".into()),
                tax_rate: Some(d("21")),
                reason: Some("Volume discount".into()),
                reason_code: Some("95".into()),
                source: discount.source.clone(),
            },
            "{name}"
        );
        assert_eq!(
            *freight,
            AllowanceCharge {
                amount: d("15.00"),
                base_amount: None,
                percentage: None,
                tax_category: Some("S".into()),
                tax_rate: Some(d("21")),
                reason: Some("Freight".into()),
                reason_code: Some("FC".into()),
                source: freight.source.clone(),
            },
            "{name}"
        );
        // Recomputed from what was read, as a script would from `clerk extract --json`.
        let json = serde_json::to_value(&inv).unwrap();
        let sum = |list: &serde_json::Value, field: &str| -> Decimal {
            list.as_array()
                .unwrap()
                .iter()
                .map(|x| d(x[field].as_str().unwrap()))
                .sum()
        };
        let lines = sum(&json["lines"], "net_amount");
        let allowances = sum(&json["allowances"], "amount");
        let charges = sum(&json["charges"], "amount");
        assert_eq!(lines - allowances + charges, d("205.00"), "{name}");
        assert_eq!(Some(lines - allowances + charges), inv.tax_exclusive);
        assert_eq!(Some(allowances), inv.allowance_total);
        assert_eq!(Some(charges), inv.charge_total);
        assert_eq!(inv.arithmetic_problems(), Vec::<String>::new(), "{name}");
    }
    let (_, ubl) = one(&fixture(UBL_TWIN));
    let (_, cii) = one(&fixture(CII_TWIN));
    assert_eq!(
        ubl.charges[0].source.locator.as_deref(),
        Some("Invoice/AllowanceCharge[2]")
    );
    assert_eq!(
        cii.allowances[0].source.locator.as_deref(),
        Some(
            "CrossIndustryInvoice/SupplyChainTradeTransaction/ApplicableHeaderTradeSettlement/SpecifiedTradeAllowanceCharge"
        )
    );

    // Freight that does not add up to the stated charges is a problem, not a refusal.
    let text = twin_text(UBL_TWIN).replace(
        "<cbc:Amount currencyID=\"EUR\">15.00</cbc:Amount>",
        "<cbc:Amount currencyID=\"EUR\">16.00</cbc:Amount>",
    );
    let (_, inv) = one(text.as_bytes());
    assert_eq!(
        inv.arithmetic_problems(),
        ["the document's charges add up to 16.00, the invoice states charges of 15.00"]
    );

    // Neither an allowance nor a charge: refused, naming the element and its line.
    let text = twin_text(CII_TWIN).replacen(
        "<udt:Indicator>true</udt:Indicator>",
        "<udt:Indicator>yes</udt:Indicator>",
        1,
    );
    let e = refused(text.as_bytes());
    assert_eq!(e.problems.len(), 1, "{e}");
    assert!(
        e.problems[0].column.as_deref().is_some_and(
            |c| c.ends_with("SpecifiedTradeAllowanceCharge[2]/ChargeIndicator/Indicator")
        ),
        "{e}"
    );
    assert_eq!(
        e.problems[0].message,
        "expected true for a charge, false for an allowance, found \"yes\""
    );
    let text =
        twin_text(UBL_TWIN).replacen("<cbc:ChargeIndicator>false</cbc:ChargeIndicator>", "", 1);
    let e = refused(text.as_bytes());
    assert!(
        e.to_string().contains(
            "expected <ChargeIndicator> (true for a charge, false for an allowance), found none"
        ),
        "{e}"
    );
}

#[test]
fn a_price_per_base_quantity_of_100_gives_the_line_net_amount() {
    for name in [UBL_TWIN, CII_TWIN] {
        let (_, inv) = one(&fixture(name));
        // 2,500 envelopes at 4.80 per 100 (CII gives the 100 with the gross price only).
        let envelopes = &inv.lines[0];
        assert_eq!(envelopes.base_quantity, Some(d("100")), "{name}");
        let (q, p, b) = (
            envelopes.quantity.unwrap(),
            envelopes.unit_price.unwrap(),
            envelopes.base_quantity.unwrap(),
        );
        assert_eq!(q * p / b, envelopes.net_amount, "{name}");
        assert_eq!(envelopes.net_amount, d("120.00"));
        // Without a base quantity the price is per unit.
        let toner = &inv.lines[1];
        assert_eq!(toner.base_quantity, None, "{name}");
        assert_eq!(
            toner.quantity.unwrap() * toner.unit_price.unwrap(),
            toner.net_amount
        );
    }
    // The net price's own base quantity comes first.
    let text = twin_text(CII_TWIN).replace(
        "<ram:ChargeAmount>4.80</ram:ChargeAmount>",
        "<ram:ChargeAmount>48.00</ram:ChargeAmount><ram:BasisQuantity unitCode=\"C62\">1000</ram:BasisQuantity>",
    );
    let (_, inv) = one(text.as_bytes());
    assert_eq!(inv.lines[0].base_quantity, Some(d("1000")));
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn missing_mandatory_elements_are_named_with_their_line() {
    let xml = String::from_utf8(fixture("en16931-eu/ubl-tc434-example1.xml")).unwrap();
    let xml = xml
        .replace("<cbc:ID>12115118</cbc:ID>", "")
        .replace("<cbc:IssueDate>2015-01-09</cbc:IssueDate>", "")
        .replace(
            "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
            "",
        )
        .replace(
            "<cbc:PayableAmount currencyID=\"EUR\">250.33</cbc:PayableAmount>",
            "",
        );
    let e = refused(xml.as_bytes());
    let columns: Vec<&str> = e
        .problems
        .iter()
        .map(|p| p.column.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        columns,
        [
            "Invoice/ID",
            "Invoice/IssueDate",
            "Invoice/DocumentCurrencyCode",
            "Invoice/LegalMonetaryTotal/PayableAmount"
        ],
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("expected <ID> (the invoice number, BT-1), found none"),
        "{text}"
    );
    assert!(
        text.contains("expected <PayableAmount> (the amount due, BT-115), found none"),
        "{text}"
    );
    assert!(e.problems.iter().all(|p| p.row.is_some()));

    let xml = CII_MINIMUM
        .replace("<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>", "")
        .replace("<ram:DuePayableAmount>120.00</ram:DuePayableAmount>", "");
    let e = refused(xml.as_bytes());
    let text = e.to_string();
    assert!(text.contains("InvoiceCurrencyCode"), "{text}");
    assert!(text.contains("DuePayableAmount"), "{text}");
    assert_eq!(e.problems.len(), 2, "{text}");
}

#[test]
fn malformed_values_say_what_was_expected_and_found() {
    let xml = CII_MINIMUM
        .replace(
            ">120.00</ram:GrandTotalAmount>",
            ">120,00</ram:GrandTotalAmount>",
        )
        .replace(">20240131<", ">2024-01-31<");
    let e = refused(xml.as_bytes());
    let text = e.to_string();
    assert!(
        text.contains("GrandTotalAmount\": expected the total with VAT as a plain decimal such as 1234.56, found \"120,00\""),
        "{text}"
    );
    assert!(
        text.contains(
            "expected the issue date as a date YYYYMMDD such as 20240331, found \"2024-01-31\""
        ),
        "{text}"
    );
    assert!(e.problems.iter().all(|p| p.row.is_some_and(|r| r > 1)));
}

#[test]
fn xml_bombs_and_doctypes_are_refused() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>&b;</ID></Invoice>"#;
    let e = refused(bomb.as_bytes());
    assert!(e.to_string().contains("DOCTYPE"), "{e}");
    assert_eq!(e.problems[0].row, Some(2));
    let xxe = r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Invoice/>"#;
    assert!(refused(xxe.as_bytes()).to_string().contains("DOCTYPE"));
}

#[test]
fn truncated_xml_is_refused_saying_where() {
    let xml = fixture("en16931-eu/ubl-tc434-example1.xml");
    // Cut at the end of a line, between elements.
    let cut = memchr::memrchr(b'\n', &xml[..xml.len() / 2]).unwrap();
    let e = refused(&xml[..cut]);
    let text = e.to_string();
    assert!(text.contains("truncated"), "{text}");
    assert!(e.problems[0].row.is_some_and(|r| r > 50), "{text}");
}

#[test]
fn junk_and_other_documents_are_refused_clearly() {
    let e = refused(b"Bad XML, or a spreadsheet renamed .xml");
    assert!(e.to_string().contains("neither XML nor PDF"), "{e}");
    let e = refused(b"\x00\x01\x02\xff garbage");
    assert!(e.to_string().contains("neither XML nor PDF"), "{e}");
    let e = refused(b"");
    assert!(e.to_string().contains("no XML element found"), "{e}");
    let e = refused(b"<Invoice><ID>1</ID></Invoice>");
    assert!(e.to_string().contains("not in the UBL 2 namespace"), "{e}");
    let e = refused(
        br#"<Statement xmlns="urn:oasis:names:specification:ubl:schema:xsd:Statement-2"/>"#,
    );
    assert!(e.to_string().contains("a UBL Statement document"), "{e}");
    let e = refused(b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"/>");
    assert!(
        e.to_string()
            .contains("the root element is <Document>: not an invoice"),
        "{e}"
    );
}

#[test]
fn an_expected_format_is_enforced() {
    let input = Input {
        name: "i.xml",
        bytes: CII_MINIMUM.as_bytes(),
        file_hash: Arc::from("h"),
    };
    let e = parse(&input, Some(InvoiceFormat::Ubl)).unwrap_err();
    assert!(
        e.to_string()
            .contains("expected a UBL invoice (XML), found a CII CrossIndustryInvoice (XML)"),
        "{e}"
    );
    assert!(parse(&input, Some(InvoiceFormat::Cii)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Sniffing and numbers

#[test]
fn sniff_tells_formats_apart_by_content() {
    let ubl = fixture("en16931-eu/ubl-tc434-example1.xml");
    assert_eq!(sniff(&ubl), Some(InvoiceFormat::Ubl));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&fixture("oasis-ubl21/UBL-Invoice-2.0-Example-NS1.xml"));
    assert_eq!(sniff(&bom), Some(InvoiceFormat::Ubl));
    assert_eq!(
        sniff(&fixture("en16931-eu/ubl-tc434-creditnote1.xml")),
        Some(InvoiceFormat::Ubl)
    );
    assert_eq!(sniff(CII_MINIMUM.as_bytes()), Some(InvoiceFormat::Cii));
    assert_eq!(
        sniff(&fixture("horstoeko-zugferd/pdf_fx_minimum_1.pdf")),
        Some(InvoiceFormat::FacturX)
    );
    assert_eq!(sniff(&fixture("horstoeko-zugferd/pdf_plain.pdf")), None);
    assert_eq!(sniff(b"<Invoice/>"), None);
    assert_eq!(
        sniff(br#"<Statement xmlns="urn:oasis:names:specification:ubl:schema:xsd:Statement-2"/>"#),
        None
    );
    assert_eq!(sniff(b"<!DOCTYPE x><Invoice/>"), None);
    assert_eq!(sniff(b"date;amount\n"), None);
    assert_eq!(sniff(b""), None);
    // The root must be within the first few KB.
    let late = format!("<!--{}--><rsm:CrossIndustryInvoice/>", "x".repeat(10_000));
    assert_eq!(sniff(late.as_bytes()), None);
}

#[test]
fn decimals_parse_exactly() {
    for (text, value, scale) in [
        ("19.90", "19.90", 2),
        ("-0.5", "-0.5", 1),
        ("+3", "3", 0),
        ("1.", "1", 0),
        (".5", "0.5", 1),
        (" 007.10 ", "7.10", 2),
        ("999999999999999999.99", "999999999999999999.99", 2),
        ("0.1000000000000000000000000000000", "0.1", 1),
    ] {
        let got = parse_decimal(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, d(value), "{text}");
        assert_eq!(got.scale(), scale, "{text}");
    }
    for bad in [
        "",
        "-",
        ".",
        "1,5",
        "1 000",
        "1e3",
        "1.2.3",
        "12a",
        "--1",
        "79228162514264337593543950336",
        // Within Decimal, beyond what clerk computes with (18 digits before the point).
        "79228162514264337593543950335",
        "1000000000000000000",
        "0.12345678901234567890123456789",
    ] {
        assert!(parse_decimal(bad).is_err(), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Factur-X PDFs

#[test]
fn facturx_pdf_reads_its_embedded_invoice() {
    let (format, inv) = one(&fixture("horstoeko-zugferd/pdf_fx_minimum_1.pdf"));
    assert_eq!(format, InvoiceFormat::FacturX);
    assert_eq!(inv.number, "F20220027");
    assert_eq!(inv.issue_date, date("2022-01-31"));
    assert_eq!(inv.payable, d("100.00"));
    assert_eq!(inv.tax_inclusive, Some(d("110.00")));
    assert!(inv.lines.is_empty(), "MINIMUM has no lines");
    assert_eq!(
        inv.source.locator.as_deref(),
        Some("factur-x.xml: CrossIndustryInvoice")
    );
}

#[test]
fn a_pdf_without_an_attachment_is_refused_saying_so() {
    let e = refused(&fixture("horstoeko-zugferd/pdf_plain.pdf"));
    assert_eq!(
        e.to_string(),
        "invoice.xml: a PDF without an embedded Factur-X/ZUGFeRD invoice (no factur-x.xml / zugferd-invoice.xml attachment)"
    );
    let input = Input {
        name: "p.pdf",
        bytes: &fixture("horstoeko-zugferd/pdf_plain.pdf"),
        file_hash: Arc::from("h"),
    };
    let e = parse(&input, Some(InvoiceFormat::Ubl)).unwrap_err();
    assert!(e.to_string().contains("found a PDF file"), "{e}");
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// Writes small PDFs the way real writers do: a classic cross-reference table, or object
/// streams with a cross-reference stream (PNG-predicted, as most writers emit it).
struct PdfWriter {
    out: Vec<u8>,
    offsets: Vec<(u32, usize)>,
}

impl PdfWriter {
    fn new() -> Self {
        PdfWriter {
            out: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            offsets: Vec::new(),
        }
    }

    fn object(&mut self, num: u32, body: &str) {
        self.offsets.push((num, self.out.len()));
        write!(self.out, "{num} 0 obj\n{body}\nendobj\n").unwrap();
    }

    fn stream(&mut self, num: u32, dict: &str, data: &[u8]) {
        self.offsets.push((num, self.out.len()));
        write!(
            self.out,
            "{num} 0 obj\n<< {dict} /Length {} >>\nstream\r\n",
            data.len()
        )
        .unwrap();
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\r\nendstream\nendobj\n");
    }

    fn finish_with_table(mut self, root: u32) -> Vec<u8> {
        let xref = self.out.len();
        let size = self.offsets.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
        write!(self.out, "xref\n0 {size}\n0000000000 65535 f \n").unwrap();
        for n in 1..size {
            match self.offsets.iter().find(|(m, _)| *m == n) {
                Some((_, off)) => writeln!(self.out, "{off:010} 00000 n ").unwrap(),
                None => writeln!(self.out, "0000000000 00000 f ").unwrap(),
            }
        }
        write!(
            self.out,
            "trailer\n<< /Size {size} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .unwrap();
        self.out
    }

    /// Packs `objects` into object stream `objstm`, then ends with a cross-reference stream
    /// (number `xref_num`) listing direct objects and packed ones.
    fn finish_with_streams(
        mut self,
        root: u32,
        objstm: u32,
        objects: &[(u32, &str)],
        xref_num: u32,
    ) -> Vec<u8> {
        let mut header = String::new();
        let mut body = String::new();
        for (n, text) in objects {
            header.push_str(&format!("{n} {} ", body.len()));
            body.push_str(text);
            body.push('\n');
        }
        let content = format!("{header}\n{body}");
        let first = header.len() + 1;
        self.stream(
            objstm,
            &format!(
                "/Type /ObjStm /N {} /First {first} /Filter /FlateDecode",
                objects.len()
            ),
            &zlib(content.as_bytes()),
        );
        let xref_at = self.out.len();
        let size = xref_num + 1;
        // Rows: type (1 byte), offset or stream (4), generation or index (2).
        let mut rows: Vec<[u8; 7]> = Vec::new();
        for n in 0..size {
            let mut row = [0u8; 7];
            if let Some((_, off)) = self.offsets.iter().find(|(m, _)| *m == n) {
                row[0] = 1;
                row[1..5].copy_from_slice(&(*off as u32).to_be_bytes());
            } else if let Some(i) = objects.iter().position(|(m, _)| *m == n) {
                row[0] = 2;
                row[1..5].copy_from_slice(&objstm.to_be_bytes());
                row[5..7].copy_from_slice(&(i as u16).to_be_bytes());
            } else if n == xref_num {
                row[0] = 1;
                row[1..5].copy_from_slice(&(xref_at as u32).to_be_bytes());
            }
            rows.push(row);
        }
        // PNG "Up" predictor on every row.
        let mut predicted = Vec::new();
        let mut prev = [0u8; 7];
        for row in &rows {
            predicted.push(2);
            for i in 0..7 {
                predicted.push(row[i].wrapping_sub(prev[i]));
            }
            prev = *row;
        }
        self.stream(
            xref_num,
            &format!(
                "/Type /XRef /Size {size} /W [1 4 2] /Root {root} 0 R /Filter /FlateDecode /DecodeParms << /Columns 7 /Predictor 12 >>"
            ),
            &zlib(&predicted),
        );
        write!(self.out, "startxref\n{xref_at}\n%%EOF\n").unwrap();
        self.out
    }
}

/// A Factur-X-shaped PDF with `xml` attached as `name`, compressed.
fn facturx_pdf(name: &str, xml: &[u8]) -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.object(
        1,
        "<< /Type /Catalog /Pages 5 0 R /Names << /EmbeddedFiles 2 0 R >> /AF [3 0 R] >>",
    );
    w.object(2, &format!("<< /Names [({name}) 3 0 R] >>"));
    w.object(
        3,
        &format!("<< /Type /Filespec /F ({name}) /UF ({name}) /EF << /F 4 0 R >> /AFRelationship /Data >>"),
    );
    w.stream(
        4,
        "/Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode",
        &zlib(xml),
    );
    w.object(5, "<< /Type /Pages /Kids [] /Count 0 >>");
    w.finish_with_table(1)
}

#[test]
fn a_built_facturx_pdf_reads() {
    let pdf = facturx_pdf("factur-x.xml", CII_MINIMUM.as_bytes());
    assert_eq!(sniff(&pdf), Some(InvoiceFormat::FacturX));
    let (format, inv) = one(&pdf);
    assert_eq!(format, InvoiceFormat::FacturX);
    assert_eq!(inv.number, "MIN-1");
    // Other names of the attachment: ZUGFeRD 2.0 and XRechnung.
    for name in ["ZUGFeRD-invoice.xml", "xrechnung.xml"] {
        let (_, inv) = one(&facturx_pdf(name, CII_MINIMUM.as_bytes()));
        assert_eq!(inv.number, "MIN-1");
        assert!(
            inv.source
                .locator
                .as_deref()
                .is_some_and(|l| l.starts_with(name)),
            "{:?}",
            inv.source.locator
        );
    }
    // Another attachment only: refused, naming what is there.
    let e = refused(&facturx_pdf("timesheet.xml", CII_MINIMUM.as_bytes()));
    assert!(
        e.to_string().ends_with(
            "(no factur-x.xml / zugferd-invoice.xml attachment); its attachments: timesheet.xml"
        ),
        "{e}"
    );
    // Junk attached under the invoice's name: the problem names the attachment.
    let e = refused(&facturx_pdf("factur-x.xml", b"<rsm:CrossIndustryInvoice"));
    assert_eq!(e.problems[0].column.as_deref(), Some("factur-x.xml"), "{e}");
    // An XML note mentioning %PDF- is still XML.
    let xml = CII_MINIMUM.replace(
        "<rsm:ExchangedDocument>",
        "<!-- %PDF-1.7 --><rsm:ExchangedDocument>",
    );
    assert_eq!(one(xml.as_bytes()).0, InvoiceFormat::Cii);
    // A UBL invoice in a Factur-X PDF is not Factur-X.
    let e = refused(&facturx_pdf(
        "factur-x.xml",
        &fixture("en16931-eu/ubl-tc434-example1.xml"),
    ));
    assert!(
        e.to_string().contains("not the CII CrossIndustryInvoice"),
        "{e}"
    );
    // Problems inside the attachment name it.
    let broken = CII_MINIMUM.replace("<ram:ID>MIN-1</ram:ID>", "");
    let e = refused(&facturx_pdf("factur-x.xml", broken.as_bytes()));
    assert_eq!(
        e.problems[0].column.as_deref(),
        Some("factur-x.xml: CrossIndustryInvoice/ExchangedDocument/ID")
    );
}

#[test]
fn object_streams_and_cross_reference_streams_are_followed() {
    // "factur-x.xml" as a UTF-16 text string.
    const NAME: &str = "<FEFF006600610063007400750072002D0078002E0078006D006C>";
    let mut w = PdfWriter::new();
    w.stream(
        4,
        "/Type /EmbeddedFile /Filter /FlateDecode",
        &zlib(CII_MINIMUM.as_bytes()),
    );
    // The catalog, the name tree (with a level of kids) and the file specification are
    // packed in an object stream, found through a predicted cross-reference stream.
    let spec = format!("<< /Type /Filespec /UF {NAME} /EF << /F 4 0 R >> >>");
    let leaf = format!("<< /Limits [(a) (z)] /Names [{NAME} 3 0 R] >>");
    let packed = [
        (1, "<< /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >>"),
        (2, "<< /Kids [6 0 R] >>"),
        (6, leaf.as_str()),
        (3, spec.as_str()),
    ];
    let pdf = w.finish_with_streams(1, 5, &packed, 7);
    assert_eq!(sniff(&pdf), Some(InvoiceFormat::FacturX));
    let (format, inv) = one(&pdf);
    assert_eq!(format, InvoiceFormat::FacturX);
    assert_eq!(inv.number, "MIN-1");
}

#[test]
fn a_pdf_with_broken_cross_references_is_read_by_scanning() {
    let mut pdf = facturx_pdf("factur-x.xml", CII_MINIMUM.as_bytes());
    // Point startxref nowhere.
    let at = memchr::memmem::rfind(&pdf, b"startxref\n").unwrap() + 10;
    pdf[at] = b'9';
    let (_, inv) = one(&pdf);
    assert_eq!(inv.number, "MIN-1");
}

#[test]
fn a_flate_bomb_in_a_pdf_is_refused_without_unpacking_it() {
    // 40 MB of zeros packs into a few tens of KB; the limit is 32 MB.
    let bomb = vec![b' '; MAX_ATTACHMENT_BYTES + (8 << 20)];
    let pdf = facturx_pdf("factur-x.xml", &bomb);
    assert!(pdf.len() < 1 << 20, "{}", pdf.len());
    let e = refused(&pdf);
    assert!(
        e.to_string()
            .contains("the PDF's attachment factur-x.xml: it unpacks to more than 32 MB: refused"),
        "{e}"
    );
}

#[test]
fn damaged_pdfs_are_refused_never_a_panic() {
    let pdfs = [
        fixture("horstoeko-zugferd/pdf_plain.pdf"),
        facturx_pdf("factur-x.xml", CII_MINIMUM.as_bytes()),
    ];
    for pdf in &pdfs {
        // Truncated anywhere.
        for cut in (0..pdf.len()).step_by(97) {
            check_no_bug(&pdf[..cut]);
        }
        // Bytes overwritten here and there (a fixed pseudo-random walk).
        let mut state: u32 = 0x2545_f491;
        for _ in 0..300 {
            let mut damaged = pdf.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = state as usize % damaged.len();
                damaged[i] = (state >> 8) as u8;
            }
            check_no_bug(&damaged);
        }
    }
}

fn check_no_bug(bytes: &[u8]) {
    if let Err(e) = read(bytes) {
        assert!(!e.to_string().contains("(a bug"), "{e}");
    }
}

#[test]
fn an_encrypted_pdf_is_refused_saying_so() {
    let pdf = facturx_pdf("factur-x.xml", CII_MINIMUM.as_bytes());
    let text = String::from_utf8_lossy(&pdf).replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 9 0 R");
    let e = refused(text.as_bytes());
    assert!(e.to_string().contains("encrypted"), "{e}");
}

#[test]
fn cash_discount_terms_are_read_from_ubl_cii_and_xrechnung_notes() {
    // UBL: SettlementDiscountPercent with a period in days, or ending on a day.
    let ubl = twin_text(UBL_TWIN).replacen(
        "<cbc:DueDate>",
        "<cac:PaymentTerms><cbc:SettlementDiscountPercent>2</cbc:SettlementDiscountPercent><cac:SettlementPeriod><cbc:DurationMeasure unitCode=\"DAY\">14</cbc:DurationMeasure></cac:SettlementPeriod></cac:PaymentTerms><cbc:DueDate>",
        1,
    );
    let (_, inv) = one(ubl.as_bytes());
    let terms = inv.cash_discount.unwrap();
    assert_eq!((terms.percent, terms.days), (d("2"), Some(14)));
    assert_eq!(
        terms.last_day(inv.issue_date),
        Some("2026-03-16".parse().unwrap())
    );
    // CII: ApplicableTradePaymentDiscountTerms.
    let cii = twin_text(CII_TWIN).replacen(
        "<ram:DueDateDateTime>",
        "<ram:ApplicableTradePaymentDiscountTerms><ram:BasisPeriodMeasure unitCode=\"DAY\">10</ram:BasisPeriodMeasure><ram:CalculationPercent>3.00</ram:CalculationPercent></ram:ApplicableTradePaymentDiscountTerms><ram:DueDateDateTime>",
        1,
    );
    let (_, inv) = one(cii.as_bytes());
    let terms = inv.cash_discount.unwrap();
    assert_eq!((terms.percent, terms.days), (d("3.00"), Some(10)));
    // XRechnung's note in CII's payment terms description.
    let note = twin_text(CII_TWIN).replacen(
        "<ram:DueDateDateTime>",
        "<ram:Description>#SKONTO#TAGE=7#PROZENT=1.50#\n</ram:Description><ram:DueDateDateTime>",
        1,
    );
    let (_, inv) = one(note.as_bytes());
    assert_eq!(inv.cash_discount.unwrap().days, Some(7));
    // Without terms, none.
    assert!(
        one(twin_text(UBL_TWIN).as_bytes())
            .1
            .cash_discount
            .is_none()
    );
}

#[test]
fn item_ids_are_read_from_ubl_and_cii_lines() {
    // BT-155, the seller's item id, in both syntaxes' public examples.
    let (_, ubl) = one(&fixture("en16931-eu/ubl-tc434-example1.xml"));
    assert_eq!(ubl.lines[0].item_ids.seller.as_deref(), Some("166022"));
    let (_, cii) = one(&fixture("en16931-eu/CII_example1.xml"));
    assert_eq!(cii.lines[0].item_ids.seller.as_deref(), Some("166022"));
    // The buyer's id and a GTIN, written into a copy of the UBL example's first line.
    let xml = String::from_utf8(fixture("en16931-eu/ubl-tc434-example1.xml")).unwrap();
    let xml = xml.replacen(
        "<cac:SellersItemIdentification>",
        "<cac:BuyersItemIdentification><cbc:ID>B-77</cbc:ID></cac:BuyersItemIdentification>\
         <cac:SellersItemIdentification>",
        1,
    );
    let (_, ubl) = one(xml.as_bytes());
    assert_eq!(ubl.lines[0].item_ids.buyer.as_deref(), Some("B-77"));
}
