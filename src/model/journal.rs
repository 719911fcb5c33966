//! A posted entry as the books read it back: its lines, and where it came from. What the
//! journal lists, what exports write.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::EntryLine;

/// One posted entry.
#[derive(Debug, Clone, Serialize)]
pub struct PostedEntry {
    pub id: i64,
    pub job: String,
    pub posting_date: NaiveDate,
    pub narrative: String,
    pub posted_at: DateTime<Utc>,
    pub run_id: i64,
    pub match_id: i64,
    /// How it was matched or booked (`reference`, `manual`, a posting rule's pass).
    pub pass: String,
    pub lines: Vec<EntryLine>,
    /// The records it settles, where they were read: `file.csv line 8`, `book.xlsx sheet
    /// Ledger line 12`.
    pub sources: Vec<String>,
    /// The entry this one reverses (it negates every line of it), when it is a reversal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverses: Option<i64>,
    /// The entry that reversed this one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reversed_by: Option<i64>,
    /// The date the entry would have had, when its period was closed and it was posted on the
    /// first day of the next open one instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_date: Option<NaiveDate>,
}
