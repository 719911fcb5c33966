//! Unit tests of the SWIFT readers: table-driven where the cases are alike. Fixtures are in
//! `tests/fixtures/swift/` (see its README for origins and licences).

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::cash::line61;
use super::*;
use crate::extract::sink::StatementSink;
use crate::model::securities::{Direction, QuantityKind};
use crate::model::statement::{EntryStatus, StatementEntry, StatementKind};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(y: i32, m: u32, dd: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, dd).unwrap()
}

/// Reads a file; a cut-short last message is reported apart (see [`read_cut`]).
fn run(bytes: &[u8], expected: Option<MtType>) -> Result<(MtType, MtDocument), ExtractError> {
    read_cut(bytes, expected).map(|f| (f.ty, f.doc))
}

fn read_cut(bytes: &[u8], expected: Option<MtType>) -> Result<MtFile, ExtractError> {
    parse(
        &Input {
            name: "test.sta",
            bytes,
            file_hash: "hash".into(),
        },
        expected,
    )
}

fn statements(text: &str) -> Vec<BankStatement> {
    match read_cut(text.as_bytes(), None) {
        Ok(MtFile {
            doc: MtDocument::Statements(s),
            cut_short: None,
            ..
        }) => s,
        Ok(other) => panic!("not statements: {other:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn error(bytes: &[u8]) -> ExtractError {
    match run(bytes, None) {
        Ok(doc) => panic!("read: {doc:?}"),
        Err(e) => e,
    }
}

fn fixture(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/swift")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A one-entry MT940 around a `:61:` (and optional `:86:`) line.
fn mt940_with(line61: &str, info: Option<&str>) -> String {
    let mut s =
        String::from(":20:REF\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C251230EUR100,\n");
    s.push_str(&format!(":61:{line61}\n"));
    if let Some(i) = info {
        s.push_str(&format!(":86:{i}\n"));
    }
    s.push_str(":62F:C251231EUR100,\n-\n");
    s
}

fn only_entry(text: &str) -> StatementEntry {
    let s = statements(text);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].entries.len(), 1);
    s[0].entries[0].clone()
}

#[test]
fn statement_line_variants() {
    // (line, value date, entry date, signed amount, funds code, type, customer ref, bank ref,
    //  supplementary)
    type Row<'a> = (
        &'a str,
        NaiveDate,
        Option<NaiveDate>,
        &'a str,
        Option<char>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let rows: &[Row] = &[
        // A space between the amount and the transaction type.
        (
            "2603020302C1234,56 NTRFNONREF//B7C3",
            day(2026, 3, 2),
            Some(day(2026, 3, 2)),
            "1234.56",
            None,
            Some("NTRF"),
            Some("NONREF"),
            Some("B7C3"),
            None,
        ),
        // An amount without a decimal comma: whole units.
        (
            "260302D500NMSCREF-1//B8",
            day(2026, 3, 2),
            None,
            "-500",
            None,
            Some("NMSC"),
            Some("REF-1"),
            Some("B8"),
            None,
        ),
        // Entry date present, bank reference.
        (
            "1409010902D1,62NTRF0000549855700010//025498557/000001",
            day(2014, 9, 1),
            Some(day(2014, 9, 2)),
            "-1.62",
            None,
            Some("NTRF"),
            Some("0000549855700010"),
            Some("025498557/000001"),
            None,
        ),
        // No entry date, no bank reference.
        (
            "100722C25,03NMSCNONREF",
            day(2010, 7, 22),
            None,
            "25.03",
            None,
            Some("NMSC"),
            Some("NONREF"),
            None,
            None,
        ),
        // Year rollover: value date 10 January, booked 24 December of the year before.
        (
            "1401101224CR1,62NTRFREF1//B1",
            day(2014, 1, 10),
            Some(day(2013, 12, 24)),
            "1.62",
            Some('R'),
            Some("NTRF"),
            Some("REF1"),
            Some("B1"),
            None,
        ),
        // And the other way: value date 24 December, booked 2 January.
        (
            "1412240102C1,62NTRFREF2",
            day(2014, 12, 24),
            Some(day(2015, 1, 2)),
            "1.62",
            None,
            Some("NTRF"),
            Some("REF2"),
            None,
            None,
        ),
        // Reversal of a credit: money goes out again.
        (
            "1409010902RCR1,62NTRFX//Y",
            day(2014, 9, 1),
            Some(day(2014, 9, 2)),
            "-1.62",
            Some('R'),
            Some("NTRF"),
            Some("X"),
            Some("Y"),
            None,
        ),
        // Reversal of a debit: money comes back.
        (
            "140901RD5,NCHKNONREF",
            day(2014, 9, 1),
            None,
            "5",
            None,
            Some("NCHK"),
            Some("NONREF"),
            None,
            None,
        ),
        // Funds code D after a debit mark, amount with one decimal, S-type, supplementary line.
        (
            "1203290329DD20000,5S103CUST      //6128522200250001\nBENEFICIARY INFO",
            day(2012, 3, 29),
            Some(day(2012, 3, 29)),
            "-20000.5",
            Some('D'),
            Some("S103"),
            Some("CUST"),
            Some("6128522200250001"),
            Some("BENEFICIARY INFO"),
        ),
        // Amount ",5".
        (
            "221205C,32NDIV2521//R2",
            day(2022, 12, 5),
            None,
            "0.32",
            None,
            Some("NDIV"),
            Some("2521"),
            Some("R2"),
            None,
        ),
        // ING pads its two-letter codes.
        (
            "100722D3,03NOV NONREF",
            day(2010, 7, 22),
            None,
            "-3.03",
            None,
            Some("NOV"),
            Some("NONREF"),
            None,
            None,
        ),
        // Missing customer reference (read as none).
        (
            "170914D233,15NMSC",
            day(2017, 9, 14),
            None,
            "-233.15",
            None,
            Some("NMSC"),
            None,
            None,
            None,
        ),
        // No type and no reference (Zenith Bank).
        (
            "2011301130CN220000,00//19239782213",
            day(2020, 11, 30),
            Some(day(2020, 11, 30)),
            "220000.00",
            Some('N'),
            None,
            None,
            Some("19239782213"),
            None,
        ),
        // A reference longer than the standard's 16 characters (ASN writes the counterparty's
        // IBAN there): kept whole.
        (
            "2001010101D65,00NOVBNL47INGB9999999999",
            day(2020, 1, 1),
            Some(day(2020, 1, 1)),
            "-65.00",
            None,
            Some("NOVB"),
            Some("NL47INGB9999999999"),
            None,
            None,
        ),
        // The same before a bank reference.
        (
            "260305C1200,00NTRFRECHNUNG-2026-000117//B17",
            day(2026, 3, 5),
            None,
            "1200.00",
            None,
            Some("NTRF"),
            Some("RECHNUNG-2026-000117"),
            Some("B17"),
            None,
        ),
        // Rabobank: the counterparty's name after a reference padded to 16 characters.
        (
            "110527D000000001213,28N0440121470966      W.P. Jansen",
            day(2011, 5, 27),
            None,
            "-1213.28",
            None,
            Some("N044"),
            Some("0121470966"),
            None,
            Some("W.P. Jansen"),
        ),
    ];
    for &(line, vd, ed, amount, funds, ty, cref, bref, supp) in rows {
        let l = line61(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(l.value_date, vd, "{line}");
        assert_eq!(l.entry_date, ed, "{line}");
        assert_eq!(l.signed_amount(), d(amount), "{line}");
        assert_eq!(l.funds_code, funds, "{line}");
        assert_eq!(l.transaction_type, ty, "{line}");
        assert_eq!(l.customer_reference, cref, "{line}");
        assert_eq!(l.bank_reference, bref, "{line}");
        assert_eq!(l.supplementary, supp, "{line}");
    }
}

#[test]
fn customer_references_longer_than_16_characters_stay_apart() {
    let text = format!(
        "{}:61:260305C1200,00NTRFRECHNUNG-2026-000117\n:61:260305C800,00NTRFRECHNUNG-2026-000118\n:62F:C251231EUR2100,\n",
        mt940_with("251230C0,NTRFNONREF", None).replace(":62F:C251231EUR100,\n-\n", "")
    );
    let s = statements(&text);
    let refs: Vec<Option<&str>> = s[0].entries[1..]
        .iter()
        .map(|e| e.reference.as_deref())
        .collect();
    assert_eq!(
        refs,
        [Some("RECHNUNG-2026-000117"), Some("RECHNUNG-2026-000118")]
    );
    assert_eq!(
        s[0].entries[1].remittance, "",
        "nothing cut off into the text"
    );
}

#[test]
fn no_reference_in_any_case_and_wrong_iban_check_digits_kept() {
    // NONREF in other cases, NOTPROVIDED: no reference, and none taken from :86: either.
    for line in [
        "260305C1,NTRFnonref",
        "260305C1,NTRFNonRef//B1",
        "260305C1,NTRFNOTPROVIDED//B1",
        "260305C1,nonref",
    ] {
        let e = only_entry(&mt940_with(
            line,
            Some("166?00GUTSCHRIFT?20EREF+NOTPROVIDED?21SVWZ+Miete"),
        ));
        assert_eq!(e.reference, None, "{line}");
        assert_eq!(e.details.end_to_end_id, None, "{line}");
        assert_eq!(e.details.purpose.as_deref(), Some("Miete"), "{line}");
    }
    let e = only_entry(&mt940_with(
        "260305C1,NTRFNONREF",
        Some("EREF+notprovided SVWZ+Miete"),
    ));
    assert_eq!(e.reference, None);

    // A counterparty IBAN with a wrong check digit (…51 written …52) is kept as written:
    // the daemon reports it instead of losing the counterparty's account.
    for (info, supplementary) in [
        (
            "166?00GUTSCHRIFT?20SVWZ+Miete?31DE02120300000000202052?32MIETER",
            None,
        ),
        (
            "/TRTP/SEPA OVERBOEKING/IBAN/DE02 1203 0000 0000 2020 52/NAME/MIETER/REMI/Miete",
            None,
        ),
        ("EREF+E1 IBAN+DE02120300000000202052 SVWZ+Miete", None),
        ("Miete", Some("DE02120300000000202052")),
    ] {
        let line = match supplementary {
            Some(s) => format!("260305C1,NTRFNONREF\n{s}"),
            None => "260305C1,NTRFNONREF".to_owned(),
        };
        let e = only_entry(&mt940_with(&line, Some(info)));
        assert_eq!(
            e.details.counterparty_iban.as_deref(),
            Some("DE02120300000000202052"),
            "{info}"
        );
    }
    // Text that is not an IBAN stays none.
    let e = only_entry(&mt940_with(
        "260305C1,NTRFNONREF\nEG12 PAYMENT FOR GOODS",
        Some("Miete"),
    ));
    assert_eq!(e.details.counterparty_iban, None);
}

#[test]
fn statement_line_errors_say_what_was_expected() {
    for (line, want) in [
        (
            "25133C1,NTRF",
            "expected a value date YYMMDD, found \"25133\"",
        ),
        (
            "160230D6,00N024NONREF",
            "expected a value date YYMMDD, found \"160230\"",
        ),
        (
            "1601301330D6,00N024NONREF",
            "expected an entry date MMDD, found \"1330\"",
        ),
        (
            "160130X6,00N024NONREF",
            "expected the debit/credit mark C, D, RC or RD",
        ),
        (
            "160130D,N024NONREF",
            "expected an amount with a decimal comma such as 1234,56, found \",\"",
        ),
        ("160130D6,00X024NONREF", "expected the transaction type"),
    ] {
        let e = line61(line).unwrap_err();
        assert!(e.contains(want), "{line}: {e}");
    }
}

#[test]
fn entries_carry_sign_dates_references_and_source() {
    let e = only_entry(&mt940_with(
        "2512301230RC100,NTRFNONREF//BANK1",
        Some("166?00GUTSCHRIFT?20EREF+E2E-1?21SVWZ+Invoice 42?32ACME GMBH"),
    ));
    assert_eq!(e.amount, d("-100"));
    assert!(e.reversal);
    assert_eq!(e.currency.as_str(), "EUR");
    assert_eq!(e.value_date, day(2025, 12, 30));
    assert_eq!(e.booking_date, Some(day(2025, 12, 30)));
    assert_eq!(e.transaction_code.as_deref(), Some("NTRF"));
    // NONREF: the end-to-end id is the reference.
    assert_eq!(e.reference.as_deref(), Some("E2E-1"));
    assert_eq!(e.bank_reference.as_deref(), Some("BANK1"));
    assert_eq!(e.remittance, "EREF+E2E-1 SVWZ+Invoice 42");
    assert_eq!(e.details.purpose.as_deref(), Some("Invoice 42"));
    assert_eq!(e.details.counterparty_name.as_deref(), Some("ACME GMBH"));
    assert_eq!(e.status, EntryStatus::Booked);
    assert_eq!(e.source.row, 5);
    assert_eq!(e.source.locator.as_deref(), Some("message 1, :61: #1"));
    assert_eq!(&*e.source.file, "hash");

    // A customer reference wins; NOTPROVIDED is no end-to-end id.
    let e = only_entry(&mt940_with(
        "251230C1,NTRFINV-7",
        Some("/EREF/NOTPROVIDED/REMI/x"),
    ));
    assert_eq!(e.reference.as_deref(), Some("INV-7"));
    let e = only_entry(&mt940_with(
        "251230C1,NTRFNONREF",
        Some("/EREF/NOTPROVIDED/REMI/x"),
    ));
    assert_eq!(e.reference, None);
    assert_eq!(e.details.end_to_end_id, None);
}

#[test]
fn remittance_joins_wrapped_lines_and_repeated_fields() {
    // ABN AMRO fills its lines (64 characters) and wraps inside the payment reference; an
    // old Rabobank export writes a second :86:.
    let text = ":20:R\n:25:1\n:60F:C251230EUR1,\n:61:251230C1,NTRFNONREF\n\
                :86:GIRO   428428 KPN - DIGITENNE    BETALINGSKENM.  000000042188659\n\
                5314606715 BETREFT\n:86:  SECOND  \n:62F:C251230EUR2,\n";
    let e = only_entry(text);
    assert_eq!(
        e.remittance,
        "GIRO   428428 KPN - DIGITENNE    BETALINGSKENM.  0000000421886595314606715 BETREFT SECOND"
    );
    // Without :86:, the supplementary details are the text (MT950).
    let e = only_entry(&mt940_with("251230C1,NTRFNONREF\nFAVOUR K. DESMID", None));
    assert_eq!(e.remittance, "FAVOUR K. DESMID");
    // Rabobank's counterparty IBAN in the supplementary line.
    let e = only_entry(&mt940_with(
        "251230D1,N102EREF\nNL91ABNA0417164300",
        Some("/EREF/02-04-2013 22:56 1120000153447185/BENM//NAME/Nespresso"),
    ));
    assert_eq!(
        e.details.counterparty_iban.as_deref(),
        Some("NL91ABNA0417164300")
    );
    assert_eq!(
        e.reference.as_deref(),
        Some("02-04-2013 22:56 1120000153447185")
    );
}

#[test]
fn remittance_lines_joined_as_the_format_means_them() {
    // (the :86: value as written, remittance, purpose)
    let cases: &[(&str, &str, Option<&str>)] = &[
        // Free text broken on purpose (shorter lines): words stay apart.
        (
            "RECHNUNG 4711 VOM 02.03.2026\nKUNDE AG MUSTERSTADT\nKDNR 0815",
            "RECHNUNG 4711 VOM 02.03.2026 KUNDE AG MUSTERSTADT KDNR 0815",
            None,
        ),
        // Free text filled to the standard's 65 characters and wrapped mid-word; the short
        // last-but-one line is a deliberate break.
        (
            "GIRO AUS ONLINE-SIC 80701 AUFTRAGGEBER: MAXI MUSTERMANN MUSTERSTR\n\
             ASSE 111 8000 ZUERICH MITTEILUNGEN: RECHNUNG 2026-0042\nDANKE",
            "GIRO AUS ONLINE-SIC 80701 AUFTRAGGEBER: MAXI MUSTERMANN MUSTERSTRASSE 111 8000 ZUERICH MITTEILUNGEN: RECHNUNG 2026-0042 DANKE",
            None,
        ),
        // A fixed width of 35 that two lines fill (the second wrap splits a date).
        (
            "CAB18D1700041116\nHUNGARY KFT.\nUV, NAPI OSSZESITETT UTALAS 2026.03\n.17, A13947109202603175000000097, X",
            "CAB18D1700041116 HUNGARY KFT. UV, NAPI OSSZESITETT UTALAS 2026.03.17, A13947109202603175000000097, X",
            None,
        ),
        // German subfields: concatenated across the breaks, whatever the lines' lengths.
        (
            "166?00GUTSCHRIFT?20SVWZ+RECHNUNG 47\n11 VOM 02.03.2026?32KUNDE AG",
            "SVWZ+RECHNUNG 4711 VOM 02.03.2026",
            Some("RECHNUNG 4711 VOM 02.03.2026"),
        ),
        // Slash keywords: concatenated too.
        (
            "/TRTP/SEPA OVERBOEKING/NAME/KLANT BV/REMI/FACTUUR 20\n26-0042/EREF/E2E-9",
            "/TRTP/SEPA OVERBOEKING/NAME/KLANT BV/REMI/FACTUUR 2026-0042/EREF/E2E-9",
            Some("FACTUUR 2026-0042"),
        ),
    ];
    for &(info, remittance, purpose) in cases {
        let e = only_entry(&mt940_with("251230C1,NTRFNONREF", Some(info)));
        assert_eq!(e.remittance, remittance, "{info}");
        if purpose.is_some() {
            assert_eq!(e.details.purpose.as_deref(), purpose, "{info}");
        }
    }
}

#[test]
fn german_subfields_give_the_decoded_purpose_as_remittance() {
    // A SEPA direct debit as a Sparkasse writes it: purpose in ?20-?29 and, past ?29, in
    // ?60-?63 (here ?60 written before ?29, which some banks do), counterparty in ?30-?33.
    let info = "105?00SEPA-BASISLASTSCHRIFT?100001?20EREF+STROM-2026-03-4711\n\
                ?21MREF+M-000123?22CRED+DE98ZZZ09999999999\n\
                ?23SVWZ+Abschlag Maerz 2026 Ve?24rtragskonto 4711 Zaehler 12\n\
                ?2534 Abnahmestelle Musterstr?26asse 1, 12345 Musterstadt\n\
                ?27 Kundennummer 0815 Faellig?28 am 15.03.2026 Betrag 89,0\n\
                ?60lung?290 EUR, Danke fuer Ihre Zah\n\
                ?30WELADED1MST?31DE02120300000000202051?32Stadtwerke Muster?33stadt GmbH?34992";
    let e = only_entry(&mt940_with("260302D89,00NDDTNONREF", Some(info)));
    let purpose = "Abschlag Maerz 2026 Vertragskonto 4711 Zaehler 1234 Abnahmestelle \
                   Musterstrasse 1, 12345 Musterstadt Kundennummer 0815 Faellig am 15.03.2026 \
                   Betrag 89,00 EUR, Danke fuer Ihre Zahlung";
    assert_eq!(
        e.remittance,
        format!("EREF+STROM-2026-03-4711 MREF+M-000123 CRED+DE98ZZZ09999999999 SVWZ+{purpose}")
    );
    assert!(!e.remittance.contains('?'), "no subfield codes");
    let x = &e.details;
    assert_eq!(x.purpose_code.as_deref(), Some("105"));
    assert_eq!(x.end_to_end_id.as_deref(), Some("STROM-2026-03-4711"));
    assert_eq!(e.reference.as_deref(), Some("STROM-2026-03-4711"));
    assert_eq!(x.mandate_id.as_deref(), Some("M-000123"));
    assert_eq!(x.creditor_id.as_deref(), Some("DE98ZZZ09999999999"));
    assert_eq!(x.purpose.as_deref(), Some(purpose));
    assert_eq!(x.counterparty_bic.as_deref(), Some("WELADED1MST"));
    assert_eq!(
        x.counterparty_iban.as_deref(),
        Some("DE02120300000000202051")
    );
    assert_eq!(
        x.counterparty_name.as_deref(),
        Some("Stadtwerke Musterstadt GmbH")
    );

    // The `>` variant (same layout), a plain purpose without keywords.
    let e = only_entry(&mt940_with(
        "260302C12,50NTRFNONREF",
        Some("166>00GUTSCHRIFT>20RECHNUNG 2026-0117 KUNDE>21NR 4711>32KUNDE AG"),
    ));
    assert_eq!(e.remittance, "RECHNUNG 2026-0117 KUNDENR 4711");
    assert_eq!(
        e.details.purpose.as_deref(),
        Some("RECHNUNG 2026-0117 KUNDENR 4711")
    );
    assert_eq!(e.details.purpose_code.as_deref(), Some("166"));
    assert_eq!(e.details.counterparty_name.as_deref(), Some("KUNDE AG"));

    // No purpose subfield at all: the posting text says what the line is.
    let e = only_entry(&mt940_with(
        "260331D3,50NCHGNONREF",
        Some("805?00ABSCHLUSS ENTGELT?100001"),
    ));
    assert_eq!(e.remittance, "ABSCHLUSS ENTGELT");
    assert_eq!(e.details.purpose, None);
}

#[test]
fn multi_message_files_with_and_without_headers_and_any_line_end() {
    let body =
        ":20:A\n:25:BLZ/1\n:28C:1\n:60F:C250101EUR0,\n:61:250102C5,NTRFNONREF\n:62F:C250102EUR5,\n";
    let bare = format!("{body}-\n\n{}", body.replace(":20:A", ":20:B"));
    let headered = format!(
        "{{1:F01BANKDEFFAXXX0000000000}}{{2:I940CLIENTXXXXXXN}}{{4:\n{body}-}}{{5:{{CHK:1}}}}\n{{1:F01BANKDEFFAXXX0000000000}}{{2:I940CLIENTXXXXXXN}}{{4:\n{}-}}\n",
        body.replace(":20:A", ":20:B")
    );
    // Bare messages one after the other with no `-` at all.
    let unterminated = format!("{body}{}", body.replace(":20:A", ":20:B"));
    for (what, text) in [
        ("bare", bare.clone()),
        ("headers", headered.clone()),
        ("no terminators", unterminated),
        ("CRLF", bare.replace('\n', "\r\n")),
        ("CR", bare.replace('\n', "\r")),
        (
            "junk lines",
            format!("ABNANL2A\n940\nABNANL2A\n{bare}\n$\n"),
        ),
        (
            "$ separators",
            format!("{body}${}$", body.replace(":20:A", ":20:B")),
        ),
    ] {
        let s = statements(&text);
        assert_eq!(s.len(), 2, "{what}");
        assert_eq!(s[0].statement_id.as_deref(), Some("A"), "{what}");
        assert_eq!(s[1].statement_id.as_deref(), Some("B"), "{what}");
        assert_eq!(s[1].entries.len(), 1, "{what}");
        assert_eq!(s[1].entries[0].amount, d("5"), "{what}");
        assert_eq!(s[0].kind, StatementKind::EndOfDay);
        assert_eq!(s[0].balance_difference(), Some(Decimal::ZERO));
    }
    let s = statements(&headered);
    assert_eq!(s[0].servicer_bic.as_deref(), Some("BANKDEFF"));
    assert_eq!(s[0].source.row, 1);
    assert_eq!(s[1].source.locator.as_deref(), Some("message 2"));
    assert_eq!(s[1].entries[0].source.row, 14);
    // A trailer on its own line is not the next message's start.
    let s = statements(&headered.replace("-}{5:", "-}\n{5:"));
    assert_eq!(s[1].source.row, 10);
    let s = statements(&bare.replace('\n', "\r"));
    assert_eq!(s[1].entries[0].source.row, 13, "line numbers with lone CR");
}

#[test]
fn latin1_and_utf8_text() {
    let text = mt940_with("251230C1,NTRFNONREF", Some("M\u{fc}ller \u{df}"));
    let e = only_entry(&text);
    assert_eq!(e.remittance, "Müller ß");
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let e = only_entry(std::str::from_utf8(&latin1).unwrap_or(&text));
    assert_eq!(e.remittance, "Müller ß");
    match run(&latin1, None) {
        Ok((_, MtDocument::Statements(s))) => assert_eq!(s[0].entries[0].remittance, "Müller ß"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn account_field_forms() {
    for (field, account, bic, ccy) in [
        (
            "DE89370400440532013000",
            "DE89370400440532013000",
            None,
            "EUR",
        ),
        ("51210600/9223382012EUR", "51210600/9223382012", None, "EUR"),
        (
            "0800003200000001610722 EUR",
            "0800003200000001610722",
            None,
            "EUR",
        ),
        (
            "ABCDEFGHXXX/12345678",
            "12345678",
            Some("ABCDEFGHXXX"),
            "EUR",
        ),
        (
            "UBRTHUHB/123456789150ABCDEF002/HUF",
            "123456789150ABCDEF002",
            Some("UBRTHUHB"),
            "EUR",
        ),
    ] {
        let text = format!(":20:R\n:25:{field}\n:60F:C250101EUR0,\n:62F:C250101EUR0,\n");
        let s = statements(&text);
        assert_eq!(s[0].account, account, "{field}");
        assert_eq!(s[0].servicer_bic.as_deref(), bic, "{field}");
        assert_eq!(s[0].currency.map(|c| c.to_string()).as_deref(), Some(ccy));
    }
}

/// A FinTS/HBCI account download (as German banks serve it, CRLF, no FIN blocks): the booked
/// MT940 statements of the last days, then one MT942 interim report of today so far.
const FINTS_DOWNLOAD: &str = "\
:20:STARTUMSE\r
:25:10020030/1234567890\r
:28C:00041/001\r
:60F:C260302EUR1000,00\r
:61:2603030303D120,50NDDTNONREF\r
:86:105?00SEPA-BASISLASTSCHRIFT?20EREF+STROM-2026-03?21SVWZ+Abschlag Maerz\r
?32Stadtwerke Musterstadt\r
:62F:C260303EUR879,50\r
-\r
:20:STARTUMSE\r
:25:10020030/1234567890\r
:28C:00042/001\r
:60F:C260303EUR879,50\r
:61:2603040304C250,00NTRFNONREF\r
:86:166?00GUTSCHRIFT?20SVWZ+Rechnung 2026-0117?32Kunde AG\r
:62F:C260304EUR1129,50\r
-\r
:20:STARTDISPE\r
:25:10020030/1234567890\r
:28C:00043/001\r
:34F:EURD0,00\r
:13D:2603051030+0100\r
:61:2603050305C75,00NTRFNONREF\r
:86:166?00GUTSCHRIFT?20SVWZ+Rechnung 2026-0121?32Kunde AG\r
:61:2603050305D19,99NDDTNONREF\r
:86:105?00SEPA-BASISLASTSCHRIFT?20SVWZ+Telefon Maerz\r
:90D:1EUR19,99\r
:90C:1EUR75,00\r
-\r
";

#[test]
fn fints_download_with_statements_then_interim_report() {
    let bytes = FINTS_DOWNLOAD.as_bytes();
    // The file is what its first message is; the job reads it pinned to that.
    assert_eq!(sniff(bytes), Some(MtType::Mt940));
    let (ty, MtDocument::Statements(s)) = run(bytes, sniff(bytes)).unwrap() else {
        panic!()
    };
    assert_eq!(ty, MtType::Mt940);
    assert_eq!(s.len(), 3);
    for booked in &s[..2] {
        assert_eq!(booked.kind, StatementKind::EndOfDay);
        assert_eq!(booked.balance_difference(), Some(Decimal::ZERO));
        assert!(
            booked
                .entries
                .iter()
                .all(|e| e.status == EntryStatus::Booked)
        );
    }
    let report = &s[2];
    assert_eq!(report.kind, StatementKind::Intraday);
    assert_eq!(report.number.as_deref(), Some("00043/001"));
    assert_eq!(report.opening, None);
    assert_eq!(
        report.created,
        Some(day(2026, 3, 5).and_hms_opt(10, 30, 0).unwrap())
    );
    let amounts: Vec<Decimal> = report.entries.iter().map(|e| e.amount).collect();
    assert_eq!(amounts, [d("75.00"), d("-19.99")]);
    // Not booked yet: the next end-of-day statement brings them booked.
    assert!(
        report
            .entries
            .iter()
            .all(|e| e.status == EntryStatus::Pending),
        "{:?}",
        report.entries
    );
    // Read the other way round too (an interim report first, then a statement).
    let mut parts: Vec<&str> = FINTS_DOWNLOAD.split_inclusive("-\r\n").collect();
    parts.rotate_right(1);
    let swapped = parts.concat();
    assert_eq!(sniff(swapped.as_bytes()), Some(MtType::Mt942));
    let (_, MtDocument::Statements(s)) = run(swapped.as_bytes(), Some(MtType::Mt942)).unwrap()
    else {
        panic!()
    };
    let kinds: Vec<StatementKind> = s.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StatementKind::Intraday,
            StatementKind::EndOfDay,
            StatementKind::EndOfDay
        ]
    );
}

#[test]
fn mt942_intraday_with_floor_limit_currency() {
    let s = statements(std::str::from_utf8(&fixture("cmxl/mt942.txt")).unwrap());
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].kind, StatementKind::Intraday);
    assert_eq!(s[0].currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    assert_eq!(
        s[0].created,
        Some(day(2019, 1, 9).and_hms_opt(17, 33, 0).unwrap())
    );
    assert_eq!(s[0].opening, None);
    assert_eq!(s[0].entries[0].amount, d("9792.00"));
    assert_eq!(s[0].entries[0].transaction_code.as_deref(), Some("FTRF"));
    assert_eq!(
        s[0].entries[0].details.purpose.as_deref(),
        Some("Miete Dezember")
    );
    assert_eq!(sniff(&fixture("cmxl/mt942.txt")), Some(MtType::Mt942));
}

#[test]
fn mt950_by_header_and_pinned() {
    let bytes = fixture("prowide-core/MT950ParserTest_01_MT950.fin");
    let (ty, doc) = run(&bytes, None).unwrap();
    assert_eq!(ty, MtType::Mt950);
    let MtDocument::Statements(s) = doc else {
        panic!()
    };
    assert_eq!(s[0].entries[0].amount, d("115454.92"));
    assert_eq!(s[0].entries[0].value_date, day(2007, 4, 5));
    // Booked 2 April for value 5 April.
    assert_eq!(s[0].entries[0].booking_date, Some(day(2007, 4, 2)));
    assert_eq!(s[0].entries[0].remittance, "/US/037833100/SHS/1235,");
    assert!(s[0].closing.as_ref().unwrap().intermediate);
    // Pinned to the wrong type: refused; a bare MT950 pinned as such is one.
    let e = run(&bytes, Some(MtType::Mt940)).unwrap_err();
    assert!(
        e.to_string().contains("expected an MT940, found an MT950"),
        "{e}"
    );
    let bare = mt940_with("251230C1,NTRFNONREF", None);
    assert_eq!(
        run(bare.as_bytes(), Some(MtType::Mt950)).unwrap().0,
        MtType::Mt950
    );
}

#[test]
fn corpus_fixtures_read_and_balance() {
    // Sparkasse: funds code R after D, German ?-less text with umlauts.
    let s = statements(std::str::from_utf8(&fixture("mt940-rs/buxtehude.sta")).unwrap());
    assert_eq!(s[0].entries.len(), 3);
    assert_eq!(s[0].entries[0].amount, d("-119.35"));
    // This published sample does not add up by 100.00: read anyway, the difference is shown.
    assert_eq!(s[0].balance_difference(), Some(d("-100")));
    // betterplace: RC entries signed negative make every statement add up.
    let bytes = fixture("wolph-mt940/sepa_mt9401.sta");
    let (_, MtDocument::Statements(s)) = run(&bytes, None).unwrap() else {
        panic!()
    };
    let rc: Vec<_> = s
        .iter()
        .flat_map(|s| &s.entries)
        .filter(|e| e.reversal)
        .collect();
    assert_eq!(rc.len(), 2);
    assert!(rc.iter().all(|e| e.amount == d("-204.88")));
    for st in &s {
        assert_eq!(
            st.balance_difference(),
            Some(Decimal::ZERO),
            "{:?}",
            st.number
        );
    }
    // ABN AMRO slash keywords, wrapped mid-word.
    let s = statements(std::str::from_utf8(&fixture("php-mt940/abn_issue48.sta")).unwrap());
    let e = &s[0].entries[1];
    assert_eq!(
        e.details.creditor_id.as_deref(),
        Some("NL36ZZZ123456780000")
    );
    assert_eq!(e.details.mandate_id.as_deref(), Some("000000059990"));
    assert_eq!(
        e.details.end_to_end_id.as_deref(),
        Some("012345678912361000")
    );
    assert_eq!(e.reference.as_deref(), Some("012345678912361000"));
    assert_eq!(s[0].entries[0].details.end_to_end_id, None, "NOTPROVIDED");
}

/// One FIN-wrapped MT940 of the day `dd` (March 2026) with one credit of 10.00.
fn fin_statement(dd: u32) -> String {
    format!(
        "{{1:F01BANKDEFFAXXX0000000000}}{{2:O9401200260{dd:02}BANKDEFFAXXX00000000002603{dd:02}1200N}}{{4:\n\
         :20:STMT{dd:02}\n:25:DE89370400440532013000\n:28C:{dd}/1\n\
         :60F:C2603{:02}EUR{},00\n:61:2603{dd:02}C10,00NTRFINV-{dd}//B{dd}\n\
         :86:166?00GUTSCHRIFT?20SVWZ+INV-{dd}?32KUNDE AG\n:62F:C2603{dd:02}EUR{},00\n-}}\n",
        dd - 1,
        100 + 10 * (dd - 1),
        100 + 10 * dd,
    )
}

#[test]
fn a_file_cut_short_in_its_last_message_gives_the_messages_before_it() {
    let whole = format!(
        "{}{}{}",
        fin_statement(2),
        fin_statement(3),
        fin_statement(4)
    );
    // The transfer broke off inside the third message's :86: (line 25 of 27).
    let lines: Vec<&str> = whole.lines().collect();
    let cut = format!("{}\n:86:166?00GUTSCH", lines[..24].join("\n"));
    let f = read_cut(cut.as_bytes(), None).unwrap();
    let MtDocument::Statements(s) = &f.doc else {
        panic!()
    };
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].statement_id.as_deref(), Some("STMT03"));
    assert_eq!(s[1].balance_difference(), Some(Decimal::ZERO));
    let p = f.cut_short.expect("the cut message is reported");
    assert_eq!(p.row, Some(25));
    assert_eq!(p.column.as_deref(), Some(":62F:"));
    assert!(
        p.message.starts_with(
            "message 3 is cut short: the file ends at line 25 inside :86:; \
             the message has no closing balance :62F: or :62M:"
        ),
        "{}",
        p.message
    );
    assert!(
        p.message.ends_with(
            "the 2 messages before it were read, this one was not: ask the bank to send it again"
        ),
        "{}",
        p.message
    );
    // The same through the streaming reader.
    let mut sink = Counting::default();
    let (_, streamed) =
        read_statements(cut.as_bytes(), "test.sta", Arc::from("h"), &mut sink).unwrap();
    assert_eq!(streamed.map(|p| p.row), Some(Some(25)));
    assert_eq!(sink.statements, 2);

    // Without FIN blocks: a message cut off after its statement line, with no `-`.
    let bare = format!(
        "{}{}",
        mt940_with("251230C1,NTRFNONREF", None),
        ":20:REF2\n:25:DE89370400440532013000\n:28C:2/1\n:60F:C251231EUR100,\n:61:2601020102C5,NTRFN"
    );
    let f = read_cut(bare.as_bytes(), None).unwrap();
    let p = f.cut_short.unwrap();
    assert_eq!(p.row, Some(12));
    assert!(
        p.message
            .contains("message 2 is cut short: the file ends at line 12 inside :61:"),
        "{}",
        p.message
    );
    assert!(
        p.message.contains("the 1 message before it was read"),
        "{}",
        p.message
    );
    // The same message cut after its :20: (the file's last line).
    let f = read_cut(
        format!("{}:20:REF2\n", mt940_with("251230C1,NTRFNONREF", None)).as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(f.cut_short.unwrap().row, Some(8));

    // Cut inside the third message's FIN headers.
    let f = read_cut(
        format!(
            "{}{{1:F01BANKDEFFAXXX0000000000}}{{2:O94012",
            lines[..18].join("\n") + "\n"
        )
        .as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(
        f.doc,
        read_cut(lines[..18].join("\n").as_bytes(), None)
            .unwrap()
            .doc
    );
    let p = f.cut_short.unwrap();
    assert_eq!(p.row, Some(19));
    assert!(
        p.message
            .starts_with("message 3 is cut short: the file ends at line 19; no -} closes"),
        "{}",
        p.message
    );

    // The only message cut short: nothing to read, refused naming the line and what was
    // expected there.
    let only = lines[..7].join("\n");
    let e = error(only.as_bytes());
    assert_eq!(e.problems.len(), 1, "{e}");
    let p = &e.problems[0];
    assert_eq!((p.row, p.column.as_deref()), (Some(7), Some(":62F:")));
    assert!(
        p.message.contains("message 1 is cut short: the file ends at line 7 inside :86:; the message has no closing balance :62F: or :62M:"),
        "{e}"
    );

    // Another message broken too: the file is refused with both.
    let broken = cut.replacen(":61:260302C10,00", ":61:260332C10,00", 1);
    let e = error(broken.as_bytes());
    let rows: Vec<Option<u32>> = e.problems.iter().map(|p| p.row).collect();
    assert_eq!(rows, [Some(6), Some(25)], "{e}");

    // A last message that is whole but wrong (a date that does not exist, not at its end) is
    // no cut: refused as before.
    let wrong = format!(
        "{}{}",
        mt940_with("251230C1,NTRFNONREF", None),
        mt940_with("251232C1,NTRFNONREF", None).trim_end_matches("-\n")
    );
    let e = error(wrong.as_bytes());
    assert!(
        e.to_string().contains("expected a value date YYMMDD"),
        "{e}"
    );
    assert!(!e.to_string().contains("cut short"), "{e}");
}

#[test]
fn a_lone_dash_inside_a_hard_wrapped_86_is_text() {
    // The bank wraps `:86:` at 54 characters and starts each subfield on a new line: `?20`'s
    // last character, a `-`, is left alone on its line. Without FIN blocks a lone `-` also
    // ends a message: here the next line goes on with the field's text. The interim report
    // after the statement ends with `:86:`, then `-` and the end of the file: that `-` ends it.
    let text = "\
:20:STARTUMSE
:25:10020030/1234567890
:28C:00044/001
:60F:C260305EUR100,00
:61:2603060306C40,00NTRFNONREF
:86:166?00GUTSCHRIFT?20SVWZ+RECHNUNG 2026-0042 UND 2026
-
?210043?32KUNDE AG
:61:2603060306C2,00NTRFNONREF
:86:166?00GUTSCHRIFT?20SVWZ+ZINS
:62F:C260306EUR142,00
-
:20:STARTDISPE
:25:10020030/1234567890
:28C:00045/001
:34F:EURD0,00
:13D:2603061200+0100
:61:2603060306C5,00NTRFNONREF
:86:166?00GUTSCHRIFT?20SVWZ+ABSCHLAG
-
";
    let s = statements(text);
    assert_eq!(s.len(), 2);
    let e = &s[0].entries;
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[0].details.purpose.as_deref(),
        Some("RECHNUNG 2026-0042 UND 2026-0043")
    );
    assert_eq!(e[0].details.counterparty_name.as_deref(), Some("KUNDE AG"));
    assert_eq!(e[1].source.row, 9, "line numbers stay exact");
    assert_eq!(s[0].balance_difference(), Some(Decimal::ZERO));
    assert_eq!(s[1].kind, StatementKind::Intraday);
    assert_eq!(s[1].entries[0].details.purpose.as_deref(), Some("ABSCHLAG"));
    // The report followed by another message: the `-` after its `:86:` ends it too.
    let three = statements(&format!(
        "{text}{}",
        mt940_with("260306C1,NTRFNONREF", None)
    ));
    assert_eq!(three.len(), 3);
    assert_eq!(three[1].entries.len(), 1);
}

#[test]
fn statement_that_does_not_add_up_is_read() {
    let text = ":20:R\n:25:1\n:60F:C250101EUR10,\n:61:250101D3,NTRFNONREF\n:62F:C250101EUR9,\n";
    let s = statements(text);
    assert_eq!(s[0].balance_difference(), Some(d("-2")));
}

#[test]
fn mt535_holdings() {
    let bytes = fixture("clerk/mt535_holdings.fin");
    assert_eq!(sniff(&bytes), Some(MtType::Mt535));
    let (ty, doc) = run(&bytes, None).unwrap();
    assert_eq!(ty, MtType::Mt535);
    let MtDocument::Holdings(h) = doc else {
        panic!()
    };
    assert_eq!(h.len(), 1);
    let h = &h[0];
    assert_eq!(h.account, "DEPOT-4711");
    assert_eq!(h.statement_date, day(2026, 3, 31));
    assert_eq!(h.statement_id.as_deref(), Some("HOLD20260331A"));
    assert_eq!(h.page.as_deref(), Some("1/LAST"));
    assert_eq!(h.positions.len(), 4);
    let sap = &h.positions[0];
    assert_eq!(sap.isin.as_deref(), Some("DE0007164600"));
    assert_eq!(
        sap.security_name.as_deref(),
        Some("SAP SE INHABER-AKTIEN O.N.")
    );
    // The SUBBAL's own AGGR is not the position's.
    assert_eq!(sap.quantity, d("1500"));
    assert_eq!(sap.quantity_kind, QuantityKind::Units);
    assert_eq!(sap.available, Some(d("1400")));
    let p = sap.price.as_ref().unwrap();
    assert_eq!((p.value, p.percentage), (d("123.45"), false));
    assert_eq!(p.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    assert_eq!(sap.market_value.as_ref().unwrap().amount, d("185175"));
    assert_eq!(sap.as_of, day(2026, 3, 31));
    assert_eq!(sap.source.row, 17);
    assert_eq!(sap.source.locator.as_deref(), Some("message 1, :35B: #1"));
    let bund = &h.positions[1];
    assert_eq!(bund.quantity_kind, QuantityKind::FaceAmount);
    assert_eq!(bund.quantity, d("250000"));
    let p = bund.price.as_ref().unwrap();
    assert_eq!(
        (p.value, p.percentage, p.currency),
        (d("101.5"), true, None)
    );
    let short = &h.positions[2];
    assert_eq!(short.quantity, d("-200"));
    assert_eq!(short.market_value.as_ref().unwrap().amount, d("-40200"));
    let cusip = &h.positions[3];
    assert_eq!(cusip.isin, None);
    assert_eq!(cusip.security_id.as_deref(), Some("/US/31392EXH8"));
    assert_eq!(cusip.quantity_kind, QuantityKind::AmortisedValue);
    assert_eq!(cusip.account, "DEPOT-4712", "the SUBSAFE's account");
}

#[test]
fn mt535_prowide_sample() {
    let (_, doc) = run(
        &fixture("prowide-core/MtSwiftMessageJsonSchemaTest_01_MT535.fin"),
        None,
    )
    .unwrap();
    let MtDocument::Holdings(h) = doc else {
        panic!()
    };
    let p = &h[0].positions;
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].security_id.as_deref(), Some("/US/31392EXH8"));
    assert_eq!(p[0].quantity, d("35732656"));
    assert_eq!(p[1].quantity, d("0"));
    assert_eq!(p[1].available, Some(d("-990692")));
}

#[test]
fn mt536_receipts_and_deliveries() {
    let bytes = fixture("clerk/mt536_transactions.fin");
    assert_eq!(sniff(&bytes), Some(MtType::Mt536));
    let (ty, doc) = run(&bytes, None).unwrap();
    assert_eq!(ty, MtType::Mt536);
    let MtDocument::Transactions(t) = doc else {
        panic!()
    };
    let t = &t[0];
    assert!(!t.pending);
    assert_eq!(t.account, "DEPOT-4711");
    assert_eq!(t.from_date, Some(day(2026, 3, 30)));
    assert_eq!(t.to_date, Some(day(2026, 3, 31)));
    assert_eq!(t.transactions.len(), 3);
    let r = &t.transactions[0];
    assert_eq!(r.direction, Direction::Receive);
    assert_eq!(r.isin.as_deref(), Some("DE0007164600"));
    assert_eq!(r.quantity, d("100"));
    let m = r.settlement_amount.as_ref().unwrap();
    assert_eq!(
        (m.amount, m.currency.to_string()),
        (d("-12345"), "EUR".to_owned())
    );
    assert_eq!(r.settlement_date, Some(day(2026, 3, 31)));
    assert_eq!(r.trade_date, Some(day(2026, 3, 27)));
    assert_eq!(r.reference.as_deref(), Some("TRADE-0001"));
    assert_eq!(r.custodian_reference.as_deref(), Some("CUST-98765"));
    assert_eq!(r.counterparty.as_deref(), Some("DEUTDEFFXXX"));
    assert_eq!(r.status, None);
    let dl = &t.transactions[1];
    assert_eq!(dl.direction, Direction::Deliver);
    assert_eq!(
        dl.settlement_date,
        Some(day(2026, 3, 30)),
        "contractual when no ESET"
    );
    assert_eq!(dl.trade_date, Some(day(2026, 3, 26)), "from :98C:");
    assert_eq!(dl.counterparty.as_deref(), Some("COBADEFFXXX"));
    let bond = &t.transactions[2];
    assert_eq!(bond.isin.as_deref(), Some("DE0001102580"));
    assert_eq!(bond.quantity_kind, QuantityKind::FaceAmount);
    assert_eq!(bond.reference, None, "NONREF");
    assert_eq!(bond.settlement_amount, None);
}

#[test]
fn mt537_pending_with_status_codes() {
    let (ty, doc) = run(&fixture("prowide-core/Issue78_01_MT537.fin"), None).unwrap();
    assert_eq!(ty, MtType::Mt537);
    let MtDocument::Transactions(t) = doc else {
        panic!()
    };
    assert!(t[0].pending);
    let first = &t[0].transactions[0];
    assert_eq!(first.direction, Direction::Receive);
    assert_eq!(first.quantity_kind, QuantityKind::FaceAmount);
    assert_eq!(first.status.as_deref(), Some("SETT//PENF, PENF//CLAC"));
    // "ISIN XX000000" is no valid ISIN: kept as another identifier.
    assert_eq!(first.isin, None);
    assert_eq!(first.security_id.as_deref(), Some("XX000000"));
}

#[test]
fn custody_errors_name_line_and_field() {
    let text = ":16R:GENL\n:98A::STAT//20260331\n:97A::SAFE//A\n:16S:GENL\n:16R:FIN\n:35B:ISIN DE0007164600\n:93B::AGGR//PIEC/5,\n:16S:FIN\n";
    let e = error(text.as_bytes());
    let p = &e.problems[0];
    assert_eq!((p.row, p.column.as_deref()), (Some(7), Some(":93B:")));
    assert!(
        p.message
            .contains("expected the quantity type UNIT, FAMT or AMOR, found \"PIEC\"")
    );
    let e = error(b":16R:GENL\n:98A::STAT//20260331\n:16S:FIN\n");
    assert!(
        e.problems[0]
            .message
            .contains("closes sequence FIN, but the open sequence is GENL")
    );
    let e = error(b":16R:GENL\n:97A::SAFE//A\n:16S:GENL\n");
    assert!(e.problems[0].message.contains("no statement date"));
    let e = error(b":16R:GENL\n:98A::STAT//20261331\n:16S:GENL\n");
    assert!(
        e.problems[0]
            .message
            .contains("expected a date YYYYMMDD, found \"20261331\"")
    );
}

#[test]
fn errors_name_message_line_and_field() {
    // (input, line, field, words)
    type Case<'a> = (&'a [u8], Option<u32>, Option<&'a str>, &'a str);
    let cases: &[Case] = &[
        (b"1\n2\n3\n", None, None, "not a SWIFT MT message"),
        (b"", None, None, "not a SWIFT MT message"),
        (
            b":20:R\n:25:1\n:60F:C250101EUR1,\n:61:25133C1,NTRFNONREF\n:62F:C250101EUR1,\n",
            Some(4),
            Some(":61:"),
            "message 1: expected a value date YYMMDD, found \"25133\"",
        ),
        (
            b":20:R\n:25:1\n:60F:C250101EUR1,\n:61:250101C1,NTRFNONREF\n",
            Some(4),
            Some(":62F:"),
            "no closing balance",
        ),
        (
            b"{1:F01BANKDEFFAXXX0000000000}{2:I940CLIENTXXXXXXN}{4:\n:20:R\n:25:1\n:60F:C250101EUR1,\n:62F:C250101EUR1,\n",
            Some(5),
            None,
            "no -} closes the message's text block",
        ),
        (b":20:R\n:28C:1\n:60F:C250101EUR1,\n:62F:C250101EUR1,\n", Some(1), Some(":25:"), "no :25:"),
        (
            b":20:R\n:25:1\n:12:X\n:60F:C250101EUR1,\n:62F:C250101EUR1,\n",
            Some(3),
            Some(":12:"),
            "unexpected field :12:",
        ),
        (
            b":20:R\n:25:1\n:60F:C250101EUR1,\n:62F:C250101EUR1,\n:61:250101C1,NTRFNONREF\n",
            Some(5),
            Some(":61:"),
            "after the closing balance",
        ),
        (
            b"{1:F01BANKDEFFAXXX0000000000}{2:I103CLIENTXXXXXXN}{4:\n:20:R\n-}\n",
            Some(1),
            None,
            "an MT103 message",
        ),
        (b":20:R\n:25:1\n:60F:C250101EUR1,\n:62F:C250101EUR1,\n\0\0\0", Some(1), None, "binary"),
        (b":20:R\n:25:1\n:60F:C250101EU1,\n:62F:C250101EUR1,\n", Some(3), Some(":60F:"), "expected a currency code"),
    ];
    for &(input, row, column, words) in cases {
        let e = error(input);
        let p = &e.problems[0];
        assert_eq!(p.row, row, "{e}");
        assert_eq!(p.column.as_deref(), column, "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
}

#[test]
fn binary_junk_and_long_lines_are_refused_without_panic() {
    let mut junk = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        junk.push((x >> 16) as u8);
    }
    assert!(run(&junk, None).is_err());
    assert_eq!(sniff(&junk), None);
    let long = format!(":20:R\n:86:{}\n", "x".repeat(MAX_LINE + 1));
    let e = error(long.as_bytes());
    assert_eq!(e.problems[0].row, Some(2));
    assert!(e.problems[0].message.contains("longer than 64 KiB"));
    // Damaged copies of a real file (bytes replaced, including by non-ASCII ones): an error
    // or a reading, never a panic.
    let clean = fixture("php-mt940/abn_issue48.sta");
    for i in 0..3000u32 {
        let mut b = clean.clone();
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let at = (x >> 8) as usize % b.len();
        let with = [
            b'\n', b':', b'/', b'?', b'-', b'}', b'{', 0xC3, 0xFC, b'9', b'C', b'+',
        ];
        b[at] = with[(i as usize) % with.len()];
        let _ = run(&b, None);
    }
    // Every prefix of a real file: an error or a reading, never a panic.
    let bytes = fixture("wolph-mt940/sepa_mt9401.sta");
    for cut in (0..bytes.len()).step_by(97) {
        let _ = run(&bytes[..cut], None);
    }
}

#[test]
fn message_size_is_bounded() {
    let mut text = String::from(":20:R\n:25:1\n:60F:C250101EUR1,\n:61:250101C1,NTRFNONREF\n:86:");
    let line = format!("{}\n", "y".repeat(1000));
    while text.len() <= MAX_MESSAGE {
        text.push_str(&line);
    }
    let e = error(text.as_bytes());
    assert!(
        e.problems
            .last()
            .unwrap()
            .message
            .contains("larger than 16 MiB"),
        "{e}"
    );
}

#[test]
fn sniffing() {
    for (text, want) in [
        (
            "{1:F01X}{2:O5350837080313FOOSGB2LIXXX06988488300803130437N}{4:\n",
            Some(MtType::Mt535),
        ),
        ("{2:I536FOOBARXXXXXXN}", Some(MtType::Mt536)),
        (
            ":20:R\n:25:1\n:28C:1\n:60F:C250101EUR1,\n",
            Some(MtType::Mt940),
        ),
        (
            ":20:R\n:25:1\n:28C:1\n:34F:EURD0,\n:13D:2501011200+0100\n",
            Some(MtType::Mt942),
        ),
        (
            ":16R:GENL\n:16S:GENL\n:16R:FIN\n:93B::AGGR//UNIT/1,\n",
            Some(MtType::Mt535),
        ),
        (":16R:GENL\n:16S:GENL\n:16R:TRANSDET\n", Some(MtType::Mt536)),
        (":16R:GENL\n:16S:GENL\n:16R:STAT\n", Some(MtType::Mt537)),
        ("date;amount\n2025-01-01;1.00\n", None),
        ("{2:I103X}", None),
    ] {
        assert_eq!(sniff(text.as_bytes()), want, "{text}");
    }
}

#[derive(Default)]
struct Counting {
    entries: usize,
    statements: usize,
    entries_before_last_statement: usize,
}

impl StatementSink for Counting {
    fn entry(&mut self, _: StatementEntry) -> Result<(), ExtractError> {
        self.entries += 1;
        Ok(())
    }
    fn statement(&mut self, s: BankStatement) -> Result<(), ExtractError> {
        assert!(s.entries.is_empty());
        self.statements += 1;
        self.entries_before_last_statement = self.entries;
        Ok(())
    }
}

#[test]
fn streaming_reads_message_by_message() {
    let bytes = fixture("wolph-mt940/sepa_mt9401.sta");
    let mut sink = Counting::default();
    let (ty, cut) = read_statements(&bytes[..], "f.sta", Arc::from("h"), &mut sink).unwrap();
    assert_eq!(cut, None);
    assert_eq!(ty, MtType::Mt940);
    let (_, MtDocument::Statements(all)) = run(&bytes, None).unwrap() else {
        panic!()
    };
    assert_eq!(sink.statements, all.len());
    assert_eq!(
        sink.entries,
        all.iter().map(|s| s.entries.len()).sum::<usize>()
    );
    assert_eq!(sink.entries_before_last_statement, sink.entries);
    // Through a tiny buffer (lines split across reads, CR LF split too).
    let crlf: Vec<u8> = String::from_utf8_lossy(&bytes)
        .replace('\n', "\r\n")
        .into_bytes();
    let mut small = Counting::default();
    let reader = std::io::BufReader::with_capacity(7, &crlf[..]);
    read_statements(reader, "f.sta", Arc::from("h"), &mut small).unwrap();
    assert_eq!(small.entries, sink.entries);
    // A custody file is not a cash statement.
    let e = read_statements(
        &fixture("clerk/mt535_holdings.fin")[..],
        "h.fin",
        Arc::from("h"),
        &mut Counting::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("read it with swift::parse"), "{e}");
    // An error in a later message: nothing more reaches the sink after it.
    let text = format!(
        "{}{}",
        mt940_with("251230C1,NTRFNONREF", None),
        mt940_with("25123XC1,NTRFNONREF", None)
    );
    let mut sink = Counting::default();
    let e = read_statements(text.as_bytes(), "f", Arc::from("h"), &mut sink).unwrap_err();
    assert_eq!(e.problems[0].row, Some(12));
    assert_eq!(sink.statements, 1);
}
