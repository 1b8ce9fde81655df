//! The OAuth router (feature `axum`) driven like a browser and a client:
//! in process through `oneshot`, and over a real loopback socket. The
//! scenarios are `common/router_suite.rs`, shared with actix-web.

#[path = "common/axum_app.rs"]
mod axum_app;
mod common;
#[path = "common/router_suite.rs"]
mod suite;

use std::sync::Arc;

use axum::Router;
use latchkey::axum::OAuthRouter;
use latchkey::web::{SessionConfig, Sessions};

use axum_app::{app, app_with, InProcess};
use common::{harness, ISSUER};
use suite::{Socket, TestUsers};

async fn serve(app: Router) -> Socket {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Socket(addr)
}

#[tokio::test]
async fn complete_code_flow_in_process() {
    let h = harness().await;
    suite::complete_code_flow(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn complete_code_flow_over_a_real_socket() {
    let h = harness().await;
    let t = serve(app(&h)).await;
    suite::complete_code_flow(&t, &h).await;
    suite::server_metadata_is_served(&t).await;
}

#[tokio::test]
async fn consent_without_or_with_a_wrong_csrf_token_is_refused() {
    let h = harness().await;
    let t = InProcess(app(&h));
    suite::consent_without_or_with_a_wrong_csrf_token_is_refused(&t, &h).await;
}

#[tokio::test]
async fn a_consent_token_decides_only_its_own_challenge() {
    let h = harness().await;
    let t = InProcess(app(&h));
    suite::a_consent_token_decides_only_its_own_challenge(&t, &h).await;
}

#[tokio::test]
async fn a_forged_next_is_not_followed() {
    let h = harness().await;
    suite::a_forged_next_is_not_followed(&InProcess(app(&h))).await;
}

#[tokio::test]
async fn a_challenge_cannot_be_completed_by_another_browser() {
    let h = harness().await;
    let t = InProcess(app(&h));
    suite::a_challenge_cannot_be_completed_by_another_browser(&t, &h).await;
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let h = harness().await;
    suite::deny_redirects_with_access_denied(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn switch_account_keeps_the_request() {
    let h = harness().await;
    suite::switch_account_keeps_the_request(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn an_oversized_body_is_the_engines_json_413() {
    let h = harness().await;
    suite::an_oversized_body_is_the_engines_json_413(&InProcess(app(&h))).await;
    suite::an_oversized_body_is_the_engines_json_413(&serve(app(&h)).await).await;
}

#[tokio::test]
async fn an_undeclared_oversized_body_is_the_engines_json_413() {
    let h = harness().await;
    suite::an_undeclared_oversized_body_is_the_engines_json_413(&serve(app(&h)).await).await;
}

#[tokio::test]
async fn a_wrong_method_is_the_engines_json_405() {
    let h = harness().await;
    suite::a_wrong_method_is_the_engines_json_405(&InProcess(app(&h))).await;
}

#[tokio::test]
async fn both_well_known_documents_are_served() {
    let h = harness().await;
    suite::both_well_known_documents_are_served(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn a_signed_out_decision_is_refused() {
    let h = harness().await;
    suite::a_signed_out_decision_is_refused(&InProcess(app(&h)), &h).await;
}

#[cfg(feature = "ui")]
#[tokio::test]
async fn ready_pages_with_partial_approval() {
    use latchkey::ui::UiPages;
    let h = harness().await;
    let pages = UiPages {
        partial_approval: true,
        ..UiPages::default()
    };
    suite::ready_pages_with_partial_approval(&InProcess(app_with(&h, pages)), &h).await;
}

#[tokio::test]
async fn dynamic_registration_is_served() {
    let h = common::harness_with_registration().await;
    suite::dynamic_registration_is_served(&InProcess(app(&h))).await;
}

#[tokio::test]
async fn device_flow_through_code_entry_sign_in_and_consent() {
    let (h, tv) = common::harness_with_device_on(Arc::new(latchkey::MemoryStore::new())).await;
    suite::device_flow(&InProcess(app(&h)), &h, &tv.client.id).await;
}

#[tokio::test]
async fn rate_limits_hold_per_client_and_address() {
    let h = harness().await;
    suite::rate_limits_hold_per_client_and_address(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn cors_for_browser_clients_and_never_for_pages() {
    let h = harness().await;
    suite::cors_for_browser_clients_and_never_for_pages(&InProcess(app(&h))).await;
}

#[tokio::test]
async fn jwt_access_tokens_and_the_jwks() {
    let store = Arc::new(latchkey::MemoryStore::new());
    let h = common::harness_with_jwt_on(store, latchkey::jwt::SigningAlgorithm::EdDsa).await;
    suite::jwt_flow(&InProcess(app(&h)), &h).await;
}

#[tokio::test]
async fn cors_allowlist_echoes_only_listed_origins() {
    let h = harness().await;
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(ISSUER)));
    let app = OAuthRouter::new(h.engine.clone(), sessions, TestUsers)
        .cors(latchkey::web::Cors::Origins(vec![
            "https://spa.example".into()
        ]))
        .into_router();
    suite::cors_allowlist_echoes_only_listed_origins(&InProcess(app)).await;
}
