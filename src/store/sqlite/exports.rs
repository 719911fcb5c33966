//! SQLite: export cursors and batches, and the entries a batch takes, read a chunk at a time.

use super::journal::{ENTRY_COLUMNS, EntryHead, entry_head, posted_entry};
use super::*;
use crate::store::exports::{EntrySelection, EntrySpan, ExportBatch, Exports, NewExportBatch};
use crate::store::journal::PostedEntry;

/// Entries read per query while a batch is rendered: few enough that a chunk is small next to
/// the file being written, enough that the query's cost is spread.
const CHUNK: u64 = 500;

const BATCH_COLUMNS: &str = "id, target, number, reexport, file_name, sha256, first_entry_id,
     last_entry_id, entries, first_date, last_date, from_date, to_date, created_at, written_at";

type BatchRow = (
    i64,
    String,
    i64,
    bool,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    (Option<String>, Option<String>),
    String,
    Option<String>,
);

fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        (r.get(11)?, r.get(12)?),
        r.get(13)?,
        r.get(14)?,
    ))
}

fn batch_of(row: BatchRow) -> Result<ExportBatch> {
    let (id, target, number, reexport, file_name, sha256, first, last, n, fd, ld, (f, t), c, w) =
        row;
    let date = |d: Option<String>| d.as_deref().map(parse_date).transpose();
    Ok(ExportBatch {
        id,
        target,
        number: number as u64,
        reexport,
        file_name,
        sha256,
        first_entry: first,
        last_entry: last,
        entries: n as u64,
        first_date: parse_date(&fd)?,
        last_date: parse_date(&ld)?,
        from: date(f)?,
        to: date(t)?,
        created_at: parse_ts(&c)?,
        written_at: w.as_deref().map(parse_ts).transpose()?,
    })
}

/// The `WHERE` of a selection, over `entries e`, with its parameters as ?1..?4.
const SELECTED: &str = "e.id > ?1 AND (?2 IS NULL OR e.id <= ?2)
     AND (?3 IS NULL OR e.posting_date >= ?3) AND (?4 IS NULL OR e.posting_date <= ?4)";

impl SqliteUnit<'_, '_> {
    fn batches_where(&mut self, filter: &str, target: Option<&str>) -> Result<Vec<ExportBatch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM export_batches
             WHERE (?1 IS NULL OR target = ?1) {filter} ORDER BY id"
        );
        let rows: Vec<BatchRow> = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([target], batch_row)?.collect())
            .map_err(map_err)?;
        rows.into_iter().map(batch_of).collect()
    }
}

impl Exports for SqliteUnit<'_, '_> {
    fn export_cursor(&mut self, target: &str) -> Result<i64> {
        self.tx
            .query_row(
                "SELECT last_entry_id FROM export_cursors WHERE target = ?",
                [target],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(map_err)
    }

    fn last_entry_id(&mut self) -> Result<i64> {
        self.tx
            .query_row("SELECT COALESCE(MAX(id), 0) FROM entries", [], |r| r.get(0))
            .map_err(map_err)
    }

    fn first_entry_after(&mut self, after: i64) -> Result<Option<(i64, NaiveDate)>> {
        let row: Option<(i64, String)> = self
            .tx
            .prepare_cached("SELECT id, posting_date FROM entries WHERE id > ? ORDER BY id LIMIT 1")
            .and_then(|mut s| {
                s.query_row([after], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(map_err)?;
        row.map(|(id, d)| Ok((id, parse_date(&d)?))).transpose()
    }

    fn first_entry_outside(
        &mut self,
        after: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(
                "SELECT MIN(id) FROM entries
                 WHERE id > ?1 AND (posting_date < ?2 OR posting_date > ?3)",
            )
            .and_then(|mut s| {
                s.query_row(params![after, from.to_string(), to.to_string()], |r| {
                    r.get::<_, Option<i64>>(0)
                })
            })
            .map_err(map_err)
    }

    fn export_span(&mut self, sel: &EntrySelection) -> Result<Option<EntrySpan>> {
        let sql = format!(
            "SELECT MIN(id), MAX(id), COUNT(*), MIN(posting_date), MAX(posting_date)
             FROM (SELECT e.id, e.posting_date FROM entries e WHERE {SELECTED}
                   ORDER BY e.id LIMIT ?5)"
        );
        type Span = (
            Option<i64>,
            Option<i64>,
            i64,
            Option<String>,
            Option<String>,
        );
        let (first, last, n, fd, ld): Span = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(
                    params![
                        sel.after,
                        sel.up_to,
                        sel.from.map(|d| d.to_string()),
                        sel.to.map(|d| d.to_string()),
                        sel.limit as i64
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
            })
            .map_err(map_err)?;
        match (first, last, fd, ld) {
            (Some(first_entry), Some(last_entry), Some(fd), Some(ld)) if n > 0 => {
                Ok(Some(EntrySpan {
                    first_entry,
                    last_entry,
                    entries: n as u64,
                    first_date: parse_date(&fd)?,
                    last_date: parse_date(&ld)?,
                }))
            }
            _ => Ok(None),
        }
    }

    fn for_each_export_entry(
        &mut self,
        sel: &EntrySelection,
        each: &mut dyn FnMut(&PostedEntry) -> Result<()>,
    ) -> Result<()> {
        let heads_sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e JOIN matches m ON m.id = e.match_id
             WHERE {SELECTED} ORDER BY e.id LIMIT ?5"
        );
        let mut after = sel.after;
        let mut left = sel.limit;
        while left > 0 {
            let heads: Vec<EntryHead> = self
                .tx
                .prepare_cached(&heads_sql)
                .and_then(|mut s| {
                    s.query_map(
                        params![
                            after,
                            sel.up_to,
                            sel.from.map(|d| d.to_string()),
                            sel.to.map(|d| d.to_string()),
                            left.min(CHUNK) as i64
                        ],
                        entry_head,
                    )?
                    .collect()
                })
                .map_err(map_err)?;
            if heads.is_empty() {
                break;
            }
            left -= heads.len() as u64;
            for mut head in heads {
                after = head.id;
                // A later fact (the reversal is exported in its own batch): a batch written
                // again after a crash must be the bytes first recorded.
                head.reversed_by = None;
                each(&posted_entry(self.tx, head)?)?;
            }
        }
        Ok(())
    }

    fn next_export_number(&mut self, target: &str, reexport: bool) -> Result<u64> {
        self.tx
            .query_row(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM export_batches
                 WHERE target = ? AND reexport = ?",
                params![target, reexport],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(map_err)
    }

    fn record_export_batch(&mut self, b: &NewExportBatch<'_>) -> Result<ExportBatch> {
        if !b.reexport {
            let cursor = self.export_cursor(b.target)?;
            if cursor != b.cursor_was {
                return Err(StoreError::Conflict(format!(
                    "export {}: batch {} was planned from entry {}, but the cursor is at entry {cursor}",
                    b.target, b.number, b.cursor_was
                )));
            }
            self.tx
                .execute(
                    "INSERT INTO export_cursors (target, last_entry_id) VALUES (?1, ?2)
                     ON CONFLICT (target) DO UPDATE SET last_entry_id = excluded.last_entry_id",
                    params![b.target, b.span.last_entry],
                )
                .map_err(map_err)?;
        }
        self.tx
            .execute(
                "INSERT INTO export_batches (target, number, reexport, file_name, sha256,
                     first_entry_id, last_entry_id, entries, first_date, last_date, from_date,
                     to_date, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    b.target,
                    b.number as i64,
                    b.reexport,
                    b.file_name,
                    b.sha256,
                    b.span.first_entry,
                    b.span.last_entry,
                    b.span.entries as i64,
                    b.span.first_date.to_string(),
                    b.span.last_date.to_string(),
                    b.from.map(|d| d.to_string()),
                    b.to.map(|d| d.to_string()),
                    ts(b.created_at),
                ],
            )
            .map_err(|e| match map_err(e) {
                StoreError::Other(m) if m.contains("UNIQUE") => StoreError::Conflict(format!(
                    "export {}: batch {} is recorded already",
                    b.target, b.number
                )),
                other => other,
            })?;
        let id = self.tx.last_insert_rowid();
        let sql = format!("SELECT {BATCH_COLUMNS} FROM export_batches WHERE id = ?");
        let row = self.tx.query_row(&sql, [id], batch_row).map_err(map_err)?;
        batch_of(row)
    }

    fn mark_export_written(&mut self, batch_id: i64, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE export_batches SET written_at = ?2 WHERE id = ?1 AND written_at IS NULL",
                params![batch_id, ts(at)],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn unwritten_export_batches(&mut self, target: Option<&str>) -> Result<Vec<ExportBatch>> {
        self.batches_where("AND written_at IS NULL", target)
    }

    fn export_batches(&mut self, target: Option<&str>) -> Result<Vec<ExportBatch>> {
        self.batches_where("", target)
    }
}
