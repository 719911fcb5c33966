//! SQLite backend: one file, WAL journal, a transaction per unit of work.
//!
//! Why these settings: WAL lets `clerk status` read while the daemon writes; `synchronous=FULL`
//! makes a committed unit survive a power cut, not just a crash; `BEGIN IMMEDIATE` takes the
//! write lock up front, so two writers queue on `busy_timeout` instead of failing halfway.
//!
//! This file opens, migrates and checks the database and runs units of work on
//! [`SqliteUnit`]; each area's trait is implemented for it in the file of that name
//! (`records.rs` with `versions.rs`, how a record's versions are written).

mod approvals;
mod arrivals;
mod audit;
mod bank;
mod breaks;
mod console;
mod documents;
mod escalations;
mod exports;
mod files;
mod journal;
mod mailboxes;
mod matches;
mod metrics;
mod outbox;
mod records;
mod reports;
mod reversals;
mod schedules;
mod users;
mod versions;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{
    Connection, ErrorCode, FileControl, OpenFlags, OptionalExtension, Transaction,
    TransactionBehavior, params,
};
use rust_decimal::Decimal;

use super::*;
use crate::model::{
    Break, BreakEvent, BreakReason, BreakStatus, Currency, EntryLine, Record, Side, Source,
    StoredRecord,
};
use records::SeenIdentities;

pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_documents.sql"),
    include_str!("../migrations/sqlite/0003_break_workflow.sql"),
    include_str!("../migrations/sqlite/0004_mailboxes.sql"),
    include_str!("../migrations/sqlite/0005_stage_times.sql"),
    include_str!("../migrations/sqlite/0006_match_explanations.sql"),
    include_str!("../migrations/sqlite/0007_break_subjects.sql"),
    include_str!("../migrations/sqlite/0008_payables.sql"),
    include_str!("../migrations/sqlite/0009_outbox_lease.sql"),
    include_str!("../migrations/sqlite/0010_lookup_indexes.sql"),
    include_str!("../migrations/sqlite/0011_mail_tries.sql"),
    include_str!("../migrations/sqlite/0012_record_versions_and_replaced_files.sql"),
    include_str!("../migrations/sqlite/0013_break_grace.sql"),
    include_str!("../migrations/sqlite/0014_unbooked_statement_lines.sql"),
    include_str!("../migrations/sqlite/0015_bank_codes.sql"),
    include_str!("../migrations/sqlite/0016_entry_line_fx.sql"),
    include_str!("../migrations/sqlite/0017_part_payments.sql"),
    include_str!("../migrations/sqlite/0018_statements_shared_by_jobs.sql"),
    include_str!("../migrations/sqlite/0019_users.sql"),
    include_str!("../migrations/sqlite/0020_approvals.sql"),
    include_str!("../migrations/sqlite/0021_expected_arrivals.sql"),
    include_str!("../migrations/sqlite/0022_console_queue.sql"),
    include_str!("../migrations/sqlite/0023_break_escalation.sql"),
    include_str!("../migrations/sqlite/0024_reversals_and_periods.sql"),
    include_str!("../migrations/sqlite/0025_audit_chain.sql"),
    include_str!("../migrations/sqlite/0026_exports.sql"),
    include_str!("../migrations/sqlite/0027_approval_kinds.sql"),
    include_str!("../migrations/sqlite/0028_match_sources.sql"),
];

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    open_items: OpenItems,
}

/// The open (unmatched) records of each book side, as last committed, kept between units of
/// work. Every reconciliation run reads all open items of its book; with a backlog of
/// thousands (a ledger feed that stopped for a day) reading them from the database was most of
/// each run's time. Kept right by applying each committed unit's own inserts and matches, and
/// dropped whole when another connection has committed anything (SQLite's `data_version`: a
/// person resolving or force-matching from the CLI) or a unit fails.
struct OpenItems {
    data_version: Option<i64>,
    sides: KeptSides,
    /// A side with more open items than this is not kept (read from the database each run,
    /// as before): a book with a million open items must not stay in memory for good.
    limit: usize,
}

impl Default for OpenItems {
    fn default() -> Self {
        OpenItems {
            data_version: None,
            sides: KeptSides::default(),
            limit: 200_000,
        }
    }
}

/// Open items by (scope, side), by record id.
type KeptSides = HashMap<(String, Side), BTreeMap<i64, StoredRecord>>;

/// What one unit did to open items, applied to [`OpenItems`] once it has committed.
#[derive(Default)]
struct OpenItemsDelta {
    /// Sides read from the database in this unit (as this unit saw them).
    loaded: Vec<((String, Side), Vec<StoredRecord>)>,
    /// Inserted records of sides that are kept or were read in this unit (no others: a
    /// million-line ledger import is not copied for nothing).
    added: Vec<(String, StoredRecord)>,
    /// Sides that received more inserts than are kept: dropped at the commit, and read from
    /// the database for the rest of this unit.
    overflowed: Vec<(String, Side)>,
    /// How many of `added` each side has.
    added_per_side: HashMap<(String, Side), usize>,
    /// Records no longer open: matched, or withdrawn for a later version.
    gone: Vec<i64>,
}

impl OpenItems {
    fn apply(&mut self, delta: OpenItemsDelta) {
        for (key, records) in delta.loaded {
            self.sides
                .insert(key, records.into_iter().map(|r| (r.id, r)).collect());
        }
        for (scope, r) in delta.added {
            if let Some(side) = self.sides.get_mut(&(scope, r.record.side)) {
                side.insert(r.id, r);
            }
        }
        for id in delta.gone {
            for side in self.sides.values_mut() {
                side.remove(&id);
            }
        }
        for key in &delta.overflowed {
            self.sides.remove(key);
        }
        let limit = self.limit;
        self.sides.retain(|_, side| side.len() <= limit);
    }
}

impl SqliteStore {
    /// Keeps no book side with more than `limit` open items between units (tests).
    #[cfg(test)]
    pub(crate) fn keep_open_items_up_to(&mut self, limit: usize) {
        self.open_items.limit = limit;
    }

    /// How many open items are kept between units, over all book sides (tests).
    #[cfg(test)]
    pub(crate) fn kept_open_items(&self) -> usize {
        self.open_items.sides.values().map(BTreeMap::len).sum()
    }

    /// Opens (creating when missing, with [`crate::fsx::FILE_MODE`]: the owner writes, the
    /// group reads) and migrates.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsx::create_dir_all(dir).map_err(|e| io_error(path, e))?;
        }
        create_store_file(path).map_err(|e| io_error(path, e))?;
        let conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(map_err)?;
        // Keep `-wal` and `-shm` when the last connection closes. A reader that may not write
        // the folder (staff in the group, `clerk status`) cannot create them, and SQLite
        // cannot read a WAL database without them; with them there (and group-readable,
        // as SQLite gives them the database file's mode) it reads, even while the daemon
        // writes.
        let mut persist = 1;
        conn.file_control(
            rusqlite::DEFAULT_NAME,
            FileControl::PersistWal(&mut persist),
        )
        .map_err(map_err)?;
        // journal_mode returns a row; the others do not.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "{}: could not switch to WAL journal (got {mode})",
                path.display()
            )));
        }
        // With a size limit set, the kept `-wal` is emptied when the last connection closes
        // (everything is in the database file then, as a backup or a copy expects) and trimmed
        // back to the limit when it restarts after growing past it.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(map_err)?;
        // A file's unit of work uses a few dozen statements; with rusqlite's default of 16 kept
        // they pushed each other out and every unit parsed most of its SQL again.
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            open_items: OpenItems::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        // Up to date: no write lock needed. A reader (`clerk status`) must not queue behind a
        // daemon busy with a large unit of work just to find nothing to migrate.
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(map_err)?;
        if current as usize == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(map_err)?;
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "{} has schema version {version}, newer than this clerk knows ({}); upgrade clerk",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).map_err(map_err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(map_err)?;
        }
        // The rows an older clerk wrote join the chain on the first open after migrating.
        audit::chain_new_rows(&tx, Utc::now())?;
        tx.commit().map_err(map_err)
    }
}

/// Creates the empty database file with [`crate::fsx::FILE_MODE`] whatever the umask, so
/// SQLite (which gives `-wal` and `-shm` the database file's mode) finds it there.
fn create_store_file(path: &Path) -> std::io::Result<()> {
    crate::fsx::touch(path)
}

impl SqliteStore {
    /// Opens an existing, up-to-date store for reading only: nothing is created, migrated or
    /// written, so someone who may read the store but not write it or its folder (staff in the
    /// group) can run read commands, while the daemon runs or not.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(map_err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| match map_err(e) {
                StoreError::ReadOnly(m) => StoreError::ReadOnly(format!(
                    "{m} ({} cannot be read without write access to its folder until \
                     {0}-wal and {0}-shm exist: start the daemon once)",
                    path.display()
                )),
                other => other,
            })?;
        if version as usize != MIGRATIONS.len() {
            return Err(StoreError::Outdated(format!(
                "{} has schema version {version}, this clerk {}",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            open_items: OpenItems::default(),
        })
    }
}

impl Store for SqliteStore {
    fn unit(&mut self, work: &mut dyn FnMut(&mut dyn Unit) -> Result<()>) -> Result<()> {
        let SqliteStore {
            conn, open_items, ..
        } = self;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        // Another connection committed since the last unit: what is kept may be stale.
        let version: i64 = tx
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(map_err)?;
        if open_items.data_version != Some(version) {
            open_items.sides.clear();
            open_items.data_version = Some(version);
        }
        let mut unit = SqliteUnit::new(&tx);
        unit.open_items = Some(&open_items.sides);
        unit.keep_limit = open_items.limit;
        let done = work(&mut unit);
        let delta = std::mem::take(&mut unit.delta);
        drop(unit);
        // On failure `tx` rolls back as it drops; what is kept was never changed.
        done?;
        // Tamper evidence: the entries and break actions this unit wrote are chained in its
        // own transaction, so nothing commits unchained.
        audit::chain_new_rows(&tx, Utc::now())?;
        match tx.commit() {
            Ok(()) => {
                open_items.apply(delta);
                Ok(())
            }
            Err(e) => {
                open_items.sides.clear();
                Err(map_err(e))
            }
        }
    }

    fn read(&mut self, work: &mut dyn FnMut(&mut dyn Unit) -> Result<()>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(map_err)?;
        let mut unit = SqliteUnit::new(&tx);
        work(&mut unit)?;
        drop(unit);
        // Nothing was written; rolling back just ends the snapshot.
        tx.rollback().map_err(map_err)
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    fn damage(&mut self, depth: CheckDepth) -> Result<Vec<String>> {
        // At most this many findings: enough to say what is wrong, not a page per row.
        let pragma = match depth {
            CheckDepth::Quick => "PRAGMA quick_check(20)",
            CheckDepth::Thorough => "PRAGMA integrity_check(20)",
        };
        let found = self.conn.prepare(pragma).and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
        match found {
            Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(Vec::new()),
            Ok(lines) => Ok(lines),
            // So damaged that the check itself cannot read its way through.
            Err(e) => match map_err(e) {
                StoreError::Corrupt(why) => Ok(vec![why]),
                other => Err(other),
            },
        }
    }
}

struct SqliteUnit<'t, 'c> {
    tx: &'t Transaction<'c>,
    /// Identities of the file whose records are being added.
    seen: Option<SeenIdentities>,
    /// File id -> content hash, so a million records from one file share one `Arc<str>`.
    file_hashes: HashMap<i64, Arc<str>>,
    /// The open items kept from earlier units (a unit of work only, not a read).
    open_items: Option<&'t KeptSides>,
    /// Sides with more open items than this are not kept ([`OpenItems::limit`]).
    keep_limit: usize,
    delta: OpenItemsDelta,
}

impl<'t, 'c> SqliteUnit<'t, 'c> {
    fn new(tx: &'t Transaction<'c>) -> Self {
        SqliteUnit {
            tx,
            seen: None,
            file_hashes: HashMap::new(),
            open_items: None,
            keep_limit: 0,
            delta: OpenItemsDelta::default(),
        }
    }

    fn file_hash(&mut self, file_id: i64) -> Result<Arc<str>> {
        if let Some(h) = self.file_hashes.get(&file_id) {
            return Ok(h.clone());
        }
        let h: String = self
            .tx
            .prepare_cached("SELECT sha256 FROM files WHERE id = ?")
            .and_then(|mut s| s.query_row([file_id], |r| r.get(0)))
            .map_err(map_err)?;
        let h: Arc<str> = Arc::from(h);
        self.file_hashes.insert(file_id, h.clone());
        Ok(h)
    }

    fn history(
        &mut self,
        break_id: i64,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO break_history (break_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| s.execute(params![break_id, ts(at), actor, action, detail]))
            .map_err(map_err)?;
        Ok(())
    }
}

/// The actor of what the daemon does by itself.
const CLERK: &str = "clerk";

/// Prepared statements kept per connection: more than a unit of work uses.
const STATEMENTS_KEPT: usize = 128;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?} in store: {e}")))
}

/// The store writes dates as `YYYY-MM-DD`; read them back without chrono's general parser,
/// which costs more than the rest of loading an open item (thousands per run).
fn parse_date(s: &str) -> Result<NaiveDate> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10))
        && let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d)
    {
        return Ok(date);
    }
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("bad date {s:?} in store: {e}")))
}

fn parse_decimal(s: &str) -> Result<Decimal> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("bad amount {s:?} in store: {e}")))
}

fn parse_currency(s: &str) -> Result<Currency> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("bad currency in store: {e}")))
}

fn parse_enum<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(StoreError::Corrupt)
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    let msg = format!("{}: {e}", path.display());
    match e.raw_os_error() {
        Some(28) => StoreError::Full(msg),                // ENOSPC
        Some(30) | Some(13) => StoreError::ReadOnly(msg), // EROFS, EACCES
        _ => StoreError::Other(msg),
    }
}

/// Maps driver errors to the failure modes callers act on.
fn map_err(e: rusqlite::Error) -> StoreError {
    let msg = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy(msg),
        Some(ErrorCode::DiskFull) => StoreError::Full(msg),
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) => StoreError::ReadOnly(msg),
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt(msg)
        }
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(msg),
        _ => StoreError::Other(msg),
    }
}

fn to_u64(v: i64) -> u64 {
    v.max(0) as u64
}

#[cfg(test)]
mod date_tests {
    use super::parse_date;
    use chrono::NaiveDate;

    #[test]
    fn stored_dates_read_back_exactly_and_bad_ones_are_refused() {
        assert_eq!(
            parse_date("2026-02-28").unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(
            parse_date("0999-12-31").unwrap(),
            NaiveDate::from_ymd_opt(999, 12, 31).unwrap()
        );
        for bad in ["2026-02-30", "2026-13-01", "2026/01/01", "", "20260101xx"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod read_only_tests {
    use super::*;

    #[test]
    fn the_wal_files_stay_for_readers_and_a_read_only_store_reads_beside_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clerk.db");
        let wal = dir.path().join("clerk.db-wal");
        let shm = dir.path().join("clerk.db-shm");
        drop(SqliteStore::open(&path).unwrap());
        // Closed: the WAL files stay, for readers who could not create them; the WAL empty,
        // everything in the database file.
        assert!(wal.exists() && shm.exists());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);

        let writer = SqliteStore::open(&path).unwrap();
        let mut reader = SqliteStore::open_read_only(&path).unwrap();
        let totals = super::super::in_read(&mut reader, |u| u.totals()).unwrap();
        assert_eq!(totals.records, 0);
        // A read-only store refuses to write.
        let e = map_err(reader.conn.execute_batch("CREATE TABLE x (y)").unwrap_err());
        assert!(matches!(e, StoreError::ReadOnly(_)), "{e}");
        drop(writer.conn.execute_batch("PRAGMA user_version = 1"));
        drop(writer);
        drop(reader);
        // A store an older clerk left is for `clerk run` to migrate, not for a reader.
        let e = SqliteStore::open_read_only(&path).err().unwrap();
        assert!(matches!(e, StoreError::Outdated(_)), "{e}");
    }
}
