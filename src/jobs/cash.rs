//! A cash reconciliation: bank statement lines against the open items of a book.

use super::{Holds, Room};
use crate::config::{Job, JobKind};

pub static ROOM: Room = Room {
    takes: &[Holds::Rows, Holds::Nothing, Holds::BankStatements],
    wants: "bank statements (MT940/942/950, camt.052/053/054, or CSV/spreadsheet rows)",
};

/// The cash reconciliations a file of `job` feeds: the job itself, or those of the book a
/// ledger import loads (whose open statement lines may be waiting for its items).
pub fn fed_by<'c>(jobs: &'c [Job], job: &'c Job) -> Vec<&'c Job> {
    match &job.kind {
        JobKind::CashReconciliation { .. } => vec![job],
        JobKind::LedgerImport { book, .. } => jobs
            .iter()
            .filter(|j| matches!(&j.kind, JobKind::CashReconciliation { book: b, .. } if b == book))
            .collect(),
        _ => Vec::new(),
    }
}
