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
//! MIME parts than its limit (counted on the raw bytes before parsing, so a message of 100,000
//! tiny parts costs a scan, not 100,000 allocations), or is not a mail at all.
//!
//! **Invariant:** a name taken from a mail never decides a path on disk: [`safe_name`] reduces
//! it to one harmless file name; the name as sent is kept in `original_name` for messages.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{Cursor, Read};

use chrono::{DateTime, Utc};
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Forwarded messages inside forwarded messages are read this deep (1 = a forwarded message's
/// own attachments); deeper ones are refused.
pub const MAX_FORWARD_DEPTH: usize = 3;
/// Longest safe name, in bytes: room for clerk's " (2)" and ".error.txt" on any file system.
const MAX_NAME_BYTES: usize = 150;
/// Longest extension kept whole when a long name is shortened.
const MAX_EXTENSION_BYTES: usize = 20;

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
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// The From address alone (no display name), lower-case.
    pub from: Option<String>,
    /// Decoded, control characters (CR, LF, ...) replaced by spaces.
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub attachments: Vec<MailAttachment>,
    /// Parts that looked like files but are not taken, and why.
    pub refused: Vec<RefusedPart>,
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
    walk.message(&message, "", 0);
    Ok(ParsedMail {
        message_id: message
            .message_id()
            .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
            .filter(|id| !id.is_empty()),
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address.as_deref())
            .map(|a| a.trim().to_lowercase())
            .filter(|a| a.contains('@') && !a.contains(|c: char| c.is_control())),
        subject: one_line(message.subject().unwrap_or_default()),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        attachments: walk.attachments,
        refused: walk.refused,
    })
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

/// All parts, forwarded messages' parts included; stops counting past `cap`.
fn count_parts(m: &Message<'_>, cap: usize) -> usize {
    let mut n = m.parts.len();
    for p in &m.parts {
        if n > cap {
            break;
        }
        if let PartType::Message(inner) = &p.body {
            n += count_parts(inner, cap);
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

impl Walk<'_> {
    /// A message (the top one, or a forwarded one at `prefix`).
    fn message(&mut self, m: &Message<'_>, prefix: &str, depth: usize) {
        let Some(root) = m.parts.first() else { return };
        match &root.body {
            PartType::Multipart(children) => self.children(m, children, prefix, depth),
            // A single-part message: its body is part 1 (IMAP numbering).
            _ => self.part(m, 0, &join(prefix, 1), depth),
        }
    }

    fn children(&mut self, m: &Message<'_>, children: &[u32], prefix: &str, depth: usize) {
        for (i, &id) in children.iter().enumerate() {
            self.part(m, id as usize, &join(prefix, i + 1), depth);
        }
    }

    fn part(&mut self, m: &Message<'_>, id: usize, path: &str, depth: usize) {
        let Some(part) = m.parts.get(id) else { return };
        match &part.body {
            PartType::Multipart(children) => self.children(m, children, path, depth),
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
                    self.message(inner, path, depth + 1);
                }
            }
            PartType::Text(_) | PartType::Html(_) => {
                let attached = part
                    .content_disposition()
                    .is_some_and(|d| d.is_attachment());
                if part.attachment_name().is_some() || attached {
                    // mail-parser has turned the text into UTF-8; the file is the bytes as
                    // sent, decoded from the transfer encoding only.
                    let bytes = raw_body(m, part);
                    self.file(part, bytes, path);
                }
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                let bytes = if part.is_encoding_problem {
                    None
                } else {
                    Some(Cow::Borrowed(bytes.as_ref()))
                };
                self.file(part, bytes, path);
            }
        }
    }

    /// One candidate file: refused, unpacked (a ZIP) or taken.
    fn file(&mut self, part: &MessagePart<'_>, bytes: Option<Cow<'_, [u8]>>, path: &str) {
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
        let Some(bytes) = bytes else {
            self.refused.push(refuse(
                "its content could not be decoded (broken base64 or quoted-printable, or a \
                 forwarded message nested too deep)"
                    .to_owned(),
            ));
            return;
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

/// The body of a part as sent, decoded from base64 or quoted-printable; `None` if that fails.
fn raw_body<'m>(m: &'m Message<'_>, part: &MessagePart<'_>) -> Option<Cow<'m, [u8]>> {
    let raw = m.raw_message();
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).min(raw.len());
    let encoded = raw.get(start..end.max(start))?;
    let encoding = part
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        Some("base64") => base64_decode(encoded).map(Cow::Owned),
        Some("quoted-printable") => quoted_printable_decode(encoded).map(Cow::Owned),
        _ => Some(Cow::Borrowed(encoded)),
    }
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

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A file name from a mail made harmless: only the last component of any path (`/` or `\`), no
/// drive letter, no control or invisible direction characters, none of `<>:"|?*` (they break
/// Windows shares), no leading dots or spaces (no hidden files, no `..`), no trailing dots or
/// spaces, not a Windows device name, at most 150 bytes with the extension kept. An empty result
/// becomes `attachment-N.bin`.
pub fn safe_name(raw: &str, n: usize) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let bytes = last.as_bytes();
    let last = if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        &last[2..]
    } else {
        last
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
    let stem = name.split('.').next().unwrap_or("").trim_end();
    const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
    let is_device = DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d))
        || (stem.len() == 4
            && (stem[..3].eq_ignore_ascii_case("COM") || stem[..3].eq_ignore_ascii_case("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if is_device {
        name.insert(0, '_');
    }
    shorten(&name, MAX_NAME_BYTES)
}

/// Direction overrides and zero-width characters: they make `exe.sta` look like `ats.exe`.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a short extension.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_EXTENSION_BYTES + 1 => name.split_at(i),
        _ => (name, ""),
    };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", stem[..cut].trim_end())
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
             --fwd\r\n{h}\r\n\r\n{b}\r\n--fwd--"
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
        assert_eq!(names(&p), ["june.sta", "inv.pdf"]);
        assert_eq!(p.attachments[0].bytes, b":20:JUNE");
        assert_eq!(p.attachments[0].path_in_mail, "2/2");
        assert_eq!(p.attachments[1].bytes, b"%PDF-1.7");
        assert_eq!(p.attachments[1].path_in_mail, "3/1");
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
            ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ];
        for (raw, want) in cases {
            assert_eq!(safe_name(raw, 7), want, "{raw:?}");
        }
        let long = format!("{}.sta", "x".repeat(400));
        let s = safe_name(&long, 1);
        assert_eq!(s.len(), MAX_NAME_BYTES);
        assert!(s.ends_with("x.sta"), "{s}");
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
}
