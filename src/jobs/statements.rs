//! One bank statement, several jobs. The house bank's statement is read by the bank
//! reconciliation (receipts against receivables) and by accounts payable (supplier payments
//! against approved invoices). Each job takes a statement once; whichever job's folder or
//! mailbox it reaches first, it is offered at once to every other job that reads that account
//! (that holds a statement of it already, or names it in `statement_accounts`), with its
//! lines, and those jobs reconcile in runs of their own. A bank line is still posted once:
//! the store settles every job's copy of a line with the match that posts it
//! ([`crate::store::Matches::post_match`]).

use crate::config::Job;
use crate::jobs::{Holds, records_scope, room};
use crate::model::Record;
use crate::model::statement::BankStatement;
use crate::store::{NewStatement, StatementSeen, StoreError, Unit};

use super::documents::{FileRun, Taken, statement_identity};

/// Offers the statements `run`'s job took from its file to the other jobs of `jobs` that
/// read their accounts: each gets the statement (marked as offered from this file) and its
/// booked lines under its own scope. Returns the names of the jobs offered something, for
/// their runs ([`crate::jobs::reconcile_after_file`]).
pub fn offer(
    u: &mut dyn Unit,
    run: &FileRun<'_>,
    jobs: &[Job],
    format: &str,
    taken: &Taken,
) -> Result<Vec<String>, StoreError> {
    let mut offered: Vec<String> = Vec::new();
    for s in &taken.bank_statements {
        let Some(currency) = s.currency else {
            continue;
        };
        let learned = u.jobs_reading_account(&s.account, currency.as_str())?;
        let identity = statement_identity(s);
        let mut records: Option<Vec<Record>> = None;
        for other in jobs.iter().filter(|j| {
            j.name != run.job.name
                && room(&j.kind).takes(Holds::BankStatements)
                && (learned.contains(&j.name) || names_account(j, &s.account))
        }) {
            if u.statement_seen(&other.name, &identity)? != StatementSeen::No {
                continue;
            }
            u.add_statement(&NewStatement {
                job: &other.name,
                file_id: run.file_id,
                offered: true,
                identity: &identity,
                format,
                statement: s,
            })?;
            let lines = records.get_or_insert_with(|| booked_lines(s));
            u.add_records(records_scope(other), run.file_id, lines)?;
            if !offered.contains(&other.name) {
                offered.push(other.name.clone());
            }
        }
    }
    Ok(offered)
}

fn booked_lines(s: &BankStatement) -> Vec<Record> {
    s.records().collect()
}

/// Whether the job names the account among those whose statements it reads.
fn names_account(job: &Job, account: &str) -> bool {
    job.statement_accounts
        .iter()
        .any(|a| a.eq_ignore_ascii_case(account))
}
