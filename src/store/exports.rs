//! Exports: per export target, a cursor (the last entry exported) and the batches written (which
//! file holds which entries, with its checksum), so every posted entry reaches each target
//! exactly once.
//!
//! **Invariant:** the cursor of a target moves only in [`Exports::record_export_batch`], in the
//! unit that records the batch's file name and checksum, and only from where the batch was
//! planned from (a second writer that got there first makes the call a `Conflict`). A
//! re-export is recorded the same way but leaves the cursor where it is.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Result;
use crate::model::journal::PostedEntry;

/// Which entries a batch takes: ids in `(after, up_to]` (no upper bound when `None`), posted
/// within `from..=to` when given, the first `limit` of them in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySelection {
    pub after: i64,
    pub up_to: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub limit: u64,
}

/// What a selection holds: its first and last entry, how many, their posting dates' range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySpan {
    pub first_entry: i64,
    pub last_entry: i64,
    pub entries: u64,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
}

/// A batch to record, once its file was rendered.
#[derive(Debug, Clone)]
pub struct NewExportBatch<'a> {
    pub target: &'a str,
    pub number: u64,
    pub reexport: bool,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub span: EntrySpan,
    /// A re-export's date range (how its entries are selected again after a crash).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    /// The target's cursor the batch was planned from; the cursor moves to the batch's last
    /// entry only if it is still there (not for a re-export).
    pub cursor_was: i64,
}

/// A batch as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportBatch {
    pub id: i64,
    pub target: String,
    pub number: u64,
    pub reexport: bool,
    pub file_name: String,
    pub sha256: String,
    pub first_entry: i64,
    pub last_entry: i64,
    pub entries: u64,
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    /// When its file was in place under its name; `None` while a crash may have kept it from
    /// being written.
    pub written_at: Option<DateTime<Utc>>,
}

impl ExportBatch {
    /// The selection that gives this batch's entries again.
    pub fn selection(&self) -> EntrySelection {
        EntrySelection {
            after: self.first_entry - 1,
            up_to: Some(self.last_entry),
            from: self.from,
            to: self.to,
            limit: self.entries,
        }
    }

    pub fn span(&self) -> EntrySpan {
        EntrySpan {
            first_entry: self.first_entry,
            last_entry: self.last_entry,
            entries: self.entries,
            first_date: self.first_date,
            last_date: self.last_date,
        }
    }
}

pub trait Exports {
    /// The last entry exported to `target` (0 before its first batch).
    fn export_cursor(&mut self, target: &str) -> Result<i64>;
    /// The highest entry id posted (0 when none): whether any target has work.
    fn last_entry_id(&mut self) -> Result<i64>;
    /// The first entry after `after` (by id) and its posting date; `None` when there is none.
    fn first_entry_after(&mut self, after: i64) -> Result<Option<(i64, NaiveDate)>>;
    /// The first entry after `after` (by id) posted outside `from..=to`, for a format whose
    /// files must lie within one span of dates.
    fn first_entry_outside(
        &mut self,
        after: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<i64>>;
    /// What `selection` holds; `None` when it holds no entry.
    fn export_span(&mut self, selection: &EntrySelection) -> Result<Option<EntrySpan>>;
    /// Hands each entry of `selection` to `each`, in id order, a few hundred read at a time (a
    /// batch of 100,000 entries is never in memory at once). An error from `each` stops it.
    fn for_each_export_entry(
        &mut self,
        selection: &EntrySelection,
        each: &mut dyn FnMut(&PostedEntry) -> Result<()>,
    ) -> Result<()>;
    /// The number the next batch of `target` takes (its batches and its re-exports are
    /// numbered apart, from 1).
    fn next_export_number(&mut self, target: &str, reexport: bool) -> Result<u64>;
    /// Records a batch and, unless it is a re-export, moves the target's cursor to its last
    /// entry: `Conflict` when the cursor is no longer `cursor_was`.
    fn record_export_batch(&mut self, batch: &NewExportBatch<'_>) -> Result<ExportBatch>;
    /// The batch's file is in place.
    fn mark_export_written(&mut self, batch_id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Batches recorded but not marked written (a crash came between), oldest first; of one
    /// target when given.
    fn unwritten_export_batches(&mut self, target: Option<&str>) -> Result<Vec<ExportBatch>>;
    /// Every batch (of one target when given), in the order they were recorded.
    fn export_batches(&mut self, target: Option<&str>) -> Result<Vec<ExportBatch>>;
}
