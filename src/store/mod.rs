//! The store: everything clerk must not forget — files taken, runs, records, matches, journal
//! entries, breaks, outgoing mail and schedule state.
//!
//! **Invariant:** only this module knows SQL. Callers see use-case methods on [`Unit`], always
//! inside a transaction: [`Store::unit`] for work (all or nothing, one writer at a time),
//! [`Store::read`] for a consistent snapshot. A new backend (PostgreSQL) is one new folder that
//! implements [`Store`] and each area's trait, and passes the same tests.
//!
//! [`Unit`] is the sum of one trait per area, each with its own file and the types it takes
//! and gives: [`Files`] (files and runs), [`Records`], [`Documents`] (statements and kept
//! documents), [`Mailboxes`], [`Matches`], [`Breaks`], [`Outbox`], [`Schedules`] and
//! [`Reports`]. Their methods are callable on a `&mut dyn Unit` (or a `U: Unit`) without
//! importing them; [`prelude`] brings them into scope where a concrete unit type is used.

pub mod approvals;
mod arrivals;
pub mod audit;
pub mod bank;
mod breaks;
pub mod console;
mod documents;
pub mod escalations;
pub mod exports;
mod files;
pub mod journal;
mod mailboxes;
mod matches;
pub mod metrics;
mod outbox;
mod records;
mod reports;
pub mod reversals;
mod schedules;
mod sqlite;
pub mod users;

use std::path::Path;

pub use crate::model::MailOrigin;
pub use approvals::{
    Approval, ApprovalKind, ApprovalStatus, Approvals, Decision, NewApproval, approval_label,
    parse_approval_label,
};
pub use arrivals::Arrivals;
pub use breaks::{BreakAction, BreakFilter, Breaks, NewBreak, StatusFilter};
pub use console::ConsoleReads;
pub use documents::{
    Document, DocumentKind, Documents, NewDocument, NewStatement, OverlappedStatement,
    StatementPeriod, StatementSeen, StoredStatement,
};
pub use exports::{EntrySelection, EntrySpan, ExportBatch, Exports, NewExportBatch};
pub use files::{FileStatus, Files, NewFile, ReplacedFiles, RunOutcome, RunStatus, Trigger};
pub use mailboxes::{Mailboxes, NewMailMessage};
pub use matches::{MatchRow, Matches, NewMatch, Posted};
pub use outbox::{NewMail, Outbox, QueuedMail};
pub use records::{AddedRecords, HighWater, JobSides, MatchedVersion, RecordChange, Records};
pub use reports::{BreakCounting, JobActivity, PostedEntry, Reports, RunRow, Totals};
pub use reversals::{Period, Reversals};
pub use schedules::Schedules;
pub use sqlite::SqliteStore;
pub use users::Users;

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
    in_unit_as(store, work)
}

/// Runs `work` on a read snapshot and hands back its result.
pub fn in_read<T>(
    store: &mut dyn Store,
    work: impl FnOnce(&mut dyn Unit) -> Result<T>,
) -> Result<T> {
    in_read_as(store, work)
}

/// [`in_unit`] for work that may fail with more than a store error (`E`, say
/// `jobs::WorkError`): its error rolls the unit back and comes back as it was. Apart from
/// `in_unit` because a closure whose error only `?` names would leave `E` unknown.
pub fn in_unit_as<T, E: From<StoreError>>(
    store: &mut dyn Store,
    work: impl FnOnce(&mut dyn Unit) -> Result<T, E>,
) -> Result<T, E> {
    let mut work = Some(work);
    let mut out = None;
    let mut failed = None;
    let done = store.unit(&mut |u| {
        let f = work
            .take()
            .ok_or_else(|| StoreError::Other("unit of work called twice".into()))?;
        gave_up(f(u), &mut out, &mut failed)
    });
    if let Some(e) = failed {
        return Err(e);
    }
    done?;
    out.ok_or_else(|| StoreError::Other("unit of work produced nothing".into()).into())
}

/// [`in_read`] for work that may fail with more than a store error, as [`in_unit_as`].
pub fn in_read_as<T, E: From<StoreError>>(
    store: &mut dyn Store,
    work: impl FnOnce(&mut dyn Unit) -> Result<T, E>,
) -> Result<T, E> {
    let mut work = Some(work);
    let mut out = None;
    let mut failed = None;
    let done = store.read(&mut |u| {
        let f = work
            .take()
            .ok_or_else(|| StoreError::Other("read called twice".into()))?;
        gave_up(f(u), &mut out, &mut failed)
    });
    if let Some(e) = failed {
        return Err(e);
    }
    done?;
    out.ok_or_else(|| StoreError::Other("read produced nothing".into()).into())
}

/// Keeps what the work gave: its result in `out`, or its error in `failed`, for the caller to
/// hand back as it was. The store is only told to roll back.
fn gave_up<T, E>(given: Result<T, E>, out: &mut Option<T>, failed: &mut Option<E>) -> Result<()> {
    match given {
        Ok(v) => {
            *out = Some(v);
            Ok(())
        }
        Err(e) => {
            *failed = Some(e);
            Err(StoreError::Other("the work gave up".into()))
        }
    }
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

/// What a transaction can do: every area's methods, each one thing the pipeline needs.
/// Implemented by whatever implements all the areas.
pub trait Unit:
    Files
    + Records
    + Documents
    + Mailboxes
    + Matches
    + Breaks
    + Outbox
    + Schedules
    + Reports
    + journal::Journal
    + bank::BankBooks
    + Users
    + Approvals
    + Arrivals
    + console::ConsoleReads
    + metrics::Metrics
    + escalations::Escalations
    + audit::AuditTrail
    + exports::Exports
    + reversals::Reversals
{
}

impl<T> Unit for T where
    T: Files
        + Records
        + Documents
        + Mailboxes
        + Matches
        + Breaks
        + Outbox
        + Schedules
        + Reports
        + journal::Journal
        + bank::BankBooks
        + Users
        + Approvals
        + Arrivals
        + console::ConsoleReads
        + metrics::Metrics
        + escalations::Escalations
        + audit::AuditTrail
        + exports::Exports
        + reversals::Reversals
{
}

/// The area traits, for calling their methods on a concrete unit type (imported unnamed: they
/// clash with no one's names). A `dyn Unit` needs none of this: its supertraits' methods are
/// its own.
pub mod prelude {
    pub use super::Approvals as _;
    pub use super::Arrivals as _;
    pub use super::Breaks as _;
    pub use super::Documents as _;
    pub use super::Files as _;
    pub use super::Mailboxes as _;
    pub use super::Matches as _;
    pub use super::Outbox as _;
    pub use super::Records as _;
    pub use super::Reports as _;
    pub use super::Schedules as _;
    pub use super::audit::AuditTrail as _;
    pub use super::bank::BankBooks as _;
    pub use super::console::ConsoleReads as _;
    pub use super::escalations::Escalations as _;
    pub use super::exports::Exports as _;
    pub use super::journal::Journal as _;
    pub use super::metrics::Metrics as _;
    pub use super::reversals::Reversals as _;
    pub use super::users::Users as _;
}

#[cfg(test)]
mod tests;
