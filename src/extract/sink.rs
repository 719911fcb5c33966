//! How structured statement parsers hand over what they read, so a 300 MB camt.053 or MT940
//! is read in memory bounded by its largest entry (or message), not by the file.

use super::ExtractError;
use crate::model::statement::{BankStatement, StatementEntry};

/// Receives statements as a parser reads them: every entry as soon as it is complete, then
/// the statement it belongs to (with `entries` empty) once the statement is complete.
pub trait StatementSink {
    fn entry(&mut self, entry: StatementEntry) -> Result<(), ExtractError>;
    fn statement(&mut self, statement: BankStatement) -> Result<(), ExtractError>;
}

/// Keeps everything: whole statements with their entries.
#[derive(Default)]
pub struct Collect {
    pending: Vec<StatementEntry>,
    pub statements: Vec<BankStatement>,
}

impl StatementSink for Collect {
    fn entry(&mut self, entry: StatementEntry) -> Result<(), ExtractError> {
        self.pending.push(entry);
        Ok(())
    }

    fn statement(&mut self, mut statement: BankStatement) -> Result<(), ExtractError> {
        statement.entries = std::mem::take(&mut self.pending);
        self.statements.push(statement);
        Ok(())
    }
}
