//! SQLite: records of a scope and side, and what changed since a reconciliation's mark.

use super::*;

// What changed since a reconciliation's mark, read without going over its open items: each
// walks an index from the mark on (a range of ids), never the records of a scope. The `+`
// keeps SQLite from choosing the (scope, side) index, which would visit every record of the
// book.
/// Not a record held for a person: one whose match was reversed and that no person has
/// matched since (`reversed_match_records`). The matcher would make the same wrong match again
/// (the same rule, the same two records), so a reversed match's records are only matched by
/// hand (or written off) from then on; their breaks tell a person they wait.
const HELD: &str =
    "AND NOT EXISTS (SELECT 1 FROM reversed_match_records h WHERE h.record_id = records.id)";

/// Ids looked up by one kept statement (`id IN (?, ... ?)`).
const BY_ID: usize = 32;

fn by_id_filter() -> String {
    format!(
        "WHERE id IN ({}) AND match_id IS NULL AND out_of_matching IS NULL {HELD}",
        vec!["?"; BY_ID].join(",")
    )
}

/// Open records of a scope and side stored after an id: the partial index of open records.
const OPEN_AFTER: &str = "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND id > ?3
    AND out_of_matching IS NULL AND (?4 IS NULL OR account = ?4)
    AND NOT EXISTS (SELECT 1 FROM reversed_match_records h WHERE h.record_id = records.id)";
/// Records of a reconciliation's sides matched after a match id: the index of matched
/// records.
const MATCHED_AFTER: &str = "WHERE id IN (SELECT id FROM records WHERE match_id > ?1)
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";
/// Open records of a reconciliation's sides with a break history line after an id: the
/// history's own ids.
const BREAK_HISTORY_AFTER: &str = "WHERE match_id IS NULL AND out_of_matching IS NULL
    AND NOT EXISTS (SELECT 1 FROM reversed_match_records h WHERE h.record_id = records.id)
    AND id IN (SELECT b.record_id FROM break_history h JOIN breaks b ON b.id = h.break_id
               WHERE h.id > ?1 AND b.record_id IS NOT NULL)
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";

/// Records of a reconciliation's sides withdrawn for a version stored after a record id: the
/// index of replaced records.
const WITHDRAWN_AFTER: &str = "WHERE id IN (SELECT id FROM records WHERE replaced_by > ?1)
    AND out_of_matching = 'replaced'
    AND ((+scope = ?2 AND +side = 'ledger' AND (?3 IS NULL OR account = ?3))
      OR (+scope = ?4 AND +side = 'statement'))";

/// The identities one file's records had so far, for [`Records::add_records`]: by a keyed
/// 128-bit hash (17 bytes each in the set; six million records cost about 140 MB while the
/// set grows, not their strings), with counts only for the identities seen more than once.
pub(super) struct SeenIdentities {
    scope: String,
    file_id: i64,
    keys: (std::hash::RandomState, std::hash::RandomState),
    once: HashSet<u128>,
    repeated: HashMap<u128, u32>,
}

impl SeenIdentities {
    fn new(scope: &str, file_id: i64) -> Self {
        SeenIdentities {
            scope: scope.to_owned(),
            file_id,
            keys: (std::hash::RandomState::new(), std::hash::RandomState::new()),
            once: HashSet::new(),
            repeated: HashMap::new(),
        }
    }

    /// How many times `identity` has now been seen, this time included.
    fn count(&mut self, identity: &str) -> u32 {
        use std::hash::BuildHasher as _;
        let key = (u128::from(self.keys.0.hash_one(identity)) << 64)
            | u128::from(self.keys.1.hash_one(identity));
        if self.once.insert(key) {
            return 1;
        }
        let n = self.repeated.entry(key).or_insert(1);
        *n += 1;
        *n
    }
}

impl Records for SqliteUnit<'_, '_> {
    fn add_records(
        &mut self,
        scope: &str,
        file_id: i64,
        records: &[Record],
    ) -> Result<AddedRecords> {
        let mut added = AddedRecords::default();
        let file_hash = self.file_hash(file_id)?;
        // Two lines of one file with the same identity are two records (a bank that reuses a
        // reference): the second becomes `identity#2`, and so on. Across files the same
        // identity is the same record, sent again. A file's records may come in several
        // calls (a large file is stored in batches), so what was seen is kept for the file.
        if self
            .seen
            .as_ref()
            .is_none_or(|s| s.file_id != file_id || s.scope != scope)
        {
            self.seen = Some(SeenIdentities::new(scope, file_id));
        }
        for r in records {
            let mut identity = r.identity();
            let n = self.seen.as_mut().map_or(1, |seen| seen.count(&identity));
            if n > 1 {
                identity = format!("{identity}#{n}");
            }
            if self.insert_record(scope, &identity, file_id, r, 1, None)? {
                added.inserted += 1;
                // A line another job already posted (the statement reached it first) is
                // settled here too: posted once, whichever job reads it.
                if r.side == Side::Statement && self.settled_elsewhere(&identity)? {
                    continue;
                }
                self.keep_added(scope, r, &file_hash);
                continue;
            }
            // A statement line's identity holds its amount and date: one sent again is the
            // same line. A ledger item's is its id alone: its content may have been corrected.
            let change = match r.side {
                Side::Ledger => self.new_version(scope, &identity, file_id, r, &file_hash)?,
                Side::Statement => None,
            };
            match change {
                Some(c) => added.changed.push(c),
                None => added.known += 1,
            }
        }
        Ok(added)
    }

    fn open_records(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
    ) -> Result<Vec<StoredRecord>> {
        let key = (scope.to_owned(), side);
        // A read (not a unit of work), or a side given up in this unit: the database.
        let kept = match self.open_items {
            Some(kept) if !self.delta.overflowed.contains(&key) => kept,
            _ => {
                return self.select_records(
                    "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND out_of_matching IS NULL
                        AND (?3 IS NULL OR account = ?3)
                        AND NOT EXISTS (SELECT 1 FROM reversed_match_records h
                                        WHERE h.record_id = records.id)",
                    params![scope, side.as_str(), account],
                );
            }
        };
        let wanted =
            |r: &StoredRecord| account.is_none_or(|a| r.record.account.as_deref() == Some(a));
        // Read from the database earlier in this unit, else as last committed; then what this
        // unit has changed since.
        let base: Option<BTreeMap<i64, &StoredRecord>> =
            match self.delta.loaded.iter().find(|(k, _)| *k == key) {
                Some((_, loaded)) => Some(loaded.iter().map(|r| (r.id, r)).collect()),
                None => kept
                    .get(&key)
                    .map(|committed| committed.iter().map(|(&id, r)| (id, r)).collect()),
            };
        if let Some(mut out) = base {
            for (s, r) in &self.delta.added {
                if s == scope && r.record.side == side {
                    out.insert(r.id, r);
                }
            }
            for id in &self.delta.gone {
                out.remove(id);
            }
            return Ok(out.into_values().filter(|r| wanted(r)).cloned().collect());
        }
        let all = self.select_records(
            "WHERE scope = ?1 AND side = ?2 AND match_id IS NULL AND out_of_matching IS NULL
                AND NOT EXISTS (SELECT 1 FROM reversed_match_records h
                                WHERE h.record_id = records.id)",
            params![scope, side.as_str()],
        )?;
        if all.len() > self.keep_limit {
            // Too many to keep: read from the database each time, as this unit sees it.
            return Ok(all.into_iter().filter(|r| wanted(r)).collect());
        }
        let out = all.iter().filter(|r| wanted(r)).cloned().collect();
        // As this unit sees it (its own inserts in, its own matches out): applied after the
        // commit together with what the unit does next.
        self.delta.loaded.push((key, all));
        Ok(out)
    }

    fn latest_value_date(&mut self, scope: &str, side: Side) -> Result<Option<NaiveDate>> {
        let d: Option<String> = self
            .tx
            .prepare_cached("SELECT MAX(value_date) FROM records WHERE scope = ? AND side = ?")
            .and_then(|mut s| s.query_row(params![scope, side.as_str()], |r| r.get(0)))
            .map_err(map_err)?;
        d.as_deref().map(parse_date).transpose()
    }

    fn open_records_after(
        &mut self,
        scope: &str,
        side: Side,
        account: Option<&str>,
        after: i64,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(OPEN_AFTER, params![scope, side.as_str(), after, account])
    }

    fn open_records_by_id(&mut self, ids: &[i64]) -> Result<Vec<StoredRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        // A run by key reads a handful of records: one statement kept for up to 32 ids (the
        // list filled up with the first); a few hundred at a time, written into the SQL (they
        // are integers), when there are many.
        if ids.len() <= BY_ID {
            let mut args = [0i64; BY_ID];
            for chunk in ids.chunks(BY_ID) {
                for (k, a) in args.iter_mut().enumerate() {
                    *a = chunk.get(k).copied().unwrap_or(chunk[0]);
                }
                out.extend(
                    self.select_records(&by_id_filter(), rusqlite::params_from_iter(args.iter()))?,
                );
            }
        } else {
            for chunk in ids.chunks(500) {
                let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
                let filter = format!(
                    "WHERE id IN ({}) AND match_id IS NULL AND out_of_matching IS NULL {HELD}",
                    list.join(",")
                );
                out.extend(self.select_records_as(&filter, [], false)?);
            }
        }
        out.sort_unstable_by_key(|r| r.id);
        Ok(out)
    }

    fn records_matched_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            MATCHED_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn records_with_break_history_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            BREAK_HISTORY_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn records_with_open_breaks_among(
        &mut self,
        job: &str,
        ids: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let placeholders = vec!["?"; BY_ID].join(",");
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT record_id FROM breaks
                 WHERE record_id IN ({placeholders}) AND status != 'resolved' AND job = ?"
            ))
            .map_err(map_err)?;
        let mut out = std::collections::HashSet::new();
        for chunk in ids.chunks(BY_ID) {
            let mut args: Vec<rusqlite::types::Value> = (0..BY_ID)
                .map(|k| chunk.get(k).copied().unwrap_or(chunk[0]).into())
                .collect();
            args.push(job.to_owned().into());
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(map_err)?;
            for id in rows {
                out.insert(id.map_err(map_err)?);
            }
        }
        Ok(out)
    }

    fn records_withdrawn_after(
        &mut self,
        after: i64,
        sides: &JobSides<'_>,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records(
            WITHDRAWN_AFTER,
            params![after, sides.book, sides.account, sides.job],
        )
    }

    fn high_water(&mut self) -> Result<HighWater> {
        self.tx
            .prepare_cached(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM records),
                        (SELECT COALESCE(MAX(id), 0) FROM matches),
                        (SELECT COALESCE(MAX(id), 0) FROM break_history),
                        (SELECT identity FROM records ORDER BY id DESC LIMIT 1)",
            )
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(HighWater {
                        records: r.get(0)?,
                        matches: r.get(1)?,
                        history: r.get(2)?,
                        last_identity: r.get(3)?,
                    })
                })
            })
            .map_err(map_err)
    }

    fn record_identity(&mut self, id: i64) -> Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT identity FROM records WHERE id = ?")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(map_err)
    }

    fn statement_lines_shared(&mut self, scope: &str) -> Result<std::collections::HashSet<i64>> {
        self.tx
            .prepare_cached(
                "SELECT r.id FROM records r
                 WHERE r.scope = ?1 AND r.side = 'statement' AND r.match_id IS NULL
                   AND EXISTS (SELECT 1 FROM records o WHERE o.side = 'statement'
                               AND o.identity = r.identity AND o.scope <> r.scope)",
            )
            .and_then(|mut s| s.query_map([scope], |r| r.get(0))?.collect())
            .map_err(map_err)
    }

    fn record_by_id(&mut self, id: i64) -> Result<Option<(String, StoredRecord, bool)>> {
        let row: Option<(String, String, Option<i64>)> = self
            .tx
            .prepare_cached("SELECT scope, side, match_id FROM records WHERE id = ?")
            .and_then(|mut s| {
                s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(map_err)?;
        let Some((scope, side, match_id)) = row else {
            return Ok(None);
        };
        let _: Side = parse_enum(&side)?;
        let rows = self.select_records("WHERE id = ?1", params![id])?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| (scope, r, match_id.is_some())))
    }
}

impl SqliteUnit<'_, '_> {
    /// Whether the statement line just inserted (`identity`) was posted already by another
    /// job, from its copy of the statement: then the new copy is settled by the same match.
    fn settled_elsewhere(&mut self, identity: &str) -> Result<bool> {
        let id = self.tx.last_insert_rowid();
        let n = self
            .tx
            .prepare_cached(
                "UPDATE records SET match_id = (
                     SELECT o.match_id FROM records o
                     WHERE o.side = 'statement' AND o.identity = ?1 AND o.match_id IS NOT NULL
                     LIMIT 1)
                 WHERE id = ?2 AND EXISTS (
                     SELECT 1 FROM records o
                     WHERE o.side = 'statement' AND o.identity = ?1 AND o.match_id IS NOT NULL)",
            )
            .and_then(|mut st| st.execute(params![identity, id]))
            .map_err(map_err)?;
        Ok(n == 1)
    }

    /// Records selected by a `WHERE` clause over `records`, in arrival order.
    pub(super) fn select_records(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredRecord>> {
        self.select_records_as(filter, args, true)
    }

    /// As `select_records`; `cached: false` for a statement made once (ids written into it),
    /// which would only push the reused ones out of the cache.
    pub(super) fn select_records_as(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
        cached: bool,
    ) -> Result<Vec<StoredRecord>> {
        let rows: Vec<(i64, String, RawRecord)> = {
            let sql = format!(
                "SELECT id, file_id, sheet, row, external_id, account, value_date, booking_date,
                    amount, currency, reference, counterparty, remittance, locator, side,
                    transaction_code, purpose_code, return_reason
                 FROM records {filter} ORDER BY id"
            );
            let (mut kept, mut once);
            let stmt: &mut rusqlite::Statement<'_> = if cached {
                kept = self.tx.prepare_cached(&sql).map_err(map_err)?;
                &mut kept
            } else {
                once = self.tx.prepare(&sql).map_err(map_err)?;
                &mut once
            };
            stmt.query_map(args, |r| {
                Ok((
                    r.get(0)?,
                    r.get(14)?,
                    RawRecord {
                        file_id: r.get(1)?,
                        sheet: r.get(2)?,
                        row: r.get(3)?,
                        external_id: r.get(4)?,
                        account: r.get(5)?,
                        value_date: r.get(6)?,
                        booking_date: r.get(7)?,
                        amount: r.get(8)?,
                        currency: r.get(9)?,
                        reference: r.get(10)?,
                        counterparty: r.get(11)?,
                        remittance: r.get(12)?,
                        locator: r.get(13)?,
                        codes: crate::model::BankCodes {
                            transaction: r.get(15)?,
                            purpose: r.get(16)?,
                            return_reason: r.get(17)?,
                        },
                    },
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(map_err)?
        };
        let mut sheets: HashMap<String, Arc<str>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (id, side, raw) in rows {
            let side: Side = parse_enum(&side)?;
            let file = self.file_hash(raw.file_id)?;
            let sheet = raw.sheet.map(|s| {
                sheets
                    .entry(s)
                    .or_insert_with_key(|k| Arc::from(k.as_str()))
                    .clone()
            });
            out.push(StoredRecord {
                id,
                record: Record {
                    side,
                    external_id: raw.external_id,
                    account: raw.account,
                    value_date: parse_date(&raw.value_date)?,
                    booking_date: raw.booking_date.as_deref().map(parse_date).transpose()?,
                    amount: parse_decimal(&raw.amount)?,
                    currency: parse_currency(&raw.currency)?,
                    reference: raw.reference,
                    counterparty: raw.counterparty,
                    remittance: raw.remittance,
                    codes: raw.codes.boxed(),
                    source: Source {
                        file,
                        sheet,
                        row: raw.row,
                        locator: raw.locator.map(Arc::from),
                    },
                },
            });
        }
        Ok(out)
    }
}

struct RawRecord {
    file_id: i64,
    sheet: Option<String>,
    row: u32,
    external_id: String,
    account: Option<String>,
    value_date: String,
    booking_date: Option<String>,
    amount: String,
    currency: String,
    reference: Option<String>,
    counterparty: Option<String>,
    remittance: Option<String>,
    locator: Option<String>,
    codes: crate::model::BankCodes,
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn what_changed_since_a_mark_is_read_through_indexes_not_the_book() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        for filter in [
            OPEN_AFTER,
            MATCHED_AFTER,
            BREAK_HISTORY_AFTER,
            WITHDRAWN_AFTER,
        ] {
            let sql = format!("EXPLAIN QUERY PLAN SELECT id FROM records {filter} ORDER BY id");
            let mut stmt = store.conn.prepare(&sql).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params![1, "main", Option::<&str>::None, "bank"], |r| {
                    r.get(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter().all(
                    |step| !step.starts_with("SCAN") && !step.contains("records_by_value_date")
                ),
                "{filter}: {plan:?}"
            );
        }
    }
}
