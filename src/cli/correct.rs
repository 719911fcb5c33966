//! `clerk exception correct`: a position difference corrected by an entry a person writes
//! (`jobs::workflow::correction`), or proposed for a second person's approval.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::exceptions::actor;
use super::load_config;
use crate::jobs::workflow::correction::{Correction, correct_position};
use crate::jobs::workflow::{Outcome, WorkflowError};
use crate::model::break_label;
use crate::store::{self, approval_label};

pub fn correct(
    config_path: &Path,
    id: i64,
    c: &Correction,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    match correct_position(&config, st.as_mut(), id, c, reason, &who, Utc::now()) {
        Ok(Outcome::Done(f)) => {
            outln!(
                "corrected: exception {} resolved, entry {} posted (run {}, by {who})",
                break_label(id),
                f.entry_id,
                f.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Proposed(a)) => {
            let limit = store::in_read(st.as_mut(), |u| u.approval(a))?
                .and_then(|p| {
                    config
                        .http
                        .approval
                        .limit(p.currency)
                        .map(|l| format!(" (limit {l} {})", p.currency))
                })
                .unwrap_or_default();
            outln!(
                "proposed as {}: needs approval by another person{limit}",
                approval_label(a)
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
