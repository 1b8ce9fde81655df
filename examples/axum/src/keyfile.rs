//! The server key, persisted in the data directory.
//!
//! Every credential the engine hands out is stored as an HMAC under this
//! key, so a new key on each start would log everyone out and break every
//! client. It is made once, kept in `<data_dir>/server.key` readable only by
//! the owner, and reused afterwards.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use latchkey::entropy::{Entropy as _, SystemEntropy};
use latchkey::Keyring;

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "server.key";
/// Id of the one key this demo uses (rotation would add a second one).
const KEY_ID: u8 = 0;

/// Creates the data directory (mode 0700) if it does not exist yet.
///
/// # Errors
/// I/O failures.
pub fn ensure_data_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// The 32 secret bytes of the server key: read from `<dir>/server.key`, or
/// generated and written there (mode 0600) on first start.
///
/// # Errors
/// I/O failures, a key file of the wrong size, or a failing CSPRNG.
pub fn load_or_create(dir: &Path) -> io::Result<[u8; 32]> {
    let path = dir.join(KEY_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} must hold exactly 32 bytes; refusing to replace it, as that \
                         would invalidate every issued credential",
                        path.display()
                    ),
                )
            })?;
            let mode = fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: {} is readable by others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemEntropy::new()
                .fill(&mut key)
                .map_err(|e| io::Error::other(e.to_string()))?;
            // Write a temporary file and rename it, so a crash never leaves a
            // half-written key that the next start would refuse.
            let tmp = dir.join(format!("{KEY_FILE}.tmp"));
            let _ = fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// A keyring holding the one server key.
#[must_use]
pub fn keyring(secret: &[u8; 32]) -> Keyring {
    Keyring::new(&[(KEY_ID, *secret)]).expect("one key is a valid keyring")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = std::env::temp_dir().join(format!("latchkey-keyfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        ensure_data_dir(&dir).unwrap();
        let a = load_or_create(&dir).unwrap();
        let mode = fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&dir).unwrap(), a, "reused on the next start");
        fs::write(dir.join(KEY_FILE), b"short").unwrap();
        assert!(
            load_or_create(&dir).is_err(),
            "a damaged key is never replaced"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
