//! Arrivals: what files and statements came when, for the deadlines of `[[expect]]`, and the
//! last deadline each expectation was checked at.

use chrono::{DateTime, Utc};

use super::Result;

/// What a unit of work reads and keeps about expected arrivals.
pub trait Arrivals {
    /// The names and arrival times of the files `job` processed (read, not failed nor
    /// duplicate) that arrived in `(after, upto]`, oldest first.
    fn files_arrived(
        &mut self,
        job: &str,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>>;
    /// The arrival times of processed files holding a statement of `account` (compared
    /// without spaces, upper case: pass it so), whichever job took them, in `(after, upto]`.
    fn statements_arrived(
        &mut self,
        account: &str,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>>;
    /// The accounts (without spaces, upper case) of the statements a file held.
    fn statement_accounts_of_file(&mut self, file_id: i64) -> Result<Vec<String>>;
    /// The last deadline checked for an expectation of `job` (its key); `None` before the
    /// first check.
    fn last_deadline_checked(&mut self, job: &str, expected: &str)
    -> Result<Option<DateTime<Utc>>>;
    fn set_last_deadline_checked(
        &mut self,
        job: &str,
        expected: &str,
        deadline: DateTime<Utc>,
    ) -> Result<()>;
}
