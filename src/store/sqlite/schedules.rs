//! SQLite: when scheduled jobs last fired.

use super::*;

impl Schedules for SqliteUnit<'_, '_> {
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
}
