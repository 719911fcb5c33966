//! Escalations: which breaks were mailed for being open too long, and when.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::Result;

pub trait Escalations {
    /// The unresolved breaks of `job` already escalated, with when.
    fn escalated_breaks(&mut self, job: &str) -> Result<HashMap<i64, DateTime<Utc>>>;
    /// Marks the breaks `ids` escalated at `at`; returns those not marked before (a break is
    /// escalated once).
    fn mark_escalated(&mut self, ids: &[i64], at: DateTime<Utc>) -> Result<Vec<i64>>;
}
