//! The `[match]` table of a job file as written (serde, unknown keys refused), and its check
//! into a [`Plan`]. The doc comments of these structs are the user documentation.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::table::{FieldKind, Schema, currency_code_of_bytes};

/// The matching rules of a reconciliation job: ordered passes, each pairing what the earlier
/// passes left open.
///
/// ```toml
/// [match]
/// calendar = "default"
/// [[match.passes]]
/// name = "reference"
/// keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' },
///         { ours = "currency", theirs = "currency" }]
/// amount = { ours = "amount", theirs = "amount" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// The business-day calendar (a `[calendars.NAME]` of `clerk.toml`) that date windows
    /// count in. Default `default`.
    pub calendar: Option<String>,
    /// The passes, in the order they run. An item matched by one pass is gone for the next.
    #[serde(default)]
    pub passes: Vec<PassSpec>,
    /// Mapping tables by name, each a CSV file (relative to the install root) with the
    /// header `ours,theirs`: one line per pair, several lines for one of ours allowed.
    #[serde(default)]
    pub maps: BTreeMap<String, String>,
    /// Rates tables by name, each a CSV file with the header `date,from,to,rate`
    /// (`2026-03-02,USD,EUR,0.9214`: one USD is 0.9214 EUR on that day and after, until the
    /// next rate).
    #[serde(default)]
    pub rates: BTreeMap<String, String>,
    /// The older, short form (still accepted): a regular expression finding our invoice
    /// numbers in remittance text. Stands for three passes: `reference`, `amount_date` and
    /// `batch` (see [`super::legacy_spec`]). Not together with `passes`.
    pub reference_pattern: Option<String>,
    /// The older, short form: the business-day window of its `amount_date` and `batch`
    /// passes. Default 2.
    pub window_business_days: Option<i64>,
}

/// One pass: which items may pair, and how closely they must agree.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassSpec {
    /// The pass's name, as reports and results show it (`reference`, `amount_date`, …).
    /// Unique within the job.
    pub name: String,
    /// How many items of each side one match takes. Default `one_to_one`.
    #[serde(default)]
    pub grouping: Grouping,
    /// Fields that must agree, all of them. A missing value agrees with nothing.
    #[serde(default)]
    pub keys: Vec<KeySpec>,
    /// Compare amounts (or any decimal, e.g. a quantity) within a tolerance. A pass without
    /// it does not look at amounts.
    pub amount: Option<AmountSpec>,
    /// Compare dates within a window of business days. A pass without it does not look at
    /// dates.
    pub date: Option<DateSpec>,
    /// Grouped passes: the fields the items of one group share, on the grouped side (for
    /// `many_to_many` on both sides, where groups pair only with equal values). Left out of
    /// a `one_to_many` / `many_to_one` pass, a group is the items of the grouped side whose
    /// keys' values agree, the values a pattern extracts where a key has one: the lines
    /// quoting `INV-123456789/1` and `INV-123456789/2` are one group under the pattern
    /// `INV-(\d{9})/\d`.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Grouped passes: the most items one side of a match may take (2 to 64). Default 8.
    pub max_group_size: Option<i64>,
    /// Compare amounts in different currencies through a table of rates.
    pub fx: Option<FxSpec>,
    /// `one_to_many` / `many_to_one`: look for the subset of a group whose total agrees
    /// (true, the default; subsets of 2 up to `max_group_size` items, the search bounded),
    /// or only take a group as a whole (false: "one payment for all of a customer's items of
    /// the day").
    pub subsets: Option<bool>,
    /// What the pass pairs: `books` (the default), our items with theirs; or `statement`,
    /// their lines with each other: a line with a later line of the opposite sign that
    /// agrees on the keys (a payment and its return, `RETURN AC04 ... INV-x`). Such a pass
    /// is `one_to_one`, needs `amount` with `opposite_sign = true` and a `date` rule (which
    /// line is later), names their fields on both sides of its keys, amount and date, and
    /// comes before every pass against the books, so that the books match the payment that
    /// stayed.
    pub within: Option<Within>,
    /// Instalments (`one_to_many` without `group_by`): an item of ours that open items of
    /// theirs quoting it pay only in part is held without a break while the rest may come,
    /// then reported `partially_paid` with the open remainder. Without it, part payments are
    /// not looked for.
    pub partial: Option<PartialSpec>,
}

/// `partial = { window_business_days = 20 }`: how long the rest of a part-paid item may take.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSpec {
    /// Business days from the first part received during which the rest may still come
    /// (0 to 366); after them the item is `partially_paid`.
    pub window_business_days: i64,
}

/// What a pass pairs (see [`PassSpec::within`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Within {
    /// Our items with theirs.
    #[default]
    Books,
    /// Their lines with each other.
    Statement,
}

/// How many items of each side one match takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// One of ours with one of theirs.
    #[default]
    OneToOne,
    /// One of ours with several of theirs whose amounts add up to it (one invoice paid in
    /// instalments).
    OneToMany,
    /// Several of ours with one of theirs (one bank line paying a batch of invoices).
    ManyToOne,
    /// A whole group of ours with a whole group of theirs that shares its `group_by` values,
    /// when their totals agree.
    ManyToMany,
}

impl Grouping {
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::OneToOne => "one_to_one",
            Grouping::OneToMany => "one_to_many",
            Grouping::ManyToOne => "many_to_one",
            Grouping::ManyToMany => "many_to_many",
        }
    }
}

/// One field of ours that must agree with one field of theirs.
///
/// Values are compared as text (a currency field as its code, a date as a date). Before
/// comparing, in this order:
/// 1. `ours_pattern` / `theirs_pattern` extract references from free text: every match of
///    the regular expression is a candidate value (its capture group 1, if it has a group,
///    else the whole match); text where it finds nothing agrees with nothing.
/// 2. `map` translates our value through a mapping table the job provides (ours → one or
///    more of theirs); a value the table does not list agrees with nothing.
/// 3. `normalise` (on both sides): letters lower-cased; `.` and `'` dropped (so `G.m.b.H.`
///    is `gmbh`); every other character that is not a letter or digit separates words; the
///    legal-form words `ab ag as asa bv bvba co corp corporation company gmbh inc
///    incorporated kg kgaa limited llc llp lp ltd nv oy oyj plc pty sa sarl sas se spa srl
///    ug` are dropped (unless nothing else is left); the words are joined with nothing in
///    between. `ACME Trading GmbH`, `Acme-Trading` and `acme trading g.m.b.h.` all become
///    `acmetrading`.
///
/// With several candidate values on a side, the key agrees when any value of ours equals any
/// value of theirs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Our field.
    pub ours: String,
    /// Their field.
    pub theirs: String,
    /// Compare normalised text (see above). Default false.
    #[serde(default)]
    pub normalise: bool,
    /// Regular expression extracting values from our text.
    pub ours_pattern: Option<String>,
    /// Regular expression extracting values from their text, e.g. `'INV-\d{9}'`.
    pub theirs_pattern: Option<String>,
    /// Name of a mapping table (given by the job) from our values to theirs.
    pub map: Option<String>,
}

/// How closely amounts must agree: `|ours − theirs| <= max(tolerance, relative × |ours|)`,
/// where `theirs` is negated with `opposite_sign`. In grouped passes each side's amount is
/// the total of its items.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountSpec {
    /// Our decimal field.
    pub ours: String,
    /// Their decimal field.
    pub theirs: String,
    /// Absolute tolerance in our currency's units, written as a string (`"0.01"`). Default 0.
    pub tolerance: Option<DecimalValue>,
    /// Relative tolerance, a fraction of our amount (`"0.001"` is 0.1 %), below 1, at most 9
    /// decimals. Default 0.
    pub relative: Option<DecimalValue>,
    /// Absolute tolerance by our currency, replacing `tolerance`: `{ JPY = "1" }`.
    #[serde(default)]
    pub per_currency: BTreeMap<String, DecimalValue>,
    /// The sides book with opposite signs (our receivable +100 is their debit −100).
    #[serde(default)]
    pub opposite_sign: bool,
    /// Our currency field, for `per_currency` and `fx`. Default `currency`.
    pub ours_currency: Option<String>,
    /// Their currency field, for `fx`. Default `currency`.
    pub theirs_currency: Option<String>,
}

/// How close dates must be: at most `window_business_days` business days apart, counted in
/// the job's calendar (Friday → Monday is 1; a Saturday counts as the Friday before).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateSpec {
    /// Our date field.
    pub ours: String,
    /// Their date field.
    pub theirs: String,
    /// The most business days the dates may differ by (0 to 366). Without it any gap is
    /// accepted and only ranks candidates (closer first).
    pub window_business_days: Option<i64>,
}

/// Amounts in different currencies: their amount is converted into ours with the rate of
/// their date (the date rule's field of the statement line, the day the bank converted; the
/// latest rate on or before it) from a rates table the job provides, and may then differ by
/// `tolerance_relative × |ours|` on top of the amount rule's tolerances. `at = "ours"` takes
/// the rate of our date instead (the ledger item's: the first releases' way). Amounts in the
/// same currency are compared as they are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxSpec {
    /// Name of the rates table.
    pub rates: String,
    /// Allowed difference after conversion, as a fraction of our amount (`"0.005"`).
    /// Default 0.
    pub tolerance_relative: Option<DecimalValue>,
    /// Whose date's rate converts: `theirs` (default; the statement line's value date, when
    /// the bank converted) or `ours` (the ledger item's).
    #[serde(default)]
    pub at: FxAt,
}

/// Whose date picks the rate of an fx comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FxAt {
    /// The statement line's date: the bank converts on the day it pays.
    #[default]
    Theirs,
    /// The ledger item's date.
    Ours,
}

/// A decimal written as a string (`"0.01"`) or an integer (`1`). TOML floats are refused:
/// `0.1` as a float is not exactly 0.1.
#[derive(Debug, Clone, PartialEq)]
pub struct DecimalValue(pub String);

impl<'de> Deserialize<'de> for DecimalValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal written as a string, such as \"0.01\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalValue, E> {
                Ok(DecimalValue(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalValue, E> {
                Ok(DecimalValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalValue, E> {
                Ok(DecimalValue(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DecimalValue, E> {
                Err(E::custom(format!(
                    "write decimals as strings, e.g. \"{v}\": a float is not exact"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A problem in the rules, naming the key from the job file's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// E.g. `match.passes[1].keys[0].theirs_pattern`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for RuleError {}

/// Checked rules, ready to run: fields resolved against the sides' schemas, patterns
/// compiled, tolerances exact.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) calendar: Option<String>,
    pub(crate) passes: Vec<PassPlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct PassPlan {
    pub name: Arc<str>,
    /// `match.passes[i]`, for messages.
    pub key: String,
    pub grouping: Grouping,
    pub keys: Vec<KeyPlan>,
    pub amount: Option<AmountPlan>,
    pub date: Option<DatePlan>,
    pub group_by: Vec<String>,
    pub max_group_size: usize,
    pub fx: Option<FxPlan>,
    pub subsets: bool,
    /// Pairs their lines with each other (see [`PassSpec::within`]).
    pub within_statement: bool,
    /// Part payments looked for, the rest awaited this many business days from the first
    /// part (see [`PassSpec::partial`]).
    pub partial_window: Option<i32>,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyPlan {
    pub ours: String,
    pub theirs: String,
    pub normalise: bool,
    pub ours_pattern: Option<Regex>,
    pub theirs_pattern: Option<Regex>,
    pub map: Option<String>,
    pub key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct AmountPlan {
    pub ours: String,
    pub theirs: String,
    pub tolerance: Decimal,
    pub relative: Decimal,
    /// (currency code, tolerance), sorted by code.
    pub per_currency: Vec<(u16, Decimal)>,
    pub opposite_sign: bool,
    pub ours_currency: String,
    pub theirs_currency: String,
    pub key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct DatePlan {
    pub ours: String,
    pub theirs: String,
    pub window: Option<i32>,
}

#[derive(Debug, Clone)]
pub(crate) struct FxPlan {
    pub rates: String,
    pub tolerance_relative: Decimal,
    pub at: FxAt,
    pub key: String,
}

impl Plan {
    /// The calendar the rules name (`None`: the default one).
    pub fn calendar(&self) -> Option<&str> {
        self.calendar.as_deref()
    }

    /// The passes' names, in order.
    pub fn pass_names(&self) -> impl Iterator<Item = &str> {
        self.passes.iter().map(|p| &*p.name)
    }

    /// The widest date window of any pass against the books, in business days (0 without
    /// any): how long a ledger item may wait for the bank.
    pub fn widest_window(&self) -> i32 {
        // A pass within the statement bounds how late a return comes, not a ledger item.
        self.passes
            .iter()
            .filter(|p| !p.within_statement)
            .filter_map(|p| p.date.as_ref().and_then(|d| d.window))
            .max()
            .unwrap_or(0)
    }

    /// A pass's name, grouping, and whether it has a key on a text field of ours (other than
    /// a currency): how a report files its matches.
    pub fn pass_shape(&self, rule: u32) -> Option<(&str, Grouping, bool)> {
        let p = self.passes.get(rule as usize)?;
        let text_key = p.keys.iter().any(|k| {
            k.theirs_pattern.is_some()
                || k.ours_pattern.is_some()
                || k.map.is_some()
                || k.normalise
                || k.ours == "reference"
        });
        Some((&p.name, p.grouping, text_key))
    }

    /// The first pass looking for part payments (`partial`): its name, its window in business
    /// days, and whether it compares amounts with opposite signs.
    pub fn partial_pass(&self) -> Option<(&str, i32, bool)> {
        self.passes.iter().find_map(|p| {
            let w = p.partial_window?;
            Some((
                &*p.name,
                w,
                p.amount.as_ref().is_some_and(|a| a.opposite_sign),
            ))
        })
    }

    /// Every mapping table the rules use: (key, table name).
    pub fn maps_used(&self) -> Vec<(String, String)> {
        self.passes
            .iter()
            .flat_map(|p| &p.keys)
            .filter_map(|k| k.map.clone().map(|m| (format!("{}.map", k.key), m)))
            .collect()
    }

    /// Every rates table the rules use: (key, table name).
    pub fn rates_used(&self) -> Vec<(String, String)> {
        self.passes
            .iter()
            .filter_map(|p| {
                p.fx.as_ref()
                    .map(|f| (format!("{}.rates", f.key), f.rates.clone()))
            })
            .collect()
    }
}

use crate::settings::limits::{LEGACY_WINDOW, MAX_GROUP_SIZE, PASS_WINDOW};

/// Which sides a field must exist on, and what kinds it may be.
struct Checker<'a> {
    ours: &'a Schema,
    theirs: &'a Schema,
    errors: Vec<RuleError>,
}

impl Checker<'_> {
    fn err(&mut self, key: String, message: impl Into<String>) {
        self.errors.push(RuleError {
            key,
            message: message.into(),
        });
    }

    /// The kind of `field` on `side`, or an error naming `key`.
    fn field(&mut self, key: &str, ours: bool, field: &str) -> Option<FieldKind> {
        let (schema, side) = if ours {
            (self.ours, "our")
        } else {
            (self.theirs, "their")
        };
        match schema.kind(field) {
            Some(k) => Some(k),
            None => {
                let known: Vec<&str> = schema.fields().map(|(n, _)| n).collect();
                self.err(
                    key.to_owned(),
                    format!(
                        "{side} side has no field {field:?}; it has: {}",
                        known.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn field_of(
        &mut self,
        key: &str,
        ours: bool,
        field: &str,
        want: FieldKind,
    ) -> Option<FieldKind> {
        let k = self.field(key, ours, field)?;
        if k != want {
            let side = if ours { "our" } else { "their" };
            self.err(
                key.to_owned(),
                format!("{side} field {field:?} is {k}, expected {want}"),
            );
            return None;
        }
        Some(k)
    }

    fn decimal(&mut self, key: String, v: Option<&DecimalValue>, relative: bool) -> Decimal {
        let Some(DecimalValue(text)) = v else {
            return Decimal::ZERO;
        };
        let d: Decimal = match text.trim().parse() {
            Ok(d) => d,
            Err(_) => {
                self.err(
                    key,
                    format!("expected a decimal such as \"0.01\", found {text:?}"),
                );
                return Decimal::ZERO;
            }
        };
        if d.is_sign_negative() && !d.is_zero() {
            self.err(key, format!("a tolerance cannot be negative, found {text}"));
            return Decimal::ZERO;
        }
        if relative && (d >= Decimal::ONE || d.scale() > 9) {
            self.err(
                key,
                format!("expected a fraction below 1 with at most 9 decimals, found {text}"),
            );
            return Decimal::ZERO;
        }
        if !relative && d.scale() > 18 {
            self.err(key, format!("at most 18 decimals, found {text}"));
            return Decimal::ZERO;
        }
        d.normalize()
    }

    fn pattern(&mut self, key: String, p: Option<&String>) -> Option<Regex> {
        let p = p?;
        match Regex::new(p) {
            Ok(re) if re.is_match("") => {
                self.err(key, format!("the pattern {p:?} matches empty text"));
                None
            }
            Ok(re) => Some(re),
            Err(e) => {
                self.err(key, format!("not a valid regular expression: {e}"));
                None
            }
        }
    }
}

fn text_like(k: FieldKind) -> bool {
    matches!(k, FieldKind::Text | FieldKind::Currency)
}

impl MatchSpec {
    /// Checks the rules against the fields each side has. Every problem is reported, each
    /// naming its key, e.g. `match.passes[1].keys[0].theirs_pattern`.
    pub fn check(&self, ours: &Schema, theirs: &Schema) -> Result<Plan, Vec<RuleError>> {
        if self.reference_pattern.is_some() || self.window_business_days.is_some() {
            if !self.passes.is_empty() {
                return Err(vec![RuleError {
                    key: "match.reference_pattern".into(),
                    message: "write either the short form (reference_pattern, \
                              window_business_days) or [[match.passes]], not both"
                        .into(),
                }]);
            }
            let Some(pattern) = &self.reference_pattern else {
                return Err(vec![RuleError {
                    key: "match.reference_pattern".into(),
                    message: "missing: the pattern of our references in remittance text".into(),
                }]);
            };
            let window = self.window_business_days.unwrap_or(2);
            if let Err(message) = LEGACY_WINDOW.check(window) {
                return Err(vec![RuleError {
                    key: LEGACY_WINDOW.key.into(),
                    message,
                }]);
            }
            let mut long = super::legacy_spec(pattern, window);
            long.calendar = self.calendar.clone();
            long.maps = self.maps.clone();
            long.rates = self.rates.clone();
            return long.check(ours, theirs).map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| RuleError {
                        // The only thing of the user's in the expansion is the pattern.
                        key: if e.key.contains("pattern") {
                            "match.reference_pattern".into()
                        } else {
                            e.key
                        },
                        message: e.message,
                    })
                    .collect()
            });
        }
        let mut c = Checker {
            ours,
            theirs,
            errors: Vec::new(),
        };
        if self.passes.is_empty() {
            c.err("match.passes".into(), "no passes: at least one is needed");
        }
        let mut passes = Vec::new();
        for (i, p) in self.passes.iter().enumerate() {
            let key = format!("match.passes[{i}]");
            let checked = if p.within == Some(Within::Statement) {
                within_statement_pass(&mut c, &key, p, &self.passes[..i])
            } else {
                check_pass(&mut c, &key, p)
            };
            if let Some(pass) = checked {
                passes.push(pass);
            }
            if p.name.trim().is_empty() {
                c.err(format!("{key}.name"), "a pass needs a name");
            } else if self.passes[..i].iter().any(|q| q.name == p.name) {
                c.err(
                    format!("{key}.name"),
                    format!("another pass is already named {:?}", p.name),
                );
            }
        }
        if c.errors.is_empty() {
            for (name, _) in self.maps.iter().chain(&self.rates) {
                if name.trim().is_empty() {
                    c.err("match.maps".into(), "a table needs a name");
                }
            }
            let maps_used: Vec<(String, String)> = passes
                .iter()
                .flat_map(|p| &p.keys)
                .filter_map(|k| k.map.as_ref().map(|m| (k.key.clone(), m.clone())))
                .collect();
            for (key, m) in maps_used {
                if !self.maps.contains_key(&m) {
                    c.err(
                        format!("{key}.map"),
                        format!("no mapping table {m:?} in [match.maps]"),
                    );
                }
            }
            for f in passes.iter().filter_map(|p| p.fx.as_ref()) {
                if !self.rates.contains_key(&f.rates) {
                    c.err(
                        format!("{}.rates", f.key),
                        format!("no rates table {:?} in [match.rates]", f.rates),
                    );
                }
            }
        }
        if c.errors.is_empty() {
            Ok(Plan {
                calendar: self.calendar.clone(),
                passes,
            })
        } else {
            Err(c.errors)
        }
    }
}

/// Checks one pass of the match rules against both sides' schemas and, when nothing in it is
/// wrong, turns it into the plan the engine runs. Errors come out in the order a reader meets
/// the rule's parts: grouping, keys, amount, date, fx.
fn check_pass(c: &mut Checker<'_>, key: &str, p: &PassSpec) -> Option<PassPlan> {
    let before = c.errors.len();
    let pass = PassShape::of(p);
    let max_group_size = pass.check_grouping(c, key);
    let keys = p
        .keys
        .iter()
        .enumerate()
        .map(|(k, spec)| pass.check_key(c, format!("{key}.keys[{k}]"), spec))
        .collect();
    let amount = p.amount.as_ref().map(|a| pass.check_amount(c, key, a));
    let date = p.date.as_ref().map(|d| pass.check_date(c, key, d));
    let fx = p.fx.as_ref().map(|f| pass.check_fx(c, key, f));

    if p.keys.is_empty() && p.amount.is_none() && p.date.is_none() {
        c.err(
            key.to_owned(),
            "the pass has no keys, amount or date rule: it would pair anything with anything",
        );
    }

    (c.errors.len() == before).then(|| PassPlan {
        name: Arc::from(p.name.as_str()),
        key: key.to_owned(),
        grouping: p.grouping,
        keys,
        amount,
        date,
        group_by: p.group_by.clone(),
        max_group_size,
        fx,
        subsets: p.subsets.unwrap_or(true),
        within_statement: false,
        partial_window: pass.check_partial(c, key),
    })
}

/// A pass pairing their lines with each other (`within = "statement"`): checked as a pass
/// whose two sides are both theirs, and with the shape a payment and its return have.
fn within_statement_pass(
    c: &mut Checker<'_>,
    key: &str,
    p: &PassSpec,
    earlier: &[PassSpec],
) -> Option<PassPlan> {
    let before = c.errors.len();
    if earlier.iter().any(|q| q.within != Some(Within::Statement)) {
        c.err(
            format!("{key}.within"),
            "a pass within the statement comes before every pass against the books: the \
             books then match the payment that stayed, not the one returned",
        );
    }
    if p.grouping != Grouping::OneToOne {
        c.err(
            format!("{key}.grouping"),
            "a pass within the statement pairs one line with one: grouping = \"one_to_one\"",
        );
    }
    if p.keys.is_empty() {
        c.err(
            format!("{key}.keys"),
            "a pass within the statement needs a key (the reference both lines quote)",
        );
    }
    if !p.amount.as_ref().is_some_and(|a| a.opposite_sign) {
        c.err(
            format!("{key}.amount"),
            "a pass within the statement pairs a line with its opposite: amount with \
             opposite_sign = true",
        );
    }
    if p.date.is_none() {
        c.err(
            format!("{key}.date"),
            "a pass within the statement needs a date rule: the return is the later line",
        );
    }
    if p.fx.is_some() {
        c.err(
            format!("{key}.fx"),
            "fx is not for a pass within the statement",
        );
    }
    if p.partial.is_some() {
        c.err(
            format!("{key}.partial"),
            "partial is for instalments passes",
        );
    }
    // Both sides of its rules name their fields.
    let mut theirs = Checker {
        ours: c.theirs,
        theirs: c.theirs,
        errors: Vec::new(),
    };
    let plan = check_pass(&mut theirs, key, p);
    c.errors.append(&mut theirs.errors);
    (c.errors.len() == before).then_some(())?;
    plan.map(|plan| PassPlan {
        within_statement: true,
        ..plan
    })
}

/// A pass being checked, with which of its sides are grouped: a grouped side's records are
/// summed per group, so what it keys on must be shared by the whole group.
struct PassShape<'p> {
    p: &'p PassSpec,
    ours_grouped: bool,
    theirs_grouped: bool,
}

impl<'p> PassShape<'p> {
    fn of(p: &'p PassSpec) -> Self {
        let (ours_grouped, theirs_grouped) = match p.grouping {
            Grouping::OneToOne => (false, false),
            Grouping::OneToMany => (false, true),
            Grouping::ManyToOne => (true, false),
            Grouping::ManyToMany => (true, true),
        };
        PassShape {
            p,
            ours_grouped,
            theirs_grouped,
        }
    }

    /// Part payments are looked for where a pass pays one item of ours by several of theirs
    /// grouped by what they quote: `one_to_many` without `group_by`.
    fn check_partial(&self, c: &mut Checker<'_>, key: &str) -> Option<i32> {
        let p = self.p;
        let w = p.partial.as_ref()?.window_business_days;
        if p.grouping != Grouping::OneToMany || !p.group_by.is_empty() || p.amount.is_none() {
            c.err(
                format!("{key}.partial"),
                "partial is for one_to_many passes without group_by, with an amount rule \
                 (instalments grouped by what they quote)",
            );
            return None;
        }
        if !(0..=366).contains(&w) {
            c.err(
                format!("{key}.partial.window_business_days"),
                format!("{w} is out of range: 0 to 366 business days"),
            );
            return None;
        }
        // In range: fits an i32.
        Some(w as i32)
    }

    fn in_group_by(&self, f: &str) -> bool {
        self.p.group_by.iter().any(|g| g == f)
    }

    /// The settings that belong to grouped passes (group_by, max_group_size, subsets) are
    /// checked for fit with the pass's grouping; returns the largest group to try.
    fn check_grouping(&self, c: &mut Checker<'_>, key: &str) -> usize {
        let p = self.p;
        if p.grouping != Grouping::OneToOne {
            if p.group_by.is_empty() && p.grouping == Grouping::ManyToMany {
                c.err(
                    format!("{key}.group_by"),
                    "a many_to_many pass needs group_by: the fields a group shares",
                );
            } else if p.group_by.is_empty() && p.keys.is_empty() {
                c.err(
                    format!("{key}.group_by"),
                    format!(
                        "a {} pass needs group_by or keys: a group is the items that share the \
                         group_by fields or, without group_by, the values of the keys",
                        p.grouping.as_str()
                    ),
                );
            }
            for (g, f) in p.group_by.iter().enumerate() {
                self.check_group_field(c, format!("{key}.group_by[{g}]"), f);
            }
            if p.amount.is_none() {
                c.err(
                    format!("{key}.amount"),
                    "a grouped pass compares totals: it needs an amount rule",
                );
            }
            if p.fx.is_some() {
                c.err(format!("{key}.fx"), "fx is not supported in grouped passes");
            }
        } else {
            if !p.group_by.is_empty() {
                c.err(
                    format!("{key}.group_by"),
                    "group_by is for grouped passes (grouping = one_to_many, many_to_one or many_to_many)",
                );
            }
            if p.max_group_size.is_some() {
                c.err(
                    format!("{key}.max_group_size"),
                    "max_group_size is for grouped passes",
                );
            }
            if p.subsets.is_some() {
                c.err(format!("{key}.subsets"), "subsets is for grouped passes");
            }
        }
        match p.max_group_size {
            None => 8,
            Some(n) => match MAX_GROUP_SIZE.check_usize(n) {
                Ok(n) => n,
                Err(m) => {
                    c.err(format!("{key}.max_group_size"), m);
                    8
                }
            },
        }
    }

    /// A group_by field must exist on each grouped side, and be of one kind on both when both
    /// are grouped (text kinds compare with each other).
    fn check_group_field(&self, c: &mut Checker<'_>, gk: String, f: &str) {
        let ok = if self.ours_grouped {
            c.field(&gk, true, f)
        } else {
            None
        };
        let ot = if self.theirs_grouped {
            c.field(&gk, false, f)
        } else {
            None
        };
        if let (Some(a), Some(b)) = (ok, ot)
            && a != b
            && !(text_like(a) && text_like(b))
        {
            c.err(gk, format!("{f:?} is {a} on our side and {b} on theirs"));
        }
    }

    /// One key: both fields exist and compare, text transforms only on text, and on a grouped
    /// side the key is one of the group's shared fields.
    fn check_key(&self, c: &mut Checker<'_>, kk: String, spec: &KeySpec) -> KeyPlan {
        let ko = c.field(&format!("{kk}.ours"), true, &spec.ours);
        let kt = c.field(&format!("{kk}.theirs"), false, &spec.theirs);
        if let (Some(a), Some(b)) = (ko, kt) {
            check_key_kinds(c, &kk, spec, a, b);
        }
        // Without group_by a group is the items whose keys' values agree: every key is
        // shared by the whole group by construction.
        let keyed_groups = self.p.group_by.is_empty();
        if self.ours_grouped && !keyed_groups && !self.in_group_by(&spec.ours) {
            c.err(
                format!("{kk}.ours"),
                format!(
                    "in a grouped pass a key must be shared by the whole group: add {:?} to group_by",
                    spec.ours
                ),
            );
        }
        if self.theirs_grouped && !keyed_groups && !self.in_group_by(&spec.theirs) {
            c.err(
                format!("{kk}.theirs"),
                format!(
                    "in a grouped pass a key must be shared by the whole group: add {:?} to group_by",
                    spec.theirs
                ),
            );
        }
        let ours_pattern = c.pattern(format!("{kk}.ours_pattern"), spec.ours_pattern.as_ref());
        let theirs_pattern =
            c.pattern(format!("{kk}.theirs_pattern"), spec.theirs_pattern.as_ref());
        if let Some(m) = &spec.map
            && m.trim().is_empty()
        {
            c.err(format!("{kk}.map"), "a mapping table needs a name");
        }
        KeyPlan {
            ours: spec.ours.clone(),
            theirs: spec.theirs.clone(),
            normalise: spec.normalise,
            ours_pattern,
            theirs_pattern,
            map: spec.map.clone(),
            key: kk,
        }
    }

    /// The amount rule: decimal fields, tolerances, per-currency tolerances by code, and the
    /// currency fields that per-currency tolerances and fx read.
    fn check_amount(&self, c: &mut Checker<'_>, key: &str, a: &AmountSpec) -> AmountPlan {
        let p = self.p;
        let ak = format!("{key}.amount");
        c.field_of(&format!("{ak}.ours"), true, &a.ours, FieldKind::Decimal);
        c.field_of(
            &format!("{ak}.theirs"),
            false,
            &a.theirs,
            FieldKind::Decimal,
        );
        let tolerance = c.decimal(format!("{ak}.tolerance"), a.tolerance.as_ref(), false);
        let relative = c.decimal(format!("{ak}.relative"), a.relative.as_ref(), true);
        let ours_currency = a.ours_currency.clone().unwrap_or_else(|| "currency".into());
        let theirs_currency = a
            .theirs_currency
            .clone()
            .unwrap_or_else(|| "currency".into());
        let per_currency = check_per_currency(c, &ak, a);
        if !per_currency.is_empty() || p.fx.is_some() {
            let ck = if a.ours_currency.is_some() {
                format!("{ak}.ours_currency")
            } else if p.fx.is_some() {
                format!("{key}.fx")
            } else {
                format!("{ak}.per_currency")
            };
            c.field_of(&ck, true, &ours_currency, FieldKind::Currency);
        }
        if p.fx.is_some() {
            let ck = if a.theirs_currency.is_some() {
                format!("{ak}.theirs_currency")
            } else {
                format!("{key}.fx")
            };
            c.field_of(&ck, false, &theirs_currency, FieldKind::Currency);
        }
        if self.ours_grouped && p.grouping == Grouping::ManyToMany && self.in_group_by(&a.ours) {
            c.err(
                format!("{ak}.ours"),
                "the amount is what a group adds up; it cannot be in group_by",
            );
        }
        AmountPlan {
            ours: a.ours.clone(),
            theirs: a.theirs.clone(),
            tolerance,
            relative,
            per_currency,
            opposite_sign: a.opposite_sign,
            ours_currency,
            theirs_currency,
            key: ak,
        }
    }

    /// The date rule: date fields and the business-day window; a many_to_many group has one
    /// date, so its dates must be grouped on.
    fn check_date(&self, c: &mut Checker<'_>, key: &str, d: &DateSpec) -> DatePlan {
        let dk = format!("{key}.date");
        c.field_of(&format!("{dk}.ours"), true, &d.ours, FieldKind::Date);
        c.field_of(&format!("{dk}.theirs"), false, &d.theirs, FieldKind::Date);
        let window = match d.window_business_days {
            None => None,
            // In range, so at most 366: fits an i32.
            Some(w) => match PASS_WINDOW.check(w) {
                Ok(w) => Some(w as i32),
                Err(m) => {
                    c.err(format!("{dk}.window_business_days"), m);
                    None
                }
            },
        };
        if self.p.grouping == Grouping::ManyToMany
            && !(self.in_group_by(&d.ours) && self.in_group_by(&d.theirs))
        {
            c.err(
                dk.clone(),
                "in a many_to_many pass the dates must be in group_by (a group has one date)",
            );
        }
        DatePlan {
            ours: d.ours.clone(),
            theirs: d.theirs.clone(),
            window,
        }
    }

    /// The fx rule converts their amount at the rate of a date (theirs or ours), so it needs
    /// the amount and date rules and a key to look candidates up by.
    fn check_fx(&self, c: &mut Checker<'_>, key: &str, f: &FxSpec) -> FxPlan {
        let p = self.p;
        let fk = format!("{key}.fx");
        if p.amount.is_none() {
            c.err(
                fk.clone(),
                "fx converts amounts: the pass needs an amount rule",
            );
        }
        if p.date.is_none() {
            c.err(
                fk.clone(),
                "fx takes the rate of a date (at = \"theirs\" or \"ours\"): the pass needs a date rule",
            );
        }
        if p.keys.is_empty() {
            c.err(
                fk.clone(),
                "an fx pass needs at least one key (amounts in different currencies cannot be looked up)",
            );
        }
        if f.rates.trim().is_empty() {
            c.err(format!("{fk}.rates"), "a rates table needs a name");
        }
        let tolerance_relative = c.decimal(
            format!("{fk}.tolerance_relative"),
            f.tolerance_relative.as_ref(),
            true,
        );
        FxPlan {
            rates: f.rates.clone(),
            tolerance_relative,
            at: f.at,
            key: fk,
        }
    }
}

/// A key compares like with like: decimals are compared by the amount rule, not as keys, and
/// normalising, patterns and maps only make sense on text.
fn check_key_kinds(c: &mut Checker<'_>, kk: &str, spec: &KeySpec, a: FieldKind, b: FieldKind) {
    let comparable = a == b || (text_like(a) && text_like(b));
    if !comparable || a == FieldKind::Decimal {
        c.err(
            kk.to_owned(),
            format!(
                "cannot compare our {a} field {:?} with their {b} field {:?}{}",
                spec.ours,
                spec.theirs,
                if a == FieldKind::Decimal {
                    "; compare decimals with an amount rule"
                } else {
                    ""
                }
            ),
        );
    }
    let transforms = spec.normalise
        || spec.ours_pattern.is_some()
        || spec.theirs_pattern.is_some()
        || spec.map.is_some();
    if transforms && (!text_like(a) || !text_like(b)) {
        c.err(
            kk.to_owned(),
            "normalise, patterns and maps apply to text fields only",
        );
    }
}

/// Per-currency tolerances, keyed by an upper-case ISO code, sorted by code for lookup.
fn check_per_currency(c: &mut Checker<'_>, ak: &str, a: &AmountSpec) -> Vec<(u16, Decimal)> {
    let mut per_currency = Vec::new();
    for (code, v) in &a.per_currency {
        let pk = format!("{ak}.per_currency.{code}");
        match currency_code_of_bytes(code.as_bytes()) {
            Some(cc) if code.bytes().all(|b| b.is_ascii_uppercase()) => {
                per_currency.push((cc, c.decimal(pk, Some(v), false)))
            }
            _ => c.err(
                pk,
                format!("expected a currency code such as EUR, found {code:?}"),
            ),
        }
    }
    per_currency.sort_unstable_by_key(|&(cc, _)| cc);
    per_currency
}
