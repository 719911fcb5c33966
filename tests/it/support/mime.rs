//! A small MIME reader for asserting on received mail (no dependency for a test helper).

// Just enough MIME reading to check what arrived: headers, nested multiparts, base64 and
// quoted-printable bodies, RFC 2047 encoded words. Independent of lettre on purpose.
pub struct Part {
    headers: Vec<(String, String)>,
    body: String,
    pub parts: Vec<Part>,
}

pub fn parse(raw: &[u8]) -> Part {
    let text = String::from_utf8(raw.to_vec()).expect("a 7-bit message");
    part(&text.replace("\r\n", "\n"))
}

fn part(s: &str) -> Part {
    let (head, body) = s.split_once("\n\n").unwrap_or((s, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            // Unfolding removes the line break only.
            headers
                .last_mut()
                .expect("continuation first")
                .1
                .push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("a header line");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let mut p = Part {
        headers,
        body: body.to_owned(),
        parts: Vec::new(),
    };
    if p.content_type().starts_with("multipart/") {
        let boundary = param(&p.content_type(), "boundary").expect("a boundary");
        let (open, close) = (format!("--{boundary}"), format!("--{boundary}--"));
        let mut current: Option<Vec<&str>> = None;
        for line in body.lines() {
            if line == open || line == close {
                if let Some(lines) = current.take() {
                    p.parts.push(part(&lines.join("\n")));
                }
                if line == close {
                    break;
                }
                current = Some(Vec::new());
            } else if let Some(lines) = current.as_mut() {
                lines.push(line);
            }
        }
    }
    p
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("text/plain")
            .to_ascii_lowercase()
    }

    pub fn decoded(&self) -> Vec<u8> {
        match self
            .header("Content-Transfer-Encoding")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("base64") => base64(&self.body),
            Some("quoted-printable") => quoted_printable(&self.body),
            _ => self.body.as_bytes().to_vec(),
        }
    }
}

/// A parameter of a structured header value (`boundary`, `filename`).
pub fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|piece| {
        let (k, v) = piece.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`).
pub fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.extend_from_slice(between.as_bytes());
        }
        let mut fields = rest[start + 2..].splitn(3, '?');
        let (_charset, encoding, tail) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let end = tail.find("?=").expect("end of encoded word");
        let text = &tail[..end];
        if encoding.eq_ignore_ascii_case("b") {
            out.extend(base64(text));
        } else {
            out.extend(quoted_printable(&text.replace('_', " ")));
        }
        rest = &tail[end + 2..];
        after_word = true;
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out).expect("UTF-8 subject")
}

pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = [0u8; 3];
        n[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, n[0], n[1], n[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        (match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }) as u32
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, &c| acc << 6 | value(c)) << (6 * (4 - chunk.len()));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2; // soft line break
                continue;
            }
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
