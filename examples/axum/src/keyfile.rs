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
    // A second try reads the key another instance created a moment ago.
    for _ in 0..2 {
        if let Some(key) = load_or_try_create(dir, &path)? {
            return Ok(key);
        }
    }
    Err(io::Error::other("server key appeared and vanished; retry"))
}

/// `Ok(None)` when another process created the key between our read and
/// our write: read it again rather than overwrite it.
fn load_or_try_create(dir: &Path, path: &Path) -> io::Result<Option<[u8; 32]>> {
    match fs::read(path) {
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
            let mode = fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: {} is readable by others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
            Ok(Some(key))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemEntropy::new()
                .fill(&mut key)
                .map_err(|e| io::Error::other(e.to_string()))?;
            // Write a private temporary file, then hard-link it into place:
            // a crash never leaves a half-written key, and the link fails if
            // another instance (SQL backends have no file lock) won the race,
            // so two instances never run with different keys.
            // A random name: concurrent starters (processes or threads) must
            // never share, or delete, each other's temporary file.
            let mut nonce = [0u8; 8];
            SystemEntropy::new()
                .fill(&mut nonce)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
            let tmp = dir.join(format!("{KEY_FILE}.{suffix}.tmp"));
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
            let linked = fs::hard_link(&tmp, path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(Some(key)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(e),
            }
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

    #[test]
    fn racing_first_starts_agree_on_one_key() {
        let dir = std::env::temp_dir().join(format!("latchkey-keyrace-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&dir).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(load_or_create(&dir).unwrap(), keys[0]);
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}
