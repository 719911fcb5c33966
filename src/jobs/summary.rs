//! The exception summary: a mail, fired by its schedule; it reads no files.

use super::Room;

pub static ROOM: Room = Room {
    takes: &[],
    wants: "no files",
};
