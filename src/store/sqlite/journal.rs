use super::reports::entry_lines;
use super::*;
use crate::store::journal::{AccountBalance, Journal, JournalQuery, PostedEntry};

impl Journal for SqliteUnit<'_, '_> {
    fn journal(&mut self, q: &JournalQuery<'_>) -> Result<Vec<PostedEntry>> {
        let from = q.from.map(|d| d.to_string());
        let to = q.to.map(|d| d.to_string());
        type Head = (i64, String, String, String, String, i64, i64, String, Extra);
        // What a reversal and a closed period add: reverses, reversed by, value date.
        type Extra = (Option<i64>, Option<i64>, Option<String>);
        let heads: Vec<Head> = self
            .tx
            .prepare_cached(
                "SELECT e.id, e.job, e.posting_date, e.narrative, e.posted_at, e.run_id,
                        e.match_id, CASE WHEN e.reverses IS NULL THEN m.pass ELSE 'reversal' END,
                        e.reverses, (SELECT r.id FROM entries r WHERE r.reverses = e.id),
                        e.value_date
                 FROM entries e JOIN matches m ON m.id = e.match_id
                 WHERE (?1 IS NULL OR e.job = ?1)
                   AND (?2 IS NULL OR e.posting_date >= ?2)
                   AND (?3 IS NULL OR e.posting_date <= ?3)
                   AND (?4 IS NULL OR EXISTS (SELECT 1 FROM entry_lines l
                                              WHERE l.entry_id = e.id AND l.account = ?4))
                 ORDER BY e.posting_date, e.id",
            )
            .and_then(|mut s| {
                s.query_map(params![q.job, from, to, q.account], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        (r.get(8)?, r.get(9)?, r.get(10)?),
                    ))
                })?
                .collect()
            })
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(heads.len());
        for (id, job, date, narrative, posted_at, run_id, match_id, pass, extra) in heads {
            let (reverses, reversed_by, value_date) = extra;
            let sources = super::exports::entry_sources(self.tx, match_id)?;
            out.push(PostedEntry {
                id,
                job,
                posting_date: parse_date(&date)?,
                narrative,
                posted_at: parse_ts(&posted_at)?,
                run_id,
                match_id,
                pass,
                lines: entry_lines(self.tx, id)?,
                sources,
                reverses,
                reversed_by,
                value_date: value_date.as_deref().map(parse_date).transpose()?,
            });
        }
        Ok(out)
    }

    fn trial_balance(&mut self, at: Option<NaiveDate>) -> Result<Vec<AccountBalance>> {
        let at = at.map(|d| d.to_string());
        // Summed here in decimals: SQLite's SUM over text would go through a float.
        let rows: Vec<(String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT l.account, l.currency, l.amount FROM entry_lines l
                 JOIN entries e ON e.id = l.entry_id
                 WHERE ?1 IS NULL OR e.posting_date <= ?1",
            )
            .and_then(|mut s| {
                s.query_map([at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(map_err)?;
        let mut sums: BTreeMap<(String, Currency), (Decimal, u64)> = BTreeMap::new();
        for (account, currency, amount) in rows {
            let slot = sums
                .entry((account, parse_currency(&currency)?))
                .or_insert((Decimal::ZERO, 0));
            slot.0 += parse_decimal(&amount)?;
            slot.1 += 1;
        }
        Ok(sums
            .into_iter()
            .map(|((account, currency), (balance, lines))| AccountBalance {
                account,
                currency,
                balance,
                lines,
            })
            .collect())
    }
}
