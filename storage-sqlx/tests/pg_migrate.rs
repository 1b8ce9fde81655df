//! The PostgreSQL migration runner: idempotent, refuses edited history,
//! and a schema change stuck behind a long transaction gives up on its
//! lock and retries instead of queueing token traffic behind it; a
//! cancelled run does not leave its lock behind.
#![cfg(feature = "postgres")]

mod common;

use std::time::{Duration, Instant};

use latchkey::storage::{StorageError, TokenStore};
use latchkey_sqlx::{sqlx, MigrateOptions, Migration};

fn note_migration(sql: String) -> MigrateOptions {
    MigrateOptions {
        extra: vec![Migration::new(9001, "access_token_note", sql)],
        ..MigrateOptions::default()
    }
}

fn file_9001() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/migrations/postgres/9001_access_token_note.sql"
    ))
    .expect("read 9001")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_is_idempotent_and_refuses_edited_history() {
    let store = common::pg::fresh().await;
    let pg = store.inner();
    assert!(pg.migrate().await.expect("again").applied.is_empty());
    assert_eq!(
        pg.migrate_with(&note_migration(file_9001()))
            .await
            .expect("9001")
            .applied,
        vec![9001]
    );
    assert!(pg
        .migrate_with(&note_migration(file_9001()))
        .await
        .expect("9001 again")
        .applied
        .is_empty());
    let edited = format!("{}\n-- edited\n", file_9001());
    match pg.migrate_with(&note_migration(edited)).await {
        Err(StorageError::Backend(e)) => assert!(e.to_string().contains("edited"), "{e}"),
        other => panic!("an edited migration must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocked_schema_change_backs_off_instead_of_blocking_traffic() {
    let store = common::pg::fresh().await;
    let pg = store.inner().clone();
    // A long transaction that has read the table holds ACCESS SHARE: the
    // ALTER in 9001 needs ACCESS EXCLUSIVE and must wait for it.
    let mut holder = pg.pool().begin().await.expect("begin");
    sqlx::query("SELECT count(*) FROM lk_access_tokens")
        .execute(&mut *holder)
        .await
        .expect("read");
    let migrating = {
        let pg = pg.clone();
        tokio::spawn(async move { pg.migrate_with(&note_migration(file_9001())).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Meanwhile token reads are not stuck behind a queued ALTER for longer
    // than one lock_timeout.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        pg.find_access_token(&common::fixtures::hash())
            .await
            .expect("find while blocked");
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.commit().await.expect("release");
    let report = migrating
        .await
        .expect("join")
        .expect("migration after the holder ended");
    println!(
        "schema change retried {} times behind a long transaction; worst token read meanwhile {worst:.2?}",
        report.lock_retries
    );
    assert_eq!(report.applied, vec![9001]);
    assert!(
        report.lock_retries > 0,
        "the ALTER should have timed out on its lock at least once"
    );
    assert!(
        worst < Duration::from_millis(100),
        "a read waited {worst:?} behind the schema change"
    );
}

/// `migrate` cancelled while it holds the session-level advisory lock (a
/// task abort, a start-up timeout) must not hand that connection back to
/// the pool still holding the lock: every other instance's `migrate` would
/// wait for it as long as the connection lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_migrate_leaves_no_lock_behind() {
    let (name, url) = common::pg::create_db().await;
    let _drop = common::pg::DropDb(name);
    let opts: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    let one = latchkey_sqlx::PgStore::connect_with(
        latchkey_sqlx::PgStore::pool_options()
            .max_connections(1)
            .test_before_acquire(false),
        opts,
    )
    .await
    .expect("connect");
    let other = latchkey_sqlx::PgStore::connect(&url)
        .await
        .expect("connect");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(one.pool())
        .await
        .expect("pid");
    let locked = "SELECT EXISTS (SELECT 1 FROM pg_locks \
                  WHERE locktype = 'advisory' AND pid = $1 AND granted)";
    assert!(
        common::pg::cancel_when(one.migrate(), other.pool(), pid, locked).await,
        "migrate finished before it was seen holding the lock"
    );
    let report = tokio::time::timeout(Duration::from_secs(10), other.migrate())
        .await
        .expect("another instance's migrate is not kept waiting")
        .expect("migrate");
    assert!(!report.applied.is_empty());
    assert!(one.migrate().await.expect("again").applied.is_empty());
}
