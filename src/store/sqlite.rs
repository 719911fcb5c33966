//! SQLite backend: one file, WAL journal, a transaction per unit of work.
//!
//! Why these settings: WAL lets `clerk status` read while the daemon writes; `synchronous=FULL`
//! makes a committed unit survive a power cut, not just a crash; `BEGIN IMMEDIATE` takes the
//! write lock up front, so two writers queue on `busy_timeout` instead of failing halfway.

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
use crate::model::{EntryLine, Source};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_initial.sql"),
    include_str!("migrations/sqlite/0002_documents.sql"),
    include_str!("migrations/sqlite/0003_break_workflow.sql"),
    include_str!("migrations/sqlite/0004_mailboxes.sql"),
    include_str!("migrations/sqlite/0005_stage_times.sql"),
    include_str!("migrations/sqlite/0006_match_explanations.sql"),
    include_str!("migrations/sqlite/0007_break_subjects.sql"),
    include_str!("migrations/sqlite/0008_payables.sql"),
    include_str!("migrations/sqlite/0009_outbox_lease.sql"),
    include_str!("migrations/sqlite/0010_lookup_indexes.sql"),
    include_str!("migrations/sqlite/0011_mail_tries.sql"),
    include_str!("migrations/sqlite/0012_record_versions_and_replaced_files.sql"),
    include_str!("migrations/sqlite/0013_break_grace.sql"),
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

/// The identities one file's records had so far, for [`Unit::add_records`]: by a keyed
/// 128-bit hash (17 bytes each in the set; six million records cost about 140 MB while the
/// set grows, not their strings), with counts only for the identities seen more than once.
struct SeenIdentities {
    scope: String,
    file_id: i64,
    keys: (std::hash::RandomState, std::hash::RandomState),
    once: HashSet<u128>,
    repeated: HashMap<u128, u32>,
}

impl SeenIdentities {
    fn new(scope: &str, file_id: i64) -> Self {
        SeenIdentities {
            scope: scope.to_owned(),
            file_id,
            keys: (std::hash::RandomState::new(), std::hash::RandomState::new()),
            once: HashSet::new(),
            repeated: HashMap::new(),
        }
    }

    /// How many times `identity` has now been seen, this time included.
    fn count(&mut self, identity: &str) -> u32 {
        use std::hash::BuildHasher as _;
        let key = (u128::from(self.keys.0.hash_one(identity)) << 64)
            | u128::from(self.keys.1.hash_one(identity));
        if self.once.insert(key) {
            return 1;
        }
        let n = self.repeated.entry(key).or_insert(1);
        *n += 1;
        *n
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

    /// Notes a record just inserted, for the open items kept between units: only for a side
    /// that is kept or was read in this unit, and only up to the limit (past it the side is
    /// given up: dropped at the commit, read from the database until then).
    fn keep_added(&mut self, scope: &str, r: &Record, file_hash: &Arc<str>) {
        let Some(kept) = self.open_items else {
            return;
        };
        let key = (scope.to_owned(), r.side);
        let tracked = kept.contains_key(&key) || self.delta.loaded.iter().any(|(k, _)| *k == key);
        if !tracked || self.delta.overflowed.contains(&key) {
            return;
        }
        let count = self.delta.added_per_side.entry(key.clone()).or_insert(0);
        *count += 1;
        if *count > self.keep_limit {
            self.delta
                .added
                .retain(|(s, a)| !(*s == key.0 && a.record.side == key.1));
            self.delta.loaded.retain(|(k, _)| *k != key);
            self.delta.overflowed.push(key);
            return;
        }
        let mut record = r.clone();
        record.source.file = file_hash.clone();
        self.delta.added.push((
            key.0,
            StoredRecord {
                id: self.tx.last_insert_rowid(),
                record,
            },
        ));
    }

    /// Records selected by a `WHERE` clause over `records`, in arrival order.
    fn select_records(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records_as(filter, args, true)
    }

    /// As `select_records`; `cached: false` for a statement made once (ids written into it),
    /// which would only push the reused ones out of the cache.
    fn select_records_as(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
        cached: bool,
    ) -> Result<Vec<StoredRecord>> {
        let rows: Vec<(i64, String, RawRecord)> = {
            let sql = format!(
                "SELECT id, file_id, sheet, row, external_id, account, value_date, booking_date,
                    amount, currency, reference, counterparty, remittance, locator, side
                 FROM records {filter} ORDER BY id"
            );
            let (mut kept, mut once);
            let stmt: &mut rusqlite::Statement<'_> = if cached {
                kept = self.tx.prepare_cached(&sql).map_err(map_err)?;
                &mut kept
            } else {
                once = self.tx.prepare(&sql).map_err(map_err)?;
                &mut once
            };
            stmt.query_map(args, |r| {
                Ok((
                    r.get(0)?,
                    r.get(14)?,
                    RawRecord {
                        file_id: r.get(1)?,
                        sheet: r.get(2)?,
                        row: r.get(3)?,
                        external_id: r.get(4)?,
                        account: r.get(5)?,
                        value_date: r.get(6)?,
                        booking_date: r.get(7)?,
                        amount: r.get(8)?,
                        currency: r.get(9)?,
                        reference: r.get(10)?,
                        counterparty: r.get(11)?,
                        remittance: r.get(12)?,
                        locator: r.get(13)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(map_err)?
        };
        let mut sheets: HashMap<String, Arc<str>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (id, side, raw) in rows {
            let side: Side = parse_enum(&side)?;
            let file = self.file_hash(raw.file_id)?;
            let sheet = raw.sheet.map(|s| {
                sheets
                    .entry(s)
                    .or_insert_with_key(|k| Arc::from(k.as_str()))
                    .clone()
            });
            out.push(StoredRecord {
                id,
                record: Record {
                    side,
                    external_id: raw.external_id,
                    account: raw.account,
                    value_date: parse_date(&raw.value_date)?,
                    booking_date: raw.booking_date.as_deref().map(parse_date).transpose()?,
                    amount: parse_decimal(&raw.amount)?,
                    currency: parse_currency(&raw.currency)?,
                    reference: raw.reference,
                    counterparty: raw.counterparty,
                    remittance: raw.remittance,
                    source: Source {
                        file,
                        sheet,
                        row: raw.row,
                        locator: raw.locator.map(Arc::from),
                    },
                },
            });
        }
        Ok(out)
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

// What changed since a reconciliation's mark, read without going over its open items: each
// walks an index from the mark on (a range of ids), never the records of a scope. The `+`
// keeps SQLite from choosing the (scope, side) index, which would visit every record of the
// book.
/// Prepared statements kept per connection: more than a unit of work uses.
const STATEMENTS_KEPT: usize = 128;

/// Ids looked up by one kept statement (`id IN (?, ... ?)`).
const BY_ID: usize = 32;

fn by_id_filter() -> String {
    format!(
        "WHERE id IN ({}) AND match_id IS NULL AND out_of_matching IS NULL",
        vec!["?"; BY_ID].join(",")
    )
}

/// Open records of a scope and side stored after an id: the partial index of open records.
const OPEN_AFTER: &str = "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND id > ?3
    AND out_of_matching IS NULL AND (?4 IS NULL OR account = ?4)";
/// Records of a reconciliation's sides matched after a match id: the index of matched
/// records.
const MATCHED_AFTER: &str = "WHERE id IN (SELECT id FROM records WHERE match_id > ?1)
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";
/// Open records of a reconciliation's sides with a break history line after an id: the
/// history's own ids.
const BREAK_HISTORY_AFTER: &str = "WHERE match_id IS NULL AND out_of_matching IS NULL
    AND id IN (SELECT b.record_id FROM break_history h JOIN breaks b ON b.id = h.break_id
               WHERE h.id > ?1 AND b.record_id IS NOT NULL)
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";

/// Records of a reconciliation's sides withdrawn for a version stored after a record id: the
/// index of replaced records.
const WITHDRAWN_AFTER: &str = "WHERE id IN (SELECT id FROM records WHERE replaced_by > ?1)
    AND out_of_matching = 'replaced'
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";

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

impl SqliteUnit<'_, '_> {
    /// Inserts one record as `version` of its identity; `false` when that version is stored
    /// already (the record is known).
    fn insert_record(
        &mut self,
        scope: &str,
        identity: &str,
        file_id: i64,
        r: &Record,
        version: i64,
        out_of_matching: Option<&str>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO records (scope, side, identity, file_id, sheet, row, external_id,
                    account, value_date, booking_date, amount, currency, reference, counterparty,
                    remittance, locator, version, out_of_matching)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (scope, side, identity, version) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    scope,
                    r.side.as_str(),
                    identity,
                    file_id,
                    r.source.sheet.as_deref(),
                    r.source.row,
                    r.external_id,
                    r.account,
                    r.value_date.to_string(),
                    r.booking_date.map(|d| d.to_string()),
                    r.amount.to_string(),
                    r.currency.as_str(),
                    r.reference,
                    r.counterparty,
                    r.remittance,
                    r.source.locator.as_deref(),
                    version,
                    out_of_matching,
                ])
            })
            .map_err(map_err)?;
        Ok(n == 1)
    }

    /// One record by id, as stored.
    fn stored_record(&mut self, id: i64) -> Result<StoredRecord> {
        self.select_records("WHERE id = ?1", params![id])?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt(format!("record {id} is gone")))
    }

    /// `r` arrived again under a stored identity: when its amount, currency, value date or
    /// reference differ from the latest version's, it is stored as the next version, and the
    /// latest version is withdrawn if it was open; `None` when nothing changed.
    fn new_version(
        &mut self,
        scope: &str,
        identity: &str,
        file_id: i64,
        r: &Record,
        file_hash: &Arc<str>,
    ) -> Result<Option<RecordChange>> {
        /// The latest version: id, version, match, why out of matching; and what is compared.
        type Latest = (i64, i64, Option<i64>, Option<String>, Compared);
        type Compared = (String, String, String, Option<String>);
        let latest: Option<Latest> = self
            .tx
            .prepare_cached(
                "SELECT id, version, match_id, out_of_matching,
                        amount, currency, value_date, reference FROM records
                 WHERE scope = ? AND side = ? AND identity = ? ORDER BY version DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![scope, r.side.as_str(), identity], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        (row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?),
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some((old_id, old_version, old_match, old_out, (amount, currency, date, reference))) =
            latest
        else {
            return Err(StoreError::Corrupt(format!(
                "record {identity} of {scope} is known but not stored"
            )));
        };
        // Most rows sent again are the same: compared as stored, without reading the record.
        if parse_decimal(&amount)? == r.amount
            && currency == r.currency.as_str()
            && parse_date(&date)? == r.value_date
            && reference == r.reference
        {
            return Ok(None);
        }
        let old = self.stored_record(old_id)?;
        let matched = match (old_match, old_out.as_deref()) {
            (Some(match_id), _) => Some(MatchedVersion {
                record: old.clone(),
                version: old_version,
                match_id,
            }),
            // Kept out of matching behind a matched version: that one still settles the item.
            (None, Some("changed_after_match")) => {
                let m: Option<(i64, i64, i64)> = self
                    .tx
                    .prepare_cached(
                        "SELECT id, version, match_id FROM records
                         WHERE scope = ? AND side = ? AND identity = ? AND match_id IS NOT NULL
                         ORDER BY version DESC LIMIT 1",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![scope, r.side.as_str(), identity], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })
                        .optional()
                    })
                    .map_err(map_err)?;
                let Some((id, version, match_id)) = m else {
                    return Err(StoreError::Corrupt(format!(
                        "record {old_id} waits behind a matched version that is not stored"
                    )));
                };
                Some(MatchedVersion {
                    record: self.stored_record(id)?,
                    version,
                    match_id,
                })
            }
            (None, _) => None,
        };
        let version = old_version + 1;
        let held = matched.is_some().then_some("changed_after_match");
        if !self.insert_record(scope, identity, file_id, r, version, held)? {
            return Err(StoreError::Conflict(format!(
                "version {version} of record {identity} of {scope} is stored already"
            )));
        }
        let new_id = self.tx.last_insert_rowid();
        if matched.is_none() {
            self.keep_added(scope, r, file_hash);
            self.delta.gone.push(old_id);
        }
        self.tx
            .prepare_cached(
                "UPDATE records SET replaced_by = ?1,
                    out_of_matching = CASE WHEN match_id IS NULL AND out_of_matching IS NULL
                                           THEN 'replaced' ELSE out_of_matching END
                 WHERE id = ?2",
            )
            .and_then(|mut s| s.execute(params![new_id, old_id]))
            .map_err(map_err)?;
        let mut record = r.clone();
        record.source.file = file_hash.clone();
        Ok(Some(RecordChange {
            old,
            old_version,
            new: StoredRecord { id: new_id, record },
            new_version: version,
            matched,
        }))
    }

    /// A resolved break back to open, its resolution kept in the history. Refused while what
    /// it is about is settled otherwise: its record matched since (the match is the answer),
    /// or another break about the same record or subject open (work that one).
    fn reopen_resolved(
        &mut self,
        id: i64,
        current: &Break,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(record) = current.record_id {
            let (matched, replaced_by): (Option<i64>, Option<i64>) = self
                .tx
                .query_row(
                    "SELECT match_id, CASE WHEN out_of_matching = 'replaced' THEN replaced_by END
                     FROM records WHERE id = ?",
                    [record],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?
                .unwrap_or_default();
            if let Some(m) = matched {
                return Err(StoreError::Conflict(format!(
                    "exception E-{id} cannot be reopened: its record {record} is matched (match {m}); \
                     the match is what settled it"
                )));
            }
            if let Some(next) = replaced_by {
                return Err(StoreError::Conflict(format!(
                    "exception {id} cannot be reopened: its record {record} was replaced by a \
                     later version of the item (record {next}), which is the one that reconciles"
                )));
            }
        }
        let other: Option<i64> = self
            .tx
            .query_row(
                "SELECT b.id FROM breaks b, breaks me WHERE me.id = ?1 AND b.id != me.id
                   AND b.status != 'resolved'
                   AND ((me.record_id IS NOT NULL AND b.record_id = me.record_id)
                     OR (me.subject IS NOT NULL AND b.job = me.job AND b.subject = me.subject))
                 LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        if let Some(other) = other {
            return Err(StoreError::Conflict(format!(
                "exception E-{id} cannot be reopened: exception E-{other} about the same item is open; work that one"
            )));
        }
        self.tx
            .execute(
                "UPDATE breaks SET status = 'open', closed_at = NULL, resolution = NULL WHERE id = ?",
                [id],
            )
            .map_err(map_err)?;
        let was = format!(
            "was resolved: {}",
            current.resolution.as_deref().unwrap_or("(no reason given)")
        );
        self.history(id, at, actor, "reopened", Some(&was))
    }
}

impl Unit for SqliteUnit<'_, '_> {
    fn processed_file(&mut self, job: &str, sha256: &str) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(
                "SELECT id FROM files WHERE job = ? AND sha256 = ? AND status = 'processed'",
            )
            .and_then(|mut s| s.query_row(params![job, sha256], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn add_file(&mut self, f: &NewFile<'_>) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO files (job, sha256, name, size, arrived_at, status, error, duplicate_of)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    f.job,
                    f.sha256,
                    f.name,
                    f.size as i64,
                    ts(f.arrived_at),
                    f.status.as_str(),
                    f.error,
                    f.duplicate_of
                ])
            })
            .map_err(map_err)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn start_run(
        &mut self,
        job: &str,
        trigger: Trigger,
        file_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO runs (job, trigger, file_id, started_at) VALUES (?, ?, ?, ?)",
            )
            .and_then(|mut s| s.execute(params![job, trigger.as_str(), file_id, ts(at)]))
            .map_err(map_err)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn finish_run(&mut self, run_id: i64, o: &RunOutcome) -> Result<()> {
        let finished = o.finished_at.unwrap_or_else(Utc::now);
        let started: String = self
            .tx
            .prepare_cached("SELECT started_at FROM runs WHERE id = ?")
            .and_then(|mut s| s.query_row([run_id], |r| r.get(0)))
            .map_err(map_err)?;
        let duration = (finished - parse_ts(&started)?).num_milliseconds().max(0);
        self.tx
            .prepare_cached(
                "UPDATE runs SET finished_at = ?, status = ?, format = ?, records_in = ?,
                    records_known = ?, matched = ?, entries_posted = ?, breaks_opened = ?,
                    breaks_closed = ?, duration_ms = ?, arrival_to_done_ms = ?, error = ?,
                    extract_ms = ?, match_ms = ?, records_changed = ?, records_withdrawn = ?
                 WHERE id = ?",
            )
            .and_then(|mut s| {
                s.execute(params![
                    ts(finished),
                    o.status.unwrap_or(RunStatus::Ok).as_str(),
                    o.format,
                    o.records_in as i64,
                    o.records_known as i64,
                    o.matched as i64,
                    o.entries_posted as i64,
                    o.breaks_opened as i64,
                    o.breaks_closed as i64,
                    duration,
                    o.arrival_to_done_ms.map(|v| v as i64),
                    o.error,
                    o.extract_ms.map(|v| v as i64),
                    o.match_ms.map(|v| v as i64),
                    o.records_changed as i64,
                    o.records_withdrawn as i64,
                    run_id
                ])
            })
            .map_err(map_err)?;
        Ok(())
    }

    fn last_file_outcome(
        &mut self,
        job: &str,
        sha256: &str,
        name: &str,
    ) -> Result<Option<(FileStatus, Option<String>)>> {
        let row: Option<(String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT status, error FROM files WHERE job = ? AND sha256 = ? AND name = ?
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![job, sha256, name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(map_err)?;
        row.map(|(status, error)| {
            let status = match status.as_str() {
                "processed" => FileStatus::Processed,
                "failed" => FileStatus::Failed,
                "duplicate" => FileStatus::Duplicate,
                other => return Err(StoreError::Corrupt(format!("file status {other:?}"))),
            };
            Ok((status, error))
        })
        .transpose()
    }

    fn file_name(&mut self, sha256: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT name FROM files WHERE sha256 = ? ORDER BY id LIMIT 1")
            .and_then(|mut s| s.query_row([sha256], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn replace_failed_files(
        &mut self,
        job: &str,
        name: &str,
        file_id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<ReplacedFiles> {
        // Most processed files replace nothing: one look through the failed files' index.
        let files = self
            .tx
            .prepare_cached(
                "UPDATE files SET replaced_by = ?1
                 WHERE job = ?2 AND name = ?3 AND status = 'failed' AND replaced_by IS NULL",
            )
            .and_then(|mut s| s.execute(params![file_id, job, name]))
            .map_err(map_err)? as u64;
        if files == 0 {
            return Ok(ReplacedFiles::default());
        }
        let open: Vec<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM breaks
                 WHERE job = ?1 AND source = ?2 AND status != 'resolved' AND record_id IS NULL
                   AND subject IS NULL AND reason IN ('unreadable', 'file_changed')
                 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![job, name], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .map_err(map_err)?;
        for &id in &open {
            self.tx
                .prepare_cached(
                    "UPDATE breaks SET status = 'resolved', closed_at = ?, closed_run_id = ?,
                        resolution = ? WHERE id = ?",
                )
                .and_then(|mut s| s.execute(params![ts(at), run_id, resolution, id]))
                .map_err(map_err)?;
            self.history(id, at, CLERK, "resolved", Some(resolution))?;
        }
        Ok(ReplacedFiles {
            files,
            breaks_closed: open.len() as u64,
        })
    }

    fn failed_files_named(&mut self, job: &str, name: &str) -> Result<Vec<(String, bool)>> {
        self.tx
            .prepare_cached(
                "SELECT sha256, replaced_by IS NOT NULL FROM files
                 WHERE job = ? AND name = ? AND status = 'failed' ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![job, name], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(map_err)
    }

    fn file_recorded_at(&mut self, sha256: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT MIN(r.started_at) FROM files f JOIN runs r ON r.file_id = f.id
                 WHERE f.sha256 = ? AND f.status = 'processed'",
            )
            .and_then(|mut s| s.query_row([sha256], |r| r.get(0)))
            .map_err(map_err)?;
        at.as_deref().map(parse_ts).transpose()
    }

    fn add_records(
        &mut self,
        scope: &str,
        file_id: i64,
        records: &[Record],
    ) -> Result<AddedRecords> {
        let mut added = AddedRecords::default();
        let file_hash = self.file_hash(file_id)?;
        // Two lines of one file with the same identity are two records (a bank that reuses a
        // reference): the second becomes `identity#2`, and so on. Across files the same
        // identity is the same record, sent again. A file's records may come in several
        // calls (a large file is stored in batches), so what was seen is kept for the file.
        if self
            .seen
            .as_ref()
            .is_none_or(|s| s.file_id != file_id || s.scope != scope)
        {
            self.seen = Some(SeenIdentities::new(scope, file_id));
        }
        for r in records {
            let mut identity = r.identity();
            let n = self.seen.as_mut().map_or(1, |seen| seen.count(&identity));
            if n > 1 {
                identity = format!("{identity}#{n}");
            }
            if self.insert_record(scope, &identity, file_id, r, 1, None)? {
                added.inserted += 1;
                self.keep_added(scope, r, &file_hash);
                continue;
            }
            // A statement line's identity holds its amount and date: one sent again is the
            // same line. A ledger item's is its id alone: its content may have been corrected.
            let change = match r.side {
                Side::Ledger => self.new_version(scope, &identity, file_id, r, &file_hash)?,
                Side::Statement => None,
            };
            match change {
                Some(c) => added.changed.push(c),
                None => added.known += 1,
            }
        }
        Ok(added)
    }

    fn open_records(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
    ) -> Result<Vec<StoredRecord>> {
        let key = (scope.to_owned(), side);
        // A read (not a unit of work), or a side given up in this unit: the database.
        let kept = match self.open_items {
            Some(kept) if !self.delta.overflowed.contains(&key) => kept,
            _ => {
                return self.select_records(
                    "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND out_of_matching IS NULL
                        AND (?3 IS NULL OR account = ?3)",
                    params![scope, side.as_str(), account],
                );
            }
        };
        let wanted =
            |r: &StoredRecord| account.is_none_or(|a| r.record.account.as_deref() == Some(a));
        // Read from the database earlier in this unit, else as last committed; then what this
        // unit has changed since.
        let base: Option<BTreeMap<i64, &StoredRecord>> =
            match self.delta.loaded.iter().find(|(k, _)| *k == key) {
                Some((_, loaded)) => Some(loaded.iter().map(|r| (r.id, r)).collect()),
                None => kept
                    .get(&key)
                    .map(|committed| committed.iter().map(|(&id, r)| (id, r)).collect()),
            };
        if let Some(mut out) = base {
            for (s, r) in &self.delta.added {
                if s == scope && r.record.side == side {
                    out.insert(r.id, r);
                }
            }
            for id in &self.delta.gone {
                out.remove(id);
            }
            return Ok(out.into_values().filter(|r| wanted(r)).cloned().collect());
        }
        let all = self.select_records(
            "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND out_of_matching IS NULL",
            params![scope, side.as_str()],
        )?;
        if all.len() > self.keep_limit {
            // Too many to keep: read from the database each time, as this unit sees it.
            return Ok(all.into_iter().filter(|r| wanted(r)).collect());
        }
        let out = all.iter().filter(|r| wanted(r)).cloned().collect();
        // As this unit sees it (its own inserts in, its own matches out): applied after the
        // commit together with what the unit does next.
        self.delta.loaded.push((key, all));
        Ok(out)
    }

    fn open_records_after(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
        after: i64,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(OPEN_AFTER, params![scope, side.as_str(), after, account])
    }

    fn open_records_by_id(&mut self, ids: &[i64]) -> Result<Vec<StoredRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        // A run by key reads a handful of records: one statement kept for up to 32 ids (the
        // list filled up with the first); a few hundred at a time, written into the SQL (they
        // are integers), when there are many.
        if ids.len() <= BY_ID {
            let mut args = [0i64; BY_ID];
            for chunk in ids.chunks(BY_ID) {
                for (k, a) in args.iter_mut().enumerate() {
                    *a = chunk.get(k).copied().unwrap_or(chunk[0]);
                }
                out.extend(
                    self.select_records(&by_id_filter(), rusqlite::params_from_iter(args.iter()))?,
                );
            }
        } else {
            for chunk in ids.chunks(500) {
                let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
                let filter = format!(
                    "WHERE id IN ({}) AND match_id IS NULL AND out_of_matching IS NULL",
                    list.join(",")
                );
                out.extend(self.select_records_as(&filter, [], false)?);
            }
        }
        out.sort_unstable_by_key(|r| r.id);
        Ok(out)
    }

    fn records_matched_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            MATCHED_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn records_with_break_history_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            BREAK_HISTORY_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn records_withdrawn_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            WITHDRAWN_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn records_with_open_breaks_among(
        &mut self,
        job: &str,
        ids: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let placeholders = vec!["?"; BY_ID].join(",");
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT record_id FROM breaks
                 WHERE record_id IN ({placeholders}) AND status != 'resolved' AND job = ?"
            ))
            .map_err(map_err)?;
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(BY_ID) {
            let mut args: Vec<rusqlite::types::Value> = (0..BY_ID)
                .map(|k| chunk.get(k).copied().unwrap_or(chunk[0]).into())
                .collect();
            args.push(job.to_owned().into());
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(map_err)?;
            for id in rows {
                out.insert(id.map_err(map_err)?);
            }
        }
        Ok(out)
    }

    fn high_water(&mut self) -> Result<HighWater> {
        self.tx
            .prepare_cached(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM records),
                        (SELECT COALESCE(MAX(id), 0) FROM matches),
                        (SELECT COALESCE(MAX(id), 0) FROM break_history),
                        (SELECT identity FROM records ORDER BY id DESC LIMIT 1)",
            )
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(HighWater {
                        records: r.get(0)?,
                        matches: r.get(1)?,
                        history: r.get(2)?,
                        last_identity: r.get(3)?,
                    })
                })
            })
            .map_err(map_err)
    }

    fn record_identity(&mut self, id: i64) -> Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT identity FROM records WHERE id = ?")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn latest_value_date(&mut self, scope: &str, side: Side) -> Result<Option<NaiveDate>> {
        let d: Option<String> = self
            .tx
            .prepare_cached("SELECT MAX(value_date) FROM records WHERE scope = ? AND side = ?")
            .and_then(|mut s| s.query_row(params![scope, side.as_str()], |r| r.get(0)))
            .map_err(map_err)?;
        d.as_deref().map(parse_date).transpose()
    }

    fn statement_seen(&mut self, identity: &str) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM statements WHERE identity = ? LIMIT 1")
            .and_then(|mut s| s.exists([identity]))
            .map_err(map_err)
    }

    fn previous_statement(
        &mut self,
        account: &str,
        currency: &str,
        on_or_before: NaiveDate,
    ) -> Result<Option<StoredStatement>> {
        let row: Option<(Option<String>, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT number, closing_amount, closing_date FROM statements
                 WHERE account = ? AND currency = ? AND kind = 'end_of_day'
                   AND closing_amount IS NOT NULL AND closing_date <= ?
                 ORDER BY closing_date DESC, id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![account, currency, on_or_before.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(map_err)?;
        row.map(|(number, amount, date)| {
            Ok(StoredStatement {
                number,
                closing_amount: parse_decimal(&amount)?,
                closing_date: parse_date(&date)?,
            })
        })
        .transpose()
    }

    fn add_statement(&mut self, n: &NewStatement<'_>) -> Result<i64> {
        let s = n.statement;
        let kind = match s.kind {
            crate::model::statement::StatementKind::EndOfDay => "end_of_day",
            crate::model::statement::StatementKind::Intraday => "intraday",
            crate::model::statement::StatementKind::Notification => "notification",
        };
        self.tx
            .prepare_cached(
                "INSERT INTO statements (job, file_id, identity, format, kind, account, currency,
                    number, statement_id, opening_amount, opening_date, closing_amount,
                    closing_date, entries, row, locator)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    n.job,
                    n.file_id,
                    n.identity,
                    n.format,
                    kind,
                    s.account,
                    s.currency.map(|c| c.as_str().to_string()),
                    s.number,
                    s.statement_id,
                    s.opening.as_ref().map(|b| b.amount.to_string()),
                    s.opening.as_ref().map(|b| b.date.to_string()),
                    s.closing.as_ref().map(|b| b.amount.to_string()),
                    s.closing.as_ref().map(|b| b.date.to_string()),
                    s.entries.len() as i64,
                    s.source.row,
                    s.source.locator.as_deref(),
                ])
            })
            .map_err(map_err)?;
        Ok(self.tx.last_insert_rowid())
    }

    fn add_documents(
        &mut self,
        scope: &str,
        file_id: i64,
        docs: &[NewDocument],
    ) -> Result<AddedRecords> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO documents (scope, kind, identity, file_id, account, key, as_of, body)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (scope, kind, identity) DO NOTHING",
            )
            .map_err(map_err)?;
        let mut added = AddedRecords::default();
        for d in docs {
            let n = stmt
                .execute(params![
                    scope,
                    d.kind.as_str(),
                    d.identity,
                    file_id,
                    d.account,
                    d.key,
                    d.as_of.map(|x| x.to_string()),
                    d.body
                ])
                .map_err(map_err)?;
            if n == 1 {
                added.inserted += 1;
            } else {
                added.known += 1;
            }
        }
        Ok(added)
    }

    fn documents(&mut self, scope: &str, kind: DocumentKind) -> Result<Vec<NewDocument>> {
        // identity, account, key, as_of, body
        type DocumentRow = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<DocumentRow> = self
            .tx
            .prepare_cached(
                "SELECT identity, account, key, as_of, body FROM documents
                 WHERE scope = ? AND kind = ? ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![scope, kind.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(identity, account, key, as_of, body)| {
                Ok(NewDocument {
                    kind,
                    identity,
                    account,
                    key,
                    as_of: as_of.as_deref().map(parse_date).transpose()?,
                    body,
                })
            })
            .collect()
    }

    fn mail_cursor(&mut self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        self.tx
            .prepare_cached("SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = ?")
            .and_then(|mut s| {
                s.query_row([mailbox], |r| {
                    Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u32))
                })
                .optional()
            })
            .map_err(map_err)
    }

    fn set_mail_cursor(&mut self, mailbox: &str, uidvalidity: u32, last_uid: u32) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mailbox) DO UPDATE SET
                    last_uid = CASE WHEN uidvalidity = ?2 THEN MAX(last_uid, ?3) ELSE ?3 END,
                    uidvalidity = ?2",
                params![mailbox, uidvalidity as i64, last_uid as i64],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_message_outcome(&mut self, mailbox: &str, key: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached(
                "SELECT outcome FROM mail_messages WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.query_row([mailbox, key], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn mail_processed_with(&mut self, message_id: &str, sha256s: &[String]) -> Result<bool> {
        let keys: Vec<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT mailbox, message_key FROM mail_messages
                 WHERE message_id = ? AND outcome = 'processed'",
            )
            .and_then(|mut s| {
                s.query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(map_err)?;
        let mut wanted = sha256s.to_vec();
        wanted.sort();
        for (mailbox, key) in keys {
            let had: Vec<String> = self
                .tx
                .prepare_cached(
                    "SELECT sha256 FROM mail_attachments WHERE mailbox = ? AND message_key = ?
                     ORDER BY sha256",
                )
                .and_then(|mut s| {
                    s.query_map([&mailbox, &key], |r| r.get(0))?
                        .collect::<std::result::Result<Vec<_>, _>>()
                })
                .map_err(map_err)?;
            if had == wanted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn add_mail_message(&mut self, m: &NewMailMessage<'_>) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO mail_messages (mailbox, message_key, message_id, sender, subject,
                    sent_at, handled_at, outcome, attachments, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (mailbox, message_key) DO UPDATE SET
                    message_id = excluded.message_id, sender = excluded.sender,
                    subject = excluded.subject, sent_at = excluded.sent_at,
                    handled_at = excluded.handled_at, outcome = excluded.outcome,
                    attachments = excluded.attachments, detail = excluded.detail
                 WHERE mail_messages.outcome = 'refused'",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.mailbox,
                    m.key,
                    m.message_id,
                    m.sender,
                    m.subject,
                    m.sent_at.map(ts),
                    ts(m.at),
                    m.outcome,
                    m.attachments as i64,
                    m.detail
                ])
            })
            .map_err(map_err)?;
        self.tx
            .prepare_cached("DELETE FROM mail_tries WHERE mailbox = ? AND message_key = ?")
            .and_then(|mut s| s.execute([m.mailbox, m.key]))
            .map_err(map_err)?;
        Ok(n == 1)
    }

    fn add_mail_try(&mut self, mailbox: &str, key: &str) -> Result<u32> {
        self.tx
            .prepare_cached(
                "INSERT INTO mail_tries (mailbox, message_key, tries) VALUES (?, ?, 1)
                 ON CONFLICT (mailbox, message_key) DO UPDATE SET tries = tries + 1
                 RETURNING tries",
            )
            .and_then(|mut s| s.query_row([mailbox, key], |r| r.get::<_, i64>(0)))
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            .map_err(map_err)
    }

    fn take_back_mail_try(&mut self, mailbox: &str, key: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE mail_tries SET tries = MAX(tries - 1, 0)
                 WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.execute([mailbox, key]))
            .map_err(map_err)?;
        Ok(())
    }

    fn note_mail_try_error(&mut self, mailbox: &str, key: &str, error: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE mail_tries SET last_error = ? WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| s.execute([error, mailbox, key]))
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_tries(&mut self, mailbox: &str, key: &str) -> Result<(u32, Option<String>)> {
        self.tx
            .prepare_cached(
                "SELECT tries, last_error FROM mail_tries WHERE mailbox = ? AND message_key = ?",
            )
            .and_then(|mut s| {
                s.query_row([mailbox, key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                        r.get(1)?,
                    ))
                })
                .optional()
            })
            .map(|found| found.unwrap_or((0, None)))
            .map_err(map_err)
    }

    fn mail_attachment_done(&mut self, mailbox: &str, key: &str, part: u32) -> Result<bool> {
        self.tx
            .prepare_cached(
                "SELECT 1 FROM mail_attachments WHERE mailbox = ? AND message_key = ? AND part = ?",
            )
            .and_then(|mut s| s.exists(params![mailbox, key, part as i64]))
            .map_err(map_err)
    }

    fn add_mail_attachment(
        &mut self,
        origin: &MailOrigin,
        sha256: &str,
        job: &str,
        file_id: Option<i64>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO mail_attachments (mailbox, message_key, part, name, sha256, job, file_id)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (mailbox, message_key, part) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    origin.mailbox,
                    origin.key,
                    origin.part as i64,
                    origin.name,
                    sha256,
                    job,
                    file_id
                ])
            })
            .map_err(map_err)?;
        Ok(())
    }

    fn post_match(&mut self, m: &NewMatch<'_>) -> Result<Posted> {
        let already: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM entries WHERE idempotency_key = ?")
            .and_then(|mut s| {
                s.query_row([&m.entry.idempotency_key], |r| r.get(0))
                    .optional()
            })
            .map_err(map_err)?;
        if already.is_some() {
            return Ok(Posted::AlreadyPosted);
        }
        crate::post::check_balanced(&m.entry.lines)
            .map_err(|e| StoreError::Conflict(format!("entry refused: {e}")))?;
        self.tx
            .prepare_cached(
                "INSERT INTO matches (job, run_id, pass, created_at, explanation, actor, reason)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.job,
                    m.run_id,
                    m.pass.as_str(),
                    ts(m.at),
                    m.explanation,
                    m.actor,
                    m.reason
                ])
            })
            .map_err(map_err)?;
        let match_id = self.tx.last_insert_rowid();
        {
            let mut mark = self
                .tx
                .prepare_cached(
                    "UPDATE records SET match_id = ? WHERE id = ? AND match_id IS NULL
                        AND out_of_matching IS NOT 'replaced'",
                )
                .map_err(map_err)?;
            for &id in m.record_ids {
                if mark.execute(params![match_id, id]).map_err(map_err)? != 1 {
                    return Err(StoreError::Conflict(format!(
                        "record {id} is already matched or was replaced by a later version; \
                         a record is never used twice"
                    )));
                }
                self.delta.gone.push(id);
            }
        }
        self.tx
            .prepare_cached(
                "INSERT INTO entries (idempotency_key, job, run_id, match_id, posting_date,
                    narrative, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.entry.idempotency_key,
                    m.job,
                    m.run_id,
                    match_id,
                    m.entry.posting_date.to_string(),
                    m.entry.narrative,
                    ts(m.at)
                ])
            })
            .map_err(map_err)?;
        let entry_id = self.tx.last_insert_rowid();
        let mut line = self
            .tx
            .prepare_cached(
                "INSERT INTO entry_lines (entry_id, line_no, account, currency, amount)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .map_err(map_err)?;
        for (i, l) in m.entry.lines.iter().enumerate() {
            line.execute(params![
                entry_id,
                i as i64,
                l.account,
                l.currency.as_str(),
                l.amount.to_string()
            ])
            .map_err(map_err)?;
        }
        Ok(Posted::Posted { match_id, entry_id })
    }

    fn open_break(&mut self, b: &NewBreak<'_>) -> Result<Option<i64>> {
        let n = self
            .tx
            .prepare_cached(
                // No conflict target: a record, or a subject, has at most one unresolved
                // break, and either index turns a second one into nothing.
                "INSERT INTO breaks (job, reason, status, detail, amount, currency, difference,
                    since, owner, record_id, source, opened_run_id, opened_at, subject)
                 VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    b.job,
                    b.reason.as_str(),
                    b.detail,
                    b.amount.map(|a| a.to_string()),
                    b.currency.map(|c| c.as_str().to_string()),
                    b.difference.map(|d| d.to_string()),
                    b.since.to_string(),
                    b.owner,
                    b.record_id,
                    b.source,
                    b.run_id,
                    ts(b.at),
                    b.subject
                ])
            })
            .map_err(map_err)?;
        if n != 1 {
            return Ok(None);
        }
        let id = self.tx.last_insert_rowid();
        self.history(id, b.at, CLERK, "opened", Some(b.detail))?;
        Ok(Some(id))
    }

    fn records_with_open_breaks(&mut self, job: &str) -> Result<std::collections::HashSet<i64>> {
        self.tx
            .prepare_cached(
                "SELECT record_id FROM breaks
                 WHERE job = ? AND status != 'resolved' AND record_id IS NOT NULL",
            )
            .and_then(|mut s| s.query_map([job], |r| r.get(0))?.collect())
            .map_err(map_err)
    }

    fn close_breaks_of_records(
        &mut self,
        record_ids: &[i64],
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let mut closed = 0;
        for id in record_ids {
            let open: Option<i64> = self
                .tx
                .prepare_cached(
                    "SELECT id FROM breaks WHERE record_id = ? AND status != 'resolved'",
                )
                .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
                .map_err(map_err)?;
            if let Some(break_id) = open {
                self.tx
                    .prepare_cached(
                        "UPDATE breaks SET status = 'resolved', closed_at = ?, closed_run_id = ?,
                            resolution = ? WHERE id = ?",
                    )
                    .and_then(|mut s| s.execute(params![ts(at), run_id, resolution, break_id]))
                    .map_err(map_err)?;
                self.history(break_id, at, CLERK, "resolved", Some(resolution))?;
                closed += 1;
            }
        }
        Ok(closed)
    }

    fn open_subjects(&mut self, job: &str) -> Result<Vec<(i64, String)>> {
        self.tx
            .prepare_cached(
                "SELECT id, subject FROM breaks
                 WHERE job = ? AND subject IS NOT NULL AND status != 'resolved' ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(map_err)
    }

    fn break_about(&mut self, job: &str, subject: &str) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM breaks WHERE job = ? AND subject = ? LIMIT 1")
            .and_then(|mut s| s.exists(params![job, subject]))
            .map_err(map_err)
    }

    fn update_break(
        &mut self,
        id: i64,
        reason: BreakReason,
        detail: &str,
        difference: Option<Decimal>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE breaks SET reason = ?, detail = ?, difference = ?
                 WHERE id = ? AND status != 'resolved'
                   AND (reason != ? OR detail != ? OR difference IS NOT ?)",
            )
            .and_then(|mut s| {
                let diff = difference.map(|d| d.to_string());
                s.execute(params![
                    reason.as_str(),
                    detail,
                    diff,
                    id,
                    reason.as_str(),
                    detail,
                    diff
                ])
            })
            .map_err(map_err)?;
        if n == 1 {
            self.history(id, at, CLERK, "updated", Some(detail))?;
        }
        Ok(n == 1)
    }

    fn close_break(
        &mut self,
        id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE breaks SET status = 'resolved', closed_at = ?, closed_run_id = ?,
                    resolution = ? WHERE id = ? AND status != 'resolved'",
            )
            .and_then(|mut s| s.execute(params![ts(at), run_id, resolution, id]))
            .map_err(map_err)?;
        if n == 1 {
            self.history(id, at, CLERK, "resolved", Some(resolution))?;
        }
        Ok(n == 1)
    }

    fn breaks(&mut self, f: &BreakFilter<'_>) -> Result<Vec<Break>> {
        let status = match f.status {
            StatusFilter::Unresolved => Some("unresolved"),
            StatusFilter::Is(s) => Some(s.as_str()),
            StatusFilter::Any => None,
        };
        let limit = f.limit.map(|l| l as i64).unwrap_or(-1);
        let ids: Vec<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM breaks
                 WHERE (?1 IS NULL OR job = ?1)
                   AND (?2 IS NULL OR (?2 = 'unresolved' AND status != 'resolved') OR status = ?2)
                   AND (?3 IS NULL OR reason = ?3)
                   AND (?4 IS NULL OR owner = ?4)
                 ORDER BY since, id
                 LIMIT ?5",
            )
            .and_then(|mut s| {
                s.query_map(
                    params![f.job, status, f.reason.map(|r| r.as_str()), f.owner, limit],
                    |r| r.get(0),
                )?
                .collect()
            })
            .map_err(map_err)?;
        ids.into_iter()
            .map(|id| {
                self.break_by_id(id)?
                    .ok_or_else(|| StoreError::Other(format!("break {id} vanished")))
            })
            .collect()
    }

    fn break_by_id(&mut self, id: i64) -> Result<Option<Break>> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            [Option<String>; 3],
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = self
            .tx
            .prepare_cached(
                "SELECT id, job, reason, status, detail, amount, currency, difference, since,
                    owner, opened_at, closed_at, resolution, record_id, source
                 FROM breaks WHERE id = ?",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        [r.get(5)?, r.get(6)?, r.get(7)?],
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                        r.get(12)?,
                        r.get(13)?,
                        r.get(14)?,
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        row.map(
            |(
                id,
                job,
                reason,
                status,
                detail,
                [amount, currency, difference],
                since,
                owner,
                opened,
                closed,
                resolution,
                record_id,
                source,
            )| {
                Ok(Break {
                    id,
                    job,
                    reason: parse_enum(&reason)?,
                    status: parse_enum(&status)?,
                    detail,
                    amount: amount.as_deref().map(parse_decimal).transpose()?,
                    currency: currency.as_deref().map(parse_currency).transpose()?,
                    difference: difference.as_deref().map(parse_decimal).transpose()?,
                    since: parse_date(&since)?,
                    owner,
                    opened_at: parse_ts(&opened)?,
                    closed_at: closed.as_deref().map(parse_ts).transpose()?,
                    resolution,
                    record_id,
                    source,
                })
            },
        )
        .transpose()
    }

    fn break_history(&mut self, id: i64) -> Result<Vec<BreakEvent>> {
        let rows: Vec<(String, String, String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT at, actor, action, detail FROM break_history WHERE break_id = ?
                 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(at, actor, action, detail)| {
                Ok(BreakEvent {
                    at: parse_ts(&at)?,
                    actor,
                    action,
                    detail,
                })
            })
            .collect()
    }

    fn work_break(
        &mut self,
        id: i64,
        action: &BreakAction<'_>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let current = self
            .break_by_id(id)?
            .ok_or_else(|| StoreError::Conflict(format!("there is no exception E-{id}")))?;
        if current.status == BreakStatus::Resolved {
            match action {
                BreakAction::Note(_) => {}
                BreakAction::Reopen => return self.reopen_resolved(id, &current, actor, at),
                _ => {
                    return Err(StoreError::Conflict(format!(
                        "exception E-{id} is resolved ({}); reopen it first, or add a note",
                        current.resolution.as_deref().unwrap_or("")
                    )));
                }
            }
        }
        let (name, detail) = match action {
            BreakAction::Assign(owner) => {
                self.tx
                    .execute(
                        "UPDATE breaks SET owner = ? WHERE id = ?",
                        params![owner, id],
                    )
                    .map_err(map_err)?;
                ("assigned", Some(format!("to {owner}")))
            }
            BreakAction::Note(text) => ("note", Some(text.to_string())),
            BreakAction::Investigate | BreakAction::Reopen => {
                let (status, name) = if matches!(action, BreakAction::Investigate) {
                    ("investigating", "investigating")
                } else {
                    ("open", "reopened")
                };
                self.tx
                    .execute(
                        "UPDATE breaks SET status = ? WHERE id = ?",
                        params![status, id],
                    )
                    .map_err(map_err)?;
                (name, None)
            }
        };
        self.history(id, at, actor, name, detail.as_deref())
    }

    fn resolve_break(
        &mut self,
        id: i64,
        resolution: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let current = self
            .break_by_id(id)?
            .ok_or_else(|| StoreError::Conflict(format!("there is no exception E-{id}")))?;
        if current.status == BreakStatus::Resolved {
            return Err(StoreError::Conflict(format!(
                "exception E-{id} is already resolved"
            )));
        }
        self.tx
            .execute(
                "UPDATE breaks SET status = 'resolved', closed_at = ?, resolution = ? WHERE id = ?",
                params![ts(at), resolution, id],
            )
            .map_err(map_err)?;
        self.history(id, at, actor, "resolved", Some(resolution))
    }

    fn record_by_id(&mut self, id: i64) -> Result<Option<(String, StoredRecord, bool)>> {
        let row: Option<(String, String, Option<i64>)> = self
            .tx
            .prepare_cached("SELECT scope, side, match_id FROM records WHERE id = ?")
            .and_then(|mut s| {
                s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(map_err)?;
        let Some((scope, side, match_id)) = row else {
            return Ok(None);
        };
        let _: Side = parse_enum(&side)?;
        let rows = self.select_records("WHERE id = ?1", params![id])?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| (scope, r, match_id.is_some())))
    }

    fn match_of_record(&mut self, record_id: i64) -> Result<Option<i64>> {
        let m: Option<Option<i64>> = self
            .tx
            .prepare_cached("SELECT match_id FROM records WHERE id = ?")
            .and_then(|mut s| s.query_row([record_id], |r| r.get(0)).optional())
            .map_err(map_err)?;
        Ok(m.flatten())
    }

    fn match_by_id(&mut self, id: i64) -> Result<Option<MatchRow>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, job, run_id, pass, created_at, explanation, actor, reason
                 FROM matches WHERE id = ?",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok(MatchRow {
                        id: r.get(0)?,
                        job: r.get(1)?,
                        run_id: r.get(2)?,
                        pass: r.get(3)?,
                        created_at: r.get(4)?,
                        explanation: r.get(5)?,
                        actor: r.get(6)?,
                        reason: r.get(7)?,
                        record_ids: Vec::new(),
                    })
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        row.record_ids = self
            .tx
            .prepare_cached("SELECT id FROM records WHERE match_id = ? ORDER BY id")
            .and_then(|mut s| {
                s.query_map([id], |r| r.get(0))?
                    .collect::<std::result::Result<Vec<i64>, _>>()
            })
            .map_err(map_err)?;
        Ok(Some(row))
    }

    fn enqueue_mail(&mut self, m: &NewMail<'_>) -> Result<bool> {
        let recipients = serde_json::to_string(m.recipients)
            .map_err(|e| StoreError::Other(format!("recipients: {e}")))?;
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO outbox (message_id, purpose, sender, recipients, subject, raw,
                    created_at, next_attempt_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.message_id,
                    m.purpose,
                    m.from,
                    recipients,
                    m.subject,
                    m.raw,
                    ts(m.at),
                    ts(m.at)
                ])
            })
            .map_err(map_err)?;
        Ok(n == 1)
    }

    fn lease_mail(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT id, message_id, purpose, sender, recipients, subject, raw, attempts
                 FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?
                 ORDER BY next_attempt_at, id LIMIT ?",
            )
            .map_err(map_err)?;
        // id, message_id, purpose, sender, recipients (JSON), subject, raw, attempts
        type OutboxRow = (i64, String, String, String, String, String, Vec<u8>, i64);
        let rows: Vec<OutboxRow> = stmt
            .query_map(params![ts(now), limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(map_err)?;
        let mut lease = self
            .tx
            .prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?1, leased_until = ?1 WHERE id = ?2",
            )
            .map_err(map_err)?;
        for row in &rows {
            lease
                .execute(params![ts(lease_until), row.0])
                .map_err(map_err)?;
        }
        rows.into_iter()
            .map(
                |(id, message_id, purpose, from, recipients, subject, raw, attempts)| {
                    Ok(QueuedMail {
                        id,
                        message_id,
                        purpose,
                        from,
                        recipients: serde_json::from_str(&recipients)
                            .map_err(|e| StoreError::Corrupt(format!("outbox recipients: {e}")))?,
                        subject,
                        raw,
                        attempts: attempts.max(0) as u32,
                    })
                },
            )
            .collect()
    }

    fn mail_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL,
                    leased_until = NULL
                 WHERE id = ? AND sent_at IS NULL",
                params![ts(at), id],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn mail_failed(&mut self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
                    leased_until = NULL
                 WHERE id = ?",
                params![error, ts(retry_at), id],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn release_mail_leases(&mut self, now: DateTime<Utc>) -> Result<usize> {
        self.tx
            .execute(
                "UPDATE outbox SET next_attempt_at = ?1, leased_until = NULL
                 WHERE sent_at IS NULL AND leased_until IS NOT NULL",
                params![ts(now)],
            )
            .map_err(map_err)
    }

    fn next_mail_due(&mut self) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = self
            .tx
            .query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        t.as_deref().map(parse_ts).transpose()
    }

    fn last_fired(&mut self, job: &str) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = self
            .tx
            .query_row(
                "SELECT last_fired FROM schedule_state WHERE job = ?",
                [job],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        t.as_deref().map(parse_ts).transpose()
    }

    fn set_last_fired(&mut self, job: &str, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO schedule_state (job, last_fired) VALUES (?1, ?2)
                 ON CONFLICT (job) DO UPDATE SET last_fired = ?2",
                params![job, ts(at)],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn activity_since(
        &mut self,
        since: DateTime<Utc>,
        counting: &BreakCounting,
    ) -> Result<Vec<JobActivity>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT r.job,
                    COUNT(*),
                    SUM(r.status = 'failed'),
                    SUM(f.status = 'processed'),
                    SUM(f.status = 'failed'),
                    SUM(f.status = 'duplicate'),
                    SUM(r.records_in), SUM(r.matched), SUM(r.entries_posted),
                    SUM(r.breaks_opened), SUM(r.breaks_closed),
                    SUM(COALESCE(r.duration_ms, 0)),
                    MAX(r.started_at),
                    SUM(COALESCE(r.extract_ms, 0)),
                    SUM(COALESCE(r.match_ms, 0)),
                    CAST(AVG(r.arrival_to_done_ms) AS INTEGER),
                    MAX(r.arrival_to_done_ms),
                    SUM(r.records_changed), SUM(r.records_withdrawn)
                 FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 WHERE r.started_at >= ?
                 GROUP BY r.job ORDER BY r.job",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map([ts(since)], |r| {
                let n = |i: usize| -> rusqlite::Result<u64> {
                    Ok(to_u64(r.get::<_, Option<i64>>(i)?.unwrap_or(0)))
                };
                Ok((
                    JobActivity {
                        job: r.get(0)?,
                        runs: n(1)?,
                        runs_failed: n(2)?,
                        files_processed: n(3)?,
                        files_failed: n(4)?,
                        files_duplicate: n(5)?,
                        records: n(6)?,
                        matched: n(7)?,
                        entries_posted: n(8)?,
                        breaks_opened: n(9)?,
                        breaks_closed: n(10)?,
                        processing_ms: n(11)?,
                        last_run_at: None,
                        extract_ms: n(13)?,
                        match_ms: n(14)?,
                        arrival_to_done_avg_ms: r.get::<_, Option<i64>>(15)?.map(to_u64),
                        arrival_to_done_max_ms: r.get::<_, Option<i64>>(16)?.map(to_u64),
                        matched_by_pass: Default::default(),
                        records_changed: n(17)?,
                        records_withdrawn: n(18)?,
                    },
                    r.get::<_, Option<String>>(12)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(map_err)?;
        // Records matched by each pass without a human (a three-way match pairs documents,
        // not records: it counts its matches).
        let by_pass: Vec<(String, String, i64, i64)> = self
            .tx
            .prepare_cached(
                "SELECT m.job, m.pass, COUNT(DISTINCT m.id), COUNT(r.id)
                 FROM matches m LEFT JOIN records r ON r.match_id = m.id
                 WHERE m.created_at >= ? AND m.actor IS NULL
                 GROUP BY m.job, m.pass",
            )
            .and_then(|mut s| {
                s.query_map([ts(since)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(map_err)?;
        // Breaks about a record its job's runs opened (closed) in the period that were open
        // less than the job's grace period: an item that waited for its counterpart.
        let mut brief: Vec<(String, i64, i64)> = Vec::new();
        for (job, grace) in counting.grace.iter().filter(|(_, g)| !g.is_zero()) {
            let grace_ms = grace.as_millis() as f64;
            let n = |sql: &str| -> Result<i64> {
                self.tx
                    .prepare_cached(sql)
                    .and_then(|mut s| {
                        s.query_row(params![job, ts(since), ts(counting.now), grace_ms], |r| {
                            r.get(0)
                        })
                    })
                    .map_err(map_err)
            };
            let opened = n(
                "SELECT COUNT(*) FROM runs r JOIN breaks b ON b.opened_run_id = r.id
                 WHERE r.job = ?1 AND r.started_at >= ?2 AND b.record_id IS NOT NULL
                   AND (julianday(COALESCE(b.closed_at, ?3)) - julianday(b.opened_at))
                       * 86400000.0 < ?4",
            )?;
            let closed = n(
                "SELECT COUNT(*) FROM runs r JOIN breaks b ON b.closed_run_id = r.id
                 WHERE r.job = ?1 AND r.started_at >= ?2 AND b.record_id IS NOT NULL
                   AND b.closed_at IS NOT NULL
                   AND (julianday(b.closed_at) - julianday(b.opened_at)) * 86400000.0 < ?4",
            )?;
            brief.push((job.clone(), opened, closed));
        }
        rows.into_iter()
            .map(|(mut a, last)| {
                a.last_run_at = last.as_deref().map(parse_ts).transpose()?;
                if let Some((_, opened, closed)) = brief.iter().find(|(j, ..)| *j == a.job) {
                    a.breaks_opened = a.breaks_opened.saturating_sub(to_u64(*opened));
                    a.breaks_closed = a.breaks_closed.saturating_sub(to_u64(*closed));
                }
                for (job, pass, matches, records) in &by_pass {
                    if *job == a.job {
                        let n = if *records > 0 { *records } else { *matches };
                        a.matched_by_pass.insert(pass.clone(), to_u64(n));
                    }
                }
                Ok(a)
            })
            .collect()
    }

    fn totals(&mut self) -> Result<Totals> {
        self.tx
            .query_row(
                "SELECT
                    (SELECT COUNT(*) FROM files WHERE status = 'processed'),
                    (SELECT COUNT(*) FROM files WHERE status = 'failed'),
                    (SELECT COUNT(*) FROM files WHERE status = 'duplicate'),
                    (SELECT COUNT(*) FROM records),
                    (SELECT COUNT(*) FROM records WHERE match_id IS NULL AND out_of_matching IS NULL),
                    (SELECT COUNT(*) FROM entries),
                    (SELECT COUNT(*) FROM breaks WHERE status != 'resolved'),
                    (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL)",
                [],
                |r| {
                    Ok(Totals {
                        files_processed: to_u64(r.get(0)?),
                        files_failed: to_u64(r.get(1)?),
                        files_duplicate: to_u64(r.get(2)?),
                        records: to_u64(r.get(3)?),
                        records_open: to_u64(r.get(4)?),
                        entries_posted: to_u64(r.get(5)?),
                        open_exceptions: to_u64(r.get(6)?),
                        mail_queued: to_u64(r.get(7)?),
                    })
                },
            )
            .map_err(map_err)
    }

    fn recent_runs(&mut self, limit: usize) -> Result<Vec<RunRow>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT r.id, r.job, r.trigger, r.status, f.name, r.started_at, r.duration_ms,
                    r.records_in, r.matched, r.entries_posted, r.breaks_opened, r.breaks_closed,
                    r.error
                 FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 ORDER BY r.id DESC LIMIT ?",
            )
            .map_err(map_err)?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    [
                        r.get::<_, i64>(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                    ],
                    r.get::<_, Option<String>>(12)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(id, job, trigger, status, file, started, dur, n, error)| {
                Ok(RunRow {
                    id,
                    job,
                    trigger,
                    status,
                    file,
                    started_at: parse_ts(&started)?,
                    duration_ms: dur.map(to_u64),
                    records_in: to_u64(n[0]),
                    matched: to_u64(n[1]),
                    entries_posted: to_u64(n[2]),
                    breaks_opened: to_u64(n[3]),
                    breaks_closed: to_u64(n[4]),
                    error,
                })
            })
            .collect()
    }

    fn entries_of_run(&mut self, run_id: i64) -> Result<Vec<PostedEntry>> {
        let heads: Vec<(i64, String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT id, idempotency_key, posting_date, narrative FROM entries
                 WHERE run_id = ? ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([run_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(heads.len());
        for (id, key, date, narrative) in heads {
            let raw: Vec<(String, String, String)> = self
                .tx
                .prepare_cached(
                    "SELECT account, currency, amount FROM entry_lines WHERE entry_id = ?
                     ORDER BY line_no",
                )
                .and_then(|mut s| {
                    s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .map_err(map_err)?;
            let lines = raw
                .into_iter()
                .map(|(account, currency, amount)| {
                    Ok(EntryLine {
                        account,
                        currency: parse_currency(&currency)?,
                        amount: parse_decimal(&amount)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(PostedEntry {
                id,
                idempotency_key: key,
                posting_date: parse_date(&date)?,
                narrative,
                lines,
            });
        }
        Ok(out)
    }
}

struct RawRecord {
    file_id: i64,
    sheet: Option<String>,
    row: u32,
    external_id: String,
    account: Option<String>,
    value_date: String,
    booking_date: Option<String>,
    amount: String,
    currency: String,
    reference: Option<String>,
    counterparty: Option<String>,
    remittance: Option<String>,
    locator: Option<String>,
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

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn what_changed_since_a_mark_is_read_through_indexes_not_the_book() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        for filter in [
            OPEN_AFTER,
            MATCHED_AFTER,
            BREAK_HISTORY_AFTER,
            WITHDRAWN_AFTER,
        ] {
            let sql = format!("EXPLAIN QUERY PLAN SELECT id FROM records {filter} ORDER BY id");
            let mut stmt = store.conn.prepare(&sql).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params![1, "main", Option::<&str>::None, "bank"], |r| {
                    r.get(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter().all(
                    |step| !step.starts_with("SCAN") && !step.contains("records_by_value_date")
                ),
                "{filter}: {plan:?}"
            );
        }
    }
}
