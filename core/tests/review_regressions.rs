//! Regressions for findings of the RFC review of the core engine.

mod common;

use common::*;
use latchkey::clients::ClientRegistration;
use latchkey::http::{HttpRequest, Params};
use latchkey::introspect::Audience;
use latchkey::model::GrantType;

#[tokio::test]
async fn multibyte_authorization_header_does_not_panic() {
    let h = harness().await;
    for value in ["Basicé", "a日日日", "日本語", "Basic é"] {
        let req = HttpRequest::form_post(&[("grant_type", "client_credentials")])
            .with_header("Authorization", value);
        let r = h.engine.token(&req).await;
        assert!(r.status == 400 || r.status == 401, "{value}: {}", r.status);
    }
}

#[tokio::test]
async fn reuse_with_an_out_of_range_scope_still_revokes_the_family() {
    let h = harness().await;
    let (_, rt0) = h.tokens("profile:read").await;
    let rt1 = h.refresh(&rt0, &[]).await.json_body()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(31);
    let r = h.refresh(&rt0, &[("scope", "dns:edit")]).await;
    assert_eq!(
        error_code(&r),
        "invalid_grant",
        "reuse is detected before scope checks"
    );
    assert!(!h.active(&rt1).await);
}

#[tokio::test]
async fn client_credentials_tokens_die_with_their_client() {
    let h = harness().await;
    let svc = h
        .engine
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
    let auth = basic(&svc.client.id, svc.secret.as_ref().unwrap().expose());
    let r = h
        .engine
        .token(
            &HttpRequest::form_post(&[("grant_type", "client_credentials")])
                .with_header("Authorization", &auth),
        )
        .await;
    let at = r.json_body()["access_token"].as_str().unwrap().to_owned();
    assert!(h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at}")),
            Audience::AnyResource,
            &[]
        )
        .await
        .is_ok());
    h.engine
        .delete_client(&operator(), &svc.client.id)
        .await
        .unwrap();
    assert!(h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at}")),
            Audience::AnyResource,
            &[]
        )
        .await
        .is_err());
}

#[tokio::test]
async fn error_descriptions_do_not_echo_attacker_text() {
    let h = harness().await;
    let mut req = HttpRequest::form_post(&[]);
    req.body = b"%22%3Cscript%3E%5C=1&%22%3Cscript%3E%5C=2".to_vec();
    let r = h.engine.token(&req).await;
    let d = r.json_body()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        d.bytes().all(|b| b == 0x20
            || b == 0x21
            || (0x23..=0x5B).contains(&b)
            || (0x5D..=0x7E).contains(&b)),
        "{d}"
    );
    assert!(!d.contains("script\""));
}

#[tokio::test]
async fn debug_output_never_shows_credentials() {
    let h = harness().await;
    let code = h.code_for("profile:read", false).await;
    let req = HttpRequest::form_post(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
    ])
    .with_header("Authorization", &h.app_auth());
    let printed = format!("{req:?} {:?}", req.form_body().unwrap());
    assert!(
        !printed.contains(&code) && !printed.contains(&h.app_auth()[6..]),
        "{printed}"
    );
    let r = h.exchange(&code).await;
    let at = r.json_body()["access_token"].as_str().unwrap().to_owned();
    assert!(!format!("{r:?}").contains(&at));
    let tr: latchkey::grant::TokenResponse = serde_json::from_slice(&r.body).unwrap();
    assert!(!format!("{tr:?}").contains(&at));
    let reg = ClientRegistration {
        secret: Some("s".repeat(50)),
        ..Default::default()
    };
    assert!(!format!("{reg:?}").contains(&"s".repeat(50)));
    let outcome = h
        .engine
        .authorize(
            &h.authorize_request(
                &h.app.client.id,
                &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
            ),
            Some(&alice()),
            BINDING,
        )
        .await;
    let _ = Params::parse("a=b").unwrap();
    assert!(!format!("{outcome:?}").contains("lk_cc_"));
}

#[tokio::test]
async fn tokens_without_an_explicit_resource_are_still_audience_bound() {
    let h = harness().await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    let latchkey::AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    assert_eq!(
        p.resources,
        vec![API.to_owned()],
        "defaults to the client's resources"
    );
    let latchkey::AuthorizeOutcome::Redirect(loc) = h
        .engine
        .accept(
            p.challenge.expose(),
            BINDING,
            &alice(),
            Default::default(),
            &latchkey::Source::default(),
        )
        .await
    else {
        panic!()
    };
    let at = h
        .exchange(&query_param(&loc, "code").unwrap())
        .await
        .json_body()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = format!("Bearer {at}");
    assert!(h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &header),
            Audience::Resource(API),
            &[]
        )
        .await
        .is_ok());
    assert!(h
        .engine
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &header),
            Audience::Resource("https://elsewhere.example/"),
            &[]
        )
        .await
        .is_err());
}
