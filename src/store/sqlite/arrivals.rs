//! SQLite: arrivals of files and statements, for the deadlines of `[[expect]]`.

use super::*;

impl Arrivals for SqliteUnit<'_, '_> {
    fn files_arrived(
        &mut self,
        job: &str,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        let rows: Vec<(String, String)> = self
            .tx
            .prepare_cached(
                "SELECT name, arrived_at FROM files
                 WHERE job = ? AND status = 'processed' AND arrived_at > ? AND arrived_at <= ?
                 ORDER BY arrived_at, id",
            )
            .and_then(|mut s| {
                s.query_map(params![job, ts(after), ts(upto)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(name, at)| Ok((name, parse_ts(&at)?)))
            .collect()
    }

    fn statements_arrived(
        &mut self,
        account: &str,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows: Vec<String> = self
            .tx
            .prepare_cached(
                "SELECT DISTINCT f.arrived_at FROM statements s JOIN files f ON f.id = s.file_id
                 WHERE REPLACE(UPPER(s.account), ' ', '') = ? AND f.status = 'processed'
                   AND f.arrived_at > ? AND f.arrived_at <= ?
                 ORDER BY f.arrived_at",
            )
            .and_then(|mut s| {
                s.query_map(params![account, ts(after), ts(upto)], |r| r.get(0))?
                    .collect()
            })
            .map_err(map_err)?;
        rows.iter().map(|t| parse_ts(t)).collect()
    }

    fn statement_accounts_of_file(&mut self, file_id: i64) -> Result<Vec<String>> {
        self.tx
            .prepare_cached(
                "SELECT DISTINCT REPLACE(UPPER(account), ' ', '') FROM statements
                 WHERE file_id = ? ORDER BY 1",
            )
            .and_then(|mut s| s.query_map([file_id], |r| r.get(0))?.collect())
            .map_err(map_err)
    }

    fn last_deadline_checked(
        &mut self,
        job: &str,
        expected: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT last_deadline FROM arrival_checks WHERE job = ? AND expected = ?",
            )
            .and_then(|mut s| s.query_row([job, expected], |r| r.get(0)).optional())
            .map_err(map_err)?;
        t.as_deref().map(parse_ts).transpose()
    }

    fn set_last_deadline_checked(
        &mut self,
        job: &str,
        expected: &str,
        deadline: DateTime<Utc>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO arrival_checks (job, expected, last_deadline) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job, expected) DO UPDATE SET last_deadline = ?3",
            )
            .and_then(|mut s| s.execute(params![job, expected, ts(deadline)]))
            .map_err(map_err)?;
        Ok(())
    }
}
