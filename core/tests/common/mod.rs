//! Shared harness for the flow tests: an engine on the memory store with a
//! manual clock, the demo scopes, and two registered clients.
#![allow(dead_code)]

pub mod faulty;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use latchkey::clients::{ClientRegistration, RegisteredClient};
use latchkey::clock::{ManualClock, Timestamp};
use latchkey::entropy::SeededEntropy;
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::model::{AuthMethod, GrantType};
use latchkey::storage::Storage;
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, MemoryStore, Principal,
    ScopeRegistry,
};

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://app.example/cb";
pub const API: &str = "https://api.example/";
pub const BINDING: &str = "session-123";
pub const ISSUER: &str = "https://auth.example";

pub fn scopes() -> ScopeRegistry {
    ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .unwrap()
        .register("dns:read", "Read DNS records", &[])
        .unwrap()
        .register("dns:edit", "Edit DNS records", &["dns:read"])
        .unwrap()
        .register("zones:read", "List your zones", &[])
        .unwrap()
}

pub struct Harness<S: Storage + ?Sized = MemoryStore> {
    pub engine: Engine<S>,
    pub clock: Arc<ManualClock>,
    /// Confidential, client_secret_basic, account "acme".
    pub app: RegisteredClient,
    /// Public (auth method none), account "acme".
    pub cli: RegisteredClient,
}

pub fn alice() -> Principal {
    Principal {
        subject: "alice".into(),
        account: "acme".into(),
    }
}

pub fn mallory() -> Principal {
    Principal {
        subject: "mallory".into(),
        account: "evil-corp".into(),
    }
}

/// The harness on a memory store with open dynamic client registration
/// (RFC 7591) for `profile:read dns:read` and the API.
#[allow(dead_code)] // Not every test crate registers clients.
pub async fn harness_with_registration() -> Harness {
    let mut config = EngineConfig::new(ISSUER, scopes());
    config.registration = Some(latchkey::registration::RegistrationConfig::open(
        latchkey::ScopeSet::parse("profile:read dns:read").unwrap(),
        vec![API.into()],
    ));
    let (engine, clock) = engine_configured(Arc::new(MemoryStore::new()), config);
    harness_with(engine, clock).await
}

/// An engine on `store` configured by `config`, with the harness's key, a
/// manual clock and seeded randomness.
pub fn engine_configured<S: Storage + ?Sized>(
    store: Arc<S>,
    config: EngineConfig,
) -> (Engine<S>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let engine = Engine::new(store, config, Keyring::new(&[(1, [42u8; 32])]).unwrap())
        .with_clock(clock.clone())
        .with_entropy(Arc::new(SeededEntropy::new(7)));
    (engine, clock)
}

pub fn engine_on<S: Storage + ?Sized>(store: Arc<S>) -> (Engine<S>, Arc<ManualClock>) {
    engine_with_keys(store, Keyring::new(&[(1, [42u8; 32])]).unwrap())
}

pub fn engine_with_keys<S: Storage + ?Sized>(
    store: Arc<S>,
    keys: Keyring,
) -> (Engine<S>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let engine = Engine::new(store, EngineConfig::new(ISSUER, scopes()), keys)
        .with_clock(clock.clone())
        .with_entropy(Arc::new(SeededEntropy::new(7)));
    (engine, clock)
}

pub async fn harness() -> Harness {
    harness_on(Arc::new(MemoryStore::new())).await
}

pub async fn harness_on<S: Storage + ?Sized>(store: Arc<S>) -> Harness<S> {
    harness_with_keys(store, Keyring::new(&[(1, [42u8; 32])]).unwrap()).await
}

pub async fn harness_with_keys<S: Storage + ?Sized>(store: Arc<S>, keys: Keyring) -> Harness<S> {
    let (engine, clock) = engine_with_keys(store, keys);
    harness_with(engine, clock).await
}

/// The harness's clients on `engine` (whose registry must have the
/// harness's scopes); the app may also ask for `offline_access` when the
/// registry has it.
pub async fn harness_with<S: Storage + ?Sized>(
    engine: Engine<S>,
    clock: Arc<ManualClock>,
) -> Harness<S> {
    let mut app_scopes = vec!["profile:read".into(), "dns:read".into(), "dns:edit".into()];
    if engine.config().scopes.get("offline_access").is_some() {
        app_scopes.push("offline_access".into());
    }
    let app = engine
        .register_client(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Acme Dashboard".into(),
                redirect_uris: vec![REDIRECT.into(), "https://app.example/other".into()],
                grant_types: vec![
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ],
                scopes: app_scopes,
                resources: vec![API.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cli = engine
        .register_client(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Acme CLI".into(),
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                scopes: vec!["profile:read".into(), "zones:read".into()],
                auth_method: Some(AuthMethod::None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Harness {
        engine,
        clock,
        app,
        cli,
    }
}

/// The harness on `store` with the device grant (RFC 8628) enabled, and a
/// public client that may use it ("Living-room TV": `profile:read
/// dns:read`, the API, refresh).
pub async fn harness_with_device_on<S: Storage + ?Sized>(
    store: Arc<S>,
) -> (Harness<S>, RegisteredClient) {
    let mut config = EngineConfig::new(ISSUER, scopes());
    config.grant_types.push(GrantType::DeviceCode);
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let engine = Engine::new(store, config, Keyring::new(&[(1, [42u8; 32])]).unwrap())
        .with_clock(clock.clone())
        .with_entropy(Arc::new(SeededEntropy::new(7)));
    let h = harness_with(engine, clock).await;
    let tv = h
        .engine
        .register_client(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Living-room TV".into(),
                grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
                scopes: vec!["profile:read".into(), "dns:read".into()],
                resources: vec![API.into()],
                auth_method: Some(AuthMethod::None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (h, tv)
}

/// The harness's configuration with JWT access tokens (RFC 9068) signed
/// with `alg` for the API.
pub fn jwt_config(alg: latchkey::jwt::SigningAlgorithm) -> EngineConfig {
    let mut config = EngineConfig::new(ISSUER, scopes());
    let mut jwt = latchkey::jwt::JwtConfig::default();
    jwt.algorithm = alg;
    jwt.resources = latchkey::jwt::JwtResources::Only(vec![API.into()]);
    config.jwt = Some(jwt);
    config
}

/// An engine with [`jwt_config`] on `store`, on `clock`.
pub fn jwt_engine<S: Storage + ?Sized>(
    store: Arc<S>,
    alg: latchkey::jwt::SigningAlgorithm,
    clock: Arc<ManualClock>,
) -> Engine<S> {
    Engine::new(
        store,
        jwt_config(alg),
        Keyring::new(&[(1, [42u8; 32])]).unwrap(),
    )
    .with_clock(clock)
    .with_entropy(Arc::new(SeededEntropy::new(7)))
}

/// The harness on `store` with JWT access tokens for the API.
pub async fn harness_with_jwt_on<S: Storage + ?Sized>(
    store: Arc<S>,
    alg: latchkey::jwt::SigningAlgorithm,
) -> Harness<S> {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    harness_with(jwt_engine(store, alg, clock.clone()), clock).await
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

impl<S: Storage + ?Sized> Harness<S> {
    pub fn app_auth(&self) -> String {
        basic(
            &self.app.client.id,
            self.app.secret.as_ref().unwrap().expose(),
        )
    }

    pub fn authorize_request(&self, client_id: &str, extra: &[(&str, &str)]) -> HttpRequest {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
        ];
        for (k, _) in extra {
            pairs.retain(|(pk, _)| pk != k);
        }
        pairs.extend_from_slice(extra);
        pairs.retain(|(_, v)| !v.is_empty());
        HttpRequest::get(&pairs)
    }

    /// Runs authorize → consent → accept for the confidential app and returns
    /// the code.
    pub async fn code_for(&self, scope: &str, remember: bool) -> String {
        let req = self.authorize_request(
            &self.app.client.id,
            &[
                ("redirect_uri", REDIRECT),
                ("scope", scope),
                ("resource", API),
            ],
        );
        let outcome = self.engine.authorize(&req, Some(&alice()), BINDING).await;
        let location = match outcome {
            AuthorizeOutcome::ConsentRequired(p) => {
                match self
                    .engine
                    .accept(
                        p.challenge.expose(),
                        BINDING,
                        &alice(),
                        ConsentDecision {
                            scopes: None,
                            remember,
                        },
                        &latchkey::Source::default(),
                    )
                    .await
                {
                    AuthorizeOutcome::Redirect(l) => l,
                    other => panic!("accept gave {other:?}"),
                }
            }
            AuthorizeOutcome::Redirect(l) => l,
            other => panic!("authorize gave {other:?}"),
        };
        query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }

    pub async fn exchange(&self, code: &str) -> HttpResponse {
        let req = HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .with_header("Authorization", &self.app_auth());
        self.engine.token(&req).await
    }

    pub async fn tokens(&self, scope: &str) -> (String, String) {
        let code = self.code_for(scope, false).await;
        let r = self.exchange(&code).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        (
            j["access_token"].as_str().unwrap().to_owned(),
            j["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn refresh(&self, rt: &str, extra: &[(&str, &str)]) -> HttpResponse {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        pairs.extend_from_slice(extra);
        let req = HttpRequest::form_post(&pairs).with_header("Authorization", &self.app_auth());
        self.engine.token(&req).await
    }

    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        let req = HttpRequest::form_post(&[("token", token)])
            .with_header("Authorization", &self.app_auth());
        let r = self.engine.introspect(&req).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()
    }

    pub async fn active(&self, token: &str) -> bool {
        self.introspect(token).await["active"] == true
    }
}

/// The decoded value of `name` in a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let p = latchkey::http::Params::parse(q).ok()?;
    p.single(name).ok().flatten().map(str::to_owned)
}

pub fn error_code(r: &HttpResponse) -> String {
    r.json_body()["error"].as_str().unwrap_or("").to_owned()
}

/// The kinds of every event `consumer` has not acknowledged, in order.
pub async fn event_kinds<S: Storage + ?Sized>(
    engine: &Engine<S>,
    consumer: &str,
) -> Vec<latchkey::model::EventKind> {
    let events = engine.poll_events(consumer, 10_000).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// The operator the tests act as when managing clients.
pub fn operator() -> latchkey::Acting {
    latchkey::Acting::operator("tests", latchkey::Source::default())
}
