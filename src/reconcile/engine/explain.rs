//! Explanations for people: what a pass compared for one match, with the values as stored,
//! the margins, and the candidates it beat. Built from the tables, after the run (or later,
//! for the one match someone asks about), so the hot loop carries no text.

use rust_decimal::Decimal;

use super::context::Context;
use super::keys::{Scratch, Transform};
use super::outcome::{
    AmountExplained, DateExplained, Explanation, KeyExplained, MatchDecision, RunnerUpExplained,
};
use super::spec::{AmountPlan, DatePlan, FxAt, KeyPlan, PassPlan, Plan};
use super::table::{Table, currency_code};

impl Plan {
    /// The explanation of a decision of a run of this plan over these tables (for runs made
    /// with `RunOptions::explain` off).
    pub fn explain(
        &self,
        m: &MatchDecision,
        ours: &Table,
        theirs: &Table,
        ctx: &Context<'_>,
    ) -> Option<Explanation> {
        let pass = self.passes.get(m.rule as usize)?;
        Some(explain(pass, m, ours, theirs, ctx))
    }
}

fn identities(t: &Table, rows: &[u32]) -> Vec<String> {
    rows.iter()
        .map(|&r| t.identity(r as usize).to_owned())
        .collect()
}

/// How a match was made, in the rule's own terms: what each key read on both sides and
/// agreed on, the amounts with their tolerance, the dates with their gap, and what lost to
/// it.
pub(crate) fn explain(
    pass: &PassPlan,
    m: &MatchDecision,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
) -> Explanation {
    let mut scratch = Scratch::default();
    let keys = pass
        .keys
        .iter()
        .map(|k| explain_key(k, m, ours, theirs, ctx, &mut scratch))
        .collect();
    let amount = pass
        .amount
        .as_ref()
        .map(|a| explain_amount(pass, a, m, ours, theirs, ctx));
    let date = pass
        .date
        .as_ref()
        .map(|d| explain_date(d, m, ours, theirs, ctx));
    Explanation {
        pass: pass.name.to_string(),
        grouping: pass.grouping,
        score: m.score,
        ours: identities(ours, &m.ours),
        theirs: identities(theirs, &m.theirs),
        keys,
        amount,
        date,
        runners_up: m
            .runners_up
            .iter()
            .map(|r| RunnerUpExplained {
                ours: identities(ours, &r.ours),
                theirs: identities(theirs, &r.theirs),
                score: r.score,
                lost_because: r.lost_because,
            })
            .collect(),
    }
}

/// One key as the first record of each side reads it, the values both sides' transforms
/// agreed on, and the method (exact, or the steps applied: pattern, map, normalise).
fn explain_key(
    k: &KeyPlan,
    m: &MatchDecision,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
    scratch: &mut Scratch,
) -> KeyExplained {
    let (o0, t0) = (m.ours[0] as usize, m.theirs[0] as usize);
    let map = k
        .map
        .as_ref()
        .and_then(|n| ctx.maps.get(n.as_str()).copied());
    let xo = Transform::ours(k, map);
    let xt = Transform::theirs(k);
    let ov = ours.display(&k.ours, o0);
    let tv = theirs.display(&k.theirs, t0);
    let mut of = Vec::new();
    if let Some(v) = &ov {
        xo.apply(v, scratch, &mut |s| of.push(s.to_owned()));
    }
    let mut agreed_on = Vec::new();
    if let Some(v) = &tv {
        xt.apply(v, scratch, &mut |s| {
            if of.iter().any(|x| x == s) && !agreed_on.iter().any(|x| x == s) {
                agreed_on.push(s.to_owned());
            }
        });
    }
    let mut steps = Vec::new();
    if k.ours_pattern.is_some() || k.theirs_pattern.is_some() {
        steps.push("pattern");
    }
    if k.map.is_some() {
        steps.push("map");
    }
    if k.normalise {
        steps.push("normalise");
    }
    KeyExplained {
        ours_field: k.ours.clone(),
        theirs_field: k.theirs.clone(),
        method: if steps.is_empty() {
            "exact".into()
        } else {
            steps.join("+")
        },
        ours: ov,
        theirs: tv,
        agreed_on,
    }
}

/// Both sides' totals, their amount converted at the rate of the date `fx.at` names (theirs
/// by default) when the pass converts and the currencies differ, the difference and what the
/// tolerances allowed.
fn explain_amount(
    pass: &PassPlan,
    a: &AmountPlan,
    m: &MatchDecision,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
) -> AmountExplained {
    let (o0, t0) = (m.ours[0] as usize, m.theirs[0] as usize);
    let total = |t: &Table, f: &str, rows: &[u32]| -> Decimal {
        rows.iter().filter_map(|&r| t.decimal(f, r as usize)).sum()
    };
    let o = total(ours, &a.ours, &m.ours);
    let t = total(theirs, &a.theirs, &m.theirs);
    let occy = ours.currency(&a.ours_currency, o0);
    let tccy = theirs.currency(&a.theirs_currency, t0);
    let signed = if a.opposite_sign { -t } else { t };
    let mut rate = None;
    if let (Some(f), Some(oc), Some(tc)) = (&pass.fx, occy, tccy)
        && oc != tc
        && let Some(d) = pass.date.as_ref().and_then(|d| match f.at {
            FxAt::Theirs => theirs.date(&d.theirs, t0),
            FxAt::Ours => ours.date(&d.ours, o0),
        })
    {
        rate = ctx
            .rates
            .get(f.rates.as_str())
            .and_then(|r| r.rate(d, tc, oc));
    }
    let converted = rate.map(|r| signed * r);
    let difference = o - converted.unwrap_or(signed);
    let tolerance = occy
        .map(currency_code)
        .and_then(|c| {
            a.per_currency
                .iter()
                .find(|&&(x, _)| x == c)
                .map(|&(_, d)| d)
        })
        .unwrap_or(a.tolerance);
    let mut allowed = tolerance.max(a.relative * o.abs());
    if let (Some(f), Some(_)) = (&pass.fx, rate) {
        allowed += f.tolerance_relative * o.abs();
    }
    AmountExplained {
        ours_field: a.ours.clone(),
        theirs_field: a.theirs.clone(),
        ours: o,
        theirs: t,
        ours_currency: occy,
        theirs_currency: tccy,
        theirs_converted: converted,
        rate,
        opposite_sign: a.opposite_sign,
        difference,
        tolerance,
        relative: a.relative,
        allowed,
    }
}

/// The dates of the pair (of a group, the pair furthest apart) and their gap in business
/// days.
fn explain_date(
    d: &DatePlan,
    m: &MatchDecision,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
) -> DateExplained {
    let mut worst: Option<(chrono::NaiveDate, chrono::NaiveDate, i32)> = None;
    for &o in m.ours.iter() {
        for &t in m.theirs.iter() {
            if let (Some(a), Some(b)) = (
                ours.date(&d.ours, o as usize),
                theirs.date(&d.theirs, t as usize),
            ) {
                let (x, y) = if a <= b { (a, b) } else { (b, a) };
                let g = ctx.calendar.business_days_between(x, y) as i32;
                if worst.is_none_or(|w| g > w.2) {
                    worst = Some((a, b, g));
                }
            }
        }
    }
    DateExplained {
        ours_field: d.ours.clone(),
        theirs_field: d.theirs.clone(),
        ours: worst.map(|w| w.0),
        theirs: worst.map(|w| w.1),
        gap_business_days: worst.map_or(0, |w| w.2),
        window_business_days: d.window,
    }
}
