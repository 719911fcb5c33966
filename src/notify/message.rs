//! A rendering becomes RFC 5322 bytes: multipart/mixed[multipart/alternative[text/plain,
//! text/html], attachments...], or just the alternative when there is no attachment.
//!
//! The output depends only on the arguments: the Message-ID and Date are given, and the MIME
//! boundaries are derived from a hash of the content instead of lettre's random ones. A retried
//! send is therefore byte for byte the same message, and a recipient's mail client (or the
//! outbox) recognises it by its Message-ID.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::error::MailError;
use super::one_line;
use super::summary::Rendered;

/// Builds the message `rendered` from `from` to every address in `to`, with the given
/// Message-ID (`left@right`, with or without angle brackets) and Date.
///
/// Errors name the bad address, Message-ID or content type. The subject and attachment file
/// names are flattened to one line, so no value can start a header of its own.
pub fn build_message(
    from: &str,
    to: &[String],
    rendered: &Rendered,
    message_id: &str,
    date: DateTime<Utc>,
) -> Result<Vec<u8>, MailError> {
    let from = parse_mailbox("From", from)?;
    let to = to
        .iter()
        .map(|a| parse_mailbox("To", a))
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    let id = normalise_message_id(message_id)?;

    let mut builder = Message::builder()
        .from(from)
        .subject(one_line(&rendered.subject))
        .message_id(Some(format!("<{id}>")))
        .date(SystemTime::from(date))
        // RFC 3834: no auto-replies ("out of office") to a machine's mail.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ));
    for mailbox in to {
        builder = builder.to(mailbox);
    }

    let tag = boundary_tag(&id, rendered);
    let alternative = MultiPart::alternative()
        .boundary(format!("clerk-alt-{tag}"))
        .singlepart(SinglePart::plain(rendered.text.clone()))
        .singlepart(SinglePart::html(rendered.html.clone()));

    let body = if rendered.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed()
            .boundary(format!("clerk-mix-{tag}"))
            .multipart(alternative);
        for a in &rendered.attachments {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                MailError::Build(format!(
                    "attachment {:?}: content type {:?}: {e}",
                    a.filename, a.content_type
                ))
            })?;
            mixed = mixed.singlepart(
                MimeAttachment::new(safe_filename(&a.filename)).body(a.bytes.clone(), content_type),
            );
        }
        mixed
    };

    let message = builder
        .multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// Parses one address with lettre's `Mailbox` (`a@b.example` or `Name <a@b.example>`).
///
/// lettre's parser stops at the end of the first mailbox and ignores what follows, so
/// `a@b.example, c@d.example` would silently lose `c@d.example`: such input is refused here by
/// checking that the parsed mailbox prints back to the input, modulo quoting and spaces.
pub(crate) fn parse_mailbox(role: &'static str, address: &str) -> Result<Mailbox, MailError> {
    let bad = |reason: &str| MailError::Address {
        role,
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    if address.chars().any(char::is_control) {
        return Err(bad("contains a control character (line break or tab)"));
    }
    let mailbox: Mailbox = address.trim().parse().map_err(|e| bad(&format!("{e}")))?;
    if !same_mailbox(address, &mailbox) {
        return Err(bad("expected exactly one address"));
    }
    Ok(mailbox)
}

/// Whether `mailbox` is all of `input`: the address appears in the input, and once the
/// address and the display name are taken away only brackets, quotes and spaces remain.
fn same_mailbox(input: &str, mailbox: &Mailbox) -> bool {
    let email = mailbox.email.to_string();
    let Some(at) = input.find(&email) else {
        return false;
    };
    let mut rest = format!("{}{}", &input[..at], &input[at + email.len()..]);
    if let Some(name) = &mailbox.name
        && let Some(i) = rest.find(name.as_str())
    {
        rest.replace_range(i..i + name.len(), "");
    }
    rest.chars()
        .all(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
}

/// The Message-ID without angle brackets, checked: `left@right`, printable ASCII, no
/// whitespace and none of the characters that would end or break the header field.
pub(crate) fn normalise_message_id(message_id: &str) -> Result<String, MailError> {
    let id = message_id.trim();
    let id = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id);
    let allowed = |c: char| c.is_ascii_graphic() && !"<>()[]\\\",;:".contains(c);
    let ok = match id.split_once('@') {
        Some((left, right)) => {
            !left.is_empty()
                && !right.is_empty()
                && !right.contains('@')
                && id.chars().all(allowed)
                && id.len() <= 250
        }
        None => false,
    };
    if ok {
        Ok(id.to_owned())
    } else {
        Err(MailError::MessageId(message_id.to_owned()))
    }
}

/// A file name for a Content-Disposition header: one line, no quotes or backslashes (some mail
/// clients mishandle them even when encoded), no path.
fn safe_filename(name: &str) -> String {
    let flat: String = one_line(name)
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' => '_',
            c => c,
        })
        .collect();
    let flat = flat.trim();
    if flat.is_empty() {
        "attachment".to_owned()
    } else {
        flat.to_owned()
    }
}

/// A MIME boundary tag derived from the whole content: stable across retries, and a part
/// cannot contain it by accident (it would have to contain the hash of itself).
fn boundary_tag(id: &str, r: &Rendered) -> String {
    let mut h = Sha256::new();
    for field in [
        id.as_bytes(),
        r.subject.as_bytes(),
        r.text.as_bytes(),
        r.html.as_bytes(),
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field);
    }
    for a in &r.attachments {
        for field in [
            a.filename.as_bytes(),
            a.content_type.as_bytes(),
            a.bytes.as_slice(),
        ] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field);
        }
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::notify::summary::Attachment;

    fn rendered(attachments: Vec<Attachment>) -> Rendered {
        Rendered {
            subject: "Line one\r\nBcc: victim@example.com".to_owned(),
            text: "Grüße, plain".to_owned(),
            html: "<p>Grüße, html</p>".to_owned(),
            attachments,
        }
    }

    fn csv() -> Attachment {
        Attachment {
            filename: "open\r\nX-Evil: 1.csv".to_owned(),
            content_type: "text/csv; charset=utf-8".to_owned(),
            bytes: b"id,job\r\n1,a\r\n".to_vec(),
        }
    }

    fn date() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap()
    }

    fn headers(raw: &[u8]) -> String {
        let s = String::from_utf8_lossy(raw);
        s.split("\r\n\r\n").next().unwrap().to_owned()
    }

    #[test]
    fn builds_mixed_with_alternative_and_given_id_and_date() {
        let to = vec![
            "Ops <ops@example.com>".to_owned(),
            "b@example.com".to_owned(),
        ];
        let raw = build_message(
            "clerk <clerk@example.com>",
            &to,
            &rendered(vec![csv()]),
            "summary-2026-11-27@clerk.example.com",
            date(),
        )
        .unwrap();
        let text = String::from_utf8(raw.clone()).unwrap();
        let head = headers(&raw);
        assert!(head.contains("Message-ID: <summary-2026-11-27@clerk.example.com>"));
        assert!(
            head.contains("Date: Fri, 27 Nov 2026 06:00:00 +0000"),
            "{head}"
        );
        assert!(head.contains("Auto-Submitted: auto-generated"));
        assert!(head.contains("multipart/mixed"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("text/plain"));
        assert!(text.contains("text/html"));
        assert!(text.contains("attachment; filename=\"open  X-Evil: 1.csv\""));
        // Nothing injected a header of its own.
        assert!(!text.contains("\r\nBcc:"));
        assert!(!text.contains("\r\nX-Evil:"));
        // Stable: the same input gives the same bytes.
        let again = build_message(
            "clerk <clerk@example.com>",
            &to,
            &rendered(vec![csv()]),
            "<summary-2026-11-27@clerk.example.com>",
            date(),
        )
        .unwrap();
        assert_eq!(raw, again);
    }

    #[test]
    fn without_attachments_the_top_is_the_alternative() {
        let raw = build_message(
            "clerk@example.com",
            &["ops@example.com".to_owned()],
            &rendered(Vec::new()),
            "alert-1@clerk",
            date(),
        )
        .unwrap();
        let head = headers(&raw);
        assert!(head.contains("multipart/alternative"), "{head}");
        assert!(!String::from_utf8_lossy(&raw).contains("multipart/mixed"));
    }

    #[test]
    fn bad_addresses_are_named() {
        let r = rendered(Vec::new());
        for (from, to) in [
            ("not an address", "ops@example.com"),
            ("clerk@example.com", "ops@example.com, evil@example.com"),
            (
                "clerk@example.com",
                "ops@example.com\r\nBcc: evil@example.com",
            ),
            ("clerk@example.com", ""),
        ] {
            let err = build_message(from, &[to.to_owned()], &r, "a@b", date()).unwrap_err();
            let bad = if from.contains(' ') { from } else { to };
            assert!(
                matches!(&err, MailError::Address { address, .. } if address == bad),
                "{from:?} {to:?}: {err}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")));
        }
        let err = build_message("clerk@example.com", &[], &r, "a@b", date()).unwrap_err();
        assert!(matches!(err, MailError::NoRecipients));
    }

    #[test]
    fn message_ids_are_checked() {
        assert_eq!(normalise_message_id("<a.b@c>").unwrap(), "a.b@c");
        assert_eq!(
            normalise_message_id("a-1@c.example").unwrap(),
            "a-1@c.example"
        );
        for bad in [
            "",
            "<>",
            "nobody",
            "a@",
            "@b",
            "a b@c",
            "a@b\r\nX: y",
            "a@b@c",
            "<a@b",
        ] {
            assert!(normalise_message_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_content_type_is_an_error() {
        let mut a = csv();
        a.content_type = "not a type".to_owned();
        let err = build_message(
            "clerk@example.com",
            &["ops@example.com".to_owned()],
            &rendered(vec![a]),
            "a@b",
            date(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a type"), "{err}");
    }
}
