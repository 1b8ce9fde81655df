//! Contract cases driven through the [`Engine`], for the properties that
//! only show end to end: concurrent authorizations of one user and app,
//! and strict refresh-token rotation.

use std::sync::Arc;

use crate::authorize::{AuthorizeOutcome, ConsentDecision, Principal};
use crate::clients::ClientRegistration;
use crate::config::EngineConfig;
use crate::entropy::SystemEntropy;
use crate::http::{HttpRequest, Params};
use crate::model::{AuthMethod, GrantType};
use crate::scope::ScopeRegistry;
use crate::storage::Storage;
use crate::token::Keyring;
use crate::Engine;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example/cb";

fn engine<S: Storage + ?Sized>(store: Arc<S>, refresh_grace: u64) -> Engine<S> {
    let scopes = ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .and_then(|r| r.register("dns:read", "Read DNS records", &[]))
        .expect("scopes");
    let mut config = EngineConfig::new("https://auth.example", scopes);
    config.refresh_grace = refresh_grace;
    let keys = Keyring::generate(&SystemEntropy::new()).expect("keys");
    Engine::new(store, config, keys)
}

/// A confidential client with `client_secret_post`; returns id and secret.
async fn client<S: Storage + ?Sized>(engine: &Engine<S>) -> (String, String) {
    let app = engine
        .register_client(
            &crate::Acting::operator("tests", crate::Source::default()),
            ClientRegistration {
                owner: "acme".into(),
                name: "Conformance App".into(),
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec!["profile:read".into(), "dns:read".into()],
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                auth_method: Some(AuthMethod::ClientSecretPost),
                ..Default::default()
            },
        )
        .await
        .expect("register");
    let secret = app.secret.expect("secret").expose().to_owned();
    (app.client.id, secret)
}

fn alice() -> Principal {
    Principal {
        subject: "alice".into(),
        account: "acme".into(),
    }
}

/// Authorizes with a signed-in user; returns the consent challenge.
async fn consent_challenge<S: Storage + ?Sized>(
    engine: &Engine<S>,
    client_id: &str,
    scope: &str,
) -> String {
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ]);
    match engine.authorize(&req, Some(&alice()), "browser").await {
        AuthorizeOutcome::ConsentRequired(p) => p.challenge.expose().to_owned(),
        other => panic!("expected a consent prompt, got {other:?}"),
    }
}

fn code_of(outcome: &AuthorizeOutcome) -> String {
    let AuthorizeOutcome::Redirect(url) = outcome else {
        panic!("expected a redirect, got {outcome:?}");
    };
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let params = Params::parse(query).expect("query");
    params
        .single("code")
        .expect("one code")
        .unwrap_or_else(|| {
            panic!(
                "no code in the redirect: {}",
                params.single("error").ok().flatten().unwrap_or_default()
            )
        })
        .to_owned()
}

/// 32 concurrent consent approvals of one user for one app (several agents
/// or CLI windows at once) all get a code, and every code exchanges.
pub async fn engine_concurrent_authorizations_all_succeed<S: Storage + ?Sized + 'static>(
    store: Arc<S>,
) {
    let engine = engine(store, 30);
    let (client_id, secret) = client(&engine).await;
    let mut challenges = Vec::new();
    for i in 0..32 {
        let scope = if i % 2 == 0 {
            "profile:read"
        } else {
            "dns:read"
        };
        challenges.push(consent_challenge(&engine, &client_id, scope).await);
    }
    let mut tasks = Vec::new();
    for (i, challenge) in challenges.into_iter().enumerate() {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let decision = ConsentDecision {
                scopes: None,
                remember: i % 3 == 0,
            };
            engine
                .accept(
                    &challenge,
                    "browser",
                    &alice(),
                    decision,
                    &crate::Source::default(),
                )
                .await
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(code_of(&t.await.expect("task")));
    }
    for code in codes {
        let r = engine
            .token(&HttpRequest::form_post(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ]))
            .await;
        assert_eq!(r.status, 200, "{}", r.json_body());
    }
    let apps = engine.connected_apps("alice").await.expect("apps");
    assert_eq!(apps.len(), 1);
    let names: Vec<&str> = apps[0].scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["dns:read", "profile:read"], "no consent lost");
}

/// With `refresh_grace = 0` (strict rotation, no coalescing), 32
/// concurrent refreshes of one token give exactly one success; the rest
/// are reuse, which revokes the family, the winner's tokens included.
pub async fn engine_strict_refresh_has_one_winner<S: Storage + ?Sized + 'static>(store: Arc<S>) {
    let engine = engine(store, 0);
    let (client_id, secret) = client(&engine).await;
    let challenge = consent_challenge(&engine, &client_id, "profile:read").await;
    let code = code_of(
        &engine
            .accept(
                &challenge,
                "browser",
                &alice(),
                ConsentDecision::default(),
                &crate::Source::default(),
            )
            .await,
    );
    let r = engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ]))
        .await;
    assert_eq!(r.status, 200);
    let refresh = r.json_body()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (engine, refresh, client_id, secret) = (
            engine.clone(),
            refresh.clone(),
            client_id.clone(),
            secret.clone(),
        );
        tasks.push(tokio::spawn(async move {
            engine
                .token(&HttpRequest::form_post(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                ]))
                .await
        }));
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            200 => winners.push(r.json_body()),
            400 => {
                assert_eq!(r.json_body()["error"], "invalid_grant");
                refused += 1;
            }
            s => panic!("unexpected status {s}: {}", r.json_body()),
        }
    }
    assert_eq!((winners.len(), refused), (1, 31));
    // Reuse revoked the family: the winner's refresh token is dead too.
    let next = winners[0]["refresh_token"].as_str().expect("rt").to_owned();
    let r = engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &next),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ]))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json_body()["error"], "invalid_grant");
}
