//! The store: everything clerk must not forget — files taken, runs, records, matches, journal
//! entries, breaks, outgoing mail and schedule state.
//!
//! **Invariant:** only this module knows SQL. Callers see use-case methods on [`Unit`], always
//! inside a transaction: [`Store::unit`] for work (all or nothing, one writer at a time),
//! [`Store::read`] for a consistent snapshot. A new backend (PostgreSQL) is one new file that
//! implements [`Store`] and [`Unit`], and passes the same tests.

mod sqlite;

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

pub use crate::model::MailOrigin;
use crate::model::{
    Break, BreakEvent, BreakReason, BreakStatus, Currency, JournalEntry, MatchPass, Record,
};
use crate::model::{Side, StoredRecord};

pub use sqlite::SqliteStore;

/// Failure modes callers act on differently: retry later (busy, full, read-only) or give up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is locked by another process; will retry: {0}")]
    Busy(String),
    #[error("the disk holding the database is full: {0}")]
    Full(String),
    #[error("the database cannot be written (read-only file or folder): {0}")]
    ReadOnly(String),
    #[error("refused: {0}")]
    Conflict(String),
    #[error("the database file is damaged or not a clerk database: {0}")]
    Corrupt(String),
    #[error("the store needs an upgrade (run clerk as its service user): {0}")]
    Outdated(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether the same work may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Busy(_) | StoreError::Full(_) | StoreError::ReadOnly(_)
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A store backend.
pub trait Store: Send {
    /// Runs `work` in one write transaction: everything it did is committed together, or, if it
    /// returns an error, nothing is.
    fn unit(&mut self, work: &mut dyn FnMut(&mut dyn Unit) -> Result<()>) -> Result<()>;
    /// Runs `work` on a consistent read-only snapshot.
    fn read(&mut self, work: &mut dyn FnMut(&mut dyn Unit) -> Result<()>) -> Result<()>;
    /// Where the store lives, for logs and `clerk check` (never with a password).
    fn describe(&self) -> String;
    /// What is damaged in the store's files (pages, b-trees, indexes); empty when nothing is.
    /// `Quick` reads every page once (start-up); `Thorough` also checks every index against
    /// its table (`clerk check`). Reads only: runs alongside a working daemon.
    fn damage(&mut self, depth: CheckDepth) -> Result<Vec<String>>;
}

/// How far [`Store::damage`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDepth {
    Quick,
    Thorough,
}

/// Runs `work` in a write transaction and hands back its result.
pub fn in_unit<T>(
    store: &mut dyn Store,
    work: impl FnOnce(&mut dyn Unit) -> Result<T>,
) -> Result<T> {
    let mut work = Some(work);
    let mut out = None;
    store.unit(&mut |u| {
        let f = work
            .take()
            .ok_or_else(|| StoreError::Other("unit of work called twice".into()))?;
        out = Some(f(u)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Other("unit of work produced nothing".into()))
}

/// Runs `work` on a read snapshot and hands back its result.
pub fn in_read<T>(
    store: &mut dyn Store,
    work: impl FnOnce(&mut dyn Unit) -> Result<T>,
) -> Result<T> {
    let mut work = Some(work);
    let mut out = None;
    store.read(&mut |u| {
        let f = work
            .take()
            .ok_or_else(|| StoreError::Other("read called twice".into()))?;
        out = Some(f(u)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Other("read produced nothing".into()))
}

/// Opens the store a config names: today a SQLite file, created with its schema when missing.
pub fn open(path: &Path) -> Result<Box<dyn Store>> {
    Ok(Box::new(SqliteStore::open(path)?))
}

/// Opens the store for a read command (`clerk status`, `clerk exceptions`, `clerk explain`):
/// read-only when it exists and is up to date, so staff who may read the store but not write
/// it can run them. A store not created yet, or one an older clerk left to migrate, is opened
/// as [`open`] does, which needs write access.
pub fn open_for_reading(path: &Path) -> Result<Box<dyn Store>> {
    if !path.exists() {
        return open(path);
    }
    match SqliteStore::open_read_only(path) {
        Ok(s) => Ok(Box::new(s)),
        Err(StoreError::Outdated(why)) => open(path).map_err(|e| match e {
            StoreError::ReadOnly(m) => StoreError::Outdated(format!("{why}; {m}")),
            other => other,
        }),
        Err(e) => Err(e),
    }
}

/// What a transaction can do. Each method is one thing the pipeline needs.
pub trait Unit {
    // ---- files and runs -------------------------------------------------------------------
    /// The id of an already processed file of `job` with this content, if any.
    fn processed_file(&mut self, job: &str, sha256: &str) -> Result<Option<i64>>;
    fn add_file(&mut self, file: &NewFile<'_>) -> Result<i64>;
    fn start_run(
        &mut self,
        job: &str,
        trigger: Trigger,
        file_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<i64>;
    fn finish_run(&mut self, run_id: i64, outcome: &RunOutcome) -> Result<()>;
    /// The latest outcome recorded for a file of `job` with this content and this name, with
    /// its error. The name matters: a copy of a processed file under another name, found in
    /// processing after a crash, has no outcome of its own yet (it is a duplicate to record).
    fn last_file_outcome(
        &mut self,
        job: &str,
        sha256: &str,
        name: &str,
    ) -> Result<Option<(FileStatus, Option<String>)>>;
    /// The name a file with this content arrived under (the first, if several).
    fn file_name(&mut self, sha256: &str) -> Result<Option<String>>;
    /// A file of `job` named `name` was processed (`file_id`, run `run_id`): it replaces the
    /// failed files of that job and name (a file fixed and dropped again). Marks them replaced
    /// and closes their unresolved breaks (`unreadable`, `file_changed`) with `resolution`.
    fn replace_failed_files(
        &mut self,
        job: &str,
        name: &str,
        file_id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<ReplacedFiles>;
    /// The failed files of `job` named `name`, oldest first: each one's content hash (empty
    /// when it was refused unread) and whether a file processed since replaced it.
    fn failed_files_named(&mut self, job: &str, name: &str) -> Result<Vec<(String, bool)>>;
    /// When the records of the processed file with this content were recorded: the start of
    /// the first run of that file (the unit of work that stored them). What an unmatched
    /// item's grace period counts from (see `jobs::cash::Hold`).
    fn file_recorded_at(&mut self, sha256: &str) -> Result<Option<DateTime<Utc>>>;

    // ---- records ---------------------------------------------------------------------------
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

    // ---- statements and documents ----------------------------------------------------------
    /// Whether a statement with this identity was stored before (by any job).
    fn statement_seen(&mut self, identity: &str) -> Result<bool>;
    /// The stored end-of-day statement of the account and currency with the latest closing
    /// date on or before `on_or_before`: what a new statement's opening balance must follow.
    fn previous_statement(
        &mut self,
        account: &str,
        currency: &str,
        on_or_before: NaiveDate,
    ) -> Result<Option<StoredStatement>>;
    fn add_statement(&mut self, s: &NewStatement<'_>) -> Result<i64>;
    /// Stores positions, securities transactions or invoices under `scope`; one per identity.
    fn add_documents(
        &mut self,
        scope: &str,
        file_id: i64,
        docs: &[NewDocument],
    ) -> Result<AddedRecords>;
    /// Documents of a scope and kind, in arrival order (bodies as stored JSON).
    fn documents(&mut self, scope: &str, kind: DocumentKind) -> Result<Vec<NewDocument>>;

    // ---- mailboxes -------------------------------------------------------------------------
    /// UIDVALIDITY and the highest UID done, for an IMAP mailbox.
    fn mail_cursor(&mut self, mailbox: &str) -> Result<Option<(u32, u32)>>;
    /// Moves the cursor forward (never back within one UIDVALIDITY; a new UIDVALIDITY starts
    /// over).
    fn set_mail_cursor(&mut self, mailbox: &str, uidvalidity: u32, last_uid: u32) -> Result<()>;
    /// What became of a message handled before (`processed`, `failed`, `refused`,
    /// `duplicate`), if it was.
    fn mail_message_outcome(&mut self, mailbox: &str, key: &str) -> Result<Option<String>>;
    /// Whether a message with this Message-ID was processed before (in any mailbox) with the
    /// same attachments taken: the same contents (hex SHA-256), in any order. A Message-ID is
    /// only a claim of the sender's; a refused mail, or one with other files, does not count.
    fn mail_processed_with(&mut self, message_id: &str, sha256s: &[String]) -> Result<bool>;
    /// Records a handled message and ends its tries; `false` if it was recorded before. A
    /// message recorded as `refused` is recorded anew: it came back (moved back into the
    /// mailbox once the cause was fixed) and was looked at again.
    fn add_mail_message(&mut self, m: &NewMailMessage<'_>) -> Result<bool>;
    /// Counts a try at handling a message, before it starts; returns the tries so far, this one
    /// included. A try that ends with the message recorded leaves no trace; one that panicked
    /// or that clerk died in stays counted.
    fn add_mail_try(&mut self, mailbox: &str, key: &str) -> Result<u32>;
    /// Takes the last try back: it failed for a reason not the message's (the store was busy).
    fn take_back_mail_try(&mut self, mailbox: &str, key: &str) -> Result<()>;
    /// Notes why the last try failed (a panic's message).
    fn note_mail_try_error(&mut self, mailbox: &str, key: &str, error: &str) -> Result<()>;
    /// Tries so far at a message not yet recorded, and why the last one failed if known.
    fn mail_tries(&mut self, mailbox: &str, key: &str) -> Result<(u32, Option<String>)>;
    fn mail_attachment_done(&mut self, mailbox: &str, key: &str, part: u32) -> Result<bool>;
    /// Records that an attachment was handed to a job, in the job's own transaction.
    fn add_mail_attachment(
        &mut self,
        origin: &MailOrigin,
        sha256: &str,
        job: &str,
        file_id: Option<i64>,
    ) -> Result<()>;

    // ---- matches and entries ---------------------------------------------------------------
    /// Records a match and posts its entry. Refuses (Conflict) if a record is already matched;
    /// returns `AlreadyPosted` without changing anything if the entry's key was posted before.
    fn post_match(&mut self, m: &NewMatch<'_>) -> Result<Posted>;

    // ---- breaks ----------------------------------------------------------------------------
    /// Opens a break; `None` if the record already has an open one.
    fn open_break(&mut self, b: &NewBreak<'_>) -> Result<Option<i64>>;
    /// The records of a job that have an unresolved break: a run restates nothing for them,
    /// so it need not build their words again.
    fn records_with_open_breaks(&mut self, job: &str) -> Result<std::collections::HashSet<i64>>;
    /// Closes the open breaks of these records, saying how; returns how many closed.
    fn close_breaks_of_records(
        &mut self,
        record_ids: &[i64],
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// The unresolved breaks of a job that are about a subject (a position, a trade), with
    /// their subjects.
    fn open_subjects(&mut self, job: &str) -> Result<Vec<(i64, String)>>;
    /// Whether a break about this subject was ever opened for the job, resolved or not: what
    /// is reported once and for all (a file clerk ignores) is not reported again.
    fn break_about(&mut self, job: &str, subject: &str) -> Result<bool>;
    /// Restates an unresolved break whose difference changed (a position still off, by
    /// another quantity); `false` when nothing changed. The break keeps its age.
    fn update_break(
        &mut self,
        id: i64,
        reason: BreakReason,
        detail: &str,
        difference: Option<Decimal>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Closes one break because its subject now agrees, saying how.
    fn close_break(
        &mut self,
        id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    fn breaks(&mut self, filter: &BreakFilter<'_>) -> Result<Vec<Break>>;
    fn break_by_id(&mut self, id: i64) -> Result<Option<Break>>;
    /// Everything that happened to a break, oldest first.
    fn break_history(&mut self, id: i64) -> Result<Vec<BreakEvent>>;
    /// A person works a break: assigns it, notes something, investigates, reopens.
    fn work_break(
        &mut self,
        id: i64,
        action: &BreakAction<'_>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// A person resolves a break, saying why.
    fn resolve_break(
        &mut self,
        id: i64,
        resolution: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// One record with its scope, and whether it is matched already.
    fn record_by_id(&mut self, id: i64) -> Result<Option<(String, StoredRecord, bool)>>;
    /// The match a record belongs to, if any (`clerk explain`).
    fn match_of_record(&mut self, record_id: i64) -> Result<Option<i64>>;
    /// One match with its records and the matcher's explanation (`clerk explain`).
    fn match_by_id(&mut self, id: i64) -> Result<Option<MatchRow>>;

    // ---- outgoing mail ---------------------------------------------------------------------
    /// Queues a message; `false` if one with this Message-ID is already queued or sent.
    fn enqueue_mail(&mut self, mail: &NewMail<'_>) -> Result<bool>;
    /// Takes the messages due at `now` for one delivery attempt, oldest first: each is leased
    /// until `lease_until` (another process will not send it meanwhile; if this one dies
    /// mid-send, the message is due again when the lease ends).
    fn lease_mail(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>>;
    fn mail_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()>;
    fn mail_failed(&mut self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()>;
    /// Makes every leased, unsent message due at `now`: called by a daemon starting up, whose
    /// predecessor may have been killed mid-delivery. Returns how many were released.
    fn release_mail_leases(&mut self, now: DateTime<Utc>) -> Result<usize>;
    /// When the next queued message is due, if any.
    fn next_mail_due(&mut self) -> Result<Option<DateTime<Utc>>>;

    // ---- schedules -------------------------------------------------------------------------
    fn last_fired(&mut self, job: &str) -> Result<Option<DateTime<Utc>>>;
    fn set_last_fired(&mut self, job: &str, at: DateTime<Utc>) -> Result<()>;

    // ---- reporting -------------------------------------------------------------------------
    /// Per-job activity of the runs started at or after `since`. Breaks about a record that
    /// were open less than their job's grace period (see [`BreakCounting`]) are neither
    /// opened nor closed in it.
    fn activity_since(
        &mut self,
        since: DateTime<Utc>,
        counting: &BreakCounting,
    ) -> Result<Vec<JobActivity>>;
    fn totals(&mut self) -> Result<Totals>;
    fn recent_runs(&mut self, limit: usize) -> Result<Vec<RunRow>>;
    fn entries_of_run(&mut self, run_id: i64) -> Result<Vec<PostedEntry>>;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A file arrived in a watched folder.
    File,
    /// A schedule fired.
    Schedule,
    /// Someone ran `clerk job run`.
    Manual,
    /// Another job's import brought records this job reconciles against.
    Rematch,
    /// A mail brought the file (an attachment).
    Mail,
    /// Unmatched items came to the end of their grace period: the daemon woke for them, no
    /// file came.
    Due,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::File => "file",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Rematch => "rematch",
            Trigger::Mail => "mail",
            Trigger::Due => "due",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Processed,
    Failed,
    Duplicate,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Processed => "processed",
            FileStatus::Failed => "failed",
            FileStatus::Duplicate => "duplicate",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewFile<'a> {
    pub job: &'a str,
    pub sha256: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub arrived_at: DateTime<Utc>,
    pub status: FileStatus,
    pub error: Option<&'a str>,
    pub duplicate_of: Option<i64>,
}

/// What a processed file replaced of the failed files of its name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplacedFiles {
    pub files: u64,
    pub breaks_closed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Failed,
    Duplicate,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Duplicate => "duplicate",
        }
    }
}

/// What a run did, written when it ends (in the same transaction as the work).
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    pub status: Option<RunStatus>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Format the file was read as (`csv`, `xlsx`, ...).
    pub format: Option<String>,
    /// Records read from the file.
    pub records_in: u64,
    /// Records read before but seen again (same identity and content): not stored twice.
    pub records_known: u64,
    /// Ledger items read before with other content, stored as new versions.
    pub records_changed: u64,
    /// Of those, the ones whose earlier version was open and is withdrawn (the others changed
    /// after their match).
    pub records_withdrawn: u64,
    /// Records matched without a human in this run (both sides).
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    /// Time from the file's arrival in the folder to the end of the run.
    pub arrival_to_done_ms: Option<u64>,
    /// Time spent reading the file (extract).
    pub extract_ms: Option<u64>,
    /// Time spent matching and posting (reconcile, post).
    pub match_ms: Option<u64>,
    pub error: Option<String>,
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

pub struct NewMailMessage<'a> {
    pub mailbox: &'a str,
    pub key: &'a str,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// `processed`, `failed`, `refused` or `duplicate`.
    pub outcome: &'a str,
    pub attachments: u32,
    pub detail: Option<&'a str>,
}

/// A statement as stored for the checks across files.
pub struct NewStatement<'a> {
    pub job: &'a str,
    pub file_id: i64,
    pub identity: &'a str,
    pub format: &'a str,
    pub statement: &'a crate::model::statement::BankStatement,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStatement {
    pub number: Option<String>,
    pub closing_amount: Decimal,
    pub closing_date: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Position,
    SecuritiesTransaction,
    Invoice,
    PurchaseOrderLine,
    GoodsReceipt,
    /// An invoice accounts payable approved and posted, with the quantities it used.
    ApprovedInvoice,
    /// A payable settled by a payment on the bank statement.
    PaidInvoice,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Position => "position",
            DocumentKind::SecuritiesTransaction => "securities_transaction",
            DocumentKind::Invoice => "invoice",
            DocumentKind::PurchaseOrderLine => "purchase_order_line",
            DocumentKind::GoodsReceipt => "goods_receipt",
            DocumentKind::ApprovedInvoice => "approved_invoice",
            DocumentKind::PaidInvoice => "paid_invoice",
        }
    }
}

/// A position, securities transaction or invoice as kept: its identity, the keys it is found
/// by, and the whole document as JSON (exact decimals as strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDocument {
    pub kind: DocumentKind,
    pub identity: String,
    pub account: Option<String>,
    /// ISIN, invoice number, ...
    pub key: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub body: String,
}

/// A match as stored: who or what made it, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

pub struct NewBreak<'a> {
    pub job: &'a str,
    pub run_id: i64,
    pub reason: BreakReason,
    pub detail: &'a str,
    pub amount: Option<Decimal>,
    pub currency: Option<Currency>,
    /// The difference behind an amount or quantity break.
    pub difference: Option<Decimal>,
    pub since: NaiveDate,
    pub owner: Option<&'a str>,
    pub record_id: Option<i64>,
    pub source: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// What the break is about when it is not one record (`position|SAFE-1|DE000…`); one
    /// unresolved break per job and subject.
    pub subject: Option<&'a str>,
}

#[derive(Clone, Debug, Default)]
pub struct BreakFilter<'a> {
    pub job: Option<&'a str>,
    pub status: StatusFilter,
    pub reason: Option<BreakReason>,
    pub owner: Option<&'a str>,
    pub limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Open or being investigated: what still needs someone.
    #[default]
    Unresolved,
    Is(BreakStatus),
    Any,
}

/// What a person does to a break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakAction<'a> {
    Assign(&'a str),
    Note(&'a str),
    Investigate,
    Reopen,
}

pub struct NewMail<'a> {
    pub message_id: &'a str,
    /// `summary` or `alert`: what the message is, for status and logs.
    pub purpose: &'a str,
    pub from: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub raw: &'a [u8],
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct QueuedMail {
    pub id: i64,
    pub message_id: String,
    pub purpose: String,
    pub from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
    pub attempts: u32,
}

/// Which breaks the KPIs count as opened (and closed): a break about a record counts only
/// once it has been open at least its job's grace period, `(closed_at or now) - opened_at >=
/// grace`. A break opened and closed by a match within the grace was an item waiting for its
/// counterpart, not an exception: the daemon no longer opens such breaks, but stores from
/// before it did hold them (and `clerk job run` ends a batch by opening every break).
#[derive(Clone, Debug, Default)]
pub struct BreakCounting {
    pub now: DateTime<Utc>,
    /// Each job's grace period; a job not named has none.
    pub grace: std::collections::BTreeMap<String, std::time::Duration>,
}

/// A job's runs over a period, for the summary and `clerk status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobActivity {
    pub job: String,
    pub runs: u64,
    pub runs_failed: u64,
    pub files_processed: u64,
    pub files_failed: u64,
    pub files_duplicate: u64,
    pub records: u64,
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    pub processing_ms: u64,
    pub last_run_at: Option<DateTime<Utc>>,
    /// Of the processing time: reading files, and matching with posting.
    pub extract_ms: u64,
    pub match_ms: u64,
    /// From a file's arrival in its folder to the end of its run (posting done).
    pub arrival_to_done_avg_ms: Option<u64>,
    pub arrival_to_done_max_ms: Option<u64>,
    /// Records matched without a human, by the pass that matched them.
    pub matched_by_pass: std::collections::BTreeMap<String, u64>,
    /// Ledger items that arrived again with other content (new versions), and of them those
    /// whose earlier, open version was withdrawn; the rest changed after their match.
    pub records_changed: u64,
    pub records_withdrawn: u64,
}

impl JobActivity {
    /// What the cost model prices.
    pub fn workload(&self) -> crate::model::costs::Workload {
        crate::model::costs::Workload {
            records: self.records,
            processing_ms: self.processing_ms,
            breaks_opened: self.breaks_opened,
            files_failed: self.files_failed,
        }
    }
}

/// Totals across jobs since the store was created.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub files_processed: u64,
    pub files_failed: u64,
    pub files_duplicate: u64,
    pub records: u64,
    pub records_open: u64,
    pub entries_posted: u64,
    pub open_exceptions: u64,
    pub mail_queued: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub job: String,
    pub trigger: String,
    pub status: String,
    pub file: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<u64>,
    pub records_in: u64,
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PostedEntry {
    pub id: i64,
    pub idempotency_key: String,
    pub posting_date: NaiveDate,
    pub narrative: String,
    pub lines: Vec<crate::model::EntryLine>,
}

#[cfg(test)]
mod tests;
