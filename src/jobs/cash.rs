//! A cash reconciliation: bank statement lines against the open items of a book.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Rows, Holds::Nothing, Holds::BankStatements],
    wants: "bank statements (MT940/942/950, camt.052/053/054, or CSV/spreadsheet rows)",
};
