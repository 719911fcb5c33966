//! Unit tests of the SWIFT readers: table-driven where the cases are alike.
