//! camt.052 (account report), camt.053 (statement) and camt.054 (debit/credit notification):
//! one `Stmt`/`Rpt`/`Ntfctn` element into a [`BankStatement`], one `Ntry` into one or more
//! [`StatementEntry`]s. Elements are read by local name, so every version reads alike; where
//! versions differ (`Sts` text or `Sts/Cd`, `Dbtr/Nm` or `Dbtr/Pty/Nm`, `BIC` or `BICFI`,
//! `Acct/Id/PrtryAcct` in .001.01) both shapes are read.
//!
//! Rules, in the words of the message definition where it has them:
//! - **Sign.** `CdtDbtInd` `CRDT` is positive (money in), `DBIT` negative. A reversal
//!   (`RvslInd` true) keeps that sign: the standard says "if CreditDebitIndicator is CRDT and
//!   ReversalIndicator is Yes, the original operation was a debit entry", i.e. `CdtDbtInd` of
//!   a reversal already states the reversal's own effect on the balance, and it is the
//!   *original* operation that had the opposite direction. So `DBIT` + `RvslInd` (the storno of
//!   an incoming payment) is a negative amount with `reversal: true`, as MT940 `RC` is.
//! - **Batches.** An entry with two or more `TxDtls` becomes one entry per transaction, each
//!   with its own amount (`TxDtls/Amt`, else `AmtDtls/TxAmt/Amt`) and sign (`TxDtls/CdtDbtInd`,
//!   else the entry's), linked by [`BatchLink`]. When a transaction of such an entry carries no
//!   amount at all, the entry cannot be split and stays one entry with the entry's amount
//!   (details kept where all transactions agree, remittance texts joined). An entry with one
//!   `TxDtls` is one entry with the entry's amount: that is what was booked (a single
//!   `TxDtls/Amt` may be in the instructed currency, or before charges). An entry without
//!   `TxDtls` (a batch booked as one sum, `Btch/NbOfTxs` only) is one entry.
//! - **Dates.** `BookgDt` and `ValDt` are `Dt` or `DtTm`. A `DtTm` written with its zone
//!   (`2026-03-31T23:30:00Z`, `...+02:00`) falls on its day in the account's time zone when
//!   the job gives one (1 April in Berlin), else on the date as written; so do `FrToDt`,
//!   `CreDtTm` and balance date-times. A missing value date falls back to the booking date
//!   (banks leave it out when the two are the same day, or for pending and informational
//!   entries), marked `value_date_derived`; an entry with neither (seen in notifications)
//!   takes the day its statement speaks of: the end of `FrToDt`, else the statement's
//!   `CreDtTm`, else the message's.
//! - **Status.** `Sts` `BOOK` is booked, `PDNG` (and `FUTR`) pending, `INFO` information;
//!   only booked entries move the balance and are reconciled. Another code is read as
//!   information and noted in the statement's `problems`.
//! - **Balances.** A `Bal` without `CdtDbtInd` is a credit balance, one without `Dt` is of the
//!   statement's day for it (the start of `FrToDt` for an opening balance, the end for a
//!   closing one, else `CreDtTm`); each is noted in `problems`.
//! - **Counterparty.** The debtor on a credit, the creditor on a debit; for a reversal, the
//!   parties of the original operation (the debtor of a reversed credit). When that party is
//!   not given, or is the statement's own account (a returned direct debit that keeps the
//!   collection's parties, with or without `RvslInd`), the other party: never none when the
//!   bank gives one.

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::value::{
    boolean, date, date_choice, date_time, is_credit, money, noted, parse_local_date_time, problem,
    required,
};
use crate::extract::Problem;
use crate::extract::xml::Element;
use crate::model::ids::iban_is_valid;
use crate::model::statement::{
    Balance, BankStatement, BatchLink, EntryDetails, EntryStatus, StatementEntry, StatementKind,
    StatementProblem,
};
use crate::model::{Currency, Source};

/// What `Stmt/Ntry` are read into before the statement itself is complete: the currency of
/// its first entry (for a statement with neither `Acct/Ccy` nor balances), and what was noted
/// about its entries (the entries themselves are already handed on).
#[derive(Default)]
pub(super) struct Pending {
    pub first_currency: Option<Currency>,
    pub problems: Vec<StatementProblem>,
}

/// One `Stmt` (`Rpt`, `Ntfctn`), its entries already handed on.
pub(super) fn statement(
    stmt: &Element,
    kind: StatementKind,
    file: &Arc<str>,
    pending: Pending,
    zone: Option<Tz>,
) -> Result<BankStatement, Problem> {
    let acct = required(stmt, "Acct")?;
    let id = required(acct, "Id")?;
    let account = account_id(id)
        .ok_or_else(|| {
            problem(
                id,
                "expected <IBAN> or <Othr><Id> in the account's <Id>, found neither",
            )
        })?
        .to_string();
    let servicer_bic = acct
        .text_at("Svcr/FinInstnId/BIC")
        .or_else(|| acct.text_at("Svcr/FinInstnId/BICFI"))
        .map(str::to_string);
    let account_currency = match acct.child("Ccy") {
        Some(c) => Some(
            c.text
                .parse::<Currency>()
                .map_err(|m| problem(c, format!("account currency: {m}")))?,
        ),
        None => None,
    };

    let created = stmt
        .child("CreDtTm")
        .map(|c| date_time(c, zone))
        .transpose()?;
    let period_date = |name: &str| -> Result<Option<NaiveDate>, Problem> {
        match stmt.find(&format!("FrToDt/{name}DtTm")) {
            Some(e) => date_time(e, zone).map(|t| Some(t.date())),
            None => stmt.find(&format!("FrToDt/{name}Dt")).map(date).transpose(),
        }
    };
    let (from_date, to_date) = (period_date("Fr")?, period_date("To")?);

    let mut problems = pending.problems;
    note_bad_ibans(acct, &mut problems);
    let (mut opbd, mut prcd, mut clbd, mut clav) = (None, None, None, None);
    for bal in stmt.children("Bal") {
        let code = bal
            .text_at("Tp/CdOrPrtry/Cd")
            .or_else(|| bal.text_at("Tp/Cd"))
            .unwrap_or("");
        // The first balance of each type counts; other types (ITBD, ITAV, OPAV, FWAV, ...)
        // are not the statement's opening or closing and are left alone.
        let (slot, opening) = match code {
            "OPBD" => (&mut opbd, true),
            "PRCD" => (&mut prcd, true),
            "CLBD" => (&mut clbd, false),
            "CLAV" => (&mut clav, false),
            _ => continue,
        };
        if slot.is_none() {
            // A balance without its own date is of the day the statement speaks of: the start
            // of its period for an opening balance, the end for a closing one, else the day it
            // was made.
            let day = if opening { from_date } else { to_date }.or(created.map(|c| c.date()));
            *slot = Some(balance(bal, code, day, zone, &mut problems)?);
        }
    }
    let opening = opbd.or(prcd);
    let currency = account_currency
        .or(opening.as_ref().map(|b| b.currency))
        .or(clbd.as_ref().map(|b| b.currency))
        .or(pending.first_currency);
    // Entries' notes were made before the statement's own: in the order of the file.
    problems.sort_by_key(|p| p.line);

    Ok(BankStatement {
        kind,
        account,
        servicer_bic,
        currency,
        statement_id: stmt.text_at("Id").map(str::to_string),
        number: stmt
            .text_at("ElctrncSeqNb")
            .or_else(|| stmt.text_at("LglSeqNb"))
            .map(str::to_string),
        created,
        from_date,
        to_date,
        opening,
        closing: clbd,
        closing_available: clav,
        entries: Vec::new(),
        problems,
        source: source(stmt, file),
    })
}

/// One `Bal` of type `code`. Two omissions seen in real files are read the way clerk's other
/// readers (and the banks' own portals) read them, each noted in `problems`: a balance without
/// `CdtDbtInd` (seen in .001.08) is a credit, as a balance without a sign is in every other
/// format; one without `Dt` is of `day`, the statement's day for it. The statement is still
/// checked to add up and to follow the previous one.
/// Notes every `IBAN` element below `at` whose check digits are wrong (ISO 13616 mod 97), or
/// that is no IBAN at all. The value is kept as written: it is what the bank sent and what
/// staff will search for; clerk never corrects an account number.
fn note_bad_ibans(at: &Element, problems: &mut Vec<StatementProblem>) {
    for c in &at.children {
        match c.child("IBAN").filter(|_| c.name == "Id") {
            Some(iban) => {
                if let Some(v) = iban.value()
                    && !iban_is_valid(v)
                {
                    problems.push(noted(
                        iban,
                        format!(
                            "the IBAN {v} of <{}> has wrong check digits: kept as written",
                            at.name
                        ),
                    ));
                }
            }
            None => note_bad_ibans(c, problems),
        }
    }
}

/// An account's `Id`: its `IBAN`, else its other identification (`Othr/Id`, .001.01's
/// `PrtryAcct/Id`, `BBAN`, `UPIC`).
fn account_id(id: &Element) -> Option<&str> {
    ["IBAN", "Othr/Id", "PrtryAcct/Id", "BBAN", "UPIC"]
        .iter()
        .find_map(|p| id.text_at(p))
}

fn balance(
    bal: &Element,
    code: &str,
    day: Option<NaiveDate>,
    zone: Option<Tz>,
    problems: &mut Vec<StatementProblem>,
) -> Result<Balance, Problem> {
    let (amount, currency) = money(required(bal, "Amt")?)?;
    let credit = match bal.child("CdtDbtInd") {
        Some(ind) => is_credit(ind)?,
        None => {
            problems.push(noted(
                bal,
                format!("the {code} balance has no <CdtDbtInd>: read as a credit balance of {amount} {currency}"),
            ));
            true
        }
    };
    let date = match (bal.child("Dt"), day) {
        (Some(dt), _) => date_choice(dt, zone)?,
        (None, Some(day)) => {
            problems.push(noted(
                bal,
                format!(
                    "the {code} balance has no <Dt>: read as of {day}, the statement's day for it"
                ),
            ));
            day
        }
        (None, None) => {
            return Err(problem(
                bal,
                format!(
                    "expected <Dt> in the {code} balance, found none (and the statement has no period or creation date to take instead)"
                ),
            ));
        }
    };
    Ok(Balance {
        amount: if credit { amount } else { -amount },
        currency,
        date,
        intermediate: code == "PRCD",
    })
}

fn source(at: &Element, file: &Arc<str>) -> Source {
    Source {
        file: file.clone(),
        sheet: None,
        row: at.line,
        locator: Some(Arc::from(at.locator.as_str())),
    }
}

/// What an entry's transactions share: dates, status, reversal, the entry's references, the
/// file they are read from.
struct EntryBase<'a> {
    value_date: NaiveDate,
    value_date_derived: bool,
    booking_date: Option<NaiveDate>,
    reversal: bool,
    status: EntryStatus,
    code: Option<String>,
    account_servicer_ref: Option<&'a str>,
    entry_ref: Option<&'a str>,
    additional: Option<&'a str>,
    batch_payment_id: Option<&'a str>,
    own_account: Option<&'a str>,
    file: &'a Arc<str>,
}

/// Where an entry sits: its statement and message as read so far (their header elements come
/// before the entries).
#[derive(Default)]
pub(super) struct Context<'a> {
    pub statement: Option<&'a Element>,
    pub message: Option<&'a Element>,
    /// The account's time zone, for date-times written with a zone.
    pub zone: Option<Tz>,
}

impl Context<'_> {
    /// The statement's own account, to tell it apart from the other party of an entry.
    fn own_account(&self) -> Option<&str> {
        self.statement?.find("Acct/Id").and_then(account_id)
    }

    /// The day a statement speaks of, for an entry with neither value nor booking date (seen
    /// in notifications): the end of its period, else when it was created, else when the
    /// message was.
    fn statement_date(&self) -> Option<NaiveDate> {
        let s = self.statement?;
        let date_time_at = |e: &Element, path: &str| {
            e.text_at(path)
                .and_then(|t| parse_local_date_time(t, self.zone))
                .map(|t| t.date())
        };
        date_time_at(s, "FrToDt/ToDtTm")
            .or_else(|| s.text_at("FrToDt/ToDt").and_then(super::value::parse_date))
            .or_else(|| date_time_at(s, "CreDtTm"))
            .or_else(|| self.message.and_then(|m| date_time_at(m, "GrpHdr/CreDtTm")))
    }
}

/// One `Ntry` into its entries (one, or one per transaction of a batch); what it reads one way
/// without refusing goes to `problems`.
pub(super) fn entries(
    ntry: &Element,
    context: &Context<'_>,
    file: &Arc<str>,
    problems: &mut Vec<StatementProblem>,
) -> Result<Vec<StatementEntry>, Problem> {
    let (amount, currency) = money(required(ntry, "Amt")?)?;
    let credit = is_credit(required(ntry, "CdtDbtInd")?)?;
    note_bad_ibans(ntry, problems);
    let reversal = ntry
        .child("RvslInd")
        .map(boolean)
        .transpose()?
        .unwrap_or(false);
    let day = |name: &str| {
        ntry.child(name)
            .map(|d| date_choice(d, context.zone))
            .transpose()
    };
    let booking_date = day("BookgDt")?;
    let value = day("ValDt")?;
    // A missing value date falls back to the booking date, and without either to the
    // statement's date (see the module comment).
    let value_date = value
        .or(booking_date)
        .or_else(|| context.statement_date())
        .ok_or_else(|| {
            problem(
                ntry,
                "expected <ValDt> or <BookgDt> in <Ntry>, found neither (and the statement has no date to fall back on)",
            )
        })?;
    let base = EntryBase {
        value_date,
        value_date_derived: value.is_none(),
        booking_date,
        reversal,
        status: entry_status(ntry, problems),
        code: bank_transaction_code(ntry),
        account_servicer_ref: ntry.text_at("AcctSvcrRef"),
        entry_ref: ntry.text_at("NtryRef"),
        additional: ntry.text_at("AddtlNtryInf"),
        batch_payment_id: ntry
            .text_at("NtryDtls/Btch/PmtInfId")
            .or_else(|| ntry.text_at("Btch/PmtInfId"))
            .and_then(given_reference),
        own_account: context.own_account(),
        file,
    };
    let signed = if credit { amount } else { -amount };

    // `NtryDtls` repeats in some versions; .001.01 has `TxDtls` directly under `Ntry`.
    let mut txs = ntry.find_all("NtryDtls/TxDtls");
    txs.extend(ntry.children("TxDtls"));

    if txs.len() >= 2 {
        let mut amounts = Vec::with_capacity(txs.len());
        for tx in &txs {
            amounts.push(transaction_amount(tx)?);
        }
        if amounts.iter().all(Option::is_some) {
            let n = txs.len() as u32;
            let batch_ref = base
                .entry_ref
                .or(base.account_servicer_ref)
                .unwrap_or(ntry.locator.as_str())
                .to_string();
            let mut out = Vec::with_capacity(txs.len());
            for (i, (tx, amt)) in txs.iter().zip(amounts).enumerate() {
                let (tx_amount, tx_currency) = amt.unwrap_or((amount, currency));
                let tx_credit = tx
                    .child("CdtDbtInd")
                    .map(is_credit)
                    .transpose()?
                    .unwrap_or(credit);
                let info = transaction(tx);
                let link = BatchLink {
                    entry: batch_ref.clone(),
                    entry_amount: signed,
                    transactions: n,
                    index: i as u32 + 1,
                };
                out.push(assemble(
                    &base,
                    tx_amount,
                    tx_currency,
                    tx_credit,
                    &info,
                    Some(link),
                    tx,
                ));
            }
            return Ok(out);
        }
        // Not every transaction has an amount: one entry, details where they agree.
        let infos: Vec<TxInfo> = txs.iter().map(|tx| transaction(tx)).collect();
        let info = TxInfo::merge(&infos);
        return Ok(vec![assemble(
            &base, amount, currency, credit, &info, None, ntry,
        )]);
    }
    let info = txs.first().map(|tx| transaction(tx)).unwrap_or_default();
    Ok(vec![assemble(
        &base, amount, currency, credit, &info, None, ntry,
    )])
}

/// `TxDtls/Amt`, else `TxDtls/AmtDtls/TxAmt/Amt`.
fn transaction_amount(tx: &Element) -> Result<Option<(Decimal, Currency)>, Problem> {
    match tx.child("Amt").or_else(|| tx.find("AmtDtls/TxAmt/Amt")) {
        Some(a) => money(a).map(Some),
        None => Ok(None),
    }
}

fn assemble(
    base: &EntryBase<'_>,
    amount: Decimal,
    currency: Currency,
    credit: bool,
    info: &TxInfo,
    batch: Option<BatchLink>,
    at: &Element,
) -> StatementEntry {
    // The counterparty of the original operation: money in (a credit, or the reversal of a
    // debit) came from the debtor.
    let (named, other) = if credit != base.reversal {
        (&info.debtor, &info.creditor)
    } else {
        (&info.creditor, &info.debtor)
    };
    let party = counterparty(named, other, base.own_account);
    let remittance = if !info.remittance.is_empty() {
        info.remittance.clone()
    } else {
        info.additional
            .as_deref()
            .or(base.additional)
            .unwrap_or("")
            .to_string()
    };
    let reference = info
        .reference
        .clone()
        .or_else(|| base.batch_payment_id.map(str::to_string));
    StatementEntry {
        amount: if credit { amount } else { -amount },
        currency,
        value_date: base.value_date,
        value_date_derived: base.value_date_derived,
        booking_date: base.booking_date,
        reversal: base.reversal,
        status: base.status,
        transaction_code: info.code.clone().or_else(|| base.code.clone()),
        reference,
        bank_reference: info
            .bank_reference
            .as_deref()
            .or(base.account_servicer_ref)
            .or(base.entry_ref)
            .map(str::to_string),
        remittance,
        details: EntryDetails {
            end_to_end_id: info.end_to_end_id.clone(),
            mandate_id: info.mandate_id.clone(),
            creditor_id: info.creditor_id.clone(),
            purpose: Some(info.remittance.clone()).filter(|r| !r.is_empty()),
            counterparty_name: party.name.clone(),
            counterparty_iban: party.iban.clone(),
            counterparty_bic: party.bic.clone(),
            purpose_code: info.purpose_code.clone(),
            return_reason: info.return_reason.clone(),
        },
        batch,
        source: source(at, base.file),
    }
}

/// `Sts` as text (.001.02–.07) or `Sts/Cd` / `Sts/Prtry` (.001.08 on): `BOOK`, `PDNG`,
/// `INFO`, and `FUTR` (an entry expected in the future, .001.08's external code list) as
/// pending. Any other code is not taken for booked: the line is kept as information, with a
/// problem saying so, so it neither moves the balance nor closes a ledger item on a guess.
/// An entry without `Sts` (which the standard requires) is read as booked, as clerk always
/// has, with a problem saying so: a statement lists what was booked.
fn entry_status(ntry: &Element, problems: &mut Vec<StatementProblem>) -> EntryStatus {
    let Some(sts) = ntry.child("Sts") else {
        problems.push(noted(
            ntry,
            "expected <Sts> (BOOK, PDNG or INFO) in <Ntry>, found none: the entry is read as booked",
        ));
        return EntryStatus::Booked;
    };
    let code = sts
        .value()
        .or_else(|| sts.text_at("Cd"))
        .or_else(|| sts.text_at("Prtry"))
        .unwrap_or("");
    match code {
        "BOOK" => EntryStatus::Booked,
        "PDNG" | "FUTR" => EntryStatus::Pending,
        "INFO" => EntryStatus::Info,
        other => {
            problems.push(noted(
                sts,
                format!(
                    "expected the entry status BOOK, PDNG or INFO in <Sts>, found {other:?}: the entry is read as information, not booked"
                ),
            ));
            EntryStatus::Info
        }
    }
}

/// `BkTxCd` as `Domain/Family/SubFamily` (`PMNT/RCDT/ESCT`), else its proprietary code.
fn bank_transaction_code(at: &Element) -> Option<String> {
    let code = at.child("BkTxCd")?;
    if let (Some(d), Some(f), Some(s)) = (
        code.text_at("Domn/Cd"),
        code.text_at("Domn/Fmly/Cd"),
        code.text_at("Domn/Fmly/SubFmlyCd"),
    ) {
        return Some(format!("{d}/{f}/{s}"));
    }
    code.text_at("Prtry/Cd").map(str::to_string)
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Party {
    name: Option<String>,
    iban: Option<String>,
    bic: Option<String>,
    /// The party's account as given (`IBAN` or other identification), to recognise the
    /// statement's own account.
    account: Option<String>,
}

impl Party {
    fn is_given(&self) -> bool {
        self.name.is_some() || self.iban.is_some() || self.account.is_some()
    }

    fn holds(&self, account: &str) -> bool {
        let plain = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect()
        };
        self.account
            .as_deref()
            .is_some_and(|a| plain(a) == plain(account))
    }
}

/// The entry's counterparty: `named`, the party its direction points to (see [`assemble`]),
/// unless that party is missing or is the statement's own account; then `other` when it is
/// given and not the account itself. Banks differ in which parties they give for returns and
/// reversals: some keep the original collection's debtor and creditor (a returned direct
/// debit we collected names us as creditor, with or without `RvslInd`), others give only the
/// party on the other side, in whichever role. Either way the counterparty is the party that
/// is not us. When every party given is the statement's own account (sample files fill both
/// with it), the one the direction points to is kept: a party the bank gives is never lost.
fn counterparty(named: &Party, other: &Party, own: Option<&str>) -> Party {
    let ours = |p: &Party| own.is_some_and(|o| p.holds(o));
    [named, other]
        .into_iter()
        .find(|p| p.is_given() && !ours(p))
        .or_else(|| [named, other].into_iter().find(|p| p.is_given()))
        .cloned()
        .unwrap_or_default()
}

/// What one `TxDtls` says.
#[derive(Clone, Debug, Default, PartialEq)]
struct TxInfo {
    reference: Option<String>,
    end_to_end_id: Option<String>,
    bank_reference: Option<String>,
    mandate_id: Option<String>,
    creditor_id: Option<String>,
    purpose_code: Option<String>,
    /// `RtrInf/Rsn/Cd` (or `Prtry`): why a returned payment came back (`AC04`, `MD06`).
    return_reason: Option<String>,
    code: Option<String>,
    remittance: String,
    additional: Option<String>,
    debtor: Party,
    creditor: Party,
}

impl TxInfo {
    /// The details several transactions agree on, their remittance texts joined.
    fn merge(all: &[TxInfo]) -> TxInfo {
        fn common<T: Clone + PartialEq>(all: &[TxInfo], f: impl Fn(&TxInfo) -> T) -> Option<T> {
            let first = f(all.first()?);
            all.iter().all(|t| f(t) == first).then_some(first)
        }
        let opt = |f: fn(&TxInfo) -> Option<String>| common(all, f).flatten();
        let mut texts: Vec<&str> = Vec::new();
        for t in all {
            if !t.remittance.is_empty() && !texts.contains(&t.remittance.as_str()) {
                texts.push(&t.remittance);
            }
        }
        TxInfo {
            reference: opt(|t| t.reference.clone()),
            end_to_end_id: opt(|t| t.end_to_end_id.clone()),
            bank_reference: opt(|t| t.bank_reference.clone()),
            mandate_id: opt(|t| t.mandate_id.clone()),
            creditor_id: opt(|t| t.creditor_id.clone()),
            purpose_code: opt(|t| t.purpose_code.clone()),
            return_reason: opt(|t| t.return_reason.clone()),
            code: opt(|t| t.code.clone()),
            remittance: texts.join(" "),
            additional: opt(|t| t.additional.clone()),
            debtor: common(all, |t| t.debtor.clone()).unwrap_or_default(),
            creditor: common(all, |t| t.creditor.clone()).unwrap_or_default(),
        }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

/// A reference the bank gives, unless it is a word for "none": SEPA's `NOTPROVIDED` and
/// SWIFT's `NONREF` (which banks converting MT940 to camt carry over), in any case. MT940
/// reads them alike, so a line has the same reference in either format.
fn given_reference(r: &str) -> Option<&str> {
    let none = ["NOTPROVIDED", "NONREF"];
    (!none.iter().any(|n| r.trim().eq_ignore_ascii_case(n))).then_some(r)
}

fn transaction(tx: &Element) -> TxInfo {
    let reference_at = |path: &str| tx.text_at(path).and_then(given_reference);
    let end_to_end_id = reference_at("Refs/EndToEndId");
    let reference = end_to_end_id
        .or_else(|| reference_at("Refs/InstrId"))
        .or_else(|| reference_at("Refs/PmtInfId"));
    let parties = tx.child("RltdPties");
    let agents = tx.child("RltdAgts");
    TxInfo {
        reference: owned(reference),
        end_to_end_id: owned(end_to_end_id),
        bank_reference: owned(tx.text_at("Refs/AcctSvcrRef")),
        mandate_id: owned(tx.text_at("Refs/MndtId")),
        creditor_id: creditor_id(tx),
        purpose_code: owned(tx.text_at("Purp/Cd")),
        return_reason: owned(
            tx.text_at("RtrInf/Rsn/Cd")
                .or_else(|| tx.text_at("RtrInf/Rsn/Prtry")),
        ),
        code: bank_transaction_code(tx),
        remittance: remittance(tx),
        additional: owned(tx.text_at("AddtlTxInf")),
        debtor: party(parties, agents, "Dbtr", "DbtrAcct", "DbtrAgt"),
        creditor: party(parties, agents, "Cdtr", "CdtrAcct", "CdtrAgt"),
    }
}

fn party(
    parties: Option<&Element>,
    agents: Option<&Element>,
    who: &str,
    account: &str,
    agent: &str,
) -> Party {
    let p = parties.and_then(|p| p.child(who));
    let name = p.and_then(|p| {
        p.text_at("Nm")
            .or_else(|| p.text_at("Pty/Nm"))
            .or_else(|| p.text_at("Agt/FinInstnId/Nm"))
    });
    let acct = parties.and_then(|p| p.find(account));
    let iban = acct.and_then(|a| a.text_at("Id/IBAN"));
    let bic = agents.and_then(|a| a.child(agent)).and_then(|a| {
        a.text_at("FinInstnId/BIC")
            .or_else(|| a.text_at("FinInstnId/BICFI"))
    });
    Party {
        name: owned(name),
        iban: owned(iban),
        bic: owned(bic),
        account: owned(acct.and_then(|a| a.find("Id")).and_then(account_id)),
    }
}

/// The SEPA creditor identifier: a `CdtrSchmeId` where a bank gives one, else the creditor's
/// private identification with scheme `SEPA` (how the German and Dutch guidelines carry it).
fn creditor_id(tx: &Element) -> Option<String> {
    if let Some(id) = find_descendant(tx, "CdtrSchmeId", 6)
        && let Some(v) = id
            .text_at("Id/PrvtId/Othr/Id")
            .or_else(|| id.text_at("Id/OrgId/Othr/Id"))
            .or_else(|| id.value())
    {
        return Some(v.to_string());
    }
    let cdtr = tx.find("RltdPties/Cdtr")?;
    let cdtr = cdtr.child("Pty").unwrap_or(cdtr);
    cdtr.find_all("Id/PrvtId/Othr")
        .into_iter()
        .find(|o| o.text_at("SchmeNm/Prtry") == Some("SEPA"))
        .and_then(|o| o.text_at("Id"))
        .map(str::to_string)
}

fn find_descendant<'a>(at: &'a Element, name: &str, depth: usize) -> Option<&'a Element> {
    if depth == 0 {
        return None;
    }
    at.children.iter().find_map(|c| {
        if c.name == name {
            Some(c)
        } else {
            find_descendant(c, name, depth - 1)
        }
    })
}

/// `RmtInf/Ustrd` lines joined with a single space; with no `Ustrd`, the structured
/// creditor references and additional remittance lines.
fn remittance(tx: &Element) -> String {
    let mut lines: Vec<&str> = tx
        .find_all("RmtInf/Ustrd")
        .into_iter()
        .filter_map(Element::value)
        .collect();
    if lines.is_empty() {
        for strd in tx.find_all("RmtInf/Strd") {
            lines.extend(
                strd.find_all("CdtrRefInf/Ref")
                    .into_iter()
                    .filter_map(Element::value),
            );
            lines.extend(strd.children("AddtlRmtInf").filter_map(Element::value));
        }
    }
    lines.join(" ")
}
