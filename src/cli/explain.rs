//! `clerk explain`: why a record is matched or not, or why a match was made, from what the
//! store kept (the matcher's explanation with each match, the reason with each break).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;

use super::load_config;
use crate::model::{Break, StoredRecord};
use crate::store::{self, BreakFilter, MatchRow, StatusFilter};

#[derive(Serialize)]
struct RecordWhy {
    record: StoredRecord,
    scope: String,
    /// The match it belongs to, with the matcher's explanation.
    matched: Option<MatchShown>,
    /// Its breaks, newest first: the reason it is (or was) open.
    breaks: Vec<Break>,
}

#[derive(Serialize)]
struct MatchShown {
    #[serde(flatten)]
    row: MatchRow,
    /// The explanation parsed, for `--json` readers.
    why: Option<serde_json::Value>,
}

fn shown(row: MatchRow) -> MatchShown {
    let why = row
        .explanation
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok());
    MatchShown { row, why }
}

pub fn record(config_path: &Path, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let found = store::in_read(st.as_mut(), |u| {
        let Some((scope, record, _)) = u.record_by_id(id)? else {
            return Ok(None);
        };
        let matched = match u.match_of_record(id)? {
            Some(m) => u.match_by_id(m)?.map(shown),
            None => None,
        };
        let mut breaks: Vec<Break> = u
            .breaks(&BreakFilter {
                job: None,
                status: StatusFilter::Any,
                reason: None,
                owner: None,
                limit: None,
            })?
            .into_iter()
            .filter(|b| b.record_id == Some(id))
            .collect();
        breaks.sort_by_key(|b| std::cmp::Reverse(b.id));
        Ok(Some(RecordWhy {
            record,
            scope,
            matched,
            breaks,
        }))
    })?;
    let Some(why) = found else {
        bail!("no record {id}");
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&why)?);
        return Ok(ExitCode::SUCCESS);
    }
    let r = &why.record.record;
    outln!(
        "record {id}: {} {} of {} {} value {} (in {})",
        r.side.as_str(),
        r.external_id,
        r.amount,
        r.currency,
        r.value_date,
        why.scope
    );
    match &why.matched {
        Some(m) => print_match(m)?,
        None => {
            outln!("  not matched");
            match why.breaks.first() {
                Some(b) => outln!(
                    "  break {} ({}, {}): {}",
                    b.id,
                    b.reason.as_str(),
                    b.status.as_str(),
                    b.detail
                ),
                // A bank line is never "not due": the bank booked it. Without a break it is
                // held back for its grace period (its ledger item may still come).
                None if r.side == crate::model::Side::Statement => outln!(
                    "  no break yet: held back for its grace period (its ledger item may still come)"
                ),
                None => outln!(
                    "  no break yet: it is not due (the bank may still report it within the window)"
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn matched(config_path: &Path, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let Some(m) = store::in_read(st.as_mut(), |u| u.match_by_id(id))? else {
        bail!("no match {id}");
    };
    let m = shown(m);
    if json {
        outln!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print_match(&m)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_match(m: &MatchShown) -> anyhow::Result<()> {
    let r = &m.row;
    let ids: Vec<String> = r.record_ids.iter().map(i64::to_string).collect();
    outln!(
        "  match {} of job {} in run {} at {}: records {}",
        r.id,
        r.job,
        r.run_id,
        r.created_at,
        ids.join(", ")
    );
    if let Some(actor) = &r.actor {
        outln!(
            "  matched by hand by {actor}: {}",
            r.reason.as_deref().unwrap_or("")
        );
    }
    let Some(why) = &m.why else {
        if r.actor.is_none() {
            outln!(
                "  pass {} (no explanation kept: matched before clerk kept them)",
                r.pass
            );
        }
        return Ok(());
    };
    for line in crate::jobs::explain::why_lines(why) {
        outln!("{line}");
    }
    Ok(())
}
