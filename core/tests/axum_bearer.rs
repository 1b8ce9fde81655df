//! The bearer guard (feature `axum`), as a layer and as an extractor:
//! RFC 6750 challenges with `resource_metadata` (RFC 9728 §5.1), explicit
//! audience (RFC 8707) and `insufficient_scope` naming the needed scope.

mod common;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use axum::{Extension, Router};
use latchkey::axum::{Bearer, BearerGuard};
use latchkey::introspect::TokenInfo;
use tower::ServiceExt;

use common::{harness, API};

const METADATA: &str = "https://api.example/.well-known/oauth-protected-resource";

fn apps(guard: &BearerGuard) -> [Router; 2] {
    let layered = Router::new().route(
        "/me",
        get(|Extension(info): Extension<TokenInfo>| async move { info.sub })
            .route_layer(guard.clone()),
    );
    let extracted = Router::new()
        .route("/me", get(|Bearer(info): Bearer| async move { info.sub }))
        .with_state(guard.clone());
    [layered, extracted]
}

struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

async fn call(app: &Router, auth: &[&str]) -> Answer {
    let mut req = Request::builder().uri("/me");
    for a in auth {
        req = req.header("authorization", *a);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    Answer {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn a_valid_token_for_this_resource_passes() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for app in apps(&guard) {
        let a = call(&app, &[&format!("Bearer {at}")]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body, "alice");
    }
}

#[tokio::test]
async fn no_token_is_401_naming_the_resource_metadata() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for app in apps(&guard) {
        let a = call(&app, &[]).await;
        assert_eq!(a.status, 401);
        assert!(a.challenge.starts_with("Bearer "), "{}", a.challenge);
        assert!(
            a.challenge
                .contains(&format!("resource_metadata=\"{METADATA}\"")),
            "{}",
            a.challenge
        );
        assert!(!a.challenge.contains("error="), "RFC 6750 §3.1: no code");
    }
}

#[tokio::test]
async fn a_bad_token_is_401_invalid_token() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for app in apps(&guard) {
        let a = call(&app, &["Bearer not-a-token"]).await;
        assert_eq!(a.status, 401);
        assert!(a.challenge.contains("error=\"invalid_token\""));
        assert!(a.challenge.contains("resource_metadata="));
    }
}

#[tokio::test]
async fn two_authorization_headers_are_a_malformed_request() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    let bearer = format!("Bearer {at}");
    for app in apps(&guard) {
        let a = call(&app, &[&bearer, &bearer]).await;
        assert_eq!(a.status, 400);
        assert!(a.challenge.contains("error=\"invalid_request\""));
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, "https://other.example/", &["profile:read"]);
    for app in apps(&guard) {
        let a = call(&app, &[&format!("Bearer {at}")]).await;
        assert_eq!(a.status, 401);
        assert!(a.challenge.contains("error=\"invalid_token\""));
        assert!(a.challenge.contains(
            "resource_metadata=\"https://other.example/.well-known/oauth-protected-resource\""
        ));
    }
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_the_scope_needed() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["dns:read"]);
    for app in apps(&guard) {
        let a = call(&app, &[&format!("Bearer {at}")]).await;
        assert_eq!(a.status, 403);
        assert!(a.challenge.contains("error=\"insufficient_scope\""));
        assert!(
            a.challenge.contains("scope=\"dns:read\""),
            "{}",
            a.challenge
        );
        assert!(a.challenge.contains("resource_metadata="));
    }
}

#[tokio::test]
async fn an_explicit_metadata_url_is_named() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"])
        .with_metadata_url("https://auth.example/.well-known/oauth-protected-resource/api");
    let [app, _] = apps(&guard);
    let a = call(&app, &[]).await;
    assert!(a.challenge.contains(
        "resource_metadata=\"https://auth.example/.well-known/oauth-protected-resource/api\""
    ));
}
