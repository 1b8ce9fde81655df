//! Storage failures: every endpoint answers `temporarily_unavailable` or
//! `server_error`, never a false success, never a panic, and nothing is
//! half-done. A fault-injecting wrapper around the memory store (the one
//! place mocks are allowed).

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use latchkey::clock::Timestamp;
use latchkey::http::HttpRequest;
use latchkey::introspect::Audience;
use latchkey::model::*;
use latchkey::storage::*;
use latchkey::token::TokenHash;
use latchkey::{AuthorizeOutcome, MemoryStore};

/// 0 = healthy, 1 = unavailable, 2 = broken, 3 = only `approve` fails.
#[derive(Default)]
struct Faulty {
    inner: MemoryStore,
    mode: AtomicU8,
}

impl Faulty {
    fn check(&self, method: &str) -> StorageResult<()> {
        match self.mode.load(Ordering::SeqCst) {
            0 => Ok(()),
            1 => Err(StorageError::Unavailable("connection refused".into())),
            3 if method != "approve" => Ok(()),
            3 => Err(StorageError::Unavailable(
                "connection lost mid-approval".into(),
            )),
            _ => Err(StorageError::Backend("disk on fire".into())),
        }
    }
    fn set(&self, m: u8) {
        self.mode.store(m, Ordering::SeqCst);
    }
}

macro_rules! delegate {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Faulty {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.check(stringify!($name))?;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

delegate!(ClientStore {
    fn insert_client(&self, c: &ClientRecord, e: &[NewEvent]) -> StorageResult<()>;
    fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>>;
    fn update_client(&self, c: &ClientRecord, r: u64, e: &[NewEvent]) -> StorageResult<()>;
    fn delete_client(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>>;
});
delegate!(ChallengeStore {
    fn insert_challenge(&self, c: &ChallengeRecord) -> StorageResult<()>;
    fn get_challenge(&self, h: &TokenHash) -> StorageResult<Option<ChallengeRecord>>;
    fn take_challenge(&self, h: &TokenHash, now: Timestamp) -> StorageResult<Option<ChallengeRecord>>;
});
delegate!(GrantStore {
    fn approve(&self, a: &Approval) -> StorageResult<ApproveOutcome>;
    fn get_grant(&self, s: &str, c: &str) -> StorageResult<Option<GrantRecord>>;
    fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>>;
    fn list_grants(&self, s: &str) -> StorageResult<Vec<GrantRecord>>;
    fn revoke_grant(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn revoke_subject(&self, s: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<u64>;
});
delegate!(CodeStore {
    fn get_code(&self, h: &TokenHash) -> StorageResult<Option<CodeRecord>>;
    fn record_code_failure(&self, h: &TokenHash, m: u32) -> StorageResult<CodeFailure>;
    fn redeem_code(&self, h: &TokenHash, now: Timestamp, i: &Issuance) -> StorageResult<RedeemOutcome>;
});
delegate!(TokenStore {
    fn find_refresh_token(&self, h: &TokenHash) -> StorageResult<Option<(FamilyRecord, u64)>>;
    fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>>;
    fn rotate_family(&self, id: &str, g: u64, r: &Rotation) -> StorageResult<RotateOutcome>;
    fn revoke_family(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn insert_access_token(&self, t: &AccessTokenRecord) -> StorageResult<()>;
    fn find_access_token(&self, h: &TokenHash) -> StorageResult<Option<AccessTokenView>>;
    fn revoke_access_token(&self, h: &TokenHash, at: Timestamp, e: &[NewEvent]) -> StorageResult<bool>;
});
delegate!(EventStore {
    fn poll_events(&self, c: &str, l: usize) -> StorageResult<Vec<Event>>;
    fn ack_events(&self, c: &str, s: u64) -> StorageResult<()>;
});
delegate!(PurgeStore {
    fn purge_expired(&self, now: Timestamp, l: usize) -> StorageResult<PurgeReport>;
});

#[tokio::test]
async fn every_endpoint_reports_storage_failure_honestly() {
    let store = Arc::new(Faulty::default());
    let h = harness_on(store.clone()).await;
    let (at, rt) = h.tokens("profile:read").await;
    let code = h.code_for("profile:read", false).await;
    let auth = h.app_auth();
    for (mode, status, code_name) in [
        (1u8, 503u16, "temporarily_unavailable"),
        (2, 500, "server_error"),
    ] {
        store.set(mode);
        let requests = [
            HttpRequest::form_post(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]),
            HttpRequest::form_post(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ]),
            HttpRequest::form_post(&[("grant_type", "client_credentials")]),
        ];
        for req in requests {
            let r = h
                .engine
                .token(&req.with_header("Authorization", &auth))
                .await;
            assert_eq!((r.status, error_code(&r).as_str()), (status, code_name));
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains("fire") && !body.contains("refused"),
                "internal cause leaked: {body}"
            );
        }
        let r = h
            .engine
            .introspect(
                &HttpRequest::form_post(&[("token", &at)]).with_header("Authorization", &auth),
            )
            .await;
        assert_eq!(
            r.status, status,
            "introspection must not claim active:false on failure"
        );
        let r = h
            .engine
            .revoke(&HttpRequest::form_post(&[("token", &rt)]).with_header("Authorization", &auth))
            .await;
        assert_eq!(r.status, status, "revocation is never 200 on failure");
        let req = h.authorize_request(
            &h.app.client.id,
            &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
        );
        match h.engine.authorize(&req, Some(&alice()), BINDING).await {
            AuthorizeOutcome::ShowError(e) => assert_eq!(e.code(), code_name),
            other => panic!("{other:?}"),
        }
        assert!(h
            .engine
            .verify_bearer(
                &HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at}")),
                Audience::AnyResource,
                &[]
            )
            .await
            .is_err());
        assert!(h.engine.connected_apps("alice").await.is_err());
    }
    store.set(0);
    // Nothing changed while storage was down: the code and tokens still work.
    assert!(h.active(&at).await);
    assert_eq!(h.exchange(&code).await.status, 200);
    assert_eq!(h.refresh(&rt, &[]).await.status, 200);
}

/// Consent is one atomic step: when recording the approval fails, the
/// challenge is not used up, and the user's retry of the same decision
/// succeeds instead of forcing them to start over.
#[tokio::test]
async fn failed_approval_leaves_the_challenge_usable() {
    let store = Arc::new(Faulty::default());
    let h = harness_on(store.clone()).await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    let challenge = match h.engine.authorize(&req, Some(&alice()), BINDING).await {
        AuthorizeOutcome::ConsentRequired(p) => p.challenge.expose().to_owned(),
        other => panic!("{other:?}"),
    };
    store.set(3);
    match h
        .engine
        .accept(&challenge, BINDING, &alice(), Default::default())
        .await
    {
        AuthorizeOutcome::ShowError(e) => assert_eq!(e.code(), "temporarily_unavailable"),
        other => panic!("{other:?}"),
    }
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());
    store.set(0);
    match h
        .engine
        .accept(&challenge, BINDING, &alice(), Default::default())
        .await
    {
        AuthorizeOutcome::Redirect(url) => assert!(url.contains("code="), "{url}"),
        other => panic!("{other:?}"),
    }
}
