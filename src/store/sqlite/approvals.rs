//! SQLite: proposals waiting for a second person (four eyes).

use super::*;

const APPROVAL_COLUMNS: &str = "id, kind, job, reason, difference_account, currency, amount,
    proposed_by, proposed_at, status, decided_by, decided_at, decision_note, entry_id";

/// A row of `approvals` as SQLite gives it, before its text is read into types.
type Row = (
    i64,
    [String; 3],
    Option<String>,
    [String; 4],
    String,
    [Option<String>; 3],
    Option<i64>,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        [r.get(1)?, r.get(2)?, r.get(3)?],
        r.get(4)?,
        [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
        r.get(9)?,
        [r.get(10)?, r.get(11)?, r.get(12)?],
        r.get(13)?,
    ))
}

impl Approvals for SqliteUnit<'_, '_> {
    fn set_approval_payload(&mut self, id: i64, payload: &str) -> Result<()> {
        // Only while nobody has decided it: what was approved is what was proposed.
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE approvals SET payload = ? WHERE id = ? AND status = 'pending'
                    AND payload IS NULL",
            )
            .and_then(|mut s| s.execute(params![payload, id]))
            .map_err(map_err)?;
        if changed != 1 {
            return Err(StoreError::Conflict(format!(
                "{} is not a pending proposal without data",
                approval_label(id)
            )));
        }
        Ok(())
    }

    fn approval_payload(&mut self, id: i64) -> Result<Option<String>> {
        let payload: Option<Option<String>> = self
            .tx
            .prepare_cached("SELECT payload FROM approvals WHERE id = ?")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(map_err)?;
        Ok(payload.flatten())
    }

    fn propose(&mut self, p: &NewApproval<'_>) -> Result<i64> {
        if p.break_ids.is_empty() {
            return Err(StoreError::Conflict(
                "a proposal names at least one break".into(),
            ));
        }
        for &b in p.break_ids {
            if let Some(other) = self.pending_of_break(b)? {
                return Err(StoreError::Conflict(format!(
                    "exception E-{b} awaits approval of {} already; approve, reject or \
                     withdraw that one first",
                    approval_label(other)
                )));
            }
        }
        self.tx
            .prepare_cached(
                "INSERT INTO approvals (kind, job, reason, difference_account, currency, amount,
                    proposed_by, proposed_at, status)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            )
            .and_then(|mut s| {
                s.execute(params![
                    p.kind.as_str(),
                    p.job,
                    p.reason,
                    p.difference_account,
                    p.currency.as_str(),
                    p.amount.to_string(),
                    p.proposed_by,
                    ts(p.at),
                ])
            })
            .map_err(map_err)?;
        let id = self.tx.last_insert_rowid();
        for (position, &b) in p.break_ids.iter().enumerate() {
            self.tx
                .prepare_cached(
                    "INSERT INTO approval_breaks (approval_id, break_id, position, pending)
                     VALUES (?, ?, ?, 1)",
                )
                .and_then(|mut s| s.execute(params![id, b, position as i64]))
                .map_err(map_err)?;
            let line = format!("{} {} {}", p.kind.words(), approval_label(id), p.history);
            self.history(b, p.at, p.proposed_by, "proposed", Some(&line))?;
        }
        Ok(id)
    }

    fn approval(&mut self, id: i64) -> Result<Option<Approval>> {
        let r: Option<Row> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?"
            ))
            .and_then(|mut s| s.query_row([id], row).optional())
            .map_err(map_err)?;
        r.map(|r| self.read_approval(r)).transpose()
    }

    fn pending_approvals(&mut self) -> Result<Vec<Approval>> {
        let rows: Vec<Row> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status = 'pending' ORDER BY id"
            ))
            .and_then(|mut s| s.query_map([], row)?.collect())
            .map_err(map_err)?;
        rows.into_iter().map(|r| self.read_approval(r)).collect()
    }

    fn approvals_for_break(&mut self, break_id: i64) -> Result<Vec<Approval>> {
        let rows: Vec<Row> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals
                 WHERE id IN (SELECT approval_id FROM approval_breaks WHERE break_id = ?)
                 ORDER BY id"
            ))
            .and_then(|mut s| s.query_map([break_id], row)?.collect())
            .map_err(map_err)?;
        rows.into_iter().map(|r| self.read_approval(r)).collect()
    }

    fn decide_approval(&mut self, id: i64, d: &Decision<'_>) -> Result<bool> {
        if d.status == ApprovalStatus::Pending {
            return Err(StoreError::Other(
                "a decision approves, rejects or withdraws".into(),
            ));
        }
        let n = self
            .tx
            .prepare_cached(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?,
                    decision_note = ?, entry_id = ?
                 WHERE id = ? AND status = 'pending'",
            )
            .and_then(|mut s| {
                s.execute(params![
                    d.status.as_str(),
                    d.by,
                    ts(d.at),
                    d.note,
                    d.entry_id,
                    id
                ])
            })
            .map_err(map_err)?;
        if n != 1 {
            return Ok(false);
        }
        self.tx
            .prepare_cached("UPDATE approval_breaks SET pending = 0 WHERE approval_id = ?")
            .and_then(|mut s| s.execute([id]))
            .map_err(map_err)?;
        let kind: String = self
            .tx
            .query_row("SELECT kind FROM approvals WHERE id = ?", [id], |r| {
                r.get(0)
            })
            .map_err(map_err)?;
        let kind: ApprovalKind = parse_enum(&kind)?;
        let line = format!("{} {} {}", kind.words(), approval_label(id), d.history);
        for b in self.breaks_of_approval(id)? {
            self.history(b, d.at, d.by, d.status.as_str(), Some(&line))?;
        }
        Ok(true)
    }
}

impl SqliteUnit<'_, '_> {
    fn pending_of_break(&mut self, break_id: i64) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(
                "SELECT approval_id FROM approval_breaks WHERE break_id = ? AND pending = 1",
            )
            .and_then(|mut s| s.query_row([break_id], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn breaks_of_approval(&mut self, id: i64) -> Result<Vec<i64>> {
        self.tx
            .prepare_cached(
                "SELECT break_id FROM approval_breaks WHERE approval_id = ? ORDER BY position",
            )
            .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect())
            .map_err(map_err)
    }

    fn read_approval(&mut self, r: Row) -> Result<Approval> {
        let (
            id,
            [kind, job, reason],
            difference_account,
            [currency, amount, proposed_by, proposed_at],
            status,
            [decided_by, decided_at, decision_note],
            entry_id,
        ) = r;
        Ok(Approval {
            id,
            kind: parse_enum(&kind)?,
            job,
            break_ids: self.breaks_of_approval(id)?,
            reason,
            difference_account,
            currency: parse_currency(&currency)?,
            amount: parse_decimal(&amount)?,
            proposed_by,
            proposed_at: parse_ts(&proposed_at)?,
            status: parse_enum(&status)?,
            decided_by,
            decided_at: decided_at.as_deref().map(parse_ts).transpose()?,
            decision_note,
            entry_id,
        })
    }
}
