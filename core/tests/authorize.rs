//! Authorization endpoint and the login/consent hand-off (OAuth 2.1 §4.1.1,
//! RFC 6749 §4.1.2, RFC 9207, RFC 8707, RFC 8252 §7.3).

mod common;

use common::*;
use latchkey::http::HttpRequest;
use latchkey::model::{EventKind, Visibility};
use latchkey::{AuthorizeOutcome, ConsentDecision, ScopeSet};

fn redirect(o: AuthorizeOutcome) -> String {
    match o {
        AuthorizeOutcome::Redirect(l) => l,
        other => panic!("expected redirect, got {other:?}"),
    }
}

fn shown(o: AuthorizeOutcome) -> latchkey::Error {
    match o {
        AuthorizeOutcome::ShowError(e) => e,
        other => panic!("expected an error page, got {other:?}"),
    }
}

#[tokio::test]
async fn full_flow_login_then_consent_then_code() {
    let h = harness().await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[
            ("redirect_uri", REDIRECT),
            ("scope", "dns:edit profile:read"),
            ("resource", API),
        ],
    );
    let challenge = match h.engine.authorize(&req, None, BINDING).await {
        AuthorizeOutcome::LoginRequired { challenge } => challenge,
        other => panic!("{other:?}"),
    };
    let prompt = match h
        .engine
        .resume(
            challenge.expose(),
            BINDING,
            &alice(),
            &latchkey::Source::default(),
        )
        .await
    {
        AuthorizeOutcome::ConsentRequired(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(prompt.client_name, "Acme Dashboard");
    assert_eq!(prompt.redirect_host, "app.example");
    assert_eq!(prompt.resources, vec![API.to_owned()]);
    let names: Vec<_> = prompt
        .scopes
        .iter()
        .map(|s| (s.name.as_str(), s.description.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("dns:edit", "Edit DNS records"),
            ("dns:read", "Read DNS records"),
            ("profile:read", "Read your profile")
        ]
    );
    // Re-rendering the prompt is allowed; the challenge is the same.
    assert!(matches!(
        h.engine
            .resume(
                challenge.expose(),
                BINDING,
                &alice(),
                &latchkey::Source::default()
            )
            .await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    let loc = redirect(
        h.engine
            .accept(
                challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    assert!(loc.starts_with(&format!("{REDIRECT}?code=lk_ac_")), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(ISSUER));
    // Single use.
    let again = shown(
        h.engine
            .accept(
                challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    assert_eq!(again.code(), "invalid_request");
    let grants = h.engine.connected_apps("alice").await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_name, "Acme Dashboard");
    let kinds: Vec<_> = h
        .engine
        .poll_events("t", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::GrantCreated { .. })));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::ConsentGiven { .. })));
}

#[tokio::test]
async fn untrusted_client_or_redirect_is_shown_never_redirected() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    for (extra, why) in [
        (vec![("client_id", "nope")], "unknown client"),
        (vec![("client_id", "")], "missing client"),
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "unregistered redirect",
        ),
        (
            vec![("redirect_uri", "https://app.example/cb/")],
            "not exact",
        ),
        (vec![], "several registered, none given"),
    ] {
        let req = h.authorize_request(&id, &extra);
        let e = shown(h.engine.authorize(&req, Some(&alice()), BINDING).await);
        assert_eq!(e.code(), "invalid_request", "{why}");
    }
    let dup = HttpRequest {
        query: format!("client_id={id}&client_id={id}&response_type=code"),
        method: "GET".into(),
        ..Default::default()
    };
    shown(h.engine.authorize(&dup, None, BINDING).await);
    let bad = HttpRequest {
        query: "client_id=%zz".into(),
        method: "GET".into(),
        ..Default::default()
    };
    shown(h.engine.authorize(&bad, None, BINDING).await);
    let put = HttpRequest::new("PUT");
    assert_eq!(
        shown(h.engine.authorize(&put, None, BINDING).await).status(),
        405
    );
}

#[tokio::test]
async fn other_errors_redirect_with_state_and_iss() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "tooshort")], "invalid_request"),
        (vec![("scope", "admin")], "invalid_scope"),
        (vec![("scope", "zones:read")], "invalid_scope"),
        (vec![("scope", "")], "invalid_scope"),
        (vec![("scope", "a  b")], "invalid_scope"),
        (
            vec![("resource", "https://other.example/")],
            "invalid_target",
        ),
        (
            vec![("resource", "https://api.example/#frag")],
            "invalid_target",
        ),
    ];
    for (extra, code) in cases {
        let mut all: Vec<(&str, &str)> =
            vec![("redirect_uri", REDIRECT), ("scope", "profile:read")];
        all.retain(|(k, _)| !extra.iter().any(|(ek, _)| ek == k));
        all.extend(extra.iter().copied());
        let loc = redirect(
            h.engine
                .authorize(&h.authorize_request(&id, &all), Some(&alice()), BINDING)
                .await,
        );
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some(code),
            "{extra:?} → {loc}"
        );
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
        assert_eq!(query_param(&loc, "iss").as_deref(), Some(ISSUER));
        assert_eq!(query_param(&loc, "code"), None);
    }
    // A repeated parameter (not resource) is invalid_request, redirected.
    let mut req = h.authorize_request(
        &id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    req.query.push_str("&scope=dns:read");
    let loc = redirect(h.engine.authorize(&req, Some(&alice()), BINDING).await);
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    // Repeated resource is fine.
    let mut req = h.authorize_request(
        &id,
        &[
            ("redirect_uri", REDIRECT),
            ("scope", "profile:read"),
            ("resource", API),
        ],
    );
    req.query.push_str("&resource=https%3A%2F%2Fapi.example%2F");
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    // Unknown parameters are ignored.
    let req = h.authorize_request(
        &id,
        &[
            ("redirect_uri", REDIRECT),
            ("scope", "profile:read"),
            ("foo", "bar"),
        ],
    );
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    // Nothing was stored by the failures.
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn loopback_redirect_port_may_vary_and_single_uri_may_be_omitted() {
    let h = harness().await;
    let id = h.cli.client.id.clone();
    let req = h.authorize_request(
        &id,
        &[
            ("redirect_uri", "http://127.0.0.1:49152/callback"),
            ("scope", "zones:read"),
        ],
    );
    let p = match h.engine.authorize(&req, Some(&alice()), BINDING).await {
        AuthorizeOutcome::ConsentRequired(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(p.redirect_uri, "http://127.0.0.1:49152/callback");
    let loc = redirect(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    assert!(loc.starts_with("http://127.0.0.1:49152/callback?code="));
    let req = h.authorize_request(&id, &[("scope", "zones:read")]);
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    let req = h.authorize_request(
        &id,
        &[
            ("redirect_uri", "http://localhost:49152/callback"),
            ("scope", "zones:read"),
        ],
    );
    shown(h.engine.authorize(&req, Some(&alice()), BINDING).await);
}

#[tokio::test]
async fn challenge_is_bound_to_the_user_agent_and_expires() {
    let h = harness().await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    let e = shown(
        h.engine
            .accept(
                p.challenge.expose(),
                "other-session",
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    assert_eq!(e.code(), "invalid_request");
    // The wrong binding did not burn it for the real user.
    redirect(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );

    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    h.clock.advance(h.engine.config().challenge_ttl);
    shown(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    shown(
        h.engine
            .accept(
                "lk_cc_garbage",
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
}

#[tokio::test]
async fn reject_redirects_access_denied_and_partial_consent_narrows() {
    let h = harness().await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[
            ("redirect_uri", REDIRECT),
            ("scope", "profile:read dns:read"),
        ],
    );
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    let loc = redirect(h.engine.reject(p.challenge.expose(), BINDING).await);
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(ISSUER));
    assert!(h.engine.connected_apps("alice").await.unwrap().is_empty());

    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    let wider = ConsentDecision {
        scopes: Some(ScopeSet::parse("dns:edit").unwrap()),
        remember: false,
    };
    shown(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                wider,
                &latchkey::Source::default(),
            )
            .await,
    );
    let narrower = ConsentDecision {
        scopes: Some(ScopeSet::parse("profile:read").unwrap()),
        remember: false,
    };
    let loc = redirect(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                narrower,
                &latchkey::Source::default(),
            )
            .await,
    );
    let code = query_param(&loc, "code").unwrap();
    let r = h.exchange(&code).await;
    assert_eq!(r.json_body()["scope"], "profile:read");
}

#[tokio::test]
async fn remembered_consent_skips_the_prompt_for_subsets_only() {
    let h = harness().await;
    h.code_for("profile:read dns:read", true).await;
    let id = h.app.client.id.clone();
    let subset = h.authorize_request(
        &id,
        &[
            ("redirect_uri", REDIRECT),
            ("scope", "dns:read"),
            ("resource", API),
        ],
    );
    let loc = redirect(h.engine.authorize(&subset, Some(&alice()), BINDING).await);
    assert!(query_param(&loc, "code").is_some());
    let wider = h.authorize_request(&id, &[("redirect_uri", REDIRECT), ("scope", "dns:edit")]);
    assert!(matches!(
        h.engine.authorize(&wider, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    // Without remember, the next request prompts again.
    let h = harness().await;
    h.code_for("profile:read", false).await;
    let again = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    assert!(matches!(
        h.engine.authorize(&again, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
}

#[tokio::test]
async fn private_apps_only_for_their_account_and_public_apps_reprompt() {
    let h = harness().await;
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    // Shown, not redirected: a stranger must not be bounced to any URI a
    // private app registered.
    assert_eq!(
        shown(h.engine.authorize(&req, Some(&mallory()), BINDING).await).code(),
        "access_denied"
    );

    // Public needs a verified domain covering the redirect URIs.
    let id = h.app.client.id.clone();
    let public = latchkey::clients::ClientUpdate {
        visibility: Some(Visibility::Public),
        ..Default::default()
    };
    assert_eq!(
        h.engine
            .update_client(&operator(), &id, public.clone())
            .await
            .unwrap_err()
            .code(),
        "invalid_client_metadata"
    );
    let d = h
        .engine
        .start_domain_verification(&operator(), &id, "App.Example")
        .await
        .unwrap();
    assert_eq!(d.domain, "app.example");
    assert!(d.challenge.starts_with("latchkey-verification="));
    assert_eq!(
        h.engine
            .update_client(&operator(), &id, public.clone())
            .await
            .unwrap_err()
            .code(),
        "invalid_client_metadata"
    );
    h.engine
        .confirm_domain(&operator(), &id, "app.example")
        .await
        .unwrap();
    let c = h
        .engine
        .update_client(&operator(), &id, public)
        .await
        .unwrap();
    assert_eq!(c.visibility, Visibility::Public);

    let loc = h.code_for("profile:read", true).await;
    assert!(!loc.is_empty());
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&mallory()), BINDING).await
    else {
        panic!("public apps are for anyone")
    };
    assert_eq!(p.verified_domains, vec!["app.example".to_owned()]);
    // Remembered, but public apps prompt again by default.
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
}

#[tokio::test]
async fn client_changes_between_prompt_and_decision_are_enforced() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    let req = h.authorize_request(&id, &[("redirect_uri", REDIRECT), ("scope", "dns:read")]);
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    let narrowed = latchkey::clients::ClientUpdate {
        scopes: Some(vec!["profile:read".into()]),
        ..Default::default()
    };
    h.engine
        .update_client(&operator(), &id, narrowed)
        .await
        .unwrap();
    let loc = redirect(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_scope"));

    let req = h.authorize_request(
        &id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    h.engine.delete_client(&operator(), &id).await.unwrap();
    shown(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision::default(),
                &latchkey::Source::default(),
            )
            .await,
    );
}

#[tokio::test]
async fn native_clients_without_a_secret_are_asked_again() {
    // RFC 8252 §8.6: a loopback redirect does not identify the app.
    let h = harness().await;
    let req = h.authorize_request(&h.cli.client.id, &[("scope", "zones:read")]);
    let AuthorizeOutcome::ConsentRequired(p) =
        h.engine.authorize(&req, Some(&alice()), BINDING).await
    else {
        panic!()
    };
    redirect(
        h.engine
            .accept(
                p.challenge.expose(),
                BINDING,
                &alice(),
                ConsentDecision {
                    scopes: None,
                    remember: true,
                },
                &latchkey::Source::default(),
            )
            .await,
    );
    assert!(matches!(
        h.engine.authorize(&req, Some(&alice()), BINDING).await,
        AuthorizeOutcome::ConsentRequired(_)
    ));
    assert_eq!(
        h.engine.connected_apps("alice").await.unwrap().len(),
        1,
        "the grant itself is remembered"
    );
}
