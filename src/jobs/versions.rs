//! A ledger item exported again with another amount, value date or reference: a corrected
//! booking. The store keeps it as a new version of its record ([`RecordChange`]); this says in
//! breaks what became of the versions, in the unit of work of the file that brought it.
//!
//! - The earlier version was open: it is withdrawn (it no longer reconciles), its break (a
//!   "missing on statement", say) closes saying which version replaced it, and the new version
//!   reconciles like any new item.
//! - The item was matched and posted already: posting the new version too would post the item
//!   twice, so it takes no part in matching, and a `record_changed_after_match` break names
//!   both versions and what changed, for a person to correct the posting. (When a later
//!   version agrees with the matched one again, nothing is left to correct: no break.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::{Config, Job};
use crate::model::{BreakReason, Record};
use crate::store::{NewBreak, RecordChange, StoreError, Unit};

/// What a file's changed ledger items came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Versions {
    /// Items stored as a new version.
    pub changed: u64,
    /// Of those, the ones whose earlier version was open and is withdrawn.
    pub withdrawn: u64,
    /// Breaks opened and closed, per job that owns them. They count in that job's KPIs (the
    /// reconciliation that matched or waits for the item), not the import's: an import that
    /// matches nothing would otherwise show an STP rate of 0 % for a correction in the books.
    pub breaks: BTreeMap<String, BreakCounts>,
}

/// Breaks opened and closed for one job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakCounts {
    pub opened: u64,
    pub closed: u64,
}

impl Versions {
    pub(crate) fn add(&mut self, more: Versions) {
        self.changed += more.changed;
        self.withdrawn += more.withdrawn;
        for (job, n) in more.breaks {
            let mine = self.breaks.entry(job).or_default();
            mine.opened += n.opened;
            mine.closed += n.closed;
        }
    }

    /// The breaks `job` owns.
    pub(crate) fn of(&self, job: &str) -> BreakCounts {
        self.breaks.get(job).copied().unwrap_or_default()
    }
}

/// Opens and closes the breaks `changes` call for, in the caller's transaction; `job` is the
/// import that read them, `run_id` its run.
pub(crate) fn take(
    u: &mut dyn Unit,
    config: &Config,
    job: &Job,
    run_id: i64,
    changes: &[RecordChange],
    at: DateTime<Utc>,
) -> Result<Versions, StoreError> {
    let mut out = Versions::default();
    // A withdrawn version's break (a "missing on statement") is the book's reconciliation's.
    let book_job = crate::jobs::cash::fed_by(&config.jobs, job)
        .first()
        .map_or_else(|| job.name.clone(), |j| j.name.clone());
    for c in changes {
        out.changed += 1;
        let item = &c.new.record.external_id;
        let replaced = format!(
            "replaced by version {} of ledger item {item} (record {}): {}",
            c.new_version,
            c.new.id,
            differences(&c.old.record, &c.new.record).join(", ")
        );
        let Some(m) = &c.matched else {
            out.withdrawn += 1;
            out.breaks.entry(book_job.clone()).or_default().closed += u.close_breaks_of_records(
                &[c.old.id],
                &format!("{replaced}; this version no longer reconciles"),
                run_id,
                at,
            )?;
            tracing::info!(item = %item, record = c.new.id, version = c.new_version,
                "a ledger item changed while open: the new version reconciles in place of the old");
            continue;
        };
        if c.old.id != m.record.id {
            // The version that waited for a person is itself replaced: its break speaks of
            // content that is gone.
            let closed = u.close_breaks_of_records(&[c.old.id], &replaced, run_id, at)?;
            out.breaks.entry(book_job.clone()).or_default().closed += closed;
        }
        let changed = differences(&m.record.record, &c.new.record);
        if changed.is_empty() {
            tracing::info!(item = %item, record = c.new.id, version = c.new_version,
                "a ledger item changed back to what its match posted");
            continue;
        }
        // The reconciliation that matched the item owns what became of its posting.
        let owner_job = u
            .match_by_id(m.match_id)?
            .map_or_else(|| job.name.clone(), |row| row.job);
        let owner = config
            .job(&owner_job)
            .and_then(|j| j.owner.clone())
            .or_else(|| job.owner.clone());
        let new = &c.new.record;
        let detail = format!(
            "ledger item {item} changed after it was matched: version {} (record {}) is matched \
             (match {}) and posted; version {} (record {}) has {}. The new version does not \
             reconcile by itself, so that the item is not posted twice: put the posting right, \
             then resolve this exception (or match the new version by hand)",
            m.version,
            m.record.id,
            m.match_id,
            c.new_version,
            c.new.id,
            changed.join(", ")
        );
        let source = match u.file_name(&new.source.file)? {
            Some(name) => crate::jobs::subjects::in_file(&name, &new.source),
            None => format!("line {}", new.source.row),
        };
        let difference = (m.record.record.currency == new.currency
            && m.record.record.amount != new.amount)
            .then(|| new.amount - m.record.record.amount);
        let opened = u.open_break(&NewBreak {
            job: &owner_job,
            run_id,
            reason: BreakReason::RecordChangedAfterMatch,
            detail: &detail,
            amount: Some(new.amount),
            currency: Some(new.currency),
            difference,
            since: at.with_timezone(&config.settings.timezone).date_naive(),
            owner: owner.as_deref(),
            record_id: Some(c.new.id),
            source: Some(&source),
            at,
            subject: None,
        })?;
        out.breaks.entry(owner_job.clone()).or_default().opened += u64::from(opened.is_some());
        tracing::warn!(item = %item, record = c.new.id, version = c.new_version,
            "a ledger item changed after its match: kept out of matching, with a break");
    }
    Ok(out)
}

/// What differs between two versions of a ledger item, in words (`amount 100.00 EUR → 120.00
/// EUR`); empty when nothing that matching looks at does.
fn differences(old: &Record, new: &Record) -> Vec<String> {
    let mut out = Vec::new();
    if old.amount != new.amount || old.currency != new.currency {
        out.push(format!(
            "amount {} {} → {} {}",
            old.amount, old.currency, new.amount, new.currency
        ));
    }
    if old.value_date != new.value_date {
        out.push(format!(
            "value date {} → {}",
            old.value_date, new.value_date
        ));
    }
    if old.reference != new.reference {
        let shown = |r: &Option<String>| r.clone().unwrap_or_else(|| "none".to_owned());
        out.push(format!(
            "reference {} → {}",
            shown(&old.reference),
            shown(&new.reference)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn item(amount: &str, date: &str, reference: Option<&str>) -> Record {
        Record {
            side: crate::model::Side::Ledger,
            external_id: "248".into(),
            account: Some("CASH-EUR-01".into()),
            value_date: date.parse().unwrap(),
            booking_date: None,
            amount: amount.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            reference: reference.map(Into::into),
            counterparty: None,
            remittance: None,
            codes: None,
            source: crate::model::Source {
                file: Arc::from("abc"),
                sheet: None,
                row: 2,
                locator: None,
            },
        }
    }

    #[test]
    fn the_words_name_each_field_that_changed_old_to_new() {
        let old = item("100.00", "2026-03-02", Some("INV-1"));
        assert!(differences(&old, &item("100.0", "2026-03-02", Some("INV-1"))).is_empty());
        assert_eq!(
            differences(&old, &item("120.00", "2026-03-05", None)),
            vec![
                "amount 100.00 EUR → 120.00 EUR",
                "value date 2026-03-02 → 2026-03-05",
                "reference INV-1 → none",
            ]
        );
    }
}
