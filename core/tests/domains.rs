//! Domain verification through the engine with an in-process verifier:
//! the write path's guarantees (storage failures change nothing and say
//! so; a challenge restarted during a check is not confirmed).

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use latchkey::domains::{
    DomainCheckError, DomainVerifier, Failure, Found, Method, RecheckPolicy, VerifyError,
};
use latchkey::model::DomainState;
use latchkey::ManageError;

use common::faulty::Faulty;
use common::{engine_on, harness_with};

/// Finds exactly the values it was told are published.
#[derive(Default)]
struct Published(Mutex<Vec<String>>);

#[async_trait]
impl DomainVerifier for Published {
    async fn check(&self, _domain: &str, challenge: &str) -> Result<Found, VerifyError> {
        if self.0.lock().unwrap().iter().any(|v| v == challenge) {
            Ok(Found {
                method: Method::DnsTxt,
            })
        } else {
            Err(VerifyError::one(Method::DnsTxt, Failure::NotPublished))
        }
    }
}

#[tokio::test]
async fn storage_failures_are_reported_and_change_nothing() {
    let store = Arc::new(Faulty::default());
    let (engine, clock) = engine_on(store.clone());
    let h = harness_with(engine, clock).await;
    let id = h.app.client.id.clone();
    let v = Published::default();
    let d = h
        .engine
        .start_domain_verification(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
        )
        .await
        .unwrap();
    v.0.lock().unwrap().push(d.challenge.clone());
    let before = h.engine.get_client(&id).await.unwrap();

    store.set(1);
    let e = h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
            &v,
        )
        .await;
    assert!(
        matches!(
            e,
            Err(DomainCheckError::Manage(ManageError::Unavailable(_)))
        ),
        "{e:?}"
    );
    store.set(2);
    let e = h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
            &v,
        )
        .await;
    assert!(
        matches!(e, Err(DomainCheckError::Manage(ManageError::Internal(_)))),
        "{e:?}"
    );
    let e = h
        .engine
        .recheck_due_domains(&v, &RecheckPolicy::default(), 10)
        .await;
    assert!(matches!(e, Err(ManageError::Internal(_))), "{e:?}");
    store.set(0);
    assert_eq!(h.engine.get_client(&id).await.unwrap(), before);

    // Verified, then re-checks fail on storage: still verified, unchanged.
    h.engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
            &v,
        )
        .await
        .unwrap();
    let verified = h.engine.get_client(&id).await.unwrap();
    v.0.lock().unwrap().clear();
    h.clock.advance(RecheckPolicy::default().interval);
    store.set(1);
    let e = h
        .engine
        .recheck_due_domains(&v, &RecheckPolicy::default(), 10)
        .await;
    assert!(matches!(e, Err(ManageError::Unavailable(_))), "{e:?}");
    store.set(0);
    assert_eq!(h.engine.get_client(&id).await.unwrap(), verified);
}

/// Restarts the verification while "looking", as a concurrent request of
/// the developer would.
struct Restarting {
    engine: latchkey::Engine<latchkey::MemoryStore>,
    id: String,
}

#[async_trait]
impl DomainVerifier for Restarting {
    async fn check(&self, domain: &str, _challenge: &str) -> Result<Found, VerifyError> {
        self.engine
            .start_domain_verification(
                &latchkey::Acting::operator("tests", latchkey::Source::default()),
                &self.id,
                domain,
            )
            .await
            .unwrap();
        Ok(Found {
            method: Method::DnsTxt,
        })
    }
}

#[tokio::test]
async fn a_challenge_replaced_during_the_check_is_not_confirmed() {
    let h = common::harness().await;
    let id = h.app.client.id.clone();
    h.engine
        .start_domain_verification(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
        )
        .await
        .unwrap();
    let v = Restarting {
        engine: h.engine.clone(),
        id: id.clone(),
    };
    let e = h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            "app.example",
            &v,
        )
        .await;
    assert!(
        matches!(
            e,
            Err(DomainCheckError::Manage(ManageError::InvalidMetadata(_)))
        ),
        "{e:?}"
    );
    let c = h.engine.get_client(&id).await.unwrap();
    assert!(matches!(c.domains[0].state, DomainState::Pending { .. }));
}

#[tokio::test]
async fn ip_literals_cannot_be_claimed() {
    let h = common::harness().await;
    let id = h.app.client.id.clone();
    for bad in ["127.0.0.1", "10.0.0.1", "[::1]", "localhost"] {
        assert!(matches!(
            h.engine
                .start_domain_verification(
                    &latchkey::Acting::operator("tests", latchkey::Source::default()),
                    &id,
                    bad
                )
                .await,
            Err(ManageError::InvalidMetadata(_))
        ));
    }
}
