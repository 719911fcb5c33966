//! ISO 20022 camt samples: what clerk reads against what Genkgo's camt library read
//! (`camt/genkgo-camt/*.json`, a dump of its DTO getters, money in minor units), and every
//! other sample read without error (`camt/viafintech-camt_parser`, no oracle).
//!
//! How the Genkgo dumps are read (their structure has three quirks that decide what can be
//! compared):
//! - `getEntries` is filled by iterating every statement's entries with their index as key,
//!   so an entry of a later statement overwrites the entry at the same index of an earlier
//!   one: only the last statement's entries (per index) survive. clerk's entries are laid
//!   into the same slots before comparing.
//! - The dumper prints an object once and `"__RECURSIVITY__"` wherever it meets it again; a
//!   statement is therefore printed in full only inside the first entry that refers to it
//!   (or in `getRecords` when it has no entries), and a statement whose entries were
//!   overwritten is not printed at all. Statements are compared where printed.
//! - Getters come in alphabetical order, so a singular getter (`getTransactionDetail`,
//!   `getRelatedAgent`, `getStructuredBlock`) prints the object that the plural one then
//!   shows as `"__RECURSIVITY__"`. Lists are rebuilt from both.
//!
//! Dates in the dumps are converted to UTC; clerk keeps the date the bank wrote. Both are
//! compared as dates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use clerk::extract::Input;
use clerk::extract::iso20022::{self, IsoDocument};
use clerk::model::statement::{BankStatement, EntryStatus, StatementEntry};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::report::SourceReport;

/// Disagreements with the oracle that are understood, by prefix of
/// `"<source>/<file>: <what>"`, and why.
const EXPLAINED: &[(&str, &str)] = &[
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 1 amount",
        "the TxDtls says CRDT inside a DBIT entry; Genkgo signs every TxDtls with the entry's CdtDbtInd, clerk with the TxDtls's own CdtDbtInd as ISO 20022 defines it",
    ),
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 2 amount",
        "as tx 1: Genkgo takes the entry's DBIT, the TxDtls says CRDT",
    ),
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 3 amount",
        "as tx 1: Genkgo takes the entry's DBIT, the TxDtls says CRDT",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 1 amount",
        "as camt054.v4: Genkgo takes the entry's DBIT, the TxDtls says CRDT",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 2 amount",
        "as camt054.v4: Genkgo takes the entry's DBIT, the TxDtls says CRDT",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 3 amount",
        "as camt054.v4: Genkgo takes the entry's DBIT, the TxDtls says CRDT",
    ),
    (
        "camt/genkgo-camt/camt054.v2.xml: entry 0 transactions",
        "three TxDtls and none carries an amount: clerk cannot split an amount it is not given and keeps one entry with the entry's amount (their remittance texts joined); Genkgo lists the three details",
    ),
    (
        "camt/genkgo-camt/camt053.v2.all-balance-types.xml: statement 0 created date",
        "CreDtTm is 2015-01-22T00:00:00+01:00: Genkgo converts to UTC (21 January, 23:00), clerk keeps the date the bank wrote (22 January)",
    ),
    (
        "camt/genkgo-camt/camt052.v1.xml: entry 0 tx 1 reference",
        "in .001.01 the batch (`Btch`, with PmtInfId FINP-0055-001) sits directly in the entry; Genkgo reads a batch's PmtInfId only from NtryDtls/Btch (.001.02 on), clerk reads both and gives an entry without transaction details its batch's PmtInfId as reference",
    ),
    // The counterparty is the party that is not the statement's own account (issue 13 item
    // 11). In these samples the party the direction points to is the account itself
    // (CH2801234000123456789, UNIFITS GmbH): Genkgo names it, clerk names the other party.
    (
        "camt/genkgo-camt/camt052.v4.xml: entry 0 tx 1 counterparty",
        "a DBIT entry whose TxDtls says CRDT names the account itself (UNIFITS GmbH, CH2801234000123456789) as creditor; clerk names the other party, the debtor Example Creditor 4 and its agent BANKCHBE",
    ),
    (
        "camt/genkgo-camt/camt052.v6.xml: entry 0 tx 1 counterparty",
        "as camt052.v4: the creditor is the account itself; clerk names the debtor Example Creditor 6",
    ),
    (
        "camt/genkgo-camt/camt052.v6.Amt-zero.xml: entry 0 tx 1 counterparty",
        "as camt052.v4: the creditor is the account itself; clerk names the debtor Example Creditor 6",
    ),
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 1 counterparty",
        "the TxDtls says CRDT, so the counterparty would be the debtor, but the debtor is the account itself (UNIFITS GmbH, CH2801234000123456789): clerk names the creditor Example Creditor 3 and its agent (none given for tx 1)",
    ),
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 2 counterparty",
        "as tx 1: the debtor is the account itself, clerk names the creditor",
    ),
    (
        "camt/genkgo-camt/camt054.v4.xml: entry 0 tx 3 counterparty",
        "as tx 1: the debtor is the account itself, clerk names the creditor",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 1 counterparty",
        "as camt054.v4: the debtor is the account itself, clerk names the creditor",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 2 counterparty",
        "as camt054.v4: the debtor is the account itself, clerk names the creditor",
    ),
    (
        "camt/genkgo-camt/camt054.v8.xml: entry 0 tx 3 counterparty",
        "as camt054.v4: the debtor is the account itself, clerk names the creditor",
    ),
    (
        "camt/viafintech-camt_parser/052/valid_namespace.xml: read",
        "an empty <Document> (a fixture for namespace dispatch only): no statement in it, clerk refuses it with a clear error",
    ),
    (
        "camt/viafintech-camt_parser/053/valid_namespace.xml: read",
        "an empty <Document> (a fixture for namespace dispatch only): no statement in it, clerk refuses it with a clear error",
    ),
    (
        "camt/viafintech-camt_parser/general/invalid_namespace.xml: read",
        "an empty camt.053.001.03 <Document>; camt_parser refuses the version, clerk reads .001.03 but refuses the empty document (no statement)",
    ),
];

pub fn check(corpus: &Path) -> Vec<SourceReport> {
    vec![
        genkgo(corpus, "camt/genkgo-camt"),
        unchecked(corpus, "camt/viafintech-camt_parser"),
    ]
}

fn xml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

fn read(path: &Path) -> Result<(iso20022::IsoMessage, IsoDocument), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let input = Input {
        name,
        bytes: &bytes,
        file_hash: Arc::from("corpus"),
    };
    iso20022::parse(&input, None, None).map_err(|e| e.to_string())
}

/// Records a disagreement as explained or not.
fn disagree(report: &mut SourceReport, id: String) {
    match EXPLAINED.iter().find(|(p, _)| id.starts_with(p)) {
        Some((_, why)) => report.explained.push(format!("{id} — {why}")),
        None => report.unexplained.push(id),
    }
}

/// Notes how a statement that does not add up (a warning in clerk, never a refusal).
fn balance_note(source: &str, file: &str, statements: &[BankStatement]) {
    for (i, s) in statements.iter().enumerate() {
        if let Some(d) = s.balance_difference().filter(|d| !d.is_zero()) {
            println!(
                "  note       {source}/{file}: statement {i} does not balance (opening + entries - closing = {d}); read, reported as a break"
            );
        }
    }
}

fn unchecked(corpus: &Path, source: &str) -> SourceReport {
    let mut report = SourceReport {
        source: source.to_string(),
        ..Default::default()
    };
    let dir = corpus.join(source);
    for path in xml_files(&dir) {
        let rel = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        report.files += 1;
        match read(&path) {
            Ok((_, doc)) => {
                report.read += 1;
                if let IsoDocument::Statements(s) = &doc {
                    balance_note(source, &rel, s);
                }
            }
            Err(e) => disagree(&mut report, format!("{source}/{rel}: read: {e}")),
        }
    }
    report
}

fn genkgo(corpus: &Path, source: &str) -> SourceReport {
    let mut report = SourceReport {
        source: source.to_string(),
        ..Default::default()
    };
    let dir = corpus.join(source);
    for path in xml_files(&dir) {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        report.files += 1;
        let oracle = path.with_extension("json");
        let result = read(&path);
        if !oracle.exists() {
            // Genkgo's own tests expect these to fail (InvalidMessageException).
            match result {
                Err(_) => report.refused_as_expected += 1,
                Ok(_) => disagree(
                    &mut report,
                    format!("{source}/{file}: read a file Genkgo refuses"),
                ),
            }
            continue;
        }
        let statements = match result {
            Ok((_, IsoDocument::Statements(s))) => s,
            Ok((k, _)) => {
                disagree(&mut report, format!("{source}/{file}: read as {k}"));
                continue;
            }
            Err(e) => {
                disagree(&mut report, format!("{source}/{file}: read: {e}"));
                continue;
            }
        };
        report.read += 1;
        balance_note(source, &file, &statements);
        let json: Value = match std::fs::read(&oracle)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                disagree(&mut report, format!("{source}/{file}: oracle: {e}"));
                continue;
            }
        };
        report.compared += 1;
        let mut cmp = Compare {
            report: &mut report,
            prefix: format!("{source}/{file}"),
        };
        compare_message(&mut cmp, &json, &statements);
    }
    report
}

struct Compare<'r> {
    report: &'r mut SourceReport,
    prefix: String,
}

impl Compare<'_> {
    fn field<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, clerk: T, oracle: T) {
        self.report.fields += 1;
        if clerk == oracle {
            self.report.agreed += 1;
        } else {
            let id = format!(
                "{}: {what}: clerk {clerk:?}, Genkgo {oracle:?}",
                self.prefix
            );
            disagree(self.report, id);
        }
    }
}

fn s(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn class(v: &Value) -> &str {
    v.get("__CLASS__").and_then(Value::as_str).unwrap_or("")
}

/// A `Money\Money` as an exact decimal in its currency's units.
fn money(v: &Value) -> Option<(Decimal, String)> {
    let minor: i64 = v.get("getAmount")?.as_str()?.parse().ok()?;
    let ccy = v.get("getCurrency")?.get("getCode")?.as_str()?.to_string();
    let units = ccy.parse::<clerk::model::Currency>().ok()?.minor_units();
    Some((Decimal::new(minor, units), ccy))
}

fn date(v: &Value) -> Option<NaiveDate> {
    let text = v.get("0")?.as_str()?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Objects of a list, with the singular getter's object standing in for the
/// `"__RECURSIVITY__"` it leaves in the list.
fn rebuilt<'a>(singular: Option<&'a Value>, list: Option<&'a Value>) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = Vec::new();
    let items = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut single = singular.filter(|v| v.is_object());
    for item in items {
        if item.is_object() {
            out.push(item);
        } else if let Some(sv) = single.take() {
            out.push(sv);
        }
    }
    if let (Some(sv), true) = (single, out.is_empty()) {
        out.push(sv);
    }
    out
}

fn compare_message(cmp: &mut Compare<'_>, json: &Value, ours: &[BankStatement]) {
    let records = json.get("getRecords").and_then(Value::as_array);
    cmp.field("statements", ours.len(), records.map(Vec::len).unwrap_or(0));

    // Statements printed in full anywhere in the dump, matched by their id.
    let mut printed = Vec::new();
    collect_records(json, &mut printed);
    let mut used = vec![false; ours.len()];
    for rec in printed {
        let id = rec.get("getId").and_then(s);
        let Some(i) = (0..ours.len()).find(|&i| !used[i] && ours[i].statement_id == id) else {
            cmp.field("statement id", None, id);
            continue;
        };
        used[i] = true;
        compare_statement(cmp, i, rec, &ours[i]);
    }

    // The entries as Genkgo's index-keyed iteration leaves them.
    let mut slots: BTreeMap<usize, (usize, Vec<&StatementEntry>)> = BTreeMap::new();
    for (si, st) in ours.iter().enumerate() {
        for (k, group) in group_by_ntry(&st.entries).into_iter().enumerate() {
            slots.insert(k, (si, group));
        }
    }
    let oracle_entries: Vec<&Value> = json
        .get("getEntries")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    cmp.field("entries", slots.len(), oracle_entries.len());
    for (k, oe) in oracle_entries.iter().enumerate() {
        if let Some((_, group)) = slots.get(&k) {
            compare_entry(cmp, k, oe, group);
        }
    }
}

fn collect_records<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            let c = class(v);
            if c.ends_with("\\Statement")
                || c.ends_with("\\Report")
                || c.ends_with("\\Notification")
            {
                out.push(v);
            }
            for x in m.values() {
                collect_records(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_records(x, out)),
        _ => {}
    }
}

/// clerk's entries grouped by the `Ntry` they came from (a split batch is one group).
fn group_by_ntry(entries: &[StatementEntry]) -> Vec<Vec<&StatementEntry>> {
    let mut groups: Vec<(String, Vec<&StatementEntry>)> = Vec::new();
    for e in entries {
        let loc = e.source.locator.as_deref().unwrap_or("");
        let key = match loc.find("/NtryDtls") {
            Some(i) => &loc[..i],
            None => loc,
        }
        .to_string();
        match groups.last_mut() {
            Some((k, g)) if *k == key => g.push(e),
            _ => groups.push((key, vec![e])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

fn compare_statement(cmp: &mut Compare<'_>, i: usize, rec: &Value, ours: &BankStatement) {
    let p = format!("statement {i}");
    cmp.field(
        &format!("{p} account"),
        Some(ours.account.clone()),
        rec.get("getAccount")
            .and_then(|a| a.get("getIdentification"))
            .and_then(s),
    );
    let number = rec
        .get("getElectronicSequenceNumber")
        .and_then(s)
        .or_else(|| rec.get("getLegalSequenceNumber").and_then(s));
    cmp.field(&format!("{p} number"), ours.number.clone(), number);
    // Genkgo converts to UTC, clerk keeps the bank's local time: the dates are compared.
    if let Some(d) = rec.get("getCreatedOn").and_then(date) {
        cmp.field(
            &format!("{p} created date"),
            ours.created.map(|c| c.date()),
            Some(d),
        );
    }
    if let Some(d) = rec.get("getFromDate").and_then(date) {
        cmp.field(&format!("{p} from date"), ours.from_date, Some(d));
    }
    if let Some(d) = rec.get("getToDate").and_then(date) {
        cmp.field(&format!("{p} to date"), ours.to_date, Some(d));
    }
    let balances: Vec<(&str, (Decimal, String), Option<NaiveDate>)> = rec
        .get("getBalances")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|b| {
                    Some((
                        b.get("getType")?.as_str()?,
                        money(b.get("getAmount")?)?,
                        b.get("getDate").and_then(date),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let ours_bal = |b: &Option<clerk::model::statement::Balance>| {
        b.as_ref()
            .map(|b| ((b.amount, b.currency.to_string()), Some(b.date)))
    };
    // Genkgo types both OPBD and PRCD as "opening"; clerk takes OPBD, else PRCD.
    let openings: Vec<_> = balances
        .iter()
        .filter(|(t, _, _)| *t == "opening")
        .map(|(_, m, d)| (m.clone(), *d))
        .collect();
    if !openings.is_empty() || ours.opening.is_some() {
        let mine = ours_bal(&ours.opening);
        let theirs = mine
            .clone()
            .filter(|m| openings.contains(m))
            .or_else(|| openings.first().cloned());
        cmp.field(&format!("{p} opening balance"), mine, theirs);
    }
    for (ty, mine) in [
        ("closing", &ours.closing),
        ("closing_available", &ours.closing_available),
    ] {
        let theirs = balances
            .iter()
            .find(|(t, _, _)| *t == ty)
            .map(|(_, m, d)| (m.clone(), *d));
        if theirs.is_some() || mine.is_some() {
            cmp.field(&format!("{p} {ty} balance"), ours_bal(mine), theirs);
        }
    }
}

/// The transaction details of a Genkgo entry, in order.
fn details(oe: &Value) -> Vec<&Value> {
    rebuilt(
        oe.get("getTransactionDetail"),
        oe.get("getTransactionDetails"),
    )
}

fn compare_entry(cmp: &mut Compare<'_>, k: usize, oe: &Value, group: &[&StatementEntry]) {
    let p = format!("entry {k}");
    let first = group[0];
    let split = first.batch.is_some();
    let Some((amount, ccy)) = oe.get("getAmount").and_then(money) else {
        cmp.field(&format!("{p} amount"), Some(first.amount), None);
        return;
    };
    if split {
        let b = first.batch.as_ref().unwrap();
        cmp.field(&format!("{p} amount"), b.entry_amount, amount);
    } else {
        cmp.field(
            &format!("{p} amount"),
            (first.amount, first.currency.to_string()),
            (amount, ccy),
        );
    }
    let booking = oe.get("getBookingDate").and_then(date);
    cmp.field(&format!("{p} booking date"), first.booking_date, booking);
    match oe.get("getValueDate").and_then(date) {
        Some(v) => cmp.field(&format!("{p} value date"), first.value_date, v),
        // Without a value date clerk takes the booking date.
        None => {
            if let Some(b) = booking {
                cmp.field(
                    &format!("{p} value date (booking date)"),
                    first.value_date,
                    b,
                );
            }
        }
    }
    cmp.field(
        &format!("{p} reversal"),
        first.reversal,
        oe.get("getReversalIndicator")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    );
    // Genkgo keeps the code as written; clerk reads it into its status (BOOK booked, PDNG
    // pending, INFO info), so the code is compared by what clerk makes of it.
    let status = match oe.get("getStatus").and_then(s).as_deref() {
        Some("BOOK") => Some(EntryStatus::Booked),
        Some("PDNG") => Some(EntryStatus::Pending),
        Some("INFO") => Some(EntryStatus::Info),
        _ => None,
    };
    cmp.field(&format!("{p} status"), Some(first.status), status);

    let txs = details(oe);
    let n = if split { group.len() } else { txs.len().min(1) };
    cmp.field(&format!("{p} transactions"), n, txs.len());
    let entry_code = code(oe.get("getBankTransactionCode"));
    let entry_svcr = oe.get("getAccountServicerReference").and_then(s);
    let entry_ref = oe.get("getReference").and_then(s);
    let credit = oe.get("getCreditDebitIndicator").and_then(Value::as_str) == Some("CRDT");
    let reversal = first.reversal;
    let pairs: Vec<(usize, &StatementEntry, Option<&Value>)> = if split {
        group
            .iter()
            .enumerate()
            .map(|(i, e)| (i + 1, *e, txs.get(i).copied()))
            .collect()
    } else {
        vec![(1, first, if txs.len() == 1 { Some(txs[0]) } else { None })]
    };
    if !split && txs.len() >= 2 {
        // Not split (no amounts to split by): the reference where all agree, the texts
        // joined.
        let refs: Vec<Option<String>> = txs
            .iter()
            .map(|t| {
                let r = |name: &str| t.get("getReference").and_then(|r| r.get(name)).and_then(s);
                r("getEndToEndId")
                    .filter(|v| !v.eq_ignore_ascii_case("NOTPROVIDED"))
                    .or_else(|| r("getInstructionId"))
                    .or_else(|| r("getPaymentInformationId"))
            })
            .collect();
        let common = refs
            .iter()
            .all(|r| *r == refs[0])
            .then(|| refs[0].clone())
            .flatten();
        cmp.field(
            &format!("{p} merged reference"),
            first.reference.clone(),
            common,
        );
        let mut texts: Vec<String> = Vec::new();
        for t in txs.iter().filter_map(|t| remittance(t)) {
            if !texts.contains(&t) {
                texts.push(t);
            }
        }
        cmp.field(
            &format!("{p} merged remittance"),
            first.remittance.clone(),
            texts.join(" "),
        );
    }
    for (i, mine, tx) in pairs {
        let tp = format!("{p} tx {i}");
        let refs = tx.and_then(|t| t.get("getReference"));
        let r = |name: &str| refs.and_then(|r| r.get(name)).and_then(s);
        let e2e = r("getEndToEndId").filter(|v| !v.eq_ignore_ascii_case("NOTPROVIDED"));
        let expected_ref = e2e
            .clone()
            .or_else(|| r("getInstructionId"))
            .or_else(|| r("getPaymentInformationId"))
            .or_else(|| oe.get("getBatchPaymentId").and_then(s));
        if tx.is_some() || txs.is_empty() {
            cmp.field(
                &format!("{tp} reference"),
                mine.reference.clone(),
                expected_ref,
            );
            cmp.field(
                &format!("{tp} bank reference"),
                mine.bank_reference.clone(),
                r("getAccountServicerReference")
                    .or(entry_svcr.clone())
                    .or(entry_ref.clone()),
            );
            let tx_code = code(tx.and_then(|t| t.get("getBankTransactionCode")));
            cmp.field(
                &format!("{p} tx {i} transaction code"),
                mine.transaction_code.clone(),
                tx_code.or(entry_code.clone()),
            );
        }
        let Some(tx) = tx else { continue };
        if split {
            let signed = tx.get("getAmount").and_then(money);
            cmp.field(
                &format!("{tp} amount"),
                Some((mine.amount, mine.currency.to_string())),
                signed,
            );
        }
        if let Some(rem) = remittance(tx) {
            cmp.field(&format!("{tp} remittance"), mine.remittance.clone(), rem);
        }
        let parties: Vec<&Value> = tx
            .get("getRelatedParties")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|v| v.is_object()).collect())
            .unwrap_or_default();
        let tx_credit = if split {
            mine.amount.is_sign_positive()
        } else {
            credit
        };
        let side = if tx_credit != reversal {
            "\\Debtor"
        } else {
            "\\Creditor"
        };
        if let Some(party) = parties.iter().find(|pt| {
            pt.get("getRelatedPartyType")
                .is_some_and(|t| class(t).ends_with(side))
        }) {
            let ty = party.get("getRelatedPartyType").unwrap();
            cmp.field(
                &format!("{tp} counterparty name"),
                mine.details.counterparty_name.clone(),
                ty.get("getName").and_then(s),
            );
            let iban = party
                .get("getAccount")
                .and_then(|a| a.get("getIban"))
                .and_then(|i| i.get("getIban"))
                .and_then(s);
            cmp.field(
                &format!("{tp} counterparty IBAN"),
                mine.details.counterparty_iban.clone(),
                iban,
            );
        }
        let agent_side = if tx_credit != reversal {
            "\\DebtorAgent"
        } else {
            "\\CreditorAgent"
        };
        let agents = rebuilt(tx.get("getRelatedAgent"), tx.get("getRelatedAgents"));
        if let Some(agent) = agents.iter().find_map(|a| {
            a.get("getRelatedAgentType")
                .filter(|t| class(t).ends_with(agent_side))
        }) {
            cmp.field(
                &format!("{tp} counterparty BIC"),
                mine.details.counterparty_bic.clone(),
                agent.get("getBIC").and_then(s),
            );
        }
    }
}

/// `PMNT/RCDT/ESCT` from a Genkgo bank transaction code, else its proprietary code.
fn code(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if let Some(d) = v.get("getDomain").filter(|d| d.is_object()) {
        let f = d.get("getFamily");
        if let (Some(dc), Some(fc), Some(sc)) = (
            d.get("getCode").and_then(s),
            f.and_then(|f| f.get("getCode")).and_then(s),
            f.and_then(|f| f.get("getSubFamilyCode")).and_then(s),
        ) {
            return Some(format!("{dc}/{fc}/{sc}"));
        }
    }
    v.get("getProprietary")
        .and_then(|p| p.get("getCode"))
        .and_then(s)
}

/// The remittance text by clerk's rule from Genkgo's remittance blocks: the unstructured
/// lines joined with a space, else the structured references and additional lines.
fn remittance(tx: &Value) -> Option<String> {
    let rem = tx
        .get("getRemittanceInformation")
        .filter(|r| r.is_object())?;
    let lines: Vec<String> = rebuilt(
        rem.get("getUnstructuredBlock"),
        rem.get("getUnstructuredBlocks"),
    )
    .into_iter()
    .filter_map(|b| b.get("getMessage").and_then(s))
    .collect();
    if !lines.is_empty() {
        return Some(lines.join(" "));
    }
    let top_ref = rem.get("getCreditorReferenceInformation");
    let mut parts = Vec::new();
    for block in rebuilt(
        rem.get("getStructuredBlock"),
        rem.get("getStructuredBlocks"),
    ) {
        let cref = block
            .get("getCreditorReferenceInformation")
            .filter(|c| c.is_object())
            .or(top_ref);
        if let Some(r) = cref.and_then(|c| c.get("getRef")).and_then(s) {
            parts.push(r);
        }
        if let Some(a) = block.get("getAdditionalRemittanceInformation").and_then(s) {
            parts.push(a);
        }
    }
    if parts.is_empty() {
        return rem.get("getMessage").and_then(s);
    }
    Some(parts.join(" "))
}
