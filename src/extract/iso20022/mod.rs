//! ISO 20022 messages from banks and custodians: camt.052 (intraday account report), camt.053
//! (end-of-day statement), camt.054 (debit/credit notification) and semt.002 (statement of
//! holdings), every version from .001.01 on.
//!
//! Versions differ in their namespace (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.08`), hardly
//! in their element names, so messages are recognised by namespace ([`sniff`]) and read by
//! local name; an unknown higher version of a known message is read like the last one known.
//! All reading goes through clerk's safe XML reader ([`crate::extract::xml`]): no DTD, no
//! entities beyond the five of XML, limited depth and text.
//!
//! - [`parse`] reads a whole file in memory into statements or holdings.
//! - [`read_statements`] streams a camt file: each entry goes to a
//!   [`StatementSink`] as soon as its `<Ntry>` is complete, each statement after its entries,
//!   so a 300 MB statement is read in memory bounded by its largest entry.
//!
//! The rules for signs, reversals, batches, dates, references and counterparties are in
//! `camt.rs`; the shapes of semt.002 in `semt.rs`. A file that is not what it claims, or
//! breaks the message definition where clerk depends on it (no `Ccy` on an amount, a
//! `CdtDbtInd` that is neither `CRDT` nor `DBIT`, no statement in a statement message), is
//! refused whole with every problem named by line and element. A statement that merely does
//! not balance is read: that is for reconciliation to report
//! ([`BankStatement::balance_difference`]).

mod camt;
mod encoding;
mod semt;
mod sniff;
mod value;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, LazyLock};

use chrono_tz::Tz;

use super::sink::{Collect, StatementSink};
use super::xml::{self, XmlError};
use super::{ExtractError, Input, MAX_PROBLEMS, Problem};
use crate::model::securities::HoldingStatement;
use crate::model::statement::{BankStatement, StatementKind};

/// The ISO 20022 messages clerk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsoMessage {
    Camt052,
    Camt053,
    Camt054,
    Semt002,
}

impl IsoMessage {
    /// The message's identifier without variant and version: `camt.053`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsoMessage::Camt052 => "camt.052",
            IsoMessage::Camt053 => "camt.053",
            IsoMessage::Camt054 => "camt.054",
            IsoMessage::Semt002 => "semt.002",
        }
    }

    /// The message element below `Document`.
    fn element(self) -> &'static str {
        match self {
            IsoMessage::Camt052 => "BkToCstmrAcctRpt",
            IsoMessage::Camt053 => "BkToCstmrStmt",
            IsoMessage::Camt054 => "BkToCstmrDbtCdtNtfctn",
            IsoMessage::Semt002 => "SctiesBalCtdyRpt",
        }
    }

    /// The statement element of a camt message (`Stmt`, `Rpt`, `Ntfctn`).
    fn statement_element(self) -> Option<&'static str> {
        match self {
            IsoMessage::Camt052 => Some("Rpt"),
            IsoMessage::Camt053 => Some("Stmt"),
            IsoMessage::Camt054 => Some("Ntfctn"),
            IsoMessage::Semt002 => None,
        }
    }

    fn statement_kind(self) -> StatementKind {
        match self {
            IsoMessage::Camt052 => StatementKind::Intraday,
            IsoMessage::Camt054 => StatementKind::Notification,
            IsoMessage::Camt053 | IsoMessage::Semt002 => StatementKind::EndOfDay,
        }
    }
}

impl fmt::Display for IsoMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message whose element this is: `BkToCstmrStmt`, or `BkToCstmrStmtV01` as the first
/// versions named it.
fn message_of_element(name: &str) -> Option<IsoMessage> {
    [
        IsoMessage::Camt052,
        IsoMessage::Camt053,
        IsoMessage::Camt054,
        IsoMessage::Semt002,
    ]
    .into_iter()
    .find(|m| {
        name.strip_prefix(m.element()).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('V')
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// Whether bytes are one of these ISO 20022 messages (root namespace, or root element names
/// when a bank omits the namespace), and the version ("001.08"; "unknown" when no namespace
/// says it). Looks only at the first 64 KB (a BOM, the XML declaration, comments and an
/// `AppHdr`+`Document` envelope such as `BizMsgEnvlp` or SWIFT's `DataPDU` are looked through).
pub fn sniff(bytes: &[u8]) -> Option<(IsoMessage, String)> {
    sniff::sniff(bytes)
}

/// What an ISO 20022 file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsoDocument {
    Statements(Vec<BankStatement>),
    Holdings(Vec<HoldingStatement>),
}

/// Reads a whole file. With `expected`, a file holding another message is refused; without,
/// the message is recognised by [`sniff`]. `account_zone` is the time zone the account's days
/// are counted in (the job's, [`crate::extract::Layout`]): a booking or value date-time
/// written with a zone (`2026-03-31T23:30:00Z`) falls on its day there; without it, and for a
/// time written without a zone, the date is read as written. It is all a camt reader needs of
/// the job, so it is passed alone rather than the job's whole layout.
pub fn parse(
    input: &Input<'_>,
    expected: Option<IsoMessage>,
    account_zone: Option<Tz>,
) -> Result<(IsoMessage, IsoDocument), ExtractError> {
    let sniffed = sniff(input.bytes);
    if let (Some((found, version)), Some(want)) = (&sniffed, expected)
        && *found != want
    {
        return Err(ExtractError::whole(
            input.name,
            format!("expected a {want} message, found {found}.{version}"),
        ));
    }
    let bytes = encoding::to_utf8(input.bytes).map_err(|m| ExtractError::whole(input.name, m))?;
    if let Some(m) = not_xml(&bytes) {
        return Err(ExtractError::whole(input.name, m));
    }
    let kind = sniffed.map(|(k, _)| k).or(expected);
    if kind == Some(IsoMessage::Semt002) {
        let holdings = read_holdings(&bytes, input.name, &input.file_hash)?;
        return Ok((IsoMessage::Semt002, IsoDocument::Holdings(holdings)));
    }
    // camt, or not recognised: the camt reader says what the file holds instead.
    let mut collect = Collect::default();
    let found = read_camt(
        &bytes[..],
        input.name,
        &input.file_hash,
        &mut collect,
        account_zone,
    )?;
    if let Some(want) = expected
        && found != want
    {
        return Err(ExtractError::whole(
            input.name,
            format!("expected a {want} message, found {found}"),
        ));
    }
    Ok((found, IsoDocument::Statements(collect.statements)))
}

/// Streaming camt: entries handed to the sink as each `<Ntry>` completes (`xml::parse_split`),
/// each statement after its entries; memory bounded by the largest entry. A file in UTF-16 or
/// a declared legacy encoding is transcoded as it streams.
///
/// On an error the sink may already have received entries of the file: the caller discards
/// them (a file with any bad entry is refused whole). `account_zone` as for [`parse`].
pub fn read_statements(
    mut reader: impl BufRead,
    name: &str,
    file_hash: Arc<str>,
    sink: &mut dyn StatementSink,
    account_zone: Option<Tz>,
) -> Result<IsoMessage, ExtractError> {
    let head = reader
        .fill_buf()
        .map_err(|e| ExtractError::whole(name, format!("cannot be read: {e}")))?;
    let enc = encoding::detect(head).map_err(|m| ExtractError::whole(name, m))?;
    match enc {
        None => {
            if let Some(m) = not_xml(head) {
                return Err(ExtractError::whole(name, m));
            }
            read_camt(reader, name, &file_hash, sink, account_zone)
        }
        Some(enc) => {
            let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(enc))
                .build(reader);
            read_camt(
                BufReader::new(decoded),
                name,
                &file_hash,
                sink,
                account_zone,
            )
        }
    }
}

/// Why bytes are not an XML document at all (empty, binary, text that is not markup), judged
/// from their start.
fn not_xml(head: &[u8]) -> Option<String> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = head.iter().position(|b| !b.is_ascii_whitespace());
    match first {
        None => Some("the file is empty: expected an ISO 20022 XML message".into()),
        Some(i) if head[i] == b'<' => None,
        Some(i) => {
            let sample: String = String::from_utf8_lossy(&head[i..head.len().min(i + 16)])
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            let binary = head.iter().take(512).any(|&b| b == 0 || (b < 0x09));
            Some(if binary {
                format!(
                    "not an XML document: the file starts with binary data ({sample:?}); expected an ISO 20022 XML message"
                )
            } else {
                format!("not an XML document: expected it to start with \"<\", found {sample:?}")
            })
        }
    }
}

/// What a split path is, for the camt reader.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// An element kept in the tree (inside a camt message, or the root).
    Keep,
    /// A `Stmt/Ntry`, `Rpt/Ntry`, `Ntfctn/Ntry`.
    Entry(IsoMessage),
    /// A `Stmt`, `Rpt`, `Ntfctn`.
    Statement(IsoMessage),
    /// Anything outside a camt message below the root (an `AppHdr`, or a file that is not
    /// camt at all): dropped as soon as it is complete, so no file is held whole.
    Outside,
}

fn last_segment(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, l)| l)
}

fn classify(path: &str) -> Part {
    let Some((parent, last)) = path.rsplit_once('/') else {
        return Part::Keep;
    };
    let is_statement_of = |statement: &str, msg_path: &str| {
        message_of_element(last_segment(msg_path))
            .filter(|m| m.statement_element() == Some(statement))
    };
    if last == "Ntry" {
        if let Some((grand, stmt)) = parent.rsplit_once('/').or(Some(("", parent)))
            && let Some(m) = is_statement_of(stmt, grand)
        {
            return Part::Entry(m);
        }
    } else if matches!(last, "Stmt" | "Rpt" | "Ntfctn")
        && let Some(m) = is_statement_of(last, parent)
    {
        return Part::Statement(m);
    }
    // Runs at the end of every element of a file: a prepared search, not `str::contains`.
    static CAMT: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("BkToCstmr"));
    if CAMT.find(path.as_bytes()).is_some() {
        Part::Keep
    } else {
        Part::Outside
    }
}

/// What the camt reader noticed outside its statements, for telling people what a file holds.
#[derive(Default)]
struct Seen {
    /// A camt message element was completed.
    message: Option<IsoMessage>,
    /// The first element dropped directly under a `Document`: the message a non-camt file
    /// holds.
    document_child: Option<String>,
    /// The shallowest element dropped, for files without a `Document`.
    shallowest: Option<(usize, String)>,
}

impl Seen {
    fn dropped(&mut self, path: &str) {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        if self.document_child.is_none() && last_segment(parent) == "Document" {
            self.document_child = Some(name.to_string());
        }
        let depth = path.matches('/').count();
        if self.shallowest.as_ref().is_none_or(|(d, _)| depth < *d) {
            self.shallowest = Some((depth, name.to_string()));
        }
    }
}

/// The camt reader's state between split elements.
struct CamtState<'s> {
    name: &'s str,
    file: &'s Arc<str>,
    sink: &'s mut dyn StatementSink,
    kind: Option<IsoMessage>,
    statements: usize,
    pending: camt::Pending,
    problems: Vec<Problem>,
    sink_error: Option<ExtractError>,
    /// The account's time zone (see [`parse`]).
    zone: Option<Tz>,
}

impl CamtState<'_> {
    /// Handles a completed `Ntry` or `Stmt`. `Err` stops reading (too many problems, or the
    /// sink refused).
    fn element(
        &mut self,
        path: &str,
        el: xml::Element,
        ancestors: xml::Ancestors<'_>,
    ) -> Result<(), ()> {
        match classify(path) {
            Part::Entry(kind) => {
                self.kind.get_or_insert(kind);
                let context = camt::Context {
                    statement: ancestors.parent(),
                    message: ancestors.iter().rev().nth(1),
                    zone: self.zone,
                };
                match camt::entries(&el, &context, self.file, &mut self.pending.problems) {
                    Ok(entries) => {
                        for e in entries {
                            self.pending.first_currency.get_or_insert(e.currency);
                            if self.problems.is_empty()
                                && let Err(err) = self.sink.entry(e)
                            {
                                self.sink_error = Some(err);
                                return Err(());
                            }
                        }
                    }
                    Err(p) => self.problem(p)?,
                }
            }
            Part::Statement(kind) => {
                self.kind.get_or_insert(kind);
                self.statements += 1;
                let pending = std::mem::take(&mut self.pending);
                match camt::statement(&el, kind.statement_kind(), self.file, pending, self.zone) {
                    Ok(s) => {
                        if self.problems.is_empty()
                            && let Err(err) = self.sink.statement(s)
                        {
                            self.sink_error = Some(err);
                            return Err(());
                        }
                    }
                    Err(p) => self.problem(p)?,
                }
            }
            Part::Keep | Part::Outside => {}
        }
        Ok(())
    }

    fn problem(&mut self, p: Problem) -> Result<(), ()> {
        self.problems.push(p);
        if self.problems.len() >= MAX_PROBLEMS {
            Err(())
        } else {
            Ok(())
        }
    }
}

fn xml_problem(e: XmlError) -> Problem {
    let mut message = e.message;
    if message.contains("UTF-8") || message.contains("utf-8") {
        message.push_str(
            " (ISO 20022 files are UTF-8; a file in another encoding must name it in its XML declaration)",
        );
    }
    Problem {
        sheet: None,
        row: Some(e.line),
        column: Some(e.locator).filter(|l| !l.is_empty()),
        message,
    }
}

/// The XML limits for bank statements: the defaults (64 levels, 1 MB of text per element).
fn limits() -> xml::Limits {
    xml::Limits::default()
}

fn read_camt(
    reader: impl BufRead,
    name: &str,
    file: &Arc<str>,
    sink: &mut dyn StatementSink,
    zone: Option<Tz>,
) -> Result<IsoMessage, ExtractError> {
    let seen = RefCell::new(Seen::default());
    let split = |path: &str| -> bool {
        let part = classify(path);
        match part {
            Part::Entry(_) | Part::Statement(_) => true,
            Part::Outside => {
                seen.borrow_mut().dropped(path);
                true
            }
            Part::Keep => {
                if let Some(m) = message_of_element(last_segment(path)) {
                    seen.borrow_mut().message.get_or_insert(m);
                }
                false
            }
        }
    };
    let mut state = CamtState {
        name,
        file,
        sink,
        kind: None,
        statements: 0,
        pending: camt::Pending::default(),
        problems: Vec::new(),
        sink_error: None,
        zone,
    };
    const STOP: &str = "reading stopped";
    let result = xml::parse_split_in_context(reader, &limits(), &split, &mut |path, el, up| {
        state.element(path, el, up).map_err(|()| XmlError {
            line: 0,
            locator: String::new(),
            message: STOP.into(),
        })
    });
    if let Some(err) = state.sink_error {
        return Err(err);
    }
    let mut problems = state.problems;
    let doc = match result {
        Ok(doc) => Some(doc),
        Err(e) if e.message == STOP && e.line == 0 => None,
        Err(e) => {
            problems.push(xml_problem(e));
            None
        }
    };
    if !problems.is_empty() {
        return Err(ExtractError::new(state.name, problems));
    }
    let seen = seen.into_inner();
    match (state.kind, seen.message) {
        (Some(kind), _) if state.statements > 0 => Ok(kind),
        (_, Some(m)) => Err(ExtractError::whole(
            name,
            format!(
                "the {m} message holds no <{}>: there is no statement to read",
                m.statement_element().unwrap_or("Stmt")
            ),
        )),
        _ => {
            let root = doc.map(|d| d.root.name).unwrap_or_default();
            let inside = seen.document_child.or(seen.shallowest.map(|(_, n)| n));
            let what = match inside {
                Some(n) => match message_of_element(&n) {
                    Some(m) => format!("<{root}> holds <{n}>, a {m} message"),
                    None => format!("<{root}> holds <{n}>"),
                },
                None => format!("<{root}> holds no message"),
            };
            Err(ExtractError::whole(
                name,
                format!(
                    "not a camt.052, camt.053 or camt.054 bank statement: expected <BkToCstmrStmt>, <BkToCstmrAcctRpt> or <BkToCstmrDbtCdtNtfctn>, but {what}"
                ),
            ))
        }
    }
}

/// semt.002 read whole (custody statements are small next to bank statements).
fn read_holdings(
    bytes: &[u8],
    name: &str,
    file: &Arc<str>,
) -> Result<Vec<HoldingStatement>, ExtractError> {
    let doc =
        xml::parse(bytes, &limits()).map_err(|e| ExtractError::new(name, vec![xml_problem(e)]))?;
    let Some(msg) = semt::message(&doc.root) else {
        return Err(ExtractError::whole(
            name,
            format!(
                "not a semt.002 statement of holdings: expected <SctiesBalCtdyRpt>, found <{}>",
                doc.root.name
            ),
        ));
    };
    let mut problems = Vec::new();
    let holdings = semt::holdings(msg, file, &mut problems);
    if !problems.is_empty() {
        problems.truncate(MAX_PROBLEMS);
        return Err(ExtractError::new(name, problems));
    }
    if holdings.is_empty() {
        return Err(ExtractError::whole(
            name,
            "the semt.002 message holds no safekeeping account: there is nothing to read",
        ));
    }
    Ok(holdings)
}
