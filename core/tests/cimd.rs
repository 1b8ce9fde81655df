//! Client ID Metadata Documents through the engine, with a fake fetcher
//! (fault injection: the one place a stand-in is used). The real fetcher
//! is tested against local HTTPS servers in `cimd_fetch.rs`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::faulty::Faulty;
use common::*;
use latchkey::cimd::{ClientMetadataFetcher, FetchError, FetchedDocument, MetadataDocumentConfig};
use latchkey::clock::ManualClock;
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::introspect::Audience;
use latchkey::model::Visibility;
use latchkey::storage::{ClientStore, Storage};
use latchkey::{
    AuthorizeOutcome, ConsentDecision, ConsentPrompt, Engine, EngineConfig, MemoryStore, ScopeSet,
};

const CLIENT: &str = "https://agent.example/oauth/client.json";
const LOOPBACK_CB: &str = "http://127.0.0.1:3000/cb";
const WEB_CB: &str = "https://agent.example/cb";

/// Serves whatever the test put in `answer`, counting fetches.
#[derive(Default)]
struct FakeFetcher {
    answer: Mutex<Option<Result<FetchedDocument, u16>>>,
    fetches: AtomicUsize,
}

impl FakeFetcher {
    fn serve(&self, body: &str, max_age: Option<u64>) {
        *self.answer.lock().unwrap() = Some(Ok(FetchedDocument {
            body: body.as_bytes().to_vec(),
            max_age,
        }));
    }
    fn fail(&self, status: u16) {
        *self.answer.lock().unwrap() = Some(Err(status));
    }
    fn count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ClientMetadataFetcher for FakeFetcher {
    async fn fetch(&self, _url: &str) -> Result<FetchedDocument, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        match self.answer.lock().unwrap().clone() {
            Some(Ok(d)) => Ok(d),
            Some(Err(s)) => Err(FetchError::Status(s)),
            None => Err(FetchError::Resolve),
        }
    }
}

fn document(redirect: &str) -> String {
    format!(
        r#"{{"client_id":"{CLIENT}","client_name":"Agent","redirect_uris":["{redirect}"],
            "grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}}"#
    )
}

struct Setup<S: Storage + ?Sized> {
    engine: Engine<S>,
    clock: Arc<ManualClock>,
    fetcher: Arc<FakeFetcher>,
}

fn setup_on<S: Storage + ?Sized>(store: Arc<S>, remember: bool) -> Setup<S> {
    let fetcher = Arc::new(FakeFetcher::default());
    let mut policy = MetadataDocumentConfig::new(
        fetcher.clone(),
        ScopeSet::parse("profile:read dns:read").unwrap(),
        vec![API.into()],
    );
    policy.remember_consent = remember;
    let mut config = EngineConfig::new(ISSUER, scopes());
    config.client_id_metadata_documents = Some(policy);
    let (engine, clock) = engine_configured(store, config);
    Setup {
        engine,
        clock,
        fetcher,
    }
}

fn setup() -> Setup<MemoryStore> {
    setup_on(Arc::new(MemoryStore::new()), false)
}

fn authorize_request(client_id: &str, redirect: &str) -> HttpRequest {
    HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "profile:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ])
}

impl<S: Storage + ?Sized> Setup<S> {
    async fn authorize(&self, redirect: &str) -> AuthorizeOutcome {
        self.engine
            .authorize(
                &authorize_request(CLIENT, redirect),
                Some(&alice()),
                BINDING,
            )
            .await
    }

    async fn approve(&self, p: &ConsentPrompt, remember: bool) -> String {
        let decision = ConsentDecision {
            scopes: None,
            remember,
        };
        match self
            .engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                decision,
                &latchkey::Source::default(),
            )
            .await
        {
            AuthorizeOutcome::Redirect(l) => l,
            other => panic!("accept gave {other:?}"),
        }
    }

    /// Authorize, approve, and the code from the redirect.
    async fn code(&self, redirect: &str) -> String {
        let location = self
            .approve(&consent(self.authorize(redirect).await), false)
            .await;
        query_param(&location, "code").unwrap()
    }

    /// Whether no URL client is stored.
    async fn stored_none(&self) -> bool {
        let owner = "client-id-metadata-document";
        self.engine.list_clients(owner).await.unwrap().is_empty()
    }

    async fn exchange(&self, code: &str, redirect: &str) -> HttpResponse {
        exchange(&self.engine, code, redirect).await
    }
}

/// The code exchange of the public URL client, with PKCE.
async fn exchange<S: Storage + ?Sized>(
    engine: &Engine<S>,
    code: &str,
    redirect: &str,
) -> HttpResponse {
    engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ]))
        .await
}

fn consent(o: AuthorizeOutcome) -> ConsentPrompt {
    match o {
        AuthorizeOutcome::ConsentRequired(p) => *p,
        other => panic!("expected the consent prompt, got {other:?}"),
    }
}

fn error_page(o: AuthorizeOutcome) -> latchkey::Error {
    match o {
        AuthorizeOutcome::ShowError(e) => e,
        other => panic!("expected an error page (never a redirect), got {other:?}"),
    }
}

#[tokio::test]
async fn metadata_advertises_support_only_when_enabled() {
    let s = setup();
    assert_eq!(
        s.engine.metadata()["client_id_metadata_document_supported"],
        true
    );
    let (plain, _) = engine_on(Arc::new(MemoryStore::new()));
    assert!(plain.metadata()["client_id_metadata_document_supported"].is_null());
}

#[tokio::test]
async fn a_url_client_is_unverified_on_consent_and_gets_tokens_with_pkce() {
    let s = setup();
    s.fetcher.serve(&document(LOOPBACK_CB), Some(600));
    let p = consent(s.authorize(LOOPBACK_CB).await);
    assert_eq!(p.client_id, CLIENT);
    assert_eq!(p.client_name, "Agent");
    assert_eq!(p.visibility, Visibility::Unvetted);
    assert!(p.verified_domains.is_empty());
    assert_eq!(p.redirect_host, "127.0.0.1");

    let stored = s.engine.get_client(CLIENT).await.unwrap();
    assert_eq!(stored.owner, "client-id-metadata-document");
    assert_eq!(stored.visibility, Visibility::Unvetted);
    assert!(stored.secret.is_none());
    assert_eq!(stored.resources, vec![API.to_owned()]);
    let fresh = stored.metadata_document.unwrap();
    assert_eq!(fresh.stale_at.0 - fresh.fetched_at.0, 600);

    let location = s.approve(&p, false).await;
    assert!(location.starts_with(LOOPBACK_CB), "{location}");
    let code = query_param(&location, "code").unwrap();
    let r = s.exchange(&code, LOOPBACK_CB).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json_body()["access_token"].is_string());

    // Without PKCE's verifier nothing is issued.
    s.fetcher.serve(&document(LOOPBACK_CB), Some(600));
    let code = s.code(LOOPBACK_CB).await;
    let r = s
        .engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", &code),
            ("redirect_uri", LOOPBACK_CB),
        ]))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn redirect_uris_come_only_from_the_document() {
    let s = setup();
    s.fetcher.serve(&document(LOOPBACK_CB), None);
    let e = error_page(s.authorize("https://evil.example/cb").await);
    assert_eq!(e.code(), "invalid_request");
}

#[tokio::test]
async fn remembered_consent_follows_the_host_policy() {
    // Default: asked every time, even after "remember".
    let s = setup();
    s.fetcher.serve(&document(WEB_CB), None);
    let p = consent(s.authorize(WEB_CB).await);
    s.approve(&p, true).await;
    consent(s.authorize(WEB_CB).await);

    // The host allows remembering: the second request redirects at once.
    let s = setup_on(Arc::new(MemoryStore::new()), true);
    s.fetcher.serve(&document(WEB_CB), None);
    let p = consent(s.authorize(WEB_CB).await);
    s.approve(&p, true).await;
    match s.authorize(WEB_CB).await {
        AuthorizeOutcome::Redirect(l) => assert!(l.starts_with(WEB_CB)),
        other => panic!("remembered consent should redirect, got {other:?}"),
    }
}

#[tokio::test]
async fn the_stored_copy_is_reused_until_stale_then_refetched() {
    let s = setup();
    s.fetcher.serve(&document(LOOPBACK_CB), Some(300));
    consent(s.authorize(LOOPBACK_CB).await);
    consent(s.authorize(LOOPBACK_CB).await);
    assert_eq!(s.fetcher.count(), 1, "a fresh copy is not fetched again");

    // The document moved its redirect URI; the change shows after expiry.
    s.fetcher.serve(&document(WEB_CB), Some(300));
    s.clock.advance(299);
    consent(s.authorize(LOOPBACK_CB).await);
    assert_eq!(s.fetcher.count(), 1);
    s.clock.advance(1);
    error_page(s.authorize(LOOPBACK_CB).await);
    assert_eq!(s.fetcher.count(), 2);
    consent(s.authorize(WEB_CB).await);
    assert_eq!(s.fetcher.count(), 2);
    assert_eq!(
        s.engine.get_client(CLIENT).await.unwrap().redirect_uris,
        vec![WEB_CB.to_owned()]
    );

    // no-store still holds for the host's minimum (60 s by default).
    s.clock.advance(300);
    s.fetcher.serve(&document(WEB_CB), Some(0));
    consent(s.authorize(WEB_CB).await);
    assert_eq!(s.fetcher.count(), 3);
    s.clock.advance(59);
    consent(s.authorize(WEB_CB).await);
    assert_eq!(s.fetcher.count(), 3);
    s.clock.advance(1);
    consent(s.authorize(WEB_CB).await);
    assert_eq!(s.fetcher.count(), 4);
}

#[tokio::test]
async fn a_failed_fetch_is_an_error_page_and_invalid_client_and_stores_nothing() {
    let s = setup();
    s.fetcher.fail(404);
    let e = error_page(s.authorize(LOOPBACK_CB).await);
    assert!(
        e.description().contains("could not be fetched") && e.description().contains("404"),
        "{e}"
    );
    let r = s.exchange("whatever", LOOPBACK_CB).await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));
    assert!(String::from_utf8_lossy(&r.body).contains("404"));
    assert!(s.stored_none().await);
}

#[tokio::test]
async fn a_stale_client_whose_document_fails_gets_no_tokens() {
    let s = setup();
    s.fetcher.serve(&document(LOOPBACK_CB), Some(60));
    let code = s.code(LOOPBACK_CB).await;
    s.clock.advance(61);
    s.fetcher.fail(500);
    let r = s.exchange(&code, LOOPBACK_CB).await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));
    // The stored copy is untouched: still stale, refetched next time.
    let c = s.engine.get_client(CLIENT).await.unwrap();
    assert_eq!(c.redirect_uris, vec![LOOPBACK_CB.to_owned()]);
    assert!(c.metadata_document.unwrap().stale_at.0 < 1_800_000_061);
}

#[tokio::test]
async fn bad_urls_and_documents_are_refused_and_change_nothing() {
    let s = setup();
    for (client_id, needle) in [
        ("https://agent.example", "path"),
        ("http://agent.example/client.json", "https"),
        ("https://agent.example/a/../client.json", ". or .."),
        ("https://u@agent.example/client.json", "username"),
    ] {
        let e = error_page(
            s.engine
                .authorize(
                    &authorize_request(client_id, LOOPBACK_CB),
                    Some(&alice()),
                    BINDING,
                )
                .await,
        );
        assert!(e.description().contains(needle), "{client_id}: {e}");
    }
    assert_eq!(s.fetcher.count(), 0, "bad URLs are never fetched");

    let other = document(LOOPBACK_CB).replace(CLIENT, "https://agent.example/other.json");
    let with_secret =
        document(LOOPBACK_CB).replace("\"client_name\"", "\"client_secret\":\"s\",\"client_name\"");
    let confidential = document(LOOPBACK_CB).replace("\"none\"", "\"client_secret_post\"");
    let key_jwt = document(LOOPBACK_CB).replace("\"none\"", "\"private_key_jwt\"");
    let bidi = document(LOOPBACK_CB).replace("\"Agent\"", "\"\u{202E}tnegA\"");
    let invisible = document(LOOPBACK_CB).replace("\"Agent\"", "\"Ag\u{200B}ent\"");
    for (body, needle) in [
        (other.as_str(), "differs"),
        (with_secret.as_str(), "client_secret"),
        (confidential.as_str(), "shared secret"),
        (key_jwt.as_str(), "private_key_jwt"),
        ("{", "JSON object"),
        (bidi.as_str(), "bidirectional control"),
        (invisible.as_str(), "invisible"),
    ] {
        s.fetcher.serve(body, None);
        let e = error_page(s.authorize(LOOPBACK_CB).await);
        assert!(e.description().contains(needle), "{needle}: {e}");
    }
    assert!(s.stored_none().await);
}

#[tokio::test]
async fn url_ids_are_unknown_clients_when_disabled() {
    // Stored while enabled, then the host turns the feature off.
    let store = Arc::new(MemoryStore::new());
    let s = setup_on(store.clone(), false);
    s.fetcher.serve(&document(LOOPBACK_CB), None);
    let code = s.code(LOOPBACK_CB).await;
    let (engine, _) = engine_on(store);
    let req = authorize_request(CLIENT, LOOPBACK_CB);
    let e = error_page(engine.authorize(&req, Some(&alice()), BINDING).await);
    assert_eq!(e.description(), "unknown client");
    let r = exchange(&engine, &code, LOOPBACK_CB).await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));
}

#[tokio::test]
async fn deleting_a_url_client_revokes_its_tokens_and_the_next_use_fetches_anew() {
    let s = setup();
    s.fetcher.serve(&document(LOOPBACK_CB), None);
    let code = s.code(LOOPBACK_CB).await;
    let r = s.exchange(&code, LOOPBACK_CB).await;
    let at = r.json_body()["access_token"].as_str().unwrap().to_owned();
    let bearer = HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at}"));
    assert!(s
        .engine
        .verify_bearer(&bearer, Audience::AnyResource, &[])
        .await
        .is_ok());
    assert_eq!(s.engine.connected_apps("alice").await.unwrap().len(), 1);
    s.engine.delete_client(&operator(), CLIENT).await.unwrap();
    assert!(
        s.engine
            .verify_bearer(&bearer, Audience::AnyResource, &[])
            .await
            .is_err(),
        "tokens of a deleted client die"
    );
    assert!(s.engine.connected_apps("alice").await.unwrap().is_empty());
    consent(s.authorize(LOOPBACK_CB).await);
    assert_eq!(s.fetcher.count(), 2);
}

#[tokio::test]
async fn storage_failure_is_reported_as_such() {
    let store = Arc::new(Faulty::default());
    let s = setup_on(store.clone(), false);
    s.fetcher.serve(&document(LOOPBACK_CB), None);
    for (mode, status, code) in [
        (1u8, 503u16, "temporarily_unavailable"),
        (2, 500, "server_error"),
    ] {
        store.set(mode);
        let e = error_page(s.authorize(LOOPBACK_CB).await);
        assert_eq!((e.status(), e.code()), (status, code));
        let r = s.exchange("c", LOOPBACK_CB).await;
        assert_eq!((r.status, error_code(&r).as_str()), (status, code));
    }
    store.set(0);
    assert!(store.inner.get_client(CLIENT).await.unwrap().is_none());
}
