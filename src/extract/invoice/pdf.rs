//! Finds the invoice attached to a Factur-X/ZUGFeRD PDF: clerk's own small PDF reader, made for
//! this one job and for files from strangers.
//!
//! It reads the cross-reference data (tables and streams, following `/Prev`), falls back on a
//! scan for `N G obj` headers when that is damaged, resolves objects (also those packed in
//! object streams), and walks the catalog's `/Names/EmbeddedFiles` name tree and its `/AF`
//! (associated files) array to the file specifications and their embedded streams.
//!
//! Bounded everywhere: the PDF's size ([`MAX_PDF_BYTES`]), the unpacked size of the attachment
//! ([`MAX_ATTACHMENT_BYTES`]) and of object streams together, the nesting of arrays and
//! dictionaries, the length of reference chains, the nodes of a name tree and the sections of
//! cross-reference data. Nothing it reads can make it loop or recurse without end, and a panic
//! (a bug) is turned into an error.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::ops::Range;
use std::rc::Rc;

use memchr::memmem;

/// Largest PDF read. The daemon refuses larger files before reading them (its own, larger,
/// `max_file_size_mb`); this one keeps a PDF well inside what an invoice needs.
pub const MAX_PDF_BYTES: usize = 256 << 20;

/// Largest attachment unpacked: a Factur-X XML is kilobytes, so a flate bomb stops here.
pub const MAX_ATTACHMENT_BYTES: usize = 32 << 20;

/// Most bytes unpacked from object streams and cross-reference streams, all together.
const MAX_UNPACKED_STRUCTURE: usize = 64 << 20;

/// Deepest nesting of arrays and dictionaries.
const MAX_DEPTH: usize = 32;

/// Longest chain of references followed to reach an object (an object's `/Length` may be a
/// reference, whose object is in an object stream, ...).
const MAX_CHAIN: u32 = 16;

/// Most name tree nodes visited.
const MAX_TREE_NODES: usize = 10_000;

/// Most cross-reference sections followed through `/Prev`.
const MAX_XREF_SECTIONS: usize = 256;

/// Attachment names of the invoice, lower case, in order of preference: Factur-X 1.0 /
/// ZUGFeRD 2.1+, ZUGFeRD 2.0, XRechnung in a PDF. (ZUGFeRD 1.0's `ZUGFeRD-invoice.xml` is
/// `zugferd-invoice.xml` too; its content is then refused by the CII reader with a clear
/// message.)
const INVOICE_NAMES: &[&str] = &["factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml"];

const NO_INVOICE: &str = "a PDF without an embedded Factur-X/ZUGFeRD invoice (no factur-x.xml / zugferd-invoice.xml attachment)";

/// The invoice XML found in a PDF.
pub(super) struct Attachment {
    /// Its file name as the PDF gives it.
    pub name: String,
    pub data: Vec<u8>,
}

/// Whether the bytes are a PDF: `%PDF-` within the first KB (readers accept leading junk),
/// in a file that does not start like XML.
pub(super) fn is_pdf(bytes: &[u8]) -> bool {
    let first = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(bytes)
        .iter()
        .find(|c| !c.is_ascii_whitespace());
    first != Some(&b'<') && memmem::find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_some()
}

/// A cheap look for anything that could hold an attached file: an embedded file stream is
/// never packed in an object stream, so `EmbeddedFile` shows in its dictionary unless its
/// optional `/Type` is left out; with object streams the rest cannot be seen without reading.
pub(super) fn might_hold_attachment(bytes: &[u8]) -> bool {
    memmem::find(bytes, b"EmbeddedFile").is_some() || memmem::find(bytes, b"/ObjStm").is_some()
}

/// Finds and unpacks the invoice attachment, or says why there is none.
pub(super) fn embedded_invoice(bytes: &[u8]) -> Result<Attachment, String> {
    if bytes.len() > MAX_PDF_BYTES {
        return Err(format!(
            "the PDF is {} MB, more than the {} MB clerk reads for an invoice",
            bytes.len() >> 20,
            MAX_PDF_BYTES >> 20
        ));
    }
    std::panic::catch_unwind(|| find(bytes)).unwrap_or_else(|_| {
        Err(
            "the PDF is damaged: clerk's PDF reader failed on it (a bug; please report the file)"
                .into(),
        )
    })
}

fn find(bytes: &[u8]) -> Result<Attachment, String> {
    let pdf = Pdf::open(bytes);
    if pdf.trailer_get(b"Encrypt").is_some() {
        return Err("the PDF is encrypted: clerk cannot read its attachments (PDF/A-3 invoices must not be encrypted)".into());
    }
    let catalog = pdf
        .catalog()
        .ok_or_else(|| format!("{NO_INVOICE}: the PDF has no readable catalog (damaged?)"))?;
    let specs = pdf.file_specs(&catalog);
    let mut names: Vec<String> = Vec::new();
    let mut best: Option<(usize, String, Dict)> = None;
    for (key, spec) in specs {
        let name = spec_name(&pdf, &spec, key.as_deref());
        let lower = name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&name)
            .to_ascii_lowercase();
        if let Some(rank) = INVOICE_NAMES.iter().position(|n| *n == lower)
            && best.as_ref().is_none_or(|(r, _, _)| rank < *r)
        {
            best = Some((rank, name.clone(), spec));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let Some((_, name, spec)) = best else {
        return Err(if names.is_empty() {
            NO_INVOICE.to_string()
        } else {
            format!("{NO_INVOICE}; its attachments: {}", names.join(", "))
        });
    };
    let stream = pdf.embedded_stream(&spec).ok_or_else(|| {
        format!("the PDF names the attachment {name} but its content is missing (damaged?)")
    })?;
    let data = pdf
        .decode(&stream, MAX_ATTACHMENT_BYTES)
        .map_err(|m| format!("the PDF's attachment {name}: {m}"))?;
    Ok(Attachment { name, data })
}

/// The name of a file specification: `/UF` (Unicode), `/F`, or the name tree key.
fn spec_name(pdf: &Pdf<'_>, spec: &Dict, key: Option<&[u8]>) -> String {
    for k in [b"UF".as_slice(), b"F"] {
        if let Some(Obj::Str(s)) = dict_get(spec, k).map(|o| pdf.resolve(o)) {
            let t = text_string(&s);
            if !t.trim().is_empty() {
                return t;
            }
        }
    }
    key.map(text_string).unwrap_or_else(|| "(unnamed)".into())
}

/// A PDF text string: UTF-16BE with a byte-order mark, UTF-8 with one, else PDFDocEncoding
/// (read as Latin-1, which it equals for names of files).
fn text_string(s: &[u8]) -> String {
    if let Some(u) = s.strip_prefix(b"\xFE\xFF") {
        let units: Vec<u16> = u
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(u) = s.strip_prefix(b"\xEF\xBB\xBF") {
        String::from_utf8_lossy(u).into_owned()
    } else {
        s.iter().map(|&b| b as char).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Objects

type Dict = Vec<(Vec<u8>, Obj)>;

#[derive(Clone, Debug, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    /// A real number: never needed here, so its value is not kept.
    Real,
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32),
    /// A stream: its dictionary and where its (still encoded) data lies in its buffer.
    Stream(Stream),
}

#[derive(Clone, Debug, PartialEq)]
struct Stream {
    dict: Dict,
    data: Range<usize>,
}

fn dict_get<'d>(d: &'d Dict, key: &[u8]) -> Option<&'d Obj> {
    d.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn is_name(o: Option<&Obj>, name: &[u8]) -> bool {
    matches!(o, Some(Obj::Name(n)) if n == name)
}

/// A tokenizer and object parser over one buffer.
struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

fn is_white(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_white(c) && !is_delimiter(c)
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Lexer { b, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_white(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Whether a keyword starts here (and is not the start of a longer word); consumes it.
    fn keyword(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        if self.b.get(self.pos..end) == Some(word)
            && self.b.get(end).is_none_or(|&c| !is_regular(c))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// A run of decimal digits as a number.
    fn unsigned(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.pos += 1;
        }
        (self.pos > start).then_some(v)
    }

    fn object(&mut self, depth: usize) -> Option<Obj> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        let c = self.peek()?;
        match c {
            b'/' => {
                self.pos += 1;
                Some(Obj::Name(self.name_body()))
            }
            b'(' => self.literal_string().map(Obj::Str),
            b'<' if self.b.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut d = Dict::new();
                loop {
                    self.skip_ws();
                    if self.b.get(self.pos..self.pos + 2) == Some(b">>") {
                        self.pos += 2;
                        return Some(Obj::Dict(d));
                    }
                    if self.peek()? != b'/' {
                        return None;
                    }
                    self.pos += 1;
                    let key = self.name_body();
                    let value = self.object(depth + 1)?;
                    d.push((key, value));
                }
            }
            b'<' => self.hex_string().map(Obj::Str),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek()? == b']' {
                        self.pos += 1;
                        return Some(Obj::Array(items));
                    }
                    items.push(self.object(depth + 1)?);
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            _ => {
                if self.keyword(b"true") {
                    Some(Obj::Bool(true))
                } else if self.keyword(b"false") {
                    Some(Obj::Bool(false))
                } else if self.keyword(b"null") {
                    Some(Obj::Null)
                } else {
                    None
                }
            }
        }
    }

    /// A number, or a reference `N G R`.
    fn number(&mut self) -> Option<Obj> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let int_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let int_end = self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            return (self.pos > int_start + 1 || int_end > int_start).then_some(Obj::Real);
        }
        if int_end == int_start {
            return None;
        }
        let text = std::str::from_utf8(&self.b[start..int_end]).ok()?;
        // Out-of-range integers are nonsense in any PDF that matters here.
        let value: i64 = text.parse().unwrap_or(i64::MAX);
        // A reference: a non-negative object number, a generation, then R.
        if self.b[start].is_ascii_digit() {
            let after = self.pos;
            self.skip_ws();
            if self.peek().is_some_and(|c| c.is_ascii_digit()) && self.unsigned().is_some() {
                self.skip_ws();
                if self.keyword(b"R")
                    && let Ok(n) = u32::try_from(value)
                {
                    return Some(Obj::Ref(n));
                }
            }
            self.pos = after;
        }
        Some(Obj::Int(value))
    }

    /// The characters of a name after its `/`, with `#xx` escapes decoded.
    fn name_body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = self.peek().filter(|&c| is_regular(c)) {
            self.pos += 1;
            if c == b'#'
                && let Some(h) = self.b.get(self.pos..self.pos + 2)
                && let (Some(a), Some(b)) = (hex_value(h[0]), hex_value(h[1]))
            {
                out.push(a << 4 | b);
                self.pos += 2;
            } else {
                out.push(c);
            }
        }
        out
    }

    fn literal_string(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut open = 1usize;
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'(' => {
                    open += 1;
                    out.push(c);
                }
                b')' => {
                    open -= 1;
                    if open == 0 {
                        return Some(out);
                    }
                    out.push(c);
                }
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        // A backslash at the end of a line continues the string.
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn hex_string(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let c = self.peek()?;
            self.pos += 1;
            if c == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Some(out);
            }
            if is_white(c) {
                continue;
            }
            let v = hex_value(c)?;
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The document

#[derive(Clone, Copy, Debug)]
enum Entry {
    /// An object at a byte offset of the file.
    At(usize),
    /// The `index`th object of object stream `stream`.
    Packed { stream: u32, index: usize },
}

/// An object stream, unpacked: its bytes and where each object starts.
struct ObjStm {
    data: Vec<u8>,
    objects: Vec<(u32, usize)>,
}

struct Pdf<'a> {
    bytes: &'a [u8],
    xref: HashMap<u32, Entry>,
    /// The newest trailer (of a table, or the dictionary of a cross-reference stream).
    trailer: Dict,
    /// Object offsets found by scanning the file, when the cross-reference data fails us.
    scanned: OnceCell<HashMap<u32, usize>>,
    objstms: RefCell<HashMap<u32, Option<Rc<ObjStm>>>>,
    /// Bytes unpacked so far from object and cross-reference streams.
    unpacked: RefCell<usize>,
    /// References being followed now, against chains and cycles.
    chain: RefCell<u32>,
}

impl<'a> Pdf<'a> {
    fn open(bytes: &'a [u8]) -> Self {
        let mut pdf = Pdf {
            bytes,
            xref: HashMap::new(),
            trailer: Dict::new(),
            scanned: OnceCell::new(),
            objstms: RefCell::new(HashMap::new()),
            unpacked: RefCell::new(0),
            chain: RefCell::new(0),
        };
        pdf.read_xref();
        if dict_get(&pdf.trailer, b"Root").is_none() {
            pdf.trailer = pdf.scanned_trailer();
        }
        pdf
    }

    fn trailer_get(&self, key: &[u8]) -> Option<&Obj> {
        dict_get(&self.trailer, key)
    }

    /// Follows `startxref` and every `/Prev`; newer entries win. Leaves the table empty when
    /// the file has none that can be read (object lookups then fall back on a scan).
    fn read_xref(&mut self) {
        let tail_start = self.bytes.len().saturating_sub(2048);
        let Some(at) = memmem::rfind(&self.bytes[tail_start..], b"startxref") else {
            return;
        };
        let mut lx = Lexer::new(self.bytes, tail_start + at + b"startxref".len());
        lx.skip_ws();
        let Some(mut offset) = lx.unsigned().and_then(|o| usize::try_from(o).ok()) else {
            return;
        };
        let mut seen = HashSet::new();
        let mut first = true;
        let mut pending_stream: Vec<usize> = Vec::new();
        loop {
            if seen.len() >= MAX_XREF_SECTIONS || !seen.insert(offset) {
                break;
            }
            let Some(trailer) = self.read_section(offset) else {
                break;
            };
            // A hybrid file's table points to a cross-reference stream with more entries.
            if let Some(Obj::Int(s)) = dict_get(&trailer, b"XRefStm")
                && let Ok(s) = usize::try_from(*s)
            {
                pending_stream.push(s);
            }
            while let Some(s) = pending_stream.pop() {
                if seen.insert(s) {
                    self.read_section(s);
                }
            }
            let prev = match dict_get(&trailer, b"Prev") {
                Some(Obj::Int(p)) => usize::try_from(*p).ok(),
                _ => None,
            };
            if first {
                self.trailer = trailer;
                first = false;
            }
            match prev {
                Some(p) => offset = p,
                None => break,
            }
        }
    }

    /// Reads one cross-reference section (a table with its trailer, or a stream) into the
    /// table, keeping entries already there; returns its trailer dictionary.
    fn read_section(&mut self, offset: usize) -> Option<Dict> {
        let mut lx = Lexer::new(self.bytes, offset);
        lx.skip_ws();
        if lx.keyword(b"xref") {
            loop {
                lx.skip_ws();
                if lx.keyword(b"trailer") {
                    return match lx.object(0)? {
                        Obj::Dict(d) => Some(d),
                        _ => None,
                    };
                }
                let start = u32::try_from(lx.unsigned()?).ok()?;
                lx.skip_ws();
                let count = u32::try_from(lx.unsigned()?).ok()?;
                for i in 0..count {
                    lx.skip_ws();
                    let off = lx.unsigned()?;
                    lx.skip_ws();
                    lx.unsigned()?;
                    lx.skip_ws();
                    let kind = lx.peek()?;
                    lx.pos += 1;
                    let num = start.checked_add(i)?;
                    if kind == b'n' {
                        self.xref
                            .entry(num)
                            .or_insert(Entry::At(usize::try_from(off).ok()?));
                    } else if kind != b'f' {
                        return None;
                    }
                }
            }
        }
        // A cross-reference stream: an indirect object of type XRef.
        let (_, obj) = self.indirect_at(offset, None)?;
        let Obj::Stream(s) = obj else { return None };
        if !is_name(dict_get(&s.dict, b"Type"), b"XRef") {
            return None;
        }
        let budget = MAX_UNPACKED_STRUCTURE.saturating_sub(*self.unpacked.borrow());
        let data = self.decode(&s, budget).ok()?;
        *self.unpacked.borrow_mut() += data.len();
        let widths: Vec<usize> = match dict_get(&s.dict, b"W") {
            Some(Obj::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|x| match x {
                    Obj::Int(n) if (0..=8).contains(n) => Some(*n as usize),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => return None,
        };
        let row = widths.iter().sum::<usize>();
        if row == 0 {
            return None;
        }
        let size = match dict_get(&s.dict, b"Size") {
            Some(Obj::Int(n)) => *n,
            _ => return None,
        };
        let index: Vec<i64> = match dict_get(&s.dict, b"Index") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Obj::Int(n) => Some(*n),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            _ => vec![0, size],
        };
        let field = |rec: &[u8], i: usize| -> u64 {
            let start: usize = widths[..i].iter().sum();
            rec[start..start + widths[i]]
                .iter()
                .fold(0u64, |v, &b| v << 8 | u64::from(b))
        };
        let mut records = data.chunks_exact(row);
        for pair in index.chunks_exact(2) {
            let (Ok(first), Ok(count)) = (u32::try_from(pair[0]), u32::try_from(pair[1])) else {
                return None;
            };
            for i in 0..count {
                let Some(rec) = records.next() else { break };
                // A missing type field means type 1.
                let kind = if widths[0] == 0 { 1 } else { field(rec, 0) };
                let num = first.checked_add(i)?;
                let entry = match kind {
                    1 => Entry::At(usize::try_from(field(rec, 1)).ok()?),
                    2 => Entry::Packed {
                        stream: u32::try_from(field(rec, 1)).ok()?,
                        index: usize::try_from(field(rec, 2)).ok()?,
                    },
                    _ => continue,
                };
                self.xref.entry(num).or_insert(entry);
            }
        }
        Some(s.dict)
    }

    /// The trailer of a file whose cross-reference data cannot be read: the last `trailer`
    /// dictionary (or cross-reference stream dictionary) that names a root.
    fn scanned_trailer(&self) -> Dict {
        let mut best: Option<(usize, Dict)> = None;
        for at in memmem::find_iter(self.bytes, b"trailer") {
            let mut lx = Lexer::new(self.bytes, at + b"trailer".len());
            if let Some(Obj::Dict(d)) = lx.object(0)
                && dict_get(&d, b"Root").is_some()
            {
                best = Some((at, d));
            }
        }
        for (&num, &at) in self.scanned() {
            if best.as_ref().is_some_and(|(b, _)| *b > at) {
                continue;
            }
            if let Some((_, Obj::Stream(s))) = self.indirect_at(at, Some(num))
                && is_name(dict_get(&s.dict, b"Type"), b"XRef")
                && dict_get(&s.dict, b"Root").is_some()
            {
                best = Some((at, s.dict));
            }
        }
        best.map(|(_, d)| d).unwrap_or_default()
    }

    /// Every `N G obj` header in the file, the last of each number winning (a later
    /// incremental update replaces an object).
    fn scanned(&self) -> &HashMap<u32, usize> {
        self.scanned.get_or_init(|| {
            let mut found = HashMap::new();
            for at in memmem::find_iter(self.bytes, b"obj") {
                if self.bytes.get(at + 3).is_some_and(|&c| is_regular(c)) {
                    continue;
                }
                if let Some((num, start)) = header_before(self.bytes, at) {
                    found.insert(num, start);
                }
            }
            found
        })
    }

    /// The object with number `num`.
    fn get(&self, num: u32) -> Option<Obj> {
        {
            let mut chain = self.chain.borrow_mut();
            if *chain >= MAX_CHAIN {
                return None;
            }
            *chain += 1;
        }
        let found = self.lookup(num);
        *self.chain.borrow_mut() -= 1;
        found
    }

    fn lookup(&self, num: u32) -> Option<Obj> {
        match self.xref.get(&num) {
            Some(Entry::At(off)) => {
                if let Some((_, o)) = self.indirect_at(*off, Some(num)) {
                    return Some(o);
                }
            }
            Some(Entry::Packed { stream, index }) => {
                if let Some(o) = self.packed(*stream, *index, num) {
                    return Some(o);
                }
            }
            None => {}
        }
        // Not in the table, or not where the table says: look where the file has it.
        let at = *self.scanned().get(&num)?;
        self.indirect_at(at, Some(num)).map(|(_, o)| o)
    }

    /// Resolves references; anything unresolvable is `Null`.
    fn resolve(&self, o: &Obj) -> Obj {
        match o {
            Obj::Ref(n) => match self.get(*n) {
                Some(Obj::Ref(m)) => self.get(m).unwrap_or(Obj::Null),
                Some(other) => other,
                None => Obj::Null,
            },
            other => other.clone(),
        }
    }

    fn resolve_dict(&self, o: &Obj) -> Option<Dict> {
        match self.resolve(o) {
            Obj::Dict(d) => Some(d),
            Obj::Stream(s) => Some(s.dict),
            _ => None,
        }
    }

    /// The `index`th object of an object stream (checked to be number `num`).
    fn packed(&self, stream: u32, index: usize, num: u32) -> Option<Obj> {
        let objstm = self.objstm(stream)?;
        let &(n, off) = objstm.objects.get(index)?;
        let start = if n == num {
            off
        } else {
            objstm.objects.iter().find(|(m, _)| *m == num)?.1
        };
        Lexer::new(&objstm.data, start).object(0)
    }

    fn objstm(&self, num: u32) -> Option<Rc<ObjStm>> {
        if let Some(cached) = self.objstms.borrow().get(&num) {
            return cached.clone();
        }
        let loaded = self.load_objstm(num).map(Rc::new);
        self.objstms.borrow_mut().insert(num, loaded.clone());
        loaded
    }

    fn load_objstm(&self, num: u32) -> Option<ObjStm> {
        let Obj::Stream(s) = self.get(num)? else {
            return None;
        };
        let budget = MAX_UNPACKED_STRUCTURE.saturating_sub(*self.unpacked.borrow());
        let data = self.decode(&s, budget).ok()?;
        *self.unpacked.borrow_mut() += data.len();
        let count = match dict_get(&s.dict, b"N") {
            Some(Obj::Int(n)) => usize::try_from(*n).ok()?,
            _ => return None,
        };
        let first = match dict_get(&s.dict, b"First") {
            Some(Obj::Int(n)) => usize::try_from(*n).ok()?,
            _ => return None,
        };
        let mut lx = Lexer::new(&data, 0);
        let mut objects = Vec::with_capacity(count.min(data.len() / 4 + 1));
        for _ in 0..count {
            lx.skip_ws();
            let n = u32::try_from(lx.unsigned()?).ok()?;
            lx.skip_ws();
            let off = usize::try_from(lx.unsigned()?).ok()?;
            objects.push((n, first.checked_add(off)?));
        }
        Some(ObjStm { data, objects })
    }

    /// Parses the indirect object `N G obj … endobj` at `offset` (checked to be number
    /// `expect` when given); a stream's data range is found from its `/Length` when that is
    /// right, else from the `endstream` after it.
    fn indirect_at(&self, offset: usize, expect: Option<u32>) -> Option<(u32, Obj)> {
        let mut lx = Lexer::new(self.bytes, offset);
        lx.skip_ws();
        let num = u32::try_from(lx.unsigned()?).ok()?;
        if expect.is_some_and(|e| e != num) {
            return None;
        }
        lx.skip_ws();
        lx.unsigned()?;
        lx.skip_ws();
        if !lx.keyword(b"obj") {
            return None;
        }
        let obj = lx.object(0)?;
        lx.skip_ws();
        let Obj::Dict(dict) = obj else {
            return Some((num, obj));
        };
        if !lx.keyword(b"stream") {
            return Some((num, Obj::Dict(dict)));
        }
        // The data starts after CRLF or LF (a lone CR is tolerated).
        match (self.bytes.get(lx.pos), self.bytes.get(lx.pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => lx.pos += 2,
            (Some(b'\n' | b'\r'), _) => lx.pos += 1,
            _ => {}
        }
        let start = lx.pos;
        let declared = match dict_get(&dict, b"Length") {
            Some(Obj::Int(n)) => usize::try_from(*n).ok(),
            Some(Obj::Ref(r)) if *r != num => match self.get(*r) {
                Some(Obj::Int(n)) => usize::try_from(n).ok(),
                _ => None,
            },
            _ => None,
        };
        let fits = |len: usize| {
            let end = start.checked_add(len)?;
            let mut after = Lexer::new(self.bytes, end);
            after.skip_ws();
            after.keyword(b"endstream").then_some(end)
        };
        let end = match declared.and_then(fits) {
            Some(end) => end,
            None => {
                let at = start + memmem::find(self.bytes.get(start..)?, b"endstream")?;
                // The end-of-line before `endstream` is not data.
                let mut end = at;
                if end > start && self.bytes[end - 1] == b'\n' {
                    end -= 1;
                }
                if end > start && self.bytes[end - 1] == b'\r' {
                    end -= 1;
                }
                end
            }
        };
        Some((
            num,
            Obj::Stream(Stream {
                dict,
                data: start..end,
            }),
        ))
    }

    /// A stream's data, unpacked (`/FlateDecode`, or none), at most `cap` bytes.
    fn decode(&self, s: &Stream, cap: usize) -> Result<Vec<u8>, String> {
        let raw = self
            .bytes
            .get(s.data.clone())
            .ok_or("its data lies outside the file")?;
        let filters: Vec<Obj> = match dict_get(&s.dict, b"Filter").map(|f| self.resolve(f)) {
            None | Some(Obj::Null) => Vec::new(),
            Some(Obj::Array(a)) => a,
            Some(other) => vec![other],
        };
        let params: Vec<Obj> = match dict_get(&s.dict, b"DecodeParms").map(|p| self.resolve(p)) {
            None | Some(Obj::Null) => Vec::new(),
            Some(Obj::Array(a)) => a,
            Some(other) => vec![other],
        };
        let mut data: Option<Vec<u8>> = None;
        for (i, filter) in filters.iter().enumerate() {
            let Obj::Name(name) = filter else {
                return Err("its /Filter is not a name".into());
            };
            if name != b"FlateDecode" && name != b"Fl" {
                return Err(format!(
                    "it is packed with /{}, which clerk does not unpack (only /FlateDecode)",
                    String::from_utf8_lossy(name)
                ));
            }
            let input = data.as_deref().unwrap_or(raw);
            let mut out = inflate(input, cap)?;
            if let Some(p) = params.get(i).and_then(|p| self.resolve_dict(p)) {
                out = unpredict(out, &p)?;
            }
            data = Some(out);
        }
        match data {
            Some(d) => Ok(d),
            None if raw.len() > cap => Err(format!("it is larger than {} MB", cap >> 20)),
            None => Ok(raw.to_vec()),
        }
    }

    /// The document catalog: the trailer's `/Root`, else the last object of type Catalog.
    fn catalog(&self) -> Option<Dict> {
        if let Some(root) = self.trailer_get(b"Root")
            && let Some(d) = self.resolve_dict(root)
        {
            return Some(d);
        }
        let mut numbers: Vec<(usize, u32)> =
            self.scanned().iter().map(|(&n, &at)| (at, n)).collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .rev()
            .find_map(|(at, n)| match self.indirect_at(at, Some(n)) {
                Some((_, Obj::Dict(d))) if is_name(dict_get(&d, b"Type"), b"Catalog") => Some(d),
                _ => None,
            })
    }

    /// The file specifications the catalog lists: the `/EmbeddedFiles` name tree (with their
    /// keys) and then `/AF`, each once.
    fn file_specs(&self, catalog: &Dict) -> Vec<(Option<Vec<u8>>, Dict)> {
        let mut out: Vec<(Option<Vec<u8>>, Dict)> = Vec::new();
        let mut refs_seen: HashSet<u32> = HashSet::new();
        let mut push = |key: Option<Vec<u8>>, spec: &Obj, out: &mut Vec<_>| {
            if let Obj::Ref(n) = spec
                && !refs_seen.insert(*n)
            {
                return;
            }
            if let Some(d) = self.resolve_dict(spec) {
                out.push((key, d));
            }
        };
        if let Some(names) = dict_get(catalog, b"Names").and_then(|n| self.resolve_dict(n))
            && let Some(tree) = dict_get(&names, b"EmbeddedFiles")
        {
            let mut pairs = Vec::new();
            let mut visited = HashSet::new();
            self.name_tree(tree, 0, &mut visited, &mut pairs);
            for (key, spec) in pairs {
                push(Some(key), &spec, &mut out);
            }
        }
        if let Some(af) = dict_get(catalog, b"AF")
            && let Obj::Array(items) = self.resolve(af)
        {
            for spec in &items {
                push(None, spec, &mut out);
            }
        }
        out
    }

    /// Collects the (key, value) pairs of a name tree, depth first.
    fn name_tree(
        &self,
        node: &Obj,
        depth: usize,
        visited: &mut HashSet<u32>,
        out: &mut Vec<(Vec<u8>, Obj)>,
    ) {
        if depth > MAX_DEPTH || visited.len() >= MAX_TREE_NODES {
            return;
        }
        if let Obj::Ref(n) = node
            && !visited.insert(*n)
        {
            return;
        }
        let Some(d) = self.resolve_dict(node) else {
            return;
        };
        if let Some(Obj::Array(names)) = dict_get(&d, b"Names").map(|n| self.resolve(n)) {
            for pair in names.chunks_exact(2) {
                if let Obj::Str(key) = self.resolve(&pair[0]) {
                    out.push((key, pair[1].clone()));
                }
            }
        }
        if let Some(Obj::Array(kids)) = dict_get(&d, b"Kids").map(|k| self.resolve(k)) {
            for kid in &kids {
                self.name_tree(kid, depth + 1, visited, out);
            }
        }
    }

    /// The embedded file stream of a file specification (`/EF` `/UF` or `/F`).
    fn embedded_stream(&self, spec: &Dict) -> Option<Stream> {
        let ef = self.resolve_dict(dict_get(spec, b"EF")?)?;
        [b"UF".as_slice(), b"F"]
            .iter()
            .find_map(|k| match self.resolve(dict_get(&ef, k)?) {
                Obj::Stream(s) => Some(s),
                _ => None,
            })
    }
}

/// If `obj_at` (the position of an `obj` keyword) ends an object header `N G obj`, the object
/// number and where the header starts.
fn header_before(b: &[u8], obj_at: usize) -> Option<(u32, usize)> {
    let mut i = obj_at;
    let white = |i: &mut usize| {
        let end = *i;
        while *i > 0 && is_white(b[*i - 1]) {
            *i -= 1;
        }
        *i < end
    };
    let digits = |i: &mut usize, max: usize| {
        let end = *i;
        while *i > 0 && b[*i - 1].is_ascii_digit() && end - *i < max {
            *i -= 1;
        }
        (*i < end).then_some(*i..end)
    };
    if !white(&mut i) {
        return None;
    }
    digits(&mut i, 5)?;
    if !white(&mut i) {
        return None;
    }
    let num = digits(&mut i, 10)?;
    if i > 0 && is_regular(b[i - 1]) {
        return None;
    }
    let n = std::str::from_utf8(&b[num]).ok()?.parse().ok()?;
    Some((n, i))
}

/// Unpacks zlib data, refusing more than `cap` bytes of output.
fn inflate(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::ZlibDecoder::new(data);
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    match (&mut decoder).take(limit).read_to_end(&mut out) {
        Ok(_) if out.len() > cap => Err(format!(
            "it unpacks to more than {} MB: refused (a compression bomb?)",
            cap >> 20
        )),
        Ok(_) => Ok(out),
        // Some writers end streams without the checksum: what was unpacked is whole.
        Err(_)
            if !out.is_empty() && decoder.total_in() as usize >= data.len().saturating_sub(4) =>
        {
            Ok(out)
        }
        Err(e) => Err(format!("its compressed data is damaged ({e})")),
    }
}

/// Undoes a PNG predictor (`/Predictor` 10-15, as cross-reference streams use); `/Predictor`
/// 1 or none is nothing to undo.
fn unpredict(data: Vec<u8>, params: &Dict) -> Result<Vec<u8>, String> {
    let int = |k: &[u8], default: i64| match dict_get(params, k) {
        Some(Obj::Int(n)) => *n,
        _ => default,
    };
    let predictor = int(b"Predictor", 1);
    if predictor <= 1 {
        return Ok(data);
    }
    if predictor < 10 {
        return Err(format!(
            "it uses /Predictor {predictor}, which clerk does not undo"
        ));
    }
    let colors = int(b"Colors", 1);
    let bits = int(b"BitsPerComponent", 8);
    let columns = int(b"Columns", 1);
    let pixel_bits = colors
        .checked_mul(bits)
        .filter(|b| (1..=64).contains(b))
        .ok_or("bad predictor parameters")?;
    let row_len = columns
        .checked_mul(pixel_bits)
        .map(|b| (b + 7) / 8)
        .filter(|r| (1..=1 << 20).contains(r))
        .ok_or("bad predictor parameters")? as usize;
    let bpp = ((pixel_bits + 7) / 8) as usize;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let (kind, row) = chunk.split_first().ok_or("empty predictor row")?;
        let mut cur = row.to_vec();
        cur.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(format!("unknown PNG predictor {kind}")),
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Option<Obj> {
        Lexer::new(s.as_bytes(), 0).object(0)
    }

    #[test]
    fn objects_parse() {
        assert_eq!(obj("12 0 R"), Some(Obj::Ref(12)));
        assert_eq!(obj("12 0"), Some(Obj::Int(12)));
        assert_eq!(obj("-3.5"), Some(Obj::Real));
        assert_eq!(obj("/Type#20X"), Some(Obj::Name(b"Type X".to_vec())));
        assert_eq!(
            obj("(factur\\055x\\056xml)"),
            Some(Obj::Str(b"factur-x.xml".to_vec()))
        );
        assert_eq!(obj("(a(b)c\\)\\\nd)"), Some(Obj::Str(b"a(b)c)d".to_vec())));
        assert_eq!(obj("<4869 9>"), Some(Obj::Str(b"Hi\x90".to_vec())));
        assert_eq!(
            obj("<</A [1 2 0 R] /B<</C true>>>>"),
            Some(Obj::Dict(vec![
                (b"A".to_vec(), Obj::Array(vec![Obj::Int(1), Obj::Ref(2)])),
                (
                    b"B".to_vec(),
                    Obj::Dict(vec![(b"C".to_vec(), Obj::Bool(true))])
                ),
            ]))
        );
        // Unterminated and absurdly nested input is refused, not a crash.
        assert_eq!(obj("<</A (open"), None);
        assert_eq!(obj(&"[".repeat(100_000)), None);
    }

    #[test]
    fn headers_are_found_backwards() {
        let b = b"endobj\n12 0 obj <<>>";
        let at = memmem::find(&b[7..], b"obj").unwrap() + 7;
        assert_eq!(header_before(b, at), Some((12, 7)));
        assert_eq!(header_before(b"x12 0 obj", 6), None);
    }

    #[test]
    fn png_up_predictor_is_undone() {
        let params = vec![
            (b"Predictor".to_vec(), Obj::Int(12)),
            (b"Columns".to_vec(), Obj::Int(2)),
        ];
        let data = vec![2, 1, 2, 2, 1, 1];
        assert_eq!(unpredict(data, &params).unwrap(), vec![1, 2, 2, 3]);
    }

    #[test]
    fn text_strings_decode() {
        assert_eq!(text_string(b"\xFE\xFF\x00a\x00.\x00x"), "a.x");
        assert_eq!(text_string(b"f\xFCr"), "f\u{fc}r");
    }
}
