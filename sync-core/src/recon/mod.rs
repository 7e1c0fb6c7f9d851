//! Reconciliation of two sets of content ids (`docs/sync.md` §4): salted short ids, a probe
//! table, a difference estimator, a sized invertible Bloom lookup table, and Rice-coded wants.

pub mod estimate;
pub mod hash;
pub mod iblt;
pub mod rice;

use self::hash::mix;

/// The seed of table `table` in round `session`.
pub fn table_seed(session: u64, table: u8) -> u64 {
    mix(session, 0x7AB1_E000 ^ u64::from(table))
}

/// The 32-bit prefix of a short id by which a decoder names an id it wants.
pub fn prefix(short: u64) -> u32 {
    (short >> 32) as u32
}

/// Cells for a table expected to hold `difference` ids: `overhead` per id plus a fixed slack
/// for the variance of small differences, a multiple of 3.
pub fn cells_for(difference: u64, overhead: f64) -> u32 {
    let cells = libm::ceil(difference as f64 * overhead) as u64 + 24;
    (cells.div_ceil(3) * 3).min(u64::from(crate::wire::MAX_TABLE_CELLS)) as u32
}
