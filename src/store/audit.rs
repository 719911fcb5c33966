//! Tamper evidence: the audit chain over what must never change once written — every journal
//! entry (its row and its lines) and every break action (a `break_history` row).
//!
//! Each such row gets one link in the chain, in the transaction that wrote it: the hash of the
//! row's content, and a hash over the previous link's hash, that content hash, the row's kind,
//! its id and its place in the chain. [`AuditTrail::verify_chain`] recomputes both from the
//! live rows and names what does not fit.
//!
//! **Invariant:** every committed entry and break action is in the chain, in id order (within
//! one unit of work, its entries first, then its break actions); a link is written once and
//! never changed. What it proves is that rows were not changed since they were chained; the
//! head mailed each morning pins the chain up to that mail (a database rewritten later
//! disagrees with heads already in inboxes). It does not prove that an entry is right, only
//! that it is unchanged, and it does not cover other tables.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;

pub trait AuditTrail {
    /// The newest link of the chain; `None` while nothing was chained.
    fn chain_head(&mut self) -> Result<Option<ChainHead>>;
    /// Walks the whole chain against the live rows; reads only.
    fn verify_chain(&mut self) -> Result<ChainReport>;
    /// The link at `seq` (to compare with a head mailed earlier); `None` when there is none.
    fn chain_link(&mut self, seq: i64) -> Result<Option<ChainHead>>;
}

/// The newest link: everything chained up to `seq` is pinned by `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    pub seq: i64,
    /// 64 lowercase hex digits.
    pub hash: String,
    pub chained_at: DateTime<Utc>,
}

impl ChainHead {
    /// The first 12 hex digits: enough for a person to compare by eye.
    pub fn short(&self) -> &str {
        self.hash.get(..12).unwrap_or(&self.hash)
    }
}

/// What a chain row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    Entry,
    BreakAction,
}

impl ChainKind {
    /// The name kept in the chain (and hashed into each link).
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::Entry => "entry",
            ChainKind::BreakAction => "break_action",
        }
    }
}

/// Why a row does not fit the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    /// The row's content differs from what was chained.
    Changed,
    /// A chained row is gone.
    Deleted,
    /// A row that is not in the chain: written outside clerk (every clerk write chains).
    Unchained,
    /// A chain row whose own fields were edited: its hash does not follow from them.
    LinkEdited,
    /// A chain row whose previous hash is not the hash of the row before it.
    LinkBroken,
    /// A chain row is missing: the seq before it is not there.
    LinkMissing,
    /// The chain disagrees with a head mailed earlier: rewritten after that mail.
    DisagreesWithMail,
}

/// One row that does not fit, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainFinding {
    pub problem: ChainProblem,
    /// The chain row concerned, when there is one.
    pub seq: Option<i64>,
    pub kind: Option<ChainKind>,
    /// The entry's or break action's id, when known.
    pub row_id: Option<i64>,
    /// What is wrong, naming the row ("entry 12 (job bank, posted 2026-11-30): changed …").
    pub text: String,
}

/// What [`AuditTrail::verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Chain rows walked, per kind.
    pub entries: u64,
    pub break_actions: u64,
    pub head: Option<ChainHead>,
    /// In chain order, then the unchained rows by id; the first is the first row that does
    /// not fit. At most [`FINDINGS_KEPT`].
    pub findings: Vec<ChainFinding>,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Findings kept: the first says where the trouble starts, a few more how far it goes.
pub const FINDINGS_KEPT: usize = 20;
