//! The summary's "Exports" section: for each `[[exports]]` target, whether every entry has
//! reached its folder, and if not how many wait and since when. A target that cannot be
//! written raises an alert at once; this is the morning's reminder that the books in the
//! general ledger are behind clerk's, which a manager would otherwise learn at month end.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::esc;

/// One export target as the summary reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportStatus {
    pub target: String,
    pub format: String,
    /// The crontab it runs on; `None`: after every unit of work.
    pub schedule: Option<String>,
    /// Entries posted and not yet in one of its files.
    pub waiting: u64,
    /// The earliest posting date among them.
    pub waiting_since: Option<NaiveDate>,
    /// Batches recorded and not yet written (a crash, or a folder that cannot be written).
    pub unwritten: u64,
    /// Its latest file and when it was written.
    pub last_file: Option<(String, DateTime<Utc>)>,
}

impl ExportStatus {
    /// One line: `books (csv): up to date; last file books-000012.csv, 06:00 on 2026-12-07`.
    fn line(&self, tz: Tz) -> String {
        let mut s = format!("{} ({}): ", self.target, self.format);
        if self.waiting == 0 && self.unwritten == 0 {
            s.push_str("every entry exported");
        } else {
            let _ = write!(
                s,
                "{} {} not yet exported",
                self.waiting,
                if self.waiting == 1 {
                    "entry"
                } else {
                    "entries"
                }
            );
            if let Some(d) = self.waiting_since {
                let _ = write!(s, ", dated from {d}");
            }
            if self.unwritten > 0 {
                let _ = write!(
                    s,
                    "; {} file(s) recorded but not written (see the alerts)",
                    self.unwritten
                );
            }
            if let Some(cron) = &self.schedule {
                let _ = write!(s, " (exports on schedule \"{cron}\")");
            }
        }
        if let Some((file, at)) = &self.last_file {
            let _ = write!(
                s,
                "; last file {file}, {}",
                at.with_timezone(&tz).format("%H:%M on %Y-%m-%d")
            );
        }
        s
    }
}

/// The plain-text section (empty without export targets).
pub(super) fn text(exports: &[ExportStatus], tz: Tz) -> String {
    if exports.is_empty() {
        return String::new();
    }
    let mut t = String::from("\nExports to the books\n\n");
    for e in exports {
        let _ = writeln!(t, "{}", e.line(tz));
    }
    t
}

/// The HTML section (nothing without export targets).
pub(super) fn html(out: &mut String, exports: &[ExportStatus], tz: Tz, h3: &str) {
    if exports.is_empty() {
        return;
    }
    let _ = writeln!(out, "<h3 style=\"{h3}\">Exports to the books</h3>\n<ul>");
    for e in exports {
        let _ = writeln!(out, "<li>{}</li>", esc(&e.line(tz)));
    }
    out.push_str("</ul>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn status(waiting: u64, unwritten: u64) -> ExportStatus {
        ExportStatus {
            target: "books".into(),
            format: "csv".into(),
            schedule: None,
            waiting,
            waiting_since: (waiting > 0).then(|| NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()),
            unwritten,
            last_file: Some((
                "books-000012.csv".into(),
                Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).unwrap(),
            )),
        }
    }

    #[test]
    fn a_target_up_to_date_and_one_behind_read_as_such() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let t = text(&[status(0, 0)], tz);
        assert!(
            t.contains(
                "books (csv): every entry exported; last file books-000012.csv, 06:00 on 2026-12-07"
            ),
            "{t}"
        );
        let t = text(&[status(120, 1)], tz);
        assert!(
            t.contains("120 entries not yet exported, dated from 2026-12-04; 1 file(s) recorded"),
            "{t}"
        );
        assert_eq!(text(&[], tz), "");
        let mut h = String::new();
        html(&mut h, &[status(1, 0)], tz, "");
        assert!(h.contains("1 entry not yet exported"), "{h}");
    }
}
