//! Helpers shared by the integration tests: running this very test binary
//! again as a child process that plays one role.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// A command that re-runs the current test binary, executing only the
/// (ignored) test `role`, with `env` set. The role test does nothing when
/// its variables are absent, so running ignored tests by hand is harmless.
pub fn child(role: &str, env: &[(&str, &Path)]) -> Command {
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    cmd.args([role, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}
