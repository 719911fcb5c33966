//! The DATEV export (`format = "datev"`): a "Buchungsstapel" in DATEV's EXTF format (header
//! version 700, format category 21, format version 13), the file German accountants and their
//! tax advisers import into DATEV Rechnungswesen. As DATEV's format description has it: the
//! header record, a line of column headings, then one booking per line with its 125 fields;
//! Windows-1252, CRLF after every line, fields separated by `;`, text in `"` (a `"` inside
//! doubled), amounts with a decimal comma and no sign.
//!
//! **Bookings.** A booking has one amount, an account (Konto, debited: Soll/Haben-Kennzeichen
//! `S`) and a contra account (Gegenkonto, credited). An entry of two lines is one booking; an
//! entry of more is split per currency, its debit lines against its credit lines in the order
//! they stand, each booking the smaller of what is left of the two (so the bookings add up to
//! the entry's lines exactly, per account). Belegdatum is the posting date (DDMM, the year is
//! the batch's fiscal year), Belegfeld 1 clerk's entry id, Buchungstext the narrative cut to 60
//! characters; Beleginfo 1 to 3 carry the job, the match and the records' sources, Beleginfo 4
//! the foreign amount and rate of the booking's lines that were in another currency. A character Windows-1252 lacks is written
//! `?`.
//!
//! **Account numbers.** The account map's number, else the number clerk's account starts with
//! ("1200 Bank" → 1200). An account with neither, or a number longer than the account length
//! allows (one more digit for a Personenkonto), refuses the entry, naming entry and account.
//!
//! **Currency.** The batch's currency (`currency`, the header's WKZ, default EUR) is the one
//! bookings are in; a booking in another currency names it in WKZ Umsatz. clerk keeps no rate
//! from such a currency to the batch's, so Kurs and Basis-Umsatz stay empty and DATEV converts
//! at the client's rates. Amounts with more than two decimals are refused (DATEV takes two).
//!
//! **Options** (`[exports.options]`, all optional): `consultant_number` (Beraternummer,
//! 1001..9999999, default 1001), `client_number` (Mandantennummer, 1..99999, default 1),
//! `fiscal_year_start` ("MM-DD", default "01-01"), `account_length` (Sachkontenlänge, 4..8,
//! default 4), `currency` (default "EUR"), `chart` (Sachkontenrahmen, two digits such as "03"
//! or "04", default empty).
//!
//! **One fiscal year per batch.** DATEV takes a batch within one fiscal year: the header's
//! WJ-Beginn is the start of the fiscal year of the batch's first date, and an entry dated in a
//! later fiscal year is refused, naming it (the batch is to be cut at the year's end).
//!
//! **Invariant:** the bookings of an entry add up, per account and currency, to its lines; a
//! line's amount is never rounded.

use std::io::Write;

use chrono::{Datelike, NaiveDate};
use encoding_rs::WINDOWS_1252;
use rust_decimal::Decimal;

use super::{Accounts, Batch, ExportError, Format, refuse_unknown_options};
use crate::model::EntryLine;
use crate::model::fx::LineFx;
use crate::model::journal::PostedEntry;

/// The options `[exports.options]` may give.
const OPTIONS: [&str; 6] = [
    "consultant_number",
    "client_number",
    "fiscal_year_start",
    "account_length",
    "currency",
    "chart",
];

/// How many fields a booking has (format version 13).
pub const FIELDS: usize = 125;

/// The column headings, in DATEV's field order (format version 13).
pub fn column_headings() -> Vec<String> {
    let mut h: Vec<String> = [
        "Umsatz (ohne Soll/Haben-Kz)",
        "Soll/Haben-Kennzeichen",
        "WKZ Umsatz",
        "Kurs",
        "Basis-Umsatz",
        "WKZ Basis-Umsatz",
        "Konto",
        "Gegenkonto (ohne BU-Schlüssel)",
        "BU-Schlüssel",
        "Belegdatum",
        "Belegfeld 1",
        "Belegfeld 2",
        "Skonto",
        "Buchungstext",
        "Postensperre",
        "Diverse Adressnummer",
        "Geschäftspartnerbank",
        "Sachverhalt",
        "Zinssperre",
        "Beleglink",
    ]
    .map(String::from)
    .to_vec();
    for i in 1..=8 {
        h.push(format!("Beleginfo - Art {i}"));
        h.push(format!("Beleginfo - Inhalt {i}"));
    }
    h.extend(
        [
            "KOST1 - Kostenstelle",
            "KOST2 - Kostenstelle",
            "Kost-Menge",
            "EU-Land u. UStID (Bestimmung)",
            "EU-Steuersatz (Bestimmung)",
            "Abw. Versteuerungsart",
            "Sachverhalt L+L",
            "Funktionsergänzung L+L",
            "BU 49 Hauptfunktionstyp",
            "BU 49 Hauptfunktionsnummer",
            "BU 49 Funktionsergänzung",
        ]
        .map(String::from),
    );
    for i in 1..=20 {
        h.push(format!("Zusatzinformation - Art {i}"));
        h.push(format!("Zusatzinformation- Inhalt {i}"));
    }
    h.extend(
        [
            "Stück",
            "Gewicht",
            "Zahlweise",
            "Forderungsart",
            "Veranlagungsjahr",
            "Zugeordnete Fälligkeit",
            "Skontotyp",
            "Auftragsnummer",
            "Buchungstyp",
            "USt-Schlüssel (Anzahlungen)",
            "EU-Land (Anzahlungen)",
            "Sachverhalt L+L (Anzahlungen)",
            "EU-Steuersatz (Anzahlungen)",
            "Erlöskonto (Anzahlungen)",
            "Herkunft-Kz",
            "Buchungs GUID",
            "KOST-Datum",
            "SEPA-Mandatsreferenz",
            "Skontosperre",
            "Gesellschaftername",
            "Beteiligtennummer",
            "Identifikationsnummer",
            "Zeichnernummer",
            "Postensperre bis",
            "Bezeichnung SoBil-Sachverhalt",
            "Kennzeichen SoBil-Buchung",
            "Festschreibung",
            "Leistungsdatum",
            "Datum Zuord. Steuerperiode",
            "Fälligkeit",
            "Generalumkehr (GU)",
            "Steuersatz",
            "Land",
            "Abrechnungsreferenz",
            "BVV-Position",
            "EU-Land u. UStID (Ursprung)",
            "EU-Steuersatz (Ursprung)",
            "Abw. Skontokonto",
        ]
        .map(String::from),
    );
    h
}

/// The DATEV format and its settings; between calls, the batch's fiscal year.
#[derive(Debug)]
pub struct Datev {
    consultant_number: u32,
    client_number: u32,
    /// Month and day the fiscal year starts.
    fiscal_year_start: (u32, u32),
    account_length: usize,
    currency: String,
    chart: String,
    /// The batch's fiscal year, from its first date (set by `begin`).
    fiscal_year: Option<(NaiveDate, NaiveDate)>,
}

impl Default for Datev {
    fn default() -> Self {
        Self {
            consultant_number: 1001,
            client_number: 1,
            fiscal_year_start: (1, 1),
            account_length: 4,
            currency: "EUR".into(),
            chart: String::new(),
            fiscal_year: None,
        }
    }
}

fn integer(
    key: &str,
    value: &toml::Value,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, String> {
    match value.as_integer() {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "datev's {key} must be a number from {} to {}, not {value}",
            range.start(),
            range.end()
        )),
    }
}

impl Datev {
    /// From the export's `[exports.options]` (the module doc lists them).
    pub fn from_options(options: &toml::Table) -> Result<Self, String> {
        refuse_unknown_options("datev", options, &OPTIONS)?;
        let mut d = Self::default();
        for (key, value) in options {
            match key.as_str() {
                "consultant_number" => {
                    d.consultant_number = integer(key, value, 1001..=9_999_999)? as u32;
                }
                "client_number" => d.client_number = integer(key, value, 1..=99_999)? as u32,
                "account_length" => d.account_length = integer(key, value, 4..=8)? as usize,
                "fiscal_year_start" => {
                    let text = value.as_str().unwrap_or_default();
                    d.fiscal_year_start = text
                        .split_once('-')
                        .and_then(|(m, day)| Some((m.parse().ok()?, day.parse().ok()?)))
                        .filter(|&(m, day)| {
                            text.len() == 5 && NaiveDate::from_ymd_opt(2025, m, day).is_some()
                        })
                        .ok_or_else(|| {
                            format!(
                                "datev's fiscal_year_start must be a month and day like \"07-01\" (not 02-29), not {value}"
                            )
                        })?;
                }
                "currency" => {
                    d.currency = value
                        .as_str()
                        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
                        .ok_or_else(|| {
                            format!(
                                "datev's currency must be an ISO code like \"EUR\", not {value}"
                            )
                        })?
                        .to_string();
                }
                "chart" => {
                    d.chart = value
                        .as_str()
                        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            format!("datev's chart (Sachkontenrahmen) must be two digits like \"03\", not {value}")
                        })?
                        .to_string();
                }
                // Any other key was refused above.
                _ => {}
            }
        }
        Ok(d)
    }

    /// The fiscal year `date` lies in: its first and last day.
    pub fn fiscal_year_of(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let (m, d) = self.fiscal_year_start;
        let start_in = |year| NaiveDate::from_ymd_opt(year, m, d).expect("checked when read");
        let start = if start_in(date.year()) <= date {
            start_in(date.year())
        } else {
            start_in(date.year() - 1)
        };
        let next = start_in(start.year() + 1);
        (start, next.pred_opt().expect("a day before"))
    }

    /// The DATEV account number for clerk's `account`, or why there is none.
    fn number(&self, account: &str, accounts: &Accounts) -> Result<String, String> {
        let (number, whence) = match accounts.mapped(account) {
            Some(mapped) => {
                if mapped.is_empty() || !mapped.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "account {account:?} is mapped to {mapped:?}, but DATEV takes account numbers only"
                    ));
                }
                (mapped.to_string(), "mapped")
            }
            None => {
                let digits: String = account.chars().take_while(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    return Err(format!(
                        "account {account:?} has no number for DATEV: it does not start with one and [exports.accounts] does not map it"
                    ));
                }
                (digits, "its leading")
            }
        };
        // Written as the chart writes it (SKR03's "0420" stays 0420); leading zeros do not count
        // towards the length.
        let significant = number.trim_start_matches('0');
        if significant.is_empty() || significant.len() > self.account_length + 1 || number.len() > 9
        {
            return Err(format!(
                "account {account:?}: {whence} number {number:?} does not fit DATEV's account length {} (a Personenkonto one digit more)",
                self.account_length
            ));
        }
        Ok(number)
    }
}

/// A text field: quoted, `"` doubled, no control characters, at most `max` characters.
fn text(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max) + 2);
    out.push('"');
    for c in value.chars().take(max) {
        match c {
            '"' => out.push_str("\"\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An amount as DATEV writes it: unsigned, two decimals, decimal comma; `None` when it has more
/// than two decimals or more than ten digits before the comma.
fn amount(value: Decimal) -> Option<String> {
    let value = value.abs().normalize();
    if value.scale() > 2 || value >= Decimal::from(10_000_000_000u64) {
        return None;
    }
    Some(format!("{value:.2}").replace('.', ","))
}

/// `text` in Windows-1252, a character it lacks as `?`.
fn windows_1252(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let (bytes, _, unmappable) = WINDOWS_1252.encode(c.encode_utf8(&mut buf));
        if unmappable {
            out.push(b'?');
        } else {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// A line's foreign amount and rate, if it was in another currency than it is booked in.
fn foreign(line: &EntryLine) -> Option<&LineFx> {
    line.fx.as_ref().filter(|fx| fx.currency != line.currency)
}

/// One booking: `amount` from `credit` to `debit`.
struct Booking<'a> {
    amount: Decimal,
    currency: &'a str,
    debit: usize,
    credit: usize,
}

/// The entry's lines as bookings: per currency, debits against credits in their order, each
/// booking the smaller of what is left of the two.
fn bookings(entry: &PostedEntry) -> Vec<Booking<'_>> {
    let mut currencies: Vec<&str> = Vec::new();
    for l in &entry.lines {
        if !currencies.contains(&l.currency.as_str()) {
            currencies.push(l.currency.as_str());
        }
    }
    let mut out = Vec::new();
    for currency in currencies {
        let side = |debit: bool| -> Vec<(usize, Decimal)> {
            entry
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| {
                    l.currency.as_str() == currency
                        && if debit {
                            l.amount > Decimal::ZERO
                        } else {
                            l.amount < Decimal::ZERO
                        }
                })
                .map(|(i, l)| (i, l.amount.abs()))
                .collect()
        };
        let (mut debits, mut credits) = (side(true), side(false));
        let (mut d, mut c) = (0, 0);
        while d < debits.len() && c < credits.len() {
            let take = debits[d].1.min(credits[c].1);
            out.push(Booking {
                amount: take,
                currency,
                debit: debits[d].0,
                credit: credits[c].0,
            });
            debits[d].1 -= take;
            credits[c].1 -= take;
            if debits[d].1.is_zero() {
                d += 1;
            }
            if credits[c].1.is_zero() {
                c += 1;
            }
        }
    }
    out
}

impl Format for Datev {
    fn extension(&self) -> &'static str {
        "csv"
    }

    /// DATEV takes a Buchungsstapel within one fiscal year only.
    fn batch_bounds(&self, date: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        Some(self.fiscal_year_of(date))
    }

    fn begin(&mut self, out: &mut dyn Write, batch: &Batch<'_>) -> Result<(), ExportError> {
        let (fy_start, fy_end) = self.fiscal_year_of(batch.first_date);
        self.fiscal_year = Some((fy_start, fy_end));
        let ymd = |d: NaiveDate| d.format("%Y%m%d").to_string();
        let label = format!("clerk {} {}", batch.target, batch.number);
        let header: Vec<String> = vec![
            text("EXTF", 4),                                        // 1 Kennzeichen
            "700".into(),                                           // 2 Versionsnummer
            "21".into(),                                            // 3 Formatkategorie
            text("Buchungsstapel", 14),                             // 4 Formatname
            "13".into(),                                            // 5 Formatversion
            batch.created_at.format("%Y%m%d%H%M%S%3f").to_string(), // 6 Erzeugt am
            String::new(),                                          // 7 Importiert
            text("RE", 2),                                          // 8 Herkunft
            text("clerk", 25),                                      // 9 Exportiert von
            text("", 25),                                           // 10 Importiert von
            self.consultant_number.to_string(),                     // 11 Beraternummer
            self.client_number.to_string(),                         // 12 Mandantennummer
            ymd(fy_start),                                          // 13 WJ-Beginn
            self.account_length.to_string(),                        // 14 Sachkontenlänge
            ymd(batch.first_date),                                  // 15 Datum vom
            ymd(batch.last_date),                                   // 16 Datum bis
            text(&label, 30),                                       // 17 Bezeichnung
            text("", 2),                                            // 18 Diktatkürzel
            "1".into(),              // 19 Buchungstyp: Finanzbuchführung
            "0".into(),              // 20 Rechnungslegungszweck
            "0".into(),              // 21 Festschreibung: the accountant reviews, then fixes
            text(&self.currency, 3), // 22 WKZ
            String::new(),           // 23 reserviert
            text("", 0),             // 24 Derivatskennzeichen
            String::new(),           // 25 reserviert
            String::new(),           // 26 reserviert
            text(&self.chart, 2),    // 27 Sachkontenrahmen
            String::new(),           // 28 ID der Branchenlösung
            String::new(),           // 29 reserviert
            text("", 0),             // 30 reserviert
            text("", 0),             // 31 Anwendungsinformation
        ];
        let mut head = header.join(";");
        head.push_str("\r\n");
        head.push_str(&column_headings().join(";"));
        head.push_str("\r\n");
        out.write_all(&windows_1252(&head))?;
        Ok(())
    }

    fn entry(
        &mut self,
        out: &mut dyn Write,
        entry: &PostedEntry,
        accounts: &Accounts,
    ) -> Result<(), ExportError> {
        let refuse = |what: String| ExportError::Entry {
            entry: entry.id,
            what,
        };
        if let Some((start, end)) = self.fiscal_year
            && !(start..=end).contains(&entry.posting_date)
        {
            return Err(refuse(format!(
                "dated {}, outside the fiscal year {start} to {end} this DATEV batch lies in (a DATEV batch holds one fiscal year)",
                entry.posting_date
            )));
        }
        let mut numbers = Vec::with_capacity(entry.lines.len());
        for line in &entry.lines {
            numbers.push(self.number(&line.account, accounts).map_err(refuse)?);
        }
        let sources = entry.sources.join(" | ");
        let mut rows = String::new();
        for b in bookings(entry) {
            let umsatz = amount(b.amount).ok_or_else(|| {
                refuse(format!(
                    "account {:?}: amount {} {} has more than two decimals or ten digits, which DATEV cannot take",
                    entry.lines[b.debit].account, b.amount, b.currency
                ))
            })?;
            let mut f = vec![String::new(); FIELDS];
            f[0] = umsatz;
            f[1] = text("S", 1);
            f[2] = text(b.currency, 3);
            f[6] = numbers[b.debit].clone();
            f[7] = numbers[b.credit].clone();
            f[9] = entry.posting_date.format("%d%m").to_string();
            f[10] = text(&entry.id.to_string(), 36);
            f[13] = text(&entry.narrative, 60);
            f[20] = text("clerk job", 20);
            f[21] = text(&entry.job, 210);
            f[22] = text("clerk match", 20);
            f[23] = text(&format!("{} ({})", entry.match_id, entry.pass), 210);
            if !sources.is_empty() {
                f[24] = text("Quelle", 20);
                f[25] = text(&sources, 210);
            }
            let fx = [b.debit, b.credit]
                .into_iter()
                .filter_map(|i| foreign(&entry.lines[i]))
                .map(|fx| {
                    format!("{} {} Kurs {}", fx.amount, fx.currency, fx.rate).replace('.', ",")
                })
                .collect::<Vec<_>>();
            if !fx.is_empty() {
                f[26] = text("Fremdwährung", 20);
                f[27] = text(&fx.join(" | "), 210);
            }
            rows.push_str(&f.join(";"));
            rows.push_str("\r\n");
        }
        out.write_all(&windows_1252(&rows))?;
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::{render, two_entries};
    use super::*;

    #[test]
    fn two_entries_are_three_bookings_in_windows_1252_with_crlf() {
        let (entries, accounts) = two_entries();
        let bytes = render(&mut Datev::default(), &entries, &accounts).unwrap();
        let (text_read, _, bad) = WINDOWS_1252.decode(&bytes);
        assert!(!bad);
        assert!(bytes.contains(&0xFC), "ü is one byte in Windows-1252");
        let lines: Vec<&str> = text_read.split_terminator("\r\n").collect();
        assert!(!text_read.replace("\r\n", "").contains('\n'));
        assert_eq!(
            lines[0],
            "\"EXTF\";700;21;\"Buchungsstapel\";13;20261206180000250;;\"RE\";\"clerk\";\"\";1001;1;20250101;4;20250102;20250103;\"clerk books 3\";\"\";1;0;0;\"EUR\";;\"\";;;\"\";;;\"\";\"\""
        );
        assert_eq!(lines[1].split(';').count(), FIELDS);
        let tail = ";".repeat(FIELDS - 28);
        assert_eq!(
            &lines[2..],
            [
                format!(
                    "1789,03;\"S\";\"EUR\";;;;1200;1400;;0201;\"17\";;;\"NORTHWIND SUPPLIES GMBH; INV-296741093\";;;;;;;\"clerk job\";\"bank-reconciliation\";\"clerk match\";\"5 (reference)\";\"Quelle\";\"ledger.csv line 3 | statement.csv line 2\";;{tail}"
                ),
                format!(
                    "10,50;\"S\";\"EUR\";;;;4970;1200;;0301;\"18\";;;\"Kontoführung Dezember \"\"Premium\"\"\";;;;;;;\"clerk job\";\"bank-reconciliation\";\"clerk match\";\"6 (fees)\";\"Quelle\";\"statement.csv line 4\";\"Fremdwährung\";\"11,09 USD Kurs 0,9468\"{tail}"
                ),
                format!(
                    "2,00;\"S\";\"EUR\";;;;1576;1200;;0301;\"18\";;;\"Kontoführung Dezember \"\"Premium\"\"\";;;;;;;\"clerk job\";\"bank-reconciliation\";\"clerk match\";\"6 (fees)\";\"Quelle\";\"statement.csv line 4\";;{tail}"
                ),
            ]
        );
    }

    #[test]
    fn an_entry_of_many_lines_is_split_so_the_bookings_add_up_to_it() {
        let (mut entries, _) = two_entries();
        let e = &mut entries[1];
        // Two debits against two credits of other sizes: 10.50 + 2.00 = 7.00 + 5.50.
        e.lines[2].amount = Decimal::new(-700, 2);
        let mut extra = e.lines[2].clone();
        extra.account = "1210 Bank 2".into();
        extra.amount = Decimal::new(-550, 2);
        e.lines.push(extra);
        let b = bookings(e);
        let got: Vec<(usize, usize, String)> = b
            .iter()
            .map(|b| (b.debit, b.credit, b.amount.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 2, "7.00".to_string()),
                (0, 3, "3.50".to_string()),
                (1, 3, "2.00".to_string())
            ]
        );
    }

    #[test]
    fn an_account_without_a_number_and_an_entry_in_another_fiscal_year_are_refused() {
        let (mut entries, mut accounts) = two_entries();
        entries[0].lines[1].account = "Forderungen".into();
        let err = render(&mut Datev::default(), &entries, &accounts)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("entry 17:") && err.contains("\"Forderungen\""),
            "{err}"
        );
        accounts.map.insert("Forderungen".into(), "10001".into());
        assert!(render(&mut Datev::default(), &entries, &accounts).is_ok());
        // A number longer than the account length allows is refused; leading zeros are kept.
        let d = Datev::default();
        assert!(
            d.number("123456 Zu lang", &accounts)
                .unwrap_err()
                .contains("account length")
        );
        assert_eq!(d.number("0420 Büroeinrichtung", &accounts).unwrap(), "0420");

        let options = toml::toml! { fiscal_year_start = "03-01" };
        let mut d = Datev::from_options(&options).unwrap();
        assert_eq!(
            d.fiscal_year_of(NaiveDate::from_ymd_opt(2025, 1, 2).unwrap())
                .0,
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        // The batch starts 2025-01-02 in the year from 2024-03-01: entry 18 of 2025-01-03 fits,
        // one dated 2025-03-01 does not.
        entries[1].posting_date = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        let err = render(&mut d, &entries, &accounts).unwrap_err().to_string();
        assert!(
            err.starts_with("entry 18:") && err.contains("fiscal year"),
            "{err}"
        );
        assert!(Datev::from_options(&toml::toml! { fiscal_year_start = "02-29" }).is_err());
        assert!(Datev::from_options(&toml::toml! { beraternummer = 1 }).is_err());
    }
}
