//! Seeds for the cores, from the operating system.

use sansio_core::Seed;

/// A fresh [`Seed`] from the operating system's random source (`getrandom`).
///
/// Cores take every random choice from a seed so that runs can be replayed; a real node must
/// not be predictable, so its driver seeds it here: a STUN server's rate-limit key, a NAT
/// check's transaction ids and P2TP's cookie secrets all depend on it.
///
/// # Errors
///
/// If the operating system has no random source to give (very early boot, a sandbox that
/// forbids it): a node must not fall back to a guessable seed.
///
/// ```
/// let (a, b) = (drivers::os_seed()?, drivers::os_seed()?);
/// assert_ne!(a, b);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn os_seed() -> std::io::Result<Seed> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(format!("no OS randomness: {e}")))?;
    Ok(Seed::new(bytes))
}
