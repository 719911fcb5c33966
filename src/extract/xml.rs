//! Reading XML that strangers send, safely: ISO 20022 statements, UBL and CII invoices.
//!
//! - A `<!DOCTYPE` is refused outright: no DTD is read, so no external entity is fetched and no
//!   entity-expansion bomb can go off. Only the five predefined entities and character
//!   references are accepted in text.
//! - Nesting depth and the size of any one text node are limited, and so is the size of any
//!   one piece of markup or text the underlying reader would buffer (`max_text` + 64 KB,
//!   except inside elements whose text is dropped), so an endless text or tag is refused
//!   rather than read into memory.
//! - Elements are known by their local name (the namespace prefix is dropped), because every
//!   version of a message names its elements the same and only its namespace differs. The
//!   root's default namespace is kept, for telling versions apart.
//!
//! [`parse`] reads a document into an [`Element`] tree. [`parse_split`] hands chosen elements
//! (a statement's entries) to a callback as soon as each is complete instead of keeping them,
//! so a 300 MB statement is read in memory bounded by its largest entry;
//! [`parse_split_in_context`] also shows the callback the open [`Ancestors`] (a statement's
//! header, read before its entries). Indentation around child elements is not kept as text,
//! so an element holding only children has no text and a statement's text does not grow
//! with its entries.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// An element: local name, attributes, text, children, and where it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// Attributes by local name (`Ccy`, `xmlns` kept as `xmlns`).
    pub attrs: Vec<(String, String)>,
    /// The element's own text, entities resolved, whitespace as given, except that
    /// whitespace-only text next to a child element (the indentation around children) is not
    /// kept: an element holding only children has no text.
    pub text: String,
    pub children: Vec<Element>,
    /// 1-based line of the element's start tag.
    pub line: u32,
    /// Position from the root with sibling indexes: `Document/BkToCstmrStmt/Stmt[2]/Ntry[5]`
    /// (an index is shown when it is above 1).
    pub locator: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element at a `/`-separated path of local names below this one.
    pub fn find(&self, path: &str) -> Option<&Element> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .try_fold(self, |e, step| e.child(step))
    }

    /// Every element at a path (each step may match several children).
    pub fn find_all<'a>(&'a self, path: &str) -> Vec<&'a Element> {
        let mut level = vec![self];
        for step in path.split('/').filter(|s| !s.is_empty()) {
            level = level
                .into_iter()
                .flat_map(|e| e.children.iter().filter(move |c| c.name == step))
                .collect();
        }
        level
    }

    /// Trimmed text at a path, `None` when absent or empty.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.find(path)
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// Trimmed own text, `None` when empty.
    pub fn value(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A document read whole (or what is left of it after [`parse_split`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub root: Element,
    /// The root element's default namespace (`xmlns="..."` or the namespace of its prefix).
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    pub line: u32,
    /// Where in the document: the locator of the innermost open element.
    pub locator: String,
    pub message: String,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.locator.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, element {}: {}",
                self.line, self.locator, self.message
            )
        }
    }
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Deepest nesting accepted.
    pub max_depth: usize,
    /// Largest text of one element, in bytes.
    pub max_text: usize,
    /// Elements whose text is not kept (binary attachments inside invoices): their size still
    /// counts against nothing, their content is dropped as it streams by.
    pub drop_text_of: &'static [&'static str],
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_text: 1 << 20,
            drop_text_of: &[],
        }
    }
}

/// Reads a whole document into a tree.
pub fn parse(reader: impl BufRead, limits: &Limits) -> Result<Document, XmlError> {
    parse_split(reader, limits, &|_| false, &mut |_, _| Ok(()))
}

/// Reads a document; every element whose name path (local names from the root joined by `/`,
/// without indexes, e.g. `Document/BkToCstmrStmt/Stmt/Ntry`) satisfies `split` is handed to
/// `on_split` when complete and not kept in the tree.
pub fn parse_split(
    reader: impl BufRead,
    limits: &Limits,
    split: &dyn Fn(&str) -> bool,
    on_split: &mut dyn FnMut(&str, Element) -> Result<(), XmlError>,
) -> Result<Document, XmlError> {
    parse_split_in_context(reader, limits, split, &mut |path, element, _| {
        on_split(path, element)
    })
}

/// The elements still open around a split element, from the root down to its parent. Each
/// holds what has been read of it so far: its attributes, its text, and the children that
/// were completed before the split element (and not split off themselves). A statement's
/// `Acct` and `CreDtTm`, which come before its entries, are there when an entry is split.
#[derive(Clone, Copy)]
pub struct Ancestors<'a>(&'a [Open]);

impl<'a> Ancestors<'a> {
    /// How many elements are open (0 for the root itself).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The open element at a depth: 0 is the root.
    pub fn get(&self, depth: usize) -> Option<&'a Element> {
        self.0.get(depth).map(|(e, _, _)| e)
    }

    /// The split element's parent.
    pub fn parent(&self) -> Option<&'a Element> {
        self.0.last().map(|(e, _, _)| e)
    }

    /// From the root down to the parent.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'a Element> + 'a {
        self.0.iter().map(|(e, _, _)| e)
    }
}

/// [`parse_split`], with the split element's open [`Ancestors`] handed to `on_split` too.
pub fn parse_split_in_context(
    reader: impl BufRead,
    limits: &Limits,
    split: &dyn Fn(&str) -> bool,
    on_split: &mut dyn FnMut(&str, Element, Ancestors<'_>) -> Result<(), XmlError>,
) -> Result<Document, XmlError> {
    // Any one text or tag may be as long as the longest text kept, plus room for a tag.
    let max_run = limits.max_text.saturating_add(64 * 1024);
    let mut reader = Reader::from_reader(LineCounter::new(reader, max_run));
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut buf = Vec::new();
    let mut tree = Tree::default();
    // The last event closed an element: whitespace now is indentation between children.
    let mut after_child = false;
    let mut ws = HeldWhitespace::default();
    loop {
        let line = reader.get_ref().line();
        reader.get_mut().guard = !tree.stack.last().is_some_and(|(_, _, drop)| *drop);
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| tree.error(line, read_error(&e)))?;
        match event {
            Event::DocType(_) => {
                return Err(tree.error(
                    line,
                    "the document has a <!DOCTYPE>: refused, clerk never reads DTDs or external entities"
                        .into(),
                ));
            }
            Event::Start(start) => {
                ws.pending = false;
                tree.open(limits, &start, line)?;
            }
            Event::Empty(start) => {
                ws.pending = false;
                tree.open(limits, &start, line)?;
                tree.close(split, on_split)?;
                after_child = true;
                buf.clear();
                continue;
            }
            Event::End(_) => {
                ws.flush(&mut tree.stack, limits)?;
                tree.close(split, on_split)?;
                after_child = true;
                buf.clear();
                continue;
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                // Indentation between child elements is not kept, so that a statement's own
                // text does not grow with each of its (split-off) entries.
                if text.bytes().all(|b| b.is_ascii_whitespace()) {
                    if !after_child {
                        ws.hold(&text, line);
                    }
                    buf.clear();
                    continue;
                }
                ws.flush(&mut tree.stack, limits)?;
                push_text(&mut tree.stack, &text, limits, line)?;
            }
            Event::CData(t) => {
                ws.flush(&mut tree.stack, limits)?;
                let raw = t.into_inner();
                push_text(&mut tree.stack, &raw, limits, line)?;
            }
            Event::GeneralRef(r) => {
                ws.flush(&mut tree.stack, limits)?;
                let name: &str = &r;
                let resolved = resolve_entity(name).ok_or_else(|| {
                    tree.error(
                        line,
                        format!("undefined entity &{name}; (only the five XML entities and character references are accepted)"),
                    )
                })?;
                push_text(
                    &mut tree.stack,
                    resolved.encode_utf8(&mut [0; 4]),
                    limits,
                    line,
                )?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {
                // Leave `after_child` as it was: a comment between children is no text.
                buf.clear();
                continue;
            }
            Event::Eof => break,
        }
        after_child = false;
        buf.clear();
    }
    tree.finish(reader.get_ref().line())
}

/// The document as it is read: the open elements, innermost last, with the count of
/// children seen per name; the path of names down to the innermost; the root once closed.
#[derive(Default)]
struct Tree {
    stack: Vec<Open>,
    path: String,
    root: Option<Element>,
    namespace: Option<String>,
}

impl Tree {
    /// An error at `line`, located at the innermost open element.
    fn error(&self, line: u32, message: String) -> XmlError {
        XmlError {
            line,
            locator: self
                .stack
                .last()
                .map(|(e, _, _)| e.locator.clone())
                .unwrap_or_default(),
            message,
        }
    }

    fn open(&mut self, limits: &Limits, start: &BytesStart<'_>, line: u32) -> Result<(), XmlError> {
        open(
            &mut self.stack,
            &mut self.path,
            &mut self.namespace,
            self.root.is_some(),
            limits,
            start,
            line,
        )
    }

    fn close(
        &mut self,
        split: &dyn Fn(&str) -> bool,
        on_split: &mut dyn FnMut(&str, Element, Ancestors<'_>) -> Result<(), XmlError>,
    ) -> Result<(), XmlError> {
        close(
            &mut self.stack,
            &mut self.path,
            &mut self.root,
            split,
            on_split,
        )
    }

    /// The document at its end: every element closed, and there was one.
    fn finish(self, line: u32) -> Result<Document, XmlError> {
        if let Some((e, _, _)) = self.stack.last() {
            return Err(XmlError {
                line,
                locator: e.locator.clone(),
                message: format!("the document ends inside <{}>: truncated?", e.name),
            });
        }
        match self.root {
            Some(root) => Ok(Document {
                root,
                namespace: self.namespace,
            }),
            None => Err(XmlError {
                line,
                locator: String::new(),
                message: "no XML element found".into(),
            }),
        }
    }
}

/// Whitespace-only text not yet known to be an element's text: kept if text or the end tag
/// follows, dropped as indentation if a child element does. Saves a string for every element
/// that holds only children.
#[derive(Default)]
struct HeldWhitespace {
    ws: String,
    pending: bool,
    line: u32,
}

impl HeldWhitespace {
    fn hold(&mut self, text: &str, line: u32) {
        if !self.pending {
            self.ws.clear();
            self.line = line;
        }
        self.ws.push_str(text);
        self.pending = true;
    }

    /// What is held turns out to be text of the innermost element.
    fn flush(&mut self, stack: &mut [Open], limits: &Limits) -> Result<(), XmlError> {
        if self.pending {
            self.pending = false;
            push_text(stack, &self.ws, limits, self.line)?;
        }
        Ok(())
    }
}

type Open = (Element, Vec<(String, u32)>, bool);

/// Pushes a newly started element: its local name, attributes, locator and sibling index.
fn open(
    stack: &mut Vec<Open>,
    path: &mut String,
    namespace: &mut Option<String>,
    had_root: bool,
    limits: &Limits,
    start: &BytesStart<'_>,
    line: u32,
) -> Result<(), XmlError> {
    let err = |stack: &[Open], message: String| XmlError {
        line,
        locator: stack
            .last()
            .map(|(e, _, _)| e.locator.clone())
            .unwrap_or_default(),
        message,
    };
    if had_root && stack.is_empty() {
        return Err(err(stack, "content after the root element".into()));
    }
    if stack.len() >= limits.max_depth {
        return Err(err(
            stack,
            format!("nested deeper than {} elements", limits.max_depth),
        ));
    }
    let name = start.local_name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| err(stack, format!("bad attribute: {e}")))?;
        let key = a.key;
        let k = if key.as_ref() == "xmlns" {
            "xmlns".to_string()
        } else {
            key.local_name().as_ref().to_string()
        };
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| err(stack, format!("bad attribute value: {e}")))?
            .into_owned();
        if stack.is_empty() {
            // The root's namespace: `xmlns="..."` for an unprefixed root, `xmlns:p="..."` for
            // a root named `p:Name`.
            let declares = match start.name().prefix() {
                None => key.as_ref() == "xmlns",
                Some(p) => key.as_ref().strip_prefix("xmlns:") == Some(p.as_ref()),
            };
            if declares {
                *namespace = Some(v.clone());
            }
        }
        attrs.push((k, v));
    }
    let index = match stack.last_mut() {
        Some((_, counts, _)) => match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                counts.push((name.clone(), 1));
                1
            }
        },
        None => 1,
    };
    let parent = stack
        .last()
        .map(|(e, _, _)| e.locator.as_str())
        .unwrap_or("");
    // Built by hand rather than with `format!`: this runs for every element of a file.
    let locator = if parent.is_empty() {
        name.clone()
    } else {
        let mut l = String::with_capacity(parent.len() + name.len() + 13);
        l.push_str(parent);
        l.push('/');
        l.push_str(&name);
        if index > 1 {
            l.push('[');
            push_decimal(&mut l, index);
            l.push(']');
        }
        l
    };
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(&name);
    let drop_text = limits.drop_text_of.contains(&name.as_str());
    stack.push((
        Element {
            name,
            attrs,
            line,
            locator,
            ..Default::default()
        },
        Vec::new(),
        drop_text,
    ));
    Ok(())
}

/// Appends `n` in decimal digits.
fn push_decimal(s: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

fn close(
    stack: &mut Vec<Open>,
    path: &mut String,
    root: &mut Option<Element>,
    split: &dyn Fn(&str) -> bool,
    on_split: &mut dyn FnMut(&str, Element, Ancestors<'_>) -> Result<(), XmlError>,
) -> Result<(), XmlError> {
    let Some((element, _, _)) = stack.pop() else {
        return Ok(());
    };
    let is_split = split(path);
    if is_split {
        on_split(path, element, Ancestors(stack.as_slice()))?;
    } else if let Some((parent, _, _)) = stack.last_mut() {
        parent.children.push(element);
    } else {
        *root = Some(element);
    }
    match path.rfind('/') {
        Some(i) => path.truncate(i),
        None => path.clear(),
    }
    Ok(())
}

fn push_text(stack: &mut [Open], text: &str, limits: &Limits, line: u32) -> Result<(), XmlError> {
    let Some((e, _, drop)) = stack.last_mut() else {
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(XmlError {
            line,
            locator: String::new(),
            message: "text outside the root element".into(),
        });
    };
    if *drop {
        return Ok(());
    }
    if e.text.len() + text.len() > limits.max_text {
        return Err(XmlError {
            line,
            locator: e.locator.clone(),
            message: format!(
                "text of <{}> is longer than {} bytes",
                e.name, limits.max_text
            ),
        });
    }
    e.text.push_str(text);
    Ok(())
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

/// Counts lines as the XML reader consumes bytes, for messages that name a line, and bounds
/// the size of any one piece of markup or text: the XML reader buffers a whole tag or text
/// node before clerk sees it, so without this a file of one endless text or tag would be
/// read whole into memory.
struct LineCounter<R> {
    inner: R,
    line: u32,
    /// Bytes consumed since the last `<`: every tag, text, comment and CDATA section lies
    /// between two of them (`<` may not appear in attribute values or text).
    run: usize,
    /// The longest run accepted.
    max_run: usize,
    /// Off inside elements whose text is dropped (attachments), which may be long.
    guard: bool,
}

/// The message of the error [`LineCounter`] stops the XML reader with.
const RUN_TOO_LONG: &str = "bytes without markup";

impl<R> LineCounter<R> {
    fn new(inner: R, max_run: usize) -> Self {
        LineCounter {
            inner,
            line: 1,
            run: 0,
            max_run,
            guard: true,
        }
    }

    fn line(&self) -> u32 {
        self.line
    }
}

/// Advances the line and run counters over consumed bytes.
fn count(line: &mut u32, run: &mut usize, consumed: &[u8]) {
    // The XML reader consumes an event at a time, mostly a few bytes: one plain pass is
    // quicker there than setting up two vector searches.
    let last_lt = if consumed.len() <= 64 {
        let mut last = None;
        for (i, &b) in consumed.iter().enumerate() {
            if b == b'\n' {
                *line += 1;
            } else if b == b'<' {
                last = Some(i);
            }
        }
        last
    } else {
        *line += memchr::memchr_iter(b'\n', consumed).count() as u32;
        memchr::memrchr(b'<', consumed)
    };
    match last_lt {
        Some(p) => *run = consumed.len() - p - 1,
        None => *run = run.saturating_add(consumed.len()),
    }
}

/// The XML reader's error in words; the run guard's own error as it is.
fn read_error(e: &quick_xml::Error) -> String {
    if let quick_xml::Error::Io(io) = e
        && io.kind() == std::io::ErrorKind::InvalidData
        && io.to_string().contains(RUN_TOO_LONG)
    {
        return io.to_string();
    }
    format!("not well-formed XML: {e}")
}

impl<R: std::io::Read> std::io::Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        count(&mut self.line, &mut self.run, &buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.guard && self.run > self.max_run {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "more than {} {RUN_TOO_LONG}: a text, tag or comment larger than clerk accepts",
                    self.max_run
                ),
            ));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            count(&mut self.line, &mut self.run, &buf[..n]);
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Result<Document, XmlError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_local_names_text_attributes_and_the_root_namespace() {
        let d = doc(r#"<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <Stmt><Id>S1</Id><Ntry><Amt Ccy="EUR">1.50</Amt></Ntry><Ntry><Amt Ccy="USD">2</Amt></Ntry></Stmt>
</Document>"#)
        .unwrap();
        assert_eq!(
            d.namespace.as_deref(),
            Some("urn:iso:std:iso:20022:tech:xsd:camt.053.001.02")
        );
        assert_eq!(d.root.text_at("Stmt/Id"), Some("S1"));
        let amts = d.root.find_all("Stmt/Ntry/Amt");
        assert_eq!(amts.len(), 2);
        assert_eq!(amts[1].attr("Ccy"), Some("USD"));
        assert_eq!(amts[1].locator, "Document/Stmt/Ntry[2]/Amt");
        assert_eq!(amts[0].line, 3);
    }

    #[test]
    fn prefixes_are_dropped_and_the_prefixed_root_namespace_kept() {
        let d = doc(r#"<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="x"><ram:ID>F1</ram:ID><ram:Empty/></rsm:CrossIndustryInvoice>"#).unwrap();
        assert_eq!(d.root.name, "CrossIndustryInvoice");
        assert_eq!(
            d.namespace.as_deref(),
            Some("urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100")
        );
        assert_eq!(d.root.text_at("ID"), Some("F1"));
        assert!(d.root.child("Empty").is_some());
    }

    #[test]
    fn entities_and_character_references_resolve() {
        let d = doc("<a>A &amp; B &lt;C&gt; &#x41;&#66; <![CDATA[<raw>]]></a>").unwrap();
        assert_eq!(d.root.text, "A & B <C> AB <raw>");
    }

    #[test]
    fn a_doctype_is_refused_so_no_entity_is_ever_expanded() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"#;
        let e = doc(bomb).unwrap_err();
        assert!(e.message.contains("DOCTYPE"), "{e}");
        let xxe = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(doc(xxe).unwrap_err().message.contains("DOCTYPE"));
        // Without a DOCTYPE, an undeclared entity is an error, not an empty string.
        let e = doc("<a>&x;</a>").unwrap_err();
        assert!(e.message.contains("undefined entity &x;"), "{e}");
    }

    #[test]
    fn depth_and_text_limits_hold() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(doc(&deep).unwrap_err().message.contains("deeper"));
        let limits = Limits {
            max_text: 10,
            ..Limits::default()
        };
        let e = parse("<a>01234567890</a>".as_bytes(), &limits).unwrap_err();
        assert!(e.message.contains("longer than 10"), "{e}");
        let limits = Limits {
            max_text: 10,
            drop_text_of: &["Bin"],
            ..Limits::default()
        };
        let d = parse("<a><Bin>0123456789012345</Bin></a>".as_bytes(), &limits).unwrap();
        assert_eq!(d.root.child("Bin").unwrap().text, "");
    }

    #[test]
    fn truncated_and_malformed_documents_say_where() {
        let e = doc("<a>\n<b>\n<c>x</c>").unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
        let e = doc("<a>\n<b></c></a>").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(doc("not xml at all").is_err());
        assert!(doc("").is_err());
    }

    #[test]
    fn split_elements_go_to_the_callback_not_the_tree() {
        let xml = "<D><S><Id>1</Id><N>a</N><N>b</N></S><S><Id>2</Id><N>c</N></S></D>";
        let mut seen = Vec::new();
        let d = parse_split(
            xml.as_bytes(),
            &Limits::default(),
            &|p| p == "D/S/N",
            &mut |_, e| {
                seen.push((e.locator.clone(), e.text.clone()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("D/S/N".to_string(), "a".to_string()),
                ("D/S/N[2]".to_string(), "b".to_string()),
                ("D/S[2]/N".to_string(), "c".to_string()),
            ]
        );
        assert!(d.root.find_all("S/N").is_empty());
        assert_eq!(d.root.find_all("S/Id").len(), 2);
    }

    #[test]
    fn no_text_or_tag_is_buffered_beyond_the_limit() {
        let limits = Limits {
            max_text: 1000,
            ..Limits::default()
        };
        let cap = 1000 + 64 * 1024;
        // One endless text, one endless tag, one endless comment: refused once past the
        // limit, with the line where it started.
        for (name, xml) in [
            ("text", format!("<a>\n<b>{}</b></a>", "x".repeat(cap * 3))),
            (
                "tag",
                format!("<a>\n<b c=\"{}\"/></a>", "x".repeat(cap * 3)),
            ),
            (
                "comment",
                format!("<a>\n<!--{}--></a>", "x".repeat(cap * 3)),
            ),
        ] {
            let r = std::io::BufReader::with_capacity(4096, xml.as_bytes());
            let e = parse(r, &limits).unwrap_err();
            assert!(e.message.contains("bytes without markup"), "{name}: {e}");
        }
        // Long texts of dropped elements pass (invoice attachments).
        let limits = Limits {
            max_text: 1000,
            drop_text_of: &["Bin"],
            ..Limits::default()
        };
        let xml = format!("<a><Bin>{}</Bin><c>ok</c></a>", "x".repeat(cap * 3));
        let d = parse(xml.as_bytes(), &limits).unwrap();
        assert_eq!(d.root.text_at("c"), Some("ok"));
    }

    #[test]
    fn indentation_between_children_is_not_kept_but_text_is() {
        let d = doc("<a>\n  <b> x </b>\n  <!-- c -->\n  <c/>\n  tail &amp; <d/> <![CDATA[ ]]></a>")
            .unwrap();
        assert_eq!(d.root.text, "\n  tail & ");
        // Whitespace alone in an element without children is its text.
        assert_eq!(doc("<a> \n </a>").unwrap().root.text, " \n ");
        assert_eq!(doc("<a> <!-- c --> </a>").unwrap().root.text, "  ");
        assert_eq!(d.root.child("b").unwrap().text, " x ");
        // A statement's text stays the same however many entries are split off.
        let many = format!("<S>{}</S>", "\n <N>1</N>".repeat(1000));
        let d = parse_split(
            many.as_bytes(),
            &Limits::default(),
            &|p| p == "S/N",
            &mut |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!(d.root.text, "");
    }

    #[test]
    fn split_elements_see_their_open_ancestors_as_read_so_far() {
        let xml = "<D><H>h</H><S><Id>1</Id><N>a</N><Late>x</Late><N>b</N></S></D>";
        let mut seen = Vec::new();
        parse_split_in_context(
            xml.as_bytes(),
            &Limits::default(),
            &|p| p == "D/S/N",
            &mut |_, e, up| {
                let names: Vec<&str> = up.iter().map(|a| a.name.as_str()).collect();
                let parent = up.parent().unwrap();
                seen.push((
                    e.text.clone(),
                    names.join("/"),
                    parent.text_at("Id").map(str::to_string),
                    parent.child("Late").is_some(),
                    up.get(0).and_then(|r| r.text_at("H")).map(str::to_string),
                    up.len(),
                ));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (
                    "a".into(),
                    "D/S".into(),
                    Some("1".into()),
                    false,
                    Some("h".into()),
                    2
                ),
                (
                    "b".into(),
                    "D/S".into(),
                    Some("1".into()),
                    true,
                    Some("h".into()),
                    2
                ),
            ]
        );
    }
}
