//! Exports to the books, exactly once: the entries a target has not had yet, rendered by its
//! format into a file in its folder, with the store's cursor moved in the unit that records
//! the file's name and checksum.
//!
//! The steps of a batch, and what a crash between them leaves:
//!
//! 1. plan: the entries after the cursor, in id order, at most [`BATCH_LIMIT`]; the batch's
//!    number and `created_at`;
//! 2. render into a hidden temp file in the target folder (`.<name>.<pid>.tmp`), fsync. A
//!    crash leaves a temp file, removed at the next export ([`crate::fsx::remove_stale_temps`]);
//!    nothing was recorded, so the same entries make the next batch;
//! 3. one unit: record the batch (file name, checksum, entries) and move the cursor. A crash
//!    before the commit is step 2's;
//! 4. rename into place, fsync the folder; 5. mark the batch written. A crash after 3 leaves a
//!    batch recorded, not written: [`recover`] renders it again from the same entries with the
//!    same number and `created_at` — the same bytes, as formats are deterministic — and writes
//!    it under the same name (or, if it is there already with the checksum, only marks it).
//!
//! **Invariant:** an entry is in at most one batch of a target (the cursor moves past it in
//! the unit that records the batch) and in at least one once the export has run (the cursor
//! only moves with a recorded batch, and a recorded batch is written before the next is
//! planned). A re-export (`clerk journal export`) is recorded with its own numbering and leaves
//! the cursor alone.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::config::ExportTarget;
use crate::export::{Batch, ExportError};
use crate::fsx;
use crate::store::{
    EntrySelection, EntrySpan, ExportBatch, NewExportBatch, Store, StoreError, in_read, in_read_as,
    in_unit,
};

/// The most entries in one batch (one file). A backlog of more is written as several files,
/// each recorded on its own, so a batch is a few seconds of work and a few MB of memory at most.
pub const BATCH_LIMIT: u64 = 100_000;

/// Why an export could not be written. The cursor has not moved past what was not written.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target folder cannot be written (missing, not writable, full).
    #[error("export {target}: cannot write {}: {error}", path.display())]
    Io {
        target: String,
        path: PathBuf,
        error: io::Error,
    },
    /// The format refused an entry (an account it cannot name), or writing it failed.
    #[error("export {target}: {error}")]
    Refused { target: String, error: ExportError },
}

impl ExportFailure {
    /// Whether the store was only unavailable (busy, full, read-only): tried again soon.
    pub fn is_transient_store(&self) -> bool {
        matches!(self, ExportFailure::Store(e) if e.is_transient())
    }
}

/// What an export did.
#[derive(Debug, Default)]
pub struct Exported {
    /// The batches written now, in order.
    pub written: Vec<ExportBatch>,
    /// Batches found recorded but not written (a crash), written again now.
    pub recovered: Vec<ExportBatch>,
    /// Problems that did not stop the export but people must hear of: a batch written again
    /// whose checksum is not the one recorded, a file of another content found under a
    /// batch's name (kept beside it).
    pub warnings: Vec<String>,
    /// Entries are left after the cursor: the batches asked for were written, not all.
    pub more: bool,
}

/// Where the next batch must end for a format whose files lie within one span of dates
/// (DATEV: a fiscal year): before the first entry, after the cursor, outside the span of the
/// first one. So a backlog across a year end is two files, never one the format refuses.
fn batch_end(
    store: &mut dyn Store,
    target: &ExportTarget,
    cursor: i64,
) -> Result<Option<i64>, ExportFailure> {
    let Some((_, first_date)) = in_read(store, |u| u.first_entry_after(cursor))? else {
        return Ok(None);
    };
    let Some((from, to)) = target.format().batch_bounds(first_date) else {
        return Ok(None);
    };
    let outside = in_read(store, |u| u.first_entry_outside(cursor, from, to))?;
    Ok(outside.map(|id| id - 1))
}

/// A batch's file name: `<name>-<number:06>.<ext>`; a re-export's
/// `<name>-reexport-<from>-<to>-<n>.<ext>` (its dates, or its entries' when none were given).
pub fn file_name(
    target: &ExportTarget,
    number: u64,
    reexport: Option<(NaiveDate, NaiveDate)>,
) -> String {
    match reexport {
        None => format!("{}-{number:06}.{}", target.name, target.extension),
        Some((from, to)) => format!(
            "{}-reexport-{from}-{to}-{number}.{}",
            target.name, target.extension
        ),
    }
}

/// Brings `target` up to date: batches left unwritten by a crash are written first, then the
/// entries after the cursor, a batch at a time, at most `max_batches` of them (`more` says
/// whether entries are left). Stops at the first failure, with what was written before it kept.
pub fn export_target(
    store: &mut dyn Store,
    target: &ExportTarget,
    now: &dyn Fn() -> DateTime<Utc>,
    max_batches: usize,
) -> Result<Exported, ExportFailure> {
    let mut done = Exported::default();
    recover(store, target, now, &mut done)?;
    loop {
        let cursor = in_read(store, |u| u.export_cursor(&target.name))?;
        let up_to = batch_end(store, target, cursor)?;
        let selection = EntrySelection {
            after: cursor,
            up_to,
            from: None,
            to: None,
            limit: BATCH_LIMIT,
        };
        let Some(span) = in_read(store, |u| u.export_span(&selection))? else {
            return Ok(done);
        };
        if done.written.len() >= max_batches {
            done.more = true;
            return Ok(done);
        }
        let number = in_read(store, |u| u.next_export_number(&target.name, false))?;
        let batch = write_batch(
            store,
            target,
            Plan {
                number,
                reexport: None,
                span,
                cursor_was: cursor,
                created_at: micros(now()),
            },
        )?;
        done.written.push(batch);
    }
}

/// Writes the entries posted within `from..=to` (all when neither is given) into one re-export
/// file of `target`, recorded as a re-export; the cursor stays where it is. `None` when no
/// entry is in the range.
pub fn reexport(
    store: &mut dyn Store,
    target: &ExportTarget,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Option<(ExportBatch, PathBuf)>, ExportFailure> {
    prepare_folder(target)?;
    let selection = EntrySelection {
        after: 0,
        up_to: None,
        from,
        to,
        limit: u64::MAX >> 1,
    };
    let Some(span) = in_read(store, |u| u.export_span(&selection))? else {
        return Ok(None);
    };
    let number = in_read(store, |u| u.next_export_number(&target.name, true))?;
    let batch = write_batch(
        store,
        target,
        Plan {
            number,
            reexport: Some((from, to)),
            span,
            cursor_was: 0,
            created_at: micros(now()),
        },
    )?;
    let path = target.folder.join(&batch.file_name);
    Ok(Some((batch, path)))
}

/// Writes again the batches of `target` recorded but not marked written (a crash came between
/// the record and the rename), each from the same entries under the same name.
pub fn recover(
    store: &mut dyn Store,
    target: &ExportTarget,
    now: &dyn Fn() -> DateTime<Utc>,
    done: &mut Exported,
) -> Result<(), ExportFailure> {
    prepare_folder(target)?;
    let unwritten = in_read(store, |u| u.unwritten_export_batches(Some(&target.name)))?;
    for batch in unwritten {
        let path = target.folder.join(&batch.file_name);
        let io_err = |error| ExportFailure::Io {
            target: target.name.clone(),
            path: path.clone(),
            error,
        };
        match checksum_of(&path) {
            // The rename happened; only the mark did not.
            Ok(Some(sum)) if sum == batch.sha256 => {}
            found => {
                if let Ok(Some(other)) = found {
                    // Someone else's file under the batch's name: kept, beside it.
                    let aside =
                        target
                            .folder
                            .join(format!("{}.differs-{}", batch.file_name, &other[..12]));
                    fsx::move_file(&path, &aside).map_err(io_err)?;
                    done.warnings.push(format!(
                        "export {}: {} held other content than batch {} (checksum {other}, \
                         recorded {}); it is kept as {}",
                        target.name,
                        path.display(),
                        batch.number,
                        batch.sha256,
                        aside.display()
                    ));
                }
                let (tmp, sum) = render(
                    store,
                    target,
                    &batch_header(target, &batch),
                    &batch.selection(),
                    &path,
                )?;
                fsx::rename_into_place(&tmp, &path).map_err(io_err)?;
                if sum != batch.sha256 {
                    done.warnings.push(format!(
                        "export {}: batch {} written again as {} has checksum {sum}, not the \
                         {} recorded when it was planned; the entries are the same ({} to {}), \
                         the bytes are not: check the file before the books import it",
                        target.name,
                        batch.number,
                        path.display(),
                        batch.sha256,
                        batch.first_entry,
                        batch.last_entry
                    ));
                }
            }
        }
        in_unit(store, |u| u.mark_export_written(batch.id, now()))?;
        done.recovered.push(batch);
    }
    Ok(())
}

/// A batch about to be written.
struct Plan {
    number: u64,
    /// A re-export's date range as asked.
    reexport: Option<(Option<NaiveDate>, Option<NaiveDate>)>,
    span: EntrySpan,
    cursor_was: i64,
    created_at: DateTime<Utc>,
}

fn write_batch(
    store: &mut dyn Store,
    target: &ExportTarget,
    plan: Plan,
) -> Result<ExportBatch, ExportFailure> {
    let dates = plan.reexport.map(|(from, to)| {
        (
            from.unwrap_or(plan.span.first_date),
            to.unwrap_or(plan.span.last_date),
        )
    });
    let name = file_name(target, plan.number, dates);
    let path = target.folder.join(&name);
    let (from, to) = plan.reexport.unwrap_or((None, None));
    let header = Batch {
        target: &target.name,
        number: plan.number,
        created_at: plan.created_at,
        first_date: plan.span.first_date,
        last_date: plan.span.last_date,
        reexport: plan.reexport.is_some(),
    };
    let selection = EntrySelection {
        after: plan.span.first_entry - 1,
        up_to: Some(plan.span.last_entry),
        from,
        to,
        limit: plan.span.entries,
    };
    let (tmp, sha256) = render(store, target, &header, &selection, &path)?;
    let recorded = in_unit(store, |u| {
        u.record_export_batch(&NewExportBatch {
            target: &target.name,
            number: plan.number,
            reexport: plan.reexport.is_some(),
            file_name: &name,
            sha256: &sha256,
            span: plan.span,
            from,
            to,
            created_at: plan.created_at,
            cursor_was: plan.cursor_was,
        })
    });
    let batch = match recorded {
        Ok(b) => b,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    fsx::rename_into_place(&tmp, &path).map_err(|error| ExportFailure::Io {
        target: target.name.clone(),
        path: path.clone(),
        error,
    })?;
    let written_at = Utc::now();
    in_unit(store, |u| u.mark_export_written(batch.id, written_at))?;
    Ok(ExportBatch {
        written_at: Some(written_at),
        ..batch
    })
}

/// The header a recorded batch was rendered with.
fn batch_header<'a>(target: &'a ExportTarget, b: &ExportBatch) -> Batch<'a> {
    Batch {
        target: &target.name,
        number: b.number,
        created_at: b.created_at,
        first_date: b.first_date,
        last_date: b.last_date,
        reexport: b.reexport,
    }
}

/// Renders the selected entries into a temp file beside `path`, fsynced; its path and the
/// SHA-256 of its bytes. The entries are read a chunk at a time on one read snapshot and
/// written as they come.
fn render(
    store: &mut dyn Store,
    target: &ExportTarget,
    header: &Batch<'_>,
    selection: &EntrySelection,
    path: &Path,
) -> Result<(PathBuf, String), ExportFailure> {
    let io_err = |error| ExportFailure::Io {
        target: target.name.clone(),
        path: path.to_path_buf(),
        error,
    };
    let (tmp, file) = fsx::create_temp_for(path).map_err(io_err)?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(256 * 1024, file),
        hash: Sha256::new(),
    };
    let mut format = target.format();
    let refused = |error| ExportFailure::Refused {
        target: target.name.clone(),
        error,
    };
    let rendered: Result<(), ExportFailure> = (|| {
        format.begin(&mut out, header).map_err(refused)?;
        // The format's refusal is carried out of the store's callback and given back as it was.
        let mut failed = None;
        let read = in_read_as(store, |u| {
            u.for_each_export_entry(selection, &mut |entry| {
                format
                    .entry(&mut out, entry, &target.accounts)
                    .map_err(|e| {
                        failed = Some(e);
                        StoreError::Other("the export format refused an entry".into())
                    })
            })
        });
        if let Some(e) = failed {
            return Err(refused(e));
        }
        read?;
        format.finish(&mut out).map_err(refused)?;
        out.inner.flush().map_err(io_err)?;
        out.inner.get_ref().sync_all().map_err(io_err)?;
        Ok(())
    })();
    match rendered {
        Ok(()) => Ok((tmp, crate::digest::to_hex(out.hash.finalize().as_slice()))),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates the target folder when missing and removes temp files a killed export left there.
fn prepare_folder(target: &ExportTarget) -> Result<(), ExportFailure> {
    fsx::create_dir_all(&target.folder).map_err(|error| ExportFailure::Io {
        target: target.name.clone(),
        path: target.folder.clone(),
        error,
    })?;
    fsx::remove_stale_temps(&target.folder);
    Ok(())
}

/// The SHA-256 of the file at `path`; `None` when there is none.
fn checksum_of(path: &Path) -> io::Result<Option<String>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hash = Sha256::new();
    io::copy(&mut f, &mut hash)?;
    Ok(Some(crate::digest::to_hex(hash.finalize().as_slice())))
}

/// The store keeps timestamps to the microsecond: a batch's `created_at` is cut to that, so
/// the one rendered again after a crash is the one first rendered.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use rust_decimal::Decimal;

    use super::*;
    use crate::export::Accounts;
    use crate::model::{EntryLine, JournalEntry, MatchPass, Record, Side, Source};
    use crate::store::{FileStatus, NewFile, NewMatch, SqliteStore, Trigger};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    /// Posts `n` entries of one ledger item and one statement line each.
    fn post(store: &mut dyn Store, n: usize) {
        in_unit(store, |u| {
            let f = u.add_file(&NewFile {
                job: "bank",
                sha256: "sha",
                name: "statement.csv",
                size: 1,
                arrived_at: at(),
                status: FileStatus::Processed,
                error: None,
                duplicate_of: None,
            })?;
            let run = u.start_run("bank", Trigger::File, Some(f), at())?;
            let record = |side, k: usize| Record {
                side,
                external_id: format!("{side:?}-{k}"),
                account: Some("CASH-EUR-01".into()),
                value_date: "2026-03-02".parse().unwrap(),
                booking_date: None,
                amount: Decimal::new(1000 + k as i64, 2),
                currency: "EUR".parse().unwrap(),
                reference: Some(format!("INV-{k}")),
                counterparty: None,
                remittance: None,
                codes: None,
                source: Source::at(Arc::from("sha"), None, k as u32 + 2),
            };
            let ledger: Vec<Record> = (0..n).map(|k| record(Side::Ledger, k)).collect();
            let statement: Vec<Record> = (0..n).map(|k| record(Side::Statement, k)).collect();
            u.add_records("bank", f, &ledger)?;
            u.add_records("bank", f, &statement)?;
            let l = u.open_records("bank", Side::Ledger, None)?;
            let st = u.open_records("bank", Side::Statement, None)?;
            for k in 0..n {
                let a = l[k].record.amount;
                let line = |account: &str, amount| EntryLine {
                    account: account.into(),
                    currency: "EUR".parse().unwrap(),
                    amount,
                    fx: None,
                };
                u.post_match(&NewMatch {
                    job: "bank",
                    run_id: run,
                    pass: MatchPass::Reference,
                    record_ids: &[l[k].id, st[k].id],
                    entry: &JournalEntry {
                        idempotency_key: format!("key-{k}"),
                        posting_date: "2026-03-02".parse().unwrap(),
                        narrative: format!("Payment, \"INV-{k}\""),
                        lines: vec![line("1200 Bank", a), line("1400 Receivables", -a)],
                    },
                    at: at(),
                    explanation: None,
                    actor: None,
                    reason: None,
                })?;
            }
            Ok(())
        })
        .unwrap();
    }

    fn target(folder: &Path) -> ExportTarget {
        ExportTarget {
            name: "erp".into(),
            format: "csv".into(),
            folder: folder.to_path_buf(),
            schedule: None,
            accounts: Accounts::default(),
            options: toml::Table::new(),
            extension: "csv",
        }
    }

    #[test]
    fn a_batch_recorded_but_not_written_is_written_again_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        let store: &mut dyn Store = &mut store;
        post(store, 3);
        let t = target(&dir.path().join("exports"));
        // No batch asked for: none written, and more is said to be left.
        let none = export_target(store, &t, &Utc::now, 0).unwrap();
        assert!(none.written.is_empty() && none.more, "{none:?}");
        let done = export_target(store, &t, &Utc::now, usize::MAX).unwrap();
        assert!(!done.more);
        assert_eq!(done.written.len(), 1);
        let batch = &done.written[0];
        assert_eq!((batch.number, batch.entries), (1, 3));
        let path = t.folder.join("erp-000001.csv");
        let first = fs::read(&path).unwrap();
        assert_eq!(batch.sha256, crate::digest::sha256_hex(&first));
        // Nothing new: nothing written.
        assert!(
            export_target(store, &t, &Utc::now, usize::MAX)
                .unwrap()
                .written
                .is_empty()
        );

        // A kill after the batch was recorded, before the rename: no file, not marked; and a
        // temp file of a process that is gone.
        fs::remove_file(&path).unwrap();
        let gone_pid = 4_000_000;
        fs::write(
            t.folder.join(format!(".erp-000002.csv.{gone_pid}.tmp")),
            b"half",
        )
        .unwrap();
        let db = rusqlite::Connection::open(dir.path().join("clerk.db")).unwrap();
        db.execute("UPDATE export_batches SET written_at = NULL", [])
            .unwrap();
        post_more(store);
        let done = export_target(store, &t, &Utc::now, usize::MAX).unwrap();
        assert_eq!(done.recovered.len(), 1, "{done:?}");
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        // The same bytes under the same name, and the new entry in the next batch only.
        assert_eq!(fs::read(&path).unwrap(), first);
        assert_eq!(done.written.len(), 1);
        assert_eq!(done.written[0].number, 2);
        assert_eq!(done.written[0].entries, 1);
        let names: Vec<String> = fs::read_dir(&t.folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

        // A kill after the rename, before the mark: the file is there, only marked now.
        db.execute(
            "UPDATE export_batches SET written_at = NULL WHERE number = 2",
            [],
        )
        .unwrap();
        let before = fs::metadata(t.folder.join("erp-000002.csv"))
            .unwrap()
            .modified()
            .unwrap();
        let done = export_target(store, &t, &Utc::now, usize::MAX).unwrap();
        assert_eq!((done.recovered.len(), done.written.len()), (1, 0));
        let after = fs::metadata(t.folder.join("erp-000002.csv"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);

        // Someone else's file under a batch's name is kept beside it, and said.
        fs::write(&path, b"not ours").unwrap();
        db.execute(
            "UPDATE export_batches SET written_at = NULL WHERE number = 1",
            [],
        )
        .unwrap();
        let done = export_target(store, &t, &Utc::now, usize::MAX).unwrap();
        assert_eq!(done.warnings.len(), 1, "{:?}", done.warnings);
        assert_eq!(fs::read(&path).unwrap(), first);
        assert!(fs::read_dir(&t.folder).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".differs-")
        }));
    }

    /// One more entry, of a file of its own.
    fn post_more(store: &mut dyn Store) {
        in_unit(store, |u| {
            let f = u.add_file(&NewFile {
                job: "bank",
                sha256: "sha-more",
                name: "more.csv",
                size: 1,
                arrived_at: at(),
                status: FileStatus::Processed,
                error: None,
                duplicate_of: None,
            })?;
            let run = u.start_run("bank", Trigger::File, Some(f), at())?;
            let a = Decimal::new(777, 0);
            let line = |account: &str, amount| EntryLine {
                account: account.into(),
                currency: "EUR".parse().unwrap(),
                amount,
                fx: None,
            };
            let mut r = Record {
                side: Side::Ledger,
                external_id: "more".into(),
                account: Some("CASH-EUR-01".into()),
                value_date: "2026-03-03".parse().unwrap(),
                booking_date: None,
                amount: a,
                currency: "EUR".parse().unwrap(),
                reference: Some("INV-more".into()),
                counterparty: None,
                remittance: None,
                codes: None,
                source: Source::at(Arc::from("sha-more"), None, 2),
            };
            u.add_records("bank", f, std::slice::from_ref(&r))?;
            r.side = Side::Statement;
            u.add_records("bank", f, &[r])?;
            let l = u.open_records("bank", Side::Ledger, None)?;
            let s = u.open_records("bank", Side::Statement, None)?;
            u.post_match(&NewMatch {
                job: "bank",
                run_id: run,
                pass: MatchPass::Reference,
                record_ids: &[l[0].id, s[0].id],
                entry: &JournalEntry {
                    idempotency_key: "key-more".into(),
                    posting_date: "2026-03-03".parse().unwrap(),
                    narrative: "more".into(),
                    lines: vec![line("1200 Bank", a), line("1400 Receivables", -a)],
                },
                at: at(),
                explanation: None,
                actor: None,
                reason: None,
            })?;
            Ok(())
        })
        .unwrap();
    }
}
