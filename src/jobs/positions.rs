//! A position reconciliation: the books' positions against the custodian's holdings, per
//! safekeeping account and ISIN.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Holdings, Holds::BookPositions],
    wants: "the books' positions (CSV named as [positions] book_files says) or the custodian's holdings (MT535, semt.002, CSV)",
};
