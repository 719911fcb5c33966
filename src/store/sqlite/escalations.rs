//! SQLite: the time each break was escalated (`breaks.escalated_at`).

use super::*;
use crate::store::escalations::Escalations;

impl Escalations for SqliteUnit<'_, '_> {
    fn escalated_breaks(&mut self, job: &str) -> Result<HashMap<i64, DateTime<Utc>>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT id, escalated_at FROM breaks
                 WHERE job = ? AND status != 'resolved' AND escalated_at IS NOT NULL",
            )
            .map_err(map_err)?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(id, at)| Ok((id, parse_ts(&at)?)))
            .collect()
    }

    fn mark_escalated(&mut self, ids: &[i64], at: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "UPDATE breaks SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL",
            )
            .map_err(map_err)?;
        let mut marked = Vec::new();
        for &id in ids {
            if stmt.execute(params![ts(at), id]).map_err(map_err)? == 1 {
                marked.push(id);
            }
        }
        Ok(marked)
    }
}
