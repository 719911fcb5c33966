//! Key values as codes: for each key of a pass, every open row of each side gets the codes of
//! its (extracted, mapped, normalised) values in one code space shared by both sides, so
//! "the key agrees" is "the code sets intersect" — integer work, no strings, in the hot loop.
//!
//! The code space is our column's own dictionary when our side needs no transformation (the
//! common case: their values are looked up in it once per distinct value or row); for a
//! plain text column without transformation (references kept plain because they are nearly
//! unique), a dictionary of its open rows built on all threads ([`Parted`]); else a
//! dictionary of our transformed values built for the pass.

use regex::Regex;

use super::context::ValueMap;
use super::intern::{Interner, Lookup, NONE, Parted};
use super::par::par_chunks;
use super::spec::KeyPlan;
use super::table::{Column, MISSING_CCY, MISSING_DAY, PlainText, Table, TextColumn};

/// The codes of one row for one key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CodeSet<'a> {
    Empty,
    One(u32),
    Many(&'a [u32]),
}

impl CodeSet<'_> {
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            CodeSet::Empty => 0,
            CodeSet::One(_) => 1,
            CodeSet::Many(m) => m.len(),
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        match self {
            CodeSet::Empty => NONE,
            CodeSet::One(c) => *c,
            CodeSet::Many(m) => m[i],
        }
    }

    #[inline]
    pub fn contains(&self, c: u32) -> bool {
        match self {
            CodeSet::Empty => false,
            CodeSet::One(x) => *x == c,
            CodeSet::Many(m) => m.contains(&c),
        }
    }

    #[inline]
    pub fn intersects(&self, other: &CodeSet<'_>) -> bool {
        match (self, other) {
            (CodeSet::One(a), b) | (b, CodeSet::One(a)) => b.contains(*a),
            (CodeSet::Many(a), b) => a.iter().any(|&c| b.contains(c)),
            _ => false,
        }
    }
}

#[inline]
fn one(c: u32) -> CodeSet<'static> {
    if c == NONE {
        CodeSet::Empty
    } else {
        CodeSet::One(c)
    }
}

#[inline]
fn many(codes: &[u32]) -> CodeSet<'_> {
    match codes {
        [] => CodeSet::Empty,
        [c] => CodeSet::One(*c),
        m => CodeSet::Many(m),
    }
}

/// One side's codes for one key, by row. Rows that were not open when the codes were made
/// have none.
pub(crate) enum Codes<'a> {
    /// The column's own symbols.
    Syms(&'a [u32]),
    /// The column's symbols, each translated to one code.
    SymsVia { syms: &'a [u32], via: Vec<u32> },
    /// The column's symbols, each translated to several codes.
    SymsMulti {
        syms: &'a [u32],
        offsets: Vec<u32>,
        codes: Vec<u32>,
    },
    /// Codes per row.
    Rows { offsets: Vec<u32>, codes: Vec<u32> },
    /// One code (or `NONE`) per row.
    PerRow(Vec<u32>),
    /// Currency codes (shared by every table).
    Currency(&'a [u16]),
    /// Day numbers.
    Days(&'a [i32]),
}

impl Codes<'_> {
    #[inline]
    pub fn get(&self, row: u32) -> CodeSet<'_> {
        let r = row as usize;
        match self {
            Codes::Syms(s) => one(s[r]),
            Codes::SymsVia { syms, via } => match syms[r] {
                NONE => CodeSet::Empty,
                s => one(via[s as usize]),
            },
            Codes::SymsMulti {
                syms,
                offsets,
                codes,
            } => match syms[r] {
                NONE => CodeSet::Empty,
                s => many(&codes[offsets[s as usize] as usize..offsets[s as usize + 1] as usize]),
            },
            Codes::Rows { offsets, codes } => {
                many(&codes[offsets[r] as usize..offsets[r + 1] as usize])
            }
            Codes::PerRow(c) => one(c[r]),
            Codes::Currency(c) => match c[r] {
                MISSING_CCY => CodeSet::Empty,
                c => CodeSet::One(u32::from(c)),
            },
            Codes::Days(d) => match d[r] {
                MISSING_DAY => CodeSet::Empty,
                d => CodeSet::One(d as u32),
            },
        }
    }
}

/// Both sides' codes for one key, and the size of the code space when codes are dense
/// (`0..space`), which lets an index be an array instead of a hash table.
pub(crate) struct KeyCodes<'a> {
    pub ours: Codes<'a>,
    pub theirs: Codes<'a>,
    pub space: Option<usize>,
}

/// A text-like value source.
enum Src<'a> {
    Dict { syms: &'a [u32], dict: &'a Interner },
    Plain(&'a PlainText),
    Ccy(&'a [u16]),
}

impl<'a> Src<'a> {
    fn of(col: &'a Column) -> Option<Src<'a>> {
        match col {
            Column::Text(TextColumn::Dict { syms, dict }) => Some(Src::Dict { syms, dict }),
            Column::Text(TextColumn::Plain(p)) => Some(Src::Plain(p)),
            Column::Currency(c) => Some(Src::Ccy(&c.codes)),
            _ => None,
        }
    }

    /// The row's value (a currency as its code, in `buf`).
    #[inline]
    fn value<'b>(&'b self, row: usize, buf: &'b mut [u8; 3]) -> Option<&'b str> {
        match self {
            Src::Dict { syms, dict } => match syms[row] {
                NONE => None,
                s => Some(dict.resolve(s)),
            },
            Src::Plain(p) => Some(p.get(row)).filter(|s| !s.is_empty()),
            Src::Ccy(c) => {
                let code = c[row];
                if code == MISSING_CCY {
                    return None;
                }
                buf[0] = b'A' + (code / 676) as u8;
                buf[1] = b'A' + (code / 26 % 26) as u8;
                buf[2] = b'A' + (code % 26) as u8;
                std::str::from_utf8(&buf[..]).ok()
            }
        }
    }
}

/// The steps applied to one side's values before comparing.
#[derive(Clone, Copy)]
pub(crate) struct Transform<'k> {
    pub pattern: Option<&'k Regex>,
    pub map: Option<&'k ValueMap>,
    pub normalise: bool,
}

impl<'k> Transform<'k> {
    pub fn ours(key: &'k KeyPlan, map: Option<&'k ValueMap>) -> Transform<'k> {
        Transform {
            pattern: key.ours_pattern.as_ref(),
            map,
            normalise: key.normalise,
        }
    }

    pub fn theirs(key: &'k KeyPlan) -> Transform<'k> {
        Transform {
            pattern: key.theirs_pattern.as_ref(),
            map: None,
            normalise: key.normalise,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.pattern.is_none() && self.map.is_none() && !self.normalise
    }

    /// May give several values per input value.
    fn multi(&self) -> bool {
        self.pattern.is_some() || self.map.is_some()
    }

    /// Calls `out` with every compared form of `value`.
    pub fn apply(&self, value: &str, scratch: &mut Scratch, out: &mut dyn FnMut(&str)) {
        match self.pattern {
            Some(re) => {
                if re.captures_len() > 1 {
                    for c in re.captures_iter(value) {
                        if let Some(m) = c.get(1) {
                            self.after_pattern(m.as_str(), scratch, out);
                        }
                    }
                } else {
                    for m in re.find_iter(value) {
                        self.after_pattern(m.as_str(), scratch, out);
                    }
                }
            }
            None => self.after_pattern(value, scratch, out),
        }
    }

    fn after_pattern(&self, v: &str, scratch: &mut Scratch, out: &mut dyn FnMut(&str)) {
        match self.map {
            Some(map) => {
                for m in map.get(v) {
                    self.last(m, scratch, out);
                }
            }
            None => self.last(v, scratch, out),
        }
    }

    fn last(&self, v: &str, scratch: &mut Scratch, out: &mut dyn FnMut(&str)) {
        if self.normalise {
            normalise(v, scratch);
            out(&scratch.out);
        } else {
            out(v);
        }
    }
}

/// Buffers reused by [`normalise`].
#[derive(Default)]
pub(crate) struct Scratch {
    tmp: String,
    words: Vec<(usize, usize)>,
    pub out: String,
}

/// Legal-form words dropped by `normalise`, sorted.
const LEGAL_FORMS: [&str; 32] = [
    "ab",
    "ag",
    "as",
    "asa",
    "bv",
    "bvba",
    "co",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "kg",
    "kgaa",
    "limited",
    "llc",
    "llp",
    "lp",
    "ltd",
    "nv",
    "oy",
    "oyj",
    "plc",
    "pty",
    "sa",
    "sarl",
    "sas",
    "se",
    "spa",
    "srl",
    "ug",
];

fn legal_form(w: &str) -> bool {
    LEGAL_FORMS.binary_search(&w).is_ok()
}

/// See [`super::KeySpec`]: lower case, `.` and `'` dropped, other non-alphanumerics separate
/// words, legal forms dropped (unless nothing else is left), words joined. Into `s.out`.
pub(crate) fn normalise(v: &str, s: &mut Scratch) {
    s.tmp.clear();
    s.words.clear();
    s.out.clear();
    let mut start: Option<usize> = None;
    for ch in v.chars() {
        if matches!(ch, '.' | '\'' | '\u{2019}') {
            continue;
        }
        if ch.is_alphanumeric() {
            if start.is_none() {
                start = Some(s.tmp.len());
            }
            if ch.is_ascii() {
                s.tmp.push(ch.to_ascii_lowercase());
            } else {
                s.tmp.extend(ch.to_lowercase());
            }
        } else if let Some(a) = start.take() {
            s.words.push((a, s.tmp.len()));
        }
    }
    if let Some(a) = start {
        s.words.push((a, s.tmp.len()));
    }
    let keep_all = s.words.iter().all(|&(a, b)| legal_form(&s.tmp[a..b]));
    for &(a, b) in &s.words {
        let w = &s.tmp[a..b];
        if keep_all || !legal_form(w) {
            s.out.push_str(w);
        }
    }
}

/// Computes both sides' codes for `key` over the open rows.
pub(crate) fn key_codes<'a>(
    key: &KeyPlan,
    ours: &'a Table,
    theirs: &'a Table,
    ours_open: &[u32],
    theirs_open: &[u32],
    map: Option<&ValueMap>,
    threads: usize,
) -> KeyCodes<'a> {
    let (Some(oc), Some(tc)) = (ours.col(&key.ours), theirs.col(&key.theirs)) else {
        unreachable!("fields resolved before the run");
    };
    let xo = Transform::ours(key, map);
    let xt = Transform::theirs(key);
    match (oc, tc) {
        (Column::Date(o), Column::Date(t)) => {
            return KeyCodes {
                ours: Codes::Days(&o.days),
                theirs: Codes::Days(&t.days),
                space: None,
            };
        }
        (Column::Currency(o), Column::Currency(t)) if xo.is_identity() && xt.is_identity() => {
            return KeyCodes {
                ours: Codes::Currency(&o.codes),
                theirs: Codes::Currency(&t.codes),
                space: Some(26 * 26 * 26),
            };
        }
        _ => {}
    }
    let (Some(so), Some(st)) = (Src::of(oc), Src::of(tc)) else {
        unreachable!("key kinds checked");
    };

    // Our dictionary as the code space: nothing to build on our side.
    if let (Src::Dict { syms, dict }, true) = (&so, xo.is_identity()) {
        let theirs_codes = lookup_side(&st, xt, theirs_open, theirs.len(), *dict, threads);
        return KeyCodes {
            ours: Codes::Syms(syms),
            theirs: theirs_codes,
            space: Some(dict.len()),
        };
    }

    // Our values as they are, one per row (free text, references stored plain): a
    // dictionary of them built on all threads.
    if let (Src::Plain(p), true) = (&so, xo.is_identity()) {
        let (k, open_codes) = Parted::build(
            ours_open.len(),
            |i| Some(p.get(ours_open[i] as usize)).filter(|v| !v.is_empty()),
            threads,
        );
        let mut per_row = vec![NONE; ours.len()];
        for (&row, c) in ours_open.iter().zip(open_codes) {
            per_row[row as usize] = c;
        }
        let theirs_codes = lookup_side(&st, xt, theirs_open, theirs.len(), &k, threads);
        return KeyCodes {
            ours: Codes::PerRow(per_row),
            theirs: theirs_codes,
            space: Some(k.space()),
        };
    }

    // A dictionary of our compared values.
    let mut k = Interner::with_capacity(ours_open.len().min(1 << 20));
    let per_symbol = |syms: &[u32], dict: &Interner, open: &[u32]| {
        dict.len() <= open.len().saturating_mul(2) && !syms.is_empty()
    };
    let ours_codes = match &so {
        Src::Dict { syms, dict } if per_symbol(syms, dict, ours_open) => {
            ours_by_symbol(syms, dict, xo, &mut k)
        }
        _ => ours_by_row(&so, xo, ours_open, ours.len(), &mut k),
    };
    let theirs_codes = lookup_side(&st, xt, theirs_open, theirs.len(), &k, threads);
    KeyCodes {
        ours: ours_codes,
        theirs: theirs_codes,
        space: Some(k.space()),
    }
}

/// Our compared values coded once per symbol of our dictionary (it is not much larger than
/// the open rows): the rows then reach their codes through their symbol.
fn ours_by_symbol<'a>(
    syms: &'a [u32],
    dict: &Interner,
    xo: Transform<'_>,
    k: &mut Interner,
) -> Codes<'a> {
    let mut scratch = Scratch::default();
    let mut found: Vec<u32> = Vec::new();
    let mut offsets = Vec::with_capacity(dict.len() + 1);
    let mut codes = Vec::with_capacity(dict.len());
    offsets.push(0u32);
    for s in 0..dict.len() as u32 {
        found.clear();
        xo.apply(dict.resolve(s), &mut scratch, &mut |v| {
            if let Ok(c) = k.intern(v) {
                found.push(c);
            }
        });
        found.sort_unstable();
        found.dedup();
        codes.extend_from_slice(&found);
        offsets.push(codes.len() as u32);
    }
    if xo.multi() {
        Codes::SymsMulti {
            syms,
            offsets,
            codes,
        }
    } else {
        let via = (0..dict.len())
            .map(|s| {
                if offsets[s + 1] > offsets[s] {
                    codes[offsets[s] as usize]
                } else {
                    NONE
                }
            })
            .collect();
        Codes::SymsVia { syms, via }
    }
}

/// Our compared values coded row by row over the open rows.
fn ours_by_row<'a>(
    so: &Src<'_>,
    xo: Transform<'_>,
    ours_open: &[u32],
    rows: usize,
    k: &mut Interner,
) -> Codes<'a> {
    let mut scratch = Scratch::default();
    let mut buf = [0u8; 3];
    let mut found: Vec<u32> = Vec::new();
    let mut counts = Vec::with_capacity(ours_open.len());
    let mut codes = Vec::with_capacity(ours_open.len());
    for &row in ours_open {
        found.clear();
        if let Some(v) = so.value(row as usize, &mut buf) {
            xo.apply(v, &mut scratch, &mut |v| {
                if let Ok(c) = k.intern(v) {
                    found.push(c);
                }
            });
        }
        found.sort_unstable();
        found.dedup();
        counts.push(found.len() as u32);
        codes.extend_from_slice(&found);
    }
    rows_csr(rows, ours_open, vec![(counts, codes)])
}

/// Their side: values transformed and looked up in `k` (per distinct value when their column
/// is a dictionary not much larger than the open rows, else per row), in parallel.
fn lookup_side<'a, K: Lookup>(
    src: &Src<'a>,
    x: Transform<'_>,
    open: &[u32],
    rows: usize,
    k: &K,
    threads: usize,
) -> Codes<'a> {
    if let Src::Dict { syms, dict } = src
        && dict.len() <= open.len().saturating_mul(2)
    {
        return lookup_by_symbol(syms, dict, x, k, threads);
    }
    lookup_by_row(src, x, open, rows, k, threads)
}

/// Their dictionary's symbols looked up once each: the rows reach their codes through their
/// symbol.
fn lookup_by_symbol<'a, K: Lookup>(
    syms: &'a [u32],
    dict: &Interner,
    x: Transform<'_>,
    k: &K,
    threads: usize,
) -> Codes<'a> {
    let lookup = |v: &str, scratch: &mut Scratch, found: &mut Vec<u32>| {
        found.clear();
        x.apply(v, scratch, &mut |v| {
            if let Some(c) = k.code(v) {
                found.push(c);
            }
        });
        if found.len() > 1 {
            found.sort_unstable();
            found.dedup();
        }
    };
    let parts = par_chunks(dict.len(), threads, 4096, |range| {
        let mut scratch = Scratch::default();
        let mut found = Vec::new();
        let mut counts = Vec::with_capacity(range.len());
        let mut codes = Vec::with_capacity(range.len());
        for s in range {
            lookup(dict.resolve(s as u32), &mut scratch, &mut found);
            counts.push(found.len() as u32);
            codes.extend_from_slice(&found);
        }
        (counts, codes)
    });
    if !x.multi() {
        let via = parts
            .into_iter()
            .flat_map(|(counts, codes)| {
                let mut at = 0usize;
                counts
                    .into_iter()
                    .map(move |n| {
                        let c = if n == 0 { NONE } else { codes[at] };
                        at += n as usize;
                        c
                    })
                    .collect::<Vec<u32>>()
            })
            .collect();
        return Codes::SymsVia { syms, via };
    }
    let mut offsets = Vec::with_capacity(dict.len() + 1);
    offsets.push(0u32);
    let mut codes = Vec::new();
    for (cs, cd) in parts {
        let base = codes.len() as u32;
        let mut at = base;
        for n in cs {
            at += n;
            offsets.push(at);
        }
        codes.extend_from_slice(&cd);
    }
    Codes::SymsMulti {
        syms,
        offsets,
        codes,
    }
}

/// Their open rows looked up row by row, in parallel.
fn lookup_by_row<'a, K: Lookup>(
    src: &Src<'a>,
    x: Transform<'_>,
    open: &[u32],
    rows: usize,
    k: &K,
    threads: usize,
) -> Codes<'a> {
    // Per row, a block of rows at a time: first every compared value of the block (e.g. the
    // pattern's matches in free text), then their lookups as one batch. On a large
    // dictionary each lookup is a cache miss; batched, the misses overlap
    // (see `Interner::get_batch`) instead of each waiting behind a row's regex work.
    const BLOCK: usize = 256;
    let parts = par_chunks(open.len(), threads, 4096, |range| {
        let mut scratch = Scratch::default();
        let mut buf = [0u8; 3];
        let mut counts = Vec::with_capacity(range.len());
        let mut codes = Vec::with_capacity(range.len());
        let mut text = String::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut per_row: Vec<u32> = Vec::with_capacity(BLOCK);
        let mut syms = Vec::new();
        let mut found = Vec::new();
        for block in open[range].chunks(BLOCK) {
            text.clear();
            ends.clear();
            per_row.clear();
            for &row in block {
                let before = ends.len();
                if let Some(v) = src.value(row as usize, &mut buf) {
                    x.apply(v, &mut scratch, &mut |v| {
                        text.push_str(v);
                        ends.push(text.len());
                    });
                }
                per_row.push((ends.len() - before) as u32);
            }
            let values = (0..ends.len()).map(|i| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                &text[start..ends[i]]
            });
            k.get_batch(values, &mut syms);
            let mut at = 0;
            for &n in &per_row {
                found.clear();
                let mine = &syms[at..at + n as usize];
                found.extend(mine.iter().copied().filter(|&c| c != NONE));
                at += n as usize;
                if found.len() > 1 {
                    found.sort_unstable();
                    found.dedup();
                }
                counts.push(found.len() as u32);
                codes.extend_from_slice(&found);
            }
        }
        (counts, codes)
    });
    rows_csr(rows, open, parts)
}

/// Per-row CSR from per-open-row counts and codes (chunks in row order).
fn rows_csr<'a>(rows: usize, open: &[u32], parts: Vec<(Vec<u32>, Vec<u32>)>) -> Codes<'a> {
    let mut offsets = vec![0u32; rows + 1];
    let mut i = 0;
    for (counts, _) in &parts {
        for &n in counts {
            offsets[open[i] as usize + 1] = n;
            i += 1;
        }
    }
    for r in 0..rows {
        offsets[r + 1] += offsets[r];
    }
    let total: usize = parts.iter().map(|(_, c)| c.len()).sum();
    let mut codes = Vec::with_capacity(total);
    for (_, c) in parts {
        codes.extend_from_slice(&c);
    }
    Codes::Rows { offsets, codes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_cases() {
        let mut s = Scratch::default();
        let cases = [
            ("ACME Trading GmbH", "acmetrading"),
            ("Acme-Trading", "acmetrading"),
            ("acme trading g.m.b.h.", "acmetrading"),
            ("  O'Brien & Sons, Ltd.", "obriensons"),
            ("Müller AG", "müller"),
            ("GMBH", "gmbh"),
            ("SA", "sa"),
            ("", ""),
            ("Coca-Cola Co", "cocacola"),
        ];
        for (v, want) in cases {
            normalise(v, &mut s);
            assert_eq!(s.out, want, "{v}");
        }
        let mut sorted = LEGAL_FORMS;
        sorted.sort_unstable();
        assert_eq!(sorted, LEGAL_FORMS, "LEGAL_FORMS must stay sorted");
    }

    #[test]
    fn code_sets_intersect() {
        let a = [1, 5, 9];
        let b = [2, 9];
        assert!(CodeSet::Many(&a).intersects(&CodeSet::Many(&b)));
        assert!(CodeSet::One(5).intersects(&CodeSet::Many(&a)));
        assert!(CodeSet::Many(&a).intersects(&CodeSet::One(1)));
        assert!(!CodeSet::One(2).intersects(&CodeSet::One(3)));
        assert!(!CodeSet::Empty.intersects(&CodeSet::Empty));
    }
}
