//! Refresh: rotation, reuse detection, coalescing, narrowing (OAuth 2.1
//! §4.3, RFC 9700 §4.14.2).

mod common;

use std::sync::Arc;

use common::*;
use latchkey::model::{EventKind, RevocationReason};

#[tokio::test]
async fn refresh_rotates_and_old_token_reuse_revokes_the_family() {
    let h = harness().await;
    let (at0, rt0) = h.tokens("profile:read dns:read").await;
    let r1 = h.refresh(&rt0, &[]).await.json_body();
    let (at1, rt1) = (
        r1["access_token"].as_str().unwrap(),
        r1["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(rt1, rt0);
    assert!(
        h.active(&at0).await,
        "old access tokens live until they expire"
    );
    assert!(
        !h.active(&rt0).await,
        "a rotated-out refresh token is inactive"
    );
    // Use the successor: the grace window for rt0 ends.
    let r2 = h.refresh(rt1, &[]).await.json_body();
    let rt2 = r2["refresh_token"].as_str().unwrap();
    let reuse = h.refresh(&rt0, &[]).await;
    assert_eq!(error_code(&reuse), "invalid_grant");
    assert!(reuse.json_body()["error_description"]
        .as_str()
        .unwrap()
        .contains("reuse"));
    for t in [at1, rt2, r2["access_token"].as_str().unwrap()] {
        assert!(
            !h.active(t).await,
            "reuse revokes every token of the family"
        );
    }
    assert_eq!(
        error_code(&h.refresh(rt2, &[]).await),
        "invalid_grant",
        "revocation is sticky"
    );
    let events = h.engine.poll_events("t", 100).await.unwrap();
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::FamilyRevoked {
            reason: RevocationReason::RefreshReuse,
            ..
        }
    )));
}

#[tokio::test]
async fn retry_within_grace_gets_the_byte_identical_successor() {
    let h = harness().await;
    let (_, rt0) = h.tokens("profile:read").await;
    let first = h.refresh(&rt0, &[]).await;
    h.clock.advance(29);
    let retry = h.refresh(&rt0, &[]).await;
    assert_eq!(retry.status, 200);
    let (a, b) = (first.json_body(), retry.json_body());
    assert_eq!(a["access_token"], b["access_token"]);
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    assert_eq!(b["expires_in"], 900 - 29, "expires_in stays truthful");
    assert!(
        h.active(a["refresh_token"].as_str().unwrap()).await,
        "the family lives"
    );
    // Past the window, the same retry is reuse.
    h.clock.advance(1);
    assert_eq!(error_code(&h.refresh(&rt0, &[]).await), "invalid_grant");
    assert!(!h.active(a["access_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn thirty_two_concurrent_refreshes_get_one_successor() {
    let h = Arc::new(harness().await);
    let (_, rt0) = h.tokens("profile:read").await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let h = h.clone();
        let rt = rt0.clone();
        tasks.push(tokio::spawn(async move { h.refresh(&rt, &[]).await }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        bodies.push((j["access_token"].clone(), j["refresh_token"].clone()));
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "all answers identical"
    );
    assert!(h.active(bodies[0].1.as_str().unwrap()).await);
}

#[tokio::test]
async fn revoke_racing_refresh_leaves_nothing_alive() {
    let h = Arc::new(harness().await);
    for _ in 0..10 {
        let (at0, rt0) = h.tokens("profile:read").await;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (h, rt) = (h.clone(), rt0.clone());
            tasks.push(tokio::spawn(async move { Some(h.refresh(&rt, &[]).await) }));
        }
        let (h2, rt) = (h.clone(), rt0.clone());
        tasks.push(tokio::spawn(async move {
            let req = latchkey::http::HttpRequest::form_post(&[("token", &rt)])
                .with_header("Authorization", &h2.app_auth());
            assert_eq!(h2.engine.revoke(&req).await.status, 200);
            None
        }));
        let mut issued = vec![at0, rt0];
        for t in tasks {
            if let Some(r) = t.await.unwrap() {
                if r.status == 200 {
                    let j = r.json_body();
                    issued.push(j["access_token"].as_str().unwrap().to_owned());
                    issued.push(j["refresh_token"].as_str().unwrap().to_owned());
                }
            }
        }
        for t in &issued {
            assert!(!h.active(t).await, "a token survived revocation");
        }
    }
}

#[tokio::test]
async fn refresh_may_narrow_but_never_widen() {
    let h = harness().await;
    let (_, rt) = h.tokens("profile:read dns:read").await;
    let r = h.refresh(&rt, &[("scope", "dns:read")]).await.json_body();
    assert_eq!(r["scope"], "dns:read");
    let rt = r["refresh_token"].as_str().unwrap().to_owned();
    // The family keeps the original grant: a later refresh may return to it.
    let r = h
        .refresh(&rt, &[("scope", "profile:read dns:read")])
        .await
        .json_body();
    assert_eq!(r["scope"], "dns:read profile:read");
    let rt = r["refresh_token"].as_str().unwrap().to_owned();
    let wide = h.refresh(&rt, &[("scope", "dns:edit")]).await;
    assert_eq!(error_code(&wide), "invalid_scope");
    assert!(
        h.active(&rt).await,
        "a refused widening does not burn the token"
    );
    let r = h
        .refresh(&rt, &[("resource", "https://other.example/")])
        .await;
    assert_eq!(error_code(&r), "invalid_target");
}

#[tokio::test]
async fn refresh_tokens_expire_and_are_bound_to_their_client() {
    let h = harness().await;
    let (_, rt) = h.tokens("profile:read").await;
    let other = h
        .engine
        .register_client(
            &operator(),
            latchkey::clients::ClientRegistration {
                owner: "acme".into(),
                name: "Other".into(),
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec!["profile:read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let req = latchkey::http::HttpRequest::form_post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
    ])
    .with_header(
        "Authorization",
        &basic(&other.client.id, other.secret.unwrap().expose()),
    );
    assert_eq!(error_code(&h.engine.token(&req).await), "invalid_grant");
    assert!(h.active(&rt).await, "another client's attempt is not reuse");
    h.clock.advance(30 * 86_400);
    assert_eq!(error_code(&h.refresh(&rt, &[]).await), "invalid_grant");
}

/// Reuse detection needs the family: once an expired family is purged, a
/// rotated-out token of it is just unknown (`invalid_grant`) and writes no
/// revocation event, while before the purge the same reuse still revokes.
/// The engine_memory fuzz target's model had this wrong.
#[tokio::test]
async fn reuse_after_the_family_is_purged_is_unknown_and_writes_no_event() {
    let h = harness().await;
    let (_, rt0) = h.tokens("profile:read").await;
    let r1 = h.refresh(&rt0, &[]).await.json_body();
    assert!(r1["refresh_token"].is_string());
    h.clock.advance(60 * 86_400);
    h.engine.purge_expired(1_000).await.unwrap();
    let seen = drain(&h).await;
    let reuse = h.refresh(&rt0, &[]).await;
    assert_eq!(error_code(&reuse), "invalid_grant");
    let events = drain(&h).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::FamilyRevoked { .. })),
        "a purged family cannot be revoked again: {events:?}"
    );
    assert!(!seen.is_empty(), "the consent's events were there to drain");

    // Expired but not purged: the reuse still revokes the family.
    let (_, rt0) = h.tokens("profile:read").await;
    assert!(h.refresh(&rt0, &[]).await.json_body()["refresh_token"].is_string());
    h.clock.advance(60 * 86_400);
    assert_eq!(error_code(&h.refresh(&rt0, &[]).await), "invalid_grant");
    let events = drain(&h).await;
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::FamilyRevoked {
            reason: RevocationReason::RefreshReuse,
            ..
        }
    )));
}

/// Every unacknowledged event of consumer `t`, acknowledged.
async fn drain(h: &Harness) -> Vec<latchkey::model::Event> {
    let events = h.engine.poll_events("t", 1_000).await.unwrap();
    if let Some(last) = events.last() {
        h.engine.ack_events("t", last.seq).await.unwrap();
    }
    events
}
