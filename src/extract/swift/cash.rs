//! MT940, MT942 and MT950: one message → one [`BankStatement`] with its entries.
//!
//! **Sign rule.** An entry's amount is signed by its effect on the balance: `C` (credit) and
//! `RD` (reversal of a debit: money comes back) are positive, `D` (debit) and `RC` (reversal of
//! a credit: money goes out again) negative; `reversal` is set for `RC`/`RD`. MT942's `EC`/`ED`
//! (expected credit/debit) are signed like `C`/`D`.
//!
//! **MT942 lines are pending.** An interim report (MT942, intraday) lists the day's movements
//! so far; the end-of-day MT940 lists them again, booked. Every MT942 line (and any `EC`/`ED`
//! line) is pending (`EntryStatus::Pending`), so it neither counts as booked nor reconciles: the same
//! payment must not be matched twice when a FinTS download holds both.
//!
//! **Entry dates.** `:61:` gives the booking (entry) date as `MMDD` only. Its year is the one
//! of the three around the value date's year that puts it closest to the value date, so a
//! value date of 31 December booked on 2 January lands in the next year and the reverse.
//!
//! **References.** `reference` is the `:61:` customer reference unless it is `NONREF` (in any
//! case, or `NOTPROVIDED`, or one of the placeholders `EREF`/`PREF`/`MARF`/`KREF+` by which
//! banks point into `:86:`); then the SEPA end-to-end id from `:86:` when there is one (not
//! `NOTPROVIDED` either).
//!
//! Statement-level checks are not errors: a statement whose movements do not add up to its
//! closing balance is read, and [`BankStatement::balance_difference`] tells.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;

use super::field::{self, Field, amount, amount_len, balance, date6, quoted};
use super::info;
use super::{Ctx, MtType};
use crate::model::statement::{Balance, BankStatement, EntryStatus, StatementEntry, StatementKind};
use crate::model::{Currency, Source};

/// Tags a cash statement message may hold. Others are refused, except right after a
/// free-text field, where they are a wrapped line (see `field::split_fields`).
pub(super) fn known_tag(tag: &str) -> bool {
    matches!(
        tag,
        "20" | "21"
            | "25"
            | "25P"
            | "28"
            | "28C"
            | "60F"
            | "60M"
            | "61"
            | "86"
            | "62F"
            | "62M"
            | "64"
            | "65"
            | "13"
            | "13D"
            | "34F"
            | "90D"
            | "90C"
            | "NS"
    )
}

pub(super) fn is_free_text(tag: &str) -> bool {
    tag == "86" || tag == "NS"
}

/// A `:61:` statement line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line61<'a> {
    pub value_date: NaiveDate,
    pub entry_date: Option<NaiveDate>,
    /// `C`, `D`, `RC`, `RD`, `EC`, `ED`.
    pub mark: &'a str,
    pub funds_code: Option<char>,
    /// Unsigned, as written.
    pub amount: Decimal,
    pub transaction_type: Option<&'a str>,
    pub customer_reference: Option<&'a str>,
    pub bank_reference: Option<&'a str>,
    pub supplementary: Option<&'a str>,
}

impl Line61<'_> {
    /// The amount signed by its effect on the balance (see the module comment).
    pub fn signed_amount(&self) -> Decimal {
        match self.mark {
            "D" | "RC" | "ED" => -self.amount,
            _ => self.amount,
        }
    }
}

/// The booking date from `MMDD`: the year around the value date's that puts it closest.
fn entry_date(mmdd: &str, value: NaiveDate) -> Option<NaiveDate> {
    let m: u32 = mmdd.get(..2)?.parse().ok()?;
    let d: u32 = mmdd.get(2..4)?.parse().ok()?;
    [value.year(), value.year() + 1, value.year() - 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, m, d))
        .min_by_key(|e| (*e - value).num_days().abs())
}

/// Parses `:61:` (value, then optional supplementary details on the next line).
pub(super) fn line61<'a>(value: &'a str) -> Result<Line61<'a>, String> {
    let (first, rest) = value.split_once('\n').unwrap_or((value, ""));
    let s = first.trim_end();
    let value_date = s.get(..6).and_then(date6).ok_or_else(|| {
        format!(
            "expected a value date YYMMDD, found {}",
            quoted(field::date_token(s, 6))
        )
    })?;
    let mut p = 6;
    let b = s.as_bytes();
    let mut entry = None;
    if b.get(p).is_some_and(u8::is_ascii_digit) {
        let ed = s.get(p..p + 4).unwrap_or(&s[p..]);
        entry = Some(
            (ed.len() == 4 && ed.bytes().all(|c| c.is_ascii_digit()))
                .then(|| entry_date(ed, value_date))
                .flatten()
                .ok_or_else(|| format!("expected an entry date MMDD, found {}", quoted(ed)))?,
        );
        p += 4;
    }
    let mark = match (b.get(p), b.get(p + 1)) {
        (Some(b'R' | b'E'), Some(b'C' | b'D')) => &s[p..p + 2],
        (Some(b'C' | b'D'), _) => &s[p..p + 1],
        _ => {
            return Err(format!(
                "expected the debit/credit mark C, D, RC or RD, found {}",
                quoted(&s[p.min(s.len())..])
            ));
        }
    };
    p += mark.len();
    let mut funds_code = None;
    if let Some(&c) = b.get(p)
        && c.is_ascii_alphabetic()
    {
        funds_code = Some(c as char);
        p += 1;
    }
    let alen = amount_len(&s[p..]);
    let amt = amount(&s[p..p + alen])?;
    p += alen;
    // Some banks put a space between the amount and the transaction type
    // (`1234,56 NTRFNONREF//...`); nothing else may come there, so it is skipped.
    let tail = s[p..].trim_start_matches(' ');
    let (transaction_type, refs) = if tail.is_empty() || tail.starts_with("//") {
        // Some banks leave out type and reference.
        (None, tail)
    } else if tail
        .get(..6)
        .is_some_and(|t| t.eq_ignore_ascii_case("NONREF"))
        && (tail.len() == 6 || tail[6..].starts_with("//"))
    {
        (None, tail)
    } else {
        // ING pads two-letter codes with a space (`NOV `), Sberbank writes `S   `.
        let t = tail.get(..4).filter(|t| {
            let t = t.as_bytes();
            matches!(t[0], b'N' | b'F' | b'S')
                && t[1..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b' ')
        });
        match t {
            Some(t) => (Some(t.trim_end()), &tail[4..]),
            None => {
                return Err(format!(
                    "expected the transaction type (N, F or S and three characters, such as NTRF), found {}",
                    quoted(tail)
                ));
            }
        }
    };
    // The standard gives the customer reference 16 characters, but banks write longer ones
    // (an IBAN, an invoice number with its year): it is kept whole, up to `//` or the end of
    // the line, so two references that share their first 16 characters stay two. Rabobank
    // pads its reference with spaces to 16 and writes the counterparty's name after it on the
    // same line (`0121470966      W.P. Jansen`): a reference whose 16th character is a space
    // ends there, and the name is read as supplementary details.
    let slot = refs.char_indices().nth(16).map(|(i, _)| i);
    let (customer, bank, extra) = match (refs.find("//"), slot) {
        (Some(i), _) => (&refs[..i], Some(&refs[i + 2..]), None),
        (None, Some(cut)) if refs[..cut].ends_with(' ') && !refs[cut..].trim().is_empty() => {
            (&refs[..cut], None, Some(refs[cut..].trim()))
        }
        (None, _) => (refs, None, None),
    };
    let opt = |s: &'a str| Some(s.trim()).filter(|s| !s.is_empty());
    let supplementary = opt(rest.trim()).or(extra.and_then(&opt));
    Ok(Line61 {
        value_date,
        entry_date: entry,
        mark,
        funds_code,
        amount: amt,
        transaction_type,
        customer_reference: opt(customer),
        bank_reference: bank.and_then(&opt),
        supplementary,
    })
}

/// A `:61:` customer reference that says there is none: `NONREF` (in any case; SEPA's
/// `NOTPROVIDED` too), or a keyword by which the bank points into `:86:` (`EREF`, `PREF`,
/// `MARF`, `KREF+`), where the end-to-end id then comes from.
fn no_reference(r: &str) -> bool {
    ["NONREF", "NOTPROVIDED", "EREF", "PREF", "MARF", "KREF+"]
        .iter()
        .any(|p| r.eq_ignore_ascii_case(p))
}

/// `:25:` → (servicer BIC, account, currency suffix).
fn account(v: &str) -> (Option<String>, String, Option<Currency>) {
    let v = v.trim();
    let (bic, rest) = match v.split_once('/') {
        Some((p, r)) if info::looks_like_bic(p) && !r.is_empty() => (Some(p.to_owned()), r),
        _ => (None, v),
    };
    // A trailing currency code (`…/9223382012EUR`, `… EUR`, `…/HUF`), unless the whole is
    // an IBAN (some end in letters).
    let mut acct = rest.trim();
    let mut ccy = None;
    if !crate::model::ids::iban_is_valid(acct)
        && acct.len() > 3
        && acct.is_char_boundary(acct.len() - 3)
    {
        let (head, tail) = acct.split_at(acct.len() - 3);
        let before = head.as_bytes()[head.len() - 1];
        if tail.bytes().all(|c| c.is_ascii_uppercase())
            && (before.is_ascii_digit() || before == b' ' || before == b'/')
            && let Ok(c) = tail.parse()
        {
            ccy = Some(c);
            acct = head.trim_end().trim_end_matches('/');
        }
    }
    (bic, acct.to_owned(), ccy)
}

/// `:13D:` `YYMMDDHHMM+hhmm`: the local time as given (the offset is dropped).
fn date_time(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    let d = date6(v.get(..6)?)?;
    let h: u32 = v.get(6..8)?.parse().ok()?;
    let m: u32 = v.get(8..10)?.parse().ok()?;
    Some(d.and_time(NaiveTime::from_hms_opt(h, m, 0)?))
}

/// `:34F:` `EURD0,00` → currency.
fn floor_limit(v: &str) -> Result<Currency, String> {
    let v = v.trim();
    let ccy = field::currency(v)
        .ok_or_else(|| format!("expected a currency code such as EUR, found {}", quoted(v)))?;
    // The limit itself is not kept (mBank writes `EURD0` without a decimal comma).
    Ok(ccy)
}

struct PendingEntry<'a> {
    line: Line61<'a>,
    field_line: u32,
    info: Option<String>,
}

/// Reads one cash statement message.
pub(super) fn statement<'a>(
    ctx: &mut Ctx<'_>,
    ty: MtType,
    fields: &[Field<'a>],
    sender_bic: Option<&str>,
) -> Option<(BankStatement, Vec<StatementEntry>)> {
    let before = ctx.problems.len();
    let mut read = MessageRead::default();
    for (k, f) in fields.iter().enumerate() {
        if k == 0 && f.tag != "20" {
            ctx.problem(
                f.line,
                f.tag,
                format!(
                    "expected :20: (the statement's reference) as the first field, found :{}:",
                    f.tag
                ),
            );
            return None;
        }
        if !known_tag(f.tag) {
            ctx.problem(
                f.line,
                f.tag,
                format!("unexpected field :{}: in an {}", f.tag, ty.name()),
            );
            continue;
        }
        let f = one_line_field(ctx, f);
        read.take(ctx, f);
    }
    let first = fields.first().map_or(ctx.start_line, |f| f.line);
    let Some((servicer, account, acct_ccy)) = read.acct.take() else {
        ctx.problem(first, "25", "the message has no :25: (account)".into());
        return None;
    };
    if ty != MtType::Mt942 {
        read.check_balances_stated(ctx, first);
    }
    let Some(currency) = read.currency(ty).or(acct_ccy) else {
        ctx.problem(
            first,
            "34F",
            "the message names no currency (no balance, no :34F: floor limit)".into(),
        );
        return None;
    };
    if ctx.problems.len() > before {
        return None;
    }
    let file: Arc<str> = ctx.file_hash.clone();
    let entries = read
        .pending
        .into_iter()
        .enumerate()
        .map(|(k, p)| statement_entry(ctx.index, ty, currency, &file, k, p))
        .collect();
    let statement = BankStatement {
        kind: if ty == MtType::Mt942 {
            StatementKind::Intraday
        } else {
            StatementKind::EndOfDay
        },
        account,
        servicer_bic: servicer.or(sender_bic.map(str::to_owned)),
        currency: Some(currency),
        statement_id: read.statement_id,
        number: read.number,
        created: read.created,
        from_date: None,
        to_date: None,
        opening: read.opening.map(|b| b.0),
        closing: read.closing.map(|b| b.0),
        closing_available: read.available,
        entries: Vec::new(),
        problems: Vec::new(),
        source: Source {
            file,
            sheet: None,
            row: ctx.start_line,
            locator: Some(format!("message {}", ctx.index).into()),
        },
    };
    Some((statement, entries))
}

/// A field that holds one value takes its first line; text after it is a broken field, except
/// after the closing balances, where it is what follows a message that has no `-` (published
/// examples put prose there).
fn one_line_field<'a>(ctx: &mut Ctx<'_>, f: &Field<'a>) -> Field<'a> {
    let single = matches!(
        f.tag,
        "20" | "21"
            | "25"
            | "25P"
            | "28"
            | "28C"
            | "60F"
            | "60M"
            | "62F"
            | "62M"
            | "64"
            | "65"
            | "13"
            | "13D"
            | "34F"
            | "90D"
            | "90C"
    );
    if !single {
        return *f;
    }
    let (first, more) = f.value.split_once('\n').unwrap_or((f.value, ""));
    if !more.trim().is_empty() && !matches!(f.tag, "62F" | "62M" | "64" | "65") {
        ctx.problem(
            f.line,
            f.tag,
            format!("unexpected text after the field: {}", quoted(more.trim())),
        );
    }
    Field { value: first, ..*f }
}

/// What the fields of one message have said so far, in the order they came.
#[derive(Default)]
struct MessageRead<'a> {
    statement_id: Option<String>,
    acct: Option<(Option<String>, String, Option<Currency>)>,
    number: Option<String>,
    opening: Option<(Balance, u32)>,
    closing: Option<(Balance, u32)>,
    available: Option<Balance>,
    created: Option<NaiveDateTime>,
    floor_ccy: Option<Currency>,
    pending: Vec<PendingEntry<'a>>,
    /// The entry a `:86:` belongs to, while one is open.
    open_entry: bool,
}

impl<'a> MessageRead<'a> {
    /// Takes one (known, one-line where it must be) field of the message.
    fn take(&mut self, ctx: &mut Ctx<'_>, f: Field<'a>) {
        match f.tag {
            "20" => self.statement_id = Some(f.value.trim().to_owned()),
            "25" | "25P" => {
                if self.acct.is_some() {
                    ctx.problem(
                        f.line,
                        f.tag,
                        "a second account field in one message".into(),
                    );
                }
                self.acct = Some(account(f.value));
            }
            "28" | "28C" => self.number = Some(f.value.trim().to_owned()),
            "60F" | "60M" | "62F" | "62M" | "64" | "65" => self.take_balance(ctx, f),
            "61" => self.take_line(ctx, f),
            // Otherwise (no entry open) information for the whole message: not kept.
            "86" if self.open_entry => self.take_information(f),
            "13D" | "13" => self.created = date_time(f.value).or(self.created),
            "34F" => match floor_limit(f.value) {
                Ok(c) => self.floor_ccy = self.floor_ccy.or(Some(c)),
                Err(m) => ctx.problem(f.line, f.tag, m),
            },
            "90D" | "90C" => self.open_entry = false,
            _ => {}
        }
    }

    /// An opening, closing, available or forward balance. One statement has one opening
    /// (before its lines) and one closing balance; the forward balances are not kept.
    fn take_balance(&mut self, ctx: &mut Ctx<'_>, f: Field<'a>) {
        let closed = self.closing.is_some();
        match balance(f.value) {
            Ok((amount, date, currency)) => {
                let b = Balance {
                    amount,
                    currency,
                    date,
                    intermediate: f.tag.ends_with('M'),
                };
                let slot = match f.tag {
                    "60F" | "60M" if self.opening.is_some() || !self.pending.is_empty() => Err(
                        "an opening balance after the first; one statement has one opening balance",
                    ),
                    "60F" | "60M" => Ok(&mut self.opening),
                    "62F" | "62M" if closed => {
                        Err("a second closing balance; one statement has one closing balance")
                    }
                    "62F" | "62M" => Ok(&mut self.closing),
                    "64" => {
                        self.available = Some(b.clone());
                        Err("")
                    }
                    _ => Err(""),
                };
                match slot {
                    Ok(s) => *s = Some((b, f.line)),
                    Err("") => {}
                    Err(m) => ctx.problem(f.line, f.tag, m.into()),
                }
                self.open_entry = false;
            }
            Err(m) => ctx.problem(f.line, f.tag, m),
        }
    }

    /// A `:61:` statement line opens an entry that the `:86:` after it describes.
    fn take_line(&mut self, ctx: &mut Ctx<'_>, f: Field<'a>) {
        if self.closing.is_some() {
            ctx.problem(
                f.line,
                f.tag,
                "a statement line after the closing balance".into(),
            );
        }
        match line61(f.value) {
            Ok(line) => {
                self.pending.push(PendingEntry {
                    line,
                    field_line: f.line,
                    info: None,
                });
                self.open_entry = true;
            }
            Err(m) => {
                ctx.problem(f.line, f.tag, m);
                self.open_entry = false;
            }
        }
    }

    /// A `:86:` describing the open entry; a second one adds to the first.
    fn take_information(&mut self, f: Field<'a>) {
        if let Some(e) = self.pending.last_mut() {
            let text = info::join_lines(f.value);
            match &mut e.info {
                Some(t) => {
                    t.push(' ');
                    t.push_str(&text);
                }
                None => e.info = Some(text),
            }
        }
    }

    /// An end-of-day statement (MT940, MT950) states its opening and closing balances.
    fn check_balances_stated(&self, ctx: &mut Ctx<'_>, first: u32) {
        if self.opening.is_none() {
            ctx.problem(
                first,
                "60F",
                "the message has no opening balance :60F: or :60M:".into(),
            );
        }
        if self.closing.is_none() {
            ctx.problem(
                ctx.last_line,
                "62F",
                "the message has no closing balance :62F: or :62M:".into(),
            );
        }
    }

    /// The statement's currency: MT942 states it in the floor limit; the others in their
    /// balances. (The account's own currency, if it names one, comes last.)
    fn currency(&self, ty: MtType) -> Option<Currency> {
        let from_balances = self
            .opening
            .as_ref()
            .or(self.closing.as_ref())
            .map(|b| b.0.currency);
        if ty == MtType::Mt942 {
            self.floor_ccy.or(from_balances)
        } else {
            from_balances.or(self.floor_ccy)
        }
    }
}

/// One `:61:` line (with its `:86:`) as a statement entry: its reference, remittance text and
/// details, pending when the message is an interim report or the line is expected.
fn statement_entry(
    message: u32,
    ty: MtType,
    currency: Currency,
    file: &Arc<str>,
    k: usize,
    p: PendingEntry<'_>,
) -> StatementEntry {
    let (remittance, mut details) = match p.info.as_deref() {
        Some(text) => info::read(text),
        // Without :86:, the supplementary details are the text (MT950).
        None => (
            p.line.supplementary.unwrap_or_default().to_owned(),
            Default::default(),
        ),
    };
    if details.counterparty_iban.is_none() {
        details.counterparty_iban = p.line.supplementary.and_then(info::supplementary_iban);
    }
    let customer = p.line.customer_reference.filter(|r| !no_reference(r));
    let reference = customer
        .map(str::to_owned)
        .or_else(|| details.end_to_end_id.clone());
    StatementEntry {
        amount: p.line.signed_amount(),
        currency,
        value_date: p.line.value_date,
        value_date_derived: false,
        booking_date: p.line.entry_date,
        reversal: p.line.mark.starts_with('R'),
        status: if ty == MtType::Mt942 || p.line.mark.starts_with('E') {
            EntryStatus::Pending
        } else {
            EntryStatus::Booked
        },
        transaction_code: p.line.transaction_type.map(str::to_owned),
        reference,
        bank_reference: p.line.bank_reference.map(str::to_owned),
        remittance,
        details,
        batch: None,
        source: Source {
            file: file.clone(),
            sheet: None,
            row: p.field_line,
            locator: Some(format!("message {message}, :61: #{}", k + 1).into()),
        },
    }
}
