//! SQLite: reversals (an entry undone by its negation, its match undone) and accounting
//! periods (closed months, and the posting date an entry gets when its own is in one).

use super::*;
use crate::model::JournalEntry;
use crate::store::reversals::{
    EntryToReverse, NewReversal, Period, PeriodEvent, PeriodRow, Reversals, Reversed,
};

impl Reversals for SqliteUnit<'_, '_> {
    fn entry_to_reverse(&mut self, entry_id: i64) -> Result<Option<EntryToReverse>> {
        type Head = (
            i64,
            String,
            i64,
            String,
            String,
            String,
            Option<i64>,
            Option<i64>,
        );
        let head: Option<Head> = self
            .tx
            .prepare_cached(
                "SELECT e.id, e.job, e.match_id, e.idempotency_key, e.posting_date, e.narrative,
                        e.reverses, (SELECT r.id FROM entries r WHERE r.reverses = e.id)
                 FROM entries e WHERE e.id = ?",
            )
            .and_then(|mut s| {
                s.query_row([entry_id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some((id, job, match_id, key, date, narrative, reverses, reversed_by)) = head else {
            return Ok(None);
        };
        let record_ids = self
            .tx
            .prepare_cached("SELECT id FROM records WHERE match_id = ? ORDER BY id")
            .and_then(|mut s| s.query_map([match_id], |r| r.get(0))?.collect())
            .map_err(map_err)?;
        Ok(Some(EntryToReverse {
            id,
            job,
            match_id,
            idempotency_key: key,
            posting_date: parse_date(&date)?,
            narrative,
            lines: super::reports::entry_lines(self.tx, id)?,
            reverses,
            reversed_by,
            record_ids,
        }))
    }

    fn entry_of_match(&mut self, match_id: i64) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(
                "SELECT id FROM entries WHERE match_id = ? AND reverses IS NULL ORDER BY id LIMIT 1",
            )
            .and_then(|mut s| s.query_row([match_id], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn post_reversal(&mut self, r: &NewReversal<'_>) -> Result<Reversed> {
        let Some(original) = self.entry_to_reverse(r.reverses)? else {
            return Err(StoreError::Conflict(format!(
                "there is no entry {}",
                r.reverses
            )));
        };
        refuse_reversal(&original)?;
        crate::post::check_balanced(&r.entry.lines)
            .map_err(|e| StoreError::Conflict(format!("reversal refused: {e}")))?;
        let entry_id = self.insert_entry(
            &original.job,
            r.run_id,
            original.match_id,
            r.entry,
            r.at,
            Some(original.id),
        )?;
        let m = original.match_id;
        {
            let mut keep = self
                .tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO reversed_match_records (match_id, record_id, reversed_at)
                     VALUES (?, ?, ?)",
                )
                .map_err(map_err)?;
            for &id in &original.record_ids {
                keep.execute(params![m, id, ts(r.at)]).map_err(map_err)?;
            }
        }
        self.tx
            .prepare_cached("UPDATE records SET match_id = NULL WHERE match_id = ?")
            .and_then(|mut s| s.execute([m]))
            .map_err(map_err)?;
        // A bank line posted as part of a ledger item and reversed no longer pays it: the item
        // is owed in full again (the entry and the reversal stay, as every entry does).
        {
            let mut unlink = self
                .tx
                .prepare_cached("DELETE FROM part_payments WHERE statement_record_id = ?")
                .map_err(map_err)?;
            for &id in &original.record_ids {
                unlink.execute([id]).map_err(map_err)?;
            }
        }
        let how = format!("match {m} reversed by {}: {}", r.actor, r.reason);
        let mut reopened = Vec::new();
        let mut opened = Vec::new();
        for &record in &original.record_ids {
            match self.latest_break_of_record(record)? {
                Some((b, true)) => {
                    self.tx
                        .prepare_cached(
                            "UPDATE breaks SET status = 'open', closed_at = NULL, resolution = NULL,
                                closed_run_id = NULL WHERE id = ?",
                        )
                        .and_then(|mut s| s.execute([b]))
                        .map_err(map_err)?;
                    self.history(b, r.at, r.actor, "reopened", Some(&how))?;
                    reopened.push(b);
                }
                // Open already (another job's copy of the line): it says so itself.
                Some(_) => {}
                None => {
                    if let Some(b) = self.open_reversed_break(record, &original.job, r, &how)? {
                        opened.push(b);
                    }
                }
            }
        }
        Ok(Reversed {
            entry_id,
            match_id: m,
            records: original.record_ids,
            reopened,
            opened,
        })
    }

    fn latest_break_of_record(&mut self, record_id: i64) -> Result<Option<(i64, bool)>> {
        self.tx
            .prepare_cached(
                "SELECT id, status = 'resolved' FROM breaks WHERE record_id = ?
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row([record_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(map_err)
    }

    fn propose_reversal(&mut self, p: &NewApproval<'_>, entry: i64) -> Result<i64> {
        let pending: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM approvals WHERE reverses_entry = ? AND status = 'pending'",
            )
            .and_then(|mut s| s.query_row([entry], |r| r.get(0)).optional())
            .map_err(map_err)?;
        if let Some(other) = pending {
            return Err(StoreError::Conflict(format!(
                "the reversal of entry {entry} awaits approval of {} already; approve, reject \
                 or withdraw that one first",
                approval_label(other)
            )));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO approvals (kind, job, reason, currency, amount, proposed_by,
                    proposed_at, status, reverses_entry)
                 VALUES ('reverse', ?, ?, ?, ?, ?, ?, 'pending', ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    p.job,
                    p.reason,
                    p.currency.as_str(),
                    p.amount.to_string(),
                    p.proposed_by,
                    ts(p.at),
                    entry
                ])
            })
            .map_err(map_err)?;
        let id = self.tx.last_insert_rowid();
        for (position, &b) in p.break_ids.iter().enumerate() {
            // A break named by another pending proposal is only named here, not kept to this
            // one: the unique index allows one pending proposal per break.
            let free: bool = !self
                .tx
                .prepare_cached("SELECT 1 FROM approval_breaks WHERE break_id = ? AND pending = 1")
                .and_then(|mut s| s.exists([b]))
                .map_err(map_err)?;
            self.tx
                .prepare_cached(
                    "INSERT INTO approval_breaks (approval_id, break_id, position, pending)
                     VALUES (?, ?, ?, ?)",
                )
                .and_then(|mut s| s.execute(params![id, b, position as i64, free as i64]))
                .map_err(map_err)?;
            let line = format!("{} {} {}", p.kind.words(), approval_label(id), p.history);
            self.history(b, p.at, p.proposed_by, "proposed", Some(&line))?;
        }
        Ok(id)
    }

    fn reversal_proposed(&mut self, approval_id: i64) -> Result<Option<i64>> {
        let e: Option<Option<i64>> = self
            .tx
            .prepare_cached("SELECT reverses_entry FROM approvals WHERE id = ?")
            .and_then(|mut s| s.query_row([approval_id], |r| r.get(0)).optional())
            .map_err(map_err)?;
        Ok(e.flatten())
    }

    fn close_period(&mut self, period: Period, by: &str, at: DateTime<Utc>) -> Result<()> {
        let p = period.to_string();
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO periods (period, status, changed_by, changed_at)
                 VALUES (?1, 'closed', ?2, ?3)
                 ON CONFLICT (period) DO UPDATE SET status = 'closed', changed_by = ?2,
                    changed_at = ?3 WHERE status = 'open'",
            )
            .and_then(|mut s| s.execute(params![p, by, ts(at)]))
            .map_err(map_err)?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "period {p} is closed already"
            )));
        }
        self.period_history(&p, at, by, "closed", None)
    }

    fn reopen_period(
        &mut self,
        period: Period,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let p = period.to_string();
        let n = self
            .tx
            .prepare_cached(
                "UPDATE periods SET status = 'open', changed_by = ?2, changed_at = ?3
                 WHERE period = ?1 AND status = 'closed'",
            )
            .and_then(|mut s| s.execute(params![p, by, ts(at)]))
            .map_err(map_err)?;
        if n != 1 {
            return Err(StoreError::Conflict(format!(
                "period {p} is not closed; only a closed period is reopened"
            )));
        }
        self.period_history(&p, at, by, "reopened", Some(reason))
    }

    fn periods(&mut self) -> Result<Vec<PeriodRow>> {
        let rows: Vec<(String, String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT period, status, changed_by, changed_at FROM periods ORDER BY period",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (period, status, changed_by, changed_at) in rows {
            let events: Vec<(String, String, String, Option<String>)> = self
                .tx
                .prepare_cached(
                    "SELECT at, actor, action, reason FROM period_history WHERE period = ?
                     ORDER BY id",
                )
                .and_then(|mut s| {
                    s.query_map([&period], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect()
                })
                .map_err(map_err)?;
            let history = events
                .into_iter()
                .map(|(at, actor, action, reason)| {
                    Ok(PeriodEvent {
                        at: parse_ts(&at)?,
                        actor,
                        action,
                        reason,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(PeriodRow {
                period,
                status,
                changed_by,
                changed_at: parse_ts(&changed_at)?,
                history,
            });
        }
        Ok(out)
    }

    fn open_posting_date(&mut self, date: NaiveDate) -> Result<NaiveDate> {
        let from = Period::of(date);
        let closed: HashSet<String> = self
            .tx
            .prepare_cached("SELECT period FROM periods WHERE status = 'closed' AND period >= ?")
            .and_then(|mut s| s.query_map([from.to_string()], |r| r.get(0))?.collect())
            .map_err(map_err)?;
        if !closed.contains(&from.to_string()) {
            return Ok(date);
        }
        let mut p = from.next();
        while closed.contains(&p.to_string()) {
            p = p.next();
        }
        Ok(p.first_day())
    }
}

/// A reversal is never reversed, and an entry is reversed once.
fn refuse_reversal(e: &EntryToReverse) -> Result<()> {
    match e.why_not() {
        Some(why) => Err(StoreError::Conflict(why)),
        None => Ok(()),
    }
}

impl SqliteUnit<'_, '_> {
    /// Inserts an entry and its lines; every way of posting comes here. An entry dated in a
    /// closed period is posted on the first day of the next open one: its own date is kept as
    /// its value date and said in its narrative.
    pub(super) fn insert_entry(
        &mut self,
        job: &str,
        run_id: i64,
        match_id: i64,
        entry: &JournalEntry,
        at: DateTime<Utc>,
        reverses: Option<i64>,
    ) -> Result<i64> {
        let posting_date = self.open_posting_date(entry.posting_date)?;
        let (value_date, narrative) = if posting_date == entry.posting_date {
            (None, entry.narrative.clone())
        } else {
            (
                Some(entry.posting_date.to_string()),
                format!(
                    "{} (dated {}; period {} closed)",
                    entry.narrative,
                    entry.posting_date,
                    Period::of(entry.posting_date)
                ),
            )
        };
        self.tx
            .prepare_cached(
                "INSERT INTO entries (idempotency_key, job, run_id, match_id, posting_date,
                    narrative, posted_at, reverses, value_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.idempotency_key,
                    job,
                    run_id,
                    match_id,
                    posting_date.to_string(),
                    narrative,
                    ts(at),
                    reverses,
                    value_date
                ])
            })
            .map_err(map_err)?;
        let entry_id = self.tx.last_insert_rowid();
        let mut line = self
            .tx
            .prepare_cached(
                "INSERT INTO entry_lines (entry_id, line_no, account, currency, amount,
                     transaction_amount, transaction_currency, rate)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(map_err)?;
        for (i, l) in entry.lines.iter().enumerate() {
            let fx = l.fx.as_ref();
            line.execute(params![
                entry_id,
                i as i64,
                l.account,
                l.currency.as_str(),
                l.amount.to_string(),
                fx.map(|f| f.amount.to_string()),
                fx.map(|f| f.currency.as_str()),
                fx.map(|f| f.rate.to_string()),
            ])
            .map_err(map_err)?;
        }
        Ok(entry_id)
    }

    /// The key an entry posts under: `key` when no entry has it; `None` when one has it and
    /// stands (posted already); when the entry holding it was reversed, the same asked of
    /// `key` followed by that reversal.
    pub(super) fn key_after_reversals(&mut self, key: &str) -> Result<Option<String>> {
        let mut key = key.to_string();
        loop {
            let held: Option<(i64, Option<i64>)> = self
                .tx
                .prepare_cached(
                    "SELECT e.id, (SELECT r.id FROM entries r WHERE r.reverses = e.id)
                     FROM entries e WHERE e.idempotency_key = ?",
                )
                .and_then(|mut s| {
                    s.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(map_err)?;
            match held {
                None => return Ok(Some(key)),
                Some((_, None)) => return Ok(None),
                Some((_, Some(reversal))) => key = format!("{key} after reversal {reversal}"),
            }
        }
    }

    /// A `reversed` break for a record open again that never had one (matched at once), so a
    /// person sees it.
    fn open_reversed_break(
        &mut self,
        record: i64,
        job: &str,
        r: &NewReversal<'_>,
        how: &str,
    ) -> Result<Option<i64>> {
        let Some((_, rec, _)) = self.record_by_id(record)? else {
            return Ok(None);
        };
        let side = match rec.record.side {
            Side::Ledger => "ledger item",
            Side::Statement => "statement line",
        };
        let source: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT f.name, r.sheet, r.row FROM records r JOIN files f ON f.id = r.file_id
                 WHERE r.id = ?",
            )
            .and_then(|mut s| {
                s.query_row([record], |r| {
                    let name: String = r.get(0)?;
                    let sheet: Option<String> = r.get(1)?;
                    let row: i64 = r.get(2)?;
                    Ok(match sheet {
                        Some(sheet) => format!("{name} sheet {sheet} line {row}"),
                        None => format!("{name} line {row}"),
                    })
                })
                .optional()
            })
            .map_err(map_err)?;
        let detail = format!("{side} open again: {how}");
        self.open_break(&NewBreak {
            job,
            run_id: r.run_id,
            reason: BreakReason::Reversed,
            detail: &detail,
            amount: Some(rec.record.amount),
            currency: Some(rec.record.currency),
            difference: None,
            since: rec.record.value_date,
            owner: None,
            record_id: Some(record),
            source: source.as_deref(),
            at: r.at,
            subject: None,
        })
    }

    fn period_history(
        &mut self,
        period: &str,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO period_history (period, at, actor, action, reason) VALUES (?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| s.execute(params![period, ts(at), actor, action, reason]))
            .map_err(map_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// 0024 rebuilds `approvals` (a CHECK cannot change in place): a store with proposals
    /// from before keeps them, their breaks and the one-pending-per-break rule.
    #[test]
    fn proposals_kept_before_0024_survive_the_rebuild_of_approvals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clerk.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
            for sql in &MIGRATIONS[..23] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 23).unwrap();
            conn.execute_batch(
                "INSERT INTO runs (id, job, trigger, started_at) VALUES (1, 'bank', 'manual', '2026-03-02T07:00:00Z');
                 INSERT INTO breaks (id, job, reason, status, detail, since, opened_run_id, opened_at)
                    VALUES (5, 'bank', 'missing_in_ledger', 'open', 'waits', '2026-03-02', 1, '2026-03-02T07:00:00Z');
                 INSERT INTO approvals (id, kind, job, reason, currency, amount, proposed_by, proposed_at, status)
                    VALUES (3, 'resolve', 'bank', 'fee', 'EUR', '1500.00', 'anna', '2026-03-02T08:00:00Z', 'pending');
                 INSERT INTO approval_breaks (approval_id, break_id, position, pending) VALUES (3, 5, 0, 1);",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let a = crate::store::in_read(&mut store, |u| u.approval(3))
            .unwrap()
            .unwrap();
        assert_eq!(a.kind, ApprovalKind::Resolve);
        assert_eq!(a.break_ids, [5]);
        assert_eq!(a.amount.to_string(), "1500.00");
        assert_eq!(a.status, ApprovalStatus::Pending);
        let ts = "2026-03-02T09:00:00Z".parse().unwrap();
        let second = crate::store::in_unit(&mut store, |u| {
            u.propose(&NewApproval {
                kind: ApprovalKind::ForceMatch,
                job: "bank",
                break_ids: &[5],
                reason: "x",
                difference_account: None,
                currency: "EUR".parse().unwrap(),
                amount: "1500.00".parse().unwrap(),
                proposed_by: "otto",
                at: ts,
                history: "awaits approval",
            })
        });
        assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
        assert!(store.damage(CheckDepth::Thorough).unwrap().is_empty());
    }
}
