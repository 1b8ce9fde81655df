//! The OAuth router (feature `axum`) driven like a browser and a client:
//! in process through `oneshot`, and over a real loopback socket. The
//! scenarios are `common/router_suite.rs`, shared with actix-web.

mod common;
#[path = "common/router_suite.rs"]
mod suite;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use axum::Router;
use latchkey::axum::OAuthRouter;
use latchkey::http::HttpRequest;
use latchkey::metadata::ProtectedResourceMetadata;
use latchkey::web::{SessionConfig, Sessions};
use tower::ServiceExt;

use common::{harness, Harness, API, ISSUER};
use suite::{login, Answer, Socket, TestUsers, Transport};

fn app(h: &Harness) -> Router {
    app_with(h, latchkey::web::flow::PlainPages)
}

fn app_with(h: &Harness, pages: impl latchkey::web::flow::Pages) -> Router {
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(ISSUER)));
    let scopes = ["profile:read"];
    let resource = ProtectedResourceMetadata::new(API, h.engine.config(), &scopes);
    let s = sessions.clone();
    OAuthRouter::new(h.engine.clone(), sessions, TestUsers)
        .protected_resource(resource)
        .pages(pages)
        .into_router()
        .route("/login", any(move |req: HttpRequest| login(s.clone(), req)))
}

/// The router called directly, through `oneshot`.
struct InProcess(Router);

impl Transport for InProcess {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            if k == suite::PEER {
                // What `into_make_service_with_connect_info` would insert.
                let addr = std::net::SocketAddr::new(v.parse().unwrap(), 40000);
                req = req.extension(axum::extract::ConnectInfo(addr));
                continue;
            }
            req = req.header(k, v);
        }
        let r = self
            .0
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }
}

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

/// Everything logged during a whole flow (sign-in, consent, code exchange,
/// introspection), at the most verbose level, with every span's fields:
/// not one token, code, challenge, secret or verifier.
#[tokio::test]
async fn no_secret_reaches_the_logs() {
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let h = harness().await;
    suite::complete_code_flow(&InProcess(app(&h)), &h).await;
    // A failed client authentication and a wrong secret are logged too.
    let wrong = common::basic(&h.app.client.id, "not-the-secret-at-all");
    let r = h
        .engine
        .introspect(
            &HttpRequest::form_post(&[("token", "lk_at_x")]).with_header("Authorization", &wrong),
        )
        .await;
    assert_eq!(r.status, 401);
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("latchkey.request"),
        "the spans were recorded:\n{logs}"
    );
    assert!(logs.contains("security signal"), "{logs}");
    let secret = h.app.secret.as_ref().unwrap().expose().to_owned();
    for needle in [
        "lk_at_",
        "lk_rt_",
        "lk_ac_",
        "lk_cc_",
        "lk_cs_",
        common::VERIFIER,
        secret.as_str(),
        "not-the-secret-at-all",
    ] {
        assert!(!logs.contains(needle), "{needle} in the logs:\n{logs}");
    }
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
