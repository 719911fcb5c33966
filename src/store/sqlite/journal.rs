use super::reports::entry_lines;
use super::*;
use crate::store::journal::{AccountBalance, Journal, JournalQuery, PostedEntry};

impl Journal for SqliteUnit<'_, '_> {
    fn journal(&mut self, q: &JournalQuery<'_>) -> Result<Vec<PostedEntry>> {
        let from = q.from.map(|d| d.to_string());
        let to = q.to.map(|d| d.to_string());
        let heads: Vec<EntryHead> = self
            .tx
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS}
                 FROM entries e JOIN matches m ON m.id = e.match_id
                 WHERE (?1 IS NULL OR e.job = ?1)
                   AND (?2 IS NULL OR e.posting_date >= ?2)
                   AND (?3 IS NULL OR e.posting_date <= ?3)
                   AND (?4 IS NULL OR EXISTS (SELECT 1 FROM entry_lines l
                                              WHERE l.entry_id = e.id AND l.account = ?4))
                 ORDER BY e.posting_date, e.id"
            ))
            .and_then(|mut s| {
                s.query_map(params![q.job, from, to, q.account], entry_head)?
                    .collect()
            })
            .map_err(map_err)?;
        heads
            .into_iter()
            .map(|h| posted_entry(self.tx, h))
            .collect()
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

/// The columns [`entry_head`] reads: `e` the entry, `m` its match. A reversal's pass reads
/// `reversal`; `reversed_by` is the entry that reverses it, if any.
pub(super) const ENTRY_COLUMNS: &str = "e.id, e.job, e.posting_date, e.narrative, e.posted_at,
    e.run_id, e.match_id, CASE WHEN e.reverses IS NULL THEN m.pass ELSE 'reversal' END,
    e.reverses, (SELECT r.id FROM entries r WHERE r.reverses = e.id), e.value_date";

/// An entry's row, as [`ENTRY_COLUMNS`] select it.
pub(super) struct EntryHead {
    pub id: i64,
    job: String,
    date: String,
    narrative: String,
    posted_at: String,
    run_id: i64,
    match_id: i64,
    pass: String,
    reverses: Option<i64>,
    pub reversed_by: Option<i64>,
    value_date: Option<String>,
}

pub(super) fn entry_head(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryHead> {
    Ok(EntryHead {
        id: r.get(0)?,
        job: r.get(1)?,
        date: r.get(2)?,
        narrative: r.get(3)?,
        posted_at: r.get(4)?,
        run_id: r.get(5)?,
        match_id: r.get(6)?,
        pass: r.get(7)?,
        reverses: r.get(8)?,
        reversed_by: r.get(9)?,
        value_date: r.get(10)?,
    })
}

/// The entry of `h`, with its lines and where its records were read.
pub(super) fn posted_entry(tx: &rusqlite::Transaction<'_>, h: EntryHead) -> Result<PostedEntry> {
    Ok(PostedEntry {
        posting_date: parse_date(&h.date)?,
        posted_at: parse_ts(&h.posted_at)?,
        value_date: h.value_date.as_deref().map(parse_date).transpose()?,
        lines: entry_lines(tx, h.id)?,
        sources: entry_sources(tx, h.match_id)?,
        id: h.id,
        job: h.job,
        narrative: h.narrative,
        run_id: h.run_id,
        match_id: h.match_id,
        pass: h.pass,
        reverses: h.reverses,
        reversed_by: h.reversed_by,
    })
}

/// Where the records an entry settles were read, each once (other jobs' copies of a bank line
/// share its match): `file.csv line 8`, `book.xlsx sheet Ledger line 12`; then the documents
/// its posting named (a payables entry's invoice, order and receipt lines).
fn entry_sources(tx: &rusqlite::Transaction<'_>, match_id: i64) -> Result<Vec<String>> {
    let mut sources = record_sources(tx, match_id)?;
    let named = tx
        .prepare_cached("SELECT source FROM match_sources WHERE match_id = ? ORDER BY position")
        .and_then(|mut s| {
            s.query_map([match_id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(map_err)?;
    sources.extend(named);
    Ok(sources)
}

fn record_sources(tx: &rusqlite::Transaction<'_>, match_id: i64) -> Result<Vec<String>> {
    // Each record once, though other jobs' copies of a bank line share its match; a reversed
    // match's records, though no longer matched, are still where its entry came from.
    tx.prepare_cached(
        "SELECT DISTINCT f.name, r.sheet, r.row FROM records r
         JOIN files f ON f.id = r.file_id
         WHERE r.match_id = ?1
            OR r.id IN (SELECT record_id FROM reversed_match_records WHERE match_id = ?1)
         ORDER BY f.name, r.sheet, r.row",
    )
    .and_then(|mut s| {
        s.query_map([match_id], |r| {
            let name: String = r.get(0)?;
            let sheet: Option<String> = r.get(1)?;
            let row: i64 = r.get(2)?;
            Ok(match sheet {
                Some(sheet) => format!("{name} sheet {sheet} line {row}"),
                None => format!("{name} line {row}"),
            })
        })?
        .collect()
    })
    .map_err(map_err)
}
