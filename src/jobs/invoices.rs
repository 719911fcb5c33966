//! An invoice import: supplier invoices into a book.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Invoices],
    wants: "invoices (UBL, CII, Factur-X)",
};
