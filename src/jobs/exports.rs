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

/// Brings `target` up to date: batches left unwritten by a crash are written first, then every
/// entry after the cursor, a batch at a time. Stops at the first failure, with what was written
/// before it kept.
pub fn export_target(
    store: &mut dyn Store,
    target: &ExportTarget,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Exported, ExportFailure> {
    let mut done = Exported::default();
    prepare_folder(target)?;
    recover(store, target, now, &mut done)?;
    loop {
        let cursor = in_read(store, |u| u.export_cursor(&target.name))?;
        let selection = EntrySelection {
            after: cursor,
            up_to: None,
            from: None,
            to: None,
            limit: BATCH_LIMIT,
        };
        let Some(span) = in_read(store, |u| u.export_span(&selection))? else {
            return Ok(done);
        };
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
