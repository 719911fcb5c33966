//! A ledger import: loads ledger items (the book side) into a book.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Rows, Holds::Nothing],
    wants: "ledger items (CSV or spreadsheet rows)",
};
