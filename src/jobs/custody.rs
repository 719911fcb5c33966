//! A custody import: custodians' statements of holdings and of transactions into a book.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Holdings, Holds::Transactions, Holds::Nothing],
    wants: "custodians' statements (MT535/536/537, semt.002)",
};
