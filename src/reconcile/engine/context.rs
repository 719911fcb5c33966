//! What a run needs besides the two tables: the calendar, mapping and rates tables the rules
//! name, and options.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::table::{FieldKind, currency_code, day_of};
use crate::model::Currency;
use crate::schedule::Calendar;

/// A mapping table for keys with `map = "name"`: each of our values to one or more of theirs
/// (a ledger account to the bank's IBAN, an internal counterparty code to its names).
#[derive(Clone, Debug, Default)]
pub struct ValueMap {
    to: FxHashMap<String, Vec<String>>,
}

impl ValueMap {
    pub fn new() -> ValueMap {
        ValueMap::default()
    }

    /// Adds `theirs` as a counterpart of `ours` (several may be added).
    pub fn insert(&mut self, ours: &str, theirs: &str) -> &mut Self {
        let v = self.to.entry(ours.to_owned()).or_default();
        if !v.iter().any(|t| t == theirs) {
            v.push(theirs.to_owned());
        }
        self
    }

    pub fn get(&self, ours: &str) -> &[String] {
        self.to.get(ours).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Reads a mapping file: the header `ours,theirs`, then one pair per line.
    pub fn parse_csv(text: &str) -> Result<ValueMap, String> {
        let mut m = ValueMap::new();
        for (line, rec) in csv_rows(text, &["ours", "theirs"])? {
            let [ours, theirs] = &rec[..] else {
                unreachable!("two columns asked for")
            };
            if ours.is_empty() || theirs.is_empty() {
                return Err(format!("line {line}: both columns need a value"));
            }
            m.insert(ours, theirs);
        }
        Ok(m)
    }
}

/// The rows of a small CSV file with exactly these columns (by header, any order), with
/// their line numbers.
fn csv_rows(text: &str, columns: &[&str]) -> Result<Vec<(u64, Vec<String>)>, String> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(c))
                .ok_or_else(|| {
                    format!(
                        "no column {c:?} in the header (expected {})",
                        columns.join(",")
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let line = rec.position().map_or(0, |p| p.line());
        out.push((
            line,
            at.iter()
                .map(|&i| rec.get(i).unwrap_or("").to_owned())
                .collect(),
        ));
    }
    Ok(out)
}

/// Exchange rates by day: `rate(date, from, to)` converts an amount in `from` into `to`.
/// A lookup takes the latest rate on or before the date; when only the opposite direction
/// is known it uses `1 / rate` (28 significant digits).
#[derive(Clone, Debug, Default)]
pub struct Rates {
    /// (from, to) → (day, rate) sorted by day.
    pairs: FxHashMap<(u16, u16), Vec<(i32, Decimal)>>,
}

impl Rates {
    pub fn new() -> Rates {
        Rates::default()
    }

    pub fn insert(&mut self, date: NaiveDate, from: Currency, to: Currency, rate: Decimal) {
        let v = self
            .pairs
            .entry((currency_code(from), currency_code(to)))
            .or_default();
        let day = day_of(date);
        match v.binary_search_by_key(&day, |&(d, _)| d) {
            Ok(i) => v[i].1 = rate,
            Err(i) => v.insert(i, (day, rate)),
        }
    }

    /// The rate for `day` (chrono day number) from one currency code to another.
    pub(crate) fn lookup(&self, day: i32, from: u16, to: u16) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        let on_or_before = |v: &Vec<(i32, Decimal)>| {
            let i = v.partition_point(|&(d, _)| d <= day);
            (i > 0).then(|| v[i - 1].1)
        };
        if let Some(r) = self.pairs.get(&(from, to)).and_then(on_or_before) {
            return Some(r);
        }
        let inverse = self.pairs.get(&(to, from)).and_then(on_or_before)?;
        (!inverse.is_zero()).then(|| Decimal::ONE / inverse)
    }

    /// Reads a rates file: the header `date,from,to,rate`, dates `YYYY-MM-DD`, rates as
    /// decimals (`1 from = rate to`).
    pub fn parse_csv(text: &str) -> Result<Rates, String> {
        let mut rates = Rates::new();
        for (line, rec) in csv_rows(text, &["date", "from", "to", "rate"])? {
            let [date, from, to, rate] = &rec[..] else {
                unreachable!("four columns asked for")
            };
            let date: NaiveDate = date
                .parse()
                .map_err(|_| format!("line {line}: expected a date YYYY-MM-DD, found {date:?}"))?;
            let from: Currency = from.parse().map_err(|e| format!("line {line}: {e}"))?;
            let to: Currency = to.parse().map_err(|e| format!("line {line}: {e}"))?;
            let rate: Decimal = rate
                .parse()
                .ok()
                .filter(|r: &Decimal| r.is_sign_positive() && !r.is_zero())
                .ok_or_else(|| format!("line {line}: expected a positive rate, found {rate:?}"))?;
            rates.insert(date, from, to, rate);
        }
        Ok(rates)
    }

    /// The rate to convert `from` into `to` on `date`.
    pub fn rate(&self, date: NaiveDate, from: Currency, to: Currency) -> Option<Decimal> {
        self.lookup(day_of(date), currency_code(from), currency_code(to))
    }
}

/// How a run goes.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Threads for the heavy steps; 0 means as many as the machine has.
    pub threads: usize,
    /// Fill every match's `explanation` (compared values as text). Off for bulk runs, which
    /// can ask [`super::Plan::explain`] for the matches someone looks at.
    pub explain: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 0,
            explain: true,
        }
    }
}

/// The calendar, the tables the rules name, and options.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    pub(crate) calendar: &'a Calendar,
    pub(crate) maps: FxHashMap<&'a str, &'a ValueMap>,
    pub(crate) rates: FxHashMap<&'a str, &'a Rates>,
    pub(crate) options: RunOptions,
}

impl<'a> Context<'a> {
    pub fn new(calendar: &'a Calendar) -> Context<'a> {
        Context {
            calendar,
            maps: FxHashMap::default(),
            rates: FxHashMap::default(),
            options: RunOptions::default(),
        }
    }

    pub fn with_map(mut self, name: &'a str, map: &'a ValueMap) -> Self {
        self.maps.insert(name, map);
        self
    }

    pub fn with_rates(mut self, name: &'a str, rates: &'a Rates) -> Self {
        self.rates.insert(name, rates);
        self
    }

    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    pub(crate) fn threads(&self) -> usize {
        match self.options.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

/// Why a checked plan cannot run on these tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("{key}: {side} table has no field {field:?}")]
    MissingField {
        key: String,
        side: &'static str,
        field: String,
    },
    #[error("{key}: {side} field {field:?} is {found}, the rules need {expected}")]
    WrongKind {
        key: String,
        side: &'static str,
        field: String,
        expected: &'static str,
        found: FieldKind,
    },
    #[error("{key}: no mapping table {name:?} was given")]
    UnknownMap { key: String, name: String },
    #[error("{key}: no rates table {name:?} was given")]
    UnknownRates { key: String, name: String },
    #[error("{key}: amounts too large to compare exactly at {scale} decimals")]
    AmountRange { key: String, scale: u32 },
}

/// Posting books entries across currencies at these rates (`[posting.fx]`).
impl crate::model::fx::RateSource for Rates {
    fn rate(&self, date: NaiveDate, from: Currency, to: Currency) -> Option<Decimal> {
        Rates::rate(self, date, from, to)
    }
}
