//! Links from mail to the console's pages (`[http] public_url`): each break, file and job the
//! summary or an alert names. Without a public URL there are no links, and nothing else in the
//! mail changes.

/// The console's address as people reach it, and the pages under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    /// Without a trailing slash (`https://clerk.example.com`), as `[http] public_url` keeps it.
    base: String,
}

impl Links {
    pub fn new(public_url: &str) -> Links {
        Links {
            base: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// A break's page: `/exceptions/{id}`.
    pub fn exception(&self, id: i64) -> String {
        format!("{}/exceptions/{id}", self.base)
    }

    /// A file's page: `/files/{id}`.
    pub fn file(&self, id: i64) -> String {
        format!("{}/files/{id}", self.base)
    }

    /// A job's page: `/jobs/{name}`, the name percent-encoded (a job file may name itself
    /// with spaces or worse).
    pub fn job(&self, name: &str) -> String {
        format!("{}/jobs/{}", self.base, path_segment(name))
    }
}

/// What an alert links: its job, and the file and break it is about, when there are such.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertLinks {
    pub job: Option<String>,
    pub file: Option<String>,
    pub exception: Option<String>,
}

impl AlertLinks {
    /// The links as `(what, url)`, in the order the alert lists them.
    pub fn listed(&self) -> Vec<(&'static str, &str)> {
        [
            ("Exception", &self.exception),
            ("File", &self.file),
            ("Job", &self.job),
        ]
        .into_iter()
        .filter_map(|(what, url)| url.as_deref().map(|u| (what, u)))
        .collect()
    }
}

/// `s` as one path segment: everything but RFC 3986's unreserved characters percent-encoded.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_under_the_public_url_with_names_encoded() {
        let l = Links::new("https://clerk.example.com/");
        assert_eq!(l.exception(7), "https://clerk.example.com/exceptions/7");
        assert_eq!(l.file(3), "https://clerk.example.com/files/3");
        assert_eq!(
            l.job("bank <a> \"x\"/ä"),
            "https://clerk.example.com/jobs/bank%20%3Ca%3E%20%22x%22%2F%C3%A4"
        );
    }
}
