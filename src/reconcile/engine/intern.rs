//! A string interner: each distinct string gets a dense `u32` symbol, in order of first
//! appearance. Text lives in one arena; the index is an open-addressing table of `u64` slots
//! (the upper half of the string's hash as a tag, the symbol + 1 below), so a lookup touches
//! the arena only when the tag agrees.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// "No symbol": a missing value, or a string the interner does not hold.
pub(crate) const NONE: u32 = u32::MAX;

/// The hash every text index of the engine uses.
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(b);
    // Fx leaves the low bits weak for short ASCII keys (references differing in their last
    // digits); the slot index comes from them, so mix the bits once more (a murmur3-style
    // finaliser) to keep probe sequences short.
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// How many lookups a batch issues together (see [`Interner::intern_batch`]).
const GROUP: usize = 16;

/// Runs `each` over `values` in groups of up to [`GROUP`], each value with its hash: the
/// batch lookups first touch what a whole group will read, then probe.
fn in_hashed_groups<'v, E>(
    values: impl Iterator<Item = &'v str>,
    mut each: impl FnMut(&[(&'v str, u64)]) -> Result<(), E>,
) -> Result<(), E> {
    let mut it = values.peekable();
    let mut group: [(&str, u64); GROUP] = [("", 0); GROUP];
    while it.peek().is_some() {
        let mut g = 0;
        while g < GROUP {
            let Some(v) = it.next() else { break };
            group[g] = (v, hash_bytes(v.as_bytes()));
            g += 1;
        }
        each(&group[..g])?;
    }
    Ok(())
}

/// The arena outgrew `u32` offsets (more than 4 GiB of distinct text in one column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArenaFull;

#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    /// Every distinct string, back to back.
    text: String,
    /// `ends[s]`: where symbol `s` ends in `text` (it starts where `s - 1` ends).
    ends: Vec<u32>,
    /// Open addressing, linear probing, power-of-two length: 0 is empty, otherwise
    /// `(hash >> 32) << 32 | (symbol + 1)`. The slot is found from the hash's low bits.
    slots: Vec<u64>,
}

impl Interner {
    /// An interner sized for about `n` distinct strings without growing.
    pub fn with_capacity(n: usize) -> Interner {
        Interner {
            text: String::new(),
            ends: Vec::with_capacity(n),
            slots: vec![0; slots_for(n)],
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string of symbol `sym` (`sym < len()`).
    #[inline]
    pub fn resolve(&self, sym: u32) -> &str {
        let s = sym as usize;
        let start = if s == 0 { 0 } else { self.ends[s - 1] as usize };
        &self.text[start..self.ends[s] as usize]
    }

    /// The symbol of `s`, if interned.
    #[inline]
    pub fn get(&self, s: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.get_hashed(s, hash_bytes(s.as_bytes()))
    }

    /// The symbol of `s`, interning it when new.
    #[inline]
    pub fn intern(&mut self, s: &str) -> Result<u32, ArenaFull> {
        self.intern_hashed(s, hash_bytes(s.as_bytes()))
    }

    /// Interns `values[i]` for every `i`, writing the symbols to `out` (one per value, in
    /// order): the same symbols as calling [`Interner::intern`] on each in turn.
    ///
    /// Why a batch: on a large dictionary (nearly unique references) every lookup is a cache
    /// miss on the slot table and, when the value is found, on the arena, and one-at-a-time
    /// lookups wait for each miss in turn. Here the loads of a group of values are issued
    /// together first (independent loads the CPU overlaps), so the probes that follow hit the
    /// cache. `unsafe` is forbidden in this crate, so plain loads stand in for prefetches.
    pub fn intern_batch<'v>(
        &mut self,
        values: impl ExactSizeIterator<Item = &'v str> + Clone,
        out: &mut Vec<u32>,
    ) -> Result<(), ArenaFull> {
        out.clear();
        let n = values.len();
        // Grow once for the worst case (all new), so the table does not move mid-batch.
        if (self.ends.len() + n) * 4 > self.slots.len() * 3 {
            self.grow_for(self.ends.len() + n);
        }
        in_hashed_groups(values, |group| {
            self.warm(group);
            for &(v, h) in group {
                out.push(self.intern_hashed(v, h)?);
            }
            Ok(())
        })
    }

    /// Touches what looking up each of `group` (values with their hashes) will read, all
    /// loads in flight at once, so the lookups that follow find them in cache: stage 1 the
    /// home slot of each value, stage 2 where its candidate symbol ends in the arena, stage 3
    /// folded in, that symbol's last byte (its text is what the probe compares).
    fn warm(&self, group: &[(&str, u64)]) {
        let mask = self.slots.len() - 1;
        let mut home = [0u64; GROUP];
        for (h, &(_, x)) in home.iter_mut().zip(group) {
            *h = self.slots[x as usize & mask];
        }
        let mut touched = 0u64;
        for (&slot, &(_, x)) in home.iter().zip(group) {
            if slot != 0 && slot >> 32 == x >> 32 {
                let end = self.ends[(slot as u32 - 1) as usize] as usize;
                touched = touched.wrapping_add(u64::from(
                    self.text
                        .as_bytes()
                        .get(end.wrapping_sub(1))
                        .copied()
                        .unwrap_or(0),
                ));
            }
        }
        std::hint::black_box(touched);
    }

    /// The symbol of each of `values` (`NONE` when not interned), into `out` in order: what
    /// [`Interner::get`] gives, with the cache misses of a group of lookups overlapped as in
    /// [`Interner::intern_batch`].
    pub fn get_batch<'v>(&self, values: impl Iterator<Item = &'v str>, out: &mut Vec<u32>) {
        out.clear();
        if self.slots.is_empty() {
            out.extend(values.map(|_| NONE));
            return;
        }
        let _ = in_hashed_groups(values, |group| {
            self.warm(group);
            for &(v, h) in group {
                out.push(self.get_hashed(v, h).unwrap_or(NONE));
            }
            Ok::<(), std::convert::Infallible>(())
        });
    }

    #[inline]
    fn get_hashed(&self, s: &str, h: u64) -> Option<u32> {
        let tag = h >> 32;
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag {
                let sym = (slot as u32) - 1;
                if self.resolve(sym) == s {
                    return Some(sym);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// [`Interner::intern`] with the hash already known; the table has room.
    #[inline]
    fn intern_hashed(&mut self, s: &str, h: u64) -> Result<u32, ArenaFull> {
        if (self.ends.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let tag = h >> 32;
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot >> 32 == tag {
                let sym = (slot as u32) - 1;
                if self.resolve(sym) == s {
                    return Ok(sym);
                }
            }
            i = (i + 1) & mask;
        }
        let end = self.text.len() + s.len();
        // The last symbol value is reserved for NONE.
        if end > u32::MAX as usize || self.ends.len() >= (NONE - 1) as usize {
            return Err(ArenaFull);
        }
        let sym = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(end as u32);
        self.slots[i] = (tag << 32) | u64::from(sym + 1);
        Ok(sym)
    }

    fn grow(&mut self) {
        self.grow_for(self.ends.len() + 1);
    }

    /// Rebuilds the slot table with room for at least `n` strings, growing geometrically
    /// (room for four times the strings held) so a growing dictionary rehashes rarely.
    fn grow_for(&mut self, n: usize) {
        let len = slots_for(n.max((self.ends.len() + 1) * 4));
        let mut slots = vec![0u64; len];
        let mask = len - 1;
        for sym in 0..self.ends.len() as u32 {
            let h = hash_bytes(self.resolve(sym).as_bytes());
            let mut i = h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = ((h >> 32) << 32) | u64::from(sym + 1);
        }
        self.slots = slots;
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4 + self.slots.capacity() * 8
    }
}

/// How dictionaries are looked up by the other side of a key: one [`Interner`] or a
/// [`Parted`] one.
pub(crate) trait Lookup: Sync {
    /// The code of each of `values` (`NONE` when not held), into `out` in order.
    fn get_batch<'v>(&self, values: impl Iterator<Item = &'v str>, out: &mut Vec<u32>);
    /// Codes are below this.
    fn space(&self) -> usize;
    /// The code of `s`, if held.
    fn code(&self, s: &str) -> Option<u32>;
}

impl Lookup for Interner {
    fn get_batch<'v>(&self, values: impl Iterator<Item = &'v str>, out: &mut Vec<u32>) {
        Interner::get_batch(self, values, out);
    }

    fn space(&self) -> usize {
        self.len()
    }

    fn code(&self, s: &str) -> Option<u32> {
        self.get(s)
    }
}

/// One worker's parts of a [`Parted`] interner (part number, interner) and the codes of its
/// values in row order.
type Built = (Vec<(usize, Interner)>, Vec<u32>);

/// Parts of a [`Parted`] interner.
pub(crate) const PARTS: usize = 16;

#[inline]
fn part_of(h: u64) -> usize {
    (h >> 60) as usize
}

/// A dictionary built on several threads: values are spread over [`PARTS`] interners by their
/// hash, each part built by one thread in row order, so the codes do not depend on the number
/// of threads. A value's code is `symbol × PARTS + part`.
pub(crate) struct Parted {
    parts: Vec<Interner>,
}

impl Parted {
    /// Interns `value(i)` for every `i` in `0..n` (`None` is missing), on up to `threads`
    /// threads; returns the dictionary and each value's code (`NONE` when missing, or when the
    /// value did not fit).
    pub fn build<'v>(
        n: usize,
        value: impl Fn(usize) -> Option<&'v str> + Sync,
        threads: usize,
    ) -> (Parted, Vec<u32>) {
        const MISSING: u64 = u64::MAX;
        let threads = threads.clamp(1, PARTS);
        let hashes: Vec<u64> = super::par::par_chunks(n, threads, 1 << 14, |r| {
            r.map(|i| value(i).map_or(MISSING, |v| hash_bytes(v.as_bytes())))
                .collect::<Vec<u64>>()
        })
        .concat();
        let mut sizes = [0usize; PARTS];
        for &h in &hashes {
            sizes[part_of(h)] += 1;
        }
        let hashes = &hashes;
        let value = &value;
        // Worker `w` builds the parts `p` with `p % threads == w`; its codes in row order.
        let work = |w: usize| -> Built {
            let mut parts: Vec<(usize, Interner)> = (0..PARTS)
                .filter(|p| p % threads == w)
                .map(|p| (p, Interner::with_capacity(sizes[p])))
                .collect();
            let mut slot = [usize::MAX; PARTS];
            for (k, (p, _)) in parts.iter().enumerate() {
                slot[*p] = k;
            }
            let mine: usize = (0..PARTS)
                .filter(|p| p % threads == w)
                .map(|p| sizes[p])
                .sum();
            let mut codes = Vec::with_capacity(mine);
            // A group of values at a time: their home slots loaded first, all in flight
            // together, then interned (see `Interner::intern_batch`).
            let mut group = [(0usize, 0u64); GROUP];
            let mut g = 0;
            let mut flush = |group: &[(usize, u64)], parts: &mut Vec<(usize, Interner)>| {
                let mut touched = 0u64;
                for &(_, h) in group {
                    let d = &parts[slot[part_of(h)]].1;
                    touched = touched.wrapping_add(d.slots[h as usize & (d.slots.len() - 1)]);
                }
                std::hint::black_box(touched);
                for &(i, h) in group {
                    let p = part_of(h);
                    let code = match value(i) {
                        None => NONE,
                        Some(v) => match parts[slot[p]].1.intern_hashed(v, h) {
                            Ok(sym) if (sym as usize) < (NONE as usize) / PARTS => {
                                sym * PARTS as u32 + p as u32
                            }
                            _ => NONE,
                        },
                    };
                    codes.push(code);
                }
            };
            for (i, &h) in hashes.iter().enumerate() {
                if part_of(h) % threads != w {
                    continue;
                }
                group[g] = (i, h);
                g += 1;
                if g == GROUP {
                    flush(&group, &mut parts);
                    g = 0;
                }
            }
            flush(&group[..g], &mut parts);
            (parts, codes)
        };
        let done: Vec<Built> = if threads == 1 {
            vec![work(0)]
        } else {
            std::thread::scope(|s| {
                let hs: Vec<_> = (1..threads).map(|w| s.spawn(move || work(w))).collect();
                let mut out = vec![work(0)];
                for h in hs {
                    out.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                }
                out
            })
        };
        let mut parts: Vec<Interner> = (0..PARTS).map(|_| Interner::default()).collect();
        let mut lists = Vec::with_capacity(done.len());
        for (mine, codes) in done {
            for (p, i) in mine {
                parts[p] = i;
            }
            lists.push(codes.into_iter());
        }
        let codes = hashes
            .iter()
            .map(|&h| lists[part_of(h) % threads].next().unwrap_or(NONE))
            .collect();
        (Parted { parts }, codes)
    }
}

impl Lookup for Parted {
    fn get_batch<'v>(&self, values: impl Iterator<Item = &'v str>, out: &mut Vec<u32>) {
        out.clear();
        let _ = in_hashed_groups(values, |group| {
            // The home slots of the group first, loads in flight together (see
            // `Interner::intern_batch`).
            let mut touched = 0u64;
            for &(_, h) in group {
                let part = &self.parts[part_of(h)];
                if !part.slots.is_empty() {
                    touched = touched.wrapping_add(part.slots[h as usize & (part.slots.len() - 1)]);
                }
            }
            std::hint::black_box(touched);
            for &(v, h) in group {
                let p = part_of(h);
                let part = &self.parts[p];
                let code = if part.slots.is_empty() {
                    NONE
                } else {
                    part.get_hashed(v, h)
                        .map_or(NONE, |sym| sym * PARTS as u32 + p as u32)
                };
                out.push(code);
            }
            Ok::<(), std::convert::Infallible>(())
        });
    }

    fn space(&self) -> usize {
        self.parts.iter().map(Interner::len).max().unwrap_or(0) * PARTS
    }

    fn code(&self, s: &str) -> Option<u32> {
        let h = hash_bytes(s.as_bytes());
        let p = part_of(h);
        let part = &self.parts[p];
        if part.slots.is_empty() {
            return None;
        }
        part.get_hashed(s, h)
            .map(|sym| sym * PARTS as u32 + p as u32)
    }
}

/// Slots for `n` strings at a load of at most 3/4.
fn slots_for(n: usize) -> usize {
    (n * 4 / 3 + 1).next_power_of_two().max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_dense_in_first_appearance_order() {
        let mut i = Interner::with_capacity(0);
        let words = ["b", "a", "b", "", "c", "a"];
        let syms: Vec<u32> = words.iter().map(|w| i.intern(w).unwrap()).collect();
        assert_eq!(syms, [0, 1, 0, 2, 3, 1]);
        assert_eq!(i.len(), 4);
        assert_eq!(i.resolve(2), "");
        assert_eq!(i.get("c"), Some(3));
        assert_eq!(i.get("d"), None);
    }

    #[test]
    fn a_batch_gives_the_symbols_of_one_at_a_time() {
        let words: Vec<String> = (0..5000).map(|n| format!("w{}", n * 7 % 1300)).collect();
        let mut one = Interner::with_capacity(0);
        let want: Vec<u32> = words.iter().map(|w| one.intern(w).unwrap()).collect();
        let mut batched = Interner::with_capacity(0);
        let mut got = Vec::new();
        let mut out = Vec::new();
        for chunk in words.chunks(333) {
            batched
                .intern_batch(chunk.iter().map(String::as_str), &mut out)
                .unwrap();
            got.extend_from_slice(&out);
        }
        assert_eq!(got, want);
        assert_eq!(batched.len(), one.len());
        assert_eq!(batched.get("w7"), one.get("w7"));
        let probes = ["w7", "nope", "w1299", "w1300", ""];
        batched.get_batch(probes.iter().copied(), &mut out);
        let want: Vec<u32> = probes.iter().map(|p| one.get(p).unwrap_or(NONE)).collect();
        assert_eq!(out, want);
        Interner::default().get_batch(probes.iter().copied(), &mut out);
        assert_eq!(out, [NONE; 5]);
    }

    #[test]
    fn parted_codes_do_not_depend_on_threads() {
        let words: Vec<String> = (0..20_000)
            .map(|n| format!("w{}", n * 7 % 13_001))
            .collect();
        let value = |i: usize| (i % 10 != 3).then(|| words[i].as_str());
        let (one, want) = Parted::build(words.len(), value, 1);
        for threads in [2, 3, 16, 40] {
            let (_, got) = Parted::build(words.len(), value, threads);
            assert_eq!(got, want, "{threads}");
        }
        for (i, &c) in want.iter().enumerate() {
            assert_eq!(c == NONE, i % 10 == 3);
        }
        // Equal values, equal codes; lookups give the same codes.
        let mut out = Vec::new();
        one.get_batch(words.iter().map(String::as_str), &mut out);
        for i in 0..words.len() {
            if i % 10 != 3 {
                assert_eq!(out[i], want[i]);
                assert!((want[i] as usize) < one.space());
            }
        }
        one.get_batch(["nope", "w7"].into_iter(), &mut out);
        assert_eq!(out[0], NONE);
        assert_ne!(out[1], NONE);
    }

    #[test]
    fn survives_growth() {
        let mut i = Interner::with_capacity(2);
        for n in 0..10_000 {
            assert_eq!(i.intern(&format!("v{n}")).unwrap(), n);
        }
        for n in 0..10_000 {
            assert_eq!(i.get(&format!("v{n}")), Some(n));
            assert_eq!(i.resolve(n), format!("v{n}"));
        }
        assert_eq!(Interner::default().get("x"), None);
    }
}
