//! `tests/fixtures/schema-v5.redb`: a file written by this crate at schema
//! version 5, holding a record of every kind, as `schema-v1.redb` and
//! `schema-v2.redb` are for the upgrades before it.
//!
//! The fixture is made by [`make_schema_v5_fixture`] (ignored; see
//! `tests/fixtures/README.md`), and [`version_5_file_keeps_every_record`]
//! opens a copy with the current code and reads every record back. Both
//! share [`check_every_record`], so what the generator wrote is exactly
//! what the reader expects. Version 6 added the compact record encoding:
//! [`version_5_records_are_written_back_compact_when_they_change`] checks
//! that its JSON records stay readable and turn compact when rewritten,
//! and [`every_record_round_trips_in_the_current_encoding`] writes every
//! record with the current code.

use std::path::Path;

use latchkey::clock::Timestamp;
use latchkey::jwt::{SigningAlgorithm, SigningKeyRecord, SigningKeyState};
use latchkey::model::{
    AccessTokenRecord, AccessTokenView, AuthMethod, ChallengeRecord, ClientLifetimes, ClientRecord,
    CodeRecord, CodeStatus, DeviceRecord, DeviceStatus, DomainState, DomainVerification,
    DynamicRegistration, EventKind, FamilyRecord, GrantRecord, GrantType, MetadataDocument,
    NewEvent, PendingAuthorization, PreviousGeneration, RefreshGeneration, Revocation,
    RevocationReason, SecretHashes, Visibility,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    Approval, ApproveOutcome, BrowserSessionStore as _, ChallengeStore as _, ClientStore as _,
    CodeStore as _, DevicePoll, DeviceStore as _, EventStore as _, GrantStore as _, Issuance,
    RedeemOutcome, RotateOutcome, Rotation, SigningKeyStore as _, TokenStore as _,
};
use latchkey::token::TokenHash;
use latchkey::web::{CsrfToken, SessionKey, SessionRecord};
use latchkey_redb::{RedbStore, SCHEMA_VERSION};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v5.redb");
const T0: Timestamp = Timestamp(1_700_000_000);
/// Far future: every record must still be live whenever the test runs.
const LATER: Timestamp = Timestamp(4_000_000_000);
/// The consumer that acknowledged part of the outbox.
const CONSUMER: &str = "audit";

fn h(n: u8) -> TokenHash {
    TokenHash([n; 32])
}

fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).expect("scopes")
}

/// A confidential, published client with every optional part a
/// console-registered client can have.
fn acme() -> ClientRecord {
    ClientRecord {
        created_by: None,
        access_token_format: None,
        id: "acme".into(),
        owner: "acme-corp".into(),
        name: "Acme Dashboard".into(),
        redirect_uris: vec![
            "https://app.acme.example/cb".into(),
            "https://app.acme.example/cb2".into(),
        ],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
        ],
        scopes: scopes("profile:read dns:read"),
        resources: vec!["https://api.acme.example/".into()],
        served_resources: vec!["https://api.acme.example/".into()],
        auth_method: AuthMethod::ClientSecretBasic,
        secret: Some(SecretHashes {
            current: h(10),
            previous: Some(h(11)),
            previous_until: Some(LATER),
        }),
        visibility: Visibility::Public,
        domains: vec![
            DomainVerification {
                domain: "acme.example".into(),
                challenge: "latchkey-verify=acme".into(),
                state: DomainState::Verified { at: T0 },
                started_at: T0,
                checked_at: Some(T0.plus(60)),
                last_failure: None,
            },
            DomainVerification {
                domain: "acme.test".into(),
                challenge: "latchkey-verify=acme-test".into(),
                state: DomainState::Pending { expires_at: LATER },
                started_at: T0,
                checked_at: None,
                last_failure: Some(latchkey::model::DomainCheckFailure {
                    at: T0.plus(30),
                    reason: "DNS TXT: no record".into(),
                    definitive: true,
                }),
            },
        ],
        lifetimes: ClientLifetimes {
            access_token: Some(900),
            refresh_token: Some(86_400),
            authorization_code: Some(120),
        },
        registration: None,
        metadata_document: None,
        created_at: T0,
        updated_at: T0,
        revision: 0,
    }
}

/// A client that registered itself (RFC 7591).
fn registered() -> ClientRecord {
    ClientRecord {
        created_by: None,
        access_token_format: None,
        id: "dyn-1".into(),
        owner: "dyn-1".into(),
        name: "Agent".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: scopes("profile:read"),
        resources: vec![],
        served_resources: vec![],
        auth_method: AuthMethod::None,
        secret: None,
        visibility: Visibility::Unvetted,
        domains: vec![],
        lifetimes: ClientLifetimes::default(),
        registration: Some(DynamicRegistration {
            access_token: h(12),
            used: true,
            client_uri: Some("https://agent.example/".into()),
            logo_uri: Some("https://agent.example/logo.png".into()),
            tos_uri: Some("https://agent.example/tos".into()),
            policy_uri: Some("https://agent.example/privacy".into()),
            contacts: vec!["ops@agent.example".into()],
            software_id: Some("agent".into()),
            software_version: Some("1.2.3".into()),
        }),
        metadata_document: None,
        created_at: T0,
        updated_at: T0,
        revision: 0,
    }
}

/// A client described by its metadata document.
fn documented() -> ClientRecord {
    ClientRecord {
        created_by: None,
        access_token_format: None,
        id: "https://tool.example/client.json".into(),
        owner: "https://tool.example/client.json".into(),
        name: "Tool".into(),
        redirect_uris: vec!["https://tool.example/cb".into()],
        metadata_document: Some(MetadataDocument {
            fetched_at: T0,
            stale_at: LATER,
        }),
        registration: None,
        ..registered()
    }
}

fn code(n: u8, grant_id: &str) -> CodeRecord {
    CodeRecord {
        hash: h(n),
        client_id: "acme".into(),
        grant_id: grant_id.into(),
        subject: "alice".into(),
        redirect_uri: "https://app.acme.example/cb".into(),
        redirect_uri_explicit: true,
        scopes: scopes("profile:read"),
        resources: vec!["https://api.acme.example/".into()],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        issued_at: T0,
        expires_at: LATER,
        failed_attempts: 0,
        status: CodeStatus::Unused,
    }
}

fn access(n: u8, client: &str, family: Option<&str>, subject: &str) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: h(n),
        family_id: family.map(Into::into),
        client_id: client.into(),
        subject: subject.into(),
        scopes: scopes("profile:read"),
        resources: vec!["https://api.acme.example/".into()],
        issued_at: T0,
        expires_at: LATER,
        revoked_at: None,
    }
}

fn family() -> FamilyRecord {
    FamilyRecord {
        id: "f1".into(),
        grant_id: "g1".into(),
        client_id: "acme".into(),
        subject: "alice".into(),
        scopes: scopes("profile:read"),
        resources: vec!["https://api.acme.example/".into()],
        generation: 0,
        current: RefreshGeneration {
            hash: h(2),
            issued_at: T0,
            expires_at: LATER,
        },
        previous: None,
        created_at: T0,
        expires_at: LATER,
        revoked: None,
    }
}

fn rotation() -> Rotation {
    Rotation {
        current: RefreshGeneration {
            hash: h(6),
            issued_at: T0.plus(10),
            expires_at: LATER,
        },
        previous: PreviousGeneration {
            hash: h(2),
            rotated_at: T0.plus(10),
            sealed_successor: vec![7; 48],
        },
        access: access(7, "acme", Some("f1"), "alice"),
        expires_at: LATER,
        now: T0.plus(10),
    }
}

/// The family after one rotation, as the store must keep it.
fn rotated_family() -> FamilyRecord {
    let r = rotation();
    FamilyRecord {
        generation: 1,
        current: r.current,
        previous: Some(r.previous),
        expires_at: r.expires_at,
        ..family()
    }
}

/// The grant both approvals landed in.
fn grant() -> GrantRecord {
    GrantRecord {
        id: "g1".into(),
        subject: "alice".into(),
        client_id: "acme".into(),
        scopes: scopes("profile:read"),
        resources: vec!["https://api.acme.example/".into()],
        remembered_scopes: Some(scopes("profile:read")),
        created_at: T0,
        last_used_at: T0.plus(10),
        revision: 2,
    }
}

fn challenge() -> ChallengeRecord {
    ChallengeRecord {
        hash: h(20),
        binding: h(21),
        request: PendingAuthorization {
            client_id: "acme".into(),
            redirect_uri: "https://app.acme.example/cb".into(),
            redirect_uri_explicit: false,
            state: Some("xyz".into()),
            scopes: scopes("profile:read"),
            resources: vec![],
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            device: None,
        },
        created_at: T0,
        expires_at: LATER,
    }
}

fn sessions() -> [SessionRecord; 2] {
    [
        SessionRecord {
            key: SessionKey([30; 32]),
            user: Some("alice".into()),
            csrf: CsrfToken::new("csrf-alice"),
            binding: "binding-alice".into(),
            flash: Some("Signed in".into()),
            created_at: T0,
            last_seen: T0.plus(5),
        },
        SessionRecord {
            key: SessionKey([31; 32]),
            user: None,
            csrf: CsrfToken::new("csrf-anon"),
            binding: "binding-anon".into(),
            flash: None,
            created_at: T0,
            last_seen: T0,
        },
    ]
}

fn device(n: u8) -> DeviceRecord {
    DeviceRecord {
        hash: h(n),
        user_code: h(n + 1),
        client_id: "acme".into(),
        scopes: scopes("profile:read"),
        resources: vec![],
        created_at: T0,
        expires_at: LATER,
        interval: 5,
        last_poll: None,
        status: DeviceStatus::Pending,
    }
}

/// A device that polled once, and one the user denied.
fn devices() -> [DeviceRecord; 2] {
    [
        DeviceRecord {
            last_poll: Some(T0.plus(1)),
            ..device(40)
        },
        DeviceRecord {
            status: DeviceStatus::Denied,
            ..device(42)
        },
    ]
}

fn signing_keys() -> Vec<SigningKeyRecord> {
    vec![
        SigningKeyRecord {
            kid: "k-active".into(),
            algorithm: SigningAlgorithm::EdDsa,
            public_key: vec![1; 32],
            sealed_private: vec![2; 60],
            sealed_with: 1,
            created_at: T0,
            activates_at: T0,
            state: SigningKeyState::Active,
            state_since: T0,
        },
        SigningKeyRecord {
            kid: "k-pending".into(),
            algorithm: SigningAlgorithm::Es256,
            public_key: vec![4; 65],
            sealed_private: vec![5; 90],
            sealed_with: 1,
            created_at: T0.plus(1),
            activates_at: T0.plus(3_600),
            state: SigningKeyState::Pending,
            state_since: T0.plus(1),
        },
    ]
}

fn client_created(id: &str) -> NewEvent {
    NewEvent {
        at: T0,
        audit: latchkey::audit::Audit::system(),
        kind: EventKind::ClientCreated {
            client_id: id.into(),
        },
    }
}

/// Every event in the outbox, in order (the store numbers them 1..).
fn events() -> Vec<(Timestamp, EventKind)> {
    let consent = EventKind::ConsentGiven {
        grant_id: "g1".into(),
        subject: "alice".into(),
        client_id: "acme".into(),
        scopes: scopes("profile:read"),
    };
    vec![
        (T0, client_created("acme").kind),
        (T0, client_created("dyn-1").kind),
        (T0, client_created("https://tool.example/client.json").kind),
        (
            T0,
            EventKind::GrantCreated {
                grant_id: "g1".into(),
                subject: "alice".into(),
                client_id: "acme".into(),
            },
        ),
        (T0, consent.clone()),
        (T0, consent.clone()),
        (T0, consent),
        (
            T0.plus(20),
            EventKind::FamilyRevoked {
                family_id: "f2".into(),
                grant_id: "g1".into(),
                client_id: "acme".into(),
                reason: RevocationReason::Requested,
            },
        ),
    ]
}

/// Writes one record of every kind through the current code.
async fn write_every_record(store: &RedbStore) {
    for c in [acme(), registered(), documented()] {
        store
            .insert_client(&c, &[client_created(&c.id)])
            .await
            .expect("client");
    }
    store
        .insert_challenge(&challenge())
        .await
        .expect("challenge");
    // Three approvals into one grant: code 1 is redeemed and its family
    // rotated once, code 3 stays unused, code 50 starts a second family
    // that is then revoked.
    for (n, remember) in [(1, true), (3, false)] {
        let out = store
            .approve(&Approval {
                challenge: None,
                code: code(n, "ignored"),
                remember,
                new_grant_id: "g1".into(),
                audit: latchkey::audit::Audit::system(),
            })
            .await
            .expect("approve");
        assert_eq!(
            out,
            ApproveOutcome::Approved {
                grant_id: "g1".into()
            }
        );
    }
    let issuance = Issuance {
        family: family(),
        access: access(3, "acme", Some("f1"), "alice"),
        events: vec![],
    };
    assert_eq!(
        store
            .redeem_code(&h(1), T0, &issuance)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    assert_eq!(
        store
            .rotate_family("f1", 0, &rotation())
            .await
            .expect("rotate"),
        RotateOutcome::Rotated
    );
    let code5 = code(5, "ignored");
    store
        .approve(&Approval {
            challenge: None,
            code: CodeRecord {
                hash: h(50),
                ..code5
            },
            remember: false,
            audit: latchkey::audit::Audit::system(),
            new_grant_id: "g1".into(),
        })
        .await
        .expect("approve");
    let f2 = FamilyRecord {
        id: "f2".into(),
        current: RefreshGeneration {
            hash: h(52),
            issued_at: T0,
            expires_at: LATER,
        },
        ..family()
    };
    let issuance = Issuance {
        family: f2,
        access: access(53, "acme", Some("f2"), "alice"),
        events: vec![],
    };
    assert_eq!(
        store
            .redeem_code(&h(50), T0, &issuance)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    assert!(store
        .revoke_family("f2", revoked(), &[family_revoked()])
        .await
        .expect("revoke"));
    // Stand-alone (client_credentials) tokens: one live, one revoked.
    store
        .insert_access_token(&access(4, "acme", None, "acme"))
        .await
        .expect("token");
    store
        .insert_access_token(&access(8, "acme", None, "acme"))
        .await
        .expect("token");
    assert!(store
        .revoke_access_token(&h(8), T0.plus(30), &[])
        .await
        .expect("revoke token"));
    for s in sessions() {
        store.insert_browser_session(&s).await.expect("session");
    }
    for d in [device(40), device(42)] {
        store.insert_device(&d).await.expect("device");
    }
    assert!(matches!(
        store.poll_device(&h(40), "acme", T0.plus(1)).await,
        Ok(DevicePoll::Polled(_))
    ));
    assert!(store.deny_device(&h(42)).await.expect("deny"));
    for k in signing_keys() {
        store.insert_signing_key(&k).await.expect("signing key");
    }
    // A consumer that has read and acknowledged the first three events.
    assert_eq!(store.poll_events(CONSUMER, 3).await.expect("poll").len(), 3);
    store.ack_events(CONSUMER, 3).await.expect("ack");
}

fn revoked() -> Revocation {
    Revocation {
        at: T0.plus(20),
        reason: RevocationReason::Requested,
    }
}

fn family_revoked() -> NewEvent {
    NewEvent {
        at: T0.plus(20),
        kind: events().pop().expect("events").1,
        audit: latchkey::audit::Audit::system(),
    }
}

/// Reads every record [`write_every_record`] wrote and compares it with
/// what was written (as the store keeps it). `audited`: whether the events
/// carry their audit fields (the version-5 fixture was written before
/// events kept them).
async fn check_every_record(store: &RedbStore, audited: bool) {
    for c in [acme(), registered(), documented()] {
        assert_eq!(store.get_client(&c.id).await.expect("client"), Some(c));
    }
    assert_eq!(
        store.list_clients("acme-corp").await.expect("list"),
        vec![acme()]
    );
    assert_eq!(
        store.get_challenge(&h(20)).await.expect("challenge"),
        Some(challenge())
    );

    assert_eq!(
        store.get_grant("alice", "acme").await.expect("grant"),
        Some(grant())
    );
    assert_eq!(
        store.list_grants("alice").await.expect("grants").len(),
        1,
        "one grant per (subject, client)"
    );
    assert_eq!(
        store.get_code(&h(1)).await.expect("code"),
        Some(CodeRecord {
            grant_id: "g1".into(),
            status: CodeStatus::Redeemed {
                family_id: "f1".into()
            },
            ..code(1, "g1")
        })
    );
    assert_eq!(
        store.get_code(&h(3)).await.expect("code"),
        Some(code(3, "g1"))
    );

    assert_eq!(
        store.get_family("f1").await.expect("family"),
        Some(rotated_family())
    );
    for (hash, generation) in [(h(2), 0), (h(6), 1)] {
        assert_eq!(
            store.find_refresh_token(&hash).await.expect("refresh"),
            Some((rotated_family(), generation))
        );
    }
    let f2 = store.get_family("f2").await.expect("family").expect("f2");
    assert_eq!(f2.revoked, Some(revoked()));

    let view = |token, family_revoked| {
        Some(AccessTokenView {
            token,
            family_revoked,
        })
    };
    let find = |n: u8| {
        let store = store.clone();
        async move { store.find_access_token(&h(n)).await.expect("access") }
    };
    assert_eq!(
        find(3).await,
        view(access(3, "acme", Some("f1"), "alice"), false)
    );
    assert_eq!(
        find(7).await,
        view(access(7, "acme", Some("f1"), "alice"), false)
    );
    assert_eq!(
        find(53).await,
        view(access(53, "acme", Some("f2"), "alice"), true)
    );
    assert_eq!(find(4).await, view(access(4, "acme", None, "acme"), false));
    assert_eq!(
        find(8).await,
        view(
            AccessTokenRecord {
                revoked_at: Some(T0.plus(30)),
                ..access(8, "acme", None, "acme")
            },
            false
        )
    );

    // Every event, in order, to a new consumer; the rest to the one that
    // acknowledged the first three.
    let all = store.poll_events("fresh", 100).await.expect("poll");
    assert!(
        all.iter().all(|e| e.audit.is_some() == audited),
        "audit fields kept: {audited}"
    );
    let got: Vec<(u64, Timestamp, EventKind)> =
        all.into_iter().map(|e| (e.seq, e.at, e.kind)).collect();
    let want: Vec<(u64, Timestamp, EventKind)> = events()
        .into_iter()
        .zip(1..)
        .map(|((at, kind), seq)| (seq, at, kind))
        .collect();
    assert_eq!(got, want);
    let rest = store.poll_events(CONSUMER, 100).await.expect("poll");
    assert_eq!(rest.first().map(|e| e.seq), Some(4), "cursor kept");

    for s in sessions() {
        assert_eq!(
            store.get_browser_session(&s.key).await.expect("session"),
            Some(s)
        );
    }
    for d in devices() {
        assert_eq!(
            store
                .find_device_by_user_code(&d.user_code)
                .await
                .expect("device"),
            Some(d)
        );
    }
    assert_eq!(
        store.list_signing_keys().await.expect("keys"),
        signing_keys()
    );
}

fn stored_version(path: &Path) -> Option<u64> {
    use redb::ReadableDatabase as _;
    let meta: redb::TableDefinition<&str, u64> =
        redb::TableDefinition::new(latchkey_redb::table_names().1);
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(meta).expect("meta table");
    let v = table.get("schema_version").expect("get").map(|v| v.value());
    v
}

/// The committed version-5 file opens with the current code (upgraded in
/// place if the schema has moved on) and every record reads back as it
/// was written.
#[tokio::test]
async fn version_5_file_keeps_every_record() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("v5.redb");
    std::fs::copy(FIXTURE, &path).expect("copy fixture");
    assert_eq!(stored_version(&path), Some(5), "the fixture is a v5 file");
    let store = RedbStore::open(&path).expect("open");
    check_every_record(&store, false).await;
    drop(store);
    assert_eq!(stored_version(&path), Some(SCHEMA_VERSION));
    // And again after a reopen: an upgrade, if any, was written for good.
    let store = RedbStore::open(&path).expect("reopen");
    check_every_record(&store, false).await;
}

/// Writes `tests/fixtures/schema-v5.redb` with the current code:
/// `FIXTURE_OUT=$PWD/storage-redb/tests/fixtures/schema-v5.redb cargo test
/// -p latchkey-redb --test schema_v5 -- --ignored make_schema_v5_fixture`.
/// Refuses once the schema is past 5: the file must stay what version 5
/// wrote.
#[tokio::test]
#[ignore = "writes the committed fixture; run by hand (see tests/fixtures/README.md)"]
async fn make_schema_v5_fixture() {
    let Some(out) = std::env::var_os("FIXTURE_OUT") else {
        panic!("set FIXTURE_OUT to the file to write");
    };
    assert_eq!(
        SCHEMA_VERSION, 5,
        "this code writes schema {SCHEMA_VERSION}: the v5 fixture must stay as version 5 wrote it"
    );
    let _ = std::fs::remove_file(&out);
    {
        let store = RedbStore::open(&out).expect("create");
        write_every_record(&store).await;
        check_every_record(&store, false).await;
    }
    let mut db = redb::Database::open(&out).expect("raw open");
    while db.compact().expect("compact") {}
    drop(db);
    assert_eq!(stored_version(Path::new(&out)), Some(5));
    println!(
        "wrote {} at SCHEMA_VERSION {SCHEMA_VERSION}",
        Path::new(&out).display()
    );
}

/// The first byte of every value of the byte-valued table `name` (keys of
/// type `K`): `{` for JSON, 1 for the compact layout.
fn first_bytes<K: redb::Key + 'static>(path: &Path, name: &str) -> Vec<(Vec<u8>, usize)> {
    use redb::{ReadableDatabase as _, ReadableTable as _};
    let def: redb::TableDefinition<K, &[u8]> = redb::TableDefinition::new(name);
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(def).expect("table");
    let out = table
        .iter()
        .expect("iter")
        .map(|e| {
            let (_, v) = e.expect("entry");
            (v.value()[..1].to_vec(), v.value().len())
        })
        .collect();
    out
}

/// What the records of each table of a file are encoded as: (table, first
/// byte of each value).
fn encodings(path: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let firsts = |v: Vec<(Vec<u8>, usize)>| v.into_iter().map(|(b, _)| b[0]).collect();
    vec![
        (
            "v1/codes",
            firsts(first_bytes::<&[u8; 32]>(path, "v1/codes")),
        ),
        (
            "v1/challenges",
            firsts(first_bytes::<&[u8; 32]>(path, "v1/challenges")),
        ),
        ("v1/grants", firsts(first_bytes::<&str>(path, "v1/grants"))),
        (
            "v1/families",
            firsts(first_bytes::<&str>(path, "v1/families")),
        ),
        (
            "v1/access_tokens",
            firsts(first_bytes::<&[u8; 32]>(path, "v1/access_tokens")),
        ),
        ("v1/events", firsts(first_bytes::<u64>(path, "v1/events"))),
        (
            "v1/clients",
            firsts(first_bytes::<&str>(path, "v1/clients")),
        ),
        (
            "v4/devices",
            firsts(first_bytes::<&[u8; 32]>(path, "v4/devices")),
        ),
        (
            "v5/signing_keys",
            firsts(first_bytes::<&str>(path, "v5/signing_keys")),
        ),
        (
            "v3/browser_sessions",
            firsts(first_bytes::<&[u8; 32]>(path, "v3/browser_sessions")),
        ),
    ]
}

/// Tables whose records this version writes in the compact layout.
const COMPACT_TABLES: [&str; 6] = [
    "v1/codes",
    "v1/challenges",
    "v1/grants",
    "v1/families",
    "v1/access_tokens",
    "v1/events",
];

/// Every record of every kind, with every optional part the fixture gives
/// it, written by the current code into a fresh file: the per-token
/// records are stored compact, the rest as JSON, and each reads back
/// exactly as written.
#[tokio::test]
async fn every_record_round_trips_in_the_current_encoding() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fresh.redb");
    {
        let store = RedbStore::open(&path).expect("create");
        write_every_record(&store).await;
        check_every_record(&store, true).await;
    }
    for (table, firsts) in encodings(&path) {
        assert!(!firsts.is_empty(), "{table} holds records");
        let expected = if COMPACT_TABLES.contains(&table) {
            1
        } else {
            b'{'
        };
        assert!(
            firsts.iter().all(|&b| b == expected),
            "{table}: {firsts:?}, expected every value to start with {expected}"
        );
    }
    let store = RedbStore::open(&path).expect("reopen");
    check_every_record(&store, true).await;
}

/// The upgrade from version 5 rewrites nothing: its JSON records stay as
/// they are and read as before; a record that changes is written back
/// compact, smaller, and reads back with the change.
#[tokio::test]
async fn version_5_records_are_written_back_compact_when_they_change() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("v5.redb");
    std::fs::copy(FIXTURE, &path).expect("copy fixture");
    let json_family = first_bytes::<&str>(&path, "v1/families");
    assert!(
        json_family.iter().all(|(b, _)| b[0] == b'{'),
        "version 5 wrote JSON"
    );
    {
        let store = RedbStore::open(&path).expect("open upgrades");
        check_every_record(&store, false).await;
    }
    for (table, firsts) in encodings(&path) {
        assert!(
            firsts.iter().all(|&b| b == b'{'),
            "{table} was rewritten by the upgrade: {firsts:?}"
        );
    }
    {
        let store = RedbStore::open(&path).expect("reopen");
        assert!(store
            .revoke_family("f1", revoked(), &[family_revoked()])
            .await
            .expect("revoke"));
        let f1 = store.get_family("f1").await.expect("family").expect("f1");
        assert_eq!(
            f1,
            FamilyRecord {
                revoked: Some(revoked()),
                ..rotated_family()
            }
        );
    }
    let families = first_bytes::<&str>(&path, "v1/families");
    // Family ids sort f1, f2: f1 was rewritten, f2 was not.
    assert_eq!(families[0].0, vec![1], "f1 is compact now");
    assert_eq!(families[1].0, vec![b'{'], "f2 did not change");
    let (json, compact) = (json_family[0].1, families[0].1);
    assert!(
        compact * 100 <= json * 40,
        "the rotated family takes {compact} bytes compact against {json} as JSON"
    );
    let events = first_bytes::<u64>(&path, "v1/events");
    assert_eq!(
        events.last().expect("event").0,
        vec![1],
        "the new event is compact"
    );
    assert!(events[..events.len() - 1].iter().all(|(b, _)| b[0] == b'{'));
}
