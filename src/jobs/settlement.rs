//! A trade settlement: the blotter's trades against the custodian's settlement
//! confirmations.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[Holds::Transactions, Holds::Trades],
    wants: "a trade blotter (CSV named as [settlement] blotter_files says) or settlement confirmations (MT536, MT537)",
};
