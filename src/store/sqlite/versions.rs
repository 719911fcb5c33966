//! How a record is stored: one row per version of its identity.

use super::*;

impl SqliteUnit<'_, '_> {
    /// Notes a record just inserted, for the open items kept between units: only for a side
    /// that is kept or was read in this unit, and only up to the limit (past it the side is
    /// given up: dropped at the commit, read from the database until then).
    pub(super) fn keep_added(&mut self, scope: &str, r: &Record, file_hash: &Arc<str>) {
        let Some(kept) = self.open_items else {
            return;
        };
        let key = (scope.to_owned(), r.side);
        let tracked = kept.contains_key(&key) || self.delta.loaded.iter().any(|(k, _)| *k == key);
        if !tracked || self.delta.overflowed.contains(&key) {
            return;
        }
        let count = self.delta.added_per_side.entry(key.clone()).or_insert(0);
        *count += 1;
        if *count > self.keep_limit {
            self.delta
                .added
                .retain(|(s, a)| !(*s == key.0 && a.record.side == key.1));
            self.delta.loaded.retain(|(k, _)| *k != key);
            self.delta.overflowed.push(key);
            return;
        }
        let mut record = r.clone();
        record.source.file = file_hash.clone();
        self.delta.added.push((
            key.0,
            StoredRecord {
                id: self.tx.last_insert_rowid(),
                record,
            },
        ));
    }

    /// Inserts one record as `version` of its identity; `false` when that version is stored
    /// already (the record is known).
    pub(super) fn insert_record(
        &mut self,
        scope: &str,
        identity: &str,
        file_id: i64,
        r: &Record,
        version: i64,
        out_of_matching: Option<&str>,
    ) -> Result<bool> {
        let codes = r.codes.as_deref();
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO records (scope, side, identity, file_id, sheet, row, external_id,
                    account, value_date, booking_date, amount, currency, reference, counterparty,
                    remittance, locator, version, out_of_matching, transaction_code,
                    purpose_code, return_reason)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (scope, side, identity, version) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    scope,
                    r.side.as_str(),
                    identity,
                    file_id,
                    r.source.sheet.as_deref(),
                    r.source.row,
                    r.external_id,
                    r.account,
                    r.value_date.to_string(),
                    r.booking_date.map(|d| d.to_string()),
                    r.amount.to_string(),
                    r.currency.as_str(),
                    r.reference,
                    r.counterparty,
                    r.remittance,
                    r.source.locator.as_deref(),
                    version,
                    out_of_matching,
                    codes.and_then(|c| c.transaction.as_deref()),
                    codes.and_then(|c| c.purpose.as_deref()),
                    codes.and_then(|c| c.return_reason.as_deref()),
                ])
            })
            .map_err(map_err)?;
        Ok(n == 1)
    }

    /// One record by id, as stored.
    pub(super) fn stored_record(&mut self, id: i64) -> Result<StoredRecord> {
        self.select_records("WHERE id = ?1", params![id])?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt(format!("record {id} is gone")))
    }

    /// `r` arrived again under a stored identity: when its amount, currency, value date or
    /// reference differ from the latest version's, it is stored as the next version, and the
    /// latest version is withdrawn if it was open; `None` when nothing changed.
    pub(super) fn new_version(
        &mut self,
        scope: &str,
        identity: &str,
        file_id: i64,
        r: &Record,
        file_hash: &Arc<str>,
    ) -> Result<Option<RecordChange>> {
        /// The latest version: id, version, match, why out of matching; and what is compared.
        type Latest = (i64, i64, Option<i64>, Option<String>, Compared);
        type Compared = (String, String, String, Option<String>);
        let latest: Option<Latest> = self
            .tx
            .prepare_cached(
                "SELECT id, version, match_id, out_of_matching,
                        amount, currency, value_date, reference FROM records
                 WHERE scope = ? AND side = ? AND identity = ? ORDER BY version DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![scope, r.side.as_str(), identity], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        (row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?),
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some((old_id, old_version, old_match, old_out, (amount, currency, date, reference))) =
            latest
        else {
            return Err(StoreError::Corrupt(format!(
                "record {identity} of {scope} is known but not stored"
            )));
        };
        // Most rows sent again are the same: compared as stored, without reading the record.
        if parse_decimal(&amount)? == r.amount
            && currency == r.currency.as_str()
            && parse_date(&date)? == r.value_date
            && reference == r.reference
        {
            return Ok(None);
        }
        let old = self.stored_record(old_id)?;
        let matched = match (old_match, old_out.as_deref()) {
            (Some(match_id), _) => Some(MatchedVersion {
                record: old.clone(),
                version: old_version,
                match_id,
            }),
            // Kept out of matching behind a matched version: that one still settles the item.
            (None, Some("changed_after_match")) => {
                let m: Option<(i64, i64, i64)> = self
                    .tx
                    .prepare_cached(
                        "SELECT id, version, match_id FROM records
                         WHERE scope = ? AND side = ? AND identity = ? AND match_id IS NOT NULL
                         ORDER BY version DESC LIMIT 1",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![scope, r.side.as_str(), identity], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })
                        .optional()
                    })
                    .map_err(map_err)?;
                let Some((id, version, match_id)) = m else {
                    return Err(StoreError::Corrupt(format!(
                        "record {old_id} waits behind a matched version that is not stored"
                    )));
                };
                Some(MatchedVersion {
                    record: self.stored_record(id)?,
                    version,
                    match_id,
                })
            }
            (None, _) => None,
        };
        let version = old_version + 1;
        let held = matched.is_some().then_some("changed_after_match");
        if !self.insert_record(scope, identity, file_id, r, version, held)? {
            return Err(StoreError::Conflict(format!(
                "version {version} of record {identity} of {scope} is stored already"
            )));
        }
        let new_id = self.tx.last_insert_rowid();
        if matched.is_none() {
            self.keep_added(scope, r, file_hash);
            self.delta.gone.push(old_id);
        }
        self.tx
            .prepare_cached(
                "UPDATE records SET replaced_by = ?1,
                    out_of_matching = CASE WHEN match_id IS NULL AND out_of_matching IS NULL
                                           THEN 'replaced' ELSE out_of_matching END
                 WHERE id = ?2",
            )
            .and_then(|mut s| s.execute(params![new_id, old_id]))
            .map_err(map_err)?;
        let mut record = r.clone();
        record.source.file = file_hash.clone();
        Ok(Some(RecordChange {
            old,
            old_version,
            new: StoredRecord { id: new_id, record },
            new_version: version,
            matched,
        }))
    }
}
