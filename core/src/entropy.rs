//! Randomness, injected so tests can be deterministic.
//!
//! ring's `SecureRandom` is sealed, so the engine depends on this small trait
//! instead and production uses [`SystemEntropy`] (ring's `SystemRandom`).

use std::sync::Mutex;

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Failure of the randomness source. Never recoverable by retrying the request.
#[derive(Debug, thiserror::Error)]
#[error("the random number generator failed")]
pub struct EntropyError;

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync + 'static {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    /// When the underlying generator fails.
    fn fill(&self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's CSPRNG via ring.
#[derive(Debug)]
pub struct SystemEntropy(SystemRandom);

impl Default for SystemEntropy {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemEntropy {
    /// The system generator.
    #[must_use]
    pub fn new() -> Self {
        SystemEntropy(SystemRandom::new())
    }
}

impl Entropy for SystemEntropy {
    fn fill(&self, dest: &mut [u8]) -> Result<(), EntropyError> {
        self.0.fill(dest).map_err(|_| EntropyError)
    }
}

/// A deterministic generator (SHA-256 in counter mode over a seed).
///
/// Only for tests: its output is predictable by anyone who knows the seed.
#[derive(Debug)]
pub struct SeededEntropy {
    seed: [u8; 32],
    counter: Mutex<u64>,
}

impl SeededEntropy {
    /// A generator whose whole output is determined by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        SeededEntropy {
            seed: s,
            counter: Mutex::new(0),
        }
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, dest: &mut [u8]) -> Result<(), EntropyError> {
        let mut counter = self.counter.lock().map_err(|_| EntropyError)?;
        for chunk in dest.chunks_mut(32) {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(&self.seed);
            ctx.update(&counter.to_le_bytes());
            *counter += 1;
            let block = ctx.finish();
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}
