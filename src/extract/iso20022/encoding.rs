//! Which character encoding an ISO 20022 file is in. The standard says UTF-8, and nearly every
//! bank sends UTF-8; a few send ISO-8859-1 or Windows-1252 and say so in the XML declaration,
//! and exports from Windows tools are sometimes UTF-16 with a byte-order mark. Those are
//! transcoded to UTF-8 before parsing; anything else that is not valid UTF-8 is refused by the
//! XML reader with the line where it goes wrong.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The encoding to transcode from, or `None` for UTF-8 (the bytes are read as they are, after
/// any UTF-8 byte-order mark). An `Err` says why the file cannot be read at all.
pub(super) fn detect(head: &[u8]) -> Result<Option<&'static Encoding>, String> {
    if let Some((enc, _)) = Encoding::for_bom(head) {
        return Ok((enc != UTF_8).then_some(enc));
    }
    // UTF-16 without a byte-order mark, recognisable by the `<` of the first tag.
    match head {
        [0, b'<', ..] => return Ok(Some(UTF_16BE)),
        [b'<', 0, ..] => return Ok(Some(UTF_16LE)),
        _ => {}
    }
    let Some(label) = declared_encoding(head) else {
        return Ok(None);
    };
    match Encoding::for_label(label.as_bytes()) {
        // A UTF-16 declaration on bytes that are evidently ASCII-compatible is a wrong
        // declaration; the bytes are what they are.
        Some(enc) if enc == UTF_8 || enc == UTF_16LE || enc == UTF_16BE => Ok(None),
        Some(enc) => Ok(Some(enc)),
        None => Err(format!(
            "the XML declaration names the encoding {label:?}, which clerk does not know (ISO 20022 files are UTF-8)"
        )),
    }
}

/// `encoding="..."` of an XML declaration at the very start of the file.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let head = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = memchr::memmem::find(&head[..head.len().min(400)], b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let close = value.find(quote)?;
    Some(value[..close].trim().to_string())
}

/// The whole file as UTF-8 bytes, transcoded when it is in another encoding.
pub(super) fn to_utf8(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match detect(bytes)? {
        None => Ok(Cow::Borrowed(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes))),
        Some(enc) => {
            let body = match Encoding::for_bom(bytes) {
                Some((_, n)) => &bytes[n..],
                None => bytes,
            };
            enc.decode_without_bom_handling_and_without_replacement(body)
                .map(|s| Cow::Owned(s.into_owned().into_bytes()))
                .ok_or_else(|| {
                    format!(
                        "the file is not valid {}: it holds bytes that cannot be read in that encoding",
                        enc.name()
                    )
                })
        }
    }
}

/// The start of a file as text for sniffing, `None` when it is not text at all. A multi-byte
/// character cut at the end of the head is dropped.
pub(super) fn decode_head(head: &[u8]) -> Option<Cow<'_, str>> {
    let enc = detect(head).ok()?;
    match enc {
        None => {
            let b = head.strip_prefix(UTF8_BOM).unwrap_or(head);
            match std::str::from_utf8(b) {
                Ok(s) => Some(Cow::Borrowed(s)),
                Err(e) if e.error_len().is_none() || e.valid_up_to() > 0 => {
                    // Cut inside a character at the end, or junk later on: what is valid
                    // up to there is enough to sniff.
                    Some(Cow::Borrowed(
                        std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
                    ))
                }
                Err(_) => None,
            }
        }
        Some(enc) => {
            let body = match Encoding::for_bom(head) {
                Some((_, n)) => &head[n..],
                None => head,
            };
            Some(Cow::Owned(
                enc.decode_without_bom_handling(body).0.into_owned(),
            ))
        }
    }
}
