//! Reversals and accounting periods: a posted entry is never edited; it is undone by a second
//! entry, every line negated, linked to it. Periods (calendar months) can be closed: nothing is
//! posted into a closed period, an entry dated in one is posted on the first day of the next
//! open period, with its own date kept as its value date.
//!
//! **Invariant:** an entry is reversed at most once and a reversal is never reversed; a
//! reversal, the match it undoes, the records it opens again and their breaks change in one
//! unit, together or not at all.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::Result;
use crate::model::{EntryLine, JournalEntry};

/// What a unit of work keeps and reads of reversals and periods.
pub trait Reversals {
    /// One posted entry as a reversal needs it, with what reverses it or what it reverses.
    fn entry_to_reverse(&mut self, entry_id: i64) -> Result<Option<EntryToReverse>>;
    /// The entry a match posted (not a reversal of it).
    fn entry_of_match(&mut self, match_id: i64) -> Result<Option<i64>>;
    /// Posts `r.entry` as the reversal of `r.reverses` and undoes its match: its records are
    /// open again (and held for a person: the matcher does not take them again), the breaks
    /// the match closed reopen, and a record that had none gets a `reversed` break. `Conflict`
    /// when the entry is a reversal or was reversed already.
    fn post_reversal(&mut self, r: &NewReversal<'_>) -> Result<Reversed>;
    /// A record's latest break and whether it is resolved: the one a match closed.
    fn latest_break_of_record(&mut self, record_id: i64) -> Result<Option<(i64, bool)>>;
    /// Keeps a pending reversal proposal (kind `reverse`) for `entry`, naming the breaks the
    /// reversal would reopen (maybe none), with a `proposed` line in each one's history.
    /// `Conflict` when the entry has a pending reversal proposal already.
    fn propose_reversal(&mut self, p: &super::NewApproval<'_>, entry: i64) -> Result<i64>;
    /// The entry a reversal proposal would reverse.
    fn reversal_proposed(&mut self, approval_id: i64) -> Result<Option<i64>>;
    /// Closes a period; `Conflict` when it is closed already.
    fn close_period(&mut self, period: Period, by: &str, at: DateTime<Utc>) -> Result<()>;
    /// Opens a closed period again, saying why; `Conflict` when it is not closed.
    fn reopen_period(
        &mut self,
        period: Period,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Every period ever closed, oldest first, with its history.
    fn periods(&mut self) -> Result<Vec<PeriodRow>>;
    /// The day an entry dated `date` is posted on: `date` itself when its period is open,
    /// else the first day of the first open period after it.
    fn open_posting_date(&mut self, date: NaiveDate) -> Result<NaiveDate>;
}

/// A posted entry, for reversing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryToReverse {
    pub id: i64,
    pub job: String,
    pub match_id: i64,
    pub idempotency_key: String,
    pub posting_date: NaiveDate,
    pub narrative: String,
    pub lines: Vec<EntryLine>,
    /// The entry this one reverses, when it is a reversal.
    pub reverses: Option<i64>,
    /// The entry that reversed this one, if any.
    pub reversed_by: Option<i64>,
    /// The records its match settles now.
    pub record_ids: Vec<i64>,
}

pub struct NewReversal<'a> {
    /// The entry reversed.
    pub reverses: i64,
    /// The reversing entry, built by the caller (lines negated).
    pub entry: &'a JournalEntry,
    pub run_id: i64,
    /// Who reverses it, and why: in the history of every break it reopens.
    pub actor: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// What a reversal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversed {
    pub entry_id: i64,
    pub match_id: i64,
    /// The records open again.
    pub records: Vec<i64>,
    /// Breaks the match had closed, open again.
    pub reopened: Vec<i64>,
    /// Breaks opened for records that had none.
    pub opened: Vec<i64>,
}

impl EntryToReverse {
    /// Why this entry cannot be reversed: it is a reversal itself (never reversed: match the
    /// records again instead), or it was reversed already (once only).
    pub fn why_not(&self) -> Option<String> {
        if let Some(of) = self.reverses {
            return Some(format!(
                "entry {} is itself the reversal of entry {of}; a reversal is not reversed \
                 (match the records again instead)",
                self.id
            ));
        }
        self.reversed_by.map(|by| {
            format!(
                "entry {} was reversed already, by entry {by}; an entry is reversed once",
                self.id
            )
        })
    }
}

/// A calendar month, the accounting period clerk closes and reopens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn of(date: NaiveDate) -> Period {
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl std::str::FromStr for Period {
    type Err = String;
    /// `2026-11`: four-digit year, two-digit month, nothing else.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad =
            || format!("{s:?} is not a period: write the year and month as YYYY-MM, e.g. 2026-11");
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !s[..4]
                .bytes()
                .chain(s[5..].bytes())
                .all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = s[..4].parse().map_err(|_| bad())?;
        let month: u32 = s[5..].parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || year < 1900 {
            return Err(bad());
        }
        Ok(Period { year, month })
    }
}

/// A period as kept: open or closed, who changed it last, and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodRow {
    pub period: String,
    /// `open` or `closed`.
    pub status: String,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    pub history: Vec<PeriodEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `closed` or `reopened`.
    pub action: String,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Period;

    #[test]
    fn periods_read_as_year_and_month_only() {
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(p.next().to_string(), "2026-12");
        assert_eq!(
            "2026-12".parse::<Period>().unwrap().next().to_string(),
            "2027-01"
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "abcd-ef",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
