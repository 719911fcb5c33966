//! Bytes → lines → messages: the only layer that sees raw bytes.
//!
//! A file holds one or more messages, each either wrapped in FIN blocks
//! (`{1:F01…}{2:I940…}{4:` … `-}{5:…}`) or bare (`:20:` … `-`, or `:20:` … up to the next
//! `:20:`). Between messages banks add all sorts of lines (empty lines, `ABNANL2A`/`940`,
//! `0000 01INGBNL2AXXXX00001`, `:940:`, prose in published examples); outside a message every
//! line that does not open one is skipped. Inside a message every line is kept, so the line
//! numbers of fields are exact.
//!
//! Line ends may be CRLF, LF or a lone CR. A line longer than [`MAX_LINE`] or a message larger
//! than [`MAX_MESSAGE`] is refused: memory stays bounded by the largest message.

use std::io::BufRead;

use memchr::{memchr2, memmem};

/// Longest line accepted (bytes).
pub const MAX_LINE: usize = 64 * 1024;
/// Largest message accepted (bytes of its text block).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Why the byte stream could not be cut into messages.
#[derive(Debug)]
pub(super) enum SplitError {
    Io(std::io::Error, u32),
    LineTooLong(u32),
    MessageTooLarge { index: u32, line: u32 },
}

/// Reads lines of at most [`MAX_LINE`] bytes, accepting CRLF, LF and lone CR, into one reused
/// buffer.
struct LineReader<R> {
    inner: R,
    line: Vec<u8>,
    number: u32,
    /// The last line ended with CR: a LF at the start of the next read belongs to it.
    skip_lf: bool,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    fn new(inner: R) -> Self {
        LineReader {
            inner,
            line: Vec::with_capacity(256),
            number: 0,
            skip_lf: false,
            done: false,
        }
    }

    /// The next line into `self.line`; `false` at the end of the input.
    fn advance(&mut self) -> Result<bool, SplitError> {
        self.line.clear();
        if self.done {
            return Ok(false);
        }
        let mut started = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SplitError::Io(e, self.number + 1)),
            };
            if buf.is_empty() {
                self.done = true;
                if started {
                    self.number += 1;
                    self.strip_bom();
                }
                return Ok(started);
            }
            let mut start = 0;
            if self.skip_lf {
                self.skip_lf = false;
                if buf[0] == b'\n' {
                    start = 1;
                }
            }
            match memchr2(b'\r', b'\n', &buf[start..]) {
                Some(i) => {
                    let end = start + i;
                    if self.line.len() + i > MAX_LINE {
                        return Err(SplitError::LineTooLong(self.number + 1));
                    }
                    self.line.extend_from_slice(&buf[start..end]);
                    self.skip_lf = buf[end] == b'\r';
                    self.inner.consume(end + 1);
                    self.number += 1;
                    self.strip_bom();
                    return Ok(true);
                }
                None => {
                    let n = buf.len();
                    if self.line.len() + (n - start) > MAX_LINE {
                        return Err(SplitError::LineTooLong(self.number + 1));
                    }
                    started |= n > start;
                    self.line.extend_from_slice(&buf[start..]);
                    self.inner.consume(n);
                }
            }
        }
    }

    fn strip_bom(&mut self) {
        if self.number == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
            self.line.drain(..3);
        }
    }
}

/// What block 2 of a FIN message declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block2 {
    /// Message type number, e.g. `940`.
    pub number: u16,
    /// The sender's BIC: from block 2 of an output message (`O`), from block 1 of an input
    /// message (`I`, as the sending bank writes it).
    pub sender_bic: Option<String>,
}

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// By `-`, `-}` (or a bank's variant of it) on this line.
    Terminated(u32),
    /// By the start of the next message, without a terminator.
    Open,
    /// By the end of the file, without a terminator: the last message of a file without
    /// `-` lines, or one cut short.
    FileEnded,
}

/// One message's text block, undecoded.
#[derive(Debug)]
pub(super) struct RawMessage {
    /// 1-based position in the file.
    pub index: u32,
    /// Line where the message starts (its header, or its first field).
    pub start_line: u32,
    /// Line number of the first line of `text`.
    pub text_line: u32,
    /// Block 2, when the message has FIN headers with one.
    pub block2: Option<Block2>,
    /// The message had FIN headers (`{4:`): it must then end with `-}`.
    pub headered: bool,
    /// The text block's lines joined with `\n`.
    pub text: Vec<u8>,
    pub end: End,
    /// Last line belonging to the message.
    pub last_line: u32,
}

impl RawMessage {
    /// The last line of the message that holds something: where a file cut short ends.
    pub(super) fn last_content_line(&self) -> u32 {
        let lines: Vec<&[u8]> = self.text.split(|&c| c == b'\n').collect();
        match lines.iter().rposition(|l| !trim(l).is_empty()) {
            Some(k) => self.text_line + k as u32,
            None => self.start_line,
        }
    }
}

/// Header blocks seen before the `{4:` that opens the text block (they may span lines).
#[derive(Default)]
struct PendingHeader {
    start_line: Option<u32>,
    block1_lt: Option<String>,
    block2: Option<(u8, String)>,
}

enum State {
    Outside,
    Inside,
}

/// Cuts a byte stream into messages, one at a time.
pub(super) struct Splitter<R> {
    lines: LineReader<R>,
    state: State,
    /// The current line must be looked at again (it ended one message and starts another).
    reprocess: bool,
    header: PendingHeader,
    current: Option<RawMessage>,
    count: u32,
    /// Fields seen in the current message, and whether a closing balance (`:62a:`) was.
    fields: u32,
    closing_seen: bool,
    first_tag: Vec<u8>,
    /// The current message's last field is free text (`:86:`).
    in_free_text: bool,
    /// A line holding only `-` inside free text, waiting for the next line to say whether it
    /// ends the message or is text (see [`Splitter::lone_dash_ends`]).
    dash: Option<u32>,
}

/// A field line: `:` two digits, an optional letter, `:` (spaces before the closing colon are
/// tolerated), or the non-SWIFT `:NS:` some Polish banks add. Returns the tag and the offset of
/// the value.
pub(super) fn tag_of(line: &[u8]) -> Option<(&[u8], usize)> {
    if line.len() < 4 || line[0] != b':' {
        return None;
    }
    if line[1].is_ascii_digit() && line[2].is_ascii_digit() {
        let mut end = 3;
        if line.get(3).is_some_and(u8::is_ascii_uppercase) {
            end = 4;
        }
        let mut close = end;
        while line.get(close) == Some(&b' ') {
            close += 1;
        }
        if line.get(close) == Some(&b':') {
            return Some((&line[1..end], close + 1));
        }
        return None;
    }
    if line.starts_with(b":NS:") {
        return Some((&line[1..3], 4));
    }
    None
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

impl<R: BufRead> Splitter<R> {
    pub(super) fn new(inner: R) -> Self {
        Splitter {
            lines: LineReader::new(inner),
            state: State::Outside,
            reprocess: false,
            header: PendingHeader::default(),
            current: None,
            count: 0,
            fields: 0,
            closing_seen: false,
            first_tag: Vec::new(),
            in_free_text: false,
            dash: None,
        }
    }

    /// The next message, or `None` at the end of the input.
    pub(super) fn next_message(&mut self) -> Result<Option<RawMessage>, SplitError> {
        loop {
            if !self.reprocess && !self.lines.advance()? {
                let end = match self.dash.take() {
                    Some(dash) => End::Terminated(dash),
                    None => End::FileEnded,
                };
                // A file cut inside the FIN headers of its last message: an empty message,
                // so that it is reported, not dropped.
                if let (State::Outside, Some(start)) = (&self.state, self.header.start_line) {
                    self.open(start, self.lines.number + 1, true);
                }
                return Ok(self.finish(end));
            }
            self.reprocess = false;
            let n = self.lines.number;
            match self.state {
                State::Outside => self.outside(n),
                State::Inside => {
                    if let Some(m) = self.inside(n)? {
                        return Ok(Some(m));
                    }
                }
            }
        }
    }

    fn outside(&mut self, n: u32) {
        let line = &self.lines.line;
        let t = trim(line);
        if t.is_empty() {
            return;
        }
        if t[0] == b'{' {
            let t = t.to_vec();
            self.header_line(&t, n);
            return;
        }
        if t[0] == b'$' {
            // `$` separates messages in some German banks' files.
            let skip = 1 + line.len() - line.trim_ascii_start().len();
            self.lines.line.drain(..skip);
            self.reprocess = !trim(&self.lines.line).is_empty();
            return;
        }
        let start = line.len() - line.trim_ascii_start().len();
        // Anything but a field outside a message is a bank's decoration: skipped.
        if let Some((tag, _)) = tag_of(&line[start..]) {
            let tag = tag.to_vec();
            let start_line = self.header.start_line.unwrap_or(n);
            self.open(start_line, n, false);
            self.push_line(n, &tag);
        }
    }

    /// A line of FIN header blocks (`{1:…}{2:…}{3:…}{4:`), possibly after an acknowledgement.
    fn header_line(&mut self, t: &[u8], n: u32) {
        let opens = [&b"{1:"[..], b"{2:", b"{3:", b"{4:"];
        if !opens.iter().any(|o| memmem::find(t, o).is_some()) {
            // A trailer (`{5:…}`, `{S:…}`) of the message before.
            return;
        }
        self.header.start_line.get_or_insert(n);
        let open = memmem::rfind(t, b"{4:");
        let head = &t[..open.unwrap_or(t.len())];
        if let Some(p) = memmem::rfind(head, b"{1:") {
            let v = &head[p + 3..];
            // F01 + logical terminal address (12) + session and sequence.
            if v.len() >= 15 {
                self.header.block1_lt = Some(String::from_utf8_lossy(&v[3..15]).into_owned());
            }
        }
        if let Some(p) = memmem::rfind(head, b"{2:") {
            let v = &head[p + 3..];
            if let Some(&io) = v.first().filter(|c| matches!(c, b'I' | b'O')) {
                let end = v.iter().position(|&c| c == b'}').unwrap_or(v.len());
                self.header.block2 = Some((io, String::from_utf8_lossy(&v[1..end]).into_owned()));
            }
        }
        if let Some(p) = open {
            let start_line = self.header.start_line.unwrap_or(n);
            let rest = trim(&t[p + 3..]).to_vec();
            if rest.is_empty() {
                self.open(start_line, n + 1, true);
            } else if rest[0] == b'{' {
                // A system block 4 (`{4:{177:…}{451:0}}`, an acknowledgement): no text.
                self.header = PendingHeader::default();
            } else {
                // Text on the same line as `{4:`.
                self.open(start_line, n, true);
                self.lines.line = rest;
                self.reprocess = true;
            }
        }
    }

    fn open(&mut self, start_line: u32, text_line: u32, headered: bool) {
        self.count += 1;
        let header = std::mem::take(&mut self.header);
        let block2 = header.block2.and_then(|(io, v)| {
            let number: u16 = v.get(..3)?.parse().ok()?;
            let bic = |lt: &str| -> Option<String> {
                if lt.len() < 12 || !lt.is_ascii() {
                    return None;
                }
                let branch = &lt[9..12];
                Some(if branch == "XXX" {
                    lt[..8].to_owned()
                } else {
                    format!("{}{}", &lt[..8], branch)
                })
            };
            let sender_bic = match io {
                // O + type + input time (4) + MIR: date (6) + sender's LT address (12) + …
                b'O' => v.get(13..25).and_then(bic),
                _ => header.block1_lt.as_deref().and_then(bic),
            };
            Some(Block2 { number, sender_bic })
        });
        self.current = Some(RawMessage {
            index: self.count,
            start_line,
            text_line,
            block2,
            headered,
            text: Vec::new(),
            end: End::Open,
            last_line: text_line.saturating_sub(1),
        });
        self.fields = 0;
        self.closing_seen = false;
        self.first_tag.clear();
        self.in_free_text = false;
        self.dash = None;
        self.state = State::Inside;
    }

    fn push_line(&mut self, n: u32, tag: &[u8]) -> Option<()> {
        let m = self.current.as_mut()?;
        if !tag.is_empty() {
            self.fields += 1;
            if self.fields == 1 {
                self.first_tag = tag.to_vec();
            }
            if tag == b"62F" || tag == b"62M" {
                self.closing_seen = true;
            }
            self.in_free_text = tag == b"86" || tag == b"NS";
        }
        if n > m.text_line {
            m.text.push(b'\n');
        }
        m.text.extend_from_slice(&self.lines.line);
        m.last_line = n;
        Some(())
    }

    /// Whether a line holding only `-` ends the message, once the line after it (`next`; `None`
    /// at the end of the file) is known. In a FIN message the text block ends with `-}`; in a
    /// file without FIN blocks a lone `-` ends a message, but a bank that hard-wraps `:86:` at
    /// a fixed width can leave a `-` alone on a line inside the field (`…RECHNUNG 2026` /
    /// `-` / `0042…`). After a lone `-` a message ends only where something other than text
    /// follows: a field tag (`:20:`, or `:940:` as some banks put between messages), a block
    /// (`{`, `}`), a `$` separator, an empty line or the end of the file. Anything else is the
    /// field's text going on. (Banks' decoration lines between messages, such as ABN AMRO's
    /// `ABNANL2A`, follow the closing balance, never `:86:`, so they are not taken as text.)
    fn lone_dash_ends(next: Option<&[u8]>) -> bool {
        let Some(next) = next.map(trim).filter(|t| !t.is_empty()) else {
            return true;
        };
        if matches!(next[0], b'{' | b'}' | b'$' | b'-') || tag_of(next).is_some() {
            return true;
        }
        // `:940:` and the like: a colon, letters or digits, a colon.
        next[0] == b':'
            && next[1..]
                .iter()
                .position(|&c| c == b':')
                .is_some_and(|p| p > 0 && next[1..=p].iter().all(u8::is_ascii_alphanumeric))
    }

    fn inside(&mut self, n: u32) -> Result<Option<RawMessage>, SplitError> {
        if let Some(dash) = self.dash.take() {
            if Self::lone_dash_ends(Some(&self.lines.line)) {
                let msg = self.finish(End::Terminated(dash));
                self.reprocess = true;
                return Ok(msg);
            }
            if let Some(m) = self.current.as_mut() {
                m.text.extend_from_slice(b"\n-");
                m.last_line = dash;
            }
        }
        let line = &self.lines.line;
        // Control characters too: `-` followed by ETX or SUB (DOS end of file) ends a message.
        let t = trim(line).trim_ascii_end();
        let t = match t.iter().rposition(|c| !c.is_ascii_control()) {
            Some(p) if t.first() == Some(&b'-') => &t[..=p],
            _ => t,
        };
        if let Some(&first) = t.first() {
            if first == b'-' {
                if t == b"-" && self.in_free_text {
                    self.dash = Some(n);
                    return Ok(None);
                }
                let std_end = t == b"-" || t.starts_with(b"-}");
                // Banks' variants: `-XXX` (ING), `-å` (a Swedish 7-bit `}`), after the closing
                // balance only, where no text line can start with `-`.
                let variant = self.closing_seen && t.len() <= 4;
                if std_end || variant {
                    let rest = t.to_vec();
                    let msg = self.finish(End::Terminated(n));
                    // `-}{5:…}{1:…}{2:…}{4:` — the next message may start on the same line.
                    if let Some(p) = memmem::find(&rest, b"{1:") {
                        self.lines.line = rest[p..].to_vec();
                        self.reprocess = true;
                    }
                    return Ok(msg);
                }
            }
            if first == b'$' {
                // `$` separates messages (some German banks); a message may follow on the
                // same line.
                let rest = trim(&t[1..]).to_vec();
                let msg = self.finish(End::Terminated(n));
                if !rest.is_empty() {
                    self.lines.line = rest;
                    self.reprocess = true;
                }
                return Ok(msg);
            }
            if first == b'{' && self.fields > 0 {
                let msg = self.finish(End::Open);
                self.reprocess = true;
                return Ok(msg);
            }
        }
        let start = line.len() - line.trim_ascii_start().len();
        let tag = match tag_of(&line[start..]) {
            Some((tag, v)) => {
                let opens_next = match tag {
                    b"20" => self.first_tag == b"20",
                    b"16R" => trim(&line[start + v..]) == b"GENL" && self.first_tag == b"16R",
                    _ => false,
                };
                if opens_next && self.fields > 0 {
                    let msg = self.finish(End::Open);
                    self.reprocess = true;
                    return Ok(msg);
                }
                tag.to_vec()
            }
            None => Vec::new(),
        };
        self.push_line(n, &tag);
        if let Some(m) = &self.current
            && m.text.len() > MAX_MESSAGE
        {
            return Err(SplitError::MessageTooLarge {
                index: m.index,
                line: m.start_line,
            });
        }
        Ok(None)
    }

    fn finish(&mut self, end: End) -> Option<RawMessage> {
        self.state = State::Outside;
        let mut m = self.current.take()?;
        if let End::Terminated(n) = end {
            m.last_line = n;
        }
        m.end = end;
        Some(m)
    }
}

/// The message's text as a string: UTF-8 when valid, else Windows-1252 (a superset of Latin-1
/// for every character banks use).
pub(super) fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}
