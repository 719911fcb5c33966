//! SWIFT MT (FIN) messages: cash statements (MT940, MT942, MT950) and custody statements
//! (MT535 holdings, MT536 transactions, MT537 pending transactions).
//!
//! Code map:
//! - `split`: bytes → lines (CRLF, LF or CR; at most 64 KiB each) → messages (with or without
//!   FIN blocks 1–5, junk lines between them skipped; at most 16 MiB each). Each message is
//!   decoded on its own: UTF-8 when valid, else Windows-1252.
//! - `field`: a message's `:TAG:` fields with their continuation lines; dates, amounts with a
//!   decimal comma, balances.
//! - `cash`: MT940/942/950 → [`BankStatement`] and its entries (`:61:` + `:86:`).
//! - `info`: `:86:` text → [`crate::model::statement::EntryDetails`] (German `?20` subfields,
//!   SEPA `EREF+` keywords, Dutch `/EREF/` keywords).
//! - `custody`: MT535/536/537 → [`HoldingStatement`], [`TransactionStatement`].
//!
//! Decisions (the reasons are with the code):
//! - Signs: `C` and `RD` positive, `D` and `RC` negative (`cash`).
//! - `:86:` lines are joined as the format means them: a line filled to the width is wrapped
//!   (mid-word, mid-reference) and continues in the next; a shorter line ends a phrase (a space
//!   between); structured text (`?20` subfields, `/REMI/` keywords) is concatenated (`info`).
//! - Tolerated, because banks send it: junk lines between messages, `-XXX`/`-å`/`$` as message
//!   ends, no `-` at all, a lone `-` inside a hard-wrapped `:86:` (text when more text
//!   follows, see `split`), ING's `NOV ` type codes, a missing customer reference, missing type
//!   and reference (`…C1,00//REF`), a decimal dot instead of the comma, a timestamp wrapped
//!   into a line starting `:12:` inside `:86:`, prose after the closing balance of a message
//!   without `-`.
//! - Refused, because the data would be guessed: dates that do not exist, unknown fields, a
//!   second account or closing balance, a message without `:20:`/`:25:`/balances, an
//!   unclosed `:16R:` sequence.
//! - MT940 and MT942 may share a file (a FinTS/HBCI download); each message is read as its
//!   type says.
//!
//! **Invariant:** a file with any problem is refused whole; problems name the message, the
//! line and the field (`message 2: expected a value date YYMMDD, found "25133"`), up to
//! [`MAX_PROBLEMS`]. The one exception is a file whose last message is cut short (it ends at
//! the end of the file, without its terminator, with a problem at its last line): the messages
//! before it are read and the cut one is reported in [`MtFile::cut_short`], which the daemon
//! turns into a break. A file whose only message is cut short is refused. A statement that
//! does not add up is not a problem (see [`BankStatement::balance_difference`]).

mod cash;
mod custody;
mod field;
mod info;
mod split;
#[cfg(test)]
mod tests;

use std::io::BufRead;
use std::sync::Arc;

use memchr::memmem;

use super::sink::{Collect, StatementSink};
use super::{ExtractError, Input, MAX_PROBLEMS, Problem};
use crate::model::securities::{HoldingStatement, TransactionStatement};
use crate::model::statement::BankStatement;
use split::{End, RawMessage, SplitError, Splitter};

pub use split::{MAX_LINE, MAX_MESSAGE};

/// The SWIFT message types clerk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtType {
    Mt940,
    Mt942,
    Mt950,
    Mt535,
    Mt536,
    Mt537,
}

impl MtType {
    fn from_number(n: u16) -> Option<MtType> {
        Some(match n {
            940 => MtType::Mt940,
            942 => MtType::Mt942,
            950 => MtType::Mt950,
            535 => MtType::Mt535,
            536 => MtType::Mt536,
            537 => MtType::Mt537,
            _ => return None,
        })
    }

    /// `MT940`.
    pub fn name(self) -> &'static str {
        match self {
            MtType::Mt940 => "MT940",
            MtType::Mt942 => "MT942",
            MtType::Mt950 => "MT950",
            MtType::Mt535 => "MT535",
            MtType::Mt536 => "MT536",
            MtType::Mt537 => "MT537",
        }
    }

    /// A cash statement (MT940/942/950), read into [`BankStatement`]s.
    pub fn is_cash(self) -> bool {
        matches!(self, MtType::Mt940 | MtType::Mt942 | MtType::Mt950)
    }

    fn family(self) -> u8 {
        match self {
            MtType::Mt940 | MtType::Mt942 | MtType::Mt950 => 0,
            MtType::Mt535 => 1,
            MtType::Mt536 | MtType::Mt537 => 2,
        }
    }
}

impl std::fmt::Display for MtType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a file held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtDocument {
    Statements(Vec<BankStatement>),
    Holdings(Vec<HoldingStatement>),
    Transactions(Vec<TransactionStatement>),
}

/// How much of a file [`sniff`] looks at.
const SNIFF: usize = 8 * 1024;

/// Whether bytes look like SWIFT FIN and which message type: by block 2 (`{2:I940`,
/// `{2:O535…`), else by the fields present (`:61:`/`:60F:` → MT940, with `:34F:`/`:13D:` →
/// MT942; `:16R:` sequences → MT535, with `TRANSDET` → MT536, with `TRAN`/`STAT` → MT537).
/// Only the first 8 KiB are read. An MT950 without headers cannot be told from an MT940.
pub fn sniff(bytes: &[u8]) -> Option<MtType> {
    let head = &bytes[..bytes.len().min(SNIFF)];
    if memchr::memchr(0, head).is_some() {
        return None;
    }
    let mut from = 0;
    while let Some(p) = memmem::find(&head[from..], b"{2:") {
        let p = from + p;
        if let (Some(b'I' | b'O'), Some(n)) = (head.get(p + 3), head.get(p + 4..p + 7))
            && let Some(t) = std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse().ok())
                .and_then(MtType::from_number)
        {
            return Some(t);
        }
        from = p + 3;
    }
    let text = split::decode(head);
    guess(first_message(&text))
}

/// The text up to the second `:20:`: a FinTS download holds MT940 statements followed by an
/// MT942 interim report, and the file is what its first message is.
fn first_message(text: &str) -> &str {
    let Some(first) = text.find(":20:") else {
        return text;
    };
    let b = text.as_bytes();
    let second = text[first + 4..]
        .match_indices(":20:")
        .map(|(i, _)| first + 4 + i)
        .find(|&i| matches!(b[i - 1], b'\n' | b'\r'));
    &text[..second.unwrap_or(text.len())]
}

fn has_tag(text: &str, tag: &str) -> bool {
    text.starts_with(tag) || text.contains(&format!("\n{tag}"))
}

/// The message type from the fields present.
fn guess(text: &str) -> Option<MtType> {
    let text: std::borrow::Cow<'_, str> = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        text.into()
    };
    if has_tag(&text, ":16R:") {
        return Some(if has_tag(&text, ":16R:TRANSDET") {
            MtType::Mt536
        } else if has_tag(&text, ":16R:TRAN") || has_tag(&text, ":16R:STAT") {
            MtType::Mt537
        } else {
            MtType::Mt535
        });
    }
    let cash = [":61:", ":60F:", ":60M:", ":62F:", ":62M:", ":28C:", ":25:"];
    if has_tag(&text, ":20:") && cash.iter().any(|t| has_tag(&text, t)) {
        return Some(if has_tag(&text, ":34F:") || has_tag(&text, ":13D:") {
            MtType::Mt942
        } else {
            MtType::Mt940
        });
    }
    None
}

/// Problems found while reading a file, and where the current message is.
pub(super) struct Ctx<'a> {
    pub file_hash: &'a Arc<str>,
    /// The current message's position (1-based), first and last line.
    pub index: u32,
    pub start_line: u32,
    pub last_line: u32,
    pub problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn problem(&mut self, line: u32, tag: &str, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                sheet: None,
                row: Some(line),
                column: Some(format!(":{tag}:")),
                message: format!("message {}: {message}", self.index),
            });
        }
    }

    fn message_problem(&mut self, line: u32, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                sheet: None,
                row: Some(line),
                column: None,
                message: format!("message {}: {message}", self.index),
            });
        }
    }

    fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }
}

/// One message, read.
enum Read {
    Cash(BankStatement, Vec<crate::model::statement::StatementEntry>),
    Holding(HoldingStatement),
    Transactions(TransactionStatement),
    /// The message had problems (they are in the context).
    Failed,
}

/// Reads messages one at a time, keeping the problems of all of them.
struct Engine<'a, R> {
    name: &'a str,
    splitter: Splitter<R>,
    ctx: Ctx<'a>,
    expected: Option<MtType>,
    /// The first message's type: the file's.
    file_type: Option<MtType>,
    /// The last message, when the file ends inside it (see [`Engine::cut_short`]).
    cut: Option<Problem>,
}

impl<'a, R: BufRead> Engine<'a, R> {
    fn new(reader: R, name: &'a str, file_hash: &'a Arc<str>, expected: Option<MtType>) -> Self {
        Engine {
            name,
            splitter: Splitter::new(reader),
            ctx: Ctx {
                file_hash,
                index: 0,
                start_line: 0,
                last_line: 0,
                problems: Vec::new(),
            },
            expected,
            file_type: None,
            cut: None,
        }
    }

    fn fatal(&self, e: SplitError) -> ExtractError {
        let mut problems = self.ctx.problems.clone();
        problems.truncate(MAX_PROBLEMS - 1);
        problems.push(match e {
            SplitError::Io(err, line) => Problem {
                sheet: None,
                row: Some(line),
                column: None,
                message: format!("cannot be read: {err}"),
            },
            SplitError::LineTooLong(line) => Problem {
                sheet: None,
                row: Some(line),
                column: None,
                message: format!(
                    "the line is longer than {} KiB: not SWIFT MT text (whose lines are short)",
                    MAX_LINE / 1024
                ),
            },
            SplitError::MessageTooLarge { index, line } => Problem {
                sheet: None,
                row: Some(line),
                column: None,
                message: format!(
                    "message {index} is larger than {} MiB: refused",
                    MAX_MESSAGE / (1024 * 1024)
                ),
            },
        });
        ExtractError::new(self.name, problems)
    }

    /// The next message, or `None` at the end of the file (or when enough problems were found).
    fn next(&mut self) -> Result<Option<Read>, ExtractError> {
        if self.ctx.full() {
            return Ok(None);
        }
        let raw = match self.splitter.next_message() {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fatal(e)),
        };
        Ok(Some(self.read(raw)))
    }

    fn read(&mut self, raw: RawMessage) -> Read {
        let before = self.ctx.problems.len();
        let mut last_tag = None;
        let read = self.read_fields(&raw, &mut last_tag);
        if self.ctx.problems.len() > before {
            self.cut_short(&raw, before, last_tag.as_deref());
            Read::Failed
        } else {
            read
        }
    }

    /// A message with problems at the end of the file, not closed by its terminator, whose
    /// problems reach its last line (a missing closing balance or `-}`, a field cut off) is
    /// cut short: the bank's transfer broke off. Its problems are taken out of the file's and
    /// summed up in one, so the messages before it can be read (see [`Engine::finish`]).
    fn cut_short(&mut self, raw: &RawMessage, before: usize, last_tag: Option<&str>) {
        if raw.end != End::FileEnded {
            return;
        }
        let last = raw.last_content_line();
        // What was expected there: a field's problem (the closing balance) says more than the
        // missing `-}` of a FIN message.
        let at_end = self.ctx.problems[before..]
            .iter()
            .filter(|p| p.row.is_some_and(|r| r >= last));
        let Some(at_end) = at_end
            .clone()
            .find(|p| p.column.is_some())
            .or_else(|| at_end.clone().next())
            .cloned()
        else {
            return;
        };
        self.ctx.problems.truncate(before);
        let prefix = format!("message {}: ", raw.index);
        let what = at_end
            .message
            .strip_prefix(&prefix)
            .unwrap_or(&at_end.message);
        let inside = last_tag
            .map(|t| format!(" inside :{t}:"))
            .unwrap_or_default();
        self.cut = Some(Problem {
            message: format!(
                "message {} is cut short: the file ends at line {last}{inside}; {what}",
                raw.index
            ),
            row: Some(last),
            ..at_end
        });
    }

    /// Reads one message; `last_tag` is set to the tag of its last field.
    fn read_fields(&mut self, raw: &RawMessage, last_tag: &mut Option<String>) -> Read {
        self.ctx.index = raw.index;
        self.ctx.start_line = raw.start_line;
        self.ctx.last_line = raw.last_line;
        if memchr::memchr(0, &raw.text).is_some() {
            self.ctx.message_problem(
                raw.start_line,
                "binary content (NUL bytes): not a SWIFT MT message".into(),
            );
            return Read::Failed;
        }
        let text = split::decode(&raw.text);
        if raw.headered && !matches!(raw.end, End::Terminated(_)) {
            self.ctx.message_problem(
                raw.last_line,
                "no -} closes the message's text block".into(),
            );
        }
        let ty = match self.message_type(raw, &text) {
            Ok(t) => t,
            Err(m) => {
                self.ctx.message_problem(raw.start_line, m);
                return Read::Failed;
            }
        };
        match self.file_type {
            None => self.file_type = Some(ty),
            Some(ft) if ft.family() != ty.family() => {
                self.ctx.message_problem(
                    raw.start_line,
                    format!("an {ty} message in a file of {ft} messages"),
                );
                return Read::Failed;
            }
            Some(_) => {}
        }
        if ty.is_cash() {
            let (fields, stray) =
                field::split_fields(&text, raw.text_line, cash::known_tag, cash::is_free_text);
            if let Some(line) = stray {
                self.ctx
                    .message_problem(line, "text before the first field".into());
            }
            if fields.is_empty() {
                self.ctx
                    .message_problem(raw.start_line, "the message has no fields".into());
                return Read::Failed;
            }
            *last_tag = fields.last().map(|f| f.tag.to_owned());
            let bic = raw.block2.as_ref().and_then(|b| b.sender_bic.as_deref());
            match cash::statement(&mut self.ctx, ty, &fields, bic) {
                Some((s, e)) => Read::Cash(s, e),
                None => Read::Failed,
            }
        } else {
            let (fields, stray) = field::split_fields(&text, raw.text_line, |_| true, |_| false);
            if let Some(line) = stray {
                self.ctx
                    .message_problem(line, "text before the first field".into());
            }
            *last_tag = fields.last().map(|f| f.tag.to_owned());
            custody::message(&mut self.ctx, ty, &fields)
        }
    }

    fn message_type(&self, raw: &RawMessage, text: &str) -> Result<MtType, String> {
        let ty = match &raw.block2 {
            Some(b) => MtType::from_number(b.number).ok_or_else(|| {
                format!(
                    "an MT{} message: clerk reads MT940, MT942, MT950, MT535, MT536 and MT537",
                    b.number
                )
            })?,
            None => match guess(text) {
                // Without headers an MT950 looks like an MT940.
                Some(MtType::Mt940) if self.expected == Some(MtType::Mt950) => MtType::Mt950,
                Some(t) => t,
                None => {
                    // A bare message: a cash statement if it starts with :20:.
                    if text.trim_start().starts_with(":20:") {
                        MtType::Mt940
                    } else {
                        return Err("not a SWIFT MT statement: expected :20: or :16R:GENL as the first field".into());
                    }
                }
            },
        };
        // MT940 and MT942 share a file in a FinTS/HBCI download (the day's statements, then
        // the interim report): either may follow the other, each read as what it is.
        let statement_and_report = |t| matches!(t, MtType::Mt940 | MtType::Mt942);
        if let Some(e) = self.expected
            && e != ty
            && !(statement_and_report(e) && statement_and_report(ty))
        {
            return Err(format!("expected an {e}, found an {ty}"));
        }
        Ok(ty)
    }

    /// The end: the file's type, or every problem found.
    /// The end: the file's type and the last message if it was cut short, or every problem
    /// found. A file whose only message is cut short, or with other problems, is refused.
    fn finish(mut self) -> Result<(MtType, Option<Problem>), ExtractError> {
        let cut = self.cut.take().map(|mut p| {
            let before = self.ctx.index - 1;
            if before > 0 && self.ctx.problems.is_empty() {
                p.message.push_str(&format!(
                    "; the {before} {} before it {} read, this one was not: ask the bank to send it again",
                    if before == 1 { "message" } else { "messages" },
                    if before == 1 { "was" } else { "were" },
                ));
            }
            p
        });
        if let Some(p) = &cut
            && (self.ctx.index == 1 || !self.ctx.problems.is_empty())
        {
            self.ctx.problems.push(p.clone());
        }
        if !self.ctx.problems.is_empty() {
            return Err(ExtractError::new(self.name, self.ctx.problems));
        }
        let ty = self.file_type.ok_or_else(|| {
            ExtractError::whole(
                self.name,
                "not a SWIFT MT message: no FIN block ({1:…}{2:…}{4:) and no :20: or :16R: field found",
            )
        })?;
        Ok((ty, cut))
    }
}

/// A file read: what it held, and its last message if the file ends inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtFile {
    /// The first message's type.
    pub ty: MtType,
    pub doc: MtDocument,
    /// The last message, cut short (the bank's transfer broke off): the messages before it
    /// were read, this one was not. Says where the file ends and what was expected there.
    pub cut_short: Option<Problem>,
}

/// Reads a whole file (all messages). `expected` pins the type: a message of another type is
/// an error (an MT950 without headers is read as the MT950 it is said to be; MT940 and MT942
/// may share a file).
pub fn parse(input: &Input<'_>, expected: Option<MtType>) -> Result<MtFile, ExtractError> {
    let mut engine = Engine::new(input.bytes, input.name, &input.file_hash, expected);
    let mut cash = Collect::default();
    let mut holdings = Vec::new();
    let mut transactions = Vec::new();
    while let Some(read) = engine.next()? {
        match read {
            Read::Cash(s, entries) => {
                for e in entries {
                    // Collect never fails.
                    let _ = cash.entry(e);
                }
                let _ = cash.statement(s);
            }
            Read::Holding(h) => holdings.push(h),
            Read::Transactions(t) => transactions.push(t),
            Read::Failed => {}
        }
    }
    let (ty, cut_short) = engine.finish()?;
    let doc = match ty.family() {
        0 => MtDocument::Statements(cash.statements),
        1 => MtDocument::Holdings(holdings),
        _ => MtDocument::Transactions(transactions),
    };
    Ok(MtFile { ty, doc, cut_short })
}

/// Streams cash statements (MT940/942/950) from a reader, one message at a time: memory is
/// bounded by the largest message. Each entry goes to the sink as soon as its message is read,
/// followed by its statement. On an error the file is refused whole: whatever the sink received
/// must be discarded (nothing more is sent once a problem was found; reading goes on to list up
/// to [`MAX_PROBLEMS`] problems). Returns the file's type and its last message if it was cut
/// short (as [`MtFile::cut_short`]).
pub fn read_statements(
    reader: impl BufRead,
    name: &str,
    file_hash: Arc<str>,
    sink: &mut dyn StatementSink,
) -> Result<(MtType, Option<Problem>), ExtractError> {
    let mut engine = Engine::new(reader, name, &file_hash, None);
    while let Some(read) = engine.next()? {
        match read {
            Read::Cash(s, entries) if engine.ctx.problems.is_empty() => {
                for e in entries {
                    sink.entry(e)?;
                }
                sink.statement(s)?;
            }
            Read::Holding(_) | Read::Transactions(_) => {
                let line = engine.ctx.start_line;
                engine.ctx.message_problem(
                    line,
                    "a custody statement (MT535/536/537): read it with swift::parse".into(),
                );
            }
            _ => {}
        }
    }
    let (ty, cut_short) = engine.finish()?;
    if !ty.is_cash() {
        return Err(ExtractError::whole(
            name,
            format!("an {ty}, not a cash statement (MT940, MT942, MT950)"),
        ));
    }
    Ok((ty, cut_short))
}
