//! Trades booked: each trade of the blotter at its trade date against the settlement
//! clearing account, and each confirmation that settles it from the clearing account against
//! cash ([`crate::post::securities`]). Exactly once: an entry's key is the job and the trade
//! (and the confirmation), so a blotter or MT536 sent again posts nothing; a trade that
//! cannot be booked is a break saying why.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::Books;
use crate::jobs::WorkError;
use crate::jobs::subjects::{Finding, JobRun, in_file};
use crate::model::securities::{SecuritiesTransaction, Trade};
use crate::model::{BreakReason, JournalEntry, MatchPass, Source};
use crate::post::securities::{SecuritiesAccounts, settlement_entry, trade_entry};
use crate::reconcile::settlement::TradeStatus;
use crate::store::{NewMatch, Posted, RunOutcome, StoreError, Unit};

/// The subject of a break about a trade that cannot be booked: `booking|<trade id>`.
pub(super) const BOOKING: &str = "booking|";

/// Books every trade whose trade date has come, and every confirmation that settled one
/// (whole, or in part: each confirmation for its own amount). Returns a finding for each
/// trade that cannot be booked.
pub(super) fn book_trades(
    u: &mut dyn Unit,
    run: &JobRun<'_>,
    accounts: &SecuritiesAccounts,
    books: &Books<'_>,
    today: NaiveDate,
    out: &mut RunOutcome,
) -> Result<Vec<Finding>, WorkError> {
    let mut names = Names::default();
    let mut refused = Vec::new();
    // In trade id order, so entry ids never depend on the blotter's order.
    let mut order: Vec<usize> = (0..books.trades.len()).collect();
    order.sort_by(|&a, &b| books.trades[a].trade_id.cmp(&books.trades[b].trade_id));
    for t in order {
        let trade = &books.trades[t];
        if trade.trade_date > today {
            continue;
        }
        let at = names.place(u, &trade.source)?;
        let entry = match trade_entry(&run.job.name, trade, accounts, &at) {
            Ok(e) => e,
            Err(why) => {
                refused.push(not_booked(trade, why.to_string()));
                continue;
            }
        };
        let why = serde_json::json!({ "trade": trade.trade_id, "blotter": at });
        let sources = [format!("{at} (trade {})", trade.trade_id)];
        post(u, run, MatchPass::Trade, &entry, &why, &sources, out)?;
        for &c in settling(&books.statuses[t]) {
            let confirmation = &books.confirmations[c];
            let place = names.place(u, &confirmation.source)?;
            match settlement_entry(
                &run.job.name,
                trade,
                confirmation,
                &books.identities[c],
                accounts,
                &place,
            ) {
                Ok(entry) => {
                    let why = serde_json::json!({
                        "trade": trade.trade_id,
                        "blotter": at,
                        "confirmation": reference(confirmation),
                        "custodian": place,
                    });
                    let sources = [
                        format!("{place} (confirmation {})", reference(confirmation)),
                        format!("{at} (trade {})", trade.trade_id),
                    ];
                    post(u, run, MatchPass::Settlement, &entry, &why, &sources, out)?;
                }
                Err(why) => refused.push(not_booked(
                    trade,
                    format!("its settlement ({place}): {why}"),
                )),
            }
        }
    }
    Ok(refused)
}

/// The confirmations whose cash has moved for a trade: all of a settled trade's, those of a
/// partial settlement (less delivered than traded: what is delivered is settled), and those
/// of a trade settled for other cash (the cash the custodian moved is what the books show;
/// the break says by how much it differs). An over-delivery is for a person.
fn settling(status: &TradeStatus) -> &[usize] {
    match status {
        TradeStatus::Settled { confirmations, .. }
        | TradeStatus::AmountDifference { confirmations, .. } => confirmations,
        TradeStatus::QuantityDifference {
            confirmations,
            difference,
        } if difference.is_sign_positive() => confirmations,
        _ => &[],
    }
}

fn reference(c: &SecuritiesTransaction) -> String {
    c.custodian_reference
        .clone()
        .or_else(|| c.reference.clone())
        .unwrap_or_else(|| format!("line {}", c.source.row))
}

fn post(
    u: &mut dyn Unit,
    run: &JobRun<'_>,
    pass: MatchPass,
    entry: &JournalEntry,
    why: &serde_json::Value,
    sources: &[String],
    out: &mut RunOutcome,
) -> Result<(), StoreError> {
    let why = why.to_string();
    if let Posted::Posted { match_id, .. } = u.post_match(&NewMatch {
        job: &run.job.name,
        run_id: run.run_id,
        pass,
        record_ids: &[],
        entry,
        at: run.at,
        explanation: Some(&why),
        actor: None,
        reason: None,
    })? {
        // The blotter line (and the confirmation) are documents, not records: named here so
        // the entry's sources say where it came from, as a payables entry's do.
        u.add_match_sources(match_id, sources)?;
        out.entries_posted += 1;
    }
    Ok(())
}

fn not_booked(trade: &Trade, why: String) -> Finding {
    Finding {
        subject: format!("{BOOKING}{}", trade.trade_id),
        reason: BreakReason::Unbalanced,
        detail: format!("trade {} cannot be booked: {why}", trade.trade_id),
        difference: None,
        amount: trade.net_amount,
        currency: trade.currency,
        since: trade.trade_date,
        source: Some(trade.source.clone()),
    }
}

/// Files' names as they arrived, each looked up once.
#[derive(Default)]
struct Names(BTreeMap<String, String>);

impl Names {
    fn place(&mut self, u: &mut dyn Unit, s: &Source) -> Result<String, StoreError> {
        let key = s.file.to_string();
        if !self.0.contains_key(&key) {
            let name = u
                .file_name(&s.file)?
                .unwrap_or_else(|| format!("file {}…", &s.file[..s.file.len().min(12)]));
            self.0.insert(key.clone(), name);
        }
        Ok(in_file(&self.0[&key], s))
    }
}
