//! A pass within the statement (`within = "statement"`): their lines paired with each other,
//! a line with a later line of the opposite sign that agrees on the keys: a payment and its
//! return (`RETURN AC04 ... INV-x`), before any pass against the books, so the books match
//! the payment that stayed.
//!
//! Lines are taken in the order they were booked (the pass's date, then identity: never the
//! order of a file), and each line returns the latest earlier line still open that it agrees
//! with, as brackets close: paid (+), returned (−), paid again (+) pairs the first two and
//! leaves the re-payment for the books. The earlier line is the pair's first row.

use rustc_hash::FxHashMap;

use super::super::explain::explain;
use super::{MatchDecision, Prepared, Rows, Score, open_rows};

/// The pairs pass `p` (both sides their table) finds among the open lines, marked taken.
pub(super) fn pairs(p: &Prepared<'_>, taken: &mut [bool], threads: usize) -> Vec<MatchDecision> {
    let open = open_rows(taken);
    let Some(days) = p.ours_days.filter(|_| open.len() >= 2) else {
        return Vec::new();
    };
    let codes = p.codes(&open, &open, threads);
    let t = p.theirs;
    let mut order = open;
    order.sort_by(|&a, &b| {
        days[a as usize]
            .cmp(&days[b as usize])
            .then_with(|| t.identity(a as usize).cmp(t.identity(b as usize)))
    });
    let lead = &codes[p.lead_key];
    // Lines waiting for a return, by the codes of the lead key, in booking order.
    let mut waiting: FxHashMap<u32, Vec<(usize, u32)>> = FxHashMap::default();
    let mut out = Vec::new();
    for (at, &r) in order.iter().enumerate() {
        let quoted = lead.theirs.get(r);
        let mut best: Option<(usize, u32, u32, i32)> = None;
        for i in 0..quoted.len() {
            let Some(lines) = waiting.get(&quoted.get(i)) else {
                continue;
            };
            for &(pos, o) in lines.iter().rev() {
                if best.is_some_and(|b| b.0 >= pos) {
                    break;
                }
                if taken[o as usize] || !p.keys_agree(&codes, o, r) {
                    continue;
                }
                if let Some((score, gap)) = p.evaluate(&[o], &[r]) {
                    best = Some((pos, o, score, gap));
                    break;
                }
            }
        }
        if let Some((_, o, score, gap)) = best {
            taken[o as usize] = true;
            taken[r as usize] = true;
            let mut m = MatchDecision {
                pass: p.pass.name.clone(),
                rule: p.rule,
                score: Score(score),
                // Explained as the pass compared them: the payment as ours, its return theirs.
                ours: Rows::one(o),
                theirs: Rows::one(r),
                amount_difference: p.difference(&[o], &[r]),
                date_gap_days: Some(gap),
                runners_up: Box::new([]),
                explanation: None,
            };
            if p.ctx.options.explain {
                m.explanation = Some(Box::new(explain(p.pass, &m, t, t, p.ctx)));
            }
            // Both are their lines: none of ours.
            m.ours = Rows::many(&[]);
            m.theirs = Rows::many(&[o, r]);
            out.push(m);
            continue;
        }
        let own = lead.ours.get(r);
        for i in 0..own.len() {
            waiting.entry(own.get(i)).or_default().push((at, r));
        }
    }
    out
}
