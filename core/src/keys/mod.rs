//! Server keys on disk: a key directory that is created once, shared safely
//! by every instance that starts on it, and rotated without logging anyone
//! out.
//!
//! Every credential the engine hands out is stored only as an HMAC under a
//! server key (see [`crate::token`]), so the key must outlive the process: a
//! fresh random key on each start would invalidate every token and client
//! secret. [`KeyDir`] keeps the keys as files in one directory:
//!
//! - `key-<n>`: 32 raw secret bytes, mode 0600 on Unix, in a directory of
//!   mode 0700. `n` is a generation number; the largest `n` is the *current*
//!   key, which hashes every new credential. The credential key id is
//!   `n % 256` (a credential carries one id byte).
//! - Creation is race-free: a key is written to a private temporary file,
//!   synced, then hard-linked to its final name. The link fails if another
//!   instance got there first, and the loser reads the winner's file, so
//!   instances starting at once (threads or processes, on one machine or a
//!   shared file system with hard links) always end up with the same key, and
//!   nobody ever reads a half-written one.
//! - A directory that holds only the single `server.key` of earlier versions
//!   of the example server adopts it as `key-0` (id 0, as the example used),
//!   so upgrading keeps every issued credential valid.
//!
//! # What rotation really does
//!
//! [`KeyDir::rotate`] writes `key-<n+1>`; a [`crate::Keyring`] built from
//! [`ServerKeys::keyring`] then hashes new credentials under it, and keeps
//! the older keys for verification:
//!
//! - **Tokens, codes and consent challenges** carry their key id in their
//!   text, and storage keys them by the HMAC under *that* key. A lookup
//!   hashes the presented token with the key its id names, one HMAC and one
//!   lookup, whatever the number of keys. They stay valid after a rotation
//!   for as long as the key they name is in the keyring, and become unknown
//!   (`invalid_grant`, `active: false`) once it is removed.
//! - **Client secrets** are hashed with the key that was current when the
//!   secret was registered or rotated, and verified by trying *every* key of
//!   the ring (in constant time). The stored hash does not say which key made
//!   it, so a client secret breaks when the key that was current at its last
//!   rotation is removed, however old the secret is.
//! - A running engine keeps the keyring it was built with: instances pick
//!   the new key up when they restart. Until then, an instance that has not
//!   restarted answers credentials minted under the new key as unknown.
//!
//! # Rotation recipe
//!
//! 1. Run [`KeyDir::rotate`] once (rotations racing from the same current
//!    key write one new key between them), then restart every instance promptly. Behind a load balancer,
//!    clients may see a few `invalid_token` answers from instances that have
//!    not restarted yet; restart them all together to keep the window short.
//! 2. Keep the old key while anything hashed under it may still be
//!    presented: at least the refresh-token lifetime
//!    ([`crate::EngineConfig::refresh_token_ttl`], renewed by every
//!    rotation, so an active family moves to the new key at its next
//!    refresh) and the longest access-token, code and challenge lifetimes.
//! 3. Before deleting an old key ([`KeyDir::retire`]), have every
//!    confidential client rotate its secret (or register it again), since
//!    a secret hashed under the old key stops working when the key goes.
//!    If that cannot be guaranteed, keep old keys: they cost nothing but
//!    disk space and a few HMACs per client authentication.
//! 4. A leaked key is different: retire it at once and accept that every
//!    credential and client secret hashed under it becomes invalid.

mod file;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::token::{Keyring, KeyringError};

/// Prefix of key file names: `key-<generation>`.
pub const KEY_FILE_PREFIX: &str = "key-";

/// File name of the single key of earlier versions of the example server,
/// adopted as generation 0.
pub const LEGACY_KEY_FILE: &str = "server.key";

/// Bytes in a server key.
pub const KEY_BYTES: usize = 32;

/// Why a key directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDirError {
    /// Reading, writing or linking a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A key file does not hold exactly [`KEY_BYTES`] bytes. It is never
    /// replaced: that would invalidate everything hashed under it.
    #[error(
        "{path} holds {len} bytes, not {KEY_BYTES}; refusing to replace it, as that would \
         invalidate every credential hashed under it: restore it from a backup"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A key file can be read, or the directory written, by other users
    /// (Unix only), like ssh refusing a private key anyone can read.
    #[error("{path} has mode {mode:o}; make it private (chmod {wanted:o})")]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode it should have.
        wanted: u32,
    },
    /// [`KeyDir::load`] or [`KeyDir::rotate`] found no key.
    #[error("{0}: no server key; create one with KeyDir::load_or_create")]
    Missing(PathBuf),
    /// Two kept keys would share a credential key id (`n % 256`): retire old
    /// keys before rotating again.
    #[error("keys {0} and {1} share a key id; retire the older one before rotating")]
    IdCollision(u64, u64),
    /// [`KeyDir::retire`] was asked to delete the current key.
    #[error("key {0} is the current key; rotate before retiring it")]
    RetireCurrent(u64),
    /// The randomness source failed.
    #[error("randomness source failed")]
    Entropy,
}

/// The keys of a key directory, newest (current) first. `Debug` shows only
/// the generation numbers.
#[derive(Clone)]
pub struct ServerKeys {
    keys: Vec<(u64, [u8; KEY_BYTES])>,
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerKeys")
            .field(&self.generations().collect::<Vec<_>>())
            .finish()
    }
}

impl ServerKeys {
    /// The generation of the current key, which hashes new credentials.
    #[must_use]
    pub fn current(&self) -> u64 {
        self.keys[0].0
    }

    /// Every generation, newest first.
    pub fn generations(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.iter().map(|(n, _)| *n)
    }

    /// The credential key id of generation `n`: credentials carry one byte.
    #[must_use]
    pub fn key_id(n: u64) -> u8 {
        (n % 256) as u8
    }

    /// A keyring that hashes with the current key and verifies with all.
    ///
    /// # Errors
    /// [`KeyDirError::IdCollision`] when two kept keys share a key id
    /// (more than 256 generations kept).
    pub fn keyring(&self) -> Result<Keyring, KeyDirError> {
        let pairs: Vec<(u8, [u8; KEY_BYTES])> = self
            .keys
            .iter()
            .map(|(n, k)| (Self::key_id(*n), *k))
            .collect();
        Keyring::new(&pairs).map_err(|KeyringError| self.collision())
    }

    fn collision(&self) -> KeyDirError {
        for (i, (a, _)) in self.keys.iter().enumerate() {
            if let Some((b, _)) = self.keys[i + 1..]
                .iter()
                .find(|(b, _)| Self::key_id(*b) == Self::key_id(*a))
            {
                return KeyDirError::IdCollision(*a, *b);
            }
        }
        unreachable!("Keyring::new only fails on an empty list or a repeated id")
    }
}

/// A directory of server keys. See the [module docs](self) for the layout
/// and the rotation recipe.
#[derive(Clone, Debug)]
pub struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    /// Opens `dir`, creating it and its parents (mode 0700 on Unix) if it
    /// does not exist.
    ///
    /// # Errors
    /// I/O failures, or (Unix) a directory other users may write to.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyDirError> {
        let dir = dir.into();
        file::create_private_dir(&dir)?;
        file::check_dir_mode(&dir)?;
        Ok(KeyDir { dir })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Every key in the directory, newest first.
    ///
    /// # Errors
    /// [`KeyDirError::Missing`] when there is none; I/O failures, a corrupt
    /// key file, or (Unix) a key file other users may read.
    pub fn load(&self) -> Result<ServerKeys, KeyDirError> {
        let mut gens = file::list_generations(&self.dir)?;
        if gens.is_empty() {
            return Err(KeyDirError::Missing(self.dir.clone()));
        }
        gens.sort_unstable_by(|a, b| b.cmp(a));
        let keys = gens
            .into_iter()
            .map(|n| Ok((n, file::read_key(&self.key_path(n))?)))
            .collect::<Result<_, KeyDirError>>()?;
        Ok(ServerKeys { keys })
    }

    /// The keys, creating the first one (generation 0) when there is none.
    /// Safe to call from several instances at once: they all get the same
    /// key.
    ///
    /// # Errors
    /// As [`KeyDir::load`], plus a failing randomness source.
    pub fn load_or_create(&self) -> Result<ServerKeys, KeyDirError> {
        match self.load() {
            Err(KeyDirError::Missing(_)) => {}
            other => return other,
        }
        let legacy = self.dir.join(LEGACY_KEY_FILE);
        if legacy.exists() {
            // Validate before adopting, so a damaged legacy key is reported
            // under its own name.
            file::read_key(&legacy)?;
            file::link_no_replace(&legacy, &self.key_path(0))?;
        } else {
            file::create_key(&self.dir, &self.key_path(0))?;
        }
        // Whoever won the race, the file now in place is the key.
        self.load()
    }

    /// Writes the next generation, which becomes the current key for every
    /// keyring built afterwards; older keys are kept for verification.
    /// Rotations that race after seeing the same current key write one new
    /// key between them, and all of them return it.
    ///
    /// # Errors
    /// [`KeyDirError::Missing`] when there is no key yet,
    /// [`KeyDirError::IdCollision`] when the new key id is still taken by a
    /// kept key, I/O and randomness failures.
    pub fn rotate(&self) -> Result<ServerKeys, KeyDirError> {
        let before = self.load()?;
        let next = before.current() + 1;
        if let Some(old) = before
            .generations()
            .find(|n| ServerKeys::key_id(*n) == ServerKeys::key_id(next))
        {
            return Err(KeyDirError::IdCollision(next, old));
        }
        file::create_key(&self.dir, &self.key_path(next))?;
        self.load()
    }

    /// Deletes the key of generation `n`. Refuses the current key. Read the
    /// [rotation recipe](self#rotation-recipe) first: whatever was hashed
    /// under this key stops working.
    ///
    /// # Errors
    /// [`KeyDirError::RetireCurrent`] for the current key,
    /// [`KeyDirError::Missing`] when there is no key; I/O failures.
    pub fn retire(&self, n: u64) -> Result<ServerKeys, KeyDirError> {
        let keys = self.load()?;
        if keys.current() == n {
            return Err(KeyDirError::RetireCurrent(n));
        }
        file::remove_key(&self.dir, &self.key_path(n))?;
        self.load()
    }

    fn key_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{KEY_FILE_PREFIX}{n}"))
    }
}
