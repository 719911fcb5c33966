//! Matches and entries: a match settles records and posts its journal entry, once.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;
use crate::model::{JournalEntry, MatchPass, StoredRecord};

/// What a unit of work keeps and reads of matches and entries.
pub trait Matches {
    /// Records a match and posts its entry. Refuses (Conflict) if a record is already matched;
    /// returns `AlreadyPosted` without changing anything if the entry's key was posted before.
    fn post_match(&mut self, m: &NewMatch<'_>) -> Result<Posted>;
    /// The match a record belongs to, if any (`clerk explain`).
    fn match_of_record(&mut self, record_id: i64) -> Result<Option<i64>>;
    /// One match with its records and the matcher's explanation (`clerk explain`).
    fn match_by_id(&mut self, id: i64) -> Result<Option<MatchRow>>;
    /// Names the documents match `match_id` (just posted) came from, in order: the places a
    /// payables entry's invoice, order and receipt lines were read. Part of its entry's
    /// sources from then on.
    fn add_match_sources(&mut self, match_id: i64, sources: &[String]) -> Result<()>;
    /// Links bank lines `parts` of `job`, just posted, to the ledger item `item` they pay in
    /// part; the item stays open for the rest.
    fn link_parts(&mut self, job: &str, item: i64, parts: &[i64]) -> Result<()>;
    /// The parts posted against the open ledger items of `job`: (item id, part), by part id.
    fn parts_of_open_items(&mut self, job: &str) -> Result<Vec<(i64, StoredRecord)>>;
}

pub struct NewMatch<'a> {
    pub job: &'a str,
    pub run_id: i64,
    pub pass: MatchPass,
    pub record_ids: &'a [i64],
    pub entry: &'a JournalEntry,
    pub at: DateTime<Utc>,
    /// Why the matcher decided so (JSON), for `clerk explain`.
    pub explanation: Option<&'a str>,
    /// Who forced the match, and why; `None` for the matcher's own.
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    Posted { match_id: i64, entry_id: i64 },
    AlreadyPosted,
}

/// A match as stored: who or what made it, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatchRow {
    pub id: i64,
    pub job: String,
    pub run_id: i64,
    pub pass: String,
    pub created_at: String,
    /// The matcher's explanation (JSON), when it gave one.
    pub explanation: Option<String>,
    /// Who forced it and why, for a match made by hand.
    pub actor: Option<String>,
    pub reason: Option<String>,
    /// The records it settles, by id.
    pub record_ids: Vec<i64>,
}
