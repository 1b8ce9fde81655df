//! The file format: schema versioning and upgrades, table naming, and
//! exclusive access.

mod common;

use std::path::Path;

use latchkey::clock::Timestamp;
use latchkey::model::{AccessTokenRecord, CodeStatus, Revocation, RevocationReason};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    ClientStore as _, CodeStore as _, EventStore as _, GrantStore as _, TokenStore as _,
};
use latchkey::token::TokenHash;
use latchkey_redb::{table_names, OpenError, RedbStore, SCHEMA_VERSION};
use redb::{ReadableDatabase as _, TableDefinition, TableHandle as _};

const CHILD_DB: &str = "LATCHKEY_SCHEMA_CHILD_DB";

/// The meta table as any version must find it: its name is stable.
fn meta() -> TableDefinition<'static, &'static str, u64> {
    TableDefinition::new(table_names().1)
}

fn stored_version(path: &Path) -> Option<u64> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(meta()).expect("meta table");
    let v = table.get("schema_version").expect("get").map(|v| v.value());
    v
}

fn set_version(path: &Path, version: u64) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    txn.open_table(meta())
        .expect("meta table")
        .insert("schema_version", version)
        .expect("insert");
    txn.commit().expect("commit");
}

#[test]
fn fresh_file_records_current_version() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).expect("open"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    // Reopening a file of the current version works and keeps it.
    drop(RedbStore::open(&path).expect("reopen"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).expect("open"));
    set_version(&path, SCHEMA_VERSION + 1);
    let err = RedbStore::open(&path).expect_err("newer file must be refused");
    assert!(
        matches!(err, OpenError::NewerSchema { found, supported }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    // Refusing did not rewrite the version.
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION + 1));
}

#[test]
fn unknown_older_schema_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).expect("open"));
    set_version(&path, 0);
    assert!(matches!(
        RedbStore::open(&path),
        Err(OpenError::UnsupportedSchema { found: 0 })
    ));
}

#[test]
fn foreign_redb_file_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    {
        let db = redb::Database::create(&path).expect("raw create");
        let txn = db.begin_write().expect("write");
        let def: TableDefinition<&str, &str> = TableDefinition::new("someone_else");
        txn.open_table(def)
            .expect("table")
            .insert("k", "v")
            .expect("insert");
        txn.commit().expect("commit");
    }
    assert!(matches!(
        RedbStore::open(&path),
        Err(OpenError::NotLatchkey)
    ));
}

#[test]
fn every_data_table_is_versioned() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).expect("open"));
    let (versioned, meta_name) = table_names();
    // Each table is named for the version that introduced its layout.
    let prefixes: Vec<String> = (1..=SCHEMA_VERSION).map(|v| format!("v{v}/")).collect();
    assert!(
        versioned
            .iter()
            .all(|n| prefixes.iter().any(|p| n.starts_with(p.as_str()))),
        "{versioned:?}"
    );
    let db = redb::Database::open(&path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let mut on_disk: Vec<String> = txn
        .list_tables()
        .expect("list")
        .map(|t| t.name().to_owned())
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = versioned
        .iter()
        .chain(std::iter::once(&meta_name))
        .map(|s| (*s).to_owned())
        .collect();
    expected.sort();
    assert_eq!(on_disk, expected, "every table is created up front");
    assert!(txn.list_multimap_tables().expect("list").next().is_none());
}

#[tokio::test]
async fn second_open_in_process_is_refused_then_allowed_after_close() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    let first = RedbStore::open(&path).expect("open");
    let err = RedbStore::open(&path).expect_err("second handle");
    assert!(matches!(err, OpenError::AlreadyOpen), "{err:?}");
    assert!(err.to_string().contains("already open"), "{err}");
    // The refused open did not disturb the first handle.
    first.ack_events("c", 3).await.expect("write still works");
    drop(first);
    let again = RedbStore::open(&path).expect("open after close");
    assert_eq!(
        again.get_client("none").await.expect("read"),
        None,
        "reopened store is usable"
    );
}

#[test]
fn second_process_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    let store = RedbStore::open(&path).expect("open");
    let out = common::child("second_process_child", [(CHILD_DB, &path)])
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD: already-open"),
        "child did not see AlreadyOpen: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(store);
    // Once the owner closed it, another process may open it.
    let out = common::child("second_process_child", [(CHILD_DB, &path)])
        .env("LATCHKEY_SCHEMA_CHILD_EXPECT_FREE", "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD: opened"),
        "child could not open a free file: {stdout}"
    );
}

/// Child role of [`second_process_is_refused`]: tries to open the file.
#[test]
#[ignore = "child process role of second_process_is_refused, not a test by itself"]
fn second_process_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    match RedbStore::open(&path) {
        Err(OpenError::AlreadyOpen) => println!("CHILD: already-open"),
        Ok(_) if std::env::var_os("LATCHKEY_SCHEMA_CHILD_EXPECT_FREE").is_some() => {
            println!("CHILD: opened");
        }
        other => panic!("unexpected open result: {other:?}"),
    }
}

#[tokio::test]
async fn data_survives_reopen() {
    use latchkey::model::{EventKind, NewEvent};
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("db.redb");
    let store = RedbStore::open(&path).expect("open");
    let client = latchkey::conformance::sample_client("acme");
    let ev = NewEvent {
        audit: latchkey::Audit::system(),
        at: client.created_at,
        kind: EventKind::ClientCreated {
            client_id: client.id.clone(),
        },
    };
    store.insert_client(&client, &[ev]).await.expect("insert");
    drop(store);
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        store.get_client(&client.id).await.expect("get"),
        Some(client)
    );
    let events = store.poll_events("x", 10).await.expect("poll");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
}

// --- upgrades ------------------------------------------------------------

const T0: Timestamp = Timestamp(1_700_000_000);
/// The table version 2 added.
const V2_TABLE: &str = "v2/access_by_client";
/// The tables version 3 added (browser sessions and their two indexes).
const V3_TABLES: [&str; 3] = [
    "v3/browser_sessions",
    "v3/browser_session_idle",
    "v3/browser_session_age",
];
/// The tables version 4 added (device authorizations and two indexes).
const V4_TABLES: [&str; 3] = ["v4/devices", "v4/device_by_user_code", "v4/device_expiry"];

fn drop_v4_tables(txn: &redb::WriteTransaction) {
    let devices: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new(V4_TABLES[0]);
    assert!(txn.delete_table(devices).expect("drop"));
    let by_user_code: TableDefinition<&[u8; 32], &[u8; 32]> = TableDefinition::new(V4_TABLES[1]);
    assert!(txn.delete_table(by_user_code).expect("drop"));
    let expiry: TableDefinition<&[u8], ()> = TableDefinition::new(V4_TABLES[2]);
    assert!(txn.delete_table(expiry).expect("drop"));
}

/// The table version 5 added (access-token signing keys).
const V5_TABLE: &str = "v5/signing_keys";

fn drop_v5_tables(txn: &redb::WriteTransaction) {
    let keys: TableDefinition<&str, &[u8]> = TableDefinition::new(V5_TABLE);
    assert!(txn.delete_table(keys).expect("drop"));
}

/// Turns a file of the current version back into what version 4 wrote.
fn downgrade_to_v4(path: &Path) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    drop_v5_tables(&txn);
    txn.open_table(meta())
        .expect("meta table")
        .insert("schema_version", 4)
        .expect("insert");
    txn.commit().expect("commit");
}

/// Turns a file of the current version back into what version 3 wrote.
fn downgrade_to_v3(path: &Path) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    drop_v4_tables(&txn);
    drop_v5_tables(&txn);
    txn.open_table(meta())
        .expect("meta table")
        .insert("schema_version", 3)
        .expect("insert");
    txn.commit().expect("commit");
}

fn table_names_on_disk(path: &Path) -> Vec<String> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let mut names: Vec<String> = txn
        .list_tables()
        .expect("list")
        .map(|t| t.name().to_owned())
        .collect();
    names.sort();
    names
}

/// What a fresh file of the current version holds, by table name.
fn current_table_names() -> Vec<String> {
    let (versioned, meta_name) = table_names();
    let mut names: Vec<String> = versioned
        .iter()
        .chain(std::iter::once(&meta_name))
        .map(|s| (*s).to_owned())
        .collect();
    names.sort();
    names
}

/// Turns a file of the current version back into what version 2 wrote:
/// the same `v1/…` and `v2/…` tables, without the tables version 3 added.
fn downgrade_to_v2(path: &Path) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    drop_v3_tables(&txn);
    drop_v4_tables(&txn);
    drop_v5_tables(&txn);
    txn.open_table(meta())
        .expect("meta table")
        .insert("schema_version", 2)
        .expect("insert");
    txn.commit().expect("commit");
}

fn drop_v3_tables(txn: &redb::WriteTransaction) {
    let sessions: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new(V3_TABLES[0]);
    assert!(txn.delete_table(sessions).expect("drop"));
    for name in &V3_TABLES[1..] {
        let index: TableDefinition<&[u8], ()> = TableDefinition::new(name);
        assert!(txn.delete_table(index).expect("drop"));
    }
}

/// Turns a file of the current version back into what version 1 wrote:
/// the same `v1/…` tables, without the tables versions 2 and 3 added.
fn downgrade_to_v1(path: &Path) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().expect("write");
    let def: TableDefinition<(&str, &[u8; 32]), ()> = TableDefinition::new(V2_TABLE);
    assert!(txn.delete_table(def).expect("drop"));
    drop_v3_tables(&txn);
    drop_v4_tables(&txn);
    drop_v5_tables(&txn);
    txn.open_table(meta())
        .expect("meta table")
        .insert("schema_version", 1)
        .expect("insert");
    txn.commit().expect("commit");
}

fn client_credentials_token(n: u8, client_id: &str) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: TokenHash([n; 32]),
        family_id: None,
        client_id: client_id.into(),
        subject: client_id.into(),
        scopes: ScopeSet::parse("dns:read").expect("scopes"),
        resources: vec![],
        issued_at: T0,
        expires_at: T0.plus(300),
        revoked_at: None,
    }
}

fn client_deleted() -> Revocation {
    Revocation {
        at: T0.plus(60),
        reason: RevocationReason::ClientDeleted,
    }
}

/// `tests/fixtures/schema-v1.redb` was written by this crate at schema 1
/// (see `tests/fixtures/README.md`): it opens, is upgraded in place, keeps
/// every record, and the new client index covers the tokens stored before.
#[tokio::test]
async fn version_1_file_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("v1.redb");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.redb"),
        &path,
    )
    .expect("copy fixture");
    assert_eq!(stored_version(&path), Some(1));
    let before = table_names_on_disk(&path);
    assert!(!before.contains(&V2_TABLE.to_owned()));
    assert!(V3_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(V4_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(!before.contains(&V5_TABLE.to_owned()));

    let store = RedbStore::open(&path).expect("open upgrades");
    drop(store);
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    assert_eq!(
        SCHEMA_VERSION, 6,
        "this test knows the upgrades 1 -> 2 -> 3 -> 4 -> 5 -> 6, in one open"
    );
    assert_eq!(table_names_on_disk(&path), current_table_names());

    // Reopening an upgraded file is a plain open, and the data survived.
    let store = RedbStore::open(&path).expect("reopen");
    let acme = store.get_client("acme").await.expect("get").expect("acme");
    assert_eq!(acme.owner, "acme");
    assert_eq!(store.get_client("globex").await.expect("get"), None);
    let grant = store
        .get_grant("alice", "acme")
        .await
        .expect("get")
        .expect("grant");
    assert_eq!(grant.id, "g1");
    let code = store
        .get_code(&TokenHash([1; 32]))
        .await
        .expect("code")
        .expect("code");
    assert_eq!(
        code.status,
        CodeStatus::Redeemed {
            family_id: "f1".into()
        }
    );
    let (family, generation) = store
        .find_refresh_token(&TokenHash([2; 32]))
        .await
        .expect("rt")
        .expect("indexed");
    assert_eq!((family.id.as_str(), generation), ("f1", 0));
    let find = |n: u8| {
        let store = store.clone();
        async move {
            store
                .find_access_token(&TokenHash([n; 32]))
                .await
                .expect("find")
                .unwrap_or_else(|| panic!("token {n} kept"))
        }
    };
    // acme's client_credentials token is live.
    assert_eq!(find(4).await.token.revoked_at, None);
    // globex was deleted under version 1, which left its stand-alone token
    // unrevoked: the upgrade revokes it, or it would read as live now.
    assert!(find(5).await.token.revoked_at.is_some());

    // delete_client reaches the client_credentials token stored before the
    // upgrade through the backfilled index, and the family token through
    // its family.
    let r = client_deleted();
    assert!(store.delete_client("acme", r, &[]).await.expect("delete"));
    assert_eq!(find(4).await.token.revoked_at, Some(r.at));
    let family_token = find(3).await;
    assert_eq!(family_token.token.family_id.as_deref(), Some("f1"));
    assert!(family_token.family_revoked);

    // Version 3's session tables are there and work.
    sessions_work(&store).await;
    devices_work(&store).await;
    signing_keys_work(&store).await;
}

/// A device authorization round trip on `store`: the version-4 tables
/// exist and are usable.
async fn devices_work(store: &RedbStore) {
    use latchkey::model::{DeviceRecord, DeviceStatus};
    use latchkey::storage::{DevicePoll, DeviceStore as _, PurgeStore as _};
    let d = DeviceRecord {
        hash: TokenHash([50; 32]),
        user_code: TokenHash([51; 32]),
        client_id: "acme".into(),
        scopes: ScopeSet::parse("profile:read").expect("scope"),
        resources: vec![],
        created_at: T0,
        expires_at: T0.plus(600),
        interval: 5,
        last_poll: None,
        status: DeviceStatus::Pending,
    };
    store.insert_device(&d).await.expect("insert");
    assert_eq!(
        store
            .find_device_by_user_code(&d.user_code)
            .await
            .expect("find"),
        Some(d.clone())
    );
    assert!(matches!(
        store.poll_device(&d.hash, "acme", T0).await.expect("poll"),
        DevicePoll::Polled(_)
    ));
    let purged = store.purge_expired(T0.plus(600), 10).await.expect("purge");
    assert_eq!(purged.devices, 1);
}

/// Writes a client into a file of the current layout, turns the file back
/// into what version `old` wrote with `downgrade` (whose `added` tables
/// then are gone), and checks that opening upgrades it: what was stored is
/// kept and every later table works.
async fn downgraded_file_is_upgraded_from(old: u64, downgrade: fn(&Path), added: &[&str]) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join(format!("down{old}.redb"));
    let client = latchkey::conformance::sample_client("acme");
    {
        let store = RedbStore::open(&path).expect("open");
        store.insert_client(&client, &[]).await.expect("client");
    }
    downgrade(&path);
    assert_eq!(stored_version(&path), Some(old));
    assert!(added
        .iter()
        .all(|t| !table_names_on_disk(&path).contains(&(*t).to_owned())));
    drop(RedbStore::open(&path).expect("open upgrades"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    assert_eq!(table_names_on_disk(&path), current_table_names());
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        store.get_client(&client.id).await.expect("get"),
        Some(client)
    );
    sessions_work(&store).await;
    devices_work(&store).await;
    signing_keys_work(&store).await;
}

/// The 3 -> 4 -> 5 upgrade: device authorizations and signing keys work.
#[tokio::test]
async fn downgraded_version_3_file_is_upgraded() {
    downgraded_file_is_upgraded_from(3, downgrade_to_v3, &V4_TABLES).await;
}

/// The 4 -> 5 upgrade: signing keys work.
#[tokio::test]
async fn downgraded_version_4_file_is_upgraded() {
    downgraded_file_is_upgraded_from(4, downgrade_to_v4, &[V5_TABLE]).await;
}

/// A signing key round trip on `store`: the version-5 table exists and
/// is usable.
async fn signing_keys_work(store: &RedbStore) {
    use latchkey::jwt::{SigningAlgorithm, SigningKeyRecord, SigningKeyState};
    use latchkey::storage::SigningKeyStore as _;
    let key = SigningKeyRecord {
        kid: "k1".into(),
        algorithm: SigningAlgorithm::EdDsa,
        public_key: vec![1; 32],
        sealed_private: vec![2; 60],
        sealed_with: 1,
        created_at: T0,
        activates_at: T0,
        state: SigningKeyState::Active,
        state_since: T0,
    };
    store.insert_signing_key(&key).await.expect("insert");
    assert_eq!(store.list_signing_keys().await.expect("list"), vec![key]);
}

/// A browser session round trip on `store`: the version-3 tables exist
/// and are usable.
async fn sessions_work(store: &RedbStore) {
    use latchkey::storage::BrowserSessionStore as _;
    use latchkey::web::{CsrfToken, SessionKey, SessionRecord};
    let r = SessionRecord {
        key: SessionKey([42; 32]),
        user: Some("alice".into()),
        csrf: CsrfToken::new("csrf"),
        binding: "binding".into(),
        flash: None,
        created_at: T0,
        last_seen: T0,
    };
    store.insert_browser_session(&r).await.expect("insert");
    assert_eq!(
        store.get_browser_session(&r.key).await.expect("get"),
        Some(r.clone())
    );
    assert_eq!(
        store
            .purge_browser_sessions(T0.plus(1), T0, 10)
            .await
            .expect("purge"),
        1
    );
}

/// `tests/fixtures/schema-v2.redb` was written by this crate at schema 2
/// (see `tests/fixtures/README.md`): it opens, is upgraded in place to
/// version 3 (the session tables are added, empty), and keeps every record
/// and the version-2 client index.
#[tokio::test]
async fn version_2_file_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("v2.redb");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v2.redb"),
        &path,
    )
    .expect("copy fixture");
    assert_eq!(stored_version(&path), Some(2));
    let before = table_names_on_disk(&path);
    assert!(before.contains(&V2_TABLE.to_owned()));
    assert!(V3_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(V4_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(!before.contains(&V5_TABLE.to_owned()));

    drop(RedbStore::open(&path).expect("open upgrades"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    assert_eq!(
        SCHEMA_VERSION, 6,
        "this test knows the upgrades 2 -> 3 -> 4 -> 5 -> 6"
    );
    assert_eq!(table_names_on_disk(&path), current_table_names());

    let store = RedbStore::open(&path).expect("reopen");
    let acme = store.get_client("acme").await.expect("get").expect("acme");
    assert_eq!(acme.owner, "acme");
    // Written before creators and audit fields were kept: read as absent.
    assert_eq!(acme.created_by, None);
    let events = store.poll_events("x", 10).await.expect("poll");
    assert_eq!(events.len(), 1, "the event written at version 2");
    assert_eq!(events[0].audit, None);
    let token = TokenHash([4; 32]);
    let t = store
        .find_access_token(&token)
        .await
        .expect("find")
        .expect("kept");
    assert_eq!(t.token.revoked_at, None);
    // The version-2 client index survived: delete_client reaches the token.
    let r = client_deleted();
    let by = latchkey::Audit::user("olga", latchkey::Source::new(None, Some("Console/1.0")));
    let deleted = latchkey::model::NewEvent {
        at: r.at,
        kind: latchkey::model::EventKind::ClientDeleted {
            client_id: "acme".into(),
        },
        audit: by.clone(),
    };
    assert!(store
        .delete_client("acme", r, &[deleted])
        .await
        .expect("delete"));
    // Events written now carry their audit beside the old one without.
    let events = store.poll_events("x", 10).await.expect("poll");
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].audit.as_ref(), events[1].audit.as_ref()),
        (None, Some(&by))
    );
    assert_eq!(
        store
            .find_access_token(&token)
            .await
            .expect("find")
            .expect("kept")
            .token
            .revoked_at,
        Some(r.at)
    );
    sessions_work(&store).await;
    devices_work(&store).await;
    signing_keys_work(&store).await;
}

/// The 2 -> 3 upgrade on a file of the current layout with the version-3
/// tables removed: everything stored before is kept, sessions work after.
#[tokio::test]
async fn downgraded_version_2_file_is_upgraded() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("down2.redb");
    let client = latchkey::conformance::sample_client("acme");
    {
        let store = RedbStore::open(&path).expect("open");
        store.insert_client(&client, &[]).await.expect("client");
        store
            .insert_access_token(&client_credentials_token(1, &client.id))
            .await
            .expect("token");
    }
    downgrade_to_v2(&path);
    assert_eq!(stored_version(&path), Some(2));
    drop(RedbStore::open(&path).expect("open upgrades"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    assert_eq!(table_names_on_disk(&path), current_table_names());
    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(
        store.get_client(&client.id).await.expect("get"),
        Some(client.clone())
    );
    let r = client_deleted();
    assert!(store
        .delete_client(&client.id, r, &[])
        .await
        .expect("delete"));
    assert_eq!(
        store
            .find_access_token(&TokenHash([1; 32]))
            .await
            .expect("find")
            .expect("kept")
            .token
            .revoked_at,
        Some(r.at)
    );
    sessions_work(&store).await;
    devices_work(&store).await;
    signing_keys_work(&store).await;
}

/// The same upgrade on a file of the current layout with the version-2
/// table removed: a live client's token is indexed and left alive, a
/// deleted client's is revoked, and delete_client afterwards finds the
/// token stored before the upgrade.
#[tokio::test]
async fn downgraded_file_is_upgraded_and_backfilled() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("down.redb");
    let client = latchkey::conformance::sample_client("acme");
    {
        let store = RedbStore::open(&path).expect("open");
        store.insert_client(&client, &[]).await.expect("client");
        store
            .insert_access_token(&client_credentials_token(1, &client.id))
            .await
            .expect("token");
        store
            .insert_access_token(&client_credentials_token(2, "never-registered"))
            .await
            .expect("token");
    }
    downgrade_to_v1(&path);
    assert_eq!(stored_version(&path), Some(1));

    drop(RedbStore::open(&path).expect("open upgrades"));
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    let store = RedbStore::open(&path).expect("reopen");
    let t = |n: u8| {
        let store = store.clone();
        async move {
            store
                .find_access_token(&TokenHash([n; 32]))
                .await
                .expect("find")
                .expect("kept")
                .token
        }
    };
    assert_eq!(t(1).await.revoked_at, None, "its client exists");
    assert!(t(2).await.revoked_at.is_some(), "its client does not");
    let r = client_deleted();
    assert!(store
        .delete_client(&client.id, r, &[])
        .await
        .expect("delete"));
    assert_eq!(t(1).await.revoked_at, Some(r.at));
}

/// The upgrade is one transaction: when it fails part-way (here on a
/// record it cannot decode), nothing of it is left and the file is still
/// a version-1 file.
#[test]
fn failed_upgrade_leaves_the_version_1_file_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.redb");
    drop(RedbStore::open(&path).expect("open"));
    downgrade_to_v1(&path);
    {
        let db = redb::Database::open(&path).expect("raw open");
        let txn = db.begin_write().expect("write");
        let access: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("v1/access_tokens");
        txn.open_table(access)
            .expect("table")
            .insert(&[9; 32], b"not json".as_slice())
            .expect("insert");
        txn.commit().expect("commit");
    }
    let before = table_names_on_disk(&path);
    let err = RedbStore::open(&path).expect_err("undecodable record");
    assert!(matches!(err, OpenError::Storage(_)), "{err:?}");
    assert_eq!(stored_version(&path), Some(1));
    assert_eq!(table_names_on_disk(&path), before);
    assert!(!before.contains(&V2_TABLE.to_owned()));
    assert!(V3_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(V4_TABLES.iter().all(|t| !before.contains(&(*t).to_owned())));
    assert!(!before.contains(&V5_TABLE.to_owned()));
}
