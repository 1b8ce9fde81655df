//! Storage failures: every endpoint answers `temporarily_unavailable` or
//! `server_error`, never a false success, never a panic, and nothing is
//! half-done. The fault-injecting store is `common::faulty::Faulty`.

mod common;

use std::sync::Arc;

use common::faulty::Faulty;
use common::*;
use latchkey::http::HttpRequest;
use latchkey::introspect::Audience;
use latchkey::AuthorizeOutcome;

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
        .accept(
            &challenge,
            BINDING,
            &alice(),
            Default::default(),
            &latchkey::Source::default(),
        )
        .await
    {
        AuthorizeOutcome::ShowError(e) => assert_eq!(e.code(), "temporarily_unavailable"),
        other => panic!("{other:?}"),
    }
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());
    store.set(0);
    match h
        .engine
        .accept(
            &challenge,
            BINDING,
            &alice(),
            Default::default(),
            &latchkey::Source::default(),
        )
        .await
    {
        AuthorizeOutcome::Redirect(url) => assert!(url.contains("code="), "{url}"),
        other => panic!("{other:?}"),
    }
}

/// Sessions on the engine's storage report a storage outage as
/// `Unavailable` (503: retrying later may work) and a broken store as a
/// backend failure, never as "no session".
#[tokio::test]
async fn storage_sessions_report_failures_honestly() {
    use latchkey::web::{SessionConfig, SessionError, Sessions, StorageSessionStore};
    let store = Arc::new(Faulty::default());
    let sessions = Sessions::new(
        Arc::new(StorageSessionStore::new(store.clone())),
        SessionConfig::for_issuer("https://auth.example"),
    );
    let (anon, _) = sessions
        .load_or_create_from_header(None)
        .await
        .expect("healthy");
    // Only a signed-in session is stored (an anonymous one is in its cookie).
    let (s, _) = sessions.sign_in(&anon, "alice").await.expect("healthy");
    let cookie = sessions.cookie_header(&s);
    store.set(1);
    let e = sessions
        .load_from_header(Some(&cookie))
        .await
        .expect_err("unavailable");
    assert!(matches!(e, SessionError::Unavailable(_)), "{e:?}");
    assert!(matches!(
        latchkey::Error::from(e),
        latchkey::Error::TemporarilyUnavailable(_)
    ));
    store.set(2);
    let e = sessions.sign_in(&s, "alice").await.expect_err("broken");
    assert!(matches!(e, SessionError::Backend(_)), "{e:?}");
    store.set(0);
    assert!(
        sessions
            .load_from_header(Some(&cookie))
            .await
            .expect("healthy again")
            .is_some(),
        "a failed sign-in changed nothing"
    );
}
