//! Connected apps, dashboard revocation, the outbox and purging.

mod common;

use common::*;
use latchkey::model::EventKind;

#[tokio::test]
async fn revoking_a_grant_cuts_every_token_and_remembered_consent() {
    let h = harness().await;
    let (at1, rt1) = h.tokens("profile:read").await;
    let (at2, _) = h.tokens("dns:read").await;
    h.code_for("profile:read", true).await;
    let apps = h.engine.connected_apps("alice").await.unwrap();
    assert_eq!(apps.len(), 1, "one grant per (user, client)");
    let names: Vec<_> = apps[0].scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dns:read", "profile:read"]);
    assert!(
        h.engine
            .revoke_grant(&latchkey::Audit::system(), "bob", &apps[0].grant_id)
            .await
            .is_err(),
        "not bob's"
    );
    h.engine
        .revoke_grant(&latchkey::Audit::system(), "alice", &apps[0].grant_id)
        .await
        .unwrap();
    for t in [&at1, &rt1, &at2] {
        assert!(!h.active(t).await);
    }
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());
    // Remembered consent went with it.
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        latchkey::AuthorizeOutcome::ConsentRequired(_)
    ));
    let kinds: Vec<_> = h
        .engine
        .poll_events("t", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::GrantRevoked { subject, .. } if subject == "alice")));
}

#[tokio::test]
async fn last_used_moves_with_refresh() {
    let h = harness().await;
    let (_, rt) = h.tokens("profile:read").await;
    let before = h.engine.connected_apps("alice").await.unwrap()[0].last_used_at;
    h.clock.advance(100);
    h.refresh(&rt, &[]).await;
    let after = h.engine.connected_apps("alice").await.unwrap()[0].last_used_at;
    assert_eq!(after.0, before.0 + 100);
}

#[tokio::test]
async fn suspending_a_subject_revokes_everything_of_it() {
    let h = harness().await;
    let (at, rt) = h.tokens("profile:read").await;
    assert_eq!(
        h.engine
            .revoke_subject(&latchkey::Audit::system(), "alice")
            .await
            .unwrap(),
        1
    );
    assert!(!h.active(&at).await && !h.active(&rt).await);
    let kinds: Vec<_> = h
        .engine
        .poll_events("t", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&EventKind::SubjectRevoked {
        subject: "alice".into()
    }));
}

#[tokio::test]
async fn outbox_delivers_at_least_once_in_order() {
    let h = harness().await;
    h.tokens("profile:read").await;
    let first = h.engine.poll_events("audit", 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(matches!(first[0].kind, EventKind::ClientCreated { .. }));
    // A consumer that dies before acknowledging sees the same events again.
    assert_eq!(h.engine.poll_events("audit", 2).await.unwrap(), first);
    h.engine.ack_events("audit", first[1].seq).await.unwrap();
    let rest = h.engine.poll_events("audit", 100).await.unwrap();
    assert!(rest[0].seq > first[1].seq);
    assert!(rest
        .iter()
        .any(|e| matches!(e.kind, EventKind::ConsentGiven { .. })));
}

#[tokio::test]
async fn purge_drains_expired_records_in_batches() {
    let h = harness().await;
    for _ in 0..5 {
        h.tokens("profile:read").await;
    }
    // Nothing has expired yet.
    let r = h.engine.purge_expired(100).await.unwrap();
    assert_eq!(r.access_tokens + r.families, 0);
    h.clock.advance(31 * 86_400);
    let mut total = 0;
    loop {
        let r = h.engine.purge_expired(2).await.unwrap();
        assert!(r.access_tokens <= 2 && r.families <= 2 && r.codes <= 2);
        if r.total() == 0 {
            break;
        }
        total += r.total();
    }
    assert!(total >= 15, "5 codes, 5 access tokens, 5 families: {total}");
}
