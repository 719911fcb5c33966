//! A raw message → who sent it, its subject and its attachments (mail-parser underneath). No
//! I/O: bytes in, plain data out.
//!
//! What counts as an attachment: every part with a file name (inline or not, at any depth of
//! nested multiparts and forwarded `message/rfc822` messages), every non-text part, and text
//! parts sent with `Content-Disposition: attachment`. The message's own text and HTML bodies
//! are not attachments. A ZIP attachment (by its name) is unpacked, one level, each file in it
//! becoming an attachment; a ZIP inside it is refused.
//!
//! What is refused rather than taken, each with a reason for the person who sent it: Outlook's
//! `winmail.dat` (TNEF), parts over the size limit, ZIPs with too many files or unpacking to
//! too much (counted while decompressing: declared sizes lie), encrypted ZIP entries, forwarded
//! messages nested deeper than [`MAX_FORWARD_DEPTH`], parts whose encoding is broken.
//!
//! A whole message is refused ([`MailReadError`]) when it is larger than its limit, has more
//! MIME parts than its limit, or more forwarded messages than [`MAX_FORWARDED`] (both counted
//! on the raw bytes before parsing, so a message of 100,000 tiny parts costs a scan, not
//! 100,000 allocations, and 40,000 forwards nested in each other cannot exhaust the stack), or
//! is not a mail at all. Nothing here recurses over the message's structure: parts are walked
//! with a stack of their own.
//!
//! Who sent it is taken only when it is unambiguous: one `From` header naming one plain
//! address; otherwise [`ParsedMail::from_problem`] says why, and the mail is refused. What a
//! mail says of itself (sender, subject, Message-ID) is cut to a sane length here, so no log
//! line, break, alert or summary can grow with a hostile header.
//!
//! **Invariant:** a name taken from a mail never decides a path on disk: [`safe_name`] reduces
//! it to one harmless file name; the name as sent is kept in `original_name` for messages.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Cursor, Read};

use chrono::{DateTime, Utc};
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::digest::sha256_hex;
use crate::fsx;

/// Forwarded messages inside forwarded messages are read this deep (1 = a forwarded message's
/// own attachments); deeper ones are refused.
pub const MAX_FORWARD_DEPTH: usize = 3;
/// A message with more forwarded messages than this (`message/rfc822` parts, nested or side by
/// side, counted on the raw bytes) is refused unread: far more than anyone forwards, and each
/// one nested in another is a level the parser must build and free.
pub const MAX_FORWARDED: usize = 100;
/// Longest safe name, in bytes: room for clerk's " (2)" and ".error.txt" on any file system.
const MAX_NAME_BYTES: usize = 150;
/// A subject or a From header is cut to this many characters: enough to recognise a mail, too
/// few for a hostile one to swell logs, breaks, alerts and summaries.
pub const MAX_HEADER_CHARS: usize = 200;
/// A Message-ID longer than this is kept as its start and a hash of the whole.
const MAX_MESSAGE_ID_BYTES: usize = 250;
/// The longest address SMTP carries (RFC 5321).
const MAX_ADDRESS_BYTES: usize = 254;

const MB: u64 = 1024 * 1024;

/// Bounds on one message, so a hostile or broken one costs bounded memory and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailLimits {
    /// The raw message, in bytes.
    pub max_message: u64,
    /// One attachment (or one file inside a ZIP), in bytes, decoded.
    pub max_attachment: u64,
    /// Files in one ZIP attachment.
    pub max_zip_entries: usize,
    /// Everything unpacked from the ZIP attachments of one message, in bytes.
    pub max_unzipped: u64,
    /// MIME parts in the message, forwarded messages' parts included.
    pub max_parts: usize,
}

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            max_message: 50 * MB,
            max_attachment: 25 * MB,
            max_zip_entries: 200,
            max_unzipped: 200 * MB,
            max_parts: 1000,
        }
    }
}

/// What clerk takes from one message.
#[derive(Clone, Debug, Default)]
pub struct ParsedMail {
    /// Without angle brackets; a very long one shortened (see [`MAX_MESSAGE_ID_BYTES`]).
    pub message_id: Option<String>,
    /// The From address alone (no display name), lower-case; `None` when there is none or it
    /// is ambiguous ([`ParsedMail::from_problem`]).
    pub from: Option<String>,
    /// Why the sender cannot be told: two From headers, more than one address in it, an
    /// address with more than one `@`. Such a mail is refused, whatever the allowlist says.
    pub from_problem: Option<String>,
    /// The From header(s) as written, on one line and cut, for messages about the mail.
    pub from_header: String,
    /// Decoded, control characters (CR, LF, ...) replaced by spaces, cut to
    /// [`MAX_HEADER_CHARS`].
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub attachments: Vec<MailAttachment>,
    /// Parts that looked like files but are not taken, and why.
    pub refused: Vec<RefusedPart>,
    /// The message's own `Authentication-Results` headers (RFC 8601), unfolded, each cut to
    /// a few KB; see [`ParsedMail::dmarc_verified`].
    pub authentication_results: Vec<String>,
}

/// One file taken from a message.
#[derive(Clone, PartialEq, Eq)]
pub struct MailAttachment {
    /// A safe file name ([`safe_name`]): one component, no control characters, no leading dot.
    pub name: String,
    /// The name as the message gave it (decoded), when there was one; for messages only.
    pub original_name: Option<String>,
    /// `type/subtype`, lower-case, as the message declared it (`application/octet-stream`
    /// when it did not). A file from a ZIP has `application/octet-stream`.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Where in the message: the IMAP part number with `/` (`"2/1"`), and for a file from a
    /// ZIP the ZIP's part and name and the file's path in it (`"2/statements.zip/may.sta"`).
    pub path_in_mail: String,
}

impl std::fmt::Debug for MailAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailAttachment")
            .field("name", &self.name)
            .field("original_name", &self.original_name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .field("sha256", &self.sha256)
            .field("path_in_mail", &self.path_in_mail)
            .finish()
    }
}

/// A part that is not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedPart {
    /// Its safe name, or where it is in the message when it had none.
    pub name: String,
    /// A sentence for the sender or the operator.
    pub why: String,
}

/// Why a whole message cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailReadError {
    #[error("the message is {size} bytes, more than the limit of {max} bytes (max_message_mb)")]
    TooLarge { size: u64, max: u64 },
    #[error(
        "the message has more than {max} MIME parts (max_parts): refused unread, it is \
         broken or hostile"
    )]
    TooManyParts { max: usize },
    #[error(
        "the message holds more than {max} forwarded messages (message/rfc822 parts, nested or \
         side by side, counted before reading it): refused unread, it is broken or hostile"
    )]
    TooManyForwarded { max: usize },
    #[error("not a mail message: {0}")]
    NotAMail(String),
}

/// Reads a raw message (RFC 5322, as IMAP `BODY[]` or a Maildir file holds it).
pub fn parse_mail(raw: &[u8], limits: &MailLimits) -> Result<ParsedMail, MailReadError> {
    if raw.len() as u64 > limits.max_message {
        return Err(MailReadError::TooLarge {
            size: raw.len() as u64,
            max: limits.max_message,
        });
    }
    if count_delimiters(raw, limits.max_parts) > limits.max_parts {
        return Err(MailReadError::TooManyParts {
            max: limits.max_parts,
        });
    }
    if count_forwarded(raw, MAX_FORWARDED) > MAX_FORWARDED {
        return Err(MailReadError::TooManyForwarded { max: MAX_FORWARDED });
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| MailReadError::NotAMail("no header could be read".to_owned()))?;
    if !looks_like_mail(&message) {
        return Err(MailReadError::NotAMail(
            "none of From, Date, Subject, Message-ID or Content-Type is there".to_owned(),
        ));
    }
    if count_parts(&message, limits.max_parts) > limits.max_parts {
        return Err(MailReadError::TooManyParts {
            max: limits.max_parts,
        });
    }

    let mut walk = Walk {
        limits,
        attachments: Vec::new(),
        refused: Vec::new(),
        unzipped: 0,
        seen: 0,
    };
    walk.message(&message);
    let headers = headers_of(&message);
    Ok(ParsedMail {
        attachments: walk.attachments,
        refused: walk.refused,
        ..headers
    })
}

/// Sender, subject, date, Message-ID and Authentication-Results of a message, from its
/// top-level headers alone: for a message that could not be read whole (one that crashed
/// clerk), so that what is said about it still names it. `None` when not even the headers
/// read.
pub fn read_headers(raw: &[u8]) -> Option<ParsedMail> {
    MessageParser::default()
        .parse_headers(raw)
        .map(|m| headers_of(&m))
}

/// What the top-level headers say, checked and cut (see the module docs).
fn headers_of(message: &Message<'_>) -> ParsedMail {
    let from_values: Vec<&str> = message
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("From"))
        .map(|(_, value)| value)
        .collect();
    let from_header = cut(&one_line(&from_values.join(" / ")), MAX_HEADER_CHARS);
    let (from, from_problem) = match from_values.len() {
        0 => (None, None),
        1 => match sender(message) {
            Ok(a) => (Some(a), None),
            Err(why) => (None, Some(why)),
        },
        n => (
            None,
            Some(format!(
                "it has {} From headers, and a mail has one: which to believe is the forger's \
                 choice",
                if n == 2 {
                    "two".to_owned()
                } else {
                    n.to_string()
                }
            )),
        ),
    };
    ParsedMail {
        message_id: message.message_id().and_then(|id| {
            let id = id.trim().trim_matches(['<', '>']);
            (!id.is_empty()).then(|| short_message_id(&one_line(id)))
        }),
        from,
        from_problem,
        from_header,
        subject: cut(
            &one_line(message.subject().unwrap_or_default()),
            MAX_HEADER_CHARS,
        ),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        attachments: Vec::new(),
        refused: Vec::new(),
        authentication_results: message
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
            .take(50)
            .map(|(_, value)| cut(&one_line(value), 4000))
            .collect(),
    }
}

/// The one plain address of the (one) From header, lower-case; or why there is none.
fn sender(message: &Message<'_>) -> Result<String, String> {
    let Some(list) = message.from() else {
        return Err("its From header names no address".to_owned());
    };
    let all: Vec<&str> = list.iter().filter_map(|a| a.address.as_deref()).collect();
    let address = match (all.as_slice(), list.iter().count()) {
        ([], _) => return Err("its From header names no address".to_owned()),
        ([one], 1) => one.trim().to_lowercase(),
        _ => {
            return Err(
                "its From header names more than one address (or a group): which one sent it \
                 cannot be told"
                    .to_owned(),
            );
        }
    };
    plain_address(&address)
        .map(|()| address.clone())
        .map_err(|why| {
            format!(
                "its From address \"{}\" is not one plain address: {why}",
                cut(&one_line(&address), MAX_HEADER_CHARS)
            )
        })
}

/// `local@domain` and nothing else: one `@`, no spaces, brackets, quotes or commas (a parser
/// that joins two addresses into one string, or an address with two `@`, would let the last
/// `@` pick an allowed domain), a domain of letters, digits, hyphens and dots (letters of any
/// script: internationalised addresses are addresses).
fn plain_address(a: &str) -> Result<(), &'static str> {
    if a.len() > MAX_ADDRESS_BYTES {
        return Err("it is longer than any address can be");
    }
    let mut at = a.split('@');
    let (Some(local), Some(domain), None) = (at.next(), at.next(), at.next()) else {
        return Err("it holds more than one @ (more than one address run together)");
    };
    if local.is_empty()
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
    {
        return Err("its part before the @ is empty or holds characters no address has");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.split('.').all(label_ok) {
        return Err("its domain is not a domain name");
    }
    Ok(())
}

impl ParsedMail {
    /// The domain of the From address.
    pub fn from_domain(&self) -> Option<&str> {
        self.from
            .as_deref()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d)
    }

    /// Whether an `Authentication-Results` header of the trusted server `authserv_id` says
    /// `dmarc=pass` for the From address's domain (RFC 8601 and 7489): the mail server checked
    /// SPF and DKIM against the From header and they agree. Headers of any other server are
    /// ignored; they could come from anyone. `Err` says what was found instead.
    pub fn dmarc_verified(&self, authserv_id: &str) -> Result<(), String> {
        let Some(domain) = self.from_domain() else {
            return Err("it has no sender to verify".to_owned());
        };
        let mut said = Vec::new();
        for header in &self.authentication_results {
            let Some(results) = auth_results(header, authserv_id) else {
                continue;
            };
            for (method, result, props) in results {
                if !method.eq_ignore_ascii_case("dmarc") {
                    continue;
                }
                let about = props
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("header.from"))
                    .map(|(_, v)| v.as_str());
                if result.eq_ignore_ascii_case("pass")
                    && about.is_some_and(|d| d.eq_ignore_ascii_case(domain))
                {
                    return Ok(());
                }
                said.push(format!(
                    "dmarc={result}{}",
                    about
                        .map(|d| format!(" header.from={d}"))
                        .unwrap_or_default()
                ));
            }
        }
        Err(if said.is_empty() {
            format!(
                "it carries no Authentication-Results header of {authserv_id} with a DMARC \
                 verdict, so nothing says dmarc=pass for {domain}"
            )
        } else {
            format!(
                "the Authentication-Results of {authserv_id} say {}, not dmarc=pass for {domain}",
                cut(&said.join(", "), MAX_HEADER_CHARS)
            )
        })
    }
}

/// One `Authentication-Results` value: `None` unless its authserv-id is `authserv_id`;
/// otherwise each result as (method, result, properties). Comments are dropped.
#[allow(clippy::type_complexity)]
fn auth_results(
    value: &str,
    authserv_id: &str,
) -> Option<Vec<(String, String, Vec<(String, String)>)>> {
    let text = without_comments(value);
    let mut pieces = text.split(';');
    let id = pieces.next()?.split_whitespace().next()?;
    if !id.eq_ignore_ascii_case(authserv_id) {
        return None;
    }
    let mut out = Vec::new();
    for piece in pieces {
        let mut words = piece.split_whitespace();
        let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let method = method.split('/').next().unwrap_or(method);
        let props = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        out.push((method.to_owned(), result.to_owned(), props));
    }
    Some(out)
}

/// A header value with its (nested) comments removed; a quoted string is kept whole, so a
/// parenthesis inside quotes is not a comment.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn looks_like_mail(m: &Message<'_>) -> bool {
    m.from().is_some()
        || m.date().is_some()
        || m.subject().is_some()
        || m.message_id().is_some()
        || m.root_part().content_type().is_some()
}

/// Control characters (CR, LF, tabs, ...) become spaces; the ends are trimmed.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `s` cut to at most `max` characters (counted as characters, never splitting one), with
/// `…` and the size of the whole when cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!(
            "{}… ({} characters)",
            s.get(..end).unwrap_or(""),
            s.chars().count()
        ),
    }
}

/// A Message-ID as kept: whole when short; otherwise its start and a hash of the whole, so
/// two long ones that begin alike stay apart.
fn short_message_id(id: &str) -> String {
    if id.len() <= MAX_MESSAGE_ID_BYTES {
        return id.to_owned();
    }
    let start: String = id.chars().take(100).collect();
    let hash: String = sha256_hex(id.as_bytes()).chars().take(16).collect();
    format!("{start}…#{hash}")
}

/// All parts, forwarded messages' parts included; stops counting past `cap`.
fn count_parts(m: &Message<'_>, cap: usize) -> usize {
    let mut n = 0;
    let mut todo = vec![m];
    while let Some(m) = todo.pop() {
        n += m.parts.len();
        if n > cap {
            break;
        }
        for p in &m.parts {
            if let PartType::Message(inner) = &p.body {
                todo.push(inner);
            }
        }
    }
    n
}

/// An upper bound on the parts mail-parser would make of `raw`, found without parsing: the
/// lines that open a part (`--` and one of the message's `boundary=` values). Stops past
/// `cap`. (Parts of base64-encoded forwarded messages are not seen here; they are counted
/// after parsing, and their size is bounded by the message's.)
fn count_delimiters(raw: &[u8], cap: usize) -> usize {
    let mut boundaries: HashSet<&[u8]> = HashSet::new();
    let needle = b"boundary=";
    let mut i = 0;
    while let Some(pos) = find_ignore_case(&raw[i..], needle) {
        let start = i + pos + needle.len();
        let rest = &raw[start..];
        let value = if let Some(quoted) = rest.strip_prefix(b"\"") {
            let end = memchr::memchr(b'"', quoted).unwrap_or(quoted.len());
            &quoted[..end]
        } else {
            let end = rest
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !value.is_empty() {
            boundaries.insert(value);
            if boundaries.len() > cap {
                return cap + 1;
            }
        }
        i = start;
    }
    if boundaries.is_empty() {
        return 1;
    }
    let mut count = 1;
    for line in raw.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"--") else {
            continue;
        };
        let rest = rest.trim_ascii_end();
        // A closing delimiter (`--boundary--`) opens no part.
        if boundaries.contains(rest) {
            count += 1;
            if count > cap {
                return count;
            }
        }
    }
    count
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(p) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let at = from + p;
        if hay.len() - at >= needle.len() && hay[at..at + needle.len()].eq_ignore_ascii_case(needle)
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// An upper bound on the forwarded messages (`message/rfc822` and `message/global` parts, and
/// the parts of a `multipart/digest`, which are messages by default) mail-parser would build
/// of `raw`, found without parsing. Stops past `cap`.
///
/// Counted: every `message` followed (after spaces, line breaks, quotes and comments, as the
/// parser allows) by `/`, anywhere; with `digest` present, every line that opens a part as
/// well. Forwards can hide inside encoded parts, which the parser decodes and reads up to three
/// levels deep: quoted-printable text is read as the parser would decode it, and the base64
/// body of a part whose headers name a message or a digest is decoded (as leniently as the
/// parser decodes it) and counted in turn. Decoding is bounded by twice the message's size;
/// a message needing more is past the cap.
fn count_forwarded(raw: &[u8], cap: usize) -> usize {
    /// The parser reads encoded forwards three levels deep; one more for a quoted-printable
    /// view counted at the level of its source.
    const LEVELS: usize = 4;
    let budget = raw.len().saturating_mul(2).saturating_add(64 * 1024);
    let mut decoded = 0usize;
    let mut count = 0usize;
    let mut todo: Vec<(Cow<'_, [u8]>, usize)> = vec![(Cow::Borrowed(raw), 0)];
    while let Some((buf, level)) = todo.pop() {
        let qp = find_ignore_case(&buf, b"quoted-printable").map(|_| quoted_printable_view(&buf));
        // The decoded view holds every token the text holds, and those quoted-printable hid.
        let view: &[u8] = qp.as_deref().unwrap_or(&buf);
        count = count.saturating_add(message_tokens(view));
        let digest = find_ignore_case(view, b"digest").is_some();
        if digest {
            count = count.saturating_add(part_lines(view));
        }
        if count > cap {
            return count;
        }
        if level >= LEVELS {
            continue;
        }
        // In a digest a part is a message without saying so: every encoded body may be one.
        for source in [Some(&buf[..]), qp.as_deref()].into_iter().flatten() {
            if find_ignore_case(source, b"base64").is_none() {
                continue;
            }
            for body in encoded_message_bodies(source, digest) {
                let bytes = decode_base64_leniently(body);
                decoded = decoded.saturating_add(bytes.len());
                if decoded > budget {
                    return cap + 1;
                }
                todo.push((Cow::Owned(bytes), level + 1));
            }
        }
    }
    count
}

/// How many times `message` appears followed by `/` (after what the parser skips there).
fn message_tokens(buf: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = find_ignore_case(buf.get(i..).unwrap_or_default(), b"message") {
        let mut j = i + p + b"message".len();
        let mut depth = 0usize;
        while let Some(&b) = buf.get(j) {
            match b {
                b'\\' if depth > 0 => j += 1,
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                b' ' | b'\t' | b'\r' | b'\n' | b'"' => {}
                _ if depth > 0 => {}
                _ => break,
            }
            j += 1;
        }
        if buf.get(j) == Some(&b'/') {
            n += 1;
        }
        // On from where the skipping stopped: a `message` inside a comment is no type.
        i = j.max(i + p + 1);
    }
    n
}

/// Lines that begin with `--`: at least every line that opens a MIME part.
fn part_lines(buf: &[u8]) -> usize {
    buf.split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"--"))
        .count()
}

/// The base64 bodies, as sent, of the parts whose header block names a message (with
/// `any_part`, of every part): from the empty line after the headers to where the parser's
/// base64 decoder would stop (`--`, or a character it does not take).
fn encoded_message_bodies(buf: &[u8], any_part: bool) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut block_start = 0;
    let mut at = 0;
    while at < buf.len() {
        let end = memchr::memchr(b'\n', buf.get(at..).unwrap_or_default())
            .map_or(buf.len(), |p| at + p + 1);
        let line = buf.get(at..end).unwrap_or_default();
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if bare.is_empty() {
            let block = buf.get(block_start..at).unwrap_or_default();
            let may_be_message = any_part || message_tokens(block) > 0;
            if may_be_message && find_ignore_case(block, b"base64").is_some() {
                let body = buf.get(end..).unwrap_or_default();
                let len = base64_extent(body);
                if len > 0 {
                    out.push(body.get(..len).unwrap_or_default());
                }
            }
            block_start = end;
        } else if bare.starts_with(b"--") {
            block_start = end;
        }
        at = end;
    }
    out
}

/// How much of `body` mail-parser's base64 decoder would read: the alphabet, `=`, white
/// space and single `-`, up to `--` or any other character.
fn base64_extent(body: &[u8]) -> usize {
    let mut last = 0u8;
    for (i, &b) in body.iter().enumerate() {
        let taken = b.is_ascii_alphanumeric()
            || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n')
            || (b == b'-' && last != b'-');
        if !taken {
            return if b == b'-' { i - 1 } else { i };
        }
        last = b;
    }
    body.len()
}

/// Base64 decoded as mail-parser decodes a part: white space and single `-` skipped, `=`
/// ending a group wherever it stands and decoding going on after it.
fn decode_base64_leniently(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut group = [0u8; 4];
    let mut n = 0;
    for &b in text {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                match n {
                    1 => out.push(group[0] << 2),
                    2 => out.push(group[0] << 2 | group[1] >> 4),
                    3 => {
                        out.push(group[0] << 2 | group[1] >> 4);
                        out.push(group[1] << 4 | group[2] >> 2);
                    }
                    _ => {}
                }
                n = 0;
                continue;
            }
            _ => continue,
        };
        group[n] = v;
        n += 1;
        if n == 4 {
            out.push(group[0] << 2 | group[1] >> 4);
            out.push(group[1] << 4 | group[2] >> 2);
            out.push(group[2] << 6 | group[3]);
            n = 0;
        }
    }
    out
}

/// Quoted-printable text decoded as mail-parser decodes a part (`=XX`, soft line breaks,
/// trailing white space dropped), but never failing: a broken escape is kept as it stands.
fn quoted_printable_view(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut eq = false;
    // The first digit of an escape: its value and the character as sent.
    let mut high: Option<(u8, u8)> = None;
    let mut trailing = 0usize;
    for &b in text {
        match b {
            b'\r' => {}
            b'\n' => {
                if eq && high.is_none() {
                    eq = false;
                } else {
                    out.truncate(out.len() - trailing);
                    out.push(b'\n');
                }
                trailing = 0;
            }
            _ if high.is_some() => {
                let (h, sent) = high.take().unwrap_or_default();
                eq = false;
                match hex(b) {
                    Some(l) => out.push(h << 4 | l),
                    None => out.extend_from_slice(&[b'=', sent, b]),
                }
                trailing = 0;
            }
            _ if eq => match hex(b) {
                Some(h) => high = Some((h, b)),
                None if b == b' ' || b == b'\t' => {}
                None => {
                    eq = false;
                    out.extend_from_slice(&[b'=', b]);
                    trailing = 0;
                }
            },
            b'=' => eq = true,
            _ => {
                trailing = if b == b' ' || b == b'\t' {
                    trailing + 1
                } else {
                    0
                };
                out.push(b);
            }
        }
    }
    out
}

/// The walk over a message's parts, collecting what it finds.
struct Walk<'l> {
    limits: &'l MailLimits,
    attachments: Vec<MailAttachment>,
    refused: Vec<RefusedPart>,
    /// Bytes unpacked from ZIPs so far, for `max_unzipped`.
    unzipped: u64,
    /// Candidate files seen so far: the N of `attachment-N.bin`.
    seen: usize,
}

fn join(prefix: &str, n: usize) -> String {
    if prefix.is_empty() {
        n.to_string()
    } else {
        format!("{prefix}/{n}")
    }
}

/// Why a part's content is not taken when its transfer encoding does not decode.
const UNDECODABLE: &str = "its content could not be decoded (broken base64 or quoted-printable, \
                           or a forwarded message nested too deep)";

/// Queues a (forwarded) message's parts: the children of its multipart root, or its one body
/// as part 1 (IMAP numbering).
fn push_message<'m, 'x>(
    todo: &mut Vec<Visit<'m, 'x>>,
    m: &'m Message<'x>,
    raw: &'m [u8],
    prefix: &str,
    depth: usize,
) {
    match m.parts.first().map(|root| &root.body) {
        Some(PartType::Multipart(children)) => push_children(todo, m, raw, children, prefix, depth),
        Some(_) => todo.push(Visit {
            m,
            raw,
            id: 0,
            path: join(prefix, 1),
            depth,
        }),
        None => {}
    }
}

/// Queues the children of a multipart so that they come off the stack in order.
fn push_children<'m, 'x>(
    todo: &mut Vec<Visit<'m, 'x>>,
    m: &'m Message<'x>,
    raw: &'m [u8],
    children: &[u32],
    prefix: &str,
    depth: usize,
) {
    for (i, &id) in children.iter().enumerate().rev() {
        todo.push(Visit {
            m,
            raw,
            id: id as usize,
            path: join(prefix, i + 1),
            depth,
        });
    }
}

/// A part still to look at: where it is, and how deep in forwarded messages.
struct Visit<'m, 'x> {
    m: &'m Message<'x>,
    /// The bytes the part's offsets count in: the top message's, also for a forwarded message
    /// sent as it is; the decoded bytes of one sent base64- or quoted-printable-encoded.
    raw: &'m [u8],
    id: usize,
    path: String,
    depth: usize,
}

impl Walk<'_> {
    /// Every part of the top message, in order, with a stack of its own: nesting costs heap,
    /// never the thread's stack.
    fn message(&mut self, top: &Message<'_>) {
        let mut todo: Vec<Visit<'_, '_>> = Vec::new();
        push_message(&mut todo, top, top.raw_message(), "", 0);
        while let Some(Visit {
            m,
            raw,
            id,
            path,
            depth,
        }) = todo.pop()
        {
            let Some(part) = m.parts.get(id) else {
                continue;
            };
            match &part.body {
                PartType::Multipart(children) => {
                    push_children(&mut todo, m, raw, children, &path, depth)
                }
                PartType::Message(inner) => {
                    if depth + 1 > MAX_FORWARD_DEPTH {
                        self.refused.push(RefusedPart {
                            name: format!("part {path}"),
                            why: format!(
                                "a forwarded message nested more than {MAX_FORWARD_DEPTH} deep; \
                                 forward the original message instead"
                            ),
                        });
                    } else {
                        let inner_raw = if part.encoding == Encoding::None {
                            raw
                        } else {
                            inner.raw_message()
                        };
                        push_message(&mut todo, inner, inner_raw, &path, depth + 1);
                    }
                }
                PartType::Text(_) | PartType::Html(_) => {
                    let attached = part
                        .content_disposition()
                        .is_some_and(|d| d.is_attachment());
                    if part.attachment_name().is_some() || attached {
                        // mail-parser has turned the text into UTF-8; the file is the bytes as
                        // sent, decoded from the transfer encoding only.
                        let bytes = raw_body(raw, part);
                        self.file(part, bytes, &path);
                    }
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    let bytes = if part.is_encoding_problem {
                        Err(UNDECODABLE.to_owned())
                    } else {
                        whole_base64(raw, part).map(|()| Cow::Borrowed(bytes.as_ref()))
                    };
                    self.file(part, bytes, &path);
                }
            }
        }
    }

    /// One candidate file: refused, unpacked (a ZIP) or taken.
    fn file(&mut self, part: &MessagePart<'_>, bytes: Result<Cow<'_, [u8]>, String>, path: &str) {
        self.seen += 1;
        let original = part.attachment_name().map(str::to_owned);
        let name = safe_name(original.as_deref().unwrap_or(""), self.seen);
        let content_type = content_type(part);
        let refuse = |why: String| RefusedPart {
            name: name.clone(),
            why,
        };
        if content_type.ends_with("/ms-tnef")
            || content_type.ends_with("/vnd.ms-tnef")
            || name.eq_ignore_ascii_case("winmail.dat")
        {
            self.refused.push(refuse(
                "a Microsoft Outlook winmail.dat; ask the sender to send the files themselves \
                 (Outlook: send as plain text or HTML, not Rich Text)"
                    .to_owned(),
            ));
            return;
        }
        let bytes = match bytes {
            Ok(b) => b,
            Err(why) => {
                self.refused.push(refuse(why));
                return;
            }
        };
        if bytes.len() as u64 > self.limits.max_attachment {
            self.refused.push(refuse(too_large(
                "the attachment",
                bytes.len() as u64,
                self.limits.max_attachment,
                "max_attachment_mb",
            )));
            return;
        }
        if name.to_ascii_lowercase().ends_with(".zip") {
            self.zip(&bytes, &name, path);
            return;
        }
        self.attachments.push(MailAttachment {
            sha256: sha256_hex(&bytes),
            bytes: bytes.into_owned(),
            name,
            original_name: original,
            content_type,
            path_in_mail: path.to_owned(),
        });
    }

    /// Unpacks a ZIP attachment: each file in it becomes an attachment; the ZIP as a whole is
    /// refused when it has too many files or unpacks to too much.
    fn zip(&mut self, bytes: &[u8], zip_name: &str, path: &str) {
        let limits = self.limits;
        let refuse_zip = |why: String| RefusedPart {
            name: zip_name.to_owned(),
            why,
        };
        let too_many = |n: u64| {
            refuse_zip(format!(
                "the ZIP holds {n} files, more than the limit of {} (max_zip_entries)",
                limits.max_zip_entries
            ))
        };
        // The count the ZIP declares, before the zip crate reads (and allocates for) every
        // entry of its directory.
        if let Some(n) = declared_entries(bytes)
            && n > limits.max_zip_entries as u64
        {
            self.refused.push(too_many(n));
            return;
        }
        let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
            Ok(a) => a,
            Err(e) => {
                self.refused
                    .push(refuse_zip(format!("not a readable ZIP file: {e}")));
                return;
            }
        };
        if archive.len() > limits.max_zip_entries {
            self.refused.push(too_many(archive.len() as u64));
            return;
        }
        // The zip crate keeps one entry per name (the last): a second file of the same name
        // would vanish without a word, and which of the two the sender meant cannot be told.
        if archive.has_duplicate_names() {
            self.refused.push(refuse_zip(
                "the ZIP holds two files of the same name; clerk cannot tell which one is meant \
                 and takes neither: ask the sender for a ZIP without repeated names"
                    .to_owned(),
            ));
            return;
        }
        let mut taken = Vec::new();
        let mut refused = Vec::new();
        let mut unzipped = self.unzipped;
        for i in 0..archive.len() {
            let (entry_name, encrypted, is_dir, is_link) = match archive.by_index_raw(i) {
                Ok(e) => (
                    e.name()
                        .map(|n| n.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(e.name_raw()).into_owned()),
                    e.encrypted(),
                    e.is_dir(),
                    e.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000),
                ),
                Err(e) => {
                    self.refused
                        .push(refuse_zip(format!("not a readable ZIP file: {e}")));
                    return;
                }
            };
            if is_dir || entry_name.ends_with('/') || entry_name.ends_with('\\') {
                continue;
            }
            self.seen += 1;
            let name = safe_name(&entry_name, self.seen);
            let shown = format!("{zip_name}/{name}");
            let refuse = |why: String| RefusedPart {
                name: shown.clone(),
                why,
            };
            if encrypted {
                refused.push(refuse(
                    "encrypted in the ZIP; ask the sender for it unencrypted (clerk holds no \
                     passwords for attachments)"
                        .to_owned(),
                ));
                continue;
            }
            if is_link {
                refused.push(refuse("a symbolic link, not a file".to_owned()));
                continue;
            }
            if name.to_ascii_lowercase().ends_with(".zip") {
                refused.push(refuse(
                    "a ZIP inside a ZIP is not unpacked; ask the sender for one ZIP".to_owned(),
                ));
                continue;
            }
            let mut entry = match archive.by_index(i) {
                Ok(e) => e,
                Err(e) => {
                    refused.push(refuse(format!("cannot be unpacked: {e}")));
                    continue;
                }
            };
            // Counted while decompressing, one byte past the limit at most: the sizes a ZIP
            // declares can lie.
            let room = limits.max_unzipped.saturating_sub(unzipped);
            let cap = limits.max_attachment.min(room);
            let mut out = Vec::new();
            match (&mut entry).take(cap + 1).read_to_end(&mut out) {
                Ok(_) => {}
                Err(e) => {
                    refused.push(refuse(format!("cannot be unpacked: {e}")));
                    continue;
                }
            }
            let size = out.len() as u64;
            if size > limits.max_attachment {
                refused.push(refuse(too_large(
                    "the file",
                    size,
                    limits.max_attachment,
                    "max_attachment_mb",
                )));
                continue;
            }
            unzipped += size;
            if size > room {
                self.refused.push(refuse_zip(format!(
                    "the ZIP attachments unpack to more than the limit of {} MB \
                     (max_unzipped_mb): a ZIP bomb or far more than a statement; refused",
                    limits.max_unzipped / MB
                )));
                return;
            }
            let entry_path: String = entry_name.chars().filter(|c| !c.is_control()).collect();
            taken.push(MailAttachment {
                sha256: sha256_hex(&out),
                bytes: out,
                original_name: Some(entry_name),
                name,
                content_type: "application/octet-stream".to_owned(),
                path_in_mail: format!("{path}/{zip_name}/{entry_path}"),
            });
        }
        self.unzipped = unzipped;
        self.attachments.append(&mut taken);
        self.refused.append(&mut refused);
    }
}

fn too_large(what: &str, size: u64, max: u64, key: &str) -> String {
    format!(
        "{what} is {:.1} MB, more than the limit of {} MB ({key})",
        size as f64 / MB as f64,
        max / MB
    )
}

/// The entry count in a ZIP's end-of-central-directory record (ZIP64 too), if it can be found.
fn declared_entries(zip: &[u8]) -> Option<u64> {
    const EOCD: &[u8] = b"PK\x05\x06";
    // The record is 22 bytes plus a comment of up to 65,535.
    let from = zip.len().saturating_sub(22 + 65_535);
    let tail = &zip[from..];
    let at = from + memchr::memmem::rfind(tail, EOCD)?;
    let rec = zip.get(at..at + 22)?;
    let count = u16::from_le_bytes([rec[10], rec[11]]) as u64;
    if count != 0xFFFF {
        return Some(count);
    }
    // ZIP64: a locator sits right before, pointing at the ZIP64 record.
    let loc = zip.get(at.checked_sub(20)?..at)?;
    if &loc[..4] != b"PK\x06\x07" {
        return Some(count);
    }
    let offset = u64::from_le_bytes(loc[8..16].try_into().ok()?) as usize;
    let rec64 = zip.get(offset..offset.checked_add(56)?)?;
    if &rec64[..4] != b"PK\x06\x06" {
        return Some(count);
    }
    Some(u64::from_le_bytes(rec64[32..40].try_into().ok()?))
}

/// The body of a part as sent, decoded from base64 or quoted-printable; why not when that
/// fails.
fn raw_body<'m>(raw: &'m [u8], part: &MessagePart<'_>) -> Result<Cow<'m, [u8]>, String> {
    let encoded = encoded_body(raw, part).ok_or_else(|| UNDECODABLE.to_owned())?;
    let decoded = match transfer_encoding(part).as_deref() {
        Some("base64") => {
            whole_base64(raw, part)?;
            base64_decode(encoded).map(Cow::Owned)
        }
        Some("quoted-printable") => quoted_printable_decode(encoded).map(Cow::Owned),
        _ => Some(Cow::Borrowed(encoded)),
    };
    decoded.ok_or_else(|| UNDECODABLE.to_owned())
}

/// The part's body as it stands in the message, still encoded.
fn encoded_body<'m>(raw: &'m [u8], part: &MessagePart<'_>) -> Option<&'m [u8]> {
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).min(raw.len());
    raw.get(start..end.max(start))
}

fn transfer_encoding(part: &MessagePart<'_>) -> Option<String> {
    part.content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase())
}

/// For a base64 part: that its text is whole. mail-parser decodes what it is given and drops a
/// cut-off end without a word, so a mail cut in transit would pass as a complete, shorter file.
fn whole_base64(raw: &[u8], part: &MessagePart<'_>) -> Result<(), String> {
    if transfer_encoding(part).as_deref() != Some("base64") {
        return Ok(());
    }
    let encoded = encoded_body(raw, part).ok_or_else(|| UNDECODABLE.to_owned())?;
    check_base64(encoded).map_err(|what| {
        format!(
            "its base64 encoding is cut short or damaged ({what}): the mail was probably cut \
             in transit; ask the sender to send it again"
        )
    })
}

/// Base64 text is whole when, line breaks aside, it is the alphabet in groups of four, with
/// `=` only as the last one or two characters of the last group.
fn check_base64(text: &[u8]) -> Result<(), String> {
    let mut chars = 0usize;
    let mut padding = 0usize;
    for &b in text {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => padding += 1,
            _ if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' => {
                if padding > 0 {
                    return Err("text goes on after its padding".to_owned());
                }
            }
            _ => {
                return Err(format!(
                    "{:?} is not a base64 character",
                    char::from(b).escape_default().to_string()
                ));
            }
        }
        chars += 1;
    }
    if padding > 2 {
        return Err(format!(
            "{padding} padding characters, at most 2 belong there"
        ));
    }
    if !chars.is_multiple_of(4) {
        return Err(format!(
            "{chars} characters, not a whole number of 4-character groups"
        ));
    }
    Ok(())
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let sub = ct.subtype().unwrap_or("octet-stream");
            format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase()
        }
        None if part.is_text() => "text/plain".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

/// A file name from a mail made harmless: only the last component of any path (`/` or `\`), no
/// drive letter, no control or invisible direction characters, none of `<>:"|?*` (they break
/// Windows shares), no leading dots or spaces (no hidden files, no `..`), no trailing dots or
/// spaces, not a Windows device name, at most 150 bytes ([`fsx::fit_name`]: the extension and
/// a hash of the whole kept). An empty result becomes `attachment-N.bin`. Text is handled by
/// characters throughout: a name is any UTF-8 its sender chose.
pub fn safe_name(raw: &str, n: usize) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut chars = last.chars();
    let last = match (chars.next(), chars.next()) {
        (Some(drive), Some(':')) if drive.is_ascii_alphabetic() => chars.as_str(),
        _ => last,
    };
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .map(|c| if "<>:\"|?*".contains(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return format!("attachment-{n}.bin");
    }
    let mut name = trimmed.to_owned();
    if is_device(name.split('.').next().unwrap_or("").trim_end()) {
        name.insert(0, '_');
    }
    fsx::fit_name(&name, MAX_NAME_BYTES)
}

/// Windows device names (`CON`, `NUL`, `COM1`, `LPT9`, ...), which a share will not store.
fn is_device(stem: &str) -> bool {
    let upper = stem.to_ascii_uppercase();
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    match prefix.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => rest.is_empty(),
        "COM" | "LPT" => rest.len() == 1 && rest[0].is_ascii_digit(),
        _ => false,
    }
}

/// Direction overrides and zero-width characters: they make `exe.sta` look like `ats.exe`.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use super::*;

    fn limits() -> MailLimits {
        MailLimits::default()
    }

    /// A multipart/mixed message from parts written as (headers, body).
    fn mixed(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut m = String::from(
            "From: \"Bank Ops\" <Ops@Bank.Example>\r\nTo: clerk@firm.example\r\n\
             Subject: Statements\r\nDate: Fri, 27 Nov 2026 07:30:00 +0100\r\n\
             Message-ID: <abc.123@bank.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n",
        );
        for (headers, body) in parts {
            m.push_str("--outer\r\n");
            m.push_str(headers);
            m.push_str("\r\n\r\n");
            m.push_str(body);
            m.push_str("\r\n");
        }
        m.push_str("--outer--\r\n");
        m.into_bytes()
    }

    fn b64(bytes: &[u8]) -> String {
        // Wrapped at 76 like a real mailer.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(bytes).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn attachment_part(name: &str, bytes: &[u8]) -> (String, String) {
        (
            format!(
                "Content-Type: application/octet-stream; name=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"{name}\""
            ),
            b64(bytes),
        )
    }

    fn parse(raw: &[u8]) -> ParsedMail {
        parse_mail(raw, &limits()).unwrap()
    }

    fn names(p: &ParsedMail) -> Vec<&str> {
        p.attachments.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn headers_and_bodies() {
        let raw = mixed(&[
            (
                "Content-Type: text/plain; charset=utf-8",
                "Good morning, statements attached.",
            ),
            (
                "Content-Type: text/csv; name=\"s.csv\"\r\nContent-Disposition: attachment; filename=\"s.csv\"",
                "date;amount\r\n2026-11-26;12.50",
            ),
        ]);
        let p = parse(&raw);
        assert_eq!(p.message_id.as_deref(), Some("abc.123@bank.example"));
        assert_eq!(p.from.as_deref(), Some("ops@bank.example"));
        assert_eq!(p.subject, "Statements");
        assert_eq!(p.date.unwrap().to_rfc3339(), "2026-11-27T06:30:00+00:00");
        assert_eq!(names(&p), ["s.csv"]);
        let a = &p.attachments[0];
        assert_eq!(a.bytes, b"date;amount\r\n2026-11-26;12.50");
        assert_eq!(a.content_type, "text/csv");
        assert_eq!(a.path_in_mail, "2");
        assert_eq!(a.sha256, sha256_hex(b"date;amount\r\n2026-11-26;12.50"));
        assert!(p.refused.is_empty());
    }

    #[test]
    fn text_attachments_keep_their_bytes_and_charset() {
        // Windows-1252 "Müller" as sent: the file must stay as the bank made it.
        let latin1 = b"name;amount\r\nM\xfcller;1.00";
        let raw = mixed(&[(
            "Content-Type: text/csv; charset=windows-1252; name=\"m.csv\"\r\n\
             Content-Transfer-Encoding: base64",
            &b64(latin1),
        )]);
        let p = parse(&raw);
        assert_eq!(p.attachments[0].bytes, latin1);
        let qp = mixed(&[(
            "Content-Type: text/plain; name=\"q.sta\"\r\nContent-Transfer-Encoding: quoted-printable",
            ":20:STMT=3D1\r\n:86:M=FCller",
        )]);
        let p = parse(&qp);
        assert_eq!(p.attachments[0].bytes, b":20:STMT=1\r\n:86:M\xfcller");
    }

    #[test]
    fn nested_multiparts_and_inline_named_parts() {
        let (h, b) = attachment_part("may.sta", b":20:MAY");
        let inner = format!(
            "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
             --alt\r\nContent-Type: text/plain\r\n\r\nplain body\r\n\
             --alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
             --rel\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n\
             --rel\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
             --rel--\r\n--alt--",
            b64(b"\x89PNG")
        );
        let raw = mixed(&[
            (
                "Content-Type: multipart/alternative; boundary=\"wrap\"",
                &format!("--wrap\r\n{inner}\r\n--wrap--"),
            ),
            (&h, &b),
            (
                "Content-Type: text/plain; name=\"inline.csv\"\r\nContent-Disposition: inline",
                "a;b",
            ),
        ]);
        let p = parse(&raw);
        assert_eq!(names(&p), ["logo.png", "may.sta", "inline.csv"]);
        let paths: Vec<&str> = p
            .attachments
            .iter()
            .map(|a| a.path_in_mail.as_str())
            .collect();
        assert_eq!(paths, ["1/1/2/2", "2", "3"]);
        assert_eq!(p.attachments[0].bytes, b"\x89PNG");
        assert_eq!(p.attachments[1].bytes, b":20:MAY");
    }

    #[test]
    fn forwarded_messages_with_attachments() {
        let (h, b) = attachment_part("june.sta", b":20:JUNE");
        let forwarded = format!(
            "From: ops@bank.example\r\nSubject: June\r\n\
             Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n\
             --fwd\r\nContent-Type: text/plain\r\n\r\noriginal body\r\n\
             --fwd\r\n{h}\r\n\r\n{b}\r\n\
             --fwd\r\nContent-Type: text/csv; name=\"j.csv\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--fwd--",
            b64(b"a;b\n1;2\n")
        );
        let single = "From: x@y.example\r\nSubject: one\r\n\
                      Content-Type: application/pdf; name=\"inv.pdf\"\r\n\r\n%PDF-1.7";
        let raw = mixed(&[
            ("Content-Type: text/plain", "see below"),
            ("Content-Type: message/rfc822", &forwarded),
            (
                "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64",
                &b64(single.as_bytes()),
            ),
        ]);
        let p = parse(&raw);
        assert_eq!(
            names(&p),
            ["june.sta", "j.csv", "inv.pdf"],
            "{:?}",
            p.refused
        );
        assert_eq!(p.attachments[0].bytes, b":20:JUNE");
        assert_eq!(p.attachments[0].path_in_mail, "2/2");
        // A text part of a forwarded message, whose bytes clerk takes from the message itself:
        // its offsets count in the outer message.
        assert_eq!(p.attachments[1].bytes, b"a;b\n1;2\n");
        assert_eq!(p.attachments[2].bytes, b"%PDF-1.7");
        assert_eq!(p.attachments[2].path_in_mail, "3/1");
        // The outer message's own headers, not the forwarded one's.
        assert_eq!(p.from.as_deref(), Some("ops@bank.example"));
        assert_eq!(p.subject, "Statements");
    }

    #[test]
    fn forwarding_too_deep_is_refused() {
        let mut m =
            "From: a@b.example\r\nContent-Type: application/pdf; name=\"deep.pdf\"\r\n\r\n%PDF"
                .to_owned();
        for _ in 0..MAX_FORWARD_DEPTH + 1 {
            m = format!(
                "From: a@b.example\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n\
                 --b{n}\r\nContent-Type: message/rfc822\r\n\r\n{m}\r\n--b{n}--",
                n = m.len()
            );
        }
        let p = parse(m.as_bytes());
        assert!(p.attachments.is_empty(), "{:?}", p.attachments);
        assert_eq!(p.refused.len(), 1, "{:?}", p.refused);
        assert!(p.refused[0].why.contains("nested"), "{:?}", p.refused);
    }

    #[test]
    fn encoded_file_names() {
        let raw = mixed(&[
            (
                "Content-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment; filename*=UTF-8''Kontoauszug%20M%C3%A4rz.sta",
                "x",
            ),
            (
                "Content-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment;\r\n filename*0*=UTF-8''Rechnung%20;\r\n filename*1*=%C3%BCber.xml",
                "y",
            ),
            (
                "Content-Type: application/octet-stream; name=\"=?UTF-8?B?UmVsZXbDqSBkZSBjb21wdGUucGRm?=\"",
                "z",
            ),
            (
                "Content-Type: application/octet-stream; name=\"=?ISO-8859-1?Q?K=F6ln.csv?=\"",
                "w",
            ),
        ]);
        let p = parse(&raw);
        assert_eq!(
            names(&p),
            [
                "Kontoauszug März.sta",
                "Rechnung über.xml",
                "Relevé de compte.pdf",
                "Köln.csv"
            ]
        );
    }

    #[test]
    fn winmail_dat_is_refused() {
        let raw = mixed(&[
            ("Content-Type: text/plain", "body"),
            (
                "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64",
                &b64(b"\x78\x9f\x3e\x22"),
            ),
            (
                "Content-Type: application/octet-stream; name=\"WINMAIL.DAT\"",
                "x",
            ),
        ]);
        let p = parse(&raw);
        assert!(p.attachments.is_empty());
        assert_eq!(p.refused.len(), 2);
        assert!(
            p.refused[0]
                .why
                .contains("winmail.dat; ask the sender to send the files themselves")
        );
    }

    #[test]
    fn zip_of_statements_is_unpacked() {
        let zip = zip_of(&[
            ("statements/", b""),
            ("statements/may.sta", b":20:MAY"),
            ("statements/june.sta", b":20:JUNE"),
            ("../../evil/.hidden.sta", b":20:EVIL"),
        ]);
        let (h, b) = attachment_part("Statements.ZIP", &zip);
        let p = parse(&mixed(&[("Content-Type: text/plain", "body"), (&h, &b)]));
        assert_eq!(names(&p), ["may.sta", "june.sta", "hidden.sta"]);
        let may = &p.attachments[0];
        assert_eq!(may.bytes, b":20:MAY");
        assert_eq!(may.original_name.as_deref(), Some("statements/may.sta"));
        assert_eq!(may.path_in_mail, "2/Statements.ZIP/statements/may.sta");
        assert_eq!(
            p.attachments[2].original_name.as_deref(),
            Some("../../evil/.hidden.sta")
        );
        assert!(p.refused.is_empty(), "{:?}", p.refused);
    }

    #[test]
    fn zip_bombs_are_refused() {
        let small = MailLimits {
            max_zip_entries: 5,
            max_attachment: 2 * MB,
            max_unzipped: 3 * MB,
            ..limits()
        };
        let run = |zip: Vec<u8>| {
            let (h, b) = attachment_part("bomb.zip", &zip);
            parse_mail(&mixed(&[(&h, &b)]), &small).unwrap()
        };
        // Too many entries: refused before any is read.
        let many: Vec<(String, Vec<u8>)> = (0..6)
            .map(|i| (format!("f{i}.sta"), vec![b'x'; 10]))
            .collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let p = run(zip_of(&refs));
        assert!(p.attachments.is_empty());
        assert!(p.refused[0].why.contains("6 files"), "{:?}", p.refused);
        // One entry unpacking past the per-file limit: that file refused, the others taken.
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let zip = zip_of(&[("big.sta", &zeros), ("ok.sta", b"fine")]);
        assert!(zip.len() < 100_000, "{}", zip.len());
        let p = run(zip);
        assert_eq!(names(&p), ["ok.sta"]);
        assert!(p.refused[0].name.ends_with("big.sta"));
        assert!(
            p.refused[0].why.contains("max_attachment_mb"),
            "{:?}",
            p.refused
        );
        // Many entries each under the limit, together past the total: the whole ZIP refused.
        let part = vec![0u8; 1536 * 1024];
        let p = run(zip_of(&[
            ("a.sta", &part),
            ("b.sta", &part),
            ("c.sta", &part),
        ]));
        assert!(p.attachments.is_empty(), "{:?}", p.attachments);
        assert!(
            p.refused[0].why.contains("max_unzipped_mb"),
            "{:?}",
            p.refused
        );
        // The total counts across the ZIPs of one message.
        let zip = zip_of(&[("a.sta", &vec![0u8; 1700 * 1024])]);
        let (h1, b1) = attachment_part("one.zip", &zip);
        let (h2, b2) = attachment_part("two.zip", &zip);
        let p = parse_mail(&mixed(&[(&h1, &b1), (&h2, &b2)]), &small).unwrap();
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.refused.len(), 1);
    }

    #[test]
    fn nested_broken_and_encrypted_zips_are_refused() {
        let inner = zip_of(&[("x.sta", b"x")]);
        let outer = zip_of(&[("inner.zip", &inner), ("y.sta", b"y")]);
        let (h, b) = attachment_part("outer.zip", &outer);
        let p = parse(&mixed(&[(&h, &b)]));
        assert_eq!(names(&p), ["y.sta"]);
        assert!(
            p.refused[0].why.contains("ZIP inside a ZIP"),
            "{:?}",
            p.refused
        );

        let (h, b) = attachment_part("broken.zip", b"PK\x03\x04 not really");
        let p = parse(&mixed(&[(&h, &b)]));
        assert!(p.attachments.is_empty());
        assert!(
            p.refused[0].why.contains("not a readable ZIP"),
            "{:?}",
            p.refused
        );

        // A stored entry with the "encrypted" bit set in its local and central headers.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("secret.sta", opts).unwrap();
        w.write_all(b"0123456789ab").unwrap();
        w.start_file("open.sta", opts).unwrap();
        w.write_all(b"open").unwrap();
        let mut zip = w.finish().unwrap().into_inner();
        zip[6] |= 1;
        let central = memchr::memmem::find(&zip, b"PK\x01\x02").unwrap();
        zip[central + 8] |= 1;
        let (h, b) = attachment_part("locked.zip", &zip);
        let p = parse(&mixed(&[(&h, &b)]));
        assert_eq!(names(&p), ["open.sta"]);
        assert!(p.refused[0].why.contains("encrypted"), "{:?}", p.refused);
    }

    #[test]
    fn an_attachment_over_the_limit_is_refused() {
        let small = MailLimits {
            max_attachment: MB,
            ..limits()
        };
        let (h, b) = attachment_part("big.pdf", &vec![b'x'; 1024 * 1024 + 1]);
        let (h2, b2) = attachment_part("small.pdf", b"%PDF");
        let p = parse_mail(&mixed(&[(&h, &b), (&h2, &b2)]), &small).unwrap();
        assert_eq!(names(&p), ["small.pdf"]);
        assert_eq!(p.refused[0].name, "big.pdf");
        assert!(
            p.refused[0]
                .why
                .contains("1.0 MB, more than the limit of 1 MB"),
            "{:?}",
            p.refused
        );
        let tiny = MailLimits {
            max_message: 100,
            ..limits()
        };
        assert!(matches!(
            parse_mail(&mixed(&[(&h2, &b2)]), &tiny),
            Err(MailReadError::TooLarge { max: 100, .. })
        ));
    }

    #[test]
    fn hostile_names_are_neutralised() {
        let cases = [
            ("../../etc/passwd", "passwd"),
            ("C:\\x.sta", "x.sta"),
            ("C:x.sta", "x.sta"),
            ("/abs", "abs"),
            ("a\nb.sta", "ab.sta"),
            ("a\r\nb\t.sta", "ab.sta"),
            ("..", "attachment-7.bin"),
            (".", "attachment-7.bin"),
            ("", "attachment-7.bin"),
            ("dir/", "attachment-7.bin"),
            ("...hidden", "hidden"),
            (".bashrc", "bashrc"),
            ("report.sta.", "report.sta"),
            ("  spaced.sta  ", "spaced.sta"),
            ("a<b>c:d\"e|f?g*.sta", "a_b_c_d_e_f_g_.sta"),
            ("statement\u{202E}ats.exe", "statementats.exe"),
            ("zero\u{200B}width.sta", "zerowidth.sta"),
            ("CON.sta", "_CON.sta"),
            ("com1", "_com1"),
            ("console.sta", "console.sta"),
            ("Kontoauszug März.sta", "Kontoauszug März.sta"),
            // A multibyte character where a byte index once cut: it panicked.
            ("Zoë.csv", "Zoë.csv"),
            ("Zoë", "Zoë"),
            ("ÄÖÜ1", "ÄÖÜ1"),
            ("C:ë.csv", "ë.csv"),
            ("ë:x.csv", "ë_x.csv"),
            ("lpt9.txt", "_lpt9.txt"),
            ("COM10", "COM10"),
            ("nul", "_nul"),
            ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ];
        for (raw, want) in cases {
            assert_eq!(safe_name(raw, 7), want, "{raw:?}");
        }
        let long = format!("{}.sta", "x".repeat(400));
        let s = safe_name(&long, 1);
        assert!(s.len() <= MAX_NAME_BYTES, "{s}");
        assert!(s.starts_with("xxx") && s.ends_with(".sta"), "{s}");
        // Two long names that differ only at the end stay apart.
        assert_ne!(s, safe_name(&format!("{}y.sta", "x".repeat(399)), 1));
        let long_utf8 = format!("{}.xml", "ä".repeat(200));
        let s = safe_name(&long_utf8, 1);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".xml"), "{s}");
        let long_ext = format!("a.{}", "e".repeat(300));
        assert!(safe_name(&long_ext, 1).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn hostile_names_inside_a_mail() {
        let raw = mixed(&[
            attachment_part("../../etc/passwd", b"root").clone(),
            (
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"..\"".to_owned(),
                "dots".to_owned(),
            ),
        ]
        .iter()
        .map(|(h, b)| (h.as_str(), b.as_str()))
        .collect::<Vec<_>>());
        let p = parse(&raw);
        assert_eq!(names(&p), ["passwd", "attachment-2.bin"]);
        assert_eq!(
            p.attachments[0].original_name.as_deref(),
            Some("../../etc/passwd")
        );
    }

    #[test]
    fn ten_thousand_parts_are_refused_quickly() {
        let mut m = String::from(
            "From: a@b.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n",
        );
        for i in 0..10_000 {
            m.push_str(&format!(
                "--x\r\nContent-Type: application/octet-stream; name=\"{i}.bin\"\r\n\r\n{i}\r\n"
            ));
        }
        m.push_str("--x--\r\n");
        let started = Instant::now();
        let err = parse_mail(m.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err, MailReadError::TooManyParts { max: 1000 });
        assert!(
            started.elapsed().as_millis() < 500,
            "{:?}",
            started.elapsed()
        );
        // Within the limit it parses.
        let few = MailLimits {
            max_parts: 20_000,
            ..limits()
        };
        let p = parse_mail(m.as_bytes(), &few).unwrap();
        assert_eq!(p.attachments.len(), 10_000);
    }

    #[test]
    fn subject_has_no_line_breaks_and_garbage_is_not_a_mail() {
        let raw = b"From: a@b.example\r\nSubject: =?UTF-8?Q?one=0Atwo=0D?=\r\n\r\nbody";
        let p = parse(raw);
        assert_eq!(p.subject, "one two");
        assert!(p.attachments.is_empty());
        assert!(matches!(
            parse_mail(b"\x00\x01\x02 binary junk", &limits()),
            Err(MailReadError::NotAMail(_))
        ));
        assert!(matches!(
            parse_mail(b"", &limits()),
            Err(MailReadError::NotAMail(_))
        ));
    }

    #[test]
    fn a_single_part_mail_that_is_a_file() {
        let raw =
            b"From: a@b.example\r\nSubject: x\r\nContent-Type: application/pdf; name=\"i.pdf\"\r\n\
                    Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjc=\r\n";
        let p = parse(raw);
        assert_eq!(names(&p), ["i.pdf"]);
        assert_eq!(p.attachments[0].bytes, b"%PDF-1.7");
        assert_eq!(p.attachments[0].path_in_mail, "1");
        assert_eq!(p.attachments[0].content_type, "application/pdf");
    }

    #[test]
    fn declared_zip_entry_counts() {
        let zip = zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        assert_eq!(declared_entries(&zip), Some(3));
        assert_eq!(declared_entries(b"not a zip"), None);
    }

    /// `depth` forwarded messages, each the body of the one around it, as a mail client would
    /// never make them.
    fn nested_forwards(depth: usize) -> String {
        let mut m = String::from(
            "From: Mallory <mallory@evil.example>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n",
        );
        m.push_str(&"Content-Type: message/rfc822\r\n\r\n".repeat(depth));
        m.push_str("Subject: bottom\r\n\r\nhello\r\n");
        m
    }

    #[test]
    fn forty_thousand_nested_forwards_are_refused_before_parsing() {
        let raw = nested_forwards(40_000);
        let started = Instant::now();
        // On a small stack: nothing may recurse over the nesting.
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || parse_mail(raw.as_bytes(), &MailLimits::default()))
            .unwrap()
            .join()
            .unwrap()
            .unwrap_err();
        assert_eq!(err, MailReadError::TooManyForwarded { max: MAX_FORWARDED });
        assert!(err.to_string().contains("forwarded messages"), "{err}");
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        // Within the limit it is read, the levels past MAX_FORWARD_DEPTH refused as parts.
        let p = parse(nested_forwards(MAX_FORWARDED - 1).as_bytes());
        assert!(p.attachments.is_empty());
    }

    #[test]
    fn forwards_hidden_in_encoded_parts_are_counted() {
        // 20,000 levels inside a base64 forwarded message, inside quoted-printable escapes,
        // and with a stray single '-' in every base64 line (the parser skips those).
        let chain = nested_forwards(20_000);
        let wrapped = |body: &str, encoding: &str| {
            mixed(&[(
                &format!("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {encoding}"),
                body,
            )])
        };
        let b = wrapped(&b64(chain.as_bytes()), "base64");
        assert_eq!(
            parse_mail(&b, &limits()).unwrap_err(),
            MailReadError::TooManyForwarded { max: MAX_FORWARDED }
        );
        let dashed = b64(chain.as_bytes()).replace("\r\n", "-\r\n");
        assert_eq!(
            parse_mail(&wrapped(&dashed, "base64"), &limits()).unwrap_err(),
            MailReadError::TooManyForwarded { max: MAX_FORWARDED }
        );
        let qp: String = chain
            .bytes()
            .map(|b| format!("={b:02X}"))
            .collect::<Vec<_>>()
            .chunks(25)
            .map(|c| c.concat())
            .collect::<Vec<_>>()
            .join("=\r\n");
        assert_eq!(
            parse_mail(&wrapped(&qp, "quoted-printable"), &limits()).unwrap_err(),
            MailReadError::TooManyForwarded { max: MAX_FORWARDED }
        );
        // Base64 inside a base64 forward, three levels down.
        let mut inner = chain;
        for _ in 0..3 {
            inner = String::from_utf8(wrapped(&b64(inner.as_bytes()), "base64")).unwrap();
        }
        assert!(inner.len() < 50 << 20);
        assert_eq!(
            parse_mail(inner.as_bytes(), &limits()).unwrap_err(),
            MailReadError::TooManyForwarded { max: MAX_FORWARDED }
        );
        // A digest's parts are messages without saying so.
        let mut digest = String::from(
            "From: a@b.example\r\nSubject: digest\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\n",
        );
        for _ in 0..=MAX_FORWARDED {
            digest.push_str("--d\r\n\r\nSubject: one\r\n\r\nhi\r\n");
        }
        digest.push_str("--d--\r\n");
        assert!(matches!(
            parse_mail(digest.as_bytes(), &limits()),
            Err(MailReadError::TooManyForwarded { .. })
        ));
        // ... also when one part is base64 and names no type at all.
        let digest = format!(
            "From: a@b.example\r\nSubject: digest\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\n\
             --d\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--d--\r\n",
            b64(nested_forwards(20_000).as_bytes())
        );
        assert!(matches!(
            parse_mail(digest.as_bytes(), &limits()),
            Err(MailReadError::TooManyForwarded { .. })
        ));
    }

    #[test]
    fn the_scan_mirrors_the_parsers_decoders() {
        assert_eq!(decode_base64_leniently(b"SGVs\r\n-bG8="), b"Hello");
        assert_eq!(decode_base64_leniently(b"QQ==QUI="), b"AAB");
        assert_eq!(base64_extent(b"QUJD\r\n--b0--\r\n"), 6);
        assert_eq!(base64_extent(b"QU-JD!x"), 5);
        assert_eq!(
            quoted_printable_view(b"mes=\r\nsage=2Frfc822  \r\n=6d=zz=4"),
            b"message/rfc822\nm=zz"
        );
        assert_eq!(
            message_tokens(b"Message (a (b) c)\r\n \"/\" x message/ messages/"),
            2
        );
        assert_eq!(message_tokens(b"(message/x)"), 1);
    }

    #[test]
    fn a_zip_with_two_files_of_the_same_name_is_refused() {
        let mut zip = zip_of(&[("s.csv", b"one"), ("t.csv", b"two")]);
        let mut at = 0;
        while let Some(p) = memchr::memmem::find(&zip[at..], b"t.csv") {
            zip[at + p] = b's';
            at += p + 1;
        }
        let (h, b) = attachment_part("two.zip", &zip);
        let p = parse(&mixed(&[(&h, &b)]));
        assert!(p.attachments.is_empty(), "{:?}", p.attachments);
        assert!(p.refused[0].why.contains("same name"), "{:?}", p.refused);
        assert_eq!(p.refused[0].name, "two.zip");
    }

    #[test]
    fn cut_or_badly_padded_base64_is_refused() {
        let good = b64(b"date;amount\n2026-03-02;1.00\n");
        let cases = [
            format!("{good}Q"),
            format!("{good}QQ="),
            format!("{good}QQ"),
            "QUJD=QUJD".to_owned(),
            "QQ===".to_owned(),
        ];
        for body in cases {
            let raw = mixed(&[(
                "Content-Type: application/octet-stream; name=\"s.csv\"\r\nContent-Transfer-Encoding: base64",
                &body,
            )]);
            let p = parse(&raw);
            assert!(p.attachments.is_empty(), "{body:?}: {:?}", p.attachments);
            assert!(
                p.refused[0].why.contains("base64"),
                "{body:?}: {:?}",
                p.refused
            );
            // The same for a text part, whose bytes clerk decodes itself.
            let raw = mixed(&[(
                "Content-Type: text/csv; name=\"s.csv\"\r\nContent-Transfer-Encoding: base64",
                &body,
            )]);
            let p = parse(&raw);
            assert!(p.attachments.is_empty(), "{body:?}: {:?}", p.attachments);
            assert!(
                p.refused[0].why.contains("base64"),
                "{body:?}: {:?}",
                p.refused
            );
        }
        assert!(check_base64(b"QUJD\r\nQQ==\r\n").is_ok());
        assert!(check_base64(b"").is_ok());
    }

    fn with_from(from: &str) -> ParsedMail {
        parse(format!("{from}\r\nSubject: s\r\n\r\nbody").as_bytes())
    }

    #[test]
    fn a_sender_is_taken_only_when_unambiguous() {
        let ok = with_from("From: \"Bank Ops\" <Ops@Bank.Example>");
        assert_eq!(ok.from.as_deref(), Some("ops@bank.example"));
        assert_eq!(ok.from_problem, None);
        assert_eq!(ok.from_header, "\"Bank Ops\" <Ops@Bank.Example>");
        for (from, why) in [
            (
                "From: a@evil.example\r\nFrom: ops@bank.example",
                "two From headers",
            ),
            ("From: <a@evil.example> ops@bank.example", "more than one @"),
            ("From: a@evil.example@bank.example", "more than one @"),
            (
                "From: a@evil.example, ops@bank.example",
                "more than one address",
            ),
            (
                "From: Ops <ops@bank.example> <a@evil.example>",
                "more than one @",
            ),
            (
                "From: g: a@b.example, c@d.example;",
                "more than one address",
            ),
            ("From: \"a@evil\"@bank.example", "not one plain address"),
            ("From: ops@bank..example", "not a domain"),
            ("From: Bank Ops", "names no address"),
        ] {
            let p = with_from(from);
            assert_eq!(p.from, None, "{from}");
            let problem = p.from_problem.unwrap_or_default();
            assert!(problem.contains(why), "{from}: {problem}");
        }
        let long = with_from(&format!("From: {}@bank.example", "a".repeat(300)));
        assert!(long.from_problem.is_some());
        assert!(long.from_header.chars().count() < MAX_HEADER_CHARS + 30);
        let idn = with_from("From: Zoë <zoë@bücher.example>");
        assert_eq!(idn.from.as_deref(), Some("zoë@bücher.example"));
        let none = parse(b"Subject: s\r\n\r\nbody");
        assert_eq!((none.from, none.from_problem), (None, None));
    }

    #[test]
    fn dmarc_is_believed_only_from_the_trusted_server() {
        let mail = |results: &str| {
            parse(
                format!("{results}From: Bank <ops@bank.example>\r\nSubject: s\r\n\r\nbody")
                    .as_bytes(),
            )
        };
        let id = "mx.firm.example";
        let pass = mail(
            "Authentication-Results: MX.firm.example (postfix);\r\n spf=pass smtp.mailfrom=bank.example;\r\n dkim=pass (2048-bit key) header.d=bank.example;\r\n dmarc=pass (p=reject) header.from=Bank.Example\r\n",
        );
        assert_eq!(pass.dmarc_verified(id), Ok(()));
        for (results, said) in [
            ("", "no Authentication-Results header of mx.firm.example"),
            (
                "Authentication-Results: mx.evil.example; dmarc=pass header.from=bank.example\r\n",
                "no Authentication-Results",
            ),
            (
                "Authentication-Results: mx.firm.example; dmarc=fail header.from=bank.example\r\n",
                "say dmarc=fail header.from=bank.example",
            ),
            (
                "Authentication-Results: mx.firm.example; dmarc=pass header.from=evil.example\r\n",
                "not dmarc=pass for bank.example",
            ),
            (
                "Authentication-Results: mx.firm.example; dkim=pass header.d=bank.example\r\n",
                "no Authentication-Results header of mx.firm.example with a DMARC verdict",
            ),
            (
                "Authentication-Results: mx.firm.example (dmarc=pass header.from=bank.example); none\r\n",
                "no Authentication-Results",
            ),
        ] {
            let why = mail(results).dmarc_verified(id).unwrap_err();
            assert!(why.contains(said), "{results:?}: {why}");
        }
    }

    #[test]
    fn what_a_mail_says_of_itself_is_cut_to_a_sane_length() {
        let subject = "Ä".repeat(100_000);
        let id = format!("<{}@x>", "i".repeat(10_000));
        let p = parse(
            format!("From: a@b.example\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\r\nx")
                .as_bytes(),
        );
        assert!(p.subject.starts_with("ÄÄÄ"), "{}", p.subject);
        assert!(p.subject.ends_with("(100000 characters)"), "{}", p.subject);
        assert!(p.subject.chars().count() < MAX_HEADER_CHARS + 30);
        let kept = p.message_id.unwrap();
        assert!(kept.len() < 200 && kept.starts_with("iii"), "{kept}");
        assert_eq!(cut("short", 10), "short");
        assert_eq!(
            read_headers(b"From: a@b.example\r\nSubject: s\r\n\r\n")
                .unwrap()
                .subject,
            "s"
        );
    }
}
