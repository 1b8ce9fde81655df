//! Engines over PostgreSQL stores, and the calls of a code flow through
//! them: authorize, consent, exchange, refresh, introspect.

use std::sync::Arc;

use base64::Engine as _;
use latchkey::clients::ClientRegistration;
use latchkey::http::{HttpRequest, Params};
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, Principal, ScopeRegistry,
};
use latchkey_sqlx::PgStore;

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://app.example/cb";
pub const CLIENT: &str = "replicated-app";
pub const SECRET: &str = "replicated-app-secret-0123456789abcdefghijklmnop";

/// An engine on `store`, with the server key every replica shares.
pub fn engine(store: Arc<PgStore>) -> Engine<PgStore> {
    let scopes = ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .expect("scope");
    let keys = Keyring::new(&[(1, [42u8; 32])]).expect("keys");
    Engine::new(
        store,
        EngineConfig::new("https://auth.example", scopes),
        keys,
    )
}

/// Registers the confidential client the requests below use.
pub async fn register_client(e: &Engine<PgStore>) {
    e.register_client(
        &latchkey::Acting::operator("tests", latchkey::Source::default()),
        ClientRegistration {
            id: Some(CLIENT.into()),
            owner: "acme".into(),
            name: "Replicated".into(),
            redirect_uris: vec![REDIRECT.into()],
            scopes: vec!["profile:read".into()],
            secret: Some(SECRET.into()),
            ..Default::default()
        },
    )
    .await
    .expect("register");
}

/// The client's HTTP Basic credentials.
pub fn auth() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    )
}

fn principal(subject: &str) -> Principal {
    Principal {
        subject: subject.into(),
        account: "acme".into(),
    }
}

/// An authorization code for `subject`: authorize on `first`, complete
/// consent on `second` (the challenge lives in the shared database).
pub async fn code_as(first: &Engine<PgStore>, second: &Engine<PgStore>, subject: &str) -> String {
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", "profile:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let AuthorizeOutcome::LoginRequired { challenge } = first.authorize(&req, None, "ua").await
    else {
        panic!("expected login");
    };
    let who = principal(subject);
    let AuthorizeOutcome::ConsentRequired(p) = second
        .resume(challenge.expose(), "ua", &who, &latchkey::Source::default())
        .await
    else {
        panic!("expected consent");
    };
    let AuthorizeOutcome::Redirect(loc) = first
        .accept(
            p.challenge.expose(),
            "ua",
            &who,
            ConsentDecision::default(),
            &latchkey::Source::default(),
        )
        .await
    else {
        panic!("expected a redirect");
    };
    let q = loc.split_once('?').expect("query").1;
    Params::parse(q)
        .expect("params")
        .single("code")
        .expect("one")
        .expect("code")
        .to_owned()
}

/// The token request that exchanges `code`.
pub fn exchange_req(code: &str) -> HttpRequest {
    HttpRequest::form_post(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .with_header("Authorization", &auth())
}

/// The token request that refreshes `rt`.
pub fn refresh_req(rt: &str) -> HttpRequest {
    HttpRequest::form_post(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .with_header("Authorization", &auth())
}

/// The introspection request for `token`.
pub fn introspect_req(token: &str) -> HttpRequest {
    HttpRequest::form_post(&[("token", token)]).with_header("Authorization", &auth())
}

/// Whether introspection through `e` reports `token` active.
pub async fn active(e: &Engine<PgStore>, token: &str) -> bool {
    let r = e.introspect(&introspect_req(token)).await;
    assert_eq!(r.status, 200);
    r.json_body()["active"] == true
}
