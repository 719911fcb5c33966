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
use crate::store;

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
        Ok(Outcome::Proposed(a)) => super::exceptions::proposed(&config, st.as_mut(), a),
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e).context(break_label(id)),
    }
}
