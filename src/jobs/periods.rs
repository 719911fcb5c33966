//! Accounting periods: a person closes a month (nothing is posted into it from then on: an
//! entry dated in it is posted on the first day of the next open month, its date kept as its
//! value date), and an administrator reopens it, saying why.
//!
//! **Invariant:** every close and reopen is kept with who and when (and why, for a reopen);
//! the console and the command line both come here.

use chrono::{DateTime, Utc};

use super::workflow::WorkflowError;
use crate::store::{self, Period, Store, StoreError};

/// Closes `period` (`2026-11`).
pub fn close(
    store: &mut dyn Store,
    period: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Period, WorkflowError> {
    let p: Period = period.parse().map_err(WorkflowError::Refused)?;
    store::in_unit_as(store, |u| {
        u.close_period(p, actor, at).map_err(refused_on_conflict)?;
        Ok(p)
    })
}

/// Reopens a closed `period`, saying why (an administrator's act).
pub fn reopen(
    store: &mut dyn Store,
    period: &str,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Period, WorkflowError> {
    let p: Period = period.parse().map_err(WorkflowError::Refused)?;
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): reopening a closed period is kept with its reason".into(),
        ));
    }
    store::in_unit_as(store, |u| {
        u.reopen_period(p, actor, reason, at)
            .map_err(refused_on_conflict)?;
        Ok(p)
    })
}

fn refused_on_conflict(e: StoreError) -> WorkflowError {
    match e {
        StoreError::Conflict(m) => WorkflowError::Refused(m),
        other => WorkflowError::Store(other),
    }
}
