//! SQLite: files taken and runs.

use super::*;

impl Files for SqliteUnit<'_, '_> {
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
}
