//! Records: ledger items and statement lines as stored, by scope (a book or a job), with
//! their versions, and what changed since a reconciliation's mark.

use chrono::NaiveDate;

use super::Result;
use crate::model::{Record, Side, StoredRecord};

/// What a unit of work keeps and reads of records.
pub trait Records {
    /// Stores records under `scope` (a book for ledger items, a job for statement lines). A
    /// record whose identity is already stored in the scope is counted as known and skipped,
    /// unless it is a ledger item whose amount, currency, value date or reference differ from
    /// its latest version: that is stored as a new version ([`RecordChange`]). The version it
    /// replaces is withdrawn when it was open (it no longer reconciles); when the item is
    /// matched already, the new version is kept out of matching (posting it again would post
    /// the item twice) until a person works it.
    fn add_records(
        &mut self,
        scope: &str,
        file_id: i64,
        records: &[Record],
    ) -> Result<AddedRecords>;
    /// Open (unmatched) records of a scope and side, in the order they arrived; `account`
    /// restricts to one account.
    fn open_records(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
    ) -> Result<Vec<StoredRecord>>;
    /// The latest value date of any record of the scope and side, matched or not.
    fn latest_value_date(&mut self, scope: &str, side: Side) -> Result<Option<NaiveDate>>;
    /// Open records of a scope and side with an id above `after` (stored since), in id
    /// order; `account` restricts to one account.
    fn open_records_after(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
        after: i64,
    ) -> Result<Vec<StoredRecord>>;
    /// The open records among these ids (any scope and side), in id order; matched or
    /// unknown ids are left out.
    fn open_records_by_id(&mut self, ids: &[i64]) -> Result<Vec<StoredRecord>>;
    /// The records of a reconciliation's sides matched by a match with an id above `after`
    /// (by any job, run or person).
    fn records_matched_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>>;
    /// The open records of a reconciliation's sides with a break history line above `after`
    /// (a break opened, resolved, reopened, worked: by any job or person).
    fn records_with_break_history_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>>;
    /// Which of these records have an unresolved break of `job`.
    fn records_with_open_breaks_among(
        &mut self,
        job: &str,
        ids: &[i64],
    ) -> Result<std::collections::HashSet<i64>>;
    /// The records of a reconciliation's sides withdrawn in favour of a version stored with an
    /// id above `after` (a corrected ledger item): open before, out of matching now.
    fn records_withdrawn_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>>;
    /// The highest ids of records, matches and break history lines so far.
    fn high_water(&mut self) -> Result<HighWater>;
    /// The identity a record is stored under (its scope's, with `#2` for a second line of a
    /// file with the same one).
    fn record_identity(&mut self, id: i64) -> Result<Option<String>>;
    /// One record with its scope, and whether it is matched already.
    fn record_by_id(&mut self, id: i64) -> Result<Option<(String, StoredRecord, bool)>>;
    /// The open statement lines of `scope` another job holds a copy of (the statement was
    /// offered to both): that job reports them too, so one break is enough.
    fn statement_lines_shared(&mut self, scope: &str) -> Result<std::collections::HashSet<i64>>;
}

/// The two sides of a cash reconciliation in the store: ledger items of `book` (of
/// `account` only, when set) and statement lines of `job`.
#[derive(Clone, Copy, Debug)]
pub struct JobSides<'a> {
    pub book: &'a str,
    pub account: Option<&'a str>,
    pub job: &'a str,
}

/// The highest ids of what only grows: records, matches, break history lines; and the
/// stored identity of the last record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HighWater {
    pub records: i64,
    pub matches: i64,
    pub history: i64,
    pub last_identity: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddedRecords {
    pub inserted: u64,
    pub known: u64,
    /// Ledger items stored again as a new version: their content changed.
    pub changed: Vec<RecordChange>,
}

/// A ledger item that arrived again with another amount, currency, value date or reference (a
/// corrected booking), stored as a new version of its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    /// The latest version before this one, as it was stored.
    pub old: StoredRecord,
    pub old_version: i64,
    /// The new version, as stored.
    pub new: StoredRecord,
    pub new_version: i64,
    /// The version of the item that is matched and posted, if one is (the old one, or the one
    /// it was itself kept out of matching behind). The new version then takes no part in
    /// matching; otherwise the old version was open, is withdrawn, and the new one reconciles.
    pub matched: Option<MatchedVersion>,
}

/// The matched version of a changed item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedVersion {
    pub record: StoredRecord,
    pub version: i64,
    pub match_id: i64,
}
