//! Introspection (RFC 7662), revocation (RFC 7009), bearer checks
//! (RFC 6750), metadata (RFC 8414, RFC 9728) and client_credentials.

mod common;

use common::*;
use latchkey::clients::ClientRegistration;
use latchkey::http::HttpRequest;
use latchkey::introspect::Audience;
use latchkey::introspect::BearerError;
use latchkey::metadata::ProtectedResourceMetadata;

const INACTIVE: &[u8] = br#"{"active":false}"#;

async fn introspect_raw(h: &Harness, auth: &str, token: &str) -> latchkey::http::HttpResponse {
    h.engine
        .introspect(&HttpRequest::form_post(&[("token", token)]).with_header("Authorization", auth))
        .await
}

#[tokio::test]
async fn inactive_answers_are_identical_whatever_the_reason() {
    let h = harness().await;
    let auth = h.app_auth();
    let (at, rt) = h.tokens("profile:read").await;
    let (at_expired, _) = h.tokens("profile:read").await;
    let (at_revoked, _) = h.tokens("profile:read").await;
    let rotated = h.refresh(&rt, &[]).await;
    assert_eq!(rotated.status, 200);
    let revoke =
        HttpRequest::form_post(&[("token", &at_revoked)]).with_header("Authorization", &auth);
    assert_eq!(h.engine.revoke(&revoke).await.status, 200);
    h.clock.advance(901);
    let (fresh, _) = h.tokens("profile:read").await;
    for t in [
        at.as_str(),
        at_expired.as_str(),
        at_revoked.as_str(),
        rt.as_str(),
        "lk_at_unknown",
        "garbage",
        &fresh.replace('A', "B"),
    ] {
        let r = introspect_raw(&h, &auth, t).await;
        assert_eq!((r.status, r.body.as_slice()), (200, INACTIVE), "{t}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(h.introspect(&fresh).await["active"], true);
}

#[tokio::test]
async fn only_the_issuee_or_an_audience_learns_anything() {
    let h = harness().await;
    let (at, _) = h.tokens("profile:read").await;
    let stranger = h
        .engine
        .register_client(
            &operator(),
            ClientRegistration {
                owner: "globex".into(),
                name: "Stranger".into(),
                grant_types: vec![latchkey::model::GrantType::ClientCredentials],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let api = h
        .engine
        .register_client(
            &operator(),
            ClientRegistration {
                owner: "acme".into(),
                name: "DNS API".into(),
                grant_types: vec![latchkey::model::GrantType::ClientCredentials],
                served_resources: vec![API.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = introspect_raw(
        &h,
        &basic(&stranger.client.id, stranger.secret.unwrap().expose()),
        &at,
    )
    .await;
    assert_eq!(r.body, INACTIVE);
    let r = introspect_raw(
        &h,
        &basic(&api.client.id, api.secret.unwrap().expose()),
        &at,
    )
    .await;
    assert_eq!(r.json_body()["active"], true);
    assert_eq!(r.json_body()["scope"], "profile:read");
    // Public clients may not introspect; bad credentials are 401.
    let r = h
        .engine
        .introspect(&HttpRequest::form_post(&[
            ("token", &at),
            ("client_id", &h.cli.client.id),
        ]))
        .await;
    assert_eq!(r.status, 401);
    let r = introspect_raw(&h, &basic(&h.app.client.id, "wrong"), &at).await;
    assert_eq!(r.status, 401);
    let r = h
        .engine
        .introspect(&HttpRequest::form_post(&[]).with_header("Authorization", &h.app_auth()))
        .await;
    assert_eq!(error_code(&r), "invalid_request");
}

#[tokio::test]
async fn revocation_rules() {
    let h = harness().await;
    let auth = h.app_auth();
    let (at, rt) = h.tokens("profile:read").await;
    let rev =
        |t: &str, a: &str| HttpRequest::form_post(&[("token", t)]).with_header("Authorization", a);
    // Unknown tokens: 200.
    assert_eq!(
        h.engine.revoke(&rev("lk_rt_unknown", &auth)).await.status,
        200
    );
    // Another client cannot revoke it and learns it is not theirs.
    let other = h
        .engine
        .register_client(
            &operator(),
            ClientRegistration {
                owner: "acme".into(),
                name: "Other".into(),
                grant_types: vec![latchkey::model::GrantType::ClientCredentials],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = h
        .engine
        .revoke(&rev(
            &rt,
            &basic(&other.client.id, other.secret.unwrap().expose()),
        ))
        .await;
    assert_eq!(error_code(&r), "unauthorized_client");
    assert!(h.active(&rt).await);
    // Access token alone.
    let r = h.engine.revoke(&rev(&at, &auth)).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(!h.active(&at).await);
    assert!(h.active(&rt).await);
    // Refresh token: the whole family.
    let r2 = h.refresh(&rt, &[]).await.json_body();
    let (at2, rt2) = (
        r2["access_token"].as_str().unwrap(),
        r2["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(h.engine.revoke(&rev(rt2, &auth)).await.status, 200);
    assert!(!h.active(at2).await && !h.active(rt2).await);
    assert_eq!(
        h.engine.revoke(&rev(rt2, &auth)).await.status,
        200,
        "idempotent"
    );
    // Public clients revoke their own tokens with client_id alone.
    let r = h
        .engine
        .revoke(&HttpRequest::form_post(&[
            ("token", "lk_at_x"),
            ("client_id", &h.cli.client.id),
        ]))
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .engine
        .revoke(&HttpRequest::form_post(&[("client_id", &h.cli.client.id)]))
        .await;
    assert_eq!(error_code(&r), "invalid_request");
}

#[tokio::test]
async fn client_credentials_for_confidential_clients() {
    let h = harness().await;
    let r = h
        .engine
        .token(
            &HttpRequest::form_post(&[("grant_type", "client_credentials"), ("scope", "dns:edit")])
                .with_header("Authorization", &h.app_auth()),
        )
        .await;
    assert_eq!(r.status, 200);
    let j = r.json_body();
    assert_eq!(j["scope"], "dns:edit dns:read");
    assert!(j.get("refresh_token").is_none());
    let info = h.introspect(j["access_token"].as_str().unwrap()).await;
    assert_eq!(info["sub"], h.app.client.id.as_str());
    for (scope, code) in [("zones:read", "invalid_scope"), ("bogus", "invalid_scope")] {
        let r = h
            .engine
            .token(
                &HttpRequest::form_post(&[("grant_type", "client_credentials"), ("scope", scope)])
                    .with_header("Authorization", &h.app_auth()),
            )
            .await;
        assert_eq!(error_code(&r), code);
    }
    let r = h
        .engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "client_credentials"),
            ("client_id", &h.cli.client.id),
        ]))
        .await;
    assert_eq!(error_code(&r), "unauthorized_client");
}

#[tokio::test]
async fn bearer_checks_for_resource_servers() {
    let h = harness().await;
    let (at, _) = h.tokens("dns:read").await;
    let header = format!("Bearer {at}");
    let info = h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &header),
            Audience::Resource(API),
            &["dns:read"],
        )
        .await
        .unwrap();
    assert_eq!(info.sub, "alice");
    assert!(matches!(
        h.engine
            .verify_bearer(&HttpRequest::new("GET"), Audience::Resource(API), &[])
            .await,
        Err(BearerError::Missing)
    ));
    assert!(matches!(
        h.engine
            .verify_bearer(
                &HttpRequest::new("GET").with_header("Authorization", "Basic abc"),
                Audience::Resource(API),
                &[]
            )
            .await,
        Err(BearerError::InvalidRequest)
    ));
    assert!(matches!(
        h.engine
            .verify_bearer(
                &HttpRequest::new("GET").with_header("Authorization", "Bearer lk_at_nope"),
                Audience::Resource(API),
                &[]
            )
            .await,
        Err(BearerError::InvalidToken)
    ));
    assert!(matches!(
        h.engine
            .verify_bearer(
                &HttpRequest::new("GET").with_header("Authorization", &header),
                Audience::Resource("https://other.example/"),
                &[]
            )
            .await,
        Err(BearerError::InvalidToken)
    ));
    let e = h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &header),
            Audience::Resource(API),
            &["dns:edit"],
        )
        .await
        .unwrap_err();
    let r = e.response(Some(
        "https://api.example/.well-known/oauth-protected-resource",
    ));
    assert_eq!(r.status, 403);
    let www = r.header("www-authenticate").unwrap();
    assert!(
        www.contains("insufficient_scope") && www.contains("resource_metadata="),
        "{www}"
    );
    let r = BearerError::Missing.response(None);
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some("Bearer realm=\"latchkey\""))
    );
}

#[tokio::test]
async fn metadata_documents() {
    let h = harness().await;
    let m = h.engine.metadata();
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], "https://auth.example/oauth/token");
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert!(m["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("dns:edit")));
    let p = ProtectedResourceMetadata::new(API, h.engine.config(), &["dns:read"]).to_json();
    assert_eq!(p["resource"], API);
    assert_eq!(p["authorization_servers"], serde_json::json!([ISSUER]));
    assert_eq!(p["bearer_methods_supported"], serde_json::json!(["header"]));
}
