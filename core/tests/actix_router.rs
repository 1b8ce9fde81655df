//! The OAuth services (feature `actix-web`) driven like a browser and a
//! client: in process through `actix_web::test`, and over a real loopback
//! socket (`HttpServer`). The scenarios are `common/router_suite.rs`,
//! shared with axum.

mod common;
#[path = "common/router_suite.rs"]
mod suite;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::test::{self, TestRequest};
use actix_web::{web, App, HttpServer};
use latchkey::actix_web::OAuthService;
use latchkey::http::HttpRequest;
use latchkey::metadata::ProtectedResourceMetadata;
use latchkey::web::{SessionConfig, Sessions};

use common::{harness, Harness, API, ISSUER};
use suite::{login, Answer, Socket, TestUsers, Transport};

/// The app's routes, as a `configure` function: the test builds the app
/// once in process, and `HttpServer` once per worker.
fn app(h: &Harness) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    app_with(h, latchkey::web::flow::PlainPages)
}

fn app_with(
    h: &Harness,
    pages: impl latchkey::web::flow::Pages,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(ISSUER)));
    let scopes = ["profile:read"];
    let resource = ProtectedResourceMetadata::new(API, h.engine.config(), &scopes);
    let oauth = OAuthService::new(h.engine.clone(), sessions.clone(), TestUsers)
        .protected_resource(resource)
        .pages(pages);
    move |cfg: &mut web::ServiceConfig| {
        let s = sessions.clone();
        cfg.service(oauth.clone())
            .service(web::resource("/login").to(move |req: HttpRequest| login(s.clone(), req)));
    }
}

type Call = dyn Fn(TestRequest) -> Pin<Box<dyn Future<Output = Answer>>>;

/// The app as an in-process service (`actix_web::test::init_service`).
/// Held as a closure because the service's type cannot be named.
struct InProcess(Box<Call>);

async fn in_process(
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> InProcess {
    let service = Rc::new(test::init_service(App::new().configure(configure)).await);
    InProcess(Box::new(move |req: TestRequest| {
        let service = service.clone();
        Box::pin(async move {
            let r = test::call_service(&*service, req.to_request()).await;
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            let body = test::read_body(r).await;
            Answer {
                status,
                headers,
                body: String::from_utf8(body.to_vec()).unwrap(),
            }
        })
    }))
}

impl Transport for InProcess {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri);
        for (k, v) in headers {
            if k == suite::PEER {
                let addr = std::net::SocketAddr::new(v.parse().unwrap(), 40000);
                req = req.peer_addr(addr);
                continue;
            }
            req = req.append_header((k.as_str(), v.as_str()));
        }
        (self.0)(req.set_payload(body)).await
    }
}

/// The app behind `HttpServer` on 127.0.0.1:0, one worker.
fn serve(configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static) -> Socket {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);
    Socket(addr)
}

#[actix_web::test]
async fn complete_code_flow_in_process() {
    let h = harness().await;
    suite::complete_code_flow(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn complete_code_flow_over_a_real_socket() {
    let h = harness().await;
    let t = serve(app(&h));
    suite::complete_code_flow(&t, &h).await;
    suite::server_metadata_is_served(&t).await;
}

#[actix_web::test]
async fn consent_without_or_with_a_wrong_csrf_token_is_refused() {
    let h = harness().await;
    let t = in_process(app(&h)).await;
    suite::consent_without_or_with_a_wrong_csrf_token_is_refused(&t, &h).await;
}

#[actix_web::test]
async fn a_consent_token_decides_only_its_own_challenge() {
    let h = harness().await;
    let t = in_process(app(&h)).await;
    suite::a_consent_token_decides_only_its_own_challenge(&t, &h).await;
}

#[actix_web::test]
async fn a_forged_next_is_not_followed() {
    let h = harness().await;
    suite::a_forged_next_is_not_followed(&in_process(app(&h)).await).await;
}

#[actix_web::test]
async fn a_challenge_cannot_be_completed_by_another_browser() {
    let h = harness().await;
    let t = in_process(app(&h)).await;
    suite::a_challenge_cannot_be_completed_by_another_browser(&t, &h).await;
}

#[actix_web::test]
async fn deny_redirects_with_access_denied() {
    let h = harness().await;
    suite::deny_redirects_with_access_denied(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn switch_account_keeps_the_request() {
    let h = harness().await;
    suite::switch_account_keeps_the_request(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn an_oversized_body_is_the_engines_json_413() {
    let h = harness().await;
    suite::an_oversized_body_is_the_engines_json_413(&in_process(app(&h)).await).await;
    suite::an_oversized_body_is_the_engines_json_413(&serve(app(&h))).await;
}

#[actix_web::test]
async fn an_undeclared_oversized_body_is_the_engines_json_413() {
    let h = harness().await;
    suite::an_undeclared_oversized_body_is_the_engines_json_413(&serve(app(&h))).await;
}

#[actix_web::test]
async fn a_wrong_method_is_the_engines_json_405() {
    let h = harness().await;
    suite::a_wrong_method_is_the_engines_json_405(&in_process(app(&h)).await).await;
}

#[actix_web::test]
async fn both_well_known_documents_are_served() {
    let h = harness().await;
    suite::both_well_known_documents_are_served(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn a_signed_out_decision_is_refused() {
    let h = harness().await;
    suite::a_signed_out_decision_is_refused(&in_process(app(&h)).await, &h).await;
}

#[cfg(feature = "ui")]
#[actix_web::test]
async fn ready_pages_with_partial_approval() {
    use latchkey::ui::UiPages;
    let h = harness().await;
    let pages = UiPages {
        partial_approval: true,
        ..UiPages::default()
    };
    let t = in_process(app_with(&h, pages)).await;
    suite::ready_pages_with_partial_approval(&t, &h).await;
}

#[actix_web::test]
async fn dynamic_registration_is_served() {
    let h = common::harness_with_registration().await;
    suite::dynamic_registration_is_served(&in_process(app(&h)).await).await;
}

#[actix_web::test]
async fn device_flow_through_code_entry_sign_in_and_consent() {
    let (h, tv) = common::harness_with_device_on(Arc::new(latchkey::MemoryStore::new())).await;
    suite::device_flow(&in_process(app(&h)).await, &h, &tv.client.id).await;
}

#[actix_web::test]
async fn rate_limits_hold_per_client_and_address() {
    let h = harness().await;
    suite::rate_limits_hold_per_client_and_address(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn cors_for_browser_clients_and_never_for_pages() {
    let h = harness().await;
    suite::cors_for_browser_clients_and_never_for_pages(&in_process(app(&h)).await).await;
}

#[actix_web::test]
async fn jwt_access_tokens_and_the_jwks() {
    let store = Arc::new(latchkey::MemoryStore::new());
    let h = common::harness_with_jwt_on(store, latchkey::jwt::SigningAlgorithm::Es256).await;
    suite::jwt_flow(&in_process(app(&h)).await, &h).await;
}

#[actix_web::test]
async fn cors_allowlist_echoes_only_listed_origins() {
    let h = harness().await;
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(ISSUER)));
    let oauth = OAuthService::new(h.engine.clone(), sessions, TestUsers).cors(
        latchkey::web::Cors::Origins(vec!["https://spa.example".into()]),
    );
    let configure = move |cfg: &mut web::ServiceConfig| {
        cfg.service(oauth.clone());
    };
    suite::cors_allowlist_echoes_only_listed_origins(&in_process(configure).await).await;
}
