//! Accounts payable: invoices three ways against purchase orders and goods receipts, and
//! outgoing payments on the bank statement against the open payables.

use super::{Holds, Room};

pub static ROOM: Room = Room {
    takes: &[
        Holds::Invoices,
        Holds::BankStatements,
        Holds::PurchaseOrders,
        Holds::GoodsReceipts,
    ],
    wants: "invoices (UBL, CII, Factur-X), bank statements (MT940, camt), or purchase orders and goods receipts (CSV named as [payables] says)",
};
