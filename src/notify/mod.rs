//! Telling people: the morning exception summary, the alert when a job fails, and handing those
//! messages to an SMTP server or to an outbox folder.
//!
//! Three steps, one file each, so each can be tested on its own (and [`error`], what the last
//! two report with):
//!
//! - [`summary`]: renders a subject, a plain-text and an HTML body and a CSV attachment from
//!   plain data. No I/O, no clock: the caller passes `generated_at`.
//! - [`message`]: turns a rendering into RFC 5322 bytes with a given Message-ID and Date, so a
//!   retried send is byte for byte the same message.
//! - [`transport`]: delivers those bytes over SMTP (STARTTLS, implicit TLS, or clear text to
//!   loopback only) or writes them to an outbox folder, crash-safely and idempotently.
//!
//! **Invariant:** only this module speaks SMTP; nothing here reads the store or the clock.
//! **Invariant:** every value taken from data is escaped in HTML, neutralised in CSV, and
//! flattened to one line in headers.

pub mod error;
pub mod message;
pub mod summary;
pub mod transport;

pub use error::{MailError, Reply};
pub use message::build_message;
pub use summary::{
    Attachment, BankLine, BreakLine, JobDigest, Rendered, SummaryInput, csv_cell, render_alert,
    render_summary,
};
pub use transport::{Delivery, Mailer, SmtpSecurity, SmtpSettings};

/// `s` on one line: every control character (CR, LF, tab, ...) and every Unicode line or
/// paragraph separator becomes a space, so the text cannot start a new header line or fake a
/// line of a plain-text body.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_flattens_every_line_break() {
        assert_eq!(
            one_line("a\r\nBcc: x\u{85}y\u{2028}z\tw"),
            "a  Bcc: x y z w"
        );
    }
}
