//! The server key directory: race-free creation by threads and processes,
//! private permissions, strict reading, and rotation as the engine really
//! sees it (old credentials keep working until their key is retired).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use latchkey::clients::RegisteredClient;
use latchkey::entropy::SeededEntropy;
use latchkey::keys::{KeyDir, KeyDirError, ServerKeys, LEGACY_KEY_FILE};
use latchkey::token::TokenKind;
use latchkey::MemoryStore;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("latchkey-keys-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn hex(k: &ServerKeys) -> String {
    // Two directories agree on a key when their keyrings hash alike.
    let ring = k.keyring().unwrap();
    let (t, h) = ring
        .mint(TokenKind::AccessToken, &SeededEntropy::new(1))
        .unwrap();
    format!("{}:{}", t.expose(), h.to_hex())
}

#[test]
fn threads_starting_at_once_agree_on_one_key() {
    let tmp = TempDir::new("threads");
    let dir = tmp.0.join("nested/keys");
    let barrier = Arc::new(Barrier::new(8));
    let keys: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (b, dir) = (barrier.clone(), dir.clone());
                s.spawn(move || {
                    let kd = KeyDir::open(&dir).unwrap();
                    b.wait();
                    hex(&kd.load_or_create().unwrap())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert_eq!(
        names(&dir),
        ["key-0"],
        "one key and no temporary file left behind"
    );
    assert_eq!(hex(&KeyDir::open(&dir).unwrap().load().unwrap()), keys[0]);
}

/// Run by `processes_starting_at_once_agree_on_one_key` in child
/// processes; a no-op in a normal test run.
#[test]
fn child_process_load_or_create() {
    if let Ok(dir) = std::env::var("LATCHKEY_TEST_KEYDIR_CHILD") {
        let keys = KeyDir::open(dir).unwrap().load_or_create().unwrap();
        println!("KEY={}", hex(&keys));
    }
}

#[test]
fn processes_starting_at_once_agree_on_one_key() {
    let tmp = TempDir::new("procs");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_load_or_create",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("LATCHKEY_TEST_KEYDIR_CHILD", &tmp.0)
                .output_async()
        })
        .collect();
    let keys: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            // The harness may print "test … ..." on the same line first.
            let at = text
                .find("KEY=")
                .unwrap_or_else(|| panic!("no key in {text}"));
            text[at + 4..].split_whitespace().next().unwrap().to_owned()
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert_eq!(names(&tmp.0), ["key-0"]);
}

/// Spawns without waiting, so the children really start together.
trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[cfg(unix)]
#[test]
fn files_are_private_and_loose_permissions_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = TempDir::new("perms");
    let dir = tmp.0.join("keys");
    let kd = KeyDir::open(&dir).unwrap();
    kd.load_or_create().unwrap();
    kd.rotate().unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("key-0")), 0o600);
    assert_eq!(mode(&dir.join("key-1")), 0o600);

    fs::set_permissions(dir.join("key-1"), fs::Permissions::from_mode(0o644)).unwrap();
    match kd.load() {
        Err(KeyDirError::Permissions { mode, wanted, .. }) => {
            assert_eq!((mode, wanted), (0o644, 0o600));
        }
        other => panic!("{other:?}"),
    }
    fs::set_permissions(dir.join("key-1"), fs::Permissions::from_mode(0o600)).unwrap();
    kd.load().unwrap();

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        KeyDir::open(&dir),
        Err(KeyDirError::Permissions { mode: 0o777, .. })
    ));
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_short_or_long_key_file_is_a_clear_error_and_never_replaced() {
    let tmp = TempDir::new("corrupt");
    let kd = KeyDir::open(&tmp.0).unwrap();
    for bad in [&b"short"[..], &[0u8; 33][..], &[][..]] {
        write_private(&tmp.0.join("key-0"), bad);
        for result in [kd.load(), kd.load_or_create(), kd.rotate()] {
            match result {
                Err(e @ KeyDirError::Corrupt { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("key-0"), "{text}");
                    assert!(text.contains(&bad.len().to_string()), "{text}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            fs::read(tmp.0.join("key-0")).unwrap(),
            bad,
            "left as it was"
        );
        assert_eq!(names(&tmp.0), ["key-0"]);
    }
}

#[test]
fn an_empty_directory_has_no_key_until_one_is_created() {
    let tmp = TempDir::new("empty");
    let kd = KeyDir::open(&tmp.0).unwrap();
    assert!(matches!(kd.load(), Err(KeyDirError::Missing(_))));
    assert!(matches!(kd.rotate(), Err(KeyDirError::Missing(_))));
    // Unrelated files (a database sharing the directory) are ignored.
    fs::write(tmp.0.join("latchkey.redb"), b"db").unwrap();
    fs::write(tmp.0.join("key-01"), b"not canonical").unwrap();
    let keys = kd.load_or_create().unwrap();
    assert_eq!(keys.generations().collect::<Vec<_>>(), [0]);
}

#[test]
fn the_example_servers_single_key_is_adopted_as_generation_0() {
    let tmp = TempDir::new("legacy");
    let kd = KeyDir::open(&tmp.0).unwrap();
    write_private(&tmp.0.join(LEGACY_KEY_FILE), &[9u8; 32]);
    let keys = kd.load_or_create().unwrap();
    assert_eq!(keys.current(), 0);
    // The example used key id 0 for this key: old credentials still hash.
    let old = latchkey::Keyring::new(&[(0, [9u8; 32])]).unwrap();
    let (t, h) = old
        .mint(TokenKind::RefreshToken, &SeededEntropy::new(5))
        .unwrap();
    assert_eq!(
        keys.keyring()
            .unwrap()
            .hash(TokenKind::RefreshToken, t.expose()),
        Some(h)
    );
    assert_eq!(fs::read(tmp.0.join("key-0")).unwrap(), [9u8; 32]);
}

fn key_id_of(token: &str) -> u8 {
    let body = &token[6..];
    URL_SAFE_NO_PAD.decode(body).unwrap()[0]
}

#[tokio::test]
async fn rotation_keeps_old_credentials_valid_until_their_key_is_retired() {
    let tmp = TempDir::new("rotate");
    let kd = KeyDir::open(&tmp.0).unwrap();
    let gen0 = kd.load_or_create().unwrap();
    let store = Arc::new(MemoryStore::new());
    let before = harness_with_keys(store.clone(), gen0.keyring().unwrap()).await;
    let (at, rt) = before.tokens("profile:read").await;
    assert_eq!(key_id_of(&at), 0);
    assert!(before.active(&at).await);

    let gen1 = kd.rotate().unwrap();
    assert_eq!(gen1.generations().collect::<Vec<_>>(), [1, 0]);
    assert_eq!(names(&tmp.0), ["key-0", "key-1"]);

    // An instance restarted on the rotated directory, same database.
    let after = restarted(&before, &store, gen1.keyring().unwrap(), 11);
    assert!(
        after.active(&at).await,
        "a pre-rotation token still verifies"
    );
    let r = after.refresh(&rt, &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json_body();
    let (at2, rt2) = (
        j["access_token"].as_str().unwrap().to_owned(),
        j["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(key_id_of(&at2), 1, "new credentials use the new key id");
    assert_eq!(key_id_of(&rt2), 1);
    assert!(after.active(&at2).await);
    // The client secret was hashed under key 0 and is checked against every
    // key: client authentication above (Basic) already relied on it.

    // An instance still running with the old keyring does not know key 1.
    let stale = restarted(&before, &store, gen0.keyring().unwrap(), 12);
    assert!(!stale.active(&at2).await);

    // Retiring key 0 ends what was hashed under it, client secret included.
    assert!(matches!(kd.retire(1), Err(KeyDirError::RetireCurrent(1))));
    let gen1_only = kd.retire(0).unwrap();
    assert_eq!(gen1_only.generations().collect::<Vec<_>>(), [1]);
    let retired = restarted(&before, &store, gen1_only.keyring().unwrap(), 13);
    let r = retired
        .engine
        .introspect(
            &latchkey::http::HttpRequest::form_post(&[("token", &at2)])
                .with_header("Authorization", &retired.app_auth()),
        )
        .await;
    assert_eq!(r.status, 401, "the client secret was hashed under key 0");
    let new_secret = after
        .engine
        .rotate_client_secret(&operator(), &after.app.client.id)
        .await
        .unwrap();
    let mut renewed = restarted(&before, &store, gen1_only.keyring().unwrap(), 14);
    renewed.app.secret = Some(new_secret);
    assert!(renewed.active(&at2).await, "a secret rotated after key 1");
    assert!(!renewed.active(&at).await, "key 0 tokens end with key 0");
}

/// The same database and clients, served by an engine with `keys`.
/// Its own entropy seed, so it never mints what another engine minted.
fn restarted(h: &Harness, store: &Arc<MemoryStore>, keys: latchkey::Keyring, seed: u64) -> Harness {
    let (engine, _) = engine_with_keys(store.clone(), keys);
    let engine = engine
        .with_clock(h.clock.clone())
        .with_entropy(Arc::new(SeededEntropy::new(seed)));
    Harness {
        engine,
        clock: h.clock.clone(),
        app: RegisteredClient {
            client: h.app.client.clone(),
            secret: h.app.secret.clone(),
        },
        cli: RegisteredClient {
            client: h.cli.client.clone(),
            secret: h.cli.secret.clone(),
        },
    }
}

#[test]
fn key_ids_wrap_and_a_collision_is_refused() {
    assert_eq!(ServerKeys::key_id(0), 0);
    assert_eq!(ServerKeys::key_id(257), 1);
    let tmp = TempDir::new("wrap");
    let kd = KeyDir::open(&tmp.0).unwrap();
    write_private(&tmp.0.join("key-1"), &[1u8; 32]);
    write_private(&tmp.0.join("key-256"), &[2u8; 32]);
    // 257 would share id 1 with generation 1.
    assert!(matches!(kd.rotate(), Err(KeyDirError::IdCollision(257, 1))));
    write_private(&tmp.0.join("key-257"), &[3u8; 32]);
    assert!(matches!(
        kd.load().unwrap().keyring(),
        Err(KeyDirError::IdCollision(257, 1))
    ));
    let keys = kd.retire(1).unwrap();
    assert_eq!(keys.generations().collect::<Vec<_>>(), [257, 256]);
    let (t, _) = keys
        .keyring()
        .unwrap()
        .mint(TokenKind::AccessToken, &SeededEntropy::new(3))
        .unwrap();
    assert_eq!(key_id_of(t.expose()), 1, "generation 257 signs as id 1");
}
