//! Columnar tables: one per side of a reconciliation, typed columns by field name plus a
//! stable identity per row.
//!
//! Compact by construction: text is interned (a `u32` symbol per row, each distinct string
//! stored once) or, for free text such as remittance information, kept in one arena with an
//! offset per row; decimals are exact mantissas at the column's largest scale (`i64`, widened
//! to `i128` only when a value needs it); dates are day numbers; currencies are 2-byte codes.
//! A missing value is a sentinel, and empty text counts as missing.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::intern::{ArenaFull, Interner, NONE, hash_bytes};
use crate::model::{Currency, Record};

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Decimal,
    Date,
    Currency,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Decimal => "decimal",
            FieldKind::Date => "date",
            FieldKind::Currency => "currency",
        }
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a text column is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextStorage {
    /// Interned: a symbol per row, each distinct value once. For codes, names, references.
    #[default]
    Dictionary,
    /// The text of every row in one arena. For free text that rarely repeats (remittance
    /// information), where a dictionary would only add a hash table.
    Plain,
}

/// The fields of a table and their kinds: what a [`super::MatchSpec`] is checked against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<(String, FieldKind)>,
}

impl Schema {
    pub fn new() -> Schema {
        Schema::default()
    }

    /// This schema with `field` of `kind` added (or its kind replaced).
    pub fn with(mut self, field: &str, kind: FieldKind) -> Schema {
        match self.fields.iter_mut().find(|(n, _)| n == field) {
            Some(f) => f.1 = kind,
            None => self.fields.push((field.to_owned(), kind)),
        }
        self
    }

    pub fn kind(&self, field: &str) -> Option<FieldKind> {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map(|&(_, k)| k)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldKind)> {
        self.fields.iter().map(|(n, k)| (n.as_str(), *k))
    }

    /// The fields [`Table::from_records`] provides.
    pub fn of_records() -> Schema {
        let mut s = Schema::new();
        for (name, kind) in RECORD_FIELDS {
            s = s.with(name, kind);
        }
        s
    }
}

const RECORD_FIELDS: [(&str, FieldKind); 9] = [
    ("external_id", FieldKind::Text),
    ("account", FieldKind::Text),
    ("value_date", FieldKind::Date),
    ("booking_date", FieldKind::Date),
    ("amount", FieldKind::Decimal),
    ("currency", FieldKind::Currency),
    ("reference", FieldKind::Text),
    ("counterparty", FieldKind::Text),
    ("remittance", FieldKind::Text),
];

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("field {field:?} is a {existing} column, not {used}")]
    KindMismatch {
        field: String,
        existing: FieldKind,
        used: FieldKind,
    },
    #[error("field {field:?} set twice in row {row}")]
    SetTwice { field: String, row: usize },
    #[error("values were set after the last push_row")]
    UnfinishedRow,
    #[error("field {field:?}: more than 4 GiB of text")]
    TooMuchText { field: String },
    #[error(
        "field {field:?} row {row}: amount cannot be held exactly at the column's scale {scale}"
    )]
    DecimalRange {
        field: String,
        row: usize,
        scale: u32,
    },
    #[error("more than 4 billion rows")]
    TooManyRows,
}

/// A column handle from [`TableBuilder`], for loaders that set values by position rather than
/// by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnId(u32);

pub(crate) const MISSING_DAY: i32 = i32::MIN;
pub(crate) const MISSING_CCY: u16 = u16::MAX;
const MISSING_NARROW: i64 = i64::MIN;
const MISSING_WIDE: i128 = i128::MIN;

/// Text of every row back to back; empty means missing.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlainText {
    text: String,
    ends: Vec<u32>,
}

impl PlainText {
    #[inline]
    pub fn get(&self, row: usize) -> &str {
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] as usize
        };
        &self.text[start..self.ends[row] as usize]
    }

    fn push(&mut self, s: &str) -> Result<(), ArenaFull> {
        let end = self.text.len() + s.len();
        if end > u32::MAX as usize {
            return Err(ArenaFull);
        }
        self.text.push_str(s);
        self.ends.push(end as u32);
        Ok(())
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4
    }
}

#[derive(Clone, Debug)]
pub(crate) enum TextColumn {
    Dict { syms: Vec<u32>, dict: Interner },
    Plain(PlainText),
}

impl TextColumn {
    /// The row's text; `None` when missing (empty).
    #[inline]
    pub fn get(&self, row: usize) -> Option<&str> {
        match self {
            TextColumn::Dict { syms, dict } => match syms[row] {
                NONE => None,
                s => Some(dict.resolve(s)),
            },
            TextColumn::Plain(p) => Some(p.get(row)).filter(|s| !s.is_empty()),
        }
    }

    fn len(&self) -> usize {
        match self {
            TextColumn::Dict { syms, .. } => syms.len(),
            TextColumn::Plain(p) => p.len(),
        }
    }
}

/// Mantissas at the column's scale; `MISSING_*` marks a missing value.
#[derive(Clone, Debug)]
pub(crate) enum Mantissas {
    Narrow(Vec<i64>),
    Wide(Vec<i128>),
}

#[derive(Clone, Debug)]
pub(crate) struct DecimalColumn {
    pub scale: u32,
    pub values: Mantissas,
    /// The largest absolute mantissa, so the engine knows which common scale is safe.
    pub max_abs: u128,
}

impl DecimalColumn {
    /// The mantissa at the column's scale.
    #[inline]
    pub fn get(&self, row: usize) -> Option<i128> {
        match &self.values {
            Mantissas::Narrow(v) => match v[row] {
                MISSING_NARROW => None,
                m => Some(i128::from(m)),
            },
            Mantissas::Wide(v) => match v[row] {
                MISSING_WIDE => None,
                m => Some(m),
            },
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            Mantissas::Narrow(v) => v.len(),
            Mantissas::Wide(v) => v.len(),
        }
    }

    fn push_missing(&mut self) {
        match &mut self.values {
            Mantissas::Narrow(v) => v.push(MISSING_NARROW),
            Mantissas::Wide(v) => v.push(MISSING_WIDE),
        }
    }

    fn widen(&mut self) {
        if let Mantissas::Narrow(v) = &self.values {
            let wide = v
                .iter()
                .map(|&m| {
                    if m == MISSING_NARROW {
                        MISSING_WIDE
                    } else {
                        i128::from(m)
                    }
                })
                .collect();
            self.values = Mantissas::Wide(wide);
        }
    }

    /// Raises the column's scale to `scale`; false when a value would not fit.
    fn rescale(&mut self, scale: u32) -> bool {
        let Some(factor) = pow10(scale - self.scale) else {
            return false;
        };
        let narrow_ok = match &self.values {
            Mantissas::Narrow(_) => self
                .max_abs
                .checked_mul(factor as u128)
                .is_some_and(|m| m < i64::MAX as u128),
            Mantissas::Wide(_) => false,
        };
        if !narrow_ok {
            self.widen();
        }
        match &mut self.values {
            Mantissas::Narrow(v) => {
                for m in v.iter_mut().filter(|m| **m != MISSING_NARROW) {
                    *m *= factor as i64;
                }
            }
            Mantissas::Wide(v) => {
                for m in v.iter_mut().filter(|m| **m != MISSING_WIDE) {
                    match m.checked_mul(factor) {
                        Some(x) if x != MISSING_WIDE => *m = x,
                        _ => return false,
                    }
                }
            }
        }
        self.max_abs *= factor as u128;
        self.scale = scale;
        true
    }

    /// Appends `mantissa × 10^-scale`; false when it cannot be held exactly.
    fn push(&mut self, mantissa: i128, scale: u32) -> bool {
        if scale > self.scale && !self.rescale(scale) {
            return false;
        }
        let Some(m) = pow10(self.scale - scale).and_then(|f| mantissa.checked_mul(f)) else {
            return false;
        };
        if m == MISSING_WIDE {
            return false;
        }
        self.max_abs = self.max_abs.max(m.unsigned_abs());
        if let Mantissas::Narrow(v) = &mut self.values {
            match i64::try_from(m) {
                Ok(n) if n != MISSING_NARROW => {
                    v.push(n);
                    return true;
                }
                _ => self.widen(),
            }
        }
        if let Mantissas::Wide(v) = &mut self.values {
            v.push(m);
        }
        true
    }

    fn heap_bytes(&self) -> usize {
        match &self.values {
            Mantissas::Narrow(v) => v.capacity() * 8,
            Mantissas::Wide(v) => v.capacity() * 16,
        }
    }
}

pub(crate) fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

#[derive(Clone, Debug)]
pub(crate) struct DateColumn {
    /// Days since the common era (chrono's `num_days_from_ce`), `MISSING_DAY` when missing.
    pub days: Vec<i32>,
    /// Smallest and largest day present (`min > max` when none is).
    pub min: i32,
    pub max: i32,
}

#[derive(Clone, Debug)]
pub(crate) struct CurrencyColumn {
    /// [`currency_code`]s, `MISSING_CCY` when missing.
    pub codes: Vec<u16>,
}

#[derive(Clone, Debug)]
pub(crate) enum Column {
    Text(TextColumn),
    Decimal(DecimalColumn),
    Date(DateColumn),
    Currency(CurrencyColumn),
}

impl Column {
    pub fn kind(&self) -> FieldKind {
        match self {
            Column::Text(_) => FieldKind::Text,
            Column::Decimal(_) => FieldKind::Decimal,
            Column::Date(_) => FieldKind::Date,
            Column::Currency(_) => FieldKind::Currency,
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Text(c) => c.len(),
            Column::Decimal(c) => c.len(),
            Column::Date(c) => c.days.len(),
            Column::Currency(c) => c.codes.len(),
        }
    }

    fn push_missing(&mut self) {
        match self {
            Column::Text(TextColumn::Dict { syms, .. }) => syms.push(NONE),
            Column::Text(TextColumn::Plain(p)) => {
                // Cannot fail: no text is added.
                let _ = p.push("");
            }
            Column::Decimal(c) => c.push_missing(),
            Column::Date(c) => c.days.push(MISSING_DAY),
            Column::Currency(c) => c.codes.push(MISSING_CCY),
        }
    }

    fn new(kind: FieldKind, storage: TextStorage, capacity: usize) -> Column {
        match kind {
            FieldKind::Text => Column::Text(match storage {
                TextStorage::Dictionary => TextColumn::Dict {
                    syms: Vec::with_capacity(capacity),
                    dict: Interner::with_capacity(16),
                },
                TextStorage::Plain => TextColumn::Plain(PlainText {
                    text: String::new(),
                    ends: Vec::with_capacity(capacity),
                }),
            }),
            FieldKind::Decimal => Column::Decimal(DecimalColumn {
                scale: 0,
                values: Mantissas::Narrow(Vec::with_capacity(capacity)),
                max_abs: 0,
            }),
            FieldKind::Date => Column::Date(DateColumn {
                days: Vec::with_capacity(capacity),
                min: i32::MAX,
                max: i32::MIN,
            }),
            FieldKind::Currency => Column::Currency(CurrencyColumn {
                codes: Vec::with_capacity(capacity),
            }),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Column::Text(TextColumn::Dict { syms, dict }) => {
                syms.capacity() * 4 + dict.heap_bytes()
            }
            Column::Text(TextColumn::Plain(p)) => p.heap_bytes(),
            Column::Decimal(c) => c.heap_bytes(),
            Column::Date(c) => c.days.capacity() * 4,
            Column::Currency(c) => c.codes.capacity() * 2,
        }
    }
}

/// A currency as a 2-byte code (`AAA` = 0 … `ZZZ` = 17 575), the same in every table.
pub(crate) fn currency_code(c: Currency) -> u16 {
    let b = c.as_str().as_bytes();
    let l = |i: usize| u16::from(b[i].saturating_sub(b'A')).min(25);
    (l(0) * 26 + l(1)) * 26 + l(2)
}

pub(crate) fn currency_from_code(code: u16) -> Option<Currency> {
    if code >= 26 * 26 * 26 {
        return None;
    }
    let b = [
        b'A' + (code / 676) as u8,
        b'A' + (code / 26 % 26) as u8,
        b'A' + (code % 26) as u8,
    ];
    std::str::from_utf8(&b).ok()?.parse().ok()
}

/// Three upper-case ASCII letters as a code, without building a `Currency`.
pub(crate) fn currency_code_of_bytes(b: &[u8]) -> Option<u16> {
    if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let l = |i: usize| u16::from(b[i].to_ascii_uppercase() - b'A');
    Some((l(0) * 26 + l(1)) * 26 + l(2))
}

pub(crate) fn day_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

pub(crate) fn date_of(day: i32) -> Option<NaiveDate> {
    if day == MISSING_DAY {
        return None;
    }
    NaiveDate::from_num_days_from_ce_opt(day)
}

use chrono::Datelike;

/// Dictionary values waiting to be interned, with the rows they belong to (whose symbol is a
/// placeholder until then). Interning a batch at once lets [`Interner::intern_batch`] overlap
/// the cache misses of a large dictionary, which one value per row (with a row's parsing in
/// between) cannot: on a million unique references that was most of the time spent loading.
#[derive(Debug, Default)]
struct Pending {
    rows: Vec<u32>,
    text: String,
    ends: Vec<u32>,
}

/// Values per interning batch: enough to keep many loads in flight, small enough to stay in
/// cache.
const PENDING_BATCH: usize = 512;

impl Pending {
    fn values(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        (0..self.ends.len()).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            &self.text[start..self.ends[i] as usize]
        })
    }

    /// Interns the waiting values into `syms`; `Err` when the dictionary's arena is full.
    fn flush(
        &mut self,
        syms: &mut [u32],
        dict: &mut Interner,
        out: &mut Vec<u32>,
    ) -> Result<(), ArenaFull> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let r = dict.intern_batch(self.values(), out);
        for (&row, &sym) in self.rows.iter().zip(out.iter()) {
            syms[row as usize] = sym;
        }
        self.rows.clear();
        self.text.clear();
        self.ends.clear();
        r
    }
}

/// Builds a [`Table`] row by row: set the fields of a row (by name with `add_*`, or by
/// [`ColumnId`] with `set_*`), then `push_row(identity)`. A field not set in a row is missing
/// there; a column first used after some rows is missing in those.
///
/// ```
/// use clerk::reconcile::engine::TableBuilder;
/// let mut b = TableBuilder::new();
/// b.add_text("reference", "INV-1").add_decimal("amount", "12.50".parse().unwrap());
/// b.push_row("L|1");
/// let table = b.finish().unwrap();
/// assert_eq!(table.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct TableBuilder {
    names: Vec<String>,
    columns: Vec<Column>,
    by_name: FxHashMap<String, u32>,
    identity: PlainText,
    /// Per column: dictionary values set but not interned yet (see [`Pending`]).
    pending: Vec<Pending>,
    /// Reused for the symbols of a flushed batch.
    batch_syms: Vec<u32>,
    rows: usize,
    capacity: usize,
    /// The first problem; reported by `finish`.
    error: Option<TableError>,
}

impl TableBuilder {
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// A builder that expects about `rows` rows (columns reserve that much up front).
    pub fn with_capacity(rows: usize) -> TableBuilder {
        TableBuilder {
            identity: PlainText {
                text: String::new(),
                ends: Vec::with_capacity(rows),
            },
            capacity: rows,
            ..TableBuilder::default()
        }
    }

    /// Declares (or finds) a text column stored as `storage`.
    pub fn text_column(
        &mut self,
        field: &str,
        storage: TextStorage,
    ) -> Result<ColumnId, TableError> {
        self.column(field, FieldKind::Text, storage)
    }

    pub fn decimal_column(&mut self, field: &str) -> Result<ColumnId, TableError> {
        self.column(field, FieldKind::Decimal, TextStorage::Dictionary)
    }

    pub fn date_column(&mut self, field: &str) -> Result<ColumnId, TableError> {
        self.column(field, FieldKind::Date, TextStorage::Dictionary)
    }

    pub fn currency_column(&mut self, field: &str) -> Result<ColumnId, TableError> {
        self.column(field, FieldKind::Currency, TextStorage::Dictionary)
    }

    /// Reserves text room for about `rows` rows in all, by the bytes per row of the rows so
    /// far, so that text arenas grow once instead of by doubling (each doubling copies and
    /// touches fresh memory). For loaders, once a first part of the input is in.
    /// False when there are too few rows yet to tell.
    pub(crate) fn reserve_text_for(&mut self, rows: usize) -> bool {
        let have = self.rows;
        if have < 256 {
            return false;
        }
        if rows <= have {
            return true;
        }
        let reserve = |t: &mut PlainText| {
            let want = (t.text.len() as u128 * rows as u128 / have as u128) * 21 / 20 + 64;
            let want = want.min(u32::MAX as u128) as usize;
            t.text.reserve(want.saturating_sub(t.text.len()));
            t.ends.reserve(rows.saturating_sub(t.ends.len()));
        };
        reserve(&mut self.identity);
        for c in &mut self.columns {
            if let Column::Text(TextColumn::Plain(p)) = c {
                reserve(p);
            }
        }
        true
    }

    /// Sizes a dictionary column's interner for about `distinct` values (loaders that know
    /// a column is nearly unique avoid rehashing as it grows).
    pub fn reserve_distinct(&mut self, col: ColumnId, distinct: usize) {
        if let Column::Text(TextColumn::Dict { dict, .. }) = &mut self.columns[col.0 as usize]
            && dict.len() == 0
        {
            *dict = Interner::with_capacity(distinct);
        }
    }

    fn column(
        &mut self,
        field: &str,
        kind: FieldKind,
        storage: TextStorage,
    ) -> Result<ColumnId, TableError> {
        if let Some(&i) = self.by_name.get(field) {
            let existing = self.columns[i as usize].kind();
            return if existing == kind {
                Ok(ColumnId(i))
            } else {
                Err(TableError::KindMismatch {
                    field: field.to_owned(),
                    existing,
                    used: kind,
                })
            };
        }
        let mut col = Column::new(kind, storage, self.capacity.max(self.rows));
        for _ in 0..self.rows {
            col.push_missing();
        }
        let i = self.columns.len() as u32;
        self.columns.push(col);
        self.pending.push(Pending::default());
        self.names.push(field.to_owned());
        self.by_name.insert(field.to_owned(), i);
        Ok(ColumnId(i))
    }

    fn fail(&mut self, e: TableError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// The column, if this row has no value in it yet.
    #[inline]
    fn slot(&mut self, col: ColumnId) -> Option<&mut Column> {
        let i = col.0 as usize;
        if self.columns[i].len() > self.rows {
            let e = TableError::SetTwice {
                field: self.names[i].clone(),
                row: self.rows,
            };
            self.fail(e);
            return None;
        }
        Some(&mut self.columns[i])
    }

    fn wrong_kind(&mut self, col: ColumnId, used: FieldKind) {
        let i = col.0 as usize;
        let e = TableError::KindMismatch {
            field: self.names[i].clone(),
            existing: self.columns[i].kind(),
            used,
        };
        self.fail(e);
    }

    /// Sets a text value; empty text is a missing value.
    #[inline]
    pub fn set_text(&mut self, col: ColumnId, value: &str) {
        if self.slot(col).is_none() {
            return;
        }
        let i = col.0 as usize;
        let full = match &mut self.columns[i] {
            Column::Text(TextColumn::Dict { syms, dict }) => {
                if value.is_empty() {
                    syms.push(NONE);
                    false
                } else if value.len() >= u32::MAX as usize {
                    true // no arena with `u32` offsets holds it
                } else {
                    let p = &mut self.pending[i];
                    // The batch's own offsets are `u32` too.
                    let mut full = p.text.len() + value.len() > u32::MAX as usize
                        && p.flush(syms, dict, &mut self.batch_syms).is_err();
                    // A placeholder until the batch is interned.
                    p.rows.push(syms.len() as u32);
                    syms.push(NONE);
                    p.text.push_str(value);
                    p.ends.push(p.text.len() as u32);
                    full |= p.rows.len() >= PENDING_BATCH
                        && p.flush(syms, dict, &mut self.batch_syms).is_err();
                    full
                }
            }
            Column::Text(TextColumn::Plain(p)) => p.push(value).is_err(),
            _ => return self.wrong_kind(col, FieldKind::Text),
        };
        if full {
            let field = self.names[col.0 as usize].clone();
            self.fail(TableError::TooMuchText { field });
        }
    }

    /// Sets `mantissa × 10^-scale` (what [`Decimal::mantissa`] and [`Decimal::scale`] give),
    /// for loaders that parse amounts themselves.
    #[inline]
    pub fn set_decimal_parts(&mut self, col: ColumnId, mantissa: i128, scale: u32) {
        let row = self.rows;
        let Some(c) = self.slot(col) else { return };
        let Column::Decimal(d) = c else {
            return self.wrong_kind(col, FieldKind::Decimal);
        };
        if !d.push(mantissa, scale) {
            let scale = d.scale.max(scale);
            let field = self.names[col.0 as usize].clone();
            self.fail(TableError::DecimalRange { field, row, scale });
        }
    }

    #[inline]
    pub fn set_decimal(&mut self, col: ColumnId, value: Decimal) {
        self.set_decimal_parts(col, value.mantissa(), value.scale());
    }

    /// Sets a date as chrono's day number (`NaiveDate::num_days_from_ce`).
    #[inline]
    pub fn set_days(&mut self, col: ColumnId, day: i32) {
        let Some(c) = self.slot(col) else { return };
        let Column::Date(d) = c else {
            return self.wrong_kind(col, FieldKind::Date);
        };
        d.days.push(day);
        if day != MISSING_DAY {
            d.min = d.min.min(day);
            d.max = d.max.max(day);
        }
    }

    #[inline]
    pub fn set_date(&mut self, col: ColumnId, value: NaiveDate) {
        self.set_days(col, day_of(value));
    }

    #[inline]
    pub fn set_currency(&mut self, col: ColumnId, value: Currency) {
        self.set_currency_code(col, currency_code(value));
    }

    #[inline]
    pub(crate) fn set_currency_code(&mut self, col: ColumnId, code: u16) {
        let Some(c) = self.slot(col) else { return };
        let Column::Currency(cc) = c else {
            return self.wrong_kind(col, FieldKind::Currency);
        };
        cc.codes.push(code);
    }

    fn named(&mut self, field: &str, kind: FieldKind) -> Option<ColumnId> {
        match self.column(field, kind, TextStorage::Dictionary) {
            Ok(c) => Some(c),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// Sets text in the row being built (a dictionary column is created on first use).
    pub fn add_text(&mut self, field: &str, value: &str) -> &mut Self {
        if let Some(c) = self.named(field, FieldKind::Text) {
            self.set_text(c, value);
        }
        self
    }

    pub fn add_decimal(&mut self, field: &str, value: Decimal) -> &mut Self {
        if let Some(c) = self.named(field, FieldKind::Decimal) {
            self.set_decimal(c, value);
        }
        self
    }

    pub fn add_date(&mut self, field: &str, value: NaiveDate) -> &mut Self {
        if let Some(c) = self.named(field, FieldKind::Date) {
            self.set_date(c, value);
        }
        self
    }

    pub fn add_currency(&mut self, field: &str, value: Currency) -> &mut Self {
        if let Some(c) = self.named(field, FieldKind::Currency) {
            self.set_currency(c, value);
        }
        self
    }

    /// Ends the row: fields not set are missing. `identity` names the row in results and
    /// breaks ties; it should be unique on its side (see [`super::UnmatchedReason::Duplicate`]).
    pub fn push_row(&mut self, identity: &str) {
        for c in &mut self.columns {
            if c.len() == self.rows {
                c.push_missing();
            }
        }
        if self.identity.push(identity).is_err() {
            self.fail(TableError::TooMuchText {
                field: "identity".to_owned(),
            });
        }
        self.rows += 1;
        if self.rows >= u32::MAX as usize {
            self.fail(TableError::TooManyRows);
        }
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn finish(mut self) -> Result<Table, TableError> {
        for i in 0..self.columns.len() {
            if let Column::Text(TextColumn::Dict { syms, dict }) = &mut self.columns[i]
                && self.pending[i]
                    .flush(syms, dict, &mut self.batch_syms)
                    .is_err()
            {
                let field = self.names[i].clone();
                self.fail(TableError::TooMuchText { field });
            }
        }
        if self.columns.iter().any(|c| c.len() > self.rows) {
            self.fail(TableError::UnfinishedRow);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let duplicates = find_duplicates(&self.identity);
        Ok(Table {
            names: self.names,
            columns: self.columns,
            by_name: self.by_name,
            identity: self.identity,
            rows: self.rows,
            duplicates,
        })
    }
}

/// One side of a reconciliation, ready to match. Build it with [`TableBuilder`],
/// [`Table::from_records`] or [`super::load_csv`].
#[derive(Clone, Debug)]
pub struct Table {
    names: Vec<String>,
    columns: Vec<Column>,
    by_name: FxHashMap<String, u32>,
    identity: PlainText,
    rows: usize,
    /// (row, how many rows share its identity) for every row whose identity is not unique,
    /// by row.
    duplicates: Vec<(u32, u32)>,
}

impl Table {
    /// A table of records with the fields of [`Schema::of_records`]; each row's identity is
    /// [`Record::identity`]. Remittance information is stored as plain text, the other text
    /// fields as dictionaries.
    pub fn from_records<R: AsRef<Record>>(records: &[R]) -> Result<Table, TableError> {
        Table::from_records_scaled(records, 0)
    }

    /// As [`Table::from_records`], with amounts held at `amount_scale` decimals at least.
    /// A table holds a column's values at the largest scale among them, and explanations and
    /// differences show decimals at it: a run over some of a book's records takes the scale
    /// the whole book would give, so that it says exactly what a run over the book would.
    pub fn from_records_scaled<R: AsRef<Record>>(
        records: &[R],
        amount_scale: u32,
    ) -> Result<Table, TableError> {
        let mut b = TableBuilder::with_capacity(records.len());
        let c = |b: &mut TableBuilder, name: &str, kind| match kind {
            FieldKind::Text => b.text_column(
                name,
                if name == "remittance" {
                    TextStorage::Plain
                } else {
                    TextStorage::Dictionary
                },
            ),
            FieldKind::Decimal => b.decimal_column(name),
            FieldKind::Date => b.date_column(name),
            FieldKind::Currency => b.currency_column(name),
        };
        let mut ids = Vec::with_capacity(RECORD_FIELDS.len());
        for (name, kind) in RECORD_FIELDS {
            ids.push(c(&mut b, name, kind)?);
        }
        let [
            ext,
            account,
            value,
            booking,
            amount,
            ccy,
            reference,
            cp,
            remittance,
        ] = ids[..]
        else {
            unreachable!("nine record fields");
        };
        if let Column::Decimal(d) = &mut b.columns[amount.0 as usize]
            && amount_scale > d.scale
            && !d.rescale(amount_scale)
        {
            b.fail(TableError::DecimalRange {
                field: "amount".into(),
                row: 0,
                scale: amount_scale,
            });
        }
        for r in records {
            let r = r.as_ref();
            b.set_text(ext, &r.external_id);
            if let Some(a) = &r.account {
                b.set_text(account, a);
            }
            b.set_date(value, r.value_date);
            if let Some(d) = r.booking_date {
                b.set_date(booking, d);
            }
            b.set_decimal(amount, r.amount);
            b.set_currency(ccy, r.currency);
            if let Some(v) = &r.reference {
                b.set_text(reference, v);
            }
            if let Some(v) = &r.counterparty {
                b.set_text(cp, v);
            }
            if let Some(v) = &r.remittance {
                b.set_text(remittance, v);
            }
            b.push_row(&r.identity());
        }
        b.finish()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The row's identity as given to `push_row`.
    #[inline]
    pub fn identity(&self, row: usize) -> &str {
        self.identity.get(row)
    }

    pub fn schema(&self) -> Schema {
        let mut s = Schema::new();
        for (n, c) in self.names.iter().zip(&self.columns) {
            s = s.with(n, c.kind());
        }
        s
    }

    pub fn kind(&self, field: &str) -> Option<FieldKind> {
        self.col(field).map(Column::kind)
    }

    pub(crate) fn col(&self, field: &str) -> Option<&Column> {
        self.by_name.get(field).map(|&i| &self.columns[i as usize])
    }

    pub fn text(&self, field: &str, row: usize) -> Option<&str> {
        match self.col(field)? {
            Column::Text(t) => t.get(row),
            _ => None,
        }
    }

    pub fn decimal(&self, field: &str, row: usize) -> Option<Decimal> {
        match self.col(field)? {
            Column::Decimal(d) => Decimal::try_from_i128_with_scale(d.get(row)?, d.scale).ok(),
            _ => None,
        }
    }

    pub fn date(&self, field: &str, row: usize) -> Option<NaiveDate> {
        match self.col(field)? {
            Column::Date(d) => date_of(d.days[row]),
            _ => None,
        }
    }

    pub fn currency(&self, field: &str, row: usize) -> Option<Currency> {
        match self.col(field)? {
            Column::Currency(c) => currency_from_code(c.codes[row]),
            _ => None,
        }
    }

    /// Any field's value as text, as explanations show it.
    pub fn display(&self, field: &str, row: usize) -> Option<String> {
        match self.col(field)? {
            Column::Text(t) => t.get(row).map(str::to_owned),
            Column::Decimal(_) => self.decimal(field, row).map(|d| d.to_string()),
            Column::Date(_) => self.date(field, row).map(|d| d.to_string()),
            Column::Currency(_) => self.currency(field, row).map(|c| c.to_string()),
        }
    }

    /// Rows whose identity another row of this table shares, with the size of their set.
    pub fn duplicates(&self) -> &[(u32, u32)] {
        &self.duplicates
    }

    /// Bytes of memory the table holds (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.columns.iter().map(Column::heap_bytes).sum::<usize>()
            + self.identity.heap_bytes()
            + self.duplicates.capacity() * 8
    }
}

/// Rows sharing an identity: hashes seen twice in a bit table (eight bits per row, so in
/// cache) are the few candidates; those sorted (radix), equal neighbours checked by text.
fn find_duplicates(ids: &PlainText) -> Vec<(u32, u32)> {
    let n = ids.len();
    let hash = |row: usize| hash_bytes(ids.get(row).as_bytes());
    let mut hashes: Vec<u64> = (0..n).map(hash).collect();
    let bits = (n * 8).next_power_of_two().max(64);
    let mut seen = vec![0u64; bits / 64];
    let mut again = vec![0u64; bits / 64];
    let at = |h: u64| ((h as usize) & (bits - 1), 1u64 << (h & 63));
    for &h in &hashes {
        let (i, b) = at(h);
        if seen[i / 64] & b != 0 {
            again[i / 64] |= b;
        }
        seen[i / 64] |= b;
    }
    drop(seen);
    hashes.retain(|&h| {
        let (i, b) = at(h);
        again[i / 64] & b != 0
    });
    drop(again);
    radix_sort_u64(&mut hashes);
    let twice: FxHashSet<u64> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(hashes);
    if twice.is_empty() {
        return Vec::new();
    }
    let mut by_id: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
    for row in 0..n {
        if twice.contains(&hash(row)) {
            by_id.entry(ids.get(row)).or_default().push(row as u32);
        }
    }
    let mut out: Vec<(u32, u32)> = by_id
        .into_values()
        .filter(|rows| rows.len() > 1)
        .flat_map(|rows| {
            let count = rows.len() as u32;
            rows.into_iter().map(move |r| (r, count))
        })
        .collect();
    out.sort_unstable();
    out
}

/// LSD radix sort, 11 bits per pass; plain sort for small inputs.
pub(crate) fn radix_sort_u64(v: &mut Vec<u64>) {
    if v.len() < 1 << 12 {
        v.sort_unstable();
        return;
    }
    let mut buf = vec![0u64; v.len()];
    for pass in 0..6 {
        let shift = pass * 11;
        let mut counts = [0usize; 2048];
        for &x in v.iter() {
            counts[((x >> shift) & 2047) as usize] += 1;
        }
        let mut at = 0;
        for c in counts.iter_mut() {
            let k = *c;
            *c = at;
            at += k;
        }
        for &x in v.iter() {
            let d = ((x >> shift) & 2047) as usize;
            buf[counts[d]] = x;
            counts[d] += 1;
        }
        std::mem::swap(v, &mut buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_among_many_identities() {
        for n in [0usize, 1, 2, 100, 20_000] {
            let mut b = TableBuilder::new();
            for i in 0..n {
                // Every 97th row repeats the identity of the row 5 before it; 1000 once more.
                let id = if i % 97 == 96 {
                    format!("id-{}", i - 5)
                } else if n > 1000 && i == n - 1 {
                    "id-1000".to_owned()
                } else {
                    format!("id-{i}")
                };
                b.push_row(&id);
            }
            let t = b.finish().unwrap();
            let mut want: Vec<(u32, u32)> = Vec::new();
            let mut by: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
            for r in 0..n {
                by.entry(t.identity(r)).or_default().push(r as u32);
            }
            for rows in by.values().filter(|v| v.len() > 1) {
                want.extend(rows.iter().map(|&r| (r, rows.len() as u32)));
            }
            want.sort_unstable();
            assert_eq!(t.duplicates(), &want[..], "{n}");
        }
    }
}
