//! SQLite: matches and their journal entries.

use super::*;

impl Matches for SqliteUnit<'_, '_> {
    fn link_parts(&mut self, job: &str, item: i64, parts: &[i64]) -> Result<()> {
        let mut link = self
            .tx
            .prepare_cached(
                "INSERT INTO part_payments (statement_record_id, ledger_record_id, job)
                 VALUES (?, ?, ?)",
            )
            .map_err(map_err)?;
        for &p in parts {
            link.execute(params![p, item, job]).map_err(map_err)?;
        }
        Ok(())
    }

    fn parts_of_open_items(&mut self, job: &str) -> Result<Vec<(i64, StoredRecord)>> {
        let items: std::collections::HashMap<i64, i64> = self
            .tx
            .prepare_cached(
                "SELECT p.statement_record_id, p.ledger_record_id FROM part_payments p
                 JOIN records l ON l.id = p.ledger_record_id
                 WHERE p.job = ?1 AND l.match_id IS NULL",
            )
            .and_then(|mut s| {
                s.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(map_err)?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let parts = self.select_records(
            "WHERE id IN (SELECT p.statement_record_id FROM part_payments p
                JOIN records l ON l.id = p.ledger_record_id
                WHERE p.job = ?1 AND l.match_id IS NULL)",
            [job],
        )?;
        Ok(parts
            .into_iter()
            .filter_map(|r| items.get(&r.id).map(|&item| (item, r)))
            .collect())
    }

    fn post_match(&mut self, m: &NewMatch<'_>) -> Result<Posted> {
        // Records whose match was reversed may be matched again: the new entry's key follows
        // the reversal's (still one entry per key, so posting it twice still posts once).
        let Some(key) = self.key_after_reversals(&m.entry.idempotency_key)? else {
            return Ok(Posted::AlreadyPosted);
        };
        // An entry of documents (a goods receipt, a trade, an invoice: no records) that was
        // reversed stays reversed: the same documents would post the same entry at the next
        // run, undoing the person's reversal without anyone asking.
        if key != m.entry.idempotency_key && m.record_ids.is_empty() {
            return Ok(Posted::AlreadyPosted);
        }
        let rekeyed;
        let m = if key == m.entry.idempotency_key {
            m
        } else {
            rekeyed = (
                crate::model::JournalEntry {
                    idempotency_key: key,
                    ..m.entry.clone()
                },
                m,
            );
            &NewMatch {
                entry: &rekeyed.0,
                ..*rekeyed.1
            }
        };
        crate::post::check_balanced(&m.entry.lines)
            .map_err(|e| StoreError::Conflict(format!("entry refused: {e}")))?;
        self.tx
            .prepare_cached(
                "INSERT INTO matches (job, run_id, pass, created_at, explanation, actor, reason)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    m.job,
                    m.run_id,
                    m.pass.as_str(),
                    ts(m.at),
                    m.explanation,
                    m.actor,
                    m.reason
                ])
            })
            .map_err(map_err)?;
        let match_id = self.tx.last_insert_rowid();
        {
            let mut mark = self
                .tx
                .prepare_cached(
                    "UPDATE records SET match_id = ? WHERE id = ? AND match_id IS NULL
                        AND out_of_matching IS NOT 'replaced'",
                )
                .map_err(map_err)?;
            for &id in m.record_ids {
                if mark.execute(params![match_id, id]).map_err(map_err)? != 1 {
                    return Err(StoreError::Conflict(format!(
                        "record {id} is already matched or was replaced by a later version; \
                         a record is never used twice"
                    )));
                }
                self.delta.gone.push(id);
            }
        }
        self.settle_copies_elsewhere(m, match_id)?;
        // Where every entry is inserted: a closed period moves its posting date.
        let entry_id = self.insert_entry(m.job, m.run_id, match_id, m.entry, m.at, None)?;
        Ok(Posted::Posted { match_id, entry_id })
    }

    fn add_match_sources(&mut self, match_id: i64, sources: &[String]) -> Result<()> {
        let mut add = self
            .tx
            .prepare_cached(
                "INSERT INTO match_sources (match_id, position, source) VALUES (?, ?, ?)",
            )
            .map_err(map_err)?;
        for (position, source) in sources.iter().enumerate() {
            add.execute(params![match_id, position as i64, source])
                .map_err(map_err)?;
        }
        Ok(())
    }

    fn match_of_record(&mut self, record_id: i64) -> Result<Option<i64>> {
        let m: Option<Option<i64>> = self
            .tx
            .prepare_cached("SELECT match_id FROM records WHERE id = ?")
            .and_then(|mut s| s.query_row([record_id], |r| r.get(0)).optional())
            .map_err(map_err)?;
        Ok(m.flatten())
    }

    fn match_by_id(&mut self, id: i64) -> Result<Option<MatchRow>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, job, run_id, pass, created_at, explanation, actor, reason
                 FROM matches WHERE id = ?",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok(MatchRow {
                        id: r.get(0)?,
                        job: r.get(1)?,
                        run_id: r.get(2)?,
                        pass: r.get(3)?,
                        created_at: r.get(4)?,
                        explanation: r.get(5)?,
                        actor: r.get(6)?,
                        reason: r.get(7)?,
                        record_ids: Vec::new(),
                    })
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        row.record_ids = self
            .tx
            .prepare_cached("SELECT id FROM records WHERE match_id = ? ORDER BY id")
            .and_then(|mut s| {
                s.query_map([id], |r| r.get(0))?
                    .collect::<std::result::Result<Vec<i64>, _>>()
            })
            .map_err(map_err)?;
        Ok(Some(row))
    }
}

impl SqliteUnit<'_, '_> {
    /// A bank line is posted once, whichever job posts it: the copies other jobs hold of the
    /// statement lines a match settles (a statement read by the bank reconciliation and by
    /// accounts payable) are settled by the same match, and their breaks closed saying so.
    fn settle_copies_elsewhere(&mut self, m: &NewMatch<'_>, match_id: i64) -> Result<()> {
        let mut copies = Vec::new();
        {
            let mut settle = self
                .tx
                .prepare_cached(
                    "UPDATE records SET match_id = ?1
                     WHERE side = 'statement' AND match_id IS NULL AND out_of_matching IS NULL
                       AND identity = (SELECT identity FROM records WHERE id = ?2 AND side = 'statement')
                       AND id <> ?2
                     RETURNING id",
                )
                .map_err(map_err)?;
            for &id in m.record_ids {
                let ids = settle
                    .query_map(params![match_id, id], |r| r.get::<_, i64>(0))
                    .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(map_err)?;
                copies.extend(ids);
            }
        }
        if copies.is_empty() {
            return Ok(());
        }
        self.delta.gone.extend(copies.iter().copied());
        let how = format!(
            "posted by job {} (match {match_id}, run {})",
            m.job, m.run_id
        );
        self.close_breaks_of_records(&copies, &how, m.run_id, m.at)?;
        Ok(())
    }
}
