//! Helpers shared by the integration tests: running this very test binary
//! again as a child process that plays one role.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// A command that re-runs the current test binary, executing only the
/// (ignored) test `role`, with `env` set. The role test does nothing when
/// its variables are absent, so running ignored tests by hand is harmless.
pub fn child<K, V>(role: &str, env: impl IntoIterator<Item = (K, V)>) -> Command
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        role,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::null())
    .envs(env);
    cmd
}

/// A small deterministic generator (xorshift64*), so a failing crash round
/// can be replayed from its printed seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}
