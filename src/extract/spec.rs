//! The `[extract]` table of a job file, and its check into a [`Layout`] ready to run.
//!
//! Two steps, as everywhere in clerk: [`ExtractSpec`] is what the user typed (strings, options),
//! [`Layout`] is the checked result (parsed separators, date formats, which fields come from
//! which column). Every mistake is reported with the key it is about.

use std::fmt::Write as _;

use chrono_tz::Tz;
use serde::Deserialize;

use super::Format;
use super::amount::AmountStyle;
use super::date::DateFormats;
use super::text::TextEncoding;
use crate::model::{Currency, Side};

/// How clerk reads one kind of file into records: the `[extract]` table of a job file.
///
/// Only `columns` usually needs writing: everything else has a default that suits most
/// bank and ledger exports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    /// `"auto"` (the default: recognised by content, never by the file name), `"csv"`,
    /// `"xlsx"` (also `.xlsm`), `"xls"` or `"ods"`. A pinned format that the content
    /// contradicts is an error, so a mis-routed file is refused rather than misread.
    pub format: Option<String>,
    /// CSV field separator: `","`, `";"`, `"tab"` (or `"\t"`) or `"|"`. Default: found from
    /// the header line (the separator that splits it into all the mapped column names).
    pub delimiter: Option<String>,
    /// CSV text encoding: `"auto"` (the default: a byte-order mark decides between UTF-8,
    /// UTF-16LE and UTF-16BE; without one the file is UTF-8 if it is valid UTF-8, else
    /// Windows-1252), `"utf-8"`, `"windows-1252"`, `"latin-1"` (read as Windows-1252, as
    /// browsers do), `"utf-16le"` or `"utf-16be"`.
    pub encoding: Option<String>,
    /// 1-based line (CSV) or row (spreadsheet) of the header. Default: the first of the
    /// first 50 lines/rows that contains every mapped column name.
    pub header_row: Option<u32>,
    /// Worksheet to read, by name. Default: the first visible worksheet.
    pub sheet: Option<String>,
    /// Decimal mark in amounts written as text: `'.'` (default) or `','`.
    pub decimal_separator: Option<char>,
    /// Digit-group separator in amounts written as text: `','`, `'.'`, `' '` (also accepts
    /// no-break spaces) or `'\''`. Default: none, so `1,234.56` is refused rather than guessed.
    /// Groups must be of three digits.
    pub thousands_separator: Option<char>,
    /// Date formats (chrono strftime, e.g. `"%d.%m.%Y"`), tried in order. Default
    /// `["%Y-%m-%d"]`. Spreadsheet date cells and serial numbers need no format.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// Skip totals rows (no date, and a cell starting with total/sum/summe/gesamt) instead of
    /// refusing the file. Default true.
    pub skip_totals: Option<bool>,
    /// Which column holds what, by header name (case-insensitive, surrounding spaces ignored).
    #[serde(default)]
    pub columns: Columns,
    /// Values used when a file has no such column, or the cell is empty.
    #[serde(default)]
    pub defaults: Defaults,
    /// Values of the `dc_mark` column that mean debit (money out), case-insensitive. Any
    /// other non-empty mark means credit. Default `["D", "DR", "DEBIT", "S", "SOLL"]`.
    #[serde(default)]
    pub debit_marks: Vec<String>,
    /// The account's time zone (IANA name such as `"Europe/Berlin"`): a camt booking or value
    /// date-time written in UTC or with an offset (`2026-03-31T23:30:00Z`) falls on its day in
    /// this zone. Default: the daemon's `timezone`.
    pub timezone: Option<String>,
}

/// Header names of the columns clerk reads. Required: `value_date`; the money as `amount`,
/// or `debit` and/or `credit`, or `amount` with `dc_mark`; `currency` unless
/// `defaults.currency` is set; and `id` for ledger files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// Ledger item id (required for ledgers), or the bank's reference on statements.
    pub id: Option<String>,
    /// Ledger account or bank account (IBAN).
    pub account: Option<String>,
    /// When the money counts (required).
    pub value_date: Option<String>,
    /// When the bank booked it.
    pub booking_date: Option<String>,
    /// Signed amount, positive = money in. With `dc_mark`, an unsigned amount.
    pub amount: Option<String>,
    /// Money out, as a positive number (amount = credit - debit).
    pub debit: Option<String>,
    /// Money in, as a positive number.
    pub credit: Option<String>,
    /// Debit/credit mark for an unsigned `amount` (see `debit_marks`).
    pub dc_mark: Option<String>,
    /// Three-letter currency code.
    pub currency: Option<String>,
    /// Our reference (invoice number).
    pub reference: Option<String>,
    /// Who paid or was paid.
    pub counterparty: Option<String>,
    /// Remittance information / payment details.
    pub remittance: Option<String>,
    /// The bank's transaction code or type on a statement line (`NCHG`, `Entgelt`, a camt
    /// `PMNT/CCRD/CHRG` an export carries over): what `[[posting.rules]]` codes compare.
    pub transaction_code: Option<String>,
}

/// Values for records whose file lacks the column (or whose cell is empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Currency code, e.g. `"EUR"`.
    pub currency: Option<String>,
    /// Account, e.g. the IBAN of the statement's account.
    pub account: Option<String>,
}

/// A problem in the settings, naming the key (e.g. `extract.columns.amount`,
/// `extract.date_formats[1]`).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SpecError {
    pub key: String,
    pub message: String,
}

impl SpecError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A record field that a column can feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Id,
    Account,
    ValueDate,
    BookingDate,
    Amount,
    Debit,
    Credit,
    DcMark,
    Currency,
    Reference,
    Counterparty,
    Remittance,
    TransactionCode,
}

/// Number of [`Field`]s; arrays indexed by `field as usize` have this length.
pub(crate) const FIELDS: usize = 13;

impl Field {
    pub(crate) const ALL: [Field; FIELDS] = [
        Field::Id,
        Field::Account,
        Field::ValueDate,
        Field::BookingDate,
        Field::Amount,
        Field::Debit,
        Field::Credit,
        Field::DcMark,
        Field::Currency,
        Field::Reference,
        Field::Counterparty,
        Field::Remittance,
        Field::TransactionCode,
    ];

    /// The key under `extract.columns`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Account => "account",
            Field::ValueDate => "value_date",
            Field::BookingDate => "booking_date",
            Field::Amount => "amount",
            Field::Debit => "debit",
            Field::Credit => "credit",
            Field::DcMark => "dc_mark",
            Field::Currency => "currency",
            Field::Reference => "reference",
            Field::Counterparty => "counterparty",
            Field::Remittance => "remittance",
            Field::TransactionCode => "transaction_code",
        }
    }
}

/// A mapped column: its name as the user wrote it (for messages) and as matched.
#[derive(Debug, Clone)]
pub(crate) struct ColumnName {
    /// As written in the job file, trimmed: shown in messages.
    pub(crate) shown: String,
    /// Trimmed and lower-cased: compared with trimmed, lower-cased header cells.
    pub(crate) key: String,
}

impl ColumnName {
    /// Whether a header cell names this column.
    pub(crate) fn matches(&self, header_cell: &str) -> bool {
        let h = header_cell.trim().trim_start_matches('\u{feff}').trim();
        if h.is_ascii() {
            h.eq_ignore_ascii_case(&self.key)
        } else {
            h.to_lowercase() == self.key
        }
    }
}

/// Where the signed amount comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Money {
    /// One signed `amount` column.
    Signed,
    /// `debit` and/or `credit` columns: amount = credit - debit.
    DebitCredit,
    /// Unsigned `amount` plus a `dc_mark` column.
    Marked,
}

/// Checked settings, ready to run (parsed formats, separators, chosen fields).
#[derive(Debug, Clone)]
pub struct Layout {
    pub(crate) side: Side,
    /// `None`: recognised by content.
    pub(crate) format: Option<Format>,
    pub(crate) delimiter: Option<u8>,
    pub(crate) encoding: TextEncoding,
    pub(crate) header_row: Option<u32>,
    pub(crate) sheet: Option<String>,
    pub(crate) amounts: AmountStyle,
    pub(crate) dates: DateFormats,
    pub(crate) skip_totals: bool,
    /// Whether the job maps columns, so it can read CSV and spreadsheets.
    pub(crate) tabular: bool,
    /// Indexed by `Field as usize`.
    pub(crate) columns: [Option<ColumnName>; FIELDS],
    pub(crate) money: Money,
    pub(crate) default_currency: Option<Currency>,
    pub(crate) default_account: Option<String>,
    /// Upper-cased, trimmed.
    pub(crate) debit_marks: Vec<String>,
    /// The account's time zone; `None` reads date-times' dates as written.
    pub(crate) timezone: Option<Tz>,
}

impl Layout {
    pub(crate) fn column(&self, f: Field) -> Option<&ColumnName> {
        self.columns[f as usize].as_ref()
    }

    /// The mapped columns, in field order.
    pub(crate) fn mapped(&self) -> impl Iterator<Item = (Field, &ColumnName)> {
        Field::ALL
            .into_iter()
            .filter_map(|f| self.column(f).map(|c| (f, c)))
    }

    /// "id, value_date, amount": the header names clerk looks for, for messages.
    pub(crate) fn wanted_columns(&self) -> String {
        let mut s = String::new();
        for (i, (_, c)) in self.mapped().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{:?}", c.shown);
        }
        s
    }
}

const DEFAULT_DEBIT_MARKS: [&str; 5] = ["D", "DR", "DEBIT", "S", "SOLL"];

impl ExtractSpec {
    /// Checks the settings for a file of the given side and resolves them. The first setting
    /// that is wrong is the error, in the order the settings are documented.
    pub fn check(&self, side: Side) -> Result<Layout, SpecError> {
        let format = self.format_named()?;
        let delimiter = self.delimiter_named()?;
        let encoding = self.encoding_named()?;
        self.check_header_row()?;
        let sheet = self.sheet_named()?;
        let amounts = self.amount_style()?;
        let dates = DateFormats::new(&self.date_formats)
            .map_err(|(i, m)| SpecError::new(format!("extract.date_formats[{i}]"), m))?;

        let columns = self.column_names()?;
        let has = |f: Field| columns[f as usize].is_some();
        // A job that only takes structured documents (MT940, camt.053, invoices) maps no
        // columns; then a spreadsheet or CSV dropped into its folder is refused when read.
        let tabular = Field::ALL.into_iter().any(has);
        if !tabular && let Some(f) = format.filter(|f| f.is_tabular()) {
            return Err(SpecError::new(
                "extract.columns",
                format!("is required to read {f} files: which column holds which field"),
            ));
        }
        if tabular && !has(Field::ValueDate) {
            return Err(SpecError::new(
                "extract.columns.value_date",
                "is required: the header name of the value date column",
            ));
        }
        let money = money_columns(tabular, has)?;

        let default_currency = match self.defaults.currency.as_deref() {
            None => None,
            Some(s) => Some(
                s.parse::<Currency>()
                    .map_err(|m| SpecError::new("extract.defaults.currency", m))?,
            ),
        };
        if tabular && !has(Field::Currency) && default_currency.is_none() {
            return Err(SpecError::new(
                "extract.columns.currency",
                "is required unless extract.defaults.currency is set",
            ));
        }
        if tabular && side == Side::Ledger && !has(Field::Id) {
            return Err(SpecError::new(
                "extract.columns.id",
                "is required for ledger files: the column holding each item's id",
            ));
        }
        let default_account = match self.defaults.account.as_deref().map(str::trim) {
            Some("") => {
                return Err(SpecError::new(
                    "extract.defaults.account",
                    "is empty; leave it out instead",
                ));
            }
            a => a.map(str::to_owned),
        };
        let debit_marks = self.debit_marks_for(money)?;
        let timezone = self.timezone_named()?;

        Ok(Layout {
            side,
            format,
            delimiter,
            encoding,
            header_row: self.header_row,
            sheet,
            amounts,
            dates,
            skip_totals: self.skip_totals.unwrap_or(true),
            tabular,
            columns,
            money,
            default_currency,
            default_account,
            debit_marks,
            timezone,
        })
    }

    /// The file format the job insists on; `auto` (or none) recognises it by content.
    fn format_named(&self) -> Result<Option<Format>, SpecError> {
        match self.format.as_deref().map(str::trim) {
            None | Some("auto") => Ok(None),
            Some(s) => Ok(Some(Format::from_name(s).ok_or_else(|| {
                SpecError::new(
                    "extract.format",
                    format!("unknown format {s:?}; expected \"auto\", \"csv\", \"xlsx\", \"xls\" or \"ods\""),
                )
            })?)),
        }
    }

    /// The CSV delimiter the job insists on; none means it is sniffed from the file.
    fn delimiter_named(&self) -> Result<Option<u8>, SpecError> {
        let Some(d) = self.delimiter.as_deref() else {
            return Ok(None);
        };
        Ok(Some(match d {
            "," => b',',
            ";" => b';',
            "tab" | "\t" | "\\t" => b'\t',
            "|" => b'|',
            _ => {
                return Err(SpecError::new(
                    "extract.delimiter",
                    format!("unknown delimiter {d:?}; expected \",\", \";\", \"tab\" or \"|\""),
                ));
            }
        }))
    }

    fn encoding_named(&self) -> Result<TextEncoding, SpecError> {
        match self.encoding.as_deref() {
            None => Ok(TextEncoding::Auto),
            Some(e) => TextEncoding::from_label(e).ok_or_else(|| {
                SpecError::new(
                    "extract.encoding",
                    format!(
                        "unknown encoding {e:?}; expected \"auto\", \"utf-8\", \"windows-1252\", \
                         \"latin-1\", \"utf-16le\" or \"utf-16be\""
                    ),
                )
            }),
        }
    }

    /// Rows are counted from 1, up to the configured limit.
    fn check_header_row(&self) -> Result<(), SpecError> {
        if self.header_row == Some(0) {
            return Err(SpecError::new(
                "extract.header_row",
                "rows are counted from 1; 0 is not a row",
            ));
        }
        if let Some(row) = self.header_row {
            let range = crate::settings::limits::HEADER_ROW;
            range
                .check(i64::from(row))
                .map_err(|m| SpecError::new(range.key, m))?;
        }
        Ok(())
    }

    fn sheet_named(&self) -> Result<Option<String>, SpecError> {
        match self.sheet.as_deref().map(str::trim) {
            Some("") => Err(SpecError::new(
                "extract.sheet",
                "is empty; leave it out to read the first sheet",
            )),
            s => Ok(s.map(str::to_owned)),
        }
    }

    /// How amounts are written: the decimal mark and the digit-group separator, which must
    /// differ or `1.234` would mean two things.
    fn amount_style(&self) -> Result<AmountStyle, SpecError> {
        let decimal = self.decimal_separator.unwrap_or('.');
        if decimal != '.' && decimal != ',' {
            return Err(SpecError::new(
                "extract.decimal_separator",
                format!("{decimal:?} is not a decimal mark; expected '.' or ','"),
            ));
        }
        if let Some(t) = self.thousands_separator {
            if !matches!(t, ',' | '.' | ' ' | '\'' | '’' | '\u{a0}' | '\u{202f}') {
                return Err(SpecError::new(
                    "extract.thousands_separator",
                    format!(
                        "{t:?} is not a digit-group separator; expected ',', '.', ' ' or '\\''"
                    ),
                ));
            }
            if t == decimal {
                return Err(SpecError::new(
                    "extract.thousands_separator",
                    format!("is {t:?}, the same as the decimal separator"),
                ));
            }
        }
        Ok(AmountStyle::new(decimal, self.thousands_separator))
    }

    /// The header name of each mapped column, by field; headers are looked up lower-cased.
    fn column_names(&self) -> Result<[Option<ColumnName>; FIELDS], SpecError> {
        let mut columns: [Option<ColumnName>; FIELDS] = Default::default();
        let c = &self.columns;
        let given = [
            &c.id,
            &c.account,
            &c.value_date,
            &c.booking_date,
            &c.amount,
            &c.debit,
            &c.credit,
            &c.dc_mark,
            &c.currency,
            &c.reference,
            &c.counterparty,
            &c.remittance,
            &c.transaction_code,
        ];
        for (f, name) in Field::ALL.into_iter().zip(given) {
            if let Some(name) = name {
                let shown = name.trim();
                if shown.is_empty() {
                    return Err(SpecError::new(
                        format!("extract.columns.{}", f.key()),
                        "is empty; give the column's header name, or leave the key out",
                    ));
                }
                columns[f as usize] = Some(ColumnName {
                    shown: shown.to_owned(),
                    key: shown.to_lowercase(),
                });
            }
        }
        Ok(columns)
    }

    /// The marks that make an amount a debit, upper-cased; they only mean something with a
    /// debit/credit mark column.
    fn debit_marks_for(&self, money: Money) -> Result<Vec<String>, SpecError> {
        let debit_marks = if self.debit_marks.is_empty() {
            DEFAULT_DEBIT_MARKS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            let mut v = Vec::with_capacity(self.debit_marks.len());
            for (i, m) in self.debit_marks.iter().enumerate() {
                let m = m.trim();
                if m.is_empty() {
                    return Err(SpecError::new(
                        format!("extract.debit_marks[{i}]"),
                        "is empty; an empty mark is always an error in the file",
                    ));
                }
                v.push(m.to_uppercase());
            }
            v
        };
        if !self.debit_marks.is_empty() && money != Money::Marked {
            return Err(SpecError::new(
                "extract.debit_marks",
                "only applies with a dc_mark column",
            ));
        }
        Ok(debit_marks)
    }

    fn timezone_named(&self) -> Result<Option<Tz>, SpecError> {
        match self.timezone.as_deref().map(str::trim) {
            None => Ok(None),
            Some(t) => Ok(Some(t.parse::<Tz>().map_err(|_| {
                SpecError::new(
                    "extract.timezone",
                    format!("unknown time zone {t:?}; use an IANA name such as Europe/Berlin"),
                )
            })?)),
        }
    }
}

/// How a table gives the money: one signed amount, an amount with a debit/credit mark, or
/// separate debit and credit columns. A job without columns reads documents, which carry
/// signed amounts.
fn money_columns(tabular: bool, has: impl Fn(Field) -> bool) -> Result<Money, SpecError> {
    match (
        has(Field::Amount) || !tabular,
        has(Field::Debit) || has(Field::Credit),
        has(Field::DcMark),
    ) {
        (true, false, false) => Ok(Money::Signed),
        (true, false, true) => Ok(Money::Marked),
        (false, true, false) => Ok(Money::DebitCredit),
        (false, false, false) => Err(SpecError::new(
            "extract.columns.amount",
            "is required (or debit and/or credit): which column holds the money",
        )),
        (true, true, _) => Err(SpecError::new(
            "extract.columns.amount",
            "cannot be used together with debit/credit columns; use one or the other",
        )),
        (false, _, true) => Err(SpecError::new(
            "extract.columns.dc_mark",
            "needs an amount column (the unsigned amount the mark applies to)",
        )),
    }
}

impl Layout {
    /// This layout, counting the account's days in `zone` unless the job names its own.
    pub fn with_default_timezone(mut self, zone: Tz) -> Layout {
        self.timezone.get_or_insert(zone);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> ExtractSpec {
        toml::from_str(toml_text).expect("test spec parses")
    }

    const MINIMAL: &str = r#"
        [columns]
        value_date = "Value Date"
        amount = "Amount"
        currency = "Ccy"
    "#;

    #[test]
    fn minimal_statement_spec_checks_with_defaults() {
        let l = spec(MINIMAL).check(Side::Statement).unwrap();
        assert_eq!(l.format, None);
        assert_eq!(l.delimiter, None);
        assert_eq!(l.encoding, TextEncoding::Auto);
        assert!(l.skip_totals);
        assert_eq!(l.money, Money::Signed);
        assert_eq!(l.debit_marks, ["D", "DR", "DEBIT", "S", "SOLL"]);
        let c = l.column(Field::ValueDate).unwrap();
        assert_eq!(c.key, "value date");
        assert!(c.matches("  VALUE DATE "));
        assert!(c.matches("\u{feff}Value Date"));
        assert!(!c.matches("Value"));
    }

    #[test]
    fn unknown_keys_are_refused_by_serde() {
        let r: Result<ExtractSpec, _> = toml::from_str("delimeter = \";\"");
        assert!(r.is_err());
        let r: Result<ExtractSpec, _> = toml::from_str("[columns]\nammount = \"x\"");
        assert!(r.is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, Side, &str)] = &[
            (
                "[columns]\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.columns.value_date",
            ),
            (
                "[columns]\nvalue_date = \"d\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.columns.amount",
            ),
            (
                "[columns]\nvalue_date = \"d\"\namount = \"a\"",
                Side::Statement,
                "extract.columns.currency",
            ),
            (MINIMAL, Side::Ledger, "extract.columns.id"),
            (
                "format = \"pdf\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.format",
            ),
            (
                "delimiter = \"::\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.delimiter",
            ),
            (
                "encoding = \"ebcdic\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.encoding",
            ),
            (
                "header_row = 0\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.header_row",
            ),
            (
                "decimal_separator = \";\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.decimal_separator",
            ),
            (
                "decimal_separator = \",\"\nthousands_separator = \",\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.thousands_separator",
            ),
            (
                "date_formats = [\"%Y-%m-%d\", \"%d.%m\"]\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.date_formats[1]",
            ),
            (
                "date_formats = [\"%Q\"]\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.date_formats[0]",
            ),
            (
                "[columns]\nvalue_date = \"d\"\namount = \"a\"\ndebit = \"s\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.columns.amount",
            ),
            (
                "[columns]\nvalue_date = \"d\"\ndebit = \"s\"\ndc_mark = \"m\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.columns.dc_mark",
            ),
            (
                "[columns]\nvalue_date = \"  \"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.columns.value_date",
            ),
            (
                "[columns]\nvalue_date = \"d\"\namount = \"a\"\n[defaults]\ncurrency = \"EURO\"",
                Side::Statement,
                "extract.defaults.currency",
            ),
            (
                "debit_marks = [\"D\"]\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.debit_marks",
            ),
            (
                "sheet = \"\"\n[columns]\nvalue_date = \"d\"\namount = \"a\"\ncurrency = \"c\"",
                Side::Statement,
                "extract.sheet",
            ),
        ];
        for (text, side, key) in cases {
            let e = spec(text)
                .check(*side)
                .err()
                .unwrap_or_else(|| panic!("{text} checked"));
            assert_eq!(&e.key, key, "{text}: {e}");
            assert!(e.to_string().starts_with(key));
        }
    }

    #[test]
    fn money_modes_and_separators_resolve() {
        let l = spec(
            "delimiter = \"tab\"\ndecimal_separator = \",\"\nthousands_separator = \".\"\n\
             format = \"xlsx\"\nencoding = \"latin-1\"\n\
             [columns]\nvalue_date = \"d\"\ndebit = \"Soll\"\ncredit = \"Haben\"\n\
             [defaults]\ncurrency = \"eur\"\naccount = \"DE02\"",
        )
        .check(Side::Statement)
        .unwrap();
        assert_eq!(l.money, Money::DebitCredit);
        assert_eq!(l.delimiter, Some(b'\t'));
        assert_eq!(l.format, Some(Format::Xlsx));
        assert_eq!(l.encoding, TextEncoding::Windows1252);
        assert_eq!(l.default_currency.unwrap().as_str(), "EUR");
        assert_eq!(l.default_account.as_deref(), Some("DE02"));

        let l = spec(
            "debit_marks = [\" s \", \"Lastschrift\"]\n\
             [columns]\nvalue_date = \"d\"\namount = \"a\"\ndc_mark = \"S/H\"\ncurrency = \"c\"",
        )
        .check(Side::Statement)
        .unwrap();
        assert_eq!(l.money, Money::Marked);
        assert_eq!(l.debit_marks, ["S", "LASTSCHRIFT"]);
    }
}
