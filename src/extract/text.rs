//! Text decoding for CSV: which encoding a file is in, and the file as UTF-8.
//!
//! UTF-8 (the common case) is used straight from the input bytes. Any other encoding is
//! transcoded up front with encoding_rs, into one string no larger than about twice the input
//! (which is already in memory): having the text in hand lets the CSV reader name the exact
//! physical line of every row, which a streaming decoder would hide.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encoding a job says its CSV files are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    /// BOM, else UTF-8 if valid, else Windows-1252.
    Auto,
    Utf8,
    Windows1252,
    Utf16Le,
    Utf16Be,
}

impl TextEncoding {
    pub(crate) fn from_label(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => TextEncoding::Auto,
            "utf-8" | "utf8" => TextEncoding::Utf8,
            // WHATWG and every browser read "latin-1" as Windows-1252: the two differ only in
            // 0x80-0x9F, which are control codes in Latin-1 and never meant in real files.
            "windows-1252" | "cp1252" | "latin-1" | "latin1" | "iso-8859-1" => {
                TextEncoding::Windows1252
            }
            "utf-16le" => TextEncoding::Utf16Le,
            "utf-16be" => TextEncoding::Utf16Be,
            _ => return None,
        })
    }

    /// Whether text in this encoding is expected to hold NUL bytes.
    pub(crate) fn is_utf16(self) -> bool {
        matches!(self, TextEncoding::Utf16Le | TextEncoding::Utf16Be)
    }
}

/// How to turn a file's bytes into UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoding {
    /// `None`: already UTF-8.
    from: Option<&'static Encoding>,
    /// Length of the byte-order mark to drop.
    skip: usize,
}

impl Decoding {
    pub(crate) fn name(self) -> &'static str {
        self.from.map_or("UTF-8", Encoding::name)
    }

    pub(crate) fn is_plain_utf8(self) -> bool {
        self.from.is_none()
    }
}

/// The byte-order mark a file starts with, if any.
pub(crate) fn bom(bytes: &[u8]) -> Option<(&'static Encoding, usize)> {
    Encoding::for_bom(bytes)
}

/// Decides how to decode a file. A byte-order mark always wins, as people expect.
pub(crate) fn choose(enc: TextEncoding, bytes: &[u8]) -> Decoding {
    let (from, skip) = match bom(bytes) {
        Some((e, len)) if e == encoding_rs::UTF_8 => (None, len),
        Some((e, len)) => (Some(e), len),
        None => match enc {
            TextEncoding::Auto if std::str::from_utf8(bytes).is_ok() => (None, 0),
            TextEncoding::Auto => (Some(WINDOWS_1252), 0),
            TextEncoding::Utf8 => (None, 0),
            TextEncoding::Windows1252 => (Some(WINDOWS_1252), 0),
            TextEncoding::Utf16Le => (Some(UTF_16LE), 0),
            TextEncoding::Utf16Be => (Some(UTF_16BE), 0),
        },
    };
    Decoding { from, skip }
}

/// The file as UTF-8 (borrowed when it already is). Bytes that do not decode become U+FFFD;
/// for plain UTF-8 they are left as they are, for the reader to name the line.
pub(crate) fn decode(bytes: &[u8], d: Decoding) -> Cow<'_, [u8]> {
    let rest = bytes.get(d.skip..).unwrap_or_default();
    match d.from {
        None => Cow::Borrowed(rest),
        Some(e) => match e.decode_without_bom_handling(rest).0 {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], enc: TextEncoding) -> String {
        let d = choose(enc, bytes);
        String::from_utf8(decode(bytes, d).into_owned()).unwrap()
    }

    fn utf16(s: &str, le: bool, with_bom: bool) -> Vec<u8> {
        let mut v = Vec::new();
        if with_bom {
            v.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            v.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        v
    }

    #[test]
    fn auto_detection() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"a;b\xc3\xa9", "UTF-8", "a;bé"),
            (b"\xef\xbb\xbfa;b\xc3\xa9", "UTF-8", "a;bé"),
            (b"M\xfcller \x80 5", "windows-1252", "Müller € 5"),
        ];
        for (bytes, name, text) in cases {
            assert_eq!(choose(TextEncoding::Auto, bytes).name(), *name);
            assert_eq!(decode_all(bytes, TextEncoding::Auto), *text);
        }
        let le = utf16("Müller;€", true, true);
        assert_eq!(choose(TextEncoding::Auto, &le).name(), "UTF-16LE");
        assert_eq!(decode_all(&le, TextEncoding::Auto), "Müller;€");
        let be = utf16("Müller;€", false, true);
        assert_eq!(choose(TextEncoding::Auto, &be).name(), "UTF-16BE");
        assert_eq!(decode_all(&be, TextEncoding::Auto), "Müller;€");
    }

    #[test]
    fn pinned_encodings() {
        assert_eq!(
            decode_all(b"M\xfcller", TextEncoding::from_label("latin-1").unwrap()),
            "Müller"
        );
        // Valid UTF-8 read as Windows-1252 when the job says so.
        assert_eq!(decode_all("é".as_bytes(), TextEncoding::Windows1252), "Ã©");
        let le = utf16("a,b", true, false);
        assert_eq!(decode_all(&le, TextEncoding::Utf16Le), "a,b");
        let be = utf16("a,b", false, false);
        assert_eq!(decode_all(&be, TextEncoding::Utf16Be), "a,b");
        // A BOM overrides the job's setting.
        let le = utf16("a,b", true, true);
        assert_eq!(decode_all(&le, TextEncoding::Windows1252), "a,b");
        assert_eq!(TextEncoding::from_label("EBCDIC"), None);
    }
}
