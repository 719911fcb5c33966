//! Table-driven tests of the ISO 20022 readers, on the fixtures in `tests/fixtures/iso20022/`
//! (copied from genkgo/camt and viafintech/camt_parser, semt.002 written for clerk) and on
//! small messages written inline.

use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::model::Currency;
use crate::model::securities::QuantityKind;
use crate::model::statement::{EntryStatus, StatementEntry};

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/iso20022")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(bytes: &[u8]) -> Result<(IsoMessage, IsoDocument), ExtractError> {
    let input = Input {
        name: "test.xml",
        bytes,
        file_hash: Arc::from("hash"),
    };
    parse(&input, None, None)
}

fn statements(bytes: &[u8]) -> Vec<BankStatement> {
    match read(bytes) {
        Ok((_, IsoDocument::Statements(s))) => s,
        Ok((k, d)) => panic!("{k}: {d:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn holdings(bytes: &[u8]) -> Vec<HoldingStatement> {
    match read(bytes) {
        Ok((IsoMessage::Semt002, IsoDocument::Holdings(h))) => h,
        Ok((k, d)) => panic!("{k}: {d:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn error(bytes: &[u8]) -> ExtractError {
    match read(bytes) {
        Ok((k, d)) => panic!("read as {k}: {d:?}"),
        Err(e) => e,
    }
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn entries(bytes: &[u8]) -> Vec<StatementEntry> {
    statements(bytes)
        .into_iter()
        .flat_map(|s| s.entries)
        .collect()
}

/// A camt.053.001.02 statement for account DE02100100109307118603 around some entries.
fn camt053(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-31T20:00:00+02:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>S1</Id>
      <CreDtTm>2024-03-31T20:00:00+02:00</CreDtTm>
      <Acct><Id><IBAN>DE02100100109307118603</IBAN></Id><Ccy>EUR</Ccy></Acct>
{body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#
    )
}

/// One entry of `amount` with the given indicator, dates and details.
fn ntry(cdt_dbt: &str, extra: &str, details: &str) -> String {
    format!(
        r#"      <Ntry>
        <Amt Ccy="EUR">100.00</Amt>
        <CdtDbtInd>{cdt_dbt}</CdtDbtInd>
        {extra}
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2024-03-28</Dt></BookgDt>
        <ValDt><Dt>2024-03-29</Dt></ValDt>
        <NtryDtls><TxDtls>{details}</TxDtls></NtryDtls>
      </Ntry>"#
    )
}

const PARTIES: &str = r#"<RltdPties>
  <Dbtr><Nm>Payer GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
  <Cdtr><Nm>Payee AG</Nm></Cdtr><CdtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN></Id></CdtrAcct>
</RltdPties>
<RltdAgts><DbtrAgt><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></DbtrAgt>
  <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt></RltdAgts>"#;

#[test]
fn every_version_in_the_fixtures_is_recognised_and_read() {
    // (file, message, version, statements, entries after batch split)
    let table: &[(&str, IsoMessage, &str, usize, usize)] = &[
        (
            "genkgo-camt/camt052.v1.xml",
            IsoMessage::Camt052,
            "001.01",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v2.xml",
            IsoMessage::Camt052,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v2.other-account.xml",
            IsoMessage::Camt052,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v2.with-account-name.xml",
            IsoMessage::Camt052,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v4.xml",
            IsoMessage::Camt052,
            "001.04",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v6.xml",
            IsoMessage::Camt052,
            "001.06",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v6.Amt-zero.xml",
            IsoMessage::Camt052,
            "001.06",
            1,
            1,
        ),
        (
            "genkgo-camt/camt052.v8.xml",
            IsoMessage::Camt052,
            "001.08",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.minimal.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.minimal.ultimate.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.all-balance-types.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.five.decimals.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.multi.statement.xml",
            IsoMessage::Camt053,
            "001.02",
            2,
            2,
        ),
        (
            "genkgo-camt/camt053.v2.with-account-name.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v2.with-party-ids.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v3.xml",
            IsoMessage::Camt053,
            "001.03",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v4.xml",
            IsoMessage::Camt053,
            "001.04",
            1,
            1,
        ),
        (
            "genkgo-camt/camt053.v8.xml",
            IsoMessage::Camt053,
            "001.08",
            1,
            1,
        ),
        (
            "genkgo-camt/camt53.only-Dt-with-DtTm.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            0,
        ),
        (
            "genkgo-camt/camt054.v2.xml",
            IsoMessage::Camt054,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt054.v2.with-account-name.xml",
            IsoMessage::Camt054,
            "001.02",
            1,
            1,
        ),
        (
            "genkgo-camt/camt054.v4.xml",
            IsoMessage::Camt054,
            "001.04",
            1,
            3,
        ),
        (
            "genkgo-camt/camt054.v8.xml",
            IsoMessage::Camt054,
            "001.08",
            1,
            3,
        ),
        (
            "genkgo-camt/camt054.v8-with-UETR.xml",
            IsoMessage::Camt054,
            "001.08",
            1,
            1,
        ),
        (
            "genkgo-camt/camt054.v8-with-financial-institution.xml",
            IsoMessage::Camt054,
            "001.08",
            1,
            1,
        ),
        (
            "viafintech-camt_parser/052/valid_example_with_dates.xml",
            IsoMessage::Camt052,
            "001.02",
            1,
            1,
        ),
        (
            "viafintech-camt_parser/053/valid_example.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            5,
        ),
        (
            "viafintech-camt_parser/053/valid_example_v4.xml",
            IsoMessage::Camt053,
            "001.04",
            1,
            32,
        ),
        (
            "viafintech-camt_parser/053/valid_example_with_batch.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            3,
        ),
        (
            "viafintech-camt_parser/053/valid_example_with_datetime.xml",
            IsoMessage::Camt053,
            "001.10",
            1,
            1,
        ),
        (
            "viafintech-camt_parser/053/valid_example_with_other_id.xml",
            IsoMessage::Camt053,
            "001.02",
            1,
            0,
        ),
        (
            "viafintech-camt_parser/054/valid_example.xml",
            IsoMessage::Camt054,
            "001.04",
            1,
            5,
        ),
        (
            "semt002/semt.002.001.08.xml",
            IsoMessage::Semt002,
            "001.08",
            1,
            2,
        ),
        (
            "semt002/semt.002.001.08.no-holdings.xml",
            IsoMessage::Semt002,
            "001.08",
            1,
            0,
        ),
        (
            "semt002/semt.002.001.10.xml",
            IsoMessage::Semt002,
            "001.10",
            1,
            2,
        ),
    ];
    for (file, kind, version, n_statements, n_entries) in table {
        let bytes = fixture(file);
        assert_eq!(sniff(&bytes), Some((*kind, version.to_string())), "{file}");
        let (found, doc) = read(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(found, *kind, "{file}");
        let (s, e) = match doc {
            IsoDocument::Statements(s) => {
                let want = match kind {
                    IsoMessage::Camt052 => StatementKind::Intraday,
                    IsoMessage::Camt053 => StatementKind::EndOfDay,
                    _ => StatementKind::Notification,
                };
                assert!(s.iter().all(|s| s.kind == want), "{file}");
                (s.len(), s.iter().map(|s| s.entries.len()).sum())
            }
            IsoDocument::Holdings(h) => (h.len(), h.iter().map(|h| h.positions.len()).sum()),
        };
        assert_eq!((s, e), (*n_statements, *n_entries), "{file}");
    }
}

#[test]
fn sniff_reads_namespaces_prefixes_envelopes_and_bare_element_names() {
    let doc =
        |open: &str, close: &str| format!("{open}<BkToCstmrStmt><GrpHdr/></BkToCstmrStmt>{close}");
    let table: &[(String, Option<(IsoMessage, &str)>)] = &[
        (
            doc(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">"#, "</Document>"),
            Some((IsoMessage::Camt053, "001.08")),
        ),
        // A prefixed document, a BOM, a declaration and comments first.
        (
            format!(
                "\u{feff}<?xml version=\"1.0\"?>\n<!-- bank export -->\n{}",
                r#"<ns2:Document xmlns:ns2="urn:iso:std:iso:20022:tech:xsd:camt.052.001.06"><ns2:BkToCstmrAcctRpt/></ns2:Document>"#
            ),
            Some((IsoMessage::Camt052, "001.06")),
        ),
        // An unknown higher version of a known message.
        (
            doc(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.13">"#, "</Document>"),
            Some((IsoMessage::Camt054, "001.13")),
        ),
        // SWIFT's own namespace form.
        (
            doc(r#"<Document xmlns="urn:swift:xsd:camt.053.001.02">"#, "</Document>"),
            Some((IsoMessage::Camt053, "001.02")),
        ),
        // No namespace: the element name tells the message, not the version.
        (
            doc("<Document>", "</Document>"),
            Some((IsoMessage::Camt053, "unknown")),
        ),
        // A business message envelope with an application header.
        (
            format!(
                "<BizMsgEnvlp xmlns=\"urn:iso:std:iso:20022:tech:xsd:nvlp.001.001.01\"><Hdr><AppHdr xmlns=\"urn:iso:std:iso:20022:tech:xsd:head.001.001.02\"><BizMsgIdr>B1</BizMsgIdr><MsgDefIdr>camt.053.001.08</MsgDefIdr></AppHdr></Hdr><Doc>{}</Doc></BizMsgEnvlp>",
                doc(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">"#, "</Document>")
            ),
            Some((IsoMessage::Camt053, "001.08")),
        ),
        // SWIFT Alliance's DataPDU, and an application header naming a Document without
        // namespace.
        (
            "<Saa:DataPDU xmlns:Saa=\"urn:swift:saa:xsd:saa.2.0\"><Saa:Body><AppHdr><MsgDefIdr>semt.002.001.10</MsgDefIdr></AppHdr><Document><SctiesBalCtdyRpt/></Document></Saa:Body></Saa:DataPDU>"
                .to_string(),
            Some((IsoMessage::Semt002, "001.10")),
        ),
        (
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>"#.to_string(),
            None,
        ),
        (
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.08"><FIToFIPmtCxlReq/></Document>"#.to_string(),
            None,
        ),
        ("<html><body>hello</body></html>".to_string(), None),
        ("not xml".to_string(), None),
        (String::new(), None),
    ];
    for (text, want) in table {
        let got = sniff(text.as_bytes());
        let want = want.map(|(k, v)| (k, v.to_string()));
        assert_eq!(got, want, "{text}");
    }
    // UTF-16 with a byte-order mark.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            doc(
                r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">"#,
                "</Document>",
            )
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
        )
        .collect();
    assert_eq!(sniff(&utf16), Some((IsoMessage::Camt053, "001.04".into())));
    assert_eq!(sniff(&[0u8, 159, 146, 150, 1, 2, 3]), None);
}

#[test]
fn a_batch_is_split_into_its_transactions_with_their_own_amounts_and_signs() {
    let e = entries(&fixture("genkgo-camt/camt054.v4.xml"));
    // The entry is a DBIT of SEK 200000; its three transactions say CRDT in CHF.
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.amount, e.currency.to_string(), e.batch.clone().unwrap()))
        .collect();
    for (i, (amount, ccy, link)) in got.iter().enumerate() {
        assert_eq!(ccy, "CHF");
        assert_eq!(*amount, dec(["3.1", "3.2", "3.2"][i]));
        assert_eq!(link.index, i as u32 + 1);
        assert_eq!(link.transactions, 3);
        assert_eq!(link.entry_amount, dec("-200000"));
        assert_eq!(link.entry, "ACSR160617103200001");
    }
    assert_eq!(
        e[1].source.locator.as_deref(),
        Some("Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Ntry/NtryDtls/TxDtls[2]")
    );
    assert_eq!(e[1].source.row, 179);
    assert_eq!(
        e[1].reference.as_deref(),
        Some("UXC06170000006PI00001EE00002")
    );

    // Transactions with only `AmtDtls/TxAmt` and no indicator of their own take the entry's
    // DBIT; they add up to the entry.
    let e = entries(&fixture("viafintech-camt_parser/053/valid_example.xml"));
    let batch: Vec<_> = e.iter().filter(|e| e.batch.is_some()).collect();
    assert_eq!(
        batch.iter().map(|e| e.amount).collect::<Vec<_>>(),
        vec![dec("-3.50"), dec("-2.50")]
    );
    assert_eq!(
        batch.iter().map(|e| e.amount).sum::<Decimal>(),
        dec("-6.00")
    );
    assert_eq!(batch[0].batch.as_ref().unwrap().entry_amount, dec("-6.00"));

    // Without a reference of its own, the batch is named by its position.
    let xml = camt053(
        r#"<Ntry><Amt Ccy="EUR">30</Amt><CdtDbtInd>CRDT</CdtDbtInd><ValDt><Dt>2024-03-29</Dt></ValDt>
      <NtryDtls><TxDtls><Amt Ccy="EUR">10</Amt></TxDtls><TxDtls><Amt Ccy="EUR">20</Amt></TxDtls></NtryDtls></Ntry>"#,
    );
    let e = entries(xml.as_bytes());
    assert_eq!(
        e[0].batch.as_ref().unwrap().entry,
        "Document/BkToCstmrStmt/Stmt/Ntry"
    );
}

#[test]
fn entries_that_cannot_be_split_or_are_not_batches_keep_the_entry_amount() {
    // Three TxDtls without amounts: one entry, remittance texts joined, shared reference kept.
    let e = entries(&fixture("genkgo-camt/camt054.v2.xml"));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].amount, dec("-200000"));
    assert!(e[0].batch.is_none());
    assert_eq!(e[0].reference.as_deref(), Some("MUELL/FINP/RA12345"));
    assert!(
        e[0].remittance.starts_with(
            "Unstructured Remittance Information V1 ISR ref number V2 Additional Remittance Information V2"
        ),
        "{}",
        e[0].remittance
    );
    // One TxDtls whose own amount is the instructed amount before charges: the booked entry
    // amount counts.
    let e = entries(&fixture(
        "viafintech-camt_parser/053/valid_example_with_instdamt.xml",
    ));
    assert_eq!((e.len(), e[0].amount), (1, dec("4500.00")));
    let xml = camt053(&ntry(
        "CRDT",
        "",
        r#"<Amt Ccy="USD">4.1</Amt><AmtDtls><InstdAmt><Amt Ccy="USD">4.1</Amt></InstdAmt></AmtDtls>"#,
    ));
    let e = entries(xml.as_bytes());
    assert_eq!(
        (e[0].amount, e[0].currency.as_str()),
        (dec("100.00"), "EUR")
    );
    assert!(e[0].batch.is_none());
    // A batch booked as one sum (`Btch/NbOfTxs` only): one entry, its PmtInfId as reference.
    let e = entries(&fixture(
        "viafintech-camt_parser/053/valid_example_with_batch.xml",
    ));
    assert_eq!(e[0].amount, dec("-4753.74"));
    assert!(e[0].batch.is_none());
    assert_eq!(e[0].reference.as_deref(), Some("O0OpeAYTkhjerKu3eE9asw"));
}

#[test]
fn reversal_keeps_the_sign_of_its_own_indicator_and_the_original_parties() {
    // (CdtDbtInd, RvslInd, amount, reversal, counterparty)
    let table = [
        ("CRDT", "", "100.00", false, "Payer GmbH"),
        ("DBIT", "", "-100.00", false, "Payee AG"),
        (
            "CRDT",
            "<RvslInd>false</RvslInd>",
            "100.00",
            false,
            "Payer GmbH",
        ),
        // The storno of an incoming payment: money goes out, the original payer is the
        // counterparty.
        (
            "DBIT",
            "<RvslInd>true</RvslInd>",
            "-100.00",
            true,
            "Payer GmbH",
        ),
        // The storno of an outgoing payment: money comes back from the original payee.
        (
            "CRDT",
            "<RvslInd>true</RvslInd>",
            "100.00",
            true,
            "Payee AG",
        ),
        ("CRDT", "<RvslInd>1</RvslInd>", "100.00", true, "Payee AG"),
    ];
    for (ind, rvsl, amount, reversal, party) in table {
        let e = &entries(camt053(&ntry(ind, rvsl, PARTIES)).as_bytes())[0];
        assert_eq!(e.amount, dec(amount), "{ind} {rvsl}");
        assert_eq!(e.reversal, reversal, "{ind} {rvsl}");
        assert_eq!(
            e.details.counterparty_name.as_deref(),
            Some(party),
            "{ind} {rvsl}"
        );
    }
    // The corpus' Swiss stornos: DBIT + RvslInd, negative.
    let e = entries(&fixture("viafintech-camt_parser/054/valid_example.xml"));
    let stornos: Vec<_> = e.iter().filter(|e| e.reversal).map(|e| e.amount).collect();
    assert_eq!(stornos, vec![dec("-6.00"), dec("-15.53")]);
}

#[test]
fn the_counterparty_is_the_debtor_on_a_credit_and_the_creditor_on_a_debit() {
    let e = &entries(camt053(&ntry("CRDT", "", PARTIES)).as_bytes())[0];
    assert_eq!(
        (
            e.details.counterparty_name.as_deref(),
            e.details.counterparty_iban.as_deref(),
            e.details.counterparty_bic.as_deref()
        ),
        (
            Some("Payer GmbH"),
            Some("DE89370400440532013000"),
            Some("COBADEFFXXX")
        )
    );
    let e = &entries(camt053(&ntry("DBIT", "", PARTIES)).as_bytes())[0];
    assert_eq!(
        (
            e.details.counterparty_name.as_deref(),
            e.details.counterparty_iban.as_deref(),
            e.details.counterparty_bic.as_deref()
        ),
        (
            Some("Payee AG"),
            Some("FR1420041010050500013M02606"),
            Some("BNPAFRPPXXX")
        )
    );
    // .001.08 wraps the party in `Pty`.
    let e = &entries(&fixture("genkgo-camt/camt053.v8.xml"))[0];
    assert_eq!(e.details.counterparty_name.as_deref(), Some("NAME NAME"));
}

#[test]
fn value_date_falls_back_to_booking_date_then_to_the_statement() {
    let entry = |dates: &str, stmt_period: &str| {
        let xml = camt053(&format!(
            r#"{stmt_period}<Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd>{dates}</Ntry>"#
        ));
        read(xml.as_bytes()).map(|(_, d)| match d {
            IsoDocument::Statements(s) => {
                let e = &s[0].entries[0];
                (e.value_date, e.booking_date)
            }
            _ => unreachable!(),
        })
    };
    let both = r#"<BookgDt><Dt>2024-03-28</Dt></BookgDt><ValDt><Dt>2024-03-29</Dt></ValDt>"#;
    let booking = r#"<BookgDt><DtTm>2024-03-28T23:30:00-05:00</DtTm></BookgDt>"#;
    let value = r#"<ValDt><DtTm>2024-03-29T00:10:00+02:00</DtTm></ValDt>"#;
    let period =
        "<FrToDt><FrDtTm>2024-03-01T00:00:00</FrDtTm><ToDtTm>2024-03-30T23:59:59</ToDtTm></FrToDt>";
    let table = [
        (both, "", Some((day("2024-03-29"), Some(day("2024-03-28"))))),
        // Booking date only (a date-time, its date as the bank wrote it).
        (
            booking,
            "",
            Some((day("2024-03-28"), Some(day("2024-03-28")))),
        ),
        (value, "", Some((day("2024-03-29"), None))),
        // Neither: the end of the statement's period, else its creation date.
        ("", period, Some((day("2024-03-30"), None))),
        ("", "", Some((day("2024-03-31"), None))),
    ];
    for (dates, stmt, want) in table {
        assert_eq!(entry(dates, stmt).ok(), want, "{dates} {stmt}");
    }
}

#[test]
fn remittance_is_unstructured_lines_else_structured_references() {
    let table = [
        (
            "<RmtInf><Ustrd>INV 2024-001 </Ustrd><Ustrd> and INV 2024-002</Ustrd></RmtInf>",
            "INV 2024-001 and INV 2024-002",
        ),
        // Both: the unstructured lines only.
        (
            "<RmtInf><Ustrd>Invoice 7</Ustrd><Strd><CdtrRefInf><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf>",
            "Invoice 7",
        ),
        (
            "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF18539007547034</Ref></CdtrRefInf><AddtlRmtInf>thank you</AddtlRmtInf></Strd><Strd><CdtrRefInf><Ref>RF712348231</Ref></CdtrRefInf></Strd></RmtInf>",
            "RF18539007547034 thank you RF712348231",
        ),
        ("", ""),
        // No remittance at all: the transaction's additional information.
        (
            "<AddtlTxInf>SEPA Credit Transfer</AddtlTxInf>",
            "SEPA Credit Transfer",
        ),
    ];
    for (details, want) in table {
        let e = &entries(camt053(&ntry("CRDT", "", details)).as_bytes())[0];
        assert_eq!(e.remittance, want, "{details}");
        let purpose = if details.contains("RmtInf") {
            Some(want)
        } else {
            None
        };
        assert_eq!(e.details.purpose.as_deref(), purpose, "{details}");
    }
}

#[test]
fn references_codes_and_mandates() {
    let details = r#"<Refs><MsgId>M</MsgId><AcctSvcrRef>TX-SVCR</AcctSvcrRef><PmtInfId>PI-1</PmtInfId><InstrId>INSTR-1</InstrId><EndToEndId>NOTPROVIDED</EndToEndId><MndtId>MANDATE-9</MndtId></Refs>
      <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn><Prtry><Cd>NDDT+105</Cd></Prtry></BkTxCd>
      <RltdPties><Cdtr><Nm>Utility</Nm><Id><PrvtId><Othr><Id>DE98ZZZ09999999999</Id><SchmeNm><Prtry>SEPA</Prtry></SchmeNm></Othr></PrvtId></Id></Cdtr></RltdPties>
      <Purp><Cd>ELEC</Cd></Purp>"#;
    let xml = camt053(&ntry(
        "DBIT",
        "<AcctSvcrRef>NTRY-SVCR</AcctSvcrRef><BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>",
        details,
    ));
    let e = &entries(xml.as_bytes())[0];
    assert_eq!(e.reference.as_deref(), Some("INSTR-1"));
    assert_eq!(e.details.end_to_end_id, None);
    assert_eq!(e.bank_reference.as_deref(), Some("TX-SVCR"));
    assert_eq!(e.transaction_code.as_deref(), Some("PMNT/RDDT/ESDD"));
    assert_eq!(e.details.mandate_id.as_deref(), Some("MANDATE-9"));
    assert_eq!(e.details.creditor_id.as_deref(), Some("DE98ZZZ09999999999"));
    assert_eq!(e.details.purpose_code.as_deref(), Some("ELEC"));
    assert_eq!(e.details.counterparty_name.as_deref(), Some("Utility"));
    assert_eq!(e.details.return_reason, None);

    // A returned payment says why.
    let xml = camt053(&ntry(
        "CRDT",
        "",
        "<RtrInf><OrgnlBkTxCd><Prtry><Cd>X</Cd></Prtry></OrgnlBkTxCd><Rsn><Cd>AC04</Cd></Rsn></RtrInf>",
    ));
    let e = &entries(xml.as_bytes())[0];
    assert_eq!(e.details.return_reason.as_deref(), Some("AC04"));

    // Without transaction details: the entry's references and proprietary code.
    let xml = camt053(
        r#"<Ntry><NtryRef>NREF</NtryRef><Amt Ccy="EUR">1</Amt><CdtDbtInd>DBIT</CdtDbtInd><ValDt><Dt>2024-03-29</Dt></ValDt>
        <BkTxCd><Prtry><Cd>NMSC+201</Cd></Prtry></BkTxCd><AddtlNtryInf>Kontofuehrung</AddtlNtryInf></Ntry>"#,
    );
    let e = &entries(xml.as_bytes())[0];
    assert_eq!(e.bank_reference.as_deref(), Some("NREF"));
    assert_eq!(e.reference, None);
    assert_eq!(e.transaction_code.as_deref(), Some("NMSC+201"));
    assert_eq!(e.remittance, "Kontofuehrung");
    assert_eq!(e.status, EntryStatus::Booked);
}

#[test]
fn balances_are_chosen_by_type() {
    let s = &statements(&fixture("genkgo-camt/camt053.v2.all-balance-types.xml"))[0];
    let b = |b: &Option<crate::model::statement::Balance>| {
        b.as_ref()
            .map(|b| (b.amount, b.currency.to_string(), b.date, b.intermediate))
    };
    assert_eq!(
        b(&s.opening),
        Some((dec("1.01"), "EUR".into(), day("2015-01-21"), false))
    );
    assert_eq!(
        b(&s.closing),
        Some((dec("4.04"), "EUR".into(), day("2015-01-22"), false))
    );
    assert_eq!(
        b(&s.closing_available),
        Some((dec("5.05"), "EUR".into(), day("2015-01-23"), false))
    );
    // PRCD before OPBD: the OPBD is the opening.
    let s = &statements(&fixture(
        "viafintech-camt_parser/053/valid_example_with_batch.xml",
    ))[0];
    assert_eq!(
        b(&s.opening),
        Some((dec("7329.80"), "EUR".into(), day("2019-01-01"), false))
    );
    // PRCD alone: an intermediate opening. A DBIT balance is negative; a balance date may be
    // a date-time.
    let xml = camt053(
        r#"<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><DtTm>2024-03-28T23:59:59</DtTm></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>ITBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">999</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-29</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">90.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-29</Dt></Dt></Bal>"#,
    ) .replace("</Stmt>", &format!("{}\n</Stmt>", ntry("CRDT", "", "")));
    let s = &statements(xml.as_bytes())[0];
    assert_eq!(
        b(&s.opening),
        Some((dec("-10.00"), "EUR".into(), day("2024-03-28"), true))
    );
    assert_eq!(s.closing.as_ref().map(|b| b.amount), Some(dec("90.00")));
    assert_eq!(s.balance_difference(), Some(Decimal::ZERO));
    // A statement that does not add up is read; the difference is for reconciliation.
    let s = &statements(&fixture("genkgo-camt/camt053.v2.five.decimals.xml"))[0];
    assert_eq!(s.balance_difference(), Some(dec("-0.050")));
    assert_eq!(s.entries[0].amount.to_string(), "8.850");
}

#[test]
fn statement_header_and_sources() {
    let all = statements(&fixture("genkgo-camt/camt053.v2.multi.statement.xml"));
    let s = &all[1];
    assert_eq!(s.account, "NL26VAYB8060476890");
    assert_eq!(s.statement_id.as_deref(), Some("254EURNL26VAYB8060476890"));
    assert_eq!(s.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    assert_eq!(
        s.source.locator.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt[2]")
    );
    assert_eq!(s.source.row, 112);
    assert_eq!(
        s.entries[0].source.locator.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt[2]/Ntry")
    );
    assert_eq!(s.entries[0].amount, dec("-7.00"));

    let s = &statements(&fixture("genkgo-camt/camt052.v8.xml"))[0];
    assert_eq!(s.servicer_bic, None);
    let s = &statements(&fixture("genkgo-camt/camt052.v6.xml"))[0];
    assert_eq!(s.servicer_bic.as_deref(), Some("UBSWCHZH80A"));
    assert_eq!(s.number.as_deref(), Some("12312"));
    assert_eq!(
        s.created.map(|c| c.to_string()).as_deref(),
        Some("2007-10-18 12:30:00")
    );
    assert_eq!(
        (s.from_date, s.to_date),
        (Some(day("2007-10-18")), Some(day("2007-10-18")))
    );
    // .001.01: `BkToCstmrAcctRptV01`, `Acct/Id/PrtryAcct`, `Btch` in `Ntry`.
    let s = &statements(&fixture("genkgo-camt/camt052.v1.xml"))[0];
    assert_eq!(s.account, "CH2801234000123456789");
    assert_eq!(s.entries[0].reference.as_deref(), Some("FINP-0055-001"));
    // An account with `Othr/Id` and `BIC`, no entries.
    let s = &statements(&fixture(
        "viafintech-camt_parser/053/valid_example_with_other_id.xml",
    ))[0];
    assert_eq!(
        (s.account.as_str(), s.servicer_bic.as_deref()),
        ("ABCDE1234", Some("GENODEF1PFK"))
    );
    // Without `Acct/Ccy` or balances, the currency of the entries.
    let s = &statements(&fixture("genkgo-camt/camt054.v4.xml"))[0];
    assert_eq!(s.currency.map(|c| c.to_string()).as_deref(), Some("CHF"));
}

#[test]
fn semt002_holdings_from_the_written_fixtures() {
    let h = holdings(&fixture("semt002/semt.002.001.08.xml"));
    assert_eq!(h.len(), 1);
    let h = &h[0];
    assert_eq!(
        (
            h.account.as_str(),
            h.statement_date,
            h.statement_id.as_deref(),
            h.page.as_deref()
        ),
        (
            "F275",
            day("2006-09-13"),
            Some("ICF2750609140005"),
            Some("00005/MORE")
        )
    );
    let p: Vec<_> = h
        .positions
        .iter()
        .map(|p| {
            (
                p.isin.as_deref(),
                p.security_id.as_deref(),
                p.quantity,
                p.quantity_kind,
                p.available,
            )
        })
        .collect();
    assert_eq!(
        p,
        vec![
            (
                None,
                Some("31392EXH8"),
                dec("35732656"),
                QuantityKind::FaceAmount,
                Some(dec("35732656"))
            ),
            (
                None,
                Some("31406RR72"),
                dec("0"),
                QuantityKind::AmortisedValue,
                None
            ),
        ]
    );
    assert_eq!(
        h.positions[0].security_name.as_deref(),
        Some("FEDERAL NATL MTG ASSN")
    );
    assert_eq!(
        h.positions[1].source.locator.as_deref(),
        Some("Document/SctiesBalCtdyRpt/BalForAcct[2]")
    );

    let h = &holdings(&fixture("semt002/semt.002.001.10.xml"))[0];
    assert_eq!(
        (h.account.as_str(), h.statement_date, h.page.as_deref()),
        ("S 02500", day("2008-03-12"), Some("6/MORE"))
    );
    let x = &h.positions[0];
    assert_eq!(x.isin.as_deref(), Some("XS0222550880"));
    assert_eq!((x.quantity, x.available), (dec("300"), Some(dec("200"))));
    assert_eq!(x.as_of, day("2008-03-12"));
    let price = x.price.as_ref().unwrap();
    assert_eq!(
        (price.value, price.percentage, price.currency),
        (dec("101.25"), true, None)
    );
    let mv = x.market_value.as_ref().unwrap();
    assert_eq!((mv.amount, mv.currency.as_str()), (dec("303.75"), "EUR"));
    // MT535 `AVAI//FAMT/N990692`: a short available balance.
    assert_eq!(h.positions[1].available, Some(dec("-990692")));

    let h = &holdings(&fixture("semt002/semt.002.001.08.no-holdings.xml"))[0];
    assert_eq!(
        (h.account.as_str(), h.page.as_deref(), h.positions.len()),
        ("ABC", Some("1/ONLY"), 0)
    );
}

#[test]
fn semt002_sub_accounts_prices_and_problems() {
    let msg = |body: &str| {
        format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:semt.002.001.11"><SctiesBalCtdyRpt>
  <Pgntn><PgNb>2</PgNb><LastPgInd>true</LastPgInd></Pgntn>
  <StmtGnlDtls><StmtDtTm><Dt>2024-03-29</Dt></StmtDtTm></StmtGnlDtls>
  <SfkpgAcct><Id>MAIN</Id></SfkpgAcct>
{body}
</SctiesBalCtdyRpt></Document>"#
        )
    };
    let bal = |isin: &str, qty: &str, extra: &str| {
        format!(
            r#"<FinInstrmId><ISIN>{isin}</ISIN></FinInstrmId><AggtBal><ShrtLngInd>SHOR</ShrtLngInd><Qty><Qty><Qty><Unit>{qty}</Unit></Qty></Qty></Qty></AggtBal>{extra}"#
        )
    };
    let xml = msg(&format!(
        "<BalForAcct>{}</BalForAcct><SubAcctDtls><SfkpgAcct><Id>SUB-1</Id></SfkpgAcct><ActvtyInd>true</ActvtyInd><BalForSubAcct>{}</BalForSubAcct></SubAcctDtls>",
        bal(
            "US0378331005",
            "10",
            r#"<PricDtls><Tp><Cd>MRKT</Cd></Tp><Val><Amt Ccy="USD">171.48</Amt></Val><ValTp><Yldd>false</Yldd></ValTp></PricDtls><AcctBaseCcyAmts><HldgVal><Amt Ccy="USD">1714.80</Amt><Sgn>false</Sgn></HldgVal></AcctBaseCcyAmts>"#
        ),
        bal("DE0007164600", "2.5", ""),
    ));
    let h = &holdings(xml.as_bytes())[0];
    assert_eq!(h.page.as_deref(), Some("2/LAST"));
    let a = &h.positions[0];
    assert_eq!(
        (a.account.as_str(), a.quantity, a.quantity_kind),
        ("MAIN", dec("-10"), QuantityKind::Units)
    );
    let price = a.price.as_ref().unwrap();
    assert_eq!(
        (
            price.value,
            price.currency.map(|c| c.to_string()),
            price.percentage
        ),
        (dec("171.48"), Some("USD".into()), false)
    );
    assert_eq!(a.market_value.as_ref().unwrap().amount, dec("-1714.80"));
    let b = &h.positions[1];
    assert_eq!((b.account.as_str(), b.quantity), ("SUB-1", dec("-2.5")));

    // Problems name the element; every bad position is listed.
    let xml = msg(&format!(
        "<BalForAcct><FinInstrmId><ISIN>X</ISIN></FinInstrmId><AggtBal><ShrtLngInd>LONG</ShrtLngInd><Qty><Prtry><Id>?</Id></Prtry></Qty></AggtBal></BalForAcct><BalForAcct>{}</BalForAcct><BalForAcct>{}</BalForAcct>",
        bal("DE0007164600", "1,5", ""),
        bal("DE0007164600", "1", "").replace("SHOR", "SHORT"),
    ));
    let e = error(xml.as_bytes());
    let msgs: Vec<_> = e.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "expected <Unit>, <FaceAmt> or <AmtsdVal> in <AggtBal>, found none",
            "expected a quantity such as 1000 or 35732656.00 in <Unit>, found \"1,5\"",
            "expected SHOR or LONG, found \"SHORT\"",
        ]
    );
    assert_eq!(
        e.problems[1].column.as_deref(),
        Some("Document/SctiesBalCtdyRpt/BalForAcct[2]/AggtBal/Qty/Qty/Qty/Unit")
    );
    let e = error(
        msg("")
            .replace("<StmtDtTm><Dt>2024-03-29</Dt></StmtDtTm>", "")
            .as_bytes(),
    );
    assert!(
        e.to_string()
            .contains("expected <StmtDtTm> in <StmtGnlDtls>"),
        "{e}"
    );
}

#[test]
fn bad_input_is_refused_with_line_and_element() {
    let good = camt053(&ntry("CRDT", "", ""));
    // (name, bytes, expected line, expected locator, message fragment)
    type Case<'a> = (&'a str, Vec<u8>, Option<u32>, Option<&'a str>, &'a str);
    let table: Vec<Case> = vec![
        (
            "DOCTYPE",
            format!("<?xml version=\"1.0\"?>\n<!DOCTYPE Document SYSTEM \"http://evil/x.dtd\">\n{}", &good[good.find("<Document").unwrap()..]).into_bytes(),
            Some(2),
            None,
            "<!DOCTYPE>: refused",
        ),
        (
            "entity bomb",
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>&lol1;</BkToCstmrStmt></Document>".to_vec(),
            Some(2),
            None,
            "DOCTYPE",
        ),
        (
            "undefined entity",
            good.replace("<Id>S1</Id>", "<Id>&xxe;</Id>").into_bytes(),
            Some(6),
            Some("Document/BkToCstmrStmt/Stmt/Id"),
            "undefined entity &xxe;",
        ),
        (
            "truncated",
            good.as_bytes()[..good.find("<CdtDbtInd>").unwrap()].to_vec(),
            None,
            Some("Document/BkToCstmrStmt/Stmt/Ntry"),
            "truncated",
        ),
        (
            "binary junk",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb1".to_vec(),
            None,
            None,
            "not an XML document: the file starts with binary data",
        ),
        ("empty", b"  \n".to_vec(), None, None, "the file is empty"),
        (
            "text",
            b"Kontoauszug 31.03.2024".to_vec(),
            None,
            None,
            "expected it to start with \"<\", found \"Kontoauszug 31.0\"",
        ),
        (
            "missing Ccy",
            good.replace(r#"<Amt Ccy="EUR">100.00</Amt>"#, "<Amt>100.00</Amt>").into_bytes(),
            Some(10),
            Some("Document/BkToCstmrStmt/Stmt/Ntry/Amt"),
            "expected a currency attribute on <Amt> such as Ccy=\"EUR\", found none",
        ),
        (
            "bad CdtDbtInd",
            good.replace("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>CRD</CdtDbtInd>").into_bytes(),
            Some(11),
            Some("Document/BkToCstmrStmt/Stmt/Ntry/CdtDbtInd"),
            "expected CRDT or DBIT, found \"CRD\"",
        ),
        (
            "bad amount",
            good.replace(">100.00<", ">1.000,00<").into_bytes(),
            Some(10),
            Some("Document/BkToCstmrStmt/Stmt/Ntry/Amt"),
            "expected an amount such as 1234.56 in <Amt>, found \"1.000,00\"",
        ),
        (
            "amount beyond what clerk computes with",
            good.replace(">100.00<", ">1000000000000000000.00<")
                .into_bytes(),
            Some(10),
            Some("Document/BkToCstmrStmt/Stmt/Ntry/Amt"),
            "<Amt>: 1000000000000000000.00 is too large",
        ),
        (
            "bad date",
            good.replace("2024-03-29", "29.03.2024").into_bytes(),
            Some(15),
            Some("Document/BkToCstmrStmt/Stmt/Ntry/ValDt/Dt"),
            "expected a date such as 2024-03-31 in <Dt>, found \"29.03.2024\"",
        ),
        (
            "no account",
            good.replace("<IBAN>DE02100100109307118603</IBAN>", "").into_bytes(),
            Some(8),
            Some("Document/BkToCstmrStmt/Stmt/Acct/Id"),
            "expected <IBAN> or <Othr><Id> in the account's <Id>, found neither",
        ),
        (
            "undeclared Latin-1",
            good.replace("<Id>S1</Id>", "<Id>Gr\u{fc}n</Id>").replace('\u{fc}', "\u{1}").into_bytes().into_iter().map(|b| if b == 1 { 0xFC } else { b }).collect(),
            Some(6),
            Some("Document/BkToCstmrStmt/Stmt/Id"),
            "ISO 20022 files are UTF-8",
        ),
        (
            "no statement",
            fixture("genkgo-camt/camt053.v2.wrong.xml"),
            None,
            None,
            "the camt.053 message holds no <Stmt>: there is no statement to read",
        ),
        (
            "another message",
            br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn><GrpHdr><MsgId>1</MsgId></GrpHdr></CstmrCdtTrfInitn></Document>"#.to_vec(),
            None,
            None,
            "not a camt.052, camt.053 or camt.054 bank statement: expected <BkToCstmrStmt>, <BkToCstmrAcctRpt> or <BkToCstmrDbtCdtNtfctn>, but <Document> holds <CstmrCdtTrfInitn>",
        ),
        (
            "unknown encoding",
            good.replace("encoding=\"UTF-8\"", "encoding=\"EBCDIC-XYZ\"").into_bytes(),
            None,
            None,
            "names the encoding \"EBCDIC-XYZ\"",
        ),
    ];
    for (name, bytes, line, locator, fragment) in table {
        let e = error(&bytes);
        let p = &e.problems[0];
        assert!(p.message.contains(fragment), "{name}: {e}");
        if line.is_some() {
            assert_eq!(p.row, line, "{name}: {e}");
        }
        assert_eq!(p.column.as_deref(), locator, "{name}: {e}");
        // The same through the streaming reader.
        let mut sink = Collect::default();
        let streamed = read_statements(&bytes[..], "test.xml", Arc::from("h"), &mut sink, None)
            .expect_err(name);
        assert_eq!(streamed.problems[0].message, p.message, "{name}");
    }
}

#[test]
fn problems_are_listed_up_to_the_limit_and_nothing_reaches_the_sink_after_the_first() {
    let bad = ntry("CRDT", "", "").replace(">100.00<", ">x<");
    let good = ntry("CRDT", "", "");
    let body = format!("{good}\n{bad}\n{good}\n{bad}");
    let mut sink = Recorder::default();
    let e = read_statements(
        camt053(&body).as_bytes(),
        "t.xml",
        Arc::from("h"),
        &mut sink,
        None,
    )
    .unwrap_err();
    assert_eq!(e.problems.len(), 2);
    assert_eq!(
        e.problems[1].column.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt/Ntry[4]/Amt")
    );
    assert_eq!(sink.calls, vec!["entry"]);

    let body = vec![bad; 30].join("\n");
    let e = error(camt053(&body).as_bytes());
    assert_eq!(e.problems.len(), MAX_PROBLEMS);
    assert!(e.to_string().ends_with("fix these and send the file again"));
}

#[derive(Default)]
struct Recorder {
    calls: Vec<&'static str>,
    refuse_at: Option<usize>,
}

impl StatementSink for Recorder {
    fn entry(&mut self, _: StatementEntry) -> Result<(), ExtractError> {
        self.calls.push("entry");
        if self.refuse_at == Some(self.calls.len()) {
            return Err(ExtractError::whole("t.xml", "disk full"));
        }
        Ok(())
    }

    fn statement(&mut self, s: BankStatement) -> Result<(), ExtractError> {
        assert!(s.entries.is_empty());
        self.calls.push("statement");
        Ok(())
    }
}

#[test]
fn streaming_hands_entries_before_their_statement_and_stops_when_the_sink_refuses() {
    let bytes = fixture("viafintech-camt_parser/053/valid_example_v4.xml");
    let mut sink = Recorder::default();
    let kind = read_statements(
        std::io::BufReader::with_capacity(64, &bytes[..]),
        "v4.xml",
        Arc::from("h"),
        &mut sink,
        None,
    )
    .unwrap();
    assert_eq!(kind, IsoMessage::Camt053);
    assert_eq!(sink.calls.len(), 33);
    assert_eq!(sink.calls.last(), Some(&"statement"));

    let two = fixture("genkgo-camt/camt053.v2.multi.statement.xml");
    let mut sink = Recorder::default();
    read_statements(&two[..], "t.xml", Arc::from("h"), &mut sink, None).unwrap();
    assert_eq!(sink.calls, vec!["entry", "statement", "entry", "statement"]);
    let mut collect = Collect::default();
    read_statements(&two[..], "t.xml", Arc::from("h"), &mut collect, None).unwrap();
    assert_eq!(
        collect
            .statements
            .iter()
            .map(|s| s.entries.len())
            .collect::<Vec<_>>(),
        vec![1, 1]
    );

    let mut sink = Recorder {
        refuse_at: Some(3),
        ..Default::default()
    };
    let e = read_statements(&bytes[..], "v4.xml", Arc::from("h"), &mut sink, None).unwrap_err();
    assert_eq!(e.to_string(), "t.xml: disk full");
    assert_eq!(sink.calls.len(), 3);

    // A holdings statement is not a bank statement.
    let e = read_statements(
        &fixture("semt002/semt.002.001.10.xml")[..],
        "h.xml",
        Arc::from("h"),
        &mut Collect::default(),
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("<Document> holds <SctiesBalCtdyRpt>, a semt.002 message"),
        "{e}"
    );
}

#[test]
fn encodings_other_than_utf8_are_transcoded() {
    let good = camt053(&ntry(
        "CRDT",
        "",
        "<RmtInf><Ustrd>Gr\u{fc}\u{df}e aus K\u{f6}ln</Ustrd></RmtInf>",
    ));
    // Declared ISO-8859-1.
    let declared = good.replace("UTF-8", "ISO-8859-1");
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&declared);
    // UTF-16LE with a byte-order mark.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(good.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    // UTF-8 with a byte-order mark.
    let bom: Vec<u8> = b"\xEF\xBB\xBF"
        .iter()
        .copied()
        .chain(good.bytes())
        .collect();
    for (name, bytes) in [
        ("latin1", latin1.into_owned()),
        ("utf16", utf16),
        ("bom", bom),
    ] {
        let e = entries(&bytes);
        assert_eq!(e[0].remittance, "Gr\u{fc}\u{df}e aus K\u{f6}ln", "{name}");
        let mut c = Collect::default();
        read_statements(&bytes[..], "t.xml", Arc::from("h"), &mut c, None).unwrap();
        assert_eq!(
            c.statements[0].entries[0].remittance, "Gr\u{fc}\u{df}e aus K\u{f6}ln",
            "{name}"
        );
    }
}

#[test]
fn an_expected_message_is_checked() {
    let bytes = fixture("genkgo-camt/camt053.v8.xml");
    let input = Input {
        name: "s.xml",
        bytes: &bytes,
        file_hash: Arc::from("h"),
    };
    assert!(parse(&input, Some(IsoMessage::Camt053), None).is_ok());
    let e = parse(&input, Some(IsoMessage::Camt052), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.xml: expected a camt.052 message, found camt.053.001.08"
    );
    // Without a namespace, the expected message is taken at its word and checked by the
    // element names.
    let bare = String::from_utf8(bytes).unwrap().replace(
        r#"xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08""#,
        "",
    );
    let input = Input {
        name: "s.xml",
        bytes: bare.as_bytes(),
        file_hash: Arc::from("h"),
    };
    assert_eq!(
        sniff(bare.as_bytes()).map(|s| s.1),
        Some("unknown".to_string())
    );
    assert_eq!(parse(&input, None, None).unwrap().0, IsoMessage::Camt053);
}

#[test]
fn limits_hold_on_hostile_statements() {
    // A remittance line longer than the XML reader accepts.
    let huge = "A".repeat(2 << 20);
    let xml = camt053(&ntry(
        "CRDT",
        "",
        &format!("<RmtInf><Ustrd>{huge}</Ustrd></RmtInf>"),
    ));
    let e = error(xml.as_bytes());
    assert!(e.problems[0].message.contains("longer than"), "{e}");
    // Nesting deeper than the reader accepts.
    let deep = format!("{}{}", "<X>".repeat(100), "</X>".repeat(100));
    let e = error(camt053(&ntry("CRDT", "", &deep)).as_bytes());
    assert!(e.problems[0].message.contains("deeper"), "{e}");
    // An amount with more digits than a decimal holds.
    let e = error(
        camt053(&ntry("CRDT", "", ""))
            .replace(">100.00<", ">123456789012345678901234567890<")
            .as_bytes(),
    );
    assert!(e.problems[0].message.contains("expected an amount"), "{e}");
}

#[test]
fn enveloped_messages_are_read_through_their_envelope() {
    let wrap = |doc: &[u8]| {
        let doc = String::from_utf8(doc.to_vec()).unwrap();
        let body = &doc[doc.find("<Document").unwrap()..];
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<BizMsgEnvlp xmlns="urn:iso:std:iso:20022:tech:xsd:nvlp.001.001.01">
<Hdr><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><Fr><FIId><FinInstnId><BICFI>PBNKDEFFXXX</BICFI></FinInstnId></FIId></Fr><BizMsgIdr>B-1</BizMsgIdr><MsgDefIdr>camt.053.001.08</MsgDefIdr><CreDt>2024-03-31T20:00:00Z</CreDt></AppHdr></Hdr>
<Doc>{body}</Doc>
</BizMsgEnvlp>"#
        )
    };
    let xml = wrap(&fixture("genkgo-camt/camt053.v8.xml"));
    let s = statements(xml.as_bytes());
    assert_eq!((s.len(), s[0].entries.len()), (1, 1));
    assert!(
        s[0].entries[0]
            .source
            .locator
            .as_deref()
            .unwrap()
            .starts_with("BizMsgEnvlp/Doc/Document/BkToCstmrStmt/Stmt/Ntry"),
        "{:?}",
        s[0].entries[0].source.locator
    );
    let xml = wrap(&fixture("semt002/semt.002.001.10.xml"));
    let h = holdings(xml.as_bytes());
    assert_eq!(h[0].positions.len(), 2);
}

#[test]
fn an_endless_text_is_refused_without_reading_it_whole() {
    // 64 MB of remittance text streamed through a small buffer: refused once past the
    // XML reader's limit, not buffered.
    struct Endless {
        head: Vec<u8>,
        sent: usize,
    }
    impl std::io::Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.sent >= 64 << 20 {
                return Ok(0);
            }
            let n = out.len();
            for (i, b) in out.iter_mut().enumerate() {
                *b = self.head.get(self.sent + i).copied().unwrap_or(b'x');
            }
            self.sent += n;
            Ok(n)
        }
    }
    let xml = camt053(&ntry("CRDT", "", "<RmtInf><Ustrd>"));
    let head = xml.as_bytes()[..xml.find("<Ustrd>").unwrap() + 7].to_vec();
    let reader = std::io::BufReader::with_capacity(8192, Endless { head, sent: 0 });
    let e = read_statements(
        reader,
        "t.xml",
        Arc::from("h"),
        &mut Collect::default(),
        None,
    )
    .unwrap_err();
    assert!(
        e.problems[0].message.contains("bytes without markup"),
        "{e}"
    );
    assert_eq!(
        e.problems[0].column.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt/Ntry/NtryDtls/TxDtls/RmtInf/Ustrd")
    );
}

#[test]
fn currency_of_amounts_is_checked() {
    let e = error(
        camt053(&ntry("CRDT", "", ""))
            .replace(r#"Ccy="EUR">100"#, r#"Ccy="EURO">100"#)
            .as_bytes(),
    );
    assert!(
        e.problems[0].message.contains(
            "Ccy of <Amt>: expected a three-letter currency code such as EUR, found \"EURO\""
        ),
        "{e}"
    );
    assert_eq!(
        Currency::from_str("chf").map(|c| c.to_string()),
        Ok("CHF".to_string())
    );
}

/// A camt.052.001.08 intraday report (statuses as `Sts/Cd`) around some entries, with its
/// opening and closing booked balances.
fn camt052_v8(opening: &str, closing: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">
  <BkToCstmrAcctRpt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-31T12:00:00+02:00</CreDtTm></GrpHdr>
    <Rpt>
      <Id>R1</Id>
      <CreDtTm>2026-03-31T12:00:00+02:00</CreDtTm>
      <Acct><Id><IBAN>DE02100100109307118603</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-31</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-31</Dt></Dt></Bal>
{body}
    </Rpt>
  </BkToCstmrAcctRpt>
</Document>
"#
    )
}

/// One credit of `amount` with the entry reference `id` and the given `Sts` content.
fn ntry_with_status(id: &str, amount: &str, sts: &str) -> String {
    format!(
        r#"      <Ntry><NtryRef>{id}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>{sts}</Sts><BookgDt><Dt>2026-03-31</Dt></BookgDt><ValDt><Dt>2026-03-31</Dt></ValDt></Ntry>"#
    )
}

#[test]
fn pending_and_informational_entries_are_shown_but_do_not_reconcile() {
    let body = [
        ntry_with_status("BOOKED", "10.00", "<Cd>BOOK</Cd>"),
        ntry_with_status("PENDING", "500.00", "<Cd>PDNG</Cd>"),
        ntry_with_status("INFO", "7.00", "<Cd>INFO</Cd>"),
        ntry_with_status("EXPECTED", "8.00", "<Cd>FUTR</Cd>"),
        // .001.02–.07 write the code as the element's text.
        ntry_with_status("OLD-STYLE", "3.00", "PDNG"),
        ntry_with_status("ODD", "9.00", "<Prtry>HOLD</Prtry>"),
    ]
    .join("\n");
    let s = &statements(camt052_v8("100.00", "110.00", &body).as_bytes())[0];
    let status: Vec<(&str, EntryStatus)> = s
        .entries
        .iter()
        .map(|e| (e.bank_reference.as_deref().unwrap(), e.status))
        .collect();
    assert_eq!(
        status,
        [
            ("BOOKED", EntryStatus::Booked),
            ("PENDING", EntryStatus::Pending),
            ("INFO", EntryStatus::Info),
            ("EXPECTED", EntryStatus::Pending),
            ("OLD-STYLE", EntryStatus::Pending),
            ("ODD", EntryStatus::Info),
        ]
    );
    // Only the booked line is a record for matching, and only it moves the balance.
    let records: Vec<String> = s.records().map(|r| r.external_id).collect();
    assert_eq!(records, ["BOOKED"]);
    assert_eq!(s.balance_difference(), Some(Decimal::ZERO));
    // The code clerk does not know is named, with where it stands.
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    let p = &s.problems[0];
    assert!(
        p.message
            .contains("expected the entry status BOOK, PDNG or INFO in <Sts>, found \"HOLD\""),
        "{p:?}"
    );
    assert_eq!(
        p.element.as_deref(),
        Some("Document/BkToCstmrAcctRpt/Rpt/Ntry[6]/Sts")
    );
    assert_eq!(p.line, 24);
}

/// A camt.053.001.08 statement of 2026-03-31 with the given `Bal` elements and entries.
fn camt053_v8(period: &str, balances: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-04-01T06:00:00+02:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>S1</Id>
      <ElctrncSeqNb>64</ElctrncSeqNb>
      <CreDtTm>2026-04-01T06:00:00+02:00</CreDtTm>
      {period}
      <Acct><Id><IBAN>DE02100100109307118603</IBAN></Id><Ccy>EUR</Ccy></Acct>
{balances}
{body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#
    )
}

/// A booked balance of type `code`; `extra` holds its `CdtDbtInd` and `Dt`, or not.
fn bal(code: &str, amount: &str, extra: &str) -> String {
    format!(
        r#"      <Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{amount}</Amt>{extra}</Bal>"#
    )
}

#[test]
fn a_balance_without_credit_debit_mark_is_a_credit_noted_and_still_checked() {
    let balances = [
        bal("OPBD", "100.00", "<Dt><Dt>2026-03-31</Dt></Dt>"),
        bal(
            "CLBD",
            "150.00",
            "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-31</Dt></Dt>",
        ),
    ]
    .join("\n");
    let credit = |amount: &str| ntry_with_status("E1", amount, "<Cd>BOOK</Cd>");
    let s = &statements(camt053_v8("", &balances, &credit("50.00")).as_bytes())[0];
    let opening = s.opening.as_ref().unwrap();
    assert_eq!(opening.amount, dec("100.00"));
    assert_eq!(opening.date, day("2026-03-31"));
    assert_eq!(s.balance_difference(), Some(Decimal::ZERO));
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    let p = &s.problems[0];
    assert_eq!(
        p.message,
        "the OPBD balance has no <CdtDbtInd>: read as a credit balance of 100.00 EUR"
    );
    assert_eq!(
        p.element.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt/Bal")
    );
    assert_eq!(p.line, 11);
    // Read as a credit, the statement is still checked: 100 + 40 is not 150.
    let s = &statements(camt053_v8("", &balances, &credit("40.00")).as_bytes())[0];
    assert_eq!(s.balance_difference(), Some(dec("-10.00")));
}

#[test]
fn a_balance_without_date_is_of_the_statements_day_for_it() {
    let mark = "<CdtDbtInd>CRDT</CdtDbtInd>";
    let balances = [bal("OPBD", "100.00", mark), bal("CLBD", "100.00", mark)].join("\n");
    let period = "<FrToDt><FrDtTm>2026-03-30T00:00:00+02:00</FrDtTm><ToDtTm>2026-03-31T23:59:59+02:00</ToDtTm></FrToDt>";
    let dates = |period: &str| {
        let s = &statements(camt053_v8(period, &balances, "").as_bytes())[0];
        let (o, c) = (s.opening.as_ref().unwrap(), s.closing.as_ref().unwrap());
        (o.date, c.date, s.problems.clone())
    };
    // The opening balance is of the start of the period, the closing one of its end.
    let (opening, closing, problems) = dates(period);
    assert_eq!((opening, closing), (day("2026-03-30"), day("2026-03-31")));
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "the OPBD balance has no <Dt>: read as of 2026-03-30, the statement's day for it",
            "the CLBD balance has no <Dt>: read as of 2026-03-31, the statement's day for it",
        ]
    );
    assert_eq!(
        problems[1].element.as_deref(),
        Some("Document/BkToCstmrStmt/Stmt/Bal[2]")
    );
    // Dates without times read alike.
    let (opening, closing, _) =
        dates("<FrToDt><FrDt>2026-03-30</FrDt><ToDt>2026-03-31</ToDt></FrToDt>");
    assert_eq!((opening, closing), (day("2026-03-30"), day("2026-03-31")));
    // Without a period: the day the statement was made.
    let (opening, closing, _) = dates("");
    assert_eq!((opening, closing), (day("2026-04-01"), day("2026-04-01")));
    // With no day at all to take, the file is refused naming the balance.
    let xml = camt053_v8("", &balances, "").replace(
        "<CreDtTm>2026-04-01T06:00:00+02:00</CreDtTm>\n      \n",
        "\n",
    );
    let e = error(xml.as_bytes());
    assert!(
        e.problems[0]
            .message
            .contains("expected <Dt> in the OPBD balance, found none"),
        "{e}"
    );
}

#[test]
fn returns_and_reversals_name_the_party_that_is_not_us() {
    // The statement's account is DE02100100109307118603 (see `camt053`).
    let us = r#"<Cdtr><Nm>Our Company</Nm></Cdtr><CdtrAcct><Id><IBAN>DE02 1001 0010 9307 1186 03</IBAN></Id></CdtrAcct>"#;
    let customer = r#"<Dbtr><Nm>Customer Ltd</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>"#;
    let utility = r#"<Cdtr><Nm>Stadtwerke</Nm></Cdtr><CdtrAcct><Id><IBAN>DE75512108001245126199</IBAN></Id></CdtrAcct>"#;
    let utility_as_debtor = r#"<Dbtr><Nm>Stadtwerke</Nm></Dbtr>"#;
    let unpaid = "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>";
    // (what, CdtDbtInd, entry extras, related parties, counterparty, its IBAN)
    let table = [
        // A direct debit we collected comes back unpaid: money goes out, the bank keeps the
        // collection's parties (the customer as debtor, us as creditor), with the reversal
        // flag or only the return's code. Either way the customer is the counterparty.
        (
            "return flagged as reversal",
            "DBIT",
            "<RvslInd>true</RvslInd>",
            format!("{customer}{us}"),
            Some("Customer Ltd"),
            Some("DE89370400440532013000"),
        ),
        (
            "return without the flag",
            "DBIT",
            unpaid,
            format!("{customer}{us}"),
            Some("Customer Ltd"),
            Some("DE89370400440532013000"),
        ),
        // A direct debit collected from us is refunded: money comes back, reversing a debit
        // whose creditor was the utility. A bank naming only the utility, as creditor or as
        // the debtor of the refund, names the counterparty either way.
        (
            "refund naming the creditor",
            "CRDT",
            "<RvslInd>true</RvslInd>",
            utility.to_string(),
            Some("Stadtwerke"),
            Some("DE75512108001245126199"),
        ),
        (
            "refund naming the debtor",
            "CRDT",
            "<RvslInd>true</RvslInd>",
            utility_as_debtor.to_string(),
            Some("Stadtwerke"),
            None,
        ),
        // A storno of an incoming payment whose bank gives only the original creditor.
        (
            "storno naming only the creditor",
            "DBIT",
            "<RvslInd>true</RvslInd>",
            utility.to_string(),
            Some("Stadtwerke"),
            Some("DE75512108001245126199"),
        ),
        // Only our own account given: kept, never lost.
        (
            "only us",
            "DBIT",
            "",
            us.to_string(),
            Some("Our Company"),
            Some("DE02 1001 0010 9307 1186 03"),
        ),
    ];
    for (what, ind, extra, parties, name, iban) in table {
        let details = format!("<RltdPties>{parties}</RltdPties>");
        let e = &entries(camt053(&ntry(ind, extra, &details)).as_bytes())[0];
        assert_eq!(
            (
                e.details.counterparty_name.as_deref(),
                e.details.counterparty_iban.as_deref()
            ),
            (name, iban),
            "{what}"
        );
        // The record for matching names it too.
        let s = &statements(camt053(&ntry(ind, extra, &details)).as_bytes())[0];
        assert_eq!(
            s.records().next().unwrap().counterparty.as_deref(),
            name,
            "{what}"
        );
    }
}

#[test]
fn booking_times_in_utc_fall_on_the_accounts_day_and_a_missing_value_date_is_marked_derived() {
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let read_in = |dates: &str, zone: Option<chrono_tz::Tz>| {
        let xml = camt053(&format!(
            r#"<Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>{dates}</Ntry>"#
        ));
        let input = Input {
            name: "t.xml",
            bytes: xml.as_bytes(),
            file_hash: Arc::from("h"),
        };
        match parse(&input, None, zone).unwrap().1 {
            IsoDocument::Statements(s) => s[0].entries[0].clone(),
            other => panic!("{other:?}"),
        }
    };
    let late = "<BookgDt><DtTm>2026-03-31T23:30:00Z</DtTm></BookgDt>";
    // Half past eleven UTC on 31 March is 1 April in Berlin: the account's day, not the cut.
    let e = read_in(late, Some(berlin));
    assert_eq!(e.booking_date, Some(day("2026-04-01")));
    // The bank gave no value date: the booking date stands in, and says so.
    assert_eq!(e.value_date, day("2026-04-01"));
    assert!(e.value_date_derived);
    // A time with the bank's own offset is the same instant, on the same day.
    let e = read_in(
        "<BookgDt><DtTm>2026-04-01T01:30:00+02:00</DtTm></BookgDt>",
        Some(berlin),
    );
    assert_eq!(e.booking_date, Some(day("2026-04-01")));
    let e = read_in(
        "<BookgDt><DtTm>2026-03-31T23:30:00+02:00</DtTm></BookgDt><ValDt><DtTm>2026-03-31T22:30:00Z</DtTm></ValDt>",
        Some(berlin),
    );
    assert_eq!(e.booking_date, Some(day("2026-03-31")));
    assert_eq!(e.value_date, day("2026-04-01"));
    assert!(!e.value_date_derived);
    // Without the account's time zone the date is read as written.
    let e = read_in(late, None);
    assert_eq!(e.booking_date, Some(day("2026-03-31")));

    // The zone comes from the job's [extract] settings, else the daemon's time zone.
    let spec = |text: &str| toml::from_str::<crate::extract::ExtractSpec>(text).unwrap();
    let layout = spec("timezone = \"Europe/Berlin\"")
        .check(crate::model::Side::Statement)
        .unwrap();
    let xml = camt053(&format!(
        r#"<Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>{late}</Ntry>"#
    ));
    let input = Input {
        name: "t.xml",
        bytes: xml.as_bytes(),
        file_hash: Arc::from("h"),
    };
    let x = crate::extract::extract(&layout, &input).unwrap();
    assert_eq!(
        x.statements[0].entries[0].booking_date,
        Some(day("2026-04-01"))
    );
    let layout = spec("")
        .check(crate::model::Side::Statement)
        .unwrap()
        .with_default_timezone("America/New_York".parse().unwrap());
    let x = crate::extract::extract(&layout, &input).unwrap();
    assert_eq!(
        x.statements[0].entries[0].booking_date,
        Some(day("2026-03-31"))
    );
    let e = spec("timezone = \"Mars/Olympus\"")
        .check(crate::model::Side::Statement)
        .unwrap_err();
    assert_eq!(e.key, "extract.timezone");
    assert!(
        e.message.contains("unknown time zone \"Mars/Olympus\""),
        "{e}"
    );
}

#[test]
fn nonref_and_notprovided_are_no_reference_in_any_case() {
    let refs = |e2e: &str, instr: &str| {
        let details = format!("<Refs>{instr}<EndToEndId>{e2e}</EndToEndId></Refs>");
        let e = entries(camt053(&ntry("CRDT", "", &details)).as_bytes()).remove(0);
        (e.details.end_to_end_id, e.reference)
    };
    for none in ["NOTPROVIDED", "NotProvided", "NONREF", "nonref", " NonRef "] {
        assert_eq!(refs(none, ""), (None, None), "{none:?}");
        // The instruction id is the reference then, as without an end-to-end id.
        assert_eq!(
            refs(none, "<InstrId>INSTR-1</InstrId>"),
            (None, Some("INSTR-1".to_string())),
            "{none:?}"
        );
    }
    assert_eq!(
        refs("NONREF-42", ""),
        (Some("NONREF-42".to_string()), Some("NONREF-42".to_string()))
    );
    // A batch's payment information id of NONREF is none either.
    let xml = camt053(
        r#"<Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><ValDt><Dt>2024-03-29</Dt></ValDt>
        <NtryDtls><Btch><PmtInfId>NONREF</PmtInfId><NbOfTxs>3</NbOfTxs></Btch></NtryDtls></Ntry>"#,
    );
    assert_eq!(entries(xml.as_bytes())[0].reference, None);
}

#[test]
fn an_iban_with_wrong_check_digits_is_kept_as_written_and_named() {
    // DE89370400440532013000 is valid; its last digit changed, it is not.
    let parties = r#"<RltdPties><Dbtr><Nm>Payer GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>DE89 3704 0044 0532 0130 01</IBAN></Id></DbtrAcct>
      <Cdtr><Nm>Payee AG</Nm></Cdtr><CdtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN></Id></CdtrAcct></RltdPties>"#;
    let xml = camt053(&ntry("CRDT", "", parties))
        .replace("DE02100100109307118603", "DE02100100109307118604");
    let s = &statements(xml.as_bytes())[0];
    assert_eq!(s.account, "DE02100100109307118604");
    assert_eq!(
        s.entries[0].details.counterparty_iban.as_deref(),
        Some("DE89 3704 0044 0532 0130 01")
    );
    let got: Vec<(&str, &str)> = s
        .problems
        .iter()
        .map(|p| (p.element.as_deref().unwrap(), p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "Document/BkToCstmrStmt/Stmt/Acct/Id/IBAN",
                "the IBAN DE02100100109307118604 of <Acct> has wrong check digits: kept as written"
            ),
            (
                "Document/BkToCstmrStmt/Stmt/Ntry/NtryDtls/TxDtls/RltdPties/DbtrAcct/Id/IBAN",
                "the IBAN DE89 3704 0044 0532 0130 01 of <DbtrAcct> has wrong check digits: kept as written"
            ),
        ]
    );
}
