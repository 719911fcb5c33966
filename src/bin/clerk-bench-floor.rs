//! The floor under the benchmark: `clerk-bench-floor LEDGER STATEMENT OUT` does a strict
//! part of the work `clerk-bench` does, written for these two files alone, so its time is
//! about the least any matcher of the contract spends on this machine.
//!
//! It reads both files (one thread each, through a reused buffer), cuts every line at its
//! commas, keeps amounts as cents, takes the `INV-` reference with nine digits from each
//! side as an integer, joins the statement lines to the ledger on it with a hash map, keeps a
//! pair when currency and amount agree, and writes the pairs as the contract's `reference`
//! rows. Left out on purpose (all of which `clerk-bench` does): dates, the amount/date and
//! batch passes, ties and duplicates, checks of what it reads (a malformed file panics), the
//! unmatched rows. Its results therefore score below 1.0: it is a yardstick, not a matcher.

use std::io::{Read as _, Write as _};

use memchr::{memchr, memchr_iter, memmem, memrchr};
use rustc_hash::FxHashMap;

/// The columns the join needs, by row.
#[derive(Default)]
struct Side {
    /// Every identity, back to back; `identity_ends[r]` is where row `r`'s ends.
    identities: Vec<u8>,
    identity_ends: Vec<u32>,
    amount_cents: Vec<i64>,
    currency: Vec<[u8; 3]>,
    /// The reference's nine digits plus one; 0 when there is none.
    reference: Vec<u64>,
}

impl Side {
    fn identity(&self, row: usize) -> &[u8] {
        let start = row
            .checked_sub(1)
            .map_or(0, |p| self.identity_ends[p] as usize);
        &self.identities[start..self.identity_ends[row] as usize]
    }
}

/// Where each needed field is in a line of one file.
struct Layout {
    identity: usize,
    amount: usize,
    currency: usize,
    reference: usize,
}

const LEDGER: Layout = Layout {
    identity: 0,
    amount: 3,
    currency: 4,
    reference: 5,
};

const STATEMENT: Layout = Layout {
    identity: 4,
    amount: 2,
    currency: 3,
    reference: 5,
};

fn cents(b: &[u8]) -> i64 {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let v = digits
        .iter()
        .filter(|c| c.is_ascii_digit())
        .fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
    if negative { -v } else { v }
}

/// The first `INV-` followed by exactly nine digits, as an integer plus one.
fn reference(text: &[u8], finder: &memmem::Finder<'_>) -> u64 {
    let mut from = 0;
    while let Some(i) = finder.find(&text[from..]) {
        let at = from + i + 4;
        let digits = text.get(at..at + 9).unwrap_or_default();
        let ends = text.get(at + 9).is_none_or(|c| !c.is_ascii_digit());
        if digits.len() == 9 && digits.iter().all(u8::is_ascii_digit) && ends {
            return digits
                .iter()
                .fold(1u64, |v, &c| v * 10 + u64::from(c - b'0'));
        }
        from = at;
    }
    0
}

/// Reads a file through one reused buffer (so its bytes never sit in memory whole) and keeps
/// the needed fields of every line after the header.
fn read(path: &str, layout: &Layout) -> std::io::Result<Side> {
    let mut file = std::fs::File::open(path)?;
    let rows = file.metadata().map_or(0, |m| m.len() as usize / 80);
    let mut side = Side {
        identities: Vec::with_capacity(rows * 8),
        identity_ends: Vec::with_capacity(rows),
        amount_cents: Vec::with_capacity(rows),
        currency: Vec::with_capacity(rows),
        reference: Vec::with_capacity(rows),
    };
    let finder = memmem::Finder::new(b"INV-");
    let mut fields = [(0usize, 0usize); 8];
    let mut buf = vec![0u8; 1 << 20];
    let (mut filled, mut header) = (0usize, true);
    loop {
        let n = file.read(&mut buf[filled..])?;
        filled += n;
        let whole = if n == 0 {
            filled
        } else {
            memrchr(b'\n', &buf[..filled]).map_or(0, |e| e + 1)
        };
        let mut pos = 0;
        while pos < whole {
            let end = memchr(b'\n', &buf[pos..whole]).map_or(whole, |e| pos + e);
            let line = &buf[pos..end];
            pos = end + 1;
            if std::mem::take(&mut header) || line.is_empty() {
                continue;
            }
            let (mut k, mut start) = (0, 0);
            for comma in memchr_iter(b',', line).chain(std::iter::once(line.len())) {
                if k < fields.len() {
                    fields[k] = (start, comma);
                }
                k += 1;
                start = comma + 1;
            }
            let cell = |i: usize| &line[fields[i].0..fields[i].1];
            side.identities.extend_from_slice(cell(layout.identity));
            side.identity_ends.push(side.identities.len() as u32);
            side.amount_cents.push(cents(cell(layout.amount)));
            let c = cell(layout.currency);
            side.currency.push([c[0], c[1], c[2]]);
            side.reference
                .push(reference(cell(layout.reference), &finder));
        }
        if n == 0 {
            return Ok(side);
        }
        buf.copy_within(whole..filled, 0);
        filled -= whole;
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ledger_path, statement_path, out] = &args[..] else {
        eprintln!("usage: clerk-bench-floor LEDGER STATEMENT OUT");
        std::process::exit(2);
    };
    let (ledger, statement) = std::thread::scope(|s| {
        let l = s.spawn(|| read(ledger_path, &LEDGER));
        let st = read(statement_path, &STATEMENT);
        (l.join().expect("reading the ledger panicked"), st)
    });
    let (ledger, statement) = (ledger?, statement?);

    let mut by_reference: FxHashMap<u64, u32> = FxHashMap::default();
    by_reference.reserve(ledger.reference.len());
    for (row, &r) in ledger.reference.iter().enumerate() {
        if r != 0 {
            by_reference.insert(r, row as u32);
        }
    }
    let mut taken = vec![false; ledger.reference.len()];
    let mut text = Vec::with_capacity(statement.reference.len() * 32);
    text.extend_from_slice(b"ledger_id,bank_reference,match_pass\n");
    for (s, &r) in statement.reference.iter().enumerate() {
        let Some(&l) = by_reference.get(&r).filter(|_| r != 0) else {
            continue;
        };
        let l = l as usize;
        if taken[l]
            || ledger.currency[l] != statement.currency[s]
            || ledger.amount_cents[l] != statement.amount_cents[s]
        {
            continue;
        }
        taken[l] = true;
        text.extend_from_slice(ledger.identity(l));
        text.push(b',');
        text.extend_from_slice(statement.identity(s));
        text.extend_from_slice(b",reference\n");
    }
    std::fs::File::create(out)?.write_all(&text)
}
