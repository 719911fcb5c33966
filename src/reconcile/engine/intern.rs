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
        const GROUP: usize = 16;
        out.clear();
        let n = values.len();
        // Grow once for the worst case (all new), so the table does not move mid-batch.
        if (self.ends.len() + n) * 4 > self.slots.len() * 3 {
            self.grow_for(self.ends.len() + n);
        }
        let mut it = values;
        let mut group: [(&str, u64); GROUP] = [("", 0); GROUP];
        let mut done = 0;
        while done < n {
            let g = (n - done).min(GROUP);
            for e in group.iter_mut().take(g) {
                let v = it.next().unwrap_or("");
                *e = (v, hash_bytes(v.as_bytes()));
            }
            // Stage 1: the home slot of each value, all loads in flight at once.
            let mask = self.slots.len() - 1;
            let mut home = [0u64; GROUP];
            for (h, &(_, x)) in home.iter_mut().zip(&group[..g]) {
                *h = self.slots[x as usize & mask];
            }
            // Stage 2: where the candidate symbols end in the arena, likewise.
            let mut touched = 0u64;
            for (k, &slot) in home[..g].iter().enumerate() {
                if slot != 0 && slot >> 32 == group[k].1 >> 32 {
                    let end = self.ends[(slot as u32 - 1) as usize] as usize;
                    // Stage 3 folded in: the candidate's last byte (its text is what the
                    // probe compares).
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
            for &(v, h) in &group[..g] {
                out.push(self.intern_hashed(v, h)?);
            }
            done += g;
        }
        Ok(())
    }

    /// The symbol of each of `values` (`NONE` when not interned), into `out` in order: what
    /// [`Interner::get`] gives, with the cache misses of a group of lookups overlapped as in
    /// [`Interner::intern_batch`].
    pub fn get_batch<'v>(&self, values: impl Iterator<Item = &'v str>, out: &mut Vec<u32>) {
        const GROUP: usize = 16;
        out.clear();
        if self.slots.is_empty() {
            out.extend(values.map(|_| NONE));
            return;
        }
        let mask = self.slots.len() - 1;
        let mut it = values.peekable();
        let mut group: [(&str, u64); GROUP] = [("", 0); GROUP];
        while it.peek().is_some() {
            let mut g = 0;
            while g < GROUP {
                let Some(v) = it.next() else { break };
                group[g] = (v, hash_bytes(v.as_bytes()));
                g += 1;
            }
            let mut home = [0u64; GROUP];
            for (h, &(_, x)) in home.iter_mut().zip(&group[..g]) {
                *h = self.slots[x as usize & mask];
            }
            let mut touched = 0u64;
            for (k, &slot) in home[..g].iter().enumerate() {
                if slot != 0 && slot >> 32 == group[k].1 >> 32 {
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
            for &(v, h) in &group[..g] {
                out.push(self.get_hashed(v, h).unwrap_or(NONE));
            }
        }
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
