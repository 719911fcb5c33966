//! `[escalation]` of a job file: a break left open too long is mailed to someone who can act
//! (a team lead), once.
//!
//! ```toml
//! [escalation]
//! after_business_days = 5                  # any break open more than 5 business days
//! reasons = { statement_only = 2 }         # sooner for some reasons
//! to = ["lead@example.com"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use crate::model::BreakReason;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalation {
    after_business_days: Option<u32>,
    #[serde(default)]
    reasons: BTreeMap<String, u32>,
    #[serde(default)]
    to: Vec<String>,
}

/// When a job's breaks escalate, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// A break open more than this many business days escalates; `None`: only the reasons
    /// named in `reasons` do.
    pub after_business_days: Option<u32>,
    /// Per reason, instead of `after_business_days`.
    pub reasons: BTreeMap<BreakReason, u32>,
    /// Who is mailed when a break escalates.
    pub to: Vec<String>,
}

impl Escalation {
    /// After how many business days a break with `reason` escalates, if ever.
    pub fn limit(&self, reason: BreakReason) -> Option<u32> {
        self.reasons
            .get(&reason)
            .copied()
            .or(self.after_business_days)
    }
}

pub(super) fn check_escalation(
    raw: &RawEscalation,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Escalation {
    let mut out = Escalation {
        after_business_days: raw.after_business_days,
        reasons: BTreeMap::new(),
        to: raw.to.clone(),
    };
    for (name, days) in &raw.reasons {
        match name.parse::<BreakReason>() {
            Ok(reason) => {
                out.reasons.insert(reason, *days);
            }
            Err(_) => errors.push(loc.error(
                &format!("escalation.reasons.{name}"),
                format!("no break reason {name:?}; use a reason as clerk exceptions shows it, such as missing_in_ledger"),
            )),
        }
    }
    if out.after_business_days.is_none() && out.reasons.is_empty() {
        errors.push(loc.error(
            "escalation",
            "say after how many business days breaks escalate (after_business_days = 5, or per reason)",
        ));
    }
    if out.to.is_empty() {
        errors.push(loc.error("escalation.to", "name at least one address to escalate to"));
    }
    for (i, a) in out.to.iter().enumerate() {
        if !super::looks_like_address(a) {
            errors.push(loc.error(
                &format!("escalation.to[{i}]"),
                format!("expected an address like lead@example.com, found {a:?}"),
            ));
        }
    }
    out
}
