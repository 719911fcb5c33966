//! SQLite: the console's reads. The queue is paged by key (`WHERE (key, id) > (?, ?)` in the
//! order of an index, `LIMIT n`), never by `OFFSET`: with 100,000 open breaks the last page
//! reads as few rows as the first. The indexes it walks are in `0022_console_queue.sql`.

use rusqlite::types::Value;

use super::*;
use crate::store::console::*;

/// The amount a break sorts and filters by: its size without sign, as SQLite's REAL. Only for
/// ordering and comparing with a bound the person typed, never for arithmetic on money; a
/// break without an amount sorts after every other (-1). The expression is the one indexed
/// in `0022_console_queue.sql`, word for word, or SQLite would not use the index.
const AMOUNT_KEY: &str = "COALESCE(ABS(CAST(b.amount AS REAL)), -1)";

/// The queue's SQL for `q`, and its parameters.
pub(super) fn queue_sql(q: &QueueQuery<'_>) -> (String, Vec<Value>) {
    let mut sql = String::from("SELECT b.id FROM breaks b");
    let mut args: Vec<Value> = Vec::new();
    let mut and: Vec<String> = Vec::new();
    if let Some(text) = q.text.filter(|t| !t.trim().is_empty()) {
        // The record's words too: a remittance text is where a payer writes the invoice.
        sql.push_str(" LEFT JOIN records r ON r.id = b.record_id");
        let pattern = format!("%{}%", like_escaped(text.trim()));
        and.push(
            "(b.detail LIKE ?1 ESCAPE '\\' OR b.source LIKE ?1 ESCAPE '\\' \
             OR r.remittance LIKE ?1 ESCAPE '\\' OR r.counterparty LIKE ?1 ESCAPE '\\' \
             OR r.reference LIKE ?1 ESCAPE '\\' OR r.external_id LIKE ?1 ESCAPE '\\')"
                .replace("?1", &format!("?{}", args.len() + 1)),
        );
        args.push(Value::Text(pattern));
    }
    let arg = |args: &mut Vec<Value>, v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(job) = q.job {
        let p = arg(&mut args, Value::Text(job.into()));
        and.push(format!("b.job = {p}"));
    }
    if let Some(reason) = q.reason {
        let p = arg(&mut args, Value::Text(reason.as_str().into()));
        and.push(format!("b.reason = {p}"));
    }
    match q.status {
        StatusFilter::Unresolved => and.push("b.status != 'resolved'".into()),
        StatusFilter::Is(s) => {
            let p = arg(&mut args, Value::Text(s.as_str().into()));
            and.push(format!("b.status = {p}"));
        }
        StatusFilter::Any => {}
    }
    match q.owner {
        OwnerFilter::Anyone => {}
        OwnerFilter::Nobody => and.push("b.owner IS NULL".into()),
        OwnerFilter::Is(o) => {
            let p = arg(&mut args, Value::Text(o.into()));
            and.push(format!("b.owner = {p}"));
        }
    }
    if let Some(cut) = &q.dated_by {
        let mut each = Vec::new();
        let mut named = Vec::new();
        for (job, day) in &cut.per_job {
            let j = arg(&mut args, Value::Text(job.clone()));
            let d = arg(&mut args, Value::Text(day.to_string()));
            each.push(format!("(b.job = {j} AND b.since <= {d})"));
            named.push(j);
        }
        let d = arg(&mut args, Value::Text(cut.other.to_string()));
        if named.is_empty() {
            each.push(format!("b.since <= {d}"));
        } else {
            each.push(format!(
                "(b.job NOT IN ({}) AND b.since <= {d})",
                named.join(", ")
            ));
        }
        and.push(format!("({})", each.join(" OR ")));
    }
    if let Some(min) = q.amount_min {
        let p = arg(&mut args, Value::Text(min.abs().to_string()));
        and.push(format!(
            "b.amount IS NOT NULL AND {AMOUNT_KEY} >= CAST({p} AS REAL)"
        ));
    }
    if let Some(max) = q.amount_max {
        let p = arg(&mut args, Value::Text(max.abs().to_string()));
        and.push(format!(
            "b.amount IS NOT NULL AND {AMOUNT_KEY} <= CAST({p} AS REAL)"
        ));
    }
    match &q.after {
        None => {}
        Some(QueueCursor::Age(day, id)) => {
            let d = arg(&mut args, Value::Text(day.to_string()));
            let i = arg(&mut args, Value::Integer(*id));
            and.push(format!("(b.since, b.id) > ({d}, {i})"));
        }
        Some(QueueCursor::Job(job, day, id)) => {
            let j = arg(&mut args, Value::Text(job.clone()));
            let d = arg(&mut args, Value::Text(day.to_string()));
            let i = arg(&mut args, Value::Integer(*id));
            and.push(format!("(b.job, b.since, b.id) > ({j}, {d}, {i})"));
        }
        Some(QueueCursor::Amount(amount, id)) => {
            // Largest first: the next page holds the smaller keys (ties by the larger id).
            let key = match amount {
                Some(a) => {
                    let p = arg(&mut args, Value::Text(a.abs().to_string()));
                    format!("CAST({p} AS REAL)")
                }
                None => "-1".into(),
            };
            let i = arg(&mut args, Value::Integer(*id));
            and.push(format!("({AMOUNT_KEY}, b.id) < ({key}, {i})"));
        }
    }
    if !and.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&and.join(" AND "));
    }
    sql.push_str(match q.sort {
        QueueSort::Age => " ORDER BY b.since, b.id",
        QueueSort::Job => " ORDER BY b.job, b.since, b.id",
        QueueSort::Amount => " ORDER BY COALESCE(ABS(CAST(b.amount AS REAL)), -1) DESC, b.id DESC",
    });
    let l = arg(&mut args, Value::Integer(q.limit as i64));
    sql.push_str(&format!(" LIMIT {l}"));
    (sql, args)
}

/// `text` with LIKE's wildcards taken literally (escaped with `\`).
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The overview's count of unresolved breaks, read in group order from `breaks_open_ages`.
const OPEN_BREAK_DAYS: &str = "SELECT job, reason, since, COUNT(*) FROM breaks
     WHERE status != 'resolved' GROUP BY job, reason, since ORDER BY job, reason, since";

const RUN_COLUMNS: &str = "r.id, r.job, r.trigger, r.status, f.name, r.started_at, r.duration_ms,
    r.records_in, r.matched, r.entries_posted, r.breaks_opened, r.breaks_closed, r.error";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        job: r.get(1)?,
        trigger: r.get(2)?,
        status: r.get(3)?,
        file: r.get(4)?,
        started_at: r.get(5)?,
        duration_ms: r.get(6)?,
        counts: [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?],
        error: r.get(12)?,
    })
}

struct RawRun {
    id: i64,
    job: String,
    trigger: String,
    status: String,
    file: Option<String>,
    started_at: String,
    duration_ms: Option<i64>,
    counts: [i64; 5],
    error: Option<String>,
}

impl RawRun {
    fn parse(self) -> Result<RunRow> {
        Ok(RunRow {
            id: self.id,
            job: self.job,
            trigger: self.trigger,
            status: self.status,
            file: self.file,
            started_at: parse_ts(&self.started_at)?,
            duration_ms: self.duration_ms.map(to_u64),
            records_in: to_u64(self.counts[0]),
            matched: to_u64(self.counts[1]),
            entries_posted: to_u64(self.counts[2]),
            breaks_opened: to_u64(self.counts[3]),
            breaks_closed: to_u64(self.counts[4]),
            error: self.error,
        })
    }
}

const FILE_COLUMNS: &str = "f.id, f.job, f.name, f.sha256, f.size, f.arrived_at, f.status,
    f.error, f.duplicate_of, f.replaced_by,
    (SELECT MAX(finished_at) FROM runs WHERE file_id = f.id)";

type RawFile = (
    (i64, String, String, String, i64, String, String),
    (Option<String>, Option<i64>, Option<i64>, Option<String>),
);

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawFile> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ),
        (r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?),
    ))
}

fn parse_file(
    ((id, job, name, sha256, size, arrived, status), (error, dup, replaced, finished)): RawFile,
) -> Result<FileRow> {
    Ok(FileRow {
        id,
        job,
        name,
        sha256,
        size: to_u64(size),
        arrived_at: parse_ts(&arrived)?,
        status: match status.as_str() {
            "processed" => FileStatus::Processed,
            "failed" => FileStatus::Failed,
            "duplicate" => FileStatus::Duplicate,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "file {id} has an unknown status {other:?}"
                )));
            }
        },
        error,
        duplicate_of: dup,
        replaced_by: replaced,
        finished_at: finished.as_deref().map(parse_ts).transpose()?,
    })
}

impl ConsoleReads for SqliteUnit<'_, '_> {
    fn queue(&mut self, q: &QueueQuery<'_>) -> Result<Vec<Break>> {
        let (sql, args) = queue_sql(q);
        let ids: Vec<i64> = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(rusqlite::params_from_iter(args), |r| r.get(0))?
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

    fn open_break_days(&mut self) -> Result<Vec<OpenBreakDay>> {
        let rows: Vec<(String, String, String, i64)> = self
            .tx
            .prepare_cached(OPEN_BREAK_DAYS)
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(job, reason, since, count)| {
                Ok(OpenBreakDay {
                    job,
                    reason: parse_enum(&reason)?,
                    since: parse_date(&since)?,
                    count: to_u64(count),
                })
            })
            .collect()
    }

    fn mail_queue(&mut self) -> Result<MailQueue> {
        let (queued, failing): (i64, Option<i64>) = self
            .tx
            .prepare_cached(
                "SELECT COUNT(*), SUM(last_error IS NOT NULL) FROM outbox WHERE sent_at IS NULL",
            )
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(map_err)?;
        Ok(MailQueue {
            queued: to_u64(queued),
            failing: to_u64(failing.unwrap_or(0)),
        })
    }

    fn files_page(&mut self, q: &FileQuery<'_>) -> Result<Vec<FileRow>> {
        let rows: Vec<RawFile> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f
                 WHERE (?1 IS NULL OR f.job = ?1) AND (?2 IS NULL OR f.status = ?2)
                   AND (?3 IS NULL OR f.id < ?3)
                 ORDER BY f.id DESC LIMIT ?4"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![
                        q.job,
                        q.status.map(|s| s.as_str()),
                        q.before,
                        q.limit as i64
                    ],
                    file_row,
                )?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter().map(parse_file).collect()
    }

    fn file_row(&mut self, id: i64) -> Result<Option<FileRow>> {
        let row: Option<RawFile> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f WHERE f.id = ?"
            ))
            .and_then(|mut s| s.query_row([id], file_row).optional())
            .map_err(map_err)?;
        row.map(parse_file).transpose()
    }

    fn runs_of_file(&mut self, file_id: i64) -> Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 WHERE r.file_id = ? ORDER BY r.id"
            ))
            .and_then(|mut s| s.query_map([file_id], run_row)?.collect())
            .map_err(map_err)?;
        rows.into_iter().map(RawRun::parse).collect()
    }

    fn runs_page(
        &mut self,
        job: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 WHERE (?1 IS NULL OR r.job = ?1) AND (?2 IS NULL OR r.id < ?2)
                 ORDER BY r.id DESC LIMIT ?3"
            ))
            .and_then(|mut s| {
                s.query_map(params![job, before, limit as i64], run_row)?
                    .collect()
            })
            .map_err(map_err)?;
        rows.into_iter().map(RawRun::parse).collect()
    }

    fn run_row(&mut self, id: i64) -> Result<Option<RunRow>> {
        let row: Option<RawRun> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 WHERE r.id = ?"
            ))
            .and_then(|mut s| s.query_row([id], run_row).optional())
            .map_err(map_err)?;
        row.map(RawRun::parse).transpose()
    }

    fn last_runs(&mut self) -> Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = self
            .tx
            .prepare_cached(&format!(
                // One index seek per job (`runs_by_job`), walking from job to job, rather than
                // a scan of every run a busy install has kept.
                "WITH RECURSIVE jobs(job) AS (
                    SELECT MIN(job) FROM runs
                    UNION ALL
                    SELECT (SELECT MIN(job) FROM runs WHERE job > jobs.job) FROM jobs
                    WHERE jobs.job IS NOT NULL
                 )
                 SELECT {RUN_COLUMNS} FROM runs r LEFT JOIN files f ON f.id = r.file_id
                 WHERE r.id IN (
                    SELECT (SELECT x.id FROM runs x WHERE x.job = jobs.job
                            ORDER BY x.started_at DESC, x.id DESC LIMIT 1)
                    FROM jobs WHERE jobs.job IS NOT NULL
                 ) ORDER BY r.job"
            ))
            .and_then(|mut s| s.query_map([], run_row)?.collect())
            .map_err(map_err)?;
        rows.into_iter().map(RawRun::parse).collect()
    }

    fn record_origin(&mut self, record_id: i64) -> Result<Option<RecordOrigin>> {
        self.tx
            .prepare_cached(
                "SELECT f.id, f.name, r.sheet, r.row FROM records r JOIN files f ON f.id = r.file_id
                 WHERE r.id = ?",
            )
            .and_then(|mut s| {
                s.query_row([record_id], |r| {
                    Ok(RecordOrigin {
                        file_id: r.get(0)?,
                        file_name: r.get(1)?,
                        sheet: r.get(2)?,
                        row: to_u64(r.get(3)?),
                    })
                })
                .optional()
            })
            .map_err(map_err)
    }

    fn job_days(&mut self, job: &str, from: NaiveDate) -> Result<Vec<JobDay>> {
        let rows: Vec<(String, [i64; 4])> = self
            .tx
            .prepare_cached(
                "SELECT substr(started_at, 1, 10) AS day, SUM(records_in), SUM(matched),
                    SUM(breaks_opened), SUM(breaks_closed)
                 FROM runs WHERE job = ?1 AND started_at >= ?2
                 GROUP BY day ORDER BY day",
            )
            .and_then(|mut s| {
                s.query_map(params![job, from.to_string()], |r| {
                    Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(day, n)| {
                Ok(JobDay {
                    day: parse_date(&day)?,
                    records: to_u64(n[0]),
                    matched: to_u64(n[1]),
                    breaks_opened: to_u64(n[2]),
                    breaks_closed: to_u64(n[3]),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for the queue's query, on a store with clerk's schema.
    fn plan(q: &QueueQuery<'_>) -> String {
        let (sql, args) = queue_sql(q);
        plan_of(&sql, args)
    }

    fn plan_of(sql: &str, args: Vec<Value>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("\n")
    }

    fn page(sort: QueueSort, after: Option<QueueCursor>) -> QueueQuery<'static> {
        QueueQuery {
            sort,
            after,
            limit: 51,
            ..Default::default()
        }
    }

    #[test]
    fn every_order_of_the_queue_walks_an_index_and_sorts_nothing() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        for q in [
            page(QueueSort::Age, None),
            page(QueueSort::Age, Some(QueueCursor::Age(day, 7))),
            page(
                QueueSort::Job,
                Some(QueueCursor::Job("bank".into(), day, 7)),
            ),
            page(
                QueueSort::Amount,
                Some(QueueCursor::Amount(Some(Decimal::new(1000, 2)), 7)),
            ),
            QueueQuery {
                owner: OwnerFilter::Nobody,
                text: Some("INV-7"),
                ..page(QueueSort::Age, None)
            },
        ] {
            let plan = plan(&q);
            assert!(
                plan.contains("USING INDEX breaks_queue_"),
                "{:?}: {plan}",
                q.sort
            );
            // A scan of the table in rowid order and a sort of every match would be the slow
            // plan at 100,000 breaks.
            assert!(!plan.contains("TEMP B-TREE"), "{:?}: {plan}", q.sort);
            assert!(!plan.contains("SCAN b\n") && plan != "SCAN b", "{plan}");
        }
    }

    #[test]
    fn a_job_filter_starts_the_walk_at_the_job() {
        let plan = plan(&QueueQuery {
            job: Some("bank-reconciliation"),
            ..page(QueueSort::Age, None)
        });
        assert!(
            plan.contains("SEARCH b USING INDEX breaks_queue_"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn the_overview_counts_open_breaks_from_an_index_without_sorting_them() {
        let plan = plan_of(OPEN_BREAK_DAYS, Vec::new());
        assert!(plan.contains("INDEX breaks_open_ages"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn cursors_read_back_as_written() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        for (sort, c) in [
            (QueueSort::Age, QueueCursor::Age(day, 3)),
            (
                QueueSort::Amount,
                QueueCursor::Amount(Some(Decimal::new(-1234, 2)), 4),
            ),
            (QueueSort::Amount, QueueCursor::Amount(None, 5)),
            (QueueSort::Job, QueueCursor::Job("a,b".into(), day, 6)),
        ] {
            assert_eq!(QueueCursor::from_param(sort, &c.to_param()), Some(c));
        }
        assert_eq!(QueueCursor::from_param(QueueSort::Age, "x,1"), None);
        assert_eq!(QueueCursor::from_param(QueueSort::Age, "2026-03-05"), None);
    }

    #[test]
    fn wildcards_in_searched_text_are_taken_literally() {
        assert_eq!(like_escaped("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
