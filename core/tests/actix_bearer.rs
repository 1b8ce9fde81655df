//! The bearer guard (feature `actix-web`), as middleware and as an
//! extractor: RFC 6750 challenges with `resource_metadata` (RFC 9728 §5.1),
//! explicit audience (RFC 8707) and `insufficient_scope` naming the needed
//! scope. The twin of `axum_bearer.rs`.

mod common;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::test::{self, TestRequest};
use actix_web::{web, App};
use latchkey::actix_web::{Bearer, BearerGuard};
use latchkey::introspect::TokenInfo;

use common::{harness, API};

const METADATA: &str = "https://api.example/.well-known/oauth-protected-resource";

struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

/// `GET /me` with `auth` as `Authorization` headers, through each way of
/// guarding a route: the middleware, then the extractor finding the guard
/// as plain app data, then as `web::Data`.
async fn answers(guard: &BearerGuard, auth: &[&str]) -> Vec<Answer> {
    let wrapped = App::new().service(
        web::resource("/me")
            .wrap(guard.clone())
            .to(|info: web::ReqData<TokenInfo>| async move { info.sub.clone() }),
    );
    let extracted = App::new().app_data(guard.clone()).route(
        "/me",
        web::get().to(|Bearer(info): Bearer| async move { info.sub }),
    );
    let in_data = App::new().app_data(web::Data::new(guard.clone())).route(
        "/me",
        web::get().to(|Bearer(info): Bearer| async move { info.sub }),
    );
    vec![
        call(wrapped, auth).await,
        call(extracted, auth).await,
        call(in_data, auth).await,
    ]
}

async fn call<T, B>(app: App<T>, auth: &[&str]) -> Answer
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    T::Future: 'static,
    B: MessageBody + 'static,
{
    let app = test::init_service(app).await;
    let mut req = TestRequest::get().uri("/me");
    for a in auth {
        req = req.append_header(("authorization", *a));
    }
    let r = test::call_service(&app, req.to_request()).await;
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = test::read_body(r).await;
    Answer {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[actix_web::test]
async fn a_valid_token_for_this_resource_passes() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for a in answers(&guard, &[&format!("Bearer {at}")]).await {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body, "alice");
    }
}

#[actix_web::test]
async fn no_token_is_401_naming_the_resource_metadata() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for a in answers(&guard, &[]).await {
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

#[actix_web::test]
async fn a_bad_token_is_401_invalid_token() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    for a in answers(&guard, &["Bearer not-a-token"]).await {
        assert_eq!(a.status, 401);
        assert!(a.challenge.contains("error=\"invalid_token\""));
        assert!(a.challenge.contains("resource_metadata="));
    }
}

#[actix_web::test]
async fn two_authorization_headers_are_a_malformed_request() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"]);
    let bearer = format!("Bearer {at}");
    for a in answers(&guard, &[&bearer, &bearer]).await {
        assert_eq!(a.status, 400);
        assert!(a.challenge.contains("error=\"invalid_request\""));
    }
}

#[actix_web::test]
async fn a_token_for_another_audience_is_refused() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, "https://other.example/", &["profile:read"]);
    for a in answers(&guard, &[&format!("Bearer {at}")]).await {
        assert_eq!(a.status, 401);
        assert!(a.challenge.contains("error=\"invalid_token\""));
        assert!(a.challenge.contains(
            "resource_metadata=\"https://other.example/.well-known/oauth-protected-resource\""
        ));
    }
}

#[actix_web::test]
async fn a_missing_scope_is_403_naming_the_scope_needed() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let guard = BearerGuard::new(&h.engine, API, &["dns:read"]);
    for a in answers(&guard, &[&format!("Bearer {at}")]).await {
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

#[actix_web::test]
async fn an_explicit_metadata_url_is_named() {
    let h = harness().await;
    let guard = BearerGuard::new(&h.engine, API, &["profile:read"])
        .with_metadata_url("https://auth.example/.well-known/oauth-protected-resource/api");
    let a = &answers(&guard, &[]).await[0];
    assert!(a.challenge.contains(
        "resource_metadata=\"https://auth.example/.well-known/oauth-protected-resource/api\""
    ));
}

/// The extractor without a guard in the app data is a wiring mistake: it
/// must fail closed, never run the handler.
#[actix_web::test]
async fn the_extractor_without_a_guard_fails_closed() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let app = App::new().route(
        "/me",
        web::get().to(|Bearer(info): Bearer| async move { info.sub }),
    );
    let a = call(app, &[&format!("Bearer {at}")]).await;
    assert_eq!(a.status, 500);
    assert!(!a.body.contains("alice"));
}
