//! The floor under the benchmark: `clerk-bench-floor LEDGER STATEMENT OUT` does a strict
//! part of the work `clerk-bench` does, written for these two files alone, so that its time
//! is a lower bound for any matcher on this machine.
//!
//! It reads both files whole (one thread each), cuts every line at its commas, keeps amounts
//! as cents and dates as numbers, takes the `INV-` reference with nine digits from each side
//! as an integer, joins the statement lines to the ledger on it with a hash map, keeps a pair
//! when currency and amount agree, and writes the pairs as the contract's `reference` rows.
//! Left out on purpose (all of which `clerk-bench` does): the amount/date and batch passes,
//! ties and duplicates, business days, checks of what it reads (a malformed file panics),
//! the unmatched rows. Its results therefore score below 1.0: it is a yardstick, not a
//! matcher.

use std::io::Write as _;

use memchr::{memchr, memchr_iter, memmem};
use rustc_hash::FxHashMap;

/// The columns the join needs, by row; identities as (offset, length) into the file's bytes.
#[derive(Default)]
struct Side {
    identity: Vec<(u32, u32)>,
    amount_cents: Vec<i64>,
    currency: Vec<[u8; 3]>,
    /// The reference's nine digits plus one; 0 when there is none.
    reference: Vec<u64>,
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

fn span((at, len): (u32, u32)) -> std::ops::Range<usize> {
    at as usize..(at + len) as usize
}

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

fn parse(bytes: &[u8], layout: &Layout) -> Side {
    let rows = bytes.len() / 64;
    let mut side = Side {
        identity: Vec::with_capacity(rows),
        amount_cents: Vec::with_capacity(rows),
        currency: Vec::with_capacity(rows),
        reference: Vec::with_capacity(rows),
    };
    let finder = memmem::Finder::new(b"INV-");
    let mut fields = [(0usize, 0usize); 8];
    let mut pos = memchr(b'\n', bytes).map_or(bytes.len(), |e| e + 1);
    while pos < bytes.len() {
        let end = memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |e| pos + e);
        let line = &bytes[pos..end];
        let (mut k, mut start) = (0, 0);
        for comma in memchr_iter(b',', line).chain(std::iter::once(line.len())) {
            if k < fields.len() {
                fields[k] = (start, comma);
            }
            k += 1;
            start = comma + 1;
        }
        let cell = |i: usize| &line[fields[i].0..fields[i].1];
        let (a, z) = fields[layout.identity];
        side.identity.push(((pos + a) as u32, (z - a) as u32));
        side.amount_cents.push(cents(cell(layout.amount)));
        let c = cell(layout.currency);
        side.currency.push([c[0], c[1], c[2]]);
        side.reference
            .push(reference(cell(layout.reference), &finder));
        pos = end + 1;
    }
    side
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ledger_path, statement_path, out] = &args[..] else {
        eprintln!("usage: clerk-bench-floor LEDGER STATEMENT OUT");
        std::process::exit(2);
    };
    let (ledger, statement) = std::thread::scope(|s| {
        let l = s.spawn(|| {
            std::fs::read(ledger_path).map(|b| {
                let side = parse(&b, &LEDGER);
                (b, side)
            })
        });
        let st = std::fs::read(statement_path).map(|b| {
            let side = parse(&b, &STATEMENT);
            (b, side)
        });
        (l.join().expect("reading the ledger panicked"), st)
    });
    let ((ledger_bytes, ledger), (statement_bytes, statement)) = (ledger?, statement?);

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
        text.extend_from_slice(&ledger_bytes[span(ledger.identity[l])]);
        text.push(b',');
        text.extend_from_slice(&statement_bytes[span(statement.identity[s])]);
        text.extend_from_slice(b",reference\n");
    }
    std::fs::File::create(out)?.write_all(&text)
}
