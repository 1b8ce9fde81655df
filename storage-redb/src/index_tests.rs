//! Index bookkeeping that the public contracts cannot see: after every
//! record is gone, no index entry may be left pointing at it.

use latchkey::clock::Timestamp;
use latchkey::conformance::sample_client;
use latchkey::model::{
    AccessTokenRecord, CodeRecord, CodeStatus, FamilyRecord, GrantRecord, RefreshGeneration,
    Revocation, RevocationReason,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    Approval, ApproveOutcome, BrowserSessionStore, ClientStore, CodeStore, EventStore, GrantStore,
    Issuance, PurgeStore, RedeemOutcome, RotateOutcome, Rotation, TokenStore,
};
use latchkey::token::TokenHash;
use redb::{
    ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableHandle as _,
};

use crate::tables::{
    versioned_table_names, ACCESS_BY_CLIENT, BROWSER_SESSIONS, COUNTERS, CURSORS, SESSION_AGE,
    SESSION_IDLE,
};
use crate::RedbStore;

const T0: Timestamp = Timestamp(1_700_000_000);

fn h(n: u8) -> TokenHash {
    TokenHash([n; 32])
}

/// Entries in every data table, by name.
fn table_sizes(store: &RedbStore) -> Vec<(&'static str, u64)> {
    let txn = store.inner.shared.db.begin_read().expect("read");
    versioned_table_names()
        .into_iter()
        .map(|name| {
            let handle = txn
                .list_tables()
                .expect("list")
                .find(|t| t.name() == name)
                .expect("table exists");
            let len = txn
                .open_untyped_table(handle)
                .expect("open")
                .len()
                .expect("len");
            (name, len)
        })
        .collect()
}

#[tokio::test]
async fn purging_everything_leaves_no_index_entry_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("idx.redb")).expect("open");
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let grant = GrantRecord {
        id: "g1".into(),
        subject: "alice".into(),
        client_id: client.id.clone(),
        scopes: ScopeSet::parse("profile:read").expect("scopes"),
        resources: vec![],
        remembered_scopes: None,
        created_at: T0,
        last_used_at: T0,
        revision: 0,
    };
    let code = CodeRecord {
        hash: h(1),
        client_id: client.id.clone(),
        grant_id: grant.id.clone(),
        subject: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_explicit: false,
        scopes: grant.scopes.clone(),
        resources: vec![],
        code_challenge: "x".into(),
        issued_at: T0,
        expires_at: T0.plus(600),
        failed_attempts: 0,
        status: CodeStatus::Unused,
    };
    let approval = Approval {
        challenge: None,
        code: code.clone(),
        remember: false,
        new_grant_id: grant.id.clone(),
        audit: latchkey::Audit::system(),
    };
    assert_eq!(
        store.approve(&approval).await.expect("approve"),
        ApproveOutcome::Approved {
            grant_id: grant.id.clone()
        }
    );
    let access = |n: u8| AccessTokenRecord {
        hash: h(n),
        family_id: Some("f1".into()),
        client_id: client.id.clone(),
        subject: "alice".into(),
        scopes: grant.scopes.clone(),
        resources: vec![],
        issued_at: T0,
        expires_at: T0.plus(300 + u64::from(n)),
        revoked_at: None,
    };
    let family = FamilyRecord {
        id: "f1".into(),
        grant_id: grant.id.clone(),
        client_id: client.id.clone(),
        subject: "alice".into(),
        scopes: grant.scopes.clone(),
        resources: vec![],
        generation: 0,
        current: RefreshGeneration {
            hash: h(10),
            issued_at: T0,
            expires_at: T0.plus(1000),
        },
        previous: None,
        created_at: T0,
        expires_at: T0.plus(1000),
        revoked: None,
    };
    let issuance = Issuance {
        family: family.clone(),
        access: access(20),
        events: vec![],
    };
    assert_eq!(
        store
            .redeem_code(&h(1), T0, &issuance)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    for generation in 1..=3u8 {
        let rotation = Rotation {
            current: RefreshGeneration {
                hash: h(10 + generation),
                issued_at: T0,
                expires_at: T0.plus(2000 + u64::from(generation)),
            },
            previous: latchkey::model::PreviousGeneration {
                hash: h(9 + generation),
                rotated_at: T0,
                sealed_successor: vec![],
            },
            access: access(20 + generation),
            expires_at: T0.plus(2000 + u64::from(generation)),
            now: T0,
        };
        assert_eq!(
            store
                .rotate_family("f1", u64::from(generation) - 1, &rotation)
                .await
                .expect("rotate"),
            RotateOutcome::Rotated
        );
    }
    let revocation = Revocation {
        at: T0,
        reason: RevocationReason::ClientDeleted,
    };
    assert!(store
        .delete_client(&client.id, revocation, &[])
        .await
        .expect("delete"));

    // Drain everything. The approval appended GrantCreated and
    // ConsentGiven: acknowledge them so the purge may take them too.
    let events = store.poll_events("drain", 100).await.expect("poll");
    assert_eq!(events.len(), 2, "{events:?}");
    store.ack_events("drain", events[1].seq).await.expect("ack");
    let (mut records, mut purged_events) = (0, 0);
    loop {
        let r = store
            .purge_expired(T0.plus(100_000), 2)
            .await
            .expect("purge");
        if r.total() == 0 {
            break;
        }
        records += r.total() - r.events;
        purged_events += r.events;
    }
    assert_eq!(
        records,
        1 + 4 + 1,
        "the code, four access tokens, the family"
    );
    assert_eq!(purged_events, 2, "both approval events");
    for (name, len) in table_sizes(&store) {
        let kept = name == COUNTERS.name() || name == CURSORS.name();
        assert!(kept || len == 0, "{name} still holds {len} entries");
    }
}

#[tokio::test]
async fn changing_a_client_owner_moves_it_between_lists() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("owner.redb")).expect("open");
    let mut c = sample_client("acme");
    store.insert_client(&c, &[]).await.expect("insert");
    c.owner = "globex".into();
    c.revision = 1;
    store.update_client(&c, 0, &[]).await.expect("update");
    assert!(store.list_clients("acme").await.expect("list").is_empty());
    assert_eq!(store.list_clients("globex").await.expect("list"), vec![c]);
}

#[tokio::test]
async fn a_call_that_changes_nothing_does_not_commit() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("noop.redb");
    let store = RedbStore::open(&path).expect("open");
    let mtime = || {
        std::fs::metadata(&path)
            .expect("meta")
            .modified()
            .expect("mtime")
    };
    let before = mtime();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Misses decide to do nothing: no commit, so no fsync and no file write.
    assert_eq!(store.purge_expired(T0, 10).await.expect("purge").total(), 0);
    let revocation = Revocation {
        at: T0,
        reason: RevocationReason::Requested,
    };
    assert!(!store
        .revoke_family("none", revocation, &[])
        .await
        .expect("revoke"));
    assert_eq!(
        store.record_code_failure(&h(9), 3).await.expect("fail"),
        latchkey::storage::CodeFailure::NotFound
    );
    let missing = latchkey::web::SessionKey([9; 32]);
    store
        .touch_browser_session(&missing, T0)
        .await
        .expect("touch");
    assert_eq!(
        store
            .take_browser_session_flash(&missing)
            .await
            .expect("take"),
        None
    );
    assert_eq!(
        store
            .purge_browser_sessions(T0, T0, 10)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(mtime(), before, "a no-op call wrote to the file");
    // A real change does write (so the check above can fail).
    store.ack_events("c", 1).await.expect("ack");
    assert_ne!(mtime(), before);
}

/// A stand-alone (`client_credentials`) access token for `client_id`.
fn standalone(n: u8, client_id: &str) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: h(n),
        family_id: None,
        client_id: client_id.into(),
        subject: client_id.into(),
        scopes: ScopeSet::parse("dns:read").expect("scopes"),
        resources: vec![],
        issued_at: T0,
        expires_at: T0.plus(300 + u64::from(n)),
        revoked_at: None,
    }
}

/// Entries of the client index of stand-alone tokens.
fn client_index(store: &RedbStore) -> Vec<(String, [u8; 32])> {
    let txn = store.inner.shared.db.begin_read().expect("read");
    let table = txn.open_table(ACCESS_BY_CLIENT).expect("table");
    table
        .iter()
        .expect("iter")
        .map(|e| {
            let (k, _) = e.expect("entry");
            let (client, hash) = k.value();
            (client.to_owned(), *hash)
        })
        .collect()
}

#[tokio::test]
async fn standalone_tokens_are_indexed_by_client_until_purged() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("cc.redb")).expect("open");
    for (n, client) in [(1, "acme"), (2, "acme"), (3, "globex")] {
        store
            .insert_access_token(&standalone(n, client))
            .await
            .expect("insert");
    }
    // A family token is not indexed by client: it dies with its family.
    let mut family_token = standalone(4, "acme");
    family_token.family_id = Some("f1".into());
    store
        .insert_access_token(&family_token)
        .await
        .expect("insert");
    assert_eq!(
        client_index(&store),
        vec![
            ("acme".to_owned(), h(1).0),
            ("acme".to_owned(), h(2).0),
            ("globex".to_owned(), h(3).0),
        ]
    );

    // Revocation keeps the entry (the token is still stored), and a second
    // delete_client finds nothing left to revoke.
    let mut acme = sample_client("acme");
    acme.id = "acme".into();
    store.insert_client(&acme, &[]).await.expect("client");
    let revocation = Revocation {
        at: T0.plus(7),
        reason: RevocationReason::ClientDeleted,
    };
    assert!(store
        .delete_client("acme", revocation, &[])
        .await
        .expect("delete"));
    for n in [1, 2] {
        let t = store.find_access_token(&h(n)).await.expect("find");
        assert_eq!(t.expect("kept").token.revoked_at, Some(T0.plus(7)));
    }
    for n in [3, 4] {
        let t = store.find_access_token(&h(n)).await.expect("find");
        assert_eq!(t.expect("kept").token.revoked_at, None, "token {n}");
    }
    assert_eq!(client_index(&store).len(), 3);

    // Purging the tokens takes their entries with them.
    let r = store
        .purge_expired(T0.plus(100_000), 100)
        .await
        .expect("purge");
    assert_eq!(r.access_tokens, 4);
    assert_eq!(client_index(&store), vec![]);
    for (name, len) in table_sizes(&store) {
        let kept = name == COUNTERS.name() || name == CURSORS.name();
        assert!(kept || len == 0, "{name} still holds {len} entries");
    }
}

#[tokio::test]
async fn rewriting_a_token_moves_its_client_entry() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("move.redb")).expect("open");
    store
        .write("test", |tx| {
            tx.upsert_access(&standalone(1, "acme"))?;
            // Same hash, now another client's: the old entry must go.
            tx.upsert_access(&standalone(1, "globex"))?;
            // Same hash, now a family token: no entry at all.
            let mut f = standalone(2, "acme");
            tx.upsert_access(&f)?;
            f.family_id = Some("f1".into());
            tx.upsert_access(&f)
        })
        .await
        .expect("write");
    assert_eq!(client_index(&store), vec![("globex".to_owned(), h(1).0)]);
}

/// Entries of the three session tables.
fn session_table_sizes(store: &RedbStore) -> [u64; 3] {
    let sizes = table_sizes(store);
    let of = |name: &str| {
        sizes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, len)| *len)
            .expect("table")
    };
    [
        of(BROWSER_SESSIONS.name()),
        of(SESSION_IDLE.name()),
        of(SESSION_AGE.name()),
    ]
}

/// Every session has exactly one entry in each expiry index, whatever
/// touched, replaced, flashed or purged it, and none is left once it is
/// gone.
#[tokio::test]
async fn session_indexes_follow_every_change() {
    use latchkey::web::{CsrfToken, SessionKey, SessionRecord};
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("sessions.redb")).expect("open");
    let rec = |n: u8, created: u64, seen: u64| SessionRecord {
        key: SessionKey([n; 32]),
        user: None,
        csrf: CsrfToken::new(format!("csrf{n}")),
        binding: format!("binding{n}"),
        flash: None,
        created_at: T0.plus(created),
        last_seen: T0.plus(seen),
    };
    for n in 1..=4 {
        store
            .insert_browser_session(&rec(n, 0, 0))
            .await
            .expect("insert");
    }
    assert_eq!(session_table_sizes(&store), [4, 4, 4]);
    store
        .touch_browser_session(&SessionKey([1; 32]), T0.plus(60))
        .await
        .expect("touch");
    assert!(store
        .set_browser_session_flash(&SessionKey([2; 32]), "hi")
        .await
        .expect("flash"));
    store
        .replace_browser_session(&SessionKey([3; 32]), &rec(5, 10, 10))
        .await
        .expect("replace");
    assert_eq!(session_table_sizes(&store), [4, 4, 4]);
    assert!(store
        .remove_browser_session(&SessionKey([4; 32]))
        .await
        .expect("rm"));
    assert_eq!(session_table_sizes(&store), [3, 3, 3]);
    let mut purged = 0;
    loop {
        let n = store
            .purge_browser_sessions(T0.plus(1_000), T0, 1)
            .await
            .expect("purge");
        if n == 0 {
            break;
        }
        purged += n;
    }
    assert_eq!(purged, 3);
    assert_eq!(session_table_sizes(&store), [0, 0, 0]);
}
