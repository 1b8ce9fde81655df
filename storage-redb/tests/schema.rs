//! The file format: schema versioning, table naming, and exclusive access.

mod common;

use std::path::Path;

use latchkey::storage::{ClientStore as _, EventStore as _};
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
    let prefix = format!("v{SCHEMA_VERSION}/");
    assert!(versioned.iter().all(|n| n.starts_with(&prefix)));
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
