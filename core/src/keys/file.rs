//! The file operations behind [`super::KeyDir`]: private creation,
//! exclusive publication by hard link, strict reading.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use super::{KeyDirError, KEY_BYTES, KEY_FILE_PREFIX};
use crate::entropy::{Entropy as _, SystemEntropy};

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyDirError + '_ {
    move |source| KeyDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` and its parents; on Unix, new directories get mode 0700.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), KeyDirError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io_err(dir))
}

/// Refuses a directory others may write to: they could swap the key.
/// Readable is tolerated (the files themselves are private), so a data
/// directory shared with other files still works.
pub(super) fn check_dir_mode(dir: &Path) -> Result<(), KeyDirError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir).map_err(io_err(dir))?.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(KeyDirError::Permissions {
                path: dir.to_owned(),
                mode,
                wanted: 0o700,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Generations of the `key-<n>` files in `dir`. Other names (temporary
/// files, a database sharing the directory) are ignored; so are
/// non-canonical numbers such as `key-01`, which no version writes.
pub(super) fn list_generations(dir: &Path) -> Result<Vec<u64>, KeyDirError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(num) = name.to_str().and_then(|s| s.strip_prefix(KEY_FILE_PREFIX)) else {
            continue;
        };
        if let Ok(n) = num.parse::<u64>() {
            if n.to_string() == num {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Reads a key file: exactly [`KEY_BYTES`] bytes, private on Unix.
pub(super) fn read_key(path: &Path) -> Result<[u8; KEY_BYTES], KeyDirError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let meta = f.metadata().map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyDirError::Permissions {
                path: path.to_owned(),
                mode,
                wanted: 0o600,
            });
        }
    }
    let corrupt = |len| KeyDirError::Corrupt {
        path: path.to_owned(),
        len,
    };
    if meta.len() != KEY_BYTES as u64 {
        return Err(corrupt(meta.len()));
    }
    let mut key = [0u8; KEY_BYTES];
    // The length is checked again by the read itself: the file may have
    // been truncated between `metadata` and here.
    f.read_exact(&mut key).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => corrupt(0),
        _ => io_err(path)(e),
    })?;
    Ok(key)
}

/// Writes a fresh random key to `path` unless a file is already there.
/// `Ok` means a key is at `path` now, ours or a racing instance's.
pub(super) fn create_key(dir: &Path, path: &Path) -> Result<(), KeyDirError> {
    let entropy = SystemEntropy::new();
    let mut key = [0u8; KEY_BYTES];
    entropy.fill(&mut key).map_err(|_| KeyDirError::Entropy)?;
    // A random temporary name: racing starters must never share, or
    // delete, each other's temporary file.
    let mut nonce = [0u8; 8];
    entropy.fill(&mut nonce).map_err(|_| KeyDirError::Entropy)?;
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{KEY_FILE_PREFIX}tmp-{suffix}"));
    let written = write_private(&tmp, &key);
    let linked = written.and_then(|()| link_no_replace(&tmp, path));
    // The temporary name is removed whatever happened; the key lives on
    // under `path` if the link succeeded.
    let _ = fs::remove_file(&tmp);
    linked
}

fn write_private(tmp: &Path, key: &[u8]) -> Result<(), KeyDirError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(tmp).map_err(io_err(tmp))?;
    f.write_all(key).map_err(io_err(tmp))?;
    f.sync_all().map_err(io_err(tmp))
}

/// Hard-links `from` to `to` unless `to` exists, then makes the new name
/// durable. Unlike `rename`, a link never replaces an existing file, so
/// exactly one racing writer wins and the others read the winner's key.
pub(super) fn link_no_replace(from: &Path, to: &Path) -> Result<(), KeyDirError> {
    match fs::hard_link(from, to) {
        Ok(()) => sync_dir(to.parent().unwrap_or(Path::new(""))),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(to)(e)),
    }
}

/// Deletes a key file and makes the deletion durable.
pub(super) fn remove_key(dir: &Path, path: &Path) -> Result<(), KeyDirError> {
    fs::remove_file(path).map_err(io_err(path))?;
    sync_dir(dir)
}

/// Syncs `dir`, so a new or removed name in it survives a crash (a no-op
/// where directories cannot be opened, as on Windows).
fn sync_dir(dir: &Path) -> Result<(), KeyDirError> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
