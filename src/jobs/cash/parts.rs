//! Instalments posted as they come (an instalments pass with `partial`): cash received is
//! cash. A bank line paying a ledger item in part is posted at once against it (the bank
//! debited, the receivable's clearing credited for what came), and the item stays open for
//! the rest: for matching, its amount is its open remainder, so the rest matches it as any
//! payment would, and its entry settles only the remainder. The store links each part to its
//! item ([`crate::store::Matches::link_parts`]). While the rest may still come the item is no
//! break; once the bank has reported the pass's window past the first part, it is a
//! `partially_paid` break for the remainder.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::model::{Record, StoredRecord};
use crate::reconcile::CashRules;
use crate::store::{StoreError, Unit};

/// The parts already posted against open ledger items, by item id.
pub(super) type Posted = HashMap<i64, Vec<StoredRecord>>;

/// The parts posted against the open items of `job`, with each item of `ledger` that has
/// some set to its open remainder (its amount less its parts, with the pass's sign).
pub(super) fn posted(
    u: &mut dyn Unit,
    job: &str,
    rules: &CashRules,
    ledger: &mut [StoredRecord],
) -> Result<Posted, StoreError> {
    let mut posted = Posted::new();
    for (item, part) in u.parts_of_open_items(job)? {
        posted.entry(item).or_default().push(part);
    }
    if posted.is_empty() {
        return Ok(posted);
    }
    let sign = match rules.plan.partial_pass() {
        Some((_, _, true)) => Decimal::NEGATIVE_ONE,
        _ => Decimal::ONE,
    };
    for r in ledger.iter_mut() {
        if let Some(parts) = posted.get(&r.id) {
            let paid: Decimal = parts.iter().map(|p| p.record.amount).sum();
            r.record.amount -= sign * paid;
        }
    }
    Ok(posted)
}

/// The ledger item `item` as the entry for its parts sees it: for what they paid.
pub(super) fn paid_part(item: &Record, paid: Decimal) -> Record {
    Record {
        amount: paid,
        ..item.clone()
    }
}
