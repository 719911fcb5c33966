//! Telling ISO 20022 messages apart by their first few kilobytes: the namespace of their
//! `Document` (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.08`), or, when a bank leaves the
//! namespace out, the name of the message element (`BkToCstmrStmt`). A business application
//! header envelope (`BizMsgEnvlp`, SWIFT's `DataPDU`, or any wrapper holding `AppHdr` and
//! `Document`) is looked through.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::IsoMessage;

/// How much of a file is looked at.
const HEAD: usize = 64 * 1024;
/// Most start tags looked at before giving up.
const MAX_TAGS: usize = 200;

/// The message and version (`"001.08"`; `"unknown"` when only the element name told) of an
/// ISO 20022 message, from the start of the file.
pub(super) fn sniff(bytes: &[u8]) -> Option<(IsoMessage, String)> {
    let head = &bytes[..bytes.len().min(HEAD)];
    let text = super::encoding::decode_head(head)?;
    let mut reader = Reader::from_str(&text);
    reader.config_mut().check_end_names = false;
    // Namespace declarations seen so far, innermost last (prefix, uri); scoping is ignored,
    // which is good enough for the few elements of a header.
    let mut decls: Vec<(Option<String>, String)> = Vec::new();
    // What an application header says the message is (`MsgDefIdr`), for a `Document`
    // without namespace.
    let mut in_msg_def = false;
    let mut header_id: Option<(IsoMessage, String)> = None;
    let mut tags = 0;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            // A truncated head or anything else odd: what was seen so far decides.
            Err(_) => return None,
        };
        match event {
            Event::Start(s) | Event::Empty(s) => {
                tags += 1;
                if tags > MAX_TAGS {
                    return None;
                }
                for a in s.attributes().flatten() {
                    let key = a.key.as_ref();
                    let prefix = if key == "xmlns" {
                        None
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        Some(p.to_string())
                    } else {
                        continue;
                    };
                    let uri = a.value.to_string();
                    decls.push((prefix, uri));
                }
                let local = s.local_name().as_ref().to_string();
                let ns = namespace_of(&s, &decls);
                if let Some(found) = ns.as_deref().and_then(message_of_namespace) {
                    // `Document` itself, or a prefixed message element.
                    if local == "Document" || super::message_of_element(&local).is_some() {
                        return Some(found);
                    }
                }
                if let Some(kind) = super::message_of_element(&local) {
                    let version = header_id
                        .filter(|(k, _)| *k == kind)
                        .map(|(_, v)| v)
                        .unwrap_or_else(|| "unknown".to_string());
                    return Some((kind, version));
                }
                in_msg_def = local == "MsgDefIdr";
            }
            Event::Text(t) if in_msg_def => {
                header_id = message_of_id(t.xml10_content().trim());
                in_msg_def = false;
            }
            Event::End(_) => in_msg_def = false,
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The namespace of an element: its prefix's declaration, or the default namespace.
fn namespace_of(s: &BytesStart<'_>, decls: &[(Option<String>, String)]) -> Option<String> {
    let name = s.name();
    let prefix = name.prefix().map(|p| p.as_ref().to_string());
    decls
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, uri)| uri.clone())
}

/// `urn:iso:std:iso:20022:tech:xsd:camt.053.001.08` (or `urn:swift:xsd:camt.053.001.02`):
/// the message and its version.
pub(super) fn message_of_namespace(ns: &str) -> Option<(IsoMessage, String)> {
    let id = ns.rsplit(':').next()?;
    message_of_id(id)
}

/// `camt.053.001.08` → (camt.053, "001.08"). Unknown higher versions of a known message are
/// accepted: their element names are those of the versions clerk knows.
fn message_of_id(id: &str) -> Option<(IsoMessage, String)> {
    let mut parts = id.split('.');
    let (area, msg, variant, version) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || variant != "001"
        || version.is_empty()
        || version.len() > 3
        || !version.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let kind = match (area, msg) {
        ("camt", "052") => IsoMessage::Camt052,
        ("camt", "053") => IsoMessage::Camt053,
        ("camt", "054") => IsoMessage::Camt054,
        ("semt", "002") => IsoMessage::Semt002,
        _ => return None,
    };
    Some((kind, format!("{variant}.{version}")))
}
