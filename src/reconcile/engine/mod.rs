//! The matching engine: a job's `[match]` rules ([`MatchSpec`]) run over two columnar
//! [`Table`]s, ours (the books) and theirs (the bank, the custodian).
//!
//! A run goes pass by pass. Each pass finds every candidate among the items still open
//! (keys agree, amounts within tolerance, dates within the window), scores them, and assigns
//! them globally, each item at most once: a candidate that competes with no other is taken;
//! competing candidates, set by set (linked by shared items), in the combination with the
//! most matches, then the highest total score, ties broken by the items' identities (never
//! by their position in a file). A set too large for that search (more than 24 candidates)
//! is assigned best score first, with a warning. What is left at the end gets a reason.
//!
//! **Invariant:** no I/O; the same tables and rules give the same [`Outcome`] whatever the
//! order of the rows and however many threads run it.

mod blocks;
mod context;
mod csv;
mod explain;
mod intern;
mod keys;
mod legacy;
mod outcome;
mod par;
mod run;
mod spec;
mod table;

#[cfg(test)]
mod tests;

pub use blocks::{Blocking, GroupTotals, MAX_EXACT_SCALE};
pub use context::{Context, Rates, RunError, RunOptions, ValueMap};
pub use csv::{CsvColumn, CsvError, CsvKind, CsvLayout, load_csv};
pub use legacy::legacy_spec;
pub use outcome::{
    AmountExplained, DateExplained, Explanation, KeyExplained, LostBecause, MatchDecision,
    NearMiss, Outcome, PartPaid, Rows, RunnerUp, RunnerUpExplained, Score, Unmatched,
    UnmatchedReason,
};
pub use run::run;
pub use spec::{
    AmountSpec, DateSpec, DecimalValue, FxAt, FxSpec, Grouping, KeySpec, MatchSpec, PartialSpec,
    PassSpec, Plan, RuleError, Within,
};
pub use table::{ColumnId, FieldKind, Schema, Table, TableBuilder, TableError, TextStorage};
