//! The invertible Bloom lookup table of one round (`docs/sync.md` §4.2).
//!
//! Three hash positions per key, one in each third of the table, so a key never lands twice
//! in one cell. A cell is 9 bytes on the wire: the XOR of the 64-bit short ids in it and the
//! XOR of an 8-bit check of each. There is no count: which side holds a recovered key is
//! decided by looking it up in the decoder's own set, and a cell is taken as pure only when
//! its key is non-zero, its check matches and the cell is one of the key's three positions
//! (together about 2^-8 · 3/m for a mixed cell: 2^-20 in a 10,000-cell table). A false pure
//! cell cannot pass as a decode: it leaves cells non-empty, so the table reports incomplete.

use alloc::vec;
use alloc::vec::Vec;

use super::hash::{below, mix};

/// Bytes of one cell on the wire.
pub const CELL_LEN: usize = 9;

/// One cell.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Cell {
    /// XOR of the short ids mapped here.
    pub key: u64,
    /// XOR of their 8-bit checks.
    pub check: u8,
}

impl Cell {
    /// Writes the cell's 10 bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.push(self.check);
    }

    /// Reads a cell from exactly [`CELL_LEN`] bytes.
    pub fn read(b: &[u8; CELL_LEN]) -> Self {
        let mut k = [0u8; 8];
        k.copy_from_slice(&b[..8]);
        Self { key: u64::from_le_bytes(k), check: b[8] }
    }

    fn is_zero(&self) -> bool {
        self.key == 0 && self.check == 0
    }
}

/// A table of `m` cells (a multiple of 3) under a per-round seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iblt {
    seed: u64,
    cells: Vec<Cell>,
}

/// What peeling the difference of two tables found.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Peeled {
    /// The recovered short ids, in the order they came out.
    pub keys: Vec<u64>,
    /// Whether every known cell ended empty: the recovered keys are the whole difference.
    pub complete: bool,
    /// Known cells left non-empty (a failed decode's stuck core).
    pub stuck_cells: usize,
}

impl Iblt {
    /// An empty table with at least `cells` cells (rounded up to a multiple of 3, at least 3).
    pub fn new(seed: u64, cells: usize) -> Self {
        let m = cells.max(3).div_ceil(3) * 3;
        Self { seed, cells: vec![Cell::default(); m] }
    }

    /// A table from received cells.
    pub fn from_cells(seed: u64, cells: Vec<Cell>) -> Self {
        debug_assert!(cells.len().is_multiple_of(3) && !cells.is_empty());
        Self { seed, cells }
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the table has no cells (never true for a table made by [`Iblt::new`]).
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    #[inline]
    fn positions(&self, key: u64) -> [usize; 3] {
        let third = self.cells.len() / 3;
        let h = mix(key, self.seed);
        // Three independent 21-bit-or-more slices are not enough for big tables: derive each
        // position from its own mix.
        [below(h, third), third + below(mix(h, 1), third), 2 * third + below(mix(h, 2), third)]
    }

    #[inline]
    fn check_of(&self, key: u64) -> u8 {
        (mix(key, self.seed ^ 0xC4EC_4000) >> 56) as u8
    }

    /// Adds (or, XOR being its own inverse, removes) a short id.
    #[inline]
    pub fn toggle(&mut self, key: u64) {
        let check = self.check_of(key);
        for p in self.positions(key) {
            let c = &mut self.cells[p];
            c.key ^= key;
            c.check ^= check;
        }
    }

    /// Replaces `self` by the cell-wise difference with `other` (same seed and size).
    pub fn subtract(&mut self, other: &Iblt) {
        debug_assert_eq!((self.seed, self.len()), (other.seed, other.len()));
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            a.key ^= b.key;
            a.check ^= b.check;
        }
    }

    fn is_pure(&self, idx: usize) -> bool {
        let c = self.cells[idx];
        c.key != 0 && c.check == self.check_of(c.key) && self.positions(c.key).contains(&idx)
    }

    /// Peels a difference table. Cells whose `known` flag is false (lost on the way) are never
    /// taken as pure nor required to end empty. Work is bounded: at most one key per cell is
    /// recovered, and a key that comes out twice (only possible in a forged table) stops the
    /// decode as incomplete.
    pub fn peel(mut self, known: &[bool]) -> Peeled {
        let m = self.cells.len();
        let known_at = |i: usize| known.get(i).copied().unwrap_or(true);
        let mut stack: Vec<usize> = (0..m).filter(|&i| known_at(i) && self.is_pure(i)).collect();
        let mut keys = Vec::new();
        while let Some(i) = stack.pop() {
            if !self.is_pure(i) {
                continue;
            }
            if keys.len() >= m {
                return Peeled { keys, complete: false, stuck_cells: m };
            }
            let key = self.cells[i].key;
            keys.push(key);
            self.toggle(key);
            for p in self.positions(key) {
                if p != i && known_at(p) && self.is_pure(p) {
                    stack.push(p);
                }
            }
        }
        let stuck_cells = (0..m).filter(|&i| known_at(i) && !self.cells[i].is_zero()).count();
        // A forged table can make a key come out twice; a genuine difference never does.
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        let repeated = sorted.windows(2).any(|w| w[0] == w[1]);
        Peeled { complete: stuck_cells == 0 && !repeated, keys, stuck_cells }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansio_core::{Seed, SeededRng};

    fn difference(n_a: usize, n_b: usize, shared: usize, cells: usize, seed: u64) -> (Vec<u64>, Peeled) {
        let mut rng = SeededRng::from_seed(Seed::from_u64(seed));
        let (mut a, mut b) = (Iblt::new(seed, cells), Iblt::new(seed, cells));
        for _ in 0..shared {
            let k = rng.next_u64();
            a.toggle(k);
            b.toggle(k);
        }
        let mut diff = Vec::new();
        for _ in 0..n_a {
            let k = rng.next_u64();
            a.toggle(k);
            diff.push(k);
        }
        for _ in 0..n_b {
            let k = rng.next_u64();
            b.toggle(k);
            diff.push(k);
        }
        a.subtract(&b);
        diff.sort_unstable();
        (diff, a.peel(&[]))
    }

    #[test]
    fn a_difference_well_under_capacity_comes_out_whole() {
        let (mut diff, peeled) = difference(40, 35, 5_000, 120, 1);
        assert!(peeled.complete);
        let mut got = peeled.keys;
        got.sort_unstable();
        diff.sort_unstable();
        assert_eq!(got, diff);
    }

    #[test]
    fn an_overfull_table_says_it_failed() {
        let (_, peeled) = difference(300, 300, 100, 120, 2);
        assert!(!peeled.complete);
        assert!(peeled.stuck_cells > 0);
    }

    #[test]
    fn equal_sets_leave_nothing() {
        let (_, peeled) = difference(0, 0, 10_000, 30, 3);
        assert!(peeled.complete && peeled.keys.is_empty());
    }

    #[test]
    fn lost_cells_still_let_the_rest_decode() {
        let mut rng = SeededRng::from_seed(Seed::from_u64(4));
        let mut t = Iblt::new(4, 300);
        let keys: Vec<u64> = (0..100).map(|_| rng.next_u64()).collect();
        keys.iter().for_each(|k| t.toggle(*k));
        let known: Vec<bool> = (0..t.len()).map(|i| i % 50 != 7).collect();
        let peeled = t.peel(&known);
        assert!(peeled.complete);
        assert!(peeled.keys.len() >= 95, "{}", peeled.keys.len());
        assert!(peeled.keys.iter().all(|k| keys.contains(k)));
    }

    proptest::proptest! {
        /// Forged tables whose cells look pure to the peeler (keys from a small pool, with
        /// their checks, at their own positions, overlapping at random): peeling always ends,
        /// names at most one key per cell, and never calls a table with cells left complete.
        #[test]
        fn forged_tables_end_with_bounded_work(
            pool in proptest::collection::vec(1u64.., 1..6),
            picks in proptest::collection::vec((0usize..6, 0usize..3), 0..60),
            m in 1usize..40,
        ) {
            let mut t = Iblt::new(11, m * 3);
            for (k, which) in picks {
                let key = pool[k % pool.len()];
                let p = t.positions(key)[which];
                let check = t.check_of(key);
                t.cells[p].key ^= key;
                t.cells[p].check ^= check;
            }
            let len = t.len();
            let peeled = t.clone().peel(&[]);
            proptest::prop_assert!(peeled.keys.len() <= len);
            if peeled.complete {
                // Complete means the named keys XOR back to exactly this table.
                let mut rebuilt = Iblt::new(11, len);
                peeled.keys.iter().for_each(|k| rebuilt.toggle(*k));
                proptest::prop_assert_eq!(rebuilt, t);
            }
        }
    }

    #[test]
    fn a_forged_table_costs_bounded_work_and_is_not_complete() {
        // Every cell the same "pure-looking" key: it can come out at most once per cell.
        let mut t = Iblt::new(5, 30);
        let key = 0xDEAD_BEEF;
        let check = t.check_of(key);
        for c in &mut t.cells {
            *c = Cell { key, check };
        }
        let peeled = t.peel(&[]);
        assert!(!peeled.complete);
        assert!(peeled.keys.len() <= 30);
    }
}
