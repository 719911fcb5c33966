//! The limits a file is read within: the memory one file may take, and its bytes read up to
//! the file limit.

use sha2::{Digest, Sha256};

use crate::digest::to_hex;

/// A file that is not read in batches (every format but the CSV of a ledger import or a cash
/// reconciliation: spreadsheets, XML and SWIFT statements, invoices, the CSVs of securities
/// and payables) is held whole in memory with everything read from it, which takes up to
/// about this many times its size (README, Operations, "Large files and set-aside files").
/// Such files are limited to `daemon.max_file_size_mb` divided by this, so the largest of
/// them needs no more memory than the largest CSV.
pub const WHOLE_READ_DIVISOR: u64 = 16;

/// The most one file costs in memory, as a multiple of its size plus a constant, measured by
/// `cargo bench --bench memory` (README, Measuring): a CSV read in batches holds its bytes and
/// one batch of records; a file read whole (at most a [`WHOLE_READ_DIVISOR`]th of the file
/// limit) up to [`WHOLE_READ_FACTOR`] times its size.
pub const MEMORY_PER_FILE: (u64, u64) = (2, 256 * 1024 * 1024);

/// Memory of a file read whole, as a multiple of its size: measured up to about 17 for a
/// camt.053 of small entries (README, Operations).
pub const WHOLE_READ_FACTOR: u64 = 20;

pub(super) enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// The file's bytes and their SHA-256, hashed as they are read (one pass over the file).
pub(super) fn read_limited(
    path: &std::path::Path,
    limit: u64,
) -> Result<(Vec<u8>, String), ReadError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(ReadError::Io)?;
    let size = f.metadata().map_err(ReadError::Io)?.len();
    if size > limit {
        return Err(ReadError::TooLarge(size));
    }
    // Exactly the size: a vector that had to grow would hold up to twice the file.
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|e| ReadError::Io(std::io::Error::other(e)))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        // A file that grew after the size check is still refused past the limit.
        if (bytes.len() + n) as u64 > limit {
            return Err(ReadError::TooLarge((bytes.len() + n) as u64));
        }
        hasher.update(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok((bytes, to_hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_FILE_SIZE_MB;

    /// `MemoryMax` of the shipped unit, in bytes.
    fn memory_max() -> u64 {
        let unit = include_str!("../../../config/clerk.service");
        let value = unit
            .lines()
            .find_map(|l| l.strip_prefix("MemoryMax="))
            .expect("MemoryMax in config/clerk.service");
        let (digits, unit) = value.split_at(value.trim_end_matches(char::is_alphabetic).len());
        let n: u64 = digits.parse().unwrap();
        n * match unit {
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            other => panic!("MemoryMax unit {other:?}"),
        }
    }

    #[test]
    fn the_shipped_limits_agree_the_largest_file_of_any_format_fits_memory_max() {
        let shipped: toml::Table = include_str!("../../../config/clerk.toml").parse().unwrap();
        let shipped_mb = shipped["daemon"]["max_file_size_mb"].as_integer().unwrap() as u64;
        assert_eq!(
            shipped_mb, DEFAULT_MAX_FILE_SIZE_MB,
            "shipped and default agree"
        );
        let max = memory_max();
        let (factor, constant) = MEMORY_PER_FILE;
        let file = shipped_mb * 1024 * 1024;
        assert!(
            factor * file + constant <= max,
            "a CSV of {shipped_mb} MB needs {} MB, more than MemoryMax",
            (factor * file + constant) >> 20
        );
        let whole = file / WHOLE_READ_DIVISOR;
        assert!(
            WHOLE_READ_FACTOR * whole + constant <= max,
            "a file read whole of {} MB needs {} MB, more than MemoryMax",
            whole >> 20,
            (WHOLE_READ_FACTOR * whole + constant) >> 20
        );
    }
}
