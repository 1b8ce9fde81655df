//! The token endpoint's shape: grant dispatch through the registry, what
//! the metadata derives from it, and the rule against credentials in URLs.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use latchkey::clients::ClientRegistration;
use latchkey::grant::{GrantHandler, GrantRegistry, TokenResponse};
use latchkey::http::{HttpRequest, Params};
use latchkey::model::{ClientRecord, GrantType};
use latchkey::{Engine, Error, MemoryStore};

/// RFC 6749 §2.3.1: no parameter in the URL of the token, introspection or
/// revocation endpoints, even when the body authenticates correctly.
#[tokio::test]
async fn parameters_in_the_url_are_refused_everywhere_credentials_go() {
    let h = harness().await;
    let (at, rt) = h.tokens("profile:read").await;
    let secret = h.app.secret.as_ref().unwrap().expose().to_owned();
    let auth = h.app_auth();
    let leaked = format!("client_secret={secret}");
    let form = |pairs: &[(&str, &str)], query: &str| {
        let mut r = HttpRequest::form_post(pairs).with_header("Authorization", &auth);
        r.query = query.to_owned();
        r
    };
    for query in [leaked.as_str(), "foo=bar"] {
        let r = h
            .engine
            .token(&form(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                query,
            ))
            .await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_request")
        );
        assert!(!String::from_utf8_lossy(&r.body).contains(&secret));
        let r = h.engine.introspect(&form(&[("token", &at)], query)).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_request")
        );
        let r = h.engine.revoke(&form(&[("token", &at)], query)).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_request")
        );
    }
    // Nothing happened: the refresh token was not rotated, the access token
    // not revoked.
    assert!(h.active(&at).await);
    assert_eq!(h.refresh(&rt, &[]).await.status, 200);
}

/// Found by the `token_endpoint` fuzz target: `error_description` carried
/// a `§`, outside the characters RFC 6749 §5.2 allows there; so do
/// descriptions that quote what a client sent.
#[tokio::test]
async fn error_descriptions_keep_to_the_rfc_6749_character_set() {
    let h = harness().await;
    let mut req = HttpRequest::form_post(&[("grant_type", "client_credentials")])
        .with_header("Authorization", &h.app_auth());
    req.query = "scope=x".into();
    let r = h.engine.token(&req).await;
    assert_eq!(r.status, 400);
    let description = r.json_body()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        description.contains("RFC 6749 section 2.3.1"),
        "{description}"
    );
    let allowed = |b: u8| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    assert!(description.bytes().all(allowed), "{description:?}");
}

/// A grant a host adds: answers with a fixed scope, for any client allowed
/// to use the (otherwise disabled) `client_credentials` type.
struct EchoGrant;

#[async_trait]
impl GrantHandler<MemoryStore> for EchoGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::ClientCredentials
    }

    async fn handle(
        &self,
        _engine: &Engine<MemoryStore>,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error> {
        Ok(TokenResponse {
            access_token: format!("echo-{}", client.id),
            token_type: "Bearer".into(),
            expires_in: 1,
            refresh_token: None,
            scope: params.single("scope")?.unwrap_or_default().to_owned(),
        })
    }
}

#[tokio::test]
async fn dispatch_validation_and_metadata_follow_the_registry() {
    let (engine, _) = engine_on(Arc::new(MemoryStore::new()));
    let code_only = engine.with_grants(GrantRegistry::builtin(&[GrantType::AuthorizationCode]));
    assert_eq!(
        code_only.metadata()["grant_types_supported"],
        serde_json::json!(["authorization_code"])
    );
    assert_eq!(
        code_only.metadata()["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    // A client cannot be registered for a grant this server does not serve.
    let refused = code_only
        .register_client(
            &operator(),
            ClientRegistration {
                owner: "acme".into(),
                name: "Service".into(),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: vec!["profile:read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, latchkey::ManageError::InvalidMetadata(ref d) if d.contains("client_credentials")),
        "{refused}"
    );

    let (engine, _) = engine_on(Arc::new(MemoryStore::new()));
    let svc = engine
        .register_client(
            &operator(),
            ClientRegistration {
                owner: "acme".into(),
                name: "Service".into(),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: vec!["profile:read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let custom = engine.with_grants(GrantRegistry::builtin(&[]).with(Box::new(EchoGrant)));
    let auth = basic(&svc.client.id, svc.secret.as_ref().unwrap().expose());
    let r = custom
        .token(
            &HttpRequest::form_post(&[("grant_type", "client_credentials"), ("scope", "x")])
                .with_header("Authorization", &auth),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json_body()["access_token"],
        format!("echo-{}", svc.client.id)
    );
    let r = custom
        .token(
            &HttpRequest::form_post(&[("grant_type", "authorization_code")])
                .with_header("Authorization", &auth),
        )
        .await;
    assert_eq!(error_code(&r), "unsupported_grant_type");
}

/// Refresh tokens only when the user granted `offline_access`, when the
/// deployment has that scope; always with `RefreshPolicy::Always`.
#[tokio::test]
async fn refresh_tokens_follow_offline_access() {
    use latchkey::clock::{ManualClock, Timestamp};
    use latchkey::config::RefreshPolicy;
    use latchkey::{EngineConfig, Keyring};

    let scopes = || {
        scopes()
            .register("offline_access", "Keep access while you are away", &[])
            .unwrap()
    };
    for (policy, with, without) in [
        (RefreshPolicy::OfflineAccessScope, true, false),
        (RefreshPolicy::Always, true, true),
    ] {
        let mut config = EngineConfig::new(ISSUER, scopes());
        config.refresh_tokens = policy;
        let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
        let engine = Engine::new(
            Arc::new(MemoryStore::new()),
            config,
            Keyring::new(&[(1, [7u8; 32])]).unwrap(),
        )
        .with_clock(clock.clone());
        let h = harness_with(engine, clock).await;
        for (scope, expect) in [
            ("profile:read offline_access", with),
            ("profile:read", without),
        ] {
            let code = h.code_for(scope, false).await;
            let r = h.exchange(&code).await;
            assert_eq!(r.status, 200);
            let body = r.json_body();
            assert_eq!(
                body.get("refresh_token").is_some(),
                expect,
                "{policy:?} {scope}: {body}"
            );
            if expect {
                // The rotated successor follows the same rule.
                let rt = body["refresh_token"].as_str().unwrap();
                let next = h.refresh(rt, &[]).await.json_body();
                assert!(next.get("refresh_token").is_some(), "{next}");
            }
        }
    }
}
