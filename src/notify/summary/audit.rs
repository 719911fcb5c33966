//! The summary's audit chain head: the seq and hash that pin every journal entry and break
//! action chained so far. Mailed each morning, it sits in people's inboxes where whoever can
//! write the database cannot reach it: a database rewritten later disagrees with it
//! (`clerk audit verify`, `clerk audit head`).

use std::fmt::Write as _;

use super::esc;

/// The chain's head when the summary was composed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    /// 64 lowercase hex digits.
    pub hash: String,
}

impl AuditHead {
    /// The first 12 hex digits, enough to compare by eye.
    fn short(&self) -> &str {
        self.hash.get(..12).unwrap_or(&self.hash)
    }
}

/// The plain-text paragraph (empty while nothing is chained).
pub(super) fn text(head: Option<&AuditHead>) -> String {
    let Some(h) = head else {
        return String::new();
    };
    format!(
        "\nAudit chain head: seq {} {} (full: {})\n\
         `clerk audit verify` proves the journal and break actions unchanged since; keep this mail.\n",
        h.seq,
        h.short(),
        h.hash
    )
}

/// The HTML paragraph (nothing while nothing is chained).
pub(super) fn html(out: &mut String, head: Option<&AuditHead>) {
    let Some(h) = head else {
        return;
    };
    let _ = writeln!(
        out,
        "<p style=\"color:#666\">Audit chain head: seq {} <b>{}</b> \
         (full: <code>{}</code>). <code>clerk audit verify</code> proves the journal and \
         break actions unchanged since; keep this mail.</p>",
        h.seq,
        esc(h.short()),
        esc(&h.hash)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_shown_short_and_full_and_nothing_without_one() {
        let h = AuditHead {
            seq: 42,
            hash: "3f2a9c1b7e0d".to_string() + &"a".repeat(52),
        };
        let t = text(Some(&h));
        assert!(
            t.contains("seq 42 3f2a9c1b7e0d (full: 3f2a9c1b7e0daaaa"),
            "{t}"
        );
        assert!(t.contains(&h.hash));
        let mut out = String::new();
        html(&mut out, Some(&h));
        assert!(out.contains("seq 42 <b>3f2a9c1b7e0d</b>"), "{out}");
        assert!(out.contains(&format!("<code>{}</code>", h.hash)));
        assert_eq!(text(None), "");
        let mut none = String::new();
        html(&mut none, None);
        assert!(none.is_empty());
    }
}
