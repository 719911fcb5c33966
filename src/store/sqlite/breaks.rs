//! SQLite: breaks and the workflow on them.

use super::*;

impl Breaks for SqliteUnit<'_, '_> {
    fn open_break(&mut self, b: &NewBreak<'_>) -> Result<Option<i64>> {
        let n = self
            .tx
            .prepare_cached(
                // No conflict target: a record, or a subject, has at most one unresolved
                // break, and either index turns a second one into nothing.
                "INSERT INTO breaks (job, reason, status, detail, amount, currency, difference,
                    since, owner, record_id, source, opened_run_id, opened_at, subject)
                 VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    b.job,
                    b.reason.as_str(),
                    b.detail,
                    b.amount.map(|a| a.to_string()),
                    b.currency.map(|c| c.as_str().to_string()),
                    b.difference.map(|d| d.to_string()),
                    b.since.to_string(),
                    b.owner,
                    b.record_id,
                    b.source,
                    b.run_id,
                    ts(b.at),
                    b.subject
                ])
            })
            .map_err(map_err)?;
        if n != 1 {
            return Ok(None);
        }
        let id = self.tx.last_insert_rowid();
        self.history(id, b.at, CLERK, "opened", Some(b.detail))?;
        Ok(Some(id))
    }

    fn records_with_open_breaks(&mut self, job: &str) -> Result<std::collections::HashSet<i64>> {
        self.tx
            .prepare_cached(
                "SELECT record_id FROM breaks
                 WHERE job = ? AND status != 'resolved' AND record_id IS NOT NULL",
            )
            .and_then(|mut s| s.query_map([job], |r| r.get(0))?.collect())
            .map_err(map_err)
    }

    fn close_breaks_of_records(
        &mut self,
        record_ids: &[i64],
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let mut closed = 0;
        for id in record_ids {
            let open: Option<i64> = self
                .tx
                .prepare_cached(
                    "SELECT id FROM breaks WHERE record_id = ? AND status != 'resolved'",
                )
                .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
                .map_err(map_err)?;
            if let Some(break_id) = open {
                self.tx
                    .prepare_cached(
                        "UPDATE breaks SET status = 'resolved', closed_at = ?, closed_run_id = ?,
                            resolution = ? WHERE id = ?",
                    )
                    .and_then(|mut s| s.execute(params![ts(at), run_id, resolution, break_id]))
                    .map_err(map_err)?;
                self.history(break_id, at, CLERK, "resolved", Some(resolution))?;
                closed += 1;
            }
        }
        Ok(closed)
    }

    fn open_subjects(&mut self, job: &str) -> Result<Vec<(i64, String)>> {
        self.tx
            .prepare_cached(
                "SELECT id, subject FROM breaks
                 WHERE job = ? AND subject IS NOT NULL AND status != 'resolved' ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map_err(map_err)
    }

    fn break_about(&mut self, job: &str, subject: &str) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM breaks WHERE job = ? AND subject = ? LIMIT 1")
            .and_then(|mut s| s.exists(params![job, subject]))
            .map_err(map_err)
    }

    fn update_break(
        &mut self,
        id: i64,
        reason: BreakReason,
        detail: &str,
        difference: Option<Decimal>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE breaks SET reason = ?, detail = ?, difference = ?
                 WHERE id = ? AND status != 'resolved'
                   AND (reason != ? OR detail != ? OR difference IS NOT ?)",
            )
            .and_then(|mut s| {
                let diff = difference.map(|d| d.to_string());
                s.execute(params![
                    reason.as_str(),
                    detail,
                    diff,
                    id,
                    reason.as_str(),
                    detail,
                    diff
                ])
            })
            .map_err(map_err)?;
        if n == 1 {
            self.history(id, at, CLERK, "updated", Some(detail))?;
        }
        Ok(n == 1)
    }

    fn close_break(
        &mut self,
        id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE breaks SET status = 'resolved', closed_at = ?, closed_run_id = ?,
                    resolution = ? WHERE id = ? AND status != 'resolved'",
            )
            .and_then(|mut s| s.execute(params![ts(at), run_id, resolution, id]))
            .map_err(map_err)?;
        if n == 1 {
            self.history(id, at, CLERK, "resolved", Some(resolution))?;
        }
        Ok(n == 1)
    }

    fn breaks(&mut self, f: &BreakFilter<'_>) -> Result<Vec<Break>> {
        let status = match f.status {
            StatusFilter::Unresolved => Some("unresolved"),
            StatusFilter::Is(s) => Some(s.as_str()),
            StatusFilter::Any => None,
        };
        let limit = f.limit.map(|l| l as i64).unwrap_or(-1);
        let ids: Vec<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM breaks
                 WHERE (?1 IS NULL OR job = ?1)
                   AND (?2 IS NULL OR (?2 = 'unresolved' AND status != 'resolved') OR status = ?2)
                   AND (?3 IS NULL OR reason = ?3)
                   AND (?4 IS NULL OR owner = ?4)
                 ORDER BY since, id
                 LIMIT ?5",
            )
            .and_then(|mut s| {
                s.query_map(
                    params![f.job, status, f.reason.map(|r| r.as_str()), f.owner, limit],
                    |r| r.get(0),
                )?
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

    fn break_by_id(&mut self, id: i64) -> Result<Option<Break>> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            [Option<String>; 3],
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = self
            .tx
            .prepare_cached(
                "SELECT id, job, reason, status, detail, amount, currency, difference, since,
                    owner, opened_at, closed_at, resolution, record_id, source
                 FROM breaks WHERE id = ?",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        [r.get(5)?, r.get(6)?, r.get(7)?],
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                        r.get(12)?,
                        r.get(13)?,
                        r.get(14)?,
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        row.map(
            |(
                id,
                job,
                reason,
                status,
                detail,
                [amount, currency, difference],
                since,
                owner,
                opened,
                closed,
                resolution,
                record_id,
                source,
            )| {
                Ok(Break {
                    id,
                    job,
                    reason: parse_enum(&reason)?,
                    status: parse_enum(&status)?,
                    detail,
                    amount: amount.as_deref().map(parse_decimal).transpose()?,
                    currency: currency.as_deref().map(parse_currency).transpose()?,
                    difference: difference.as_deref().map(parse_decimal).transpose()?,
                    since: parse_date(&since)?,
                    owner,
                    opened_at: parse_ts(&opened)?,
                    closed_at: closed.as_deref().map(parse_ts).transpose()?,
                    resolution,
                    record_id,
                    source,
                })
            },
        )
        .transpose()
    }

    fn break_history(&mut self, id: i64) -> Result<Vec<BreakEvent>> {
        let rows: Vec<(String, String, String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT at, actor, action, detail FROM break_history WHERE break_id = ?
                 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(map_err)?;
        rows.into_iter()
            .map(|(at, actor, action, detail)| {
                Ok(BreakEvent {
                    at: parse_ts(&at)?,
                    actor,
                    action,
                    detail,
                })
            })
            .collect()
    }

    fn work_break(
        &mut self,
        id: i64,
        action: &BreakAction<'_>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let current = self
            .break_by_id(id)?
            .ok_or_else(|| StoreError::Conflict(format!("there is no exception E-{id}")))?;
        if current.status == BreakStatus::Resolved {
            match action {
                BreakAction::Note(_) => {}
                BreakAction::Reopen => return self.reopen_resolved(id, &current, actor, at),
                _ => {
                    return Err(StoreError::Conflict(format!(
                        "exception E-{id} is resolved ({}); reopen it first, or add a note",
                        current.resolution.as_deref().unwrap_or("")
                    )));
                }
            }
        }
        let (name, detail) = match action {
            BreakAction::Assign(owner) => {
                self.tx
                    .execute(
                        "UPDATE breaks SET owner = ? WHERE id = ?",
                        params![owner, id],
                    )
                    .map_err(map_err)?;
                ("assigned", Some(format!("to {owner}")))
            }
            BreakAction::Note(text) => ("note", Some(text.to_string())),
            BreakAction::Investigate | BreakAction::Reopen => {
                let (status, name) = if matches!(action, BreakAction::Investigate) {
                    ("investigating", "investigating")
                } else {
                    ("open", "reopened")
                };
                self.tx
                    .execute(
                        "UPDATE breaks SET status = ? WHERE id = ?",
                        params![status, id],
                    )
                    .map_err(map_err)?;
                (name, None)
            }
        };
        self.history(id, at, actor, name, detail.as_deref())
    }

    fn resolve_break(
        &mut self,
        id: i64,
        resolution: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let current = self
            .break_by_id(id)?
            .ok_or_else(|| StoreError::Conflict(format!("there is no exception E-{id}")))?;
        if current.status == BreakStatus::Resolved {
            return Err(StoreError::Conflict(format!(
                "exception E-{id} is already resolved"
            )));
        }
        self.tx
            .execute(
                "UPDATE breaks SET status = 'resolved', closed_at = ?, resolution = ? WHERE id = ?",
                params![ts(at), resolution, id],
            )
            .map_err(map_err)?;
        self.history(id, at, actor, "resolved", Some(resolution))
    }
}

impl SqliteUnit<'_, '_> {
    /// A resolved break back to open, its resolution kept in the history. Refused while what
    /// it is about is settled otherwise: its record matched since (the match is the answer),
    /// or another break about the same record or subject open (work that one).
    fn reopen_resolved(
        &mut self,
        id: i64,
        current: &Break,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(record) = current.record_id {
            let (matched, replaced_by): (Option<i64>, Option<i64>) = self
                .tx
                .query_row(
                    "SELECT match_id, CASE WHEN out_of_matching = 'replaced' THEN replaced_by END
                     FROM records WHERE id = ?",
                    [record],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?
                .unwrap_or_default();
            if let Some(m) = matched {
                return Err(StoreError::Conflict(format!(
                    "exception E-{id} cannot be reopened: its record {record} is matched (match {m}); \
                     the match is what settled it"
                )));
            }
            if let Some(next) = replaced_by {
                return Err(StoreError::Conflict(format!(
                    "exception {id} cannot be reopened: its record {record} was replaced by a \
                     later version of the item (record {next}), which is the one that reconciles"
                )));
            }
        }
        let other: Option<i64> = self
            .tx
            .query_row(
                "SELECT b.id FROM breaks b, breaks me WHERE me.id = ?1 AND b.id != me.id
                   AND b.status != 'resolved'
                   AND ((me.record_id IS NOT NULL AND b.record_id = me.record_id)
                     OR (me.subject IS NOT NULL AND b.job = me.job AND b.subject = me.subject))
                 LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        if let Some(other) = other {
            return Err(StoreError::Conflict(format!(
                "exception E-{id} cannot be reopened: exception E-{other} about the same item is open; work that one"
            )));
        }
        self.tx
            .execute(
                "UPDATE breaks SET status = 'open', closed_at = NULL, resolution = NULL WHERE id = ?",
                [id],
            )
            .map_err(map_err)?;
        let was = format!(
            "was resolved: {}",
            current.resolution.as_deref().unwrap_or("(no reason given)")
        );
        self.history(id, at, actor, "reopened", Some(&was))
    }
}
