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
        let h = hash_bytes(s.as_bytes());
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

    /// The symbol of `s`, interning it when new.
    #[inline]
    pub fn intern(&mut self, s: &str) -> Result<u32, ArenaFull> {
        if (self.ends.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let h = hash_bytes(s.as_bytes());
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
        let len = slots_for((self.ends.len() + 1) * 4);
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
