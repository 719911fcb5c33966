//! The `csv` export: a generic journal layout any ERP's import can be pointed at. One row per
//! entry line, after a header row:
//!
//! | column      | what                                                                 |
//! |-------------|----------------------------------------------------------------------|
//! | `entry`     | clerk's entry id (the same id `clerk journal` shows)                 |
//! | `date`      | posting date, `YYYY-MM-DD`                                           |
//! | `account`   | the target's account (the account map's, else clerk's own name)     |
//! | `debit`     | the line's amount when it is a debit, else empty                     |
//! | `credit`    | the line's amount when it is a credit (written positive), else empty |
//! | `currency`  | ISO 4217 code                                                        |
//! | `narrative` | the entry's narrative                                                |
//! | `source`    | where the records it settles were read (`file.csv line 8`), `; `-separated |
//! | `job`       | the job that posted it                                               |
//! | `match`     | the match it books                                                   |
//! | `reverses`  | the id of the entry it reverses (a reversal's lines are the original's negated); empty otherwise |
//! | `value_date` | the date the entry would have had, when its period was closed and it was posted on the next open day; empty otherwise |
//!
//! **Invariants:** quoting is RFC 4180 (a field holding the delimiter, a quote, CR or LF is
//! quoted, quotes doubled; lines end in CRLF as the RFC says); amounts are the exact decimals
//! clerk keeps, with `.` as the decimal point and no thousands separator, never through a float;
//! every line of an entry shares its entry id, so an importer can group them back into
//! balanced entries.
//!
//! Options (`[exports.options]`): `delimiter` = `","` (default), `";"` or `"\t"`, for importers
//! in locales whose spreadsheet default is a semicolon.

use std::io::Write;

use rust_decimal::Decimal;

use super::{Accounts, Batch, ExportError, Format, refuse_unknown_options};
use crate::model::journal::PostedEntry;

/// The header row's column names, in order.
pub const COLUMNS: &[&str] = &[
    "entry",
    "date",
    "account",
    "debit",
    "credit",
    "currency",
    "narrative",
    "source",
    "job",
    "match",
    "reverses",
    "value_date",
];

/// The csv format, with its delimiter.
#[derive(Debug, Clone)]
pub struct Csv {
    delimiter: u8,
    /// One row, reused between lines so rendering a million entries does not allocate per line.
    row: Vec<u8>,
}

impl Default for Csv {
    fn default() -> Self {
        Self {
            delimiter: b',',
            row: Vec::new(),
        }
    }
}

impl Csv {
    /// From `[exports.options]`: `delimiter` only.
    pub fn from_options(options: &toml::Table) -> Result<Self, String> {
        refuse_unknown_options("csv", options, &["delimiter"])?;
        let mut csv = Self::default();
        if let Some(value) = options.get("delimiter") {
            csv.delimiter = match value.as_str() {
                Some(",") => b',',
                Some(";") => b';',
                Some("\t") => b'\t',
                _ => {
                    return Err(format!(
                        "the csv export's delimiter must be \",\", \";\" or \"\\t\", not {value}"
                    ));
                }
            };
        }
        Ok(csv)
    }

    fn field(&mut self, value: &str) {
        if !self.row.is_empty() {
            self.row.push(self.delimiter);
        }
        let needs_quotes = value
            .bytes()
            .any(|b| b == self.delimiter || b == b'"' || b == b'\r' || b == b'\n');
        if needs_quotes {
            self.row.push(b'"');
            for b in value.bytes() {
                if b == b'"' {
                    self.row.push(b'"');
                }
                self.row.push(b);
            }
            self.row.push(b'"');
        } else {
            self.row.extend_from_slice(value.as_bytes());
        }
    }

    fn end_row(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        self.row.extend_from_slice(b"\r\n");
        out.write_all(&self.row)?;
        self.row.clear();
        Ok(())
    }
}

impl Format for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }

    fn begin(&mut self, out: &mut dyn Write, _batch: &Batch<'_>) -> Result<(), ExportError> {
        for column in COLUMNS {
            self.field(column);
        }
        self.end_row(out)
    }

    fn entry(
        &mut self,
        out: &mut dyn Write,
        entry: &PostedEntry,
        accounts: &Accounts,
    ) -> Result<(), ExportError> {
        let id = entry.id.to_string();
        let date = entry.posting_date.format("%Y-%m-%d").to_string();
        let source = entry.sources.join("; ");
        let match_id = entry.match_id.to_string();
        let reverses = entry.reverses.map(|id| id.to_string()).unwrap_or_default();
        let value_date = entry
            .value_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        for line in &entry.lines {
            let account = accounts.mapped(&line.account).unwrap_or(&line.account);
            // Decimal's Display keeps the scale it was posted with and never uses an exponent.
            let amount = line.amount.abs().to_string();
            let (debit, credit) = if line.amount >= Decimal::ZERO {
                (amount.as_str(), "")
            } else {
                ("", amount.as_str())
            };
            self.field(&id);
            self.field(&date);
            self.field(account);
            self.field(debit);
            self.field(credit);
            self.field(line.currency.as_str());
            self.field(&entry.narrative);
            self.field(&source);
            self.field(&entry.job);
            self.field(&match_id);
            self.field(&reverses);
            self.field(&value_date);
            self.end_row(out)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::model::{Currency, EntryLine};

    fn entry(id: i64, narrative: &str, lines: &[(&str, &str)]) -> PostedEntry {
        PostedEntry {
            id,
            job: "bank-rec".into(),
            posting_date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            narrative: narrative.into(),
            posted_at: Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap(),
            run_id: 3,
            match_id: 40 + id,
            pass: "reference".into(),
            lines: lines
                .iter()
                .map(|(account, amount)| EntryLine {
                    account: (*account).into(),
                    currency: Currency::from_str("EUR").unwrap(),
                    amount: Decimal::from_str(amount).unwrap(),
                    fx: None,
                })
                .collect(),
            sources: vec![
                "stmt.csv line 8".into(),
                "ledger.xlsx sheet Open line 2".into(),
            ],
            reverses: None,
            reversed_by: None,
            value_date: None,
        }
    }

    fn render(csv: &mut Csv, entries: &[PostedEntry], accounts: &Accounts) -> String {
        let batch = Batch {
            target: "erp",
            number: 1,
            created_at: Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap(),
            first_date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            last_date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            reexport: false,
        };
        let mut out = Vec::new();
        csv.begin(&mut out, &batch).unwrap();
        for e in entries {
            csv.entry(&mut out, e, accounts).unwrap();
        }
        csv.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_row_per_line_debits_and_credits_apart_amounts_exact() {
        let text = render(
            &mut Csv::default(),
            &[entry(
                7,
                "Invoice 1001",
                &[("1200 Bank", "1250.10"), ("1400 Receivables", "-1250.10")],
            )],
            &Accounts::default(),
        );
        assert_eq!(
            text,
            "entry,date,account,debit,credit,currency,narrative,source,job,match,reverses,value_date\r\n\
             7,2026-11-30,1200 Bank,1250.10,,EUR,Invoice 1001,stmt.csv line 8; ledger.xlsx sheet Open line 2,bank-rec,47,,\r\n\
             7,2026-11-30,1400 Receivables,,1250.10,EUR,Invoice 1001,stmt.csv line 8; ledger.xlsx sheet Open line 2,bank-rec,47,,\r\n"
        );
    }

    #[test]
    fn quotes_delimiters_quotes_and_newlines_and_reads_back() {
        let narrative = "Acme, \"Ltd\"\nsecond line";
        let text = render(
            &mut Csv::default(),
            &[entry(
                1,
                narrative,
                &[("bank", "0.000001"), ("ar", "-0.000001")],
            )],
            &Accounts::default(),
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][6], narrative);
        assert_eq!(&rows[0][3], "0.000001");
        assert_eq!(&rows[1][4], "0.000001");
    }

    #[test]
    fn the_account_map_names_the_targets_accounts() {
        let mut accounts = Accounts::default();
        accounts.map.insert("bank".into(), "1200".into());
        let text = render(
            &mut Csv::default(),
            &[entry(1, "x", &[("bank", "5"), ("ar", "-5")])],
            &accounts,
        );
        assert!(text.contains("\r\n1,2026-11-30,1200,5,"), "{text}");
        assert!(text.contains("\r\n1,2026-11-30,ar,,5,"), "{text}");
    }

    #[test]
    fn semicolon_delimiter_and_options_checked() {
        let options: toml::Table = toml::from_str("delimiter = \";\"").unwrap();
        let mut csv = Csv::from_options(&options).unwrap();
        let text = render(
            &mut csv,
            &[entry(1, "a;b", &[("bank", "5"), ("ar", "-5")])],
            &Accounts::default(),
        );
        assert!(text.starts_with("entry;date;account;"), "{text}");
        assert!(text.contains(";\"a;b\";"), "{text}");

        let bad: toml::Table = toml::from_str("delimter = \";\"").unwrap();
        let err = Csv::from_options(&bad).unwrap_err();
        assert!(
            err.contains("\"delimter\"") && err.contains("delimiter"),
            "{err}"
        );
        let bad: toml::Table = toml::from_str("delimiter = \"|\"").unwrap();
        assert!(Csv::from_options(&bad).unwrap_err().contains("delimiter"));
    }

    #[test]
    fn format_for_knows_csv_and_lists_formats_for_others() {
        let csv = crate::export::format_for("csv", &toml::Table::new()).unwrap();
        assert_eq!(csv.extension(), "csv");
        let err = crate::export::format_for("qif", &toml::Table::new())
            .err()
            .unwrap();
        assert!(err.contains("\"qif\"") && err.contains("csv"), "{err}");
    }
}
