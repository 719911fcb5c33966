//! SQLite: activity, totals, runs and entries for reporting.

use super::*;
use crate::model::fx::LineFx;

impl Reports for SqliteUnit<'_, '_> {
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
            let lines = entry_lines(self.tx, id)?;
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

/// The lines of entry `id`, in posting order, each with its foreign amount and rate when the
/// entry was booked in the functional currency.
pub(super) fn entry_lines(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<Vec<EntryLine>> {
    type Fx = (Option<String>, Option<String>, Option<String>);
    let raw: Vec<(String, String, String, Fx)> = tx
        .prepare_cached(
            "SELECT account, currency, amount, transaction_amount, transaction_currency, rate
             FROM entry_lines WHERE entry_id = ? ORDER BY line_no",
        )
        .and_then(|mut s| {
            s.query_map([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    (r.get(3)?, r.get(4)?, r.get(5)?),
                ))
            })?
            .collect()
        })
        .map_err(map_err)?;
    raw.into_iter()
        .map(|(account, currency, amount, fx)| {
            let fx = match fx {
                (Some(a), Some(c), Some(r)) => Some(LineFx {
                    amount: parse_decimal(&a)?,
                    currency: parse_currency(&c)?,
                    rate: parse_decimal(&r)?,
                }),
                _ => None,
            };
            Ok(EntryLine {
                account,
                currency: parse_currency(&currency)?,
                amount: parse_decimal(&amount)?,
                fx,
            })
        })
        .collect()
}
