//! The storage conformance suite: one set of contract checks that every
//! backend runs (enable feature `conformance`).
//!
//! Each case is a public `async fn` taking a fresh, empty store. Backends
//! stamp them out as tests with [`crate::conformance_tests!`]:
//!
//! ```ignore
//! latchkey::conformance_tests!(|| async { std::sync::Arc::new(MyStore::open_temp()) });
//! ```
//!
//! The factory must return an empty store for every case (a new file, a new
//! database or schema). Cases spawn tasks onto a multi-threaded runtime, so
//! they also prove the store's futures are `Send`.

// `&[event.clone()]` reads better than `from_ref` in a contract suite.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod device;
mod engine;
mod signing_keys;

use std::sync::Arc;

pub use device::{
    device_approval_is_redeemed_once, device_challenge_round_trips,
    device_concurrent_polls_slow_down, device_deny_is_once, device_insert_is_unique_by_both_codes,
    device_poll_records_and_slows_down, device_purge_removes_only_expired,
};
pub use engine::{
    engine_concurrent_authorizations_all_succeed, engine_strict_refresh_has_one_winner,
};
pub use signing_keys::{
    signing_key_insert_races_have_one_winner, signing_key_promotion_is_compare_and_swap,
    signing_key_promotion_races_have_one_winner, signing_key_retire_erases_private_half,
    signing_keys_insert_list_and_slots,
};

use crate::audit::{Actor, Audit, Source};
use crate::clock::Timestamp;
use crate::entropy::{Entropy, SystemEntropy};
use crate::model::{
    AccessTokenRecord, AuthMethod, ChallengeRecord, ClientLifetimes, ClientRecord, CodeRecord,
    CodeStatus, EventKind, FamilyRecord, GrantRecord, GrantType, NewEvent, PendingAuthorization,
    PreviousGeneration, RefreshGeneration, Revocation, RevocationReason, Visibility,
};
use crate::scope::ScopeSet;
use crate::storage::{
    Approval, ApproveOutcome, CodeFailure, Issuance, RedeemOutcome, RotateOutcome, Rotation,
    Storage, StorageError,
};
use crate::token::TokenHash;
use crate::web::{
    CsrfToken, SessionConfig, SessionKey, SessionRecord, Sessions, StorageSessionStore,
};

/// Every case name, for [`crate::conformance_tests!`].
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            clients_insert_get_update_list,
            clients_scan_all_in_pages,
            client_delete_cascades,
            challenge_is_taken_once,
            challenge_take_races_have_one_winner,
            approve_merges_into_one_grant,
            approve_takes_challenge_in_the_same_step,
            approve_refuses_a_deleted_client,
            concurrent_approvals_all_land,
            engine_concurrent_authorizations_all_succeed,
            engine_strict_refresh_has_one_winner,
            code_is_single_use,
            code_redeem_races_have_one_winner,
            code_failures_burn_the_code,
            code_of_revoked_grant_is_invalid,
            rotate_is_compare_and_swap,
            rotate_races_have_one_winner,
            revoke_racing_rotate_leaves_nothing_alive,
            revocation_is_sticky_and_evented_once,
            access_tokens_reflect_revocation,
            grant_revocation_cascades,
            subject_revocation_cascades,
            events_are_ordered_and_redelivered_until_acked,
            events_carry_their_audit,
            purge_removes_only_expired_in_batches,
            browser_sessions_insert_get_remove,
            browser_session_replace_is_atomic,
            browser_session_touch_moves_forward_only,
            browser_session_flash_is_taken_once,
            browser_session_flash_races_have_one_winner,
            browser_session_purge_removes_only_expired_in_batches,
            browser_sessions_are_shared_between_instances,
            device_insert_is_unique_by_both_codes,
            device_poll_records_and_slows_down,
            device_concurrent_polls_slow_down,
            device_deny_is_once,
            device_approval_is_redeemed_once,
            device_challenge_round_trips,
            device_purge_removes_only_expired,
            signing_keys_insert_list_and_slots,
            signing_key_promotion_is_compare_and_swap,
            signing_key_promotion_races_have_one_winner,
            signing_key_insert_races_have_one_winner,
            signing_key_retire_erases_private_half
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let make = $make;
                let store = make().await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

pub(crate) const T0: Timestamp = Timestamp(1_700_000_000);

pub(crate) fn hash() -> TokenHash {
    let mut b = [0u8; 32];
    SystemEntropy::new().fill(&mut b).expect("entropy");
    TokenHash(b)
}

pub(crate) fn id(prefix: &str) -> String {
    format!("{prefix}_{}", &hash().to_hex()[..16])
}

pub(crate) fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).expect("valid scopes")
}

fn ev(kind: EventKind) -> NewEvent {
    NewEvent {
        at: T0,
        kind,
        audit: Audit::system(),
    }
}

/// `e` caused by `audit`.
fn ev_by(kind: EventKind, audit: &Audit) -> NewEvent {
    NewEvent {
        audit: audit.clone(),
        ..ev(kind)
    }
}

fn revocation(reason: RevocationReason) -> Revocation {
    Revocation { at: T0, reason }
}

/// Every client, whatever its owner, is visited once by a paged scan in
/// byte-wise id order (the store may hold other tests' clients too).
pub async fn clients_scan_all_in_pages<S: Storage + ?Sized>(store: Arc<S>) {
    let prefix = id("scan");
    // Upper and lower case, and digits: byte order, not a collation.
    let mut ids: Vec<String> = ["B", "a", "0", "Z", "b"]
        .iter()
        .map(|s| format!("{prefix}_{s}"))
        .collect();
    for (n, cid) in ids.iter().enumerate() {
        let mut c = sample_client(&format!("owner-{n}"));
        c.id.clone_from(cid);
        store.insert_client(&c, &[]).await.expect("insert");
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_all_clients(after.as_deref(), 2)
            .await
            .expect("scan");
        assert!(page.len() <= 2, "a page holds at most the limit");
        let Some(last) = page.last() else { break };
        if let Some(a) = &after {
            assert!(page.iter().all(|c| c.id.as_str() > a.as_str()));
        }
        after = Some(last.id.clone());
        seen.extend(
            page.into_iter()
                .map(|c| c.id)
                .filter(|i| i.starts_with(&prefix)),
        );
    }
    assert_eq!(seen, ids);
    assert!(store
        .list_all_clients(Some(&ids[4]), 10)
        .await
        .expect("scan")
        .iter()
        .all(|c| !c.id.starts_with(&prefix)));
}

/// A confidential client owned by `owner`.
#[must_use]
pub fn sample_client(owner: &str) -> ClientRecord {
    ClientRecord {
        id: id("client"),
        owner: owner.to_owned(),
        created_by: Some(Actor::User {
            subject: "dev@acme".to_owned(),
        }),
        name: "Sample App".to_owned(),
        redirect_uris: vec!["https://app.example/cb".to_owned()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: scopes("profile:read dns:read"),
        resources: vec!["https://api.example/".to_owned()],
        served_resources: vec![],
        auth_method: AuthMethod::ClientSecretBasic,
        secret: None,
        visibility: Visibility::Private,
        domains: vec![],
        lifetimes: ClientLifetimes::default(),
        access_token_format: None,
        registration: None,
        metadata_document: None,
        created_at: T0,
        updated_at: T0,
        revision: 0,
    }
}

pub(crate) fn sample_grant(subject: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        id: id("grant"),
        subject: subject.to_owned(),
        client_id: client_id.to_owned(),
        scopes: scopes("profile:read"),
        resources: vec![],
        remembered_scopes: None,
        created_at: T0,
        last_used_at: T0,
        revision: 0,
    }
}

pub(crate) fn sample_code(grant: &GrantRecord, expires_at: Timestamp) -> CodeRecord {
    CodeRecord {
        hash: hash(),
        client_id: grant.client_id.clone(),
        grant_id: grant.id.clone(),
        subject: grant.subject.clone(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_explicit: true,
        scopes: grant.scopes.clone(),
        resources: vec![],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        issued_at: T0,
        expires_at,
        failed_attempts: 0,
        status: CodeStatus::Unused,
    }
}

fn access_for(
    family: Option<&FamilyRecord>,
    client_id: &str,
    expires_at: Timestamp,
) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: hash(),
        family_id: family.map(|f| f.id.clone()),
        client_id: client_id.to_owned(),
        subject: family.map_or_else(|| client_id.to_owned(), |f| f.subject.clone()),
        scopes: scopes("profile:read"),
        resources: vec![],
        issued_at: T0,
        expires_at,
        revoked_at: None,
    }
}

pub(crate) fn issuance_for(code: &CodeRecord, family_expires: Timestamp) -> Issuance {
    let family = FamilyRecord {
        id: id("fam"),
        grant_id: code.grant_id.clone(),
        client_id: code.client_id.clone(),
        subject: code.subject.clone(),
        scopes: code.scopes.clone(),
        resources: vec![],
        generation: 0,
        current: RefreshGeneration {
            hash: hash(),
            issued_at: T0,
            expires_at: family_expires,
        },
        previous: None,
        created_at: T0,
        expires_at: family_expires,
        revoked: None,
    };
    let access = access_for(Some(&family), &code.client_id, T0.plus(300));
    Issuance {
        events: vec![ev(EventKind::FamilyRevoked {
            // Any event will do: the suite checks it is appended atomically.
            family_id: family.id.clone(),
            grant_id: family.grant_id.clone(),
            client_id: family.client_id.clone(),
            reason: RevocationReason::Requested,
        })],
        family,
        access,
    }
}

fn rotation_for(family: &FamilyRecord, tag: u8) -> Rotation {
    Rotation {
        current: RefreshGeneration {
            hash: hash(),
            issued_at: T0.plus(10),
            expires_at: T0.plus(86_400),
        },
        previous: PreviousGeneration {
            hash: family.current.hash,
            rotated_at: T0.plus(10),
            sealed_successor: vec![tag; 16],
        },
        access: access_for(Some(family), &family.client_id, T0.plus(310)),
        expires_at: T0.plus(86_400),
        now: T0.plus(10),
    }
}

/// An approval of `code` (into the existing grant of its pair, if any),
/// with a fresh candidate id as the engine draws one.
pub(crate) fn approval(code: &CodeRecord) -> Approval {
    Approval {
        challenge: None,
        code: code.clone(),
        remember: false,
        new_grant_id: id("grant"),
        audit: Audit::system(),
    }
}

/// Approves `code` into a grant that does not exist yet, which then equals
/// `grant` (see [`sample_grant`] and [`sample_code`]).
async fn approve_new<S: Storage + ?Sized>(store: &S, grant: &GrantRecord, code: &CodeRecord) {
    let mut a = approval(code);
    a.new_grant_id.clone_from(&grant.id);
    let out = store.approve(&a).await.expect("approve");
    assert_eq!(
        out,
        ApproveOutcome::Approved {
            grant_id: grant.id.clone()
        }
    );
}

/// A grant with a redeemed code: the starting point of token cases.
async fn issued_family<S: Storage + ?Sized>(store: &S, subject: &str) -> (GrantRecord, Issuance) {
    let client = sample_client("acme");
    store
        .insert_client(&client, &[])
        .await
        .expect("insert client");
    let grant = sample_grant(subject, &client.id);
    let code = sample_code(&grant, T0.plus(600));
    approve_new(store, &grant, &code).await;
    let issuance = issuance_for(&code, T0.plus(86_400));
    let out = store
        .redeem_code(&code.hash, T0, &issuance)
        .await
        .expect("redeem");
    assert_eq!(out, RedeemOutcome::Issued);
    (grant, issuance)
}

async fn all_events<S: Storage + ?Sized>(store: &S, consumer: &str) -> Vec<EventKind> {
    store
        .poll_events(consumer, 10_000)
        .await
        .expect("poll")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Insert, read back, compare-and-swap update, list by owner.
pub async fn clients_insert_get_update_list<S: Storage + ?Sized>(store: Arc<S>) {
    let c = sample_client("acme");
    let created = ev(EventKind::ClientCreated {
        client_id: c.id.clone(),
    });
    store
        .insert_client(&c, &[created.clone()])
        .await
        .expect("insert");
    assert!(matches!(
        store.insert_client(&c, &[created]).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(store.get_client(&c.id).await.expect("get"), Some(c.clone()));
    assert_eq!(store.get_client("nope").await.expect("get"), None);

    let mut updated = c.clone();
    updated.name = "Renamed".into();
    updated.revision = 1;
    let upd = ev(EventKind::ClientUpdated {
        client_id: c.id.clone(),
    });
    store
        .update_client(&updated, 0, &[upd.clone()])
        .await
        .expect("update");
    // The same expected revision again is a lost update and must be refused.
    assert!(matches!(
        store.update_client(&updated, 0, &[upd.clone()]).await,
        Err(StorageError::Conflict)
    ));
    let mut ghost = sample_client("acme");
    ghost.revision = 1;
    assert!(matches!(
        store.update_client(&ghost, 0, &[upd]).await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(
        store
            .get_client(&c.id)
            .await
            .expect("get")
            .expect("some")
            .name,
        "Renamed"
    );

    let other = sample_client("globex");
    store.insert_client(&other, &[]).await.expect("insert");
    let listed = store.list_clients("acme").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, c.id);
    assert_eq!(
        all_events(&*store, "t").await,
        vec![
            EventKind::ClientCreated {
                client_id: c.id.clone()
            },
            EventKind::ClientUpdated {
                client_id: c.id.clone()
            },
        ],
        "failed operations must not append their events"
    );
}

/// Deleting a client deletes its grants and revokes its families and its
/// stand-alone (`client_credentials`) access tokens, and only its.
pub async fn client_delete_cascades<S: Storage + ?Sized>(store: Arc<S>) {
    let (grant, iss) = issued_family(&*store, "alice").await;
    let own = access_for(None, &grant.client_id, T0.plus(300));
    store.insert_access_token(&own).await.expect("insert");
    let bystander = sample_client("globex");
    store.insert_client(&bystander, &[]).await.expect("insert");
    let theirs = access_for(None, &bystander.id, T0.plus(300));
    store.insert_access_token(&theirs).await.expect("insert");
    let del = ev(EventKind::ClientDeleted {
        client_id: grant.client_id.clone(),
    });
    let r = revocation(RevocationReason::ClientDeleted);
    assert!(store
        .delete_client(&grant.client_id, r, &[del.clone()])
        .await
        .expect("delete"));
    assert!(!store
        .delete_client(&grant.client_id, r, &[del])
        .await
        .expect("delete again"));
    assert_eq!(store.get_client(&grant.client_id).await.expect("get"), None);
    assert_eq!(store.get_grant_by_id(&grant.id).await.expect("grant"), None);
    let fam = store
        .get_family(&iss.family.id)
        .await
        .expect("fam")
        .expect("kept until expiry");
    assert_eq!(
        fam.revoked.map(|r| r.reason),
        Some(RevocationReason::ClientDeleted)
    );
    let at = store
        .find_access_token(&iss.access.hash)
        .await
        .expect("at")
        .expect("some");
    assert!(at.family_revoked);
    let own = store
        .find_access_token(&own.hash)
        .await
        .expect("at")
        .expect("kept until expiry");
    assert_eq!(own.token.revoked_at, Some(r.at));
    let theirs = store
        .find_access_token(&theirs.hash)
        .await
        .expect("at")
        .expect("some");
    assert_eq!(theirs.token.revoked_at, None, "another client's token");
    let kinds = all_events(&*store, "t").await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| matches!(k, EventKind::ClientDeleted { .. }))
            .count(),
        1
    );
}

pub(crate) fn sample_challenge(expires_at: Timestamp) -> ChallengeRecord {
    ChallengeRecord {
        hash: hash(),
        binding: hash(),
        request: PendingAuthorization {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_explicit: true,
            state: Some("xyz".into()),
            scopes: scopes("profile:read"),
            resources: vec!["https://api.example/".into()],
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            device: None,
        },
        created_at: T0,
        expires_at,
    }
}

/// A challenge can be read many times but taken once, and not after expiry.
pub async fn challenge_is_taken_once<S: Storage + ?Sized>(store: Arc<S>) {
    let c = sample_challenge(T0.plus(600));
    store.insert_challenge(&c).await.expect("insert");
    assert_eq!(
        store.get_challenge(&c.hash).await.expect("get"),
        Some(c.clone())
    );
    assert_eq!(
        store.take_challenge(&c.hash, T0).await.expect("take"),
        Some(c.clone())
    );
    assert_eq!(store.take_challenge(&c.hash, T0).await.expect("take"), None);
    assert_eq!(store.get_challenge(&c.hash).await.expect("get"), None);

    let old = sample_challenge(T0.plus(10));
    store.insert_challenge(&old).await.expect("insert");
    assert_eq!(
        store
            .take_challenge(&old.hash, T0.plus(10))
            .await
            .expect("take"),
        None
    );
    assert!(store.get_challenge(&old.hash).await.expect("get").is_some());
}

/// 32 concurrent takes of one challenge: exactly one gets it.
pub async fn challenge_take_races_have_one_winner<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let c = sample_challenge(T0.plus(600));
    store.insert_challenge(&c).await.expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = store.clone();
        let h = c.hash;
        tasks.push(tokio::spawn(async move { s.take_challenge(&h, T0).await }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("take").is_some() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

/// `approve` merges into the one (subject, client) grant: scopes,
/// resources and remembered scopes grow, the id stays, every code is kept
/// and bound to it, and a taken code hash writes nothing.
pub async fn approve_merges_into_one_grant<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let code1 = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &code1).await;
    assert_eq!(
        store.get_grant("alice", &client.id).await.expect("get"),
        Some(g.clone())
    );

    // A second approval, from a request made before the grant existed
    // (its own candidate id), lands in the same grant.
    let mut code2 = sample_code(&g, T0.plus(600));
    code2.scopes = scopes("dns:read");
    code2.resources = vec!["https://api.example/".into()];
    code2.issued_at = T0.plus(5);
    let mut a2 = approval(&code2);
    a2.remember = true;
    assert_eq!(
        store.approve(&a2).await.expect("second approve"),
        ApproveOutcome::Approved {
            grant_id: g.id.clone()
        }
    );
    let merged = store
        .get_grant_by_id(&g.id)
        .await
        .expect("get")
        .expect("grant");
    assert_eq!(merged.scopes, scopes("profile:read dns:read"));
    assert_eq!(merged.resources, vec!["https://api.example/".to_owned()]);
    assert_eq!(merged.remembered_scopes, Some(scopes("dns:read")));
    assert_eq!(merged.revision, 1);
    assert_eq!(merged.created_at, T0);
    assert_eq!(merged.last_used_at, T0.plus(5));
    assert_eq!(store.list_grants("alice").await.expect("list").len(), 1);
    for c in [&code1, &code2] {
        let stored = store.get_code(&c.hash).await.expect("code").expect("kept");
        assert_eq!(stored.grant_id, g.id);
        assert_eq!(stored.status, CodeStatus::Unused);
    }

    // The same code hash again: a conflict, and nothing changes.
    let mut again = approval(&code2);
    again.code.scopes = scopes("profile:read dns:read");
    assert!(matches!(
        store.approve(&again).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(
        store.get_grant_by_id(&g.id).await.expect("get"),
        Some(merged)
    );
    let kinds = all_events(&*store, "t").await;
    assert_eq!(kinds.len(), 3, "created, consent, consent: {kinds:?}");
    assert!(matches!(&kinds[0], EventKind::GrantCreated { grant_id, .. } if *grant_id == g.id));
    assert!(matches!(&kinds[2], EventKind::ConsentGiven { scopes: s, .. } if *s == code2.scopes));
}

/// "The user approved" is one step: the challenge is consumed with the
/// grant and code, and when the step fails the challenge is left usable.
pub async fn approve_takes_challenge_in_the_same_step<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let challenge = sample_challenge(T0.plus(900));
    store
        .insert_challenge(&challenge)
        .await
        .expect("insert challenge");

    // A failure inside the step (a taken code hash): nothing written, and
    // the challenge survives for the user's retry.
    let taken = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &taken).await;
    let events_before = all_events(&*store, "t").await.len();
    let mut failing = approval(&taken);
    failing.challenge = Some(challenge.hash);
    assert!(matches!(
        store.approve(&failing).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(
        store.get_challenge(&challenge.hash).await.expect("get"),
        Some(challenge.clone()),
        "a failed approval must not consume the challenge"
    );

    let code = sample_code(&g, T0.plus(600));
    let mut ok = approval(&code);
    ok.challenge = Some(challenge.hash);
    assert!(matches!(
        store.approve(&ok).await.expect("approve"),
        ApproveOutcome::Approved { .. }
    ));
    assert_eq!(
        store.get_challenge(&challenge.hash).await.expect("get"),
        None
    );
    assert!(store.get_code(&code.hash).await.expect("code").is_some());

    // The challenge is gone: a double submit writes nothing.
    let late = sample_code(&g, T0.plus(600));
    let mut twice = approval(&late);
    twice.challenge = Some(challenge.hash);
    assert_eq!(
        store.approve(&twice).await.expect("approve"),
        ApproveOutcome::ChallengeGone
    );
    assert_eq!(store.get_code(&late.hash).await.expect("code"), None);

    // An expired challenge is gone too.
    let stale = sample_challenge(T0);
    store.insert_challenge(&stale).await.expect("insert");
    let mut expired = approval(&late);
    expired.challenge = Some(stale.hash);
    assert_eq!(
        store.approve(&expired).await.expect("approve"),
        ApproveOutcome::ChallengeGone
    );
    assert_eq!(store.get_code(&late.hash).await.expect("code"), None);
    assert_eq!(
        all_events(&*store, "t").await.len(),
        events_before + 1,
        "only the successful approval appended its event"
    );
}

/// A client deleted before the approval commits leaves no orphan grant,
/// code or event, and the challenge untouched.
pub async fn approve_refuses_a_deleted_client<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let r = revocation(RevocationReason::ClientDeleted);
    assert!(store
        .delete_client(&client.id, r, &[])
        .await
        .expect("delete"));
    let challenge = sample_challenge(T0.plus(900));
    store.insert_challenge(&challenge).await.expect("insert");
    let g = sample_grant("alice", &client.id);
    let code = sample_code(&g, T0.plus(600));
    let mut a = approval(&code);
    a.challenge = Some(challenge.hash);
    assert_eq!(
        store.approve(&a).await.expect("approve"),
        ApproveOutcome::ClientGone
    );
    assert_eq!(
        store.get_grant("alice", &client.id).await.expect("get"),
        None
    );
    assert_eq!(store.get_code(&code.hash).await.expect("code"), None);
    assert!(store
        .get_challenge(&challenge.hash)
        .await
        .expect("get")
        .is_some());
    assert!(all_events(&*store, "t").await.is_empty());
}

/// 32 concurrent approvals of one user and client all land in one grant,
/// and none loses the consent another recorded.
pub async fn concurrent_approvals_all_land<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let names = ["profile:read", "dns:read"];
    let mut tasks = Vec::new();
    for i in 0..32usize {
        let store = store.clone();
        let client_id = client.id.clone();
        tasks.push(tokio::spawn(async move {
            let g = sample_grant("alice", &client_id);
            let mut code = sample_code(&g, T0.plus(600));
            code.scopes = scopes(names[i % 2]);
            code.issued_at = T0.plus(i as u64);
            let mut a = approval(&code);
            a.remember = i % 4 == 0;
            (store.approve(&a).await, code.hash)
        }));
    }
    let mut grant_ids = std::collections::BTreeSet::new();
    let mut codes = Vec::new();
    for t in tasks {
        let (out, h) = t.await.expect("task");
        match out.expect("every approval succeeds") {
            ApproveOutcome::Approved { grant_id } => grant_ids.insert(grant_id),
            other => panic!("unexpected {other:?}"),
        };
        codes.push(h);
    }
    assert_eq!(grant_ids.len(), 1, "one grant for the pair");
    let g = store
        .get_grant("alice", &client.id)
        .await
        .expect("get")
        .expect("grant");
    assert!(grant_ids.contains(&g.id));
    assert_eq!(g.scopes, scopes("profile:read dns:read"));
    assert_eq!(g.remembered_scopes, Some(scopes("profile:read")));
    assert_eq!(g.revision, 31);
    for h in codes {
        let c = store.get_code(&h).await.expect("code").expect("stored");
        assert_eq!(c.grant_id, g.id);
    }
    let kinds = all_events(&*store, "t").await;
    let created = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::GrantCreated { .. }))
        .count();
    let consents = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::ConsentGiven { .. }))
        .count();
    assert_eq!((created, consents), (1, 32));
}

/// A code is redeemed once; a second redemption reports the first family.
pub async fn code_is_single_use<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let code = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &code).await;
    let iss = issuance_for(&code, T0.plus(86_400));
    assert_eq!(
        store
            .redeem_code(&code.hash, T0.plus(600), &iss)
            .await
            .expect("late"),
        RedeemOutcome::Invalid
    );
    assert_eq!(
        store.get_family(&iss.family.id).await.expect("fam"),
        None,
        "an invalid redemption stores nothing"
    );
    assert_eq!(
        store
            .redeem_code(&code.hash, T0.plus(1), &iss)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    let again = issuance_for(&code, T0.plus(86_400));
    assert_eq!(
        store
            .redeem_code(&code.hash, T0.plus(2), &again)
            .await
            .expect("again"),
        RedeemOutcome::AlreadyRedeemed {
            family_id: iss.family.id.clone()
        }
    );
    assert_eq!(store.get_family(&again.family.id).await.expect("fam"), None);
    let (fam, generation) = store
        .find_refresh_token(&iss.family.current.hash)
        .await
        .expect("rt")
        .expect("some");
    assert_eq!((fam, generation), (iss.family.clone(), 0));
    let at = store
        .find_access_token(&iss.access.hash)
        .await
        .expect("at")
        .expect("some");
    assert_eq!(at.token, iss.access);
    assert!(!at.family_revoked);
    assert_eq!(
        store
            .get_grant_by_id(&g.id)
            .await
            .expect("g")
            .expect("some")
            .last_used_at,
        T0.plus(1)
    );
    // The approval's two events, then the issuance's one.
    assert_eq!(all_events(&*store, "t").await.len(), 3);
    assert_eq!(
        store
            .redeem_code(&hash(), T0, &again)
            .await
            .expect("unknown"),
        RedeemOutcome::Invalid
    );
}

/// 32 concurrent redemptions of one code: exactly one wins.
pub async fn code_redeem_races_have_one_winner<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let code = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &code).await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = store.clone();
        let iss = issuance_for(&code, T0.plus(86_400));
        let h = code.hash;
        tasks.push(tokio::spawn(async move {
            let out = s.redeem_code(&h, T0, &iss).await;
            (out, iss.family.id)
        }));
    }
    let mut winners = Vec::new();
    let mut reported = Vec::new();
    for t in tasks {
        match t.await.expect("join") {
            (Ok(RedeemOutcome::Issued), fid) => winners.push(fid),
            (Ok(RedeemOutcome::AlreadyRedeemed { family_id }), _) => reported.push(family_id),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(reported.iter().all(|f| *f == winners[0]));
    // The approval's two events, then the one winner's issuance event.
    assert_eq!(all_events(&*store, "t").await.len(), 3);
}

/// Wrong verifiers count; the limit burns the code.
pub async fn code_failures_burn_the_code<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let code = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &code).await;
    for n in 1..5 {
        assert_eq!(
            store
                .record_code_failure(&code.hash, 5)
                .await
                .expect("fail"),
            CodeFailure::Counted(n)
        );
    }
    assert_eq!(
        store
            .record_code_failure(&code.hash, 5)
            .await
            .expect("fail"),
        CodeFailure::Burned
    );
    assert_eq!(
        store
            .record_code_failure(&code.hash, 5)
            .await
            .expect("fail"),
        CodeFailure::NotFound
    );
    let iss = issuance_for(&code, T0.plus(86_400));
    assert_eq!(
        store
            .redeem_code(&code.hash, T0, &iss)
            .await
            .expect("redeem"),
        RedeemOutcome::Invalid
    );
    assert_eq!(
        store.record_code_failure(&hash(), 5).await.expect("fail"),
        CodeFailure::NotFound
    );
}

/// A code whose grant was revoked before the exchange is invalid.
pub async fn code_of_revoked_grant_is_invalid<S: Storage + ?Sized>(store: Arc<S>) {
    let client = sample_client("acme");
    store.insert_client(&client, &[]).await.expect("client");
    let g = sample_grant("alice", &client.id);
    let code = sample_code(&g, T0.plus(600));
    approve_new(&*store, &g, &code).await;
    assert!(store
        .revoke_grant(&g.id, revocation(RevocationReason::GrantRevoked), &[])
        .await
        .expect("revoke"));
    let iss = issuance_for(&code, T0.plus(86_400));
    assert_eq!(
        store
            .redeem_code(&code.hash, T0, &iss)
            .await
            .expect("redeem"),
        RedeemOutcome::Invalid
    );
    assert_eq!(store.get_family(&iss.family.id).await.expect("fam"), None);
}

/// Rotation applies only at the expected generation and keeps every
/// generation's refresh token findable.
pub async fn rotate_is_compare_and_swap<S: Storage + ?Sized>(store: Arc<S>) {
    let (grant, iss) = issued_family(&*store, "alice").await;
    let f0 = iss.family.clone();
    let r1 = rotation_for(&f0, 1);
    assert_eq!(
        store.rotate_family(&f0.id, 0, &r1).await.expect("rotate"),
        RotateOutcome::Rotated
    );
    assert_eq!(
        store
            .rotate_family(&f0.id, 0, &rotation_for(&f0, 2))
            .await
            .expect("again"),
        RotateOutcome::Stale
    );
    let f1 = store.get_family(&f0.id).await.expect("fam").expect("some");
    assert_eq!(f1.generation, 1);
    assert_eq!(f1.current, r1.current);
    assert_eq!(f1.previous, Some(r1.previous.clone()));
    assert_eq!(f1.expires_at, r1.expires_at);
    let (_, g0) = store
        .find_refresh_token(&f0.current.hash)
        .await
        .expect("rt")
        .expect("old still indexed");
    let (_, g1) = store
        .find_refresh_token(&r1.current.hash)
        .await
        .expect("rt")
        .expect("new indexed");
    assert_eq!((g0, g1), (0, 1));
    assert!(store
        .find_access_token(&r1.access.hash)
        .await
        .expect("at")
        .is_some());
    assert_eq!(
        store
            .get_grant_by_id(&grant.id)
            .await
            .expect("g")
            .expect("some")
            .last_used_at,
        r1.now
    );
    assert_eq!(
        store
            .rotate_family("missing", 0, &r1)
            .await
            .expect("missing"),
        RotateOutcome::NotFound
    );
    store
        .revoke_family(&f0.id, revocation(RevocationReason::Requested), &[])
        .await
        .expect("revoke");
    assert_eq!(
        store
            .rotate_family(&f0.id, 1, &rotation_for(&f1, 3))
            .await
            .expect("revoked"),
        RotateOutcome::Revoked
    );
}

/// 32 concurrent rotations from one generation: exactly one is applied, and
/// the stored successor is the winner's.
pub async fn rotate_races_have_one_winner<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let (_, iss) = issued_family(&*store, "alice").await;
    let f0 = iss.family.clone();
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let s = store.clone();
        let r = rotation_for(&f0, i);
        let fid = f0.id.clone();
        tasks.push(tokio::spawn(async move {
            (s.rotate_family(&fid, 0, &r).await, r)
        }));
    }
    let mut winner = None;
    for t in tasks {
        match t.await.expect("join") {
            (Ok(RotateOutcome::Rotated), r) => {
                assert!(winner.is_none(), "two rotations won");
                winner = Some(r);
            }
            (Ok(RotateOutcome::Stale), _) => {}
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    let w = winner.expect("one rotation won");
    let f = store.get_family(&f0.id).await.expect("fam").expect("some");
    assert_eq!(f.generation, 1);
    assert_eq!(
        f.previous.expect("previous").sealed_successor,
        w.previous.sealed_successor
    );
    assert_eq!(f.current, w.current);
}

/// Revocation racing rotation: whatever the order, the family ends revoked
/// and every access token of it reads as revoked.
pub async fn revoke_racing_rotate_leaves_nothing_alive<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    for _ in 0..8 {
        let (_, iss) = issued_family(&*store, "alice").await;
        let f0 = iss.family.clone();
        let mut rotations = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let s = store.clone();
            let r = rotation_for(&f0, i);
            rotations.push(r.access.hash);
            let fid = f0.id.clone();
            tasks.push(tokio::spawn(async move {
                s.rotate_family(&fid, 0, &r).await.map(|_| ())
            }));
        }
        let s = store.clone();
        let fid = f0.id.clone();
        tasks.push(tokio::spawn(async move {
            s.revoke_family(&fid, revocation(RevocationReason::Requested), &[])
                .await
                .map(|_| ())
        }));
        for t in tasks {
            t.await.expect("join").expect("op");
        }
        let f = store.get_family(&f0.id).await.expect("fam").expect("some");
        assert!(f.revoked.is_some());
        for h in rotations.iter().chain(std::iter::once(&iss.access.hash)) {
            if let Some(v) = store.find_access_token(h).await.expect("at") {
                assert!(v.family_revoked, "an access token outlived its family");
            }
        }
    }
}

/// Revocation is sticky and appends its event once.
pub async fn revocation_is_sticky_and_evented_once<S: Storage + ?Sized>(store: Arc<S>) {
    let (_, iss) = issued_family(&*store, "alice").await;
    let before = all_events(&*store, "t").await.len();
    let e = ev(EventKind::FamilyRevoked {
        family_id: iss.family.id.clone(),
        grant_id: iss.family.grant_id.clone(),
        client_id: iss.family.client_id.clone(),
        reason: RevocationReason::RefreshReuse,
    });
    let r = revocation(RevocationReason::RefreshReuse);
    assert!(store
        .revoke_family(&iss.family.id, r, &[e.clone()])
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_family(
            &iss.family.id,
            revocation(RevocationReason::Requested),
            &[e]
        )
        .await
        .expect("again"));
    let f = store
        .get_family(&iss.family.id)
        .await
        .expect("fam")
        .expect("some");
    assert_eq!(f.revoked, Some(r), "the first revocation is kept");
    assert_eq!(all_events(&*store, "t").await.len(), before + 1);
    assert!(!store
        .revoke_family("missing", r, &[])
        .await
        .expect("missing"));
}

/// Stand-alone access tokens: insert, find, revoke once.
pub async fn access_tokens_reflect_revocation<S: Storage + ?Sized>(store: Arc<S>) {
    let t = access_for(None, "svc", T0.plus(300));
    store.insert_access_token(&t).await.expect("insert");
    assert!(matches!(
        store.insert_access_token(&t).await,
        Err(StorageError::Conflict)
    ));
    let v = store
        .find_access_token(&t.hash)
        .await
        .expect("find")
        .expect("some");
    assert_eq!((v.token.clone(), v.family_revoked), (t.clone(), false));
    let e = ev(EventKind::AccessTokenRevoked {
        client_id: "svc".into(),
        subject: "svc".into(),
    });
    assert!(store
        .revoke_access_token(&t.hash, T0.plus(5), &[e.clone()])
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_access_token(&t.hash, T0.plus(6), &[e.clone()])
        .await
        .expect("again"));
    assert!(!store
        .revoke_access_token(&hash(), T0, &[e])
        .await
        .expect("unknown"));
    let v = store
        .find_access_token(&t.hash)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(v.token.revoked_at, Some(T0.plus(5)));
    assert_eq!(all_events(&*store, "t").await.len(), 1);
    assert_eq!(store.find_access_token(&hash()).await.expect("find"), None);
}

/// Revoking a grant deletes it and revokes all of its families.
pub async fn grant_revocation_cascades<S: Storage + ?Sized>(store: Arc<S>) {
    let (grant, iss) = issued_family(&*store, "alice").await;
    let (other_grant, other) = issued_family(&*store, "bob").await;
    let e = ev(EventKind::GrantRevoked {
        grant_id: grant.id.clone(),
        subject: "alice".into(),
        client_id: grant.client_id.clone(),
    });
    let r = revocation(RevocationReason::GrantRevoked);
    assert!(store
        .revoke_grant(&grant.id, r, &[e.clone()])
        .await
        .expect("revoke"));
    assert!(!store.revoke_grant(&grant.id, r, &[e]).await.expect("again"));
    assert_eq!(
        store.get_grant("alice", &grant.client_id).await.expect("g"),
        None
    );
    assert!(store.list_grants("alice").await.expect("list").is_empty());
    assert!(
        store
            .find_access_token(&iss.access.hash)
            .await
            .expect("at")
            .expect("some")
            .family_revoked
    );
    let (f, _) = store
        .find_refresh_token(&iss.family.current.hash)
        .await
        .expect("rt")
        .expect("some");
    assert!(f.revoked.is_some());
    // Bob is untouched.
    assert_eq!(
        store.list_grants("bob").await.expect("list"),
        vec![store
            .get_grant_by_id(&other_grant.id)
            .await
            .expect("g")
            .expect("some")]
    );
    assert!(
        !store
            .find_access_token(&other.access.hash)
            .await
            .expect("at")
            .expect("some")
            .family_revoked
    );
    assert_eq!(
        all_events(&*store, "t")
            .await
            .iter()
            .filter(|k| matches!(k, EventKind::GrantRevoked { .. }))
            .count(),
        1
    );
}

/// Revoking a subject removes every grant and family of it, and only its.
pub async fn subject_revocation_cascades<S: Storage + ?Sized>(store: Arc<S>) {
    let (_, a1) = issued_family(&*store, "alice").await;
    let (_, a2) = issued_family(&*store, "alice").await;
    let (_, b) = issued_family(&*store, "bob").await;
    let e = ev(EventKind::SubjectRevoked {
        subject: "alice".into(),
    });
    let n = store
        .revoke_subject("alice", revocation(RevocationReason::SubjectRevoked), &[e])
        .await
        .expect("revoke");
    assert_eq!(n, 2);
    assert!(store.list_grants("alice").await.expect("list").is_empty());
    for iss in [&a1, &a2] {
        assert!(
            store
                .find_access_token(&iss.access.hash)
                .await
                .expect("at")
                .expect("some")
                .family_revoked
        );
    }
    assert!(
        !store
            .find_access_token(&b.access.hash)
            .await
            .expect("at")
            .expect("some")
            .family_revoked
    );
    assert_eq!(store.list_grants("bob").await.expect("list").len(), 1);
}

/// Events come in order, per consumer, until acknowledged.
pub async fn events_are_ordered_and_redelivered_until_acked<S: Storage + ?Sized>(store: Arc<S>) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        let c = sample_client("acme");
        store
            .insert_client(
                &c,
                &[ev(EventKind::ClientCreated {
                    client_id: c.id.clone(),
                })],
            )
            .await
            .expect("insert");
        ids.push(c.id);
    }
    let first = store.poll_events("a", 3).await.expect("poll");
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0].seq < w[1].seq));
    let names: Vec<_> = first
        .iter()
        .map(|e| match &e.kind {
            EventKind::ClientCreated { client_id } => client_id.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, ids[..3]);
    // Not acknowledged: delivered again (at least once).
    assert_eq!(store.poll_events("a", 3).await.expect("poll"), first);
    store.ack_events("a", first[1].seq).await.expect("ack");
    let next = store.poll_events("a", 10).await.expect("poll");
    assert_eq!(next.len(), 3);
    assert_eq!(next[0], first[2]);
    // Acks never move backwards.
    store.ack_events("a", first[0].seq).await.expect("ack");
    assert_eq!(store.poll_events("a", 10).await.expect("poll"), next);
    // Another consumer has its own cursor.
    assert_eq!(store.poll_events("b", 10).await.expect("poll").len(), 5);
}

/// Every write that appends events stores each event's audit (actor,
/// address, user agent) and gives it back as written; a client's creator
/// round-trips with the client.
pub async fn events_carry_their_audit<S: Storage + ?Sized>(store: Arc<S>) {
    let source = |addr: &str, ua: &str| Source::new(Some(addr.parse().expect("ip")), Some(ua));
    let dev = Audit::user(
        "dev@acme",
        source("2001:db8::7", "Mozilla/5.0 (X11) \u{e9}t\u{e9}"),
    );
    let op = Audit::new(
        Actor::Operator { id: "ops".into() },
        source("192.0.2.10", "seed-script/1"),
    );
    let app = Audit::client("lkc_app", source("198.51.100.3", "app/2.0"));
    let user = Audit::user("alice", source("203.0.113.9", "Firefox"));
    let bare = Audit::client("lkc_app", Source::default());

    let mut client = sample_client("acme");
    let created = ev_by(
        EventKind::ClientCreated {
            client_id: client.id.clone(),
        },
        &dev,
    );
    store
        .insert_client(&client, &[created])
        .await
        .expect("insert");
    assert_eq!(
        store
            .get_client(&client.id)
            .await
            .expect("get")
            .expect("some")
            .created_by,
        client.created_by
    );
    client.revision += 1;
    let rotated = ev_by(
        EventKind::SecretRotated {
            client_id: client.id.clone(),
        },
        &op,
    );
    store
        .update_client(&client, 0, &[rotated])
        .await
        .expect("update");

    let grant = sample_grant("alice", &client.id);
    let code = sample_code(&grant, T0.plus(600));
    let mut a = approval(&code);
    a.new_grant_id.clone_from(&grant.id);
    a.audit = user.clone();
    store.approve(&a).await.expect("approve");
    let mut iss = issuance_for(&code, T0.plus(86_400));
    for e in &mut iss.events {
        e.audit = bare.clone();
    }
    assert_eq!(
        store
            .redeem_code(&code.hash, T0, &iss)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );
    let revoked = ev_by(
        EventKind::AccessTokenRevoked {
            client_id: client.id.clone(),
            subject: "alice".into(),
        },
        &app,
    );
    assert!(store
        .revoke_access_token(&iss.access.hash, T0.plus(5), &[revoked])
        .await
        .expect("revoke access"));
    let family = ev_by(
        EventKind::FamilyRevoked {
            family_id: iss.family.id.clone(),
            grant_id: grant.id.clone(),
            client_id: client.id.clone(),
            reason: RevocationReason::Requested,
        },
        &app,
    );
    assert!(store
        .revoke_family(
            &iss.family.id,
            revocation(RevocationReason::Requested),
            &[family]
        )
        .await
        .expect("revoke family"));
    let grant_gone = ev_by(
        EventKind::GrantRevoked {
            grant_id: grant.id.clone(),
            subject: "alice".into(),
            client_id: client.id.clone(),
        },
        &user,
    );
    assert!(store
        .revoke_grant(
            &grant.id,
            revocation(RevocationReason::GrantRevoked),
            &[grant_gone]
        )
        .await
        .expect("revoke grant"));
    let deleted = ev_by(
        EventKind::ClientDeleted {
            client_id: client.id.clone(),
        },
        &Audit::system(),
    );
    assert!(store
        .delete_client(
            &client.id,
            revocation(RevocationReason::ClientDeleted),
            &[deleted]
        )
        .await
        .expect("delete"));

    let got: Vec<(&'static str, Option<Audit>)> = store
        .poll_events("audit", 100)
        .await
        .expect("poll")
        .into_iter()
        .map(|e| {
            let name = match e.kind {
                EventKind::ClientCreated { .. } => "client_created",
                EventKind::SecretRotated { .. } => "secret_rotated",
                EventKind::GrantCreated { .. } => "grant_created",
                EventKind::ConsentGiven { .. } => "consent_given",
                EventKind::FamilyRevoked { .. } => "family_revoked",
                EventKind::AccessTokenRevoked { .. } => "access_token_revoked",
                EventKind::GrantRevoked { .. } => "grant_revoked",
                EventKind::ClientDeleted { .. } => "client_deleted",
                _ => "other",
            };
            (name, e.audit)
        })
        .collect();
    let want = vec![
        ("client_created", Some(dev)),
        ("secret_rotated", Some(op)),
        ("grant_created", Some(user.clone())),
        ("consent_given", Some(user.clone())),
        ("family_revoked", Some(bare)),
        ("access_token_revoked", Some(app.clone())),
        ("family_revoked", Some(app)),
        ("grant_revoked", Some(user)),
        ("client_deleted", Some(Audit::system())),
    ];
    assert_eq!(got, want);
}

/// Purge removes only what expired, at most `limit` per kind per call, and
/// events only once every consumer acknowledged them.
pub async fn purge_removes_only_expired_in_batches<S: Storage + ?Sized>(store: Arc<S>) {
    let (_, iss) = issued_family(&*store, "alice").await; // family expires at T0+1d, AT at T0+300
    for i in 0..5u64 {
        let t = access_for(None, "svc", T0.plus(100 + i));
        store.insert_access_token(&t).await.expect("insert");
    }
    let live = access_for(None, "svc", T0.plus(10_000));
    store.insert_access_token(&live).await.expect("insert");
    store
        .insert_challenge(&sample_challenge(T0.plus(50)))
        .await
        .expect("challenge");
    let keep = sample_challenge(T0.plus(5_000));
    store.insert_challenge(&keep).await.expect("challenge");

    let r = store.purge_expired(T0.plus(200), 3).await.expect("purge");
    assert_eq!((r.access_tokens, r.challenges, r.families), (3, 1, 0));
    let r = store.purge_expired(T0.plus(200), 3).await.expect("purge");
    assert_eq!(r.access_tokens, 2);
    let r = store.purge_expired(T0.plus(200), 3).await.expect("purge");
    assert_eq!(r.access_tokens, 0);
    assert!(store
        .find_access_token(&live.hash)
        .await
        .expect("at")
        .is_some());
    assert!(store
        .find_access_token(&iss.access.hash)
        .await
        .expect("at")
        .is_some());
    assert!(store.get_challenge(&keep.hash).await.expect("ch").is_some());

    // Events: one consumer has acked all (the approval's two and the
    // issuance's one so far), another none.
    let evs = store.poll_events("a", 10).await.expect("poll");
    assert_eq!(evs.len(), 3);
    let last = evs[2].seq;
    store.ack_events("a", last).await.expect("ack");
    let _ = store.poll_events("b", 10).await.expect("poll");
    let r = store.purge_expired(T0.plus(200), 10).await.expect("purge");
    assert_eq!(r.events, 0, "consumer b has not acknowledged");
    store.ack_events("b", last).await.expect("ack");
    let r = store.purge_expired(T0.plus(200), 10).await.expect("purge");
    assert_eq!(r.events, 3);

    // After the family's expiry, its tokens and refresh index go too.
    let r = store
        .purge_expired(T0.plus(86_401), 100)
        .await
        .expect("purge");
    assert_eq!(r.families, 1);
    assert!(r.codes >= 1);
    assert_eq!(store.get_family(&iss.family.id).await.expect("fam"), None);
    assert_eq!(
        store
            .find_refresh_token(&iss.family.current.hash)
            .await
            .expect("rt"),
        None
    );
    assert_eq!(store.find_access_token(&live.hash).await.expect("at"), None);
}

// --- browser sessions --------------------------------------------------------

fn session(user: Option<&str>, created_at: Timestamp, last_seen: Timestamp) -> SessionRecord {
    SessionRecord {
        key: SessionKey(hash().0),
        user: user.map(str::to_owned),
        csrf: CsrfToken::new(id("csrf")),
        binding: id("binding"),
        flash: None,
        created_at,
        last_seen,
    }
}

/// A session reads back exactly as stored; a taken key is refused and
/// changes nothing; removal reports whether it existed.
pub async fn browser_sessions_insert_get_remove<S: Storage + ?Sized>(store: Arc<S>) {
    let anon = session(None, T0, T0);
    let mut alice = session(Some("alice"), T0, T0.plus(5));
    alice.flash = Some("Welcome back".into());
    store.insert_browser_session(&anon).await.expect("insert");
    store.insert_browser_session(&alice).await.expect("insert");
    assert_eq!(
        store.get_browser_session(&anon.key).await.expect("get"),
        Some(anon.clone())
    );
    assert_eq!(
        store.get_browser_session(&alice.key).await.expect("get"),
        Some(alice.clone())
    );

    let mut clash = session(Some("mallory"), T0, T0);
    clash.key = anon.key.clone();
    assert!(matches!(
        store.insert_browser_session(&clash).await,
        Err(StorageError::Conflict)
    ));
    assert_eq!(
        store.get_browser_session(&anon.key).await.expect("get"),
        Some(anon.clone()),
        "a refused insert writes nothing"
    );

    assert!(store.remove_browser_session(&anon.key).await.expect("rm"));
    assert!(!store.remove_browser_session(&anon.key).await.expect("rm"));
    assert_eq!(
        store.get_browser_session(&anon.key).await.expect("get"),
        None
    );
    assert!(store
        .get_browser_session(&alice.key)
        .await
        .expect("get")
        .is_some());
}

/// Replace removes the old session and stores the new one in one step;
/// a replace onto a taken key writes nothing; a vanished old session does
/// not stop the new one; readers racing a replace never see both or
/// neither.
pub async fn browser_session_replace_is_atomic<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let anon = session(None, T0, T0);
    store.insert_browser_session(&anon).await.expect("insert");
    let signed_in = SessionRecord {
        binding: anon.binding.clone(),
        ..session(Some("alice"), T0.plus(10), T0.plus(10))
    };
    store
        .replace_browser_session(&anon.key, &signed_in)
        .await
        .expect("replace");
    assert_eq!(
        store.get_browser_session(&anon.key).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .get_browser_session(&signed_in.key)
            .await
            .expect("get"),
        Some(signed_in.clone())
    );

    // Onto a taken key: refused, and the old session is still there.
    let other = session(None, T0, T0);
    store.insert_browser_session(&other).await.expect("insert");
    let mut clash = session(Some("bob"), T0, T0);
    clash.key = signed_in.key.clone();
    assert!(matches!(
        store.replace_browser_session(&other.key, &clash).await,
        Err(StorageError::Conflict)
    ));
    assert!(store
        .get_browser_session(&other.key)
        .await
        .expect("get")
        .is_some());
    assert_eq!(
        store
            .get_browser_session(&signed_in.key)
            .await
            .expect("get"),
        Some(signed_in.clone())
    );

    // The old one is gone already (signed out elsewhere): the new one is
    // stored anyway.
    let fresh = session(Some("carol"), T0, T0);
    store
        .replace_browser_session(&SessionKey([0; 32]), &fresh)
        .await
        .expect("replace");
    assert!(store
        .get_browser_session(&fresh.key)
        .await
        .expect("get")
        .is_some());

    // Readers racing a chain of replaces always find exactly one of the
    // two keys of each step.
    for _ in 0..8 {
        let old = session(None, T0, T0);
        store.insert_browser_session(&old).await.expect("insert");
        let new = session(Some("dave"), T0, T0);
        let mut readers = Vec::new();
        for _ in 0..4 {
            let s = store.clone();
            let (a, b) = (old.key.clone(), new.key.clone());
            readers.push(tokio::spawn(async move {
                for _ in 0..8 {
                    // Old key first: once it is gone the new one must
                    // already exist, so missing the new one after that
                    // would mean a gap between the delete and the insert.
                    let has_old = s.get_browser_session(&a).await.expect("get").is_some();
                    let has_new = s.get_browser_session(&b).await.expect("get").is_some();
                    assert!(has_old || has_new, "neither session visible mid-replace");
                    tokio::task::yield_now().await;
                }
            }));
        }
        store
            .replace_browser_session(&old.key, &new)
            .await
            .expect("replace");
        for r in readers {
            r.await.expect("reader");
        }
        assert_eq!(
            store.get_browser_session(&old.key).await.expect("get"),
            None
        );
    }
}

/// Touch moves `last_seen` forward, never back, changes nothing else, and
/// is harmless on a missing session.
pub async fn browser_session_touch_moves_forward_only<S: Storage + ?Sized>(store: Arc<S>) {
    let s = session(Some("alice"), T0, T0);
    store.insert_browser_session(&s).await.expect("insert");
    store
        .touch_browser_session(&s.key, T0.plus(60))
        .await
        .expect("touch");
    let got = store
        .get_browser_session(&s.key)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.last_seen, T0.plus(60));
    assert_eq!(
        SessionRecord {
            last_seen: T0,
            ..got
        },
        s,
        "only last_seen changes"
    );
    store
        .touch_browser_session(&s.key, T0.plus(30))
        .await
        .expect("touch");
    assert_eq!(
        store
            .get_browser_session(&s.key)
            .await
            .expect("get")
            .expect("present")
            .last_seen,
        T0.plus(60),
        "an older touch does not move it back"
    );

    let missing = SessionKey([7; 32]);
    store
        .touch_browser_session(&missing, T0.plus(90))
        .await
        .expect("touching a missing session is harmless");
    assert_eq!(
        store.get_browser_session(&missing).await.expect("get"),
        None
    );

    // The idle index follows the touch: purging by the old time keeps it.
    assert_eq!(
        store
            .purge_browser_sessions(T0.plus(59), T0, 10)
            .await
            .expect("purge"),
        0
    );
    assert!(store
        .get_browser_session(&s.key)
        .await
        .expect("get")
        .is_some());
}

/// A flash message is set only on an existing session and taken once.
pub async fn browser_session_flash_is_taken_once<S: Storage + ?Sized>(store: Arc<S>) {
    let s = session(None, T0, T0);
    store.insert_browser_session(&s).await.expect("insert");
    assert_eq!(
        store
            .take_browser_session_flash(&s.key)
            .await
            .expect("take"),
        None
    );
    assert!(store
        .set_browser_session_flash(&s.key, "first")
        .await
        .expect("set"));
    assert!(store
        .set_browser_session_flash(&s.key, "Saved.")
        .await
        .expect("set"));
    assert_eq!(
        store
            .take_browser_session_flash(&s.key)
            .await
            .expect("take"),
        Some("Saved.".into())
    );
    assert_eq!(
        store
            .take_browser_session_flash(&s.key)
            .await
            .expect("take"),
        None
    );
    let after = store
        .get_browser_session(&s.key)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(after, s, "taking the flash leaves the rest as it was");

    let missing = SessionKey([9; 32]);
    assert!(!store
        .set_browser_session_flash(&missing, "lost")
        .await
        .expect("set"));
    assert_eq!(
        store.get_browser_session(&missing).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .take_browser_session_flash(&missing)
            .await
            .expect("take"),
        None
    );
}

/// 32 concurrent takes of one flash message: exactly one gets it.
pub async fn browser_session_flash_races_have_one_winner<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    for round in 0..3 {
        let s = session(None, T0, T0);
        store.insert_browser_session(&s).await.expect("insert");
        let message = format!("message {round}");
        assert!(store
            .set_browser_session_flash(&s.key, &message)
            .await
            .expect("set"));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let st = store.clone();
            let k = s.key.clone();
            tasks.push(tokio::spawn(async move {
                st.take_browser_session_flash(&k).await
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            if let Some(m) = t.await.expect("join").expect("take") {
                got.push(m);
            }
        }
        assert_eq!(got, vec![message], "exactly one taker gets the message");
    }
}

/// Purge removes sessions idle too long or past their absolute lifetime,
/// at most `limit` per call, and nothing else.
pub async fn browser_session_purge_removes_only_expired_in_batches<S: Storage + ?Sized>(
    store: Arc<S>,
) {
    let idle_before = T0.plus(1_000);
    let created_before = T0.plus(100);
    let mut idle = Vec::new();
    for i in 0..4 {
        // Created recently, last seen long ago.
        let s = session(None, T0.plus(500 + i), T0.plus(500 + i));
        store.insert_browser_session(&s).await.expect("insert");
        idle.push(s);
    }
    let mut old = Vec::new();
    for i in 0..3 {
        // Active, but created before the absolute lifetime.
        let s = session(Some("alice"), T0.plus(i), T0.plus(2_000));
        store.insert_browser_session(&s).await.expect("insert");
        old.push(s);
    }
    // Both at once: counted once.
    let both = session(None, T0, T0);
    store.insert_browser_session(&both).await.expect("insert");
    let mut live = Vec::new();
    // Boundaries are exclusive: created exactly at `created_before` and
    // last seen exactly at `idle_before` is live.
    for (created, seen) in [(100, 1_000), (200, 3_000)] {
        let s = session(Some("bob"), T0.plus(created), T0.plus(seen));
        store.insert_browser_session(&s).await.expect("insert");
        live.push(s);
    }
    let mut touched = session(None, T0.plus(500), T0.plus(500));
    store
        .insert_browser_session(&touched)
        .await
        .expect("insert");
    store
        .touch_browser_session(&touched.key, T0.plus(1_500))
        .await
        .expect("touch");
    touched.last_seen = T0.plus(1_500);
    live.push(touched);

    let mut removed = 0;
    for _ in 0..2 {
        let n = store
            .purge_browser_sessions(idle_before, created_before, 3)
            .await
            .expect("purge");
        assert_eq!(n, 3, "a full batch while more are due");
        removed += n;
    }
    let n = store
        .purge_browser_sessions(idle_before, created_before, 3)
        .await
        .expect("purge");
    assert_eq!(n, 2, "the rest");
    removed += n;
    assert_eq!(removed, 8);
    assert_eq!(
        store
            .purge_browser_sessions(idle_before, created_before, 3)
            .await
            .expect("purge"),
        0
    );
    for s in idle.iter().chain(&old).chain(std::iter::once(&both)) {
        assert_eq!(store.get_browser_session(&s.key).await.expect("get"), None);
    }
    for s in &live {
        assert_eq!(
            store
                .get_browser_session(&s.key)
                .await
                .expect("get")
                .as_ref(),
            Some(s),
            "a live session is kept"
        );
    }
}

/// Two [`Sessions`] over one storage (two engines on one database) share
/// every session: one creates, the other signs in and sees the same
/// binding and CSRF token, and a sign-out on either is seen by both.
pub async fn browser_sessions_are_shared_between_instances<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    let config = SessionConfig::for_issuer("https://auth.example");
    // Instances share the server keys, which sign anonymous pre-sessions.
    let keys = Arc::new(crate::Keyring::new(&[(1, [3u8; 32])]).expect("keys"));
    let a = Sessions::new(
        Arc::new(StorageSessionStore::new(store.clone())),
        config.clone(),
    )
    .with_keys(keys.clone());
    let b = Sessions::new(Arc::new(StorageSessionStore::new(store)), config).with_keys(keys);
    shared_sessions_check(&a, &b).await;
}

/// What [`browser_sessions_are_shared_between_instances`] checks, for any
/// two [`Sessions`] that should share their sessions (also two stores with
/// separate connection pools on one database), on the same server keys
/// ([`Sessions::with_keys`]).
///
/// # Panics
/// When they do not share them.
pub async fn shared_sessions_check(a: &Sessions, b: &Sessions) {
    let (anon, cookie) = a.load_or_create_from_header(None).await.expect("create");
    assert!(cookie.is_some());
    let on_b = b
        .load_from_header(Some(&a.cookie_header(&anon)))
        .await
        .expect("load")
        .expect("b sees a's session");
    assert_eq!(on_b.binding, anon.binding);
    assert_eq!(on_b.csrf, anon.csrf);

    let (alice, _) = b.sign_in(&on_b, "alice").await.expect("sign in on b");
    assert_eq!(alice.binding, anon.binding, "the binding is carried over");
    let before = a
        .load_from_header(Some(&a.cookie_header(&anon)))
        .await
        .expect("load");
    assert_eq!(
        before.and_then(|s| s.user),
        None,
        "the pre-sign-in cookie signs nobody in on a either"
    );
    let alice_on_a = a
        .load_from_header(Some(&b.cookie_header(&alice)))
        .await
        .expect("load")
        .expect("a sees the sign-in made on b");
    assert_eq!(alice_on_a.user.as_deref(), Some("alice"));
    assert_eq!(alice_on_a.binding, alice.binding);
    assert_eq!(alice_on_a.csrf, alice.csrf);
    assert!(alice_on_a.csrf_ok(Some(alice.csrf.expose())));

    a.set_flash(&alice_on_a, "Signed in.").await.expect("flash");
    assert_eq!(
        b.take_flash(&alice).await.expect("take"),
        Some("Signed in.".into())
    );
    assert_eq!(a.take_flash(&alice_on_a).await.expect("take"), None);

    a.sign_out(&alice_on_a).await.expect("sign out on a");
    assert!(
        b.load_from_header(Some(&b.cookie_header(&alice)))
            .await
            .expect("load")
            .is_none(),
        "b sees the sign-out made on a"
    );
}
