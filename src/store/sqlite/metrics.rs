//! SQLite: the figures monitoring reads, each one grouped query.

use super::*;
use crate::store::metrics::{
    ARRIVAL_BUCKETS_MS, Histogram, Metrics, Monitoring, OpenBreaks, PROCESSING_BUCKETS_MS,
};

impl Metrics for SqliteUnit<'_, '_> {
    fn monitoring(&mut self) -> Result<Monitoring> {
        // A file the job never takes as it is leaves no file row, only its break (one per
        // file): counted as "ignored".
        let files = self.rows(
            "SELECT job, status, COUNT(*) FROM files GROUP BY job, status
             UNION ALL
             SELECT job, 'ignored', COUNT(*) FROM breaks WHERE reason = 'ignored_file'
             GROUP BY job
             ORDER BY 1, 2",
            |r| Ok((r.get(0)?, r.get(1)?, to_u64(r.get(2)?))),
        )?;
        let entries = self.rows(
            "SELECT job, COUNT(*) FROM entries GROUP BY job ORDER BY job",
            |r| Ok((r.get(0)?, to_u64(r.get(1)?))),
        )?;
        let open: Vec<(String, String, String, u64)> = self.rows(
            "SELECT job, reason, since, COUNT(*) FROM breaks WHERE status != 'resolved'
             GROUP BY job, reason, since ORDER BY job, reason, since",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, to_u64(r.get(3)?))),
        )?;
        let open_breaks = open
            .into_iter()
            .map(|(job, reason, since, count)| {
                Ok(OpenBreaks {
                    job,
                    reason,
                    since: parse_date(&since)?,
                    count,
                })
            })
            .collect::<Result<_>>()?;
        let processing = self.histograms("duration_ms", PROCESSING_BUCKETS_MS)?;
        let arrival_to_posting = self.histograms("arrival_to_done_ms", ARRIVAL_BUCKETS_MS)?;
        let last: Vec<(String, String)> = self.rows(
            "SELECT job, MAX(finished_at) FROM runs
             WHERE status = 'ok' AND finished_at IS NOT NULL GROUP BY job ORDER BY job",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let last_success = last
            .into_iter()
            .map(|(job, t)| Ok((job, parse_ts(&t)?)))
            .collect::<Result<_>>()?;
        let (mail_queued, mail_failing, mail_delivery_failures) = self
            .tx
            .query_row(
                // A delivered message's last attempt was the one that worked.
                "SELECT
                    COALESCE(SUM(sent_at IS NULL), 0),
                    COALESCE(SUM(sent_at IS NULL AND last_error IS NOT NULL), 0),
                    COALESCE(SUM(CASE WHEN sent_at IS NULL THEN attempts
                                      ELSE MAX(attempts - 1, 0) END), 0)
                 FROM outbox",
                [],
                |r| Ok((to_u64(r.get(0)?), to_u64(r.get(1)?), to_u64(r.get(2)?))),
            )
            .map_err(map_err)?;
        Ok(Monitoring {
            files,
            entries,
            open_breaks,
            processing,
            arrival_to_posting,
            last_success,
            mail_queued,
            mail_failing,
            mail_delivery_failures,
        })
    }

    fn open_break_files(&mut self) -> Result<std::collections::HashMap<i64, i64>> {
        let pairs: Vec<(i64, i64)> = self.rows(
            "SELECT b.id, COALESCE(r.file_id, ru.file_id) FROM breaks b
             LEFT JOIN records r ON r.id = b.record_id
             LEFT JOIN runs ru ON ru.id = b.opened_run_id
             WHERE b.status != 'resolved' AND COALESCE(r.file_id, ru.file_id) IS NOT NULL",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(pairs.into_iter().collect())
    }
}

impl SqliteUnit<'_, '_> {
    fn rows<T>(
        &mut self,
        sql: &str,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(map_err)?;
        stmt.query_map([], row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(map_err)
    }

    /// Per job, the finished runs' `column` (milliseconds) counted into cumulative buckets by
    /// SQLite itself: one row per job whatever the number of runs.
    fn histograms(&mut self, column: &str, bounds: &[u64]) -> Result<Vec<(String, Histogram)>> {
        let buckets: Vec<String> = bounds
            .iter()
            .map(|b| format!("SUM({column} <= {b})"))
            .collect();
        let sql = format!(
            "SELECT job, COUNT(*), SUM({column}), {} FROM runs
             WHERE {column} IS NOT NULL AND finished_at IS NOT NULL GROUP BY job ORDER BY job",
            buckets.join(", ")
        );
        let n = bounds.len();
        self.rows(&sql, |r| {
            let mut cumulative = Vec::with_capacity(n);
            for i in 0..n {
                cumulative.push(to_u64(r.get(3 + i)?));
            }
            Ok((
                r.get(0)?,
                Histogram {
                    cumulative,
                    count: to_u64(r.get(1)?),
                    sum_ms: to_u64(r.get(2)?),
                },
            ))
        })
    }
}
