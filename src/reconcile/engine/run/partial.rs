//! Part payments (an instalments pass with `partial`): after every pass, the items of ours
//! that the open items of theirs quoting them pay only in part. The caller holds such an item
//! without a break while the rest may come, then reports it `partially_paid`.

use rust_decimal::Decimal;

use super::{Index, PartPaid, Prepared, State, keyed_groups, open_rows};

/// The part-paid items of pass `p`, over what every pass left open. A group of their open
/// items (grouped by what they quote, as the instalments pass groups them) is one item's
/// parts when exactly one open item of ours agrees with it on every key (two items quoting
/// one number are for a person, not a part payment), its total has our amount's sign and is
/// short of it by more than the tolerance, and it has at most `max_group_size` items. Dates
/// are not compared: the rest is awaited from the first part on.
pub(super) fn part_paid(p: &Prepared<'_>, state: &State, threads: usize) -> Vec<PartPaid> {
    let (Some(window), Some(a)) = (p.pass.partial_window, &p.amounts) else {
        return Vec::new();
    };
    let ours_open = open_rows(&state.ours_taken);
    let theirs_open = open_rows(&state.theirs_taken);
    if ours_open.is_empty() || theirs_open.is_empty() || p.pass.keys.is_empty() {
        return Vec::new();
    }
    let codes = p.codes(&ours_open, &theirs_open, threads);
    let lead = &codes[p.lead_key];
    let index = Index::build(&ours_open, &lead.ours, lead.space, Some(&a.ours[..]));
    let mut out = Vec::new();
    for (shared, parts) in keyed_groups(p.theirs, &codes, false, &theirs_open, Some(&a.theirs)) {
        if parts.len() > p.pass.max_group_size {
            continue;
        }
        let mut owners = index.rows[index.bucket(shared[p.lead_key])]
            .iter()
            .copied()
            .filter(|&o| {
                codes
                    .iter()
                    .zip(&shared[..])
                    .all(|(k, &c)| k.ours.get(o).contains(c))
            });
        let (Some(o), None) = (owners.next(), owners.next()) else {
            continue;
        };
        let owed = i128::from(a.ours[o as usize]);
        let theirs_total: i128 = parts
            .iter()
            .map(|&t| i128::from(a.theirs[t as usize]))
            .sum();
        let paid = a.sign * theirs_total;
        if owed == 0 || paid.signum() != owed.signum() || paid.abs() >= owed.abs() {
            continue;
        }
        let (rest, allowed) = a.compare(owed, theirs_total, p.ours_ccy(o));
        if rest.abs() <= allowed {
            continue;
        }
        let (Ok(paid), Ok(open)) = (
            Decimal::try_from_i128_with_scale(paid, a.scale),
            Decimal::try_from_i128_with_scale(rest, a.scale),
        ) else {
            continue;
        };
        out.push(PartPaid {
            pass: p.pass.name.clone(),
            rule: p.rule,
            row: o,
            parts: parts.into_boxed_slice(),
            paid,
            open,
            window_business_days: window,
        });
    }
    out
}
