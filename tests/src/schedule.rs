//! A test schedule's randomness: seeded from `LOGWARDEN_SEED` or the clock, printed, so that a
//! failing schedule can be replayed.

/// Seeded xorshift64.
pub struct Schedule(u64);

impl Schedule {
    /// A schedule seeded from `LOGWARDEN_SEED` or the clock; prints the seed under `tag`.
    pub fn new(tag: &str) -> Schedule {
        let seed = std::env::var("LOGWARDEN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        println!("{tag}: schedule seed {seed} (replay with LOGWARDEN_SEED={seed})");
        Schedule(seed | 1)
    }

    /// A number in `0..n` (xorshift64).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
