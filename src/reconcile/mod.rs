//! Matching: which ledger items and statement lines belong together.
//!
//! **Invariant:** pure functions over slices of records; no I/O, no store, no clock. The caller
//! decides which records are in scope (open items of one book, one bank account) and what to do
//! with the outcome (post entries, open or close breaks). [`backlog`] keeps a job's open items
//! filed by key between runs, still without I/O: the caller says what changed.

pub mod ap_tolerance;
pub mod backlog;
pub mod cash;
pub mod engine;
pub mod payables;
pub mod positions;
pub mod settlement;

pub use cash::{CashRules, Outcome, reconcile_cash};
