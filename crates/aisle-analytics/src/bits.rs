//! A fixed set of person slots (one bit per slot of the person table).

use crate::persons::MAX_PERSONS;

const WORDS: usize = MAX_PERSONS / 64;

/// A set of person-table slots; `Copy`, no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlotSet([u64; WORDS]);

impl SlotSet {
    pub(crate) fn insert(&mut self, slot: usize) {
        self.0[slot / 64] |= 1 << (slot % 64);
    }

    /// Removes `slot`; whether it was in the set.
    pub(crate) fn remove(&mut self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        let was = self.0[slot / 64] & bit != 0;
        self.0[slot / 64] &= !bit;
        was
    }

    pub(crate) fn contains(&self, slot: usize) -> bool {
        self.0[slot / 64] & (1 << (slot % 64)) != 0
    }

    pub(crate) fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    pub(crate) fn union_with(&mut self, other: &SlotSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.0 = [0; WORDS];
    }

    /// The slots in the set, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_count_iterate() {
        let mut s = SlotSet::default();
        for i in [0, 63, 64, 200, 255] {
            s.insert(i);
        }
        assert_eq!(s.len(), 5);
        assert!(s.contains(200));
        assert!(s.remove(64));
        assert!(!s.remove(64));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 63, 200, 255]);
        let mut t = SlotSet::default();
        t.insert(1);
        t.union_with(&s);
        assert_eq!(t.len(), 5);
        t.clear();
        assert_eq!(t.len(), 0);
    }
}
