//! SWIFT MT samples (MT940/942/950, MT535/536/537) against the other projects' parsed output.
//!
//! Oracles:
//! - `mt940/mt940-rs`: `.json` beside a `.sta` is the mt940 crate's `Vec<Message>`. Its test
//!   harness (`tests/integration_tests_mt940.rs`) lists the files that must fail: [`MUST_FAIL`].
//! - `mt940/wolph-mt940`: `.expected.json` is the Python library's `Transactions`: all
//!   statements of a file merged into one (statement-level data is the last message's).
//! - `mt940/mt940-js`: `.json` is the library's `read()` output.
//! - the rest has no oracle: every file must be read unless it is clearly invalid.
//!
//! Every disagreement is fixed in the parser or listed in [`EXPLAINED`] with the reason.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clerk::extract::Input;
use clerk::extract::swift::{self, MtDocument};
use clerk::model::statement::{Balance, BankStatement, StatementEntry};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::report::SourceReport;

/// Disagreements with a reason: (file under the corpus, why).
pub const EXPLAINED: &[(&str, &str)] = &[
    (
        "mt940/mt940-rs/full/abnamro/mt940.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (`*` in :86: becomes `.`) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/betterplace/with_binary_character.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (`Ü`, `ß` in :20: become `U`, `ss`) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/bugs/issue-51.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (umlauts and `'` in :86:) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/jejik/ing.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (tabs, soft hyphens and `>` in :86: become `.`) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/mBank/mt940.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (`;` and `_` in :86: become `.`) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/mBank/with_newline_in_tnr.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (`;` and `_` in :86: become `.`) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/sparkasse/buxtehude.sta",
        "mt940-rs's harness reads this file only after its lossy sanitize(), which rewrites characters outside the SWIFT set (umlauts and `'` in :86:) in its expected output; clerk keeps the bank's text; amounts, dates, references and balances agree",
    ),
    (
        "mt940/mt940-rs/full/jejik/knab_broken.sta",
        "`C500NTRF`: an amount without a decimal comma; the standard wants the comma, but banks leave it out of round amounts, so clerk reads whole units (500.00) instead of refusing the whole file; mt940-rs's harness requires the file to fail",
    ),
    (
        "mt940/mt940-rs/special-cases/incomplete_tag_61.sta",
        "`:61:170914D233,15NMSC` has no customer reference (mandatory in the standard); date, mark, amount and type are complete, so clerk reads the reference as none instead of refusing the file; mt940-rs's grammar requires one, the Python library reads the same line in five of its samples",
    ),
    (
        "mt940/mt940-rs/special-cases/invalid_utf8.sta",
        "fails upstream only because Rust's read_to_string refuses non-UTF-8 bytes; clerk decodes non-UTF-8 as Windows-1252 by design (these bytes are DOS code page 852, so three accented letters of :86: come out as other characters)",
    ),
    (
        "mt940/mt940-rs/special-cases/overly_long_details.sta",
        "mt940-rs caps :86: at 6 lines of 65 characters; German ?20-?63 subfields run longer by design and the Python library reads the same text (malformed_details.sta): clerk reads it",
    ),
    (
        "mt940/mt940-rs/special-cases/unknown_tag.sta",
        "`:12:11` follows a :86: line ending `?602017-01-01T13`: a timestamp wrapped at the line end, not a field (:12: is no MT940 tag); clerk keeps it in the text, as the Python library does with the same lines",
    ),
    (
        "mt940/wolph-mt940/betterplace/amount_formats.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/betterplace/currency_in_25.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/betterplace/empty_entry_date.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/betterplace/empty_line.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/betterplace/missing_crlf_at_end.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/betterplace/sepa_mt9401.sta",
        "RC (reversal of a credit) takes money out: clerk signs its two RC entries negative and both statements then balance to the cent, the Python library's positive sign leaves 409.76 unexplained in each; also the Python library's :61: pattern takes up to 16 characters greedily as the customer reference, swallowing `//` and the bank reference (`NONREF//55555`); clerk splits at `//` as the standard says; and the Python library strips the spaces the bank wrote at the end of ?2x/?32 subfields before joining them (`mit140`, `ULPRZEMYSLOWA`); clerk keeps them",
    ),
    (
        "mt940/wolph-mt940/betterplace/sepa_snippet.sta",
        "the Python library's :61: pattern takes up to 16 characters greedily as the customer reference, swallowing `//` and the bank reference (`NONREF//55555`); clerk splits at `//` as the standard says",
    ),
    (
        "mt940/wolph-mt940/betterplace/sepa_snippet_broken.sta",
        "a :25: field where the entry's :86: belongs; mt940-rs's harness requires this file to fail: clerk refuses it",
    ),
    (
        "mt940/wolph-mt940/cmxl/account_balance_credit.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/account_balance_debit.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/account_identification_iban.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/account_identification_legacy.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/available_balance.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/closing_balance.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/mt940.sta",
        "the Python library's :61: pattern takes up to 16 characters greedily as the customer reference, swallowing `//` and the bank reference (`NONREF//55555`); clerk splits at `//` as the standard says; and the Python library strips the spaces the bank wrote at the end of ?2x/?32 subfields before joining them (`mit140`, `ULPRZEMYSLOWA`); clerk keeps them",
    ),
    (
        "mt940/wolph-mt940/cmxl/reference.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/statement_details.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/statement_line.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/cmxl/statement_number.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/jejik/ing.sta",
        "the Python library appends the message-level :86: after the closing balance (`D000004C000002D25,24C28,71-XXX`) to the last entry; clerk does not give a statement's own information to an entry",
    ),
    (
        "mt940/wolph-mt940/jejik/knab.sta",
        "`C500NTRF`: an amount without a decimal comma, which clerk reads as whole units (mt940-rs's harness requires this very message to fail, knab_broken.sta); the Python library's :61: pattern takes up to 16 characters greedily as the customer reference, swallowing `//` and the bank reference (`NONREF//B4E07XM0`); clerk splits at `//` as the standard says",
    ),
    (
        "mt940/wolph-mt940/jejik/postfinance.sta",
        "the Python library's :61: pattern takes up to 16 characters greedily as the customer reference, swallowing `//` and the bank reference (`NONREF//55555`); clerk splits at `//` as the standard says",
    ),
    (
        "mt940/wolph-mt940/self-provided/february_30.sta",
        "value date 160230 (30 February): clerk refuses a date that does not exist (mt940-rs's harness requires february_30.sta to fail); the Python library moves it to 29 February",
    ),
    (
        "mt940/wolph-mt940/self-provided/gv_codes.sta",
        "cut short: the message ends after a :61: with no closing balance :62F:",
    ),
    (
        "mt940/wolph-mt940/self-provided/mt942.sta",
        "transaction type `MCI0` (a hand-made sample): a type starts with N, F or S, refused; the Python library takes any four characters",
    ),
    (
        "mt940/wolph-mt940/self-provided/raiffeisen-cmi.sta",
        "the file is in DOS code page 852; clerk decodes non-UTF-8 text as Windows-1252 (as specified), so `ö`, `á`, `é` of one :86: come out as `”`, a no-break space and `‚`; amounts, dates and references agree",
    ),
    (
        "mt940/wolph-mt940/self-provided/raphaelm.sta",
        ":62M:C020315105000,00 has no currency code: clearly invalid, refused",
    ),
    (
        "mt940/wolph-mt940/self-provided/sparkassen.sta",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/wolph-mt940/self-provided/transaction_details_wrapped.sta",
        "value date 160230 (30 February): clerk refuses a date that does not exist (mt940-rs's harness requires february_30.sta to fail); the Python library moves it to 29 February",
    ),
    (
        "mt940/wolph-mt940/self-provided/wrapped_timestamp.sta",
        "value date 160230 (30 February): clerk refuses a date that does not exist (mt940-rs's harness requires february_30.sta to fail); the Python library moves it to 29 February",
    ),
    (
        "mt940/cmxl/lines/account_balance_credit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/account_balance_debit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/account_balance_debit_broken.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/account_identification_iban.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/account_identification_legacy.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/available_balance.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/closing_balance.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/entry_date.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/floor_limit_indicator_both.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/floor_limit_indicator_credit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/floor_limit_indicator_debit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/reference.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_details.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_details_empty_fields.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_line.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_number.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_ocmt.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_ocmt_chgs.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_supplementary_complex.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/statement_supplementary_plain.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/vmk_summary_credit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/lines/vmk_summary_debit.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/mt940-deutsche_bank.txt",
        "closing balance :62F:C021131 is dated 31 November, which does not exist: clearly invalid, refused",
    ),
    (
        "mt940/cmxl/mt940-headers.txt",
        "made-up values for a header test: :61: value date 362268 and :62F: date 141387 do not exist, refused",
    ),
    (
        "mt940/cmxl/mt940-iso8859-1.txt",
        "closing balance :62F:C021131 is dated 31 November, which does not exist: clearly invalid, refused",
    ),
    (
        "mt940/cmxl/mt940-with-colon-after-line-break.txt",
        "cut short: the file ends inside :86: with no closing balance",
    ),
    (
        "mt940/cmxl/mt940.txt",
        "closing balance :62F:C021131 is dated 31 November, which does not exist: clearly invalid, refused",
    ),
    (
        "mt940/cmxl/statement-details-mt940.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/statement-details-mt942.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/cmxl/statement-mt940.txt",
        "a one-field snippet from the other project's unit tests, not a statement (no :20:, :25:, balances): clerk refuses it, the other library reads fields one by one",
    ),
    (
        "mt940/dovadi-mt940/MT940_voorbeeldbestanden_abnamro.txt",
        "ABN AMRO's published example document has a lower-case mark `d1,01` in message 12 (line 194); the mark is C, D, RC or RD: refused, with the line named",
    ),
    (
        "mt940/prowide-core/Bug3085740_01_MT940.fin",
        "two closing balances in one message (:62F: in XOF, then :62M: in ZAR): which is the statement's cannot be known, refused",
    ),
    (
        "mt940/prowide-core/IssueGh148Test_01_MT940.fin",
        "two closing balances in one message (:62F: in XOF, then :62M: in ZAR): which is the statement's cannot be known, refused",
    ),
    (
        "mt940/prowide-core/JapaneseCharactersTest_01_MT940.fin",
        "made-up :61: value date 345454 does not exist: refused",
    ),
    (
        "mt940/prowide-core/UnparsedTextListTest_01_MT940.fin",
        "`:20:1234567890:25:60001218710100` puts two fields on one line, so the message has no :25: account: refused",
    ),
    (
        "mt942/mt940-rs/full/cmxl/mt942_1.sta",
        "an empty file (0 bytes)",
    ),
    (
        "mt942/mt940-rs/special-cases/mt942.sta",
        "transaction type `MCI0` (a hand-made sample): a type starts with N, F or S, refused; the Python library takes any four characters",
    ),
    (
        "mt942/mt940-rs/special-cases/raphaelm.sta",
        ":62M:C020315105000,00 has no currency code: clearly invalid, refused",
    ),
    (
        "mt535/prowide-core/SwiftParserConsumeTagTest_01_MT535.fin",
        "cut short: the last :16R:FIN is never closed (a test of prowide's tag consumption): refused",
    ),
    (
        "mt535/prowide-core/SwiftParserConsumeTagTest_02_MT535.fin",
        "cut short: the last :16R:FIN is never closed (a test of prowide's tag consumption): refused",
    ),
];

/// Files the origin's own tests say must fail, and why.
const MUST_FAIL: &[(&str, &str)] = &[
    (
        "mt940/mt940-rs/full/betterplace/sepa_snippet_broken.sta",
        "a :25: field after :61:",
    ),
    (
        "mt940/mt940-rs/full/jejik/knab_broken.sta",
        "amount 500 without a decimal comma",
    ),
    (
        "mt940/mt940-rs/special-cases/february_30.sta",
        "value date 30 February",
    ),
    (
        "mt940/mt940-rs/special-cases/incomplete_tag_61.sta",
        ":61: without a customer reference",
    ),
    (
        "mt940/mt940-rs/special-cases/invalid_statement.sta",
        "not a statement",
    ),
    ("mt940/mt940-rs/special-cases/invalid_utf8.sta", "not UTF-8"),
    (
        "mt940/mt940-rs/special-cases/overly_long_details.sta",
        ":86: over 6 lines of 65",
    ),
    (
        "mt940/mt940-rs/special-cases/unexpected_tag.sta",
        ":28C: right after :20: (no :25:)",
    ),
    ("mt940/mt940-rs/special-cases/unknown_tag.sta", "tag :12:"),
];

const SOURCES: &[&str] = &[
    "mt940/mt940-rs",
    "mt940/wolph-mt940",
    "mt940/mt940-js",
    "mt940/cmxl",
    "mt940/php-mt940",
    "mt940/dovadi-mt940",
    "mt940/prowide-core",
    "mt942/mt940-rs",
    "mt950/prowide-core",
    "mt535/prowide-core",
    "mt53x/prowide-core",
];

pub fn check(corpus: &Path) -> Vec<SourceReport> {
    let mut used = Vec::new();
    let mut reports: Vec<SourceReport> = SOURCES
        .iter()
        .map(|s| check_source(corpus, s, &mut used))
        .collect();
    // An explanation nobody needs any more is stale: the table must stay true.
    for (file, _) in EXPLAINED {
        if !used.contains(file)
            && let Some(r) = reports.iter_mut().find(|r| file.starts_with(&r.source))
        {
            r.unexplained.push(format!(
                "{file}: listed in EXPLAINED but agrees now (remove it)"
            ));
        }
    }
    reports
}

fn samples(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            samples(&p, out);
            continue;
        }
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let skip = name.ends_with(".json")
            || name.ends_with(".yml")
            || name.ends_with(".md")
            || name.starts_with("LICENSE")
            || name.starts_with("README");
        if !skip {
            out.push(p);
        }
    }
}

fn check_source(corpus: &Path, source: &str, used: &mut Vec<&'static str>) -> SourceReport {
    let mut report = SourceReport {
        source: source.to_owned(),
        ..SourceReport::default()
    };
    let mut files = Vec::new();
    samples(&corpus.join(source), &mut files);
    for path in files {
        let rel = path
            .strip_prefix(corpus)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&path).unwrap_or_default();
        report.files += 1;
        let input = Input {
            name: &rel,
            bytes: &bytes,
            file_hash: "corpus".into(),
        };
        let result = swift::parse(&input, None);
        if result.is_ok() {
            report.read += 1;
        }
        let mut cmp = Cmp::default();
        let must_fail = MUST_FAIL.iter().find(|(f, _)| *f == rel);
        let oracle = oracle(&path);
        match (&result, must_fail, &oracle) {
            (Err(e), Some(_), _) => {
                report.refused_as_expected += 1;
                if e.problems.is_empty() {
                    cmp.diffs.push("refused without saying why".into());
                }
            }
            (Ok(_), Some((_, why)), _) => cmp
                .diffs
                .push(format!("read, but upstream says it must fail ({why})")),
            (Err(e), None, Some(Oracle::Wolph(j))) if wolph_read_nothing(j) => {
                report.refused_as_expected += 1;
                let _ = e;
            }
            (Err(e), None, _) => cmp.diffs.push(format!(
                "refused: {}",
                e.to_string().lines().next().unwrap_or("")
            )),
            (Ok(file), None, Some(o)) => {
                report.compared += 1;
                match (&file.doc, o) {
                    (MtDocument::Statements(s), Oracle::Mt940Rs(j)) => mt940_rs(&mut cmp, s, j),
                    (MtDocument::Statements(s), Oracle::Wolph(j)) => wolph(&mut cmp, s, j),
                    (MtDocument::Statements(s), Oracle::Js(j)) => js(&mut cmp, s, j),
                    _ => cmp.diffs.push("not read as cash statements".into()),
                }
            }
            (Ok(_), None, None) => {}
        }
        report.fields += cmp.fields;
        report.agreed += cmp.agreed;
        if cmp.diffs.is_empty() {
            continue;
        }
        match EXPLAINED.iter().find(|(f, _)| *f == rel) {
            Some((f, why)) => {
                used.push(f);
                report.explained.push(format!(
                    "{rel}: {why} [{} disagreement(s), first: {}]",
                    cmp.diffs.len(),
                    cmp.diffs[0]
                ));
            }
            None => {
                let n = cmp.diffs.len();
                let show = if std::env::var_os("CLERK_CORPUS_ALL").is_some() {
                    usize::MAX
                } else {
                    6
                };
                for d in cmp.diffs.iter().take(show) {
                    report.unexplained.push(format!("{rel}: {d}"));
                }
                if n > show {
                    report
                        .unexplained
                        .push(format!("{rel}: … and {} more", n - show));
                }
            }
        }
    }
    report
}

enum Oracle {
    Mt940Rs(Value),
    Wolph(Value),
    Js(Value),
}

fn oracle(path: &Path) -> Option<Oracle> {
    let s = path.to_string_lossy();
    let read =
        |p: PathBuf| -> Option<Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    if s.contains("/mt940/mt940-rs/") {
        return read(path.with_extension("json")).map(Oracle::Mt940Rs);
    }
    if s.contains("/wolph-mt940/") {
        let p = path.with_extension("expected.json");
        return read(p).filter(Value::is_object).map(Oracle::Wolph);
    }
    if s.contains("/mt940-js/") {
        return read(path.with_extension("json")).map(Oracle::Js);
    }
    None
}

/// Counts fields compared and collects disagreements.
#[derive(Default)]
struct Cmp {
    fields: usize,
    agreed: usize,
    diffs: Vec<String>,
}

impl Cmp {
    fn eq<T: PartialEq + Display>(&mut self, what: impl Display, expected: T, found: T) {
        self.fields += 1;
        if expected == found {
            self.agreed += 1;
        } else {
            self.diffs
                .push(format!("{what}: expected {expected}, found {found}"));
        }
    }

    fn opt<T: PartialEq + Display>(
        &mut self,
        what: impl Display,
        expected: Option<T>,
        found: Option<T>,
    ) {
        let show = |o: &Option<T>| {
            o.as_ref()
                .map_or("none".to_owned(), |v| format!("{v:?}", v = v.to_string()))
        };
        self.fields += 1;
        if expected == found {
            self.agreed += 1;
        } else {
            self.diffs.push(format!(
                "{what}: expected {}, found {}",
                show(&expected),
                show(&found)
            ));
        }
    }
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn date(v: &Value) -> Option<NaiveDate> {
    v.as_str()
        .filter(|s| !s.is_empty())?
        .get(..10)?
        .parse()
        .ok()
}

fn show_date(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// The account as the other library keeps it (the whole `:25:`) against clerk's split.
fn account_matches(raw: &str, st: &BankStatement) -> bool {
    let raw = raw.trim();
    let ccy = st.currency.map(|c| c.to_string()).unwrap_or_default();
    let mut candidates = vec![st.account.clone()];
    if let Some(b) = &st.servicer_bic {
        candidates.push(format!("{b}/{}", st.account));
    }
    let with_ccy: Vec<String> = candidates
        .iter()
        .flat_map(|c| {
            [
                format!("{c}{ccy}"),
                format!("{c} {ccy}"),
                format!("{c}/{ccy}"),
            ]
        })
        .collect();
    candidates.extend(with_ccy);
    candidates.iter().any(|c| c == raw)
}

/// A customer reference that says there is none (clerk reads it as none, in any case).
fn reference_placeholder(r: &str) -> bool {
    let r = r.trim();
    r.is_empty()
        || ["NONREF", "NOTPROVIDED", "EREF", "PREF", "MARF", "KREF+"]
            .iter()
            .any(|p| r.eq_ignore_ascii_case(p))
}

/// Remittance text without whitespace: the libraries join `:86:` lines with `\n`, nothing or
/// a space, whatever the line, and trim differently; clerk joins a line filled to the width
/// with nothing (a wrap) and a shorter one with a space (see `swift::info`). The words are the
/// same either way; only the whitespace between them differs.
fn squeeze(t: &str) -> String {
    t.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The other libraries keep a German `:86:` raw (`166?00GUTSCHRIFT?20RECHNUNG…?32NAME`);
/// clerk's remittance is the decoded purpose: subfields `?20`–`?29` then `?60`–`?63` without
/// their codes, or the posting text `?00` when there is none (see `swift::info`). This decodes
/// the other library's raw text the same way so the words are compared; other text is only
/// squeezed.
fn remittance_as_clerk_gives_it(raw: &str) -> String {
    let t = squeeze(raw);
    let b = t.as_bytes();
    let gvc = b.len() >= 6 && b[..3].iter().all(u8::is_ascii_digit);
    let first = if gvc { 3 } else { 0 };
    let code_at = |i: usize, sep: u8| {
        b.get(i) == Some(&sep)
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b.get(i + 2).is_some_and(u8::is_ascii_digit)
    };
    let sep = match b.get(first) {
        Some(&c @ b'?') | Some(&c @ b'>') if code_at(first, c) && (gvc || c == b'?') => c,
        _ => return t,
    };
    let marks: Vec<usize> = (first..b.len()).filter(|&i| code_at(i, sep)).collect();
    let mut purpose: Vec<(u32, &str)> = Vec::new();
    let mut posting = "";
    for (k, &m) in marks.iter().enumerate() {
        let end = marks.get(k + 1).copied().unwrap_or(t.len());
        let v = &t[m + 3..end];
        match t[m + 1..m + 3].parse::<u32>().unwrap_or(99) {
            n @ 20..=29 => purpose.push((n - 20, v)),
            n @ 60..=63 => purpose.push((n - 50, v)),
            0 => posting = v,
            _ => {}
        }
    }
    purpose.sort_by_key(|&(ord, _)| ord);
    let decoded: String = purpose.iter().map(|&(_, v)| v).collect();
    if decoded.is_empty() {
        posting.to_owned()
    } else {
        decoded
    }
}

fn balance(
    cmp: &mut Cmp,
    what: &str,
    exp: Option<(Decimal, NaiveDate, String, Option<bool>)>,
    got: Option<&Balance>,
) {
    match (exp, got) {
        (None, None) => {}
        (Some((a, d, c, inter)), Some(b)) => {
            cmp.eq(format!("{what} amount"), a, b.amount);
            cmp.eq(format!("{what} date"), d, b.date);
            cmp.eq(format!("{what} currency"), c, b.currency.to_string());
            if let Some(i) = inter {
                cmp.eq(format!("{what} intermediate"), i, b.intermediate);
            }
        }
        (e, g) => cmp.eq(format!("{what} present"), e.is_some(), g.is_some()),
    }
}

/// mt940-rs: one `Message` per statement.
fn mt940_rs(cmp: &mut Cmp, got: &[BankStatement], exp: &Value) {
    let exp = exp.as_array().cloned().unwrap_or_default();
    cmp.eq("statements", exp.len(), got.len());
    for (i, (e, g)) in exp.iter().zip(got).enumerate() {
        let at = format!("statement {}", i + 1);
        cmp.opt(
            format!("{at} :20:"),
            s(&e["transaction_ref_no"]),
            g.statement_id.clone(),
        );
        let raw = e["account_id"].as_str().unwrap_or("");
        cmp.eq(
            format!("{at} account {raw:?}"),
            true,
            account_matches(raw, g),
        );
        let number = match e["sequence_no"].as_str() {
            Some(seq) => format!("{}/{seq}", e["statement_no"].as_str().unwrap_or("")),
            None => e["statement_no"].as_str().unwrap_or("").to_owned(),
        };
        cmp.opt(format!("{at} number"), Some(number), g.number.clone());
        let bal = |b: &Value, inter: bool| -> Option<(Decimal, NaiveDate, String, Option<bool>)> {
            if b.is_null() {
                return None;
            }
            let sign = if b["debit_credit_indicator"] == "Debit" {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            Some((
                sign * dec(&b["amount"])?,
                date(&b["date"])?,
                s(&b["iso_currency_code"])?,
                inter.then(|| b["is_intermediate"].as_bool().unwrap_or(false)),
            ))
        };
        balance(
            cmp,
            &format!("{at} opening"),
            bal(&e["opening_balance"], true),
            g.opening.as_ref(),
        );
        balance(
            cmp,
            &format!("{at} closing"),
            bal(&e["closing_balance"], true),
            g.closing.as_ref(),
        );
        balance(
            cmp,
            &format!("{at} available"),
            bal(&e["closing_available_balance"], false),
            g.closing_available.as_ref(),
        );
        let ccy = e["opening_balance"]["iso_currency_code"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let lines = e["statement_lines"].as_array().cloned().unwrap_or_default();
        cmp.eq(format!("{at} entries"), lines.len(), g.entries.len());
        for (k, (l, en)) in lines.iter().zip(&g.entries).enumerate() {
            let at = format!("{at} entry {}", k + 1);
            let mark = l["ext_debit_credit_indicator"].as_str().unwrap_or("");
            let sign = if matches!(mark, "Debit" | "ReverseDebit") {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            let amount = dec(&l["amount"]).map(|a| a * sign);
            cmp.opt(format!("{at} amount"), amount, Some(en.amount));
            cmp.eq(
                format!("{at} reversal"),
                mark.starts_with("Reverse"),
                en.reversal,
            );
            cmp.eq(
                format!("{at} currency"),
                ccy.clone(),
                en.currency.to_string(),
            );
            cmp.opt(
                format!("{at} value date"),
                show_date(date(&l["value_date"])),
                show_date(Some(en.value_date)),
            );
            cmp.opt(
                format!("{at} entry date"),
                show_date(date(&l["entry_date"])),
                show_date(en.booking_date),
            );
            let code = match &l["transaction_type_ident_code"] {
                Value::String(c) => Some(c.clone()),
                Value::Object(o) => o.values().next().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            };
            let mine = en
                .transaction_code
                .as_deref()
                .and_then(|c| c.get(1..))
                .map(str::to_owned);
            cmp.opt(format!("{at} transaction type"), code, mine);
            entry_refs(cmp, &at, s(&l["customer_ref"]), s(&l["bank_ref"]), en);
            if let Some(info) = l["information_to_account_owner"].as_str() {
                cmp.eq(
                    format!("{at} remittance"),
                    remittance_as_clerk_gives_it(info),
                    squeeze(&en.remittance),
                );
            }
        }
    }
}

fn entry_refs(
    cmp: &mut Cmp,
    at: &str,
    customer: Option<String>,
    bank: Option<String>,
    en: &StatementEntry,
) {
    if let Some(c) = customer.filter(|c| !reference_placeholder(c)) {
        cmp.opt(
            format!("{at} reference"),
            Some(c.trim().to_owned()),
            en.reference.clone(),
        );
    }
    let bank = bank.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
    cmp.opt(
        format!("{at} bank reference"),
        bank,
        en.bank_reference.clone(),
    );
}

/// Whether the Python library found no statement at all (an empty or non-SWIFT file).
fn wolph_read_nothing(j: &Value) -> bool {
    let data = j["data"].as_object();
    let no_data = data.is_none_or(|d| d.keys().all(|k| k.starts_with("non_swift")));
    no_data && j["transactions"].as_array().is_none_or(Vec::is_empty)
}

/// wolph/mt940: the statements of a file merged into one.
fn wolph(cmp: &mut Cmp, got: &[BankStatement], exp: &Value) {
    let data = &exp["data"];
    let entries: Vec<&StatementEntry> = got.iter().flat_map(|s| &s.entries).collect();
    let txs = exp["transactions"].as_array().cloned().unwrap_or_default();
    cmp.eq("entries (all statements)", txs.len(), entries.len());
    for (k, (t, en)) in txs.iter().zip(&entries).enumerate() {
        let d = &t["data"];
        let at = format!("entry {}", k + 1);
        cmp.opt(
            format!("{at} amount"),
            dec(&d["amount"]["amount"]),
            Some(en.amount),
        );
        cmp.opt(
            format!("{at} currency"),
            s(&d["amount"]["currency"]),
            Some(en.currency.to_string()),
        );
        let status = d["status"].as_str().unwrap_or("");
        cmp.eq(
            format!("{at} reversal"),
            status.starts_with('R'),
            en.reversal,
        );
        cmp.opt(
            format!("{at} value date"),
            show_date(date(&d["date"])),
            show_date(Some(en.value_date)),
        );
        if d.get("entry_date").is_some() {
            cmp.opt(
                format!("{at} entry date"),
                show_date(date(&d["entry_date"])),
                show_date(en.booking_date),
            );
        }
        let code = s(&d["id"]).map(|c| c.trim().to_owned());
        cmp.opt(
            format!("{at} transaction type"),
            code,
            en.transaction_code.clone(),
        );
        entry_refs(
            cmp,
            &at,
            s(&d["customer_reference"]),
            s(&d["bank_reference"]),
            en,
        );
        if let Some(text) = d["transaction_details"].as_str() {
            cmp.eq(
                format!("{at} remittance"),
                remittance_as_clerk_gives_it(text),
                squeeze(&en.remittance),
            );
        }
        // German subfields, where the library split them.
        if d.get("posting_text").is_some() {
            cmp.opt(
                format!("{at} GVC"),
                s(&d["transaction_code"]),
                en.details.purpose_code.clone(),
            );
            let name = s(&d["applicant_name"]).map(|n| n.trim().to_owned());
            cmp.opt(
                format!("{at} counterparty name"),
                name,
                en.details.counterparty_name.clone(),
            );
            if let Some(e2e) = s(&d["end_to_end_reference"]) {
                cmp.opt(
                    format!("{at} end-to-end id"),
                    Some(e2e.trim().to_owned()),
                    en.details.end_to_end_id.clone(),
                );
            }
            if d["additional_purpose"].is_null()
                && let Some(p) = s(&d["purpose"])
            {
                cmp.opt(
                    format!("{at} purpose"),
                    Some(p.trim().to_owned()),
                    en.details.purpose.clone(),
                );
            }
        }
    }
    let Some(last) = got.last() else {
        return;
    };
    if let Some(a) = data["account_identification"].as_str() {
        cmp.eq(format!("account {a:?}"), true, account_matches(a, last));
    }
    if let Some(r) = s(&data["transaction_reference"]) {
        cmp.opt(":20:", Some(r), last.statement_id.clone());
    }
    let bal = |b: &Value| -> Option<(Decimal, NaiveDate, String, Option<bool>)> {
        if b.is_null() {
            return None;
        }
        // Already signed.
        Some((
            dec(&b["amount"]["amount"])?,
            date(&b["date"])?,
            s(&b["amount"]["currency"])?,
            None,
        ))
    };
    let last_of = |f: &dyn Fn(&BankStatement) -> Option<&Balance>, inter: bool| {
        got.iter()
            .rev()
            .filter_map(f)
            .find(|b| b.intermediate == inter)
    };
    for (key, inter, opening) in [
        ("final_opening_balance", false, true),
        ("intermediate_opening_balance", true, true),
        ("final_closing_balance", false, false),
        ("intermediate_closing_balance", true, false),
    ] {
        if data.get(key).is_some() {
            let mine = if opening {
                last_of(&|s| s.opening.as_ref(), inter)
            } else {
                last_of(&|s| s.closing.as_ref(), inter)
            };
            balance(cmp, key, bal(&data[key]), mine);
        }
    }
    if data.get("available_balance").is_some() {
        let mine = got.iter().rev().find_map(|s| s.closing_available.as_ref());
        balance(
            cmp,
            "available_balance",
            bal(&data["available_balance"]),
            mine,
        );
    }
}

/// mt940-js: one object per statement.
fn js(cmp: &mut Cmp, got: &[BankStatement], exp: &Value) {
    let exp = exp.as_array().cloned().unwrap_or_default();
    cmp.eq("statements", exp.len(), got.len());
    for (i, (e, g)) in exp.iter().zip(got).enumerate() {
        let at = format!("statement {}", i + 1);
        cmp.opt(
            format!("{at} :20:"),
            s(&e["referenceNumber"]),
            g.statement_id.clone(),
        );
        let raw = e["accountId"].as_str().unwrap_or("");
        cmp.eq(
            format!("{at} account {raw:?}"),
            true,
            account_matches(raw, g),
        );
        let number = g
            .number
            .as_deref()
            .map(|n| n.split('/').next().unwrap_or(n).to_owned());
        cmp.opt(format!("{at} number"), s(&e["number"]), number);
        let bal = |b: &Value| -> Option<(Decimal, NaiveDate, String, Option<bool>)> {
            if b.is_null() {
                return None;
            }
            let sign = if b["isCredit"] == true {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            Some((
                sign * dec(&b["value"])?,
                date(&b["date"])?,
                s(&b["currency"])?,
                None,
            ))
        };
        balance(
            cmp,
            &format!("{at} opening"),
            bal(&e["openingBalance"]),
            g.opening.as_ref(),
        );
        balance(
            cmp,
            &format!("{at} closing"),
            bal(&e["closingBalance"]),
            g.closing.as_ref(),
        );
        balance(
            cmp,
            &format!("{at} available"),
            bal(&e["closingAvailableBalance"]),
            g.closing_available.as_ref(),
        );
        let txs = e["transactions"].as_array().cloned().unwrap_or_default();
        cmp.eq(format!("{at} entries"), txs.len(), g.entries.len());
        for (k, (t, en)) in txs.iter().zip(&g.entries).enumerate() {
            let at = format!("{at} entry {}", k + 1);
            let sign = if t["isCredit"] == true {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            cmp.opt(
                format!("{at} amount"),
                dec(&t["amount"]).map(|a| a * sign),
                Some(en.amount),
            );
            cmp.opt(
                format!("{at} currency"),
                s(&t["currency"]),
                Some(en.currency.to_string()),
            );
            cmp.opt(
                format!("{at} value date"),
                show_date(date(&t["valueDate"])),
                show_date(Some(en.value_date)),
            );
            cmp.opt(
                format!("{at} entry date"),
                show_date(date(&t["entryDate"])),
                show_date(en.booking_date),
            );
            let code = s(&t["code"]).map(|c| c.trim().to_owned());
            cmp.opt(
                format!("{at} transaction type"),
                code,
                en.transaction_code.clone(),
            );
            entry_refs(
                cmp,
                &at,
                s(&t["customerReference"]),
                s(&t["bankReference"]),
                en,
            );
        }
    }
}
