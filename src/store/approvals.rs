//! Approvals (four eyes, maker–checker): a forced match or a write-off above the approval
//! limit is only proposed; another person approves it (then it is done, in the transaction
//! that marks it approved) or rejects it, or its maker withdraws it.
//!
//! **Invariant:** a break is named by at most one pending proposal; each proposal and each
//! decision leaves a line in the history of every break it names.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::Result;
use crate::model::Currency;

/// What a unit of work keeps and reads of proposals.
pub trait Approvals {
    /// Keeps a pending proposal and writes a `proposed` line in the history of each of its
    /// breaks. `Conflict` when one of them is named by a pending proposal already.
    fn propose(&mut self, p: &NewApproval<'_>) -> Result<i64>;
    fn approval(&mut self, id: i64) -> Result<Option<Approval>>;
    /// Every pending proposal, oldest first.
    fn pending_approvals(&mut self) -> Result<Vec<Approval>>;
    /// Every proposal that named this break, oldest first, whatever became of it.
    fn approvals_for_break(&mut self, break_id: i64) -> Result<Vec<Approval>>;
    /// Ends a pending proposal (approved, rejected or withdrawn) and writes the decision in
    /// the history of each of its breaks; `false` when it was not pending (decided already).
    fn decide_approval(&mut self, id: i64, d: &Decision<'_>) -> Result<bool>;
    /// Keeps a proposal's own data (JSON: a position correction's accounts), written once
    /// in the unit that proposed it.
    fn set_approval_payload(&mut self, id: i64, payload: &str) -> Result<()>;
    /// A proposal's own data, as kept.
    fn approval_payload(&mut self, id: i64) -> Result<Option<String>>;
}

/// What needs a second person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    /// Records of several breaks matched by hand, posting an entry.
    ForceMatch,
    /// One break resolved (written off) without a posting.
    Resolve,
    /// A posted entry reversed (its match undone, its records open again).
    Reverse,
    /// A position break corrected by an entry a person writes (debit, credit, amount: the
    /// proposal's payload), which closes it.
    CorrectPosition,
    /// A held invoice approved by a person, posted as it stands (its break and invoice
    /// identity: the proposal's payload), which closes the break.
    ApproveInvoice,
}

impl ApprovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::ForceMatch => "force_match",
            ApprovalKind::Resolve => "resolve",
            ApprovalKind::Reverse => "reverse",
            ApprovalKind::CorrectPosition => "correct_position",
            ApprovalKind::ApproveInvoice => "approve_invoice",
        }
    }

    /// How people say it in a history line or a list: "force-match", "write-off".
    pub fn words(self) -> &'static str {
        match self {
            ApprovalKind::ForceMatch => "force-match",
            ApprovalKind::Resolve => "write-off",
            ApprovalKind::Reverse => "reversal",
            ApprovalKind::CorrectPosition => "position correction",
            ApprovalKind::ApproveInvoice => "invoice approval",
        }
    }
}

impl std::str::FromStr for ApprovalKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "force_match" => Ok(ApprovalKind::ForceMatch),
            "resolve" => Ok(ApprovalKind::Resolve),
            "reverse" => Ok(ApprovalKind::Reverse),
            "correct_position" => Ok(ApprovalKind::CorrectPosition),
            "approve_invoice" => Ok(ApprovalKind::ApproveInvoice),
            other => Err(format!("unknown approval kind {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Taken back by the person who proposed it.
    Withdrawn,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Withdrawn => "withdrawn",
        }
    }
}

impl std::str::FromStr for ApprovalStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ApprovalStatus::Pending),
            "approved" => Ok(ApprovalStatus::Approved),
            "rejected" => Ok(ApprovalStatus::Rejected),
            "withdrawn" => Ok(ApprovalStatus::Withdrawn),
            other => Err(format!("unknown approval status {other:?}")),
        }
    }
}

/// A proposal as it is kept.
pub struct NewApproval<'a> {
    pub kind: ApprovalKind,
    pub job: &'a str,
    /// The breaks it would close, in the order the person named them.
    pub break_ids: &'a [i64],
    pub reason: &'a str,
    pub difference_account: Option<&'a str>,
    /// The amount that needs approval and its currency (for a forced match, the currency
    /// whose amount is above its limit).
    pub currency: Currency,
    pub amount: Decimal,
    pub proposed_by: &'a str,
    pub at: DateTime<Utc>,
    /// What the `proposed` line in each break's history says after "force-match A-3 "
    /// ("awaits approval: ...").
    pub history: &'a str,
}

/// How a proposal ended.
pub struct Decision<'a> {
    /// Approved, rejected or withdrawn (never pending).
    pub status: ApprovalStatus,
    pub by: &'a str,
    pub at: DateTime<Utc>,
    pub note: Option<&'a str>,
    /// The entry an approved forced match posted.
    pub entry_id: Option<i64>,
    /// What the line in each break's history says after "force-match A-3 " ("approved:
    /// entry 17 posted").
    pub history: &'a str,
}

/// A proposal and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: i64,
    pub kind: ApprovalKind,
    pub job: String,
    pub break_ids: Vec<i64>,
    pub reason: String,
    pub difference_account: Option<String>,
    pub currency: Currency,
    pub amount: Decimal,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub entry_id: Option<i64>,
}

/// A proposal's id as people write it: `A-3`.
pub fn approval_label(id: i64) -> String {
    format!("A-{id}")
}

/// A proposal's id as a person may type it: `A-3`, `a3` or `3`.
pub fn parse_approval_label(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    let digits = t
        .strip_prefix(['A', 'a'])
        .map(|r| r.strip_prefix('-').unwrap_or(r))
        .unwrap_or(t);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(format!(
            "{s:?} is not a proposal id: write it as `clerk exception proposals` shows it, e.g. A-3"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn approval_labels_read_back_however_people_type_them() {
        assert_eq!(super::approval_label(3), "A-3");
        for typed in ["A-3", "a-3", "A3", "3", " A-3 "] {
            assert_eq!(super::parse_approval_label(typed), Ok(3), "{typed}");
        }
        for bad in ["A-", "A--3", "-3", "0", "E-3", ""] {
            assert!(super::parse_approval_label(bad).is_err(), "{bad}");
        }
    }
}
