//! `clerk exception approve|reject E-7`: a held invoice decided by a person
//! (`jobs::workflow::invoice`). The same commands with `A-3` decide a proposal (four eyes):
//! the label says which.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::exceptions::{self, Decide, actor};
use super::load_config;
use crate::jobs::workflow::invoice::{approve_invoice, reject_invoice};
use crate::jobs::workflow::{Outcome, WorkflowError};
use crate::model::break_label;
use crate::store::{self, approval_label};

/// What `clerk exception approve|reject` names: a proposal (`A-3`, `3`) or a held invoice's
/// exception (`E-7`).
#[derive(Debug, Clone, Copy)]
pub enum Decided {
    Proposal(i64),
    Break(i64),
}

pub fn parse_decided(s: &str) -> Result<Decided, String> {
    let t = s.trim();
    if t.starts_with(['E', 'e']) {
        return crate::model::parse_break_label(t).map(Decided::Break);
    }
    store::parse_approval_label(t)
        .map(Decided::Proposal)
        .map_err(|_| {
            format!("{s:?} is neither a proposal (A-3) nor a held invoice's exception (E-7)")
        })
}

/// `clerk exception approve A-3|E-7 [--reason R] [--by WHO]`.
pub fn approve(
    config_path: &Path,
    what: Decided,
    reason: Option<&str>,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let id = match what {
        // A proposal is approved as it was proposed, with its maker's reason.
        Decided::Proposal(id) if reason.is_some() => {
            eprintln!(
                "error: {} is approved as proposed, with its maker's reason: leave out \
                 --reason (it is for a held invoice, E-7)",
                approval_label(id)
            );
            return Ok(ExitCode::from(1));
        }
        Decided::Proposal(id) => {
            return exceptions::decide(config_path, id, Decide::Approve, by);
        }
        Decided::Break(id) => id,
    };
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    let reason = reason.unwrap_or("");
    match approve_invoice(&config, st.as_mut(), id, reason, &who, Utc::now()) {
        Ok(Outcome::Done(f)) => {
            outln!(
                "invoice approved: exception {} resolved, entry {} posted (run {}, by {who})",
                break_label(id),
                f.entry_id,
                f.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Proposed(a)) => super::exceptions::proposed(&config, st.as_mut(), a),
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e).context(break_label(id)),
    }
}

/// `clerk exception reject A-3|E-7 --reason R [--by WHO]`.
pub fn reject(
    config_path: &Path,
    what: Decided,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let id = match what {
        Decided::Proposal(id) => {
            return exceptions::decide(config_path, id, Decide::Reject(reason), by);
        }
        Decided::Break(id) => id,
    };
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    match reject_invoice(&config, st.as_mut(), id, reason, &who, Utc::now()) {
        Ok(()) => {
            outln!(
                "invoice rejected: exception {} resolved, nothing posted (by {who})",
                break_label(id)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e).context(break_label(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Decided, parse_decided};

    #[test]
    fn an_e_label_names_a_held_invoice_anything_else_a_proposal() {
        for typed in ["E-7", "e7", " E-7 "] {
            assert!(
                matches!(parse_decided(typed), Ok(Decided::Break(7))),
                "{typed}"
            );
        }
        for typed in ["A-3", "a3", "3"] {
            assert!(
                matches!(parse_decided(typed), Ok(Decided::Proposal(3))),
                "{typed}"
            );
        }
        assert!(parse_decided("E-").is_err());
        for bad in ["X-3", ""] {
            let err = parse_decided(bad).unwrap_err();
            assert!(err.contains("A-3") && err.contains("E-7"), "{bad}: {err}");
        }
    }
}
