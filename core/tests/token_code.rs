//! Token endpoint: authorization_code grant and client authentication
//! (OAuth 2.1 §3.2, §4.1.3, RFC 6749 §5, RFC 7636 §4.6).

mod common;

use common::*;
use latchkey::http::HttpRequest;

#[tokio::test]
async fn code_exchange_issues_bound_tokens_with_no_store() {
    let h = harness().await;
    let code = h.code_for("dns:edit", false).await;
    let r = h.exchange(&code).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json_body();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 900);
    assert_eq!(
        j["scope"], "dns:edit dns:read",
        "implied scopes are granted"
    );
    let at = j["access_token"].as_str().unwrap();
    let rt = j["refresh_token"].as_str().unwrap();
    assert!(at.starts_with("lk_at_") && at.len() == 50);
    assert!(rt.starts_with("lk_rt_"));
    let info = h.introspect(at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["aud"], serde_json::json!([API]));
    assert_eq!(info["iss"], ISSUER);
}

#[tokio::test]
async fn code_is_single_use_and_replay_revokes_what_it_issued() {
    let h = harness().await;
    let code = h.code_for("profile:read", false).await;
    let first = h.exchange(&code).await.json_body();
    let at = first["access_token"].as_str().unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    assert!(h.active(at).await);
    let replay = h.exchange(&code).await;
    assert_eq!(
        (replay.status, error_code(&replay).as_str()),
        (400, "invalid_grant")
    );
    assert!(!h.active(at).await, "replay revokes the access token");
    assert!(!h.active(rt).await, "and the refresh token");
    assert_eq!(error_code(&h.refresh(rt, &[]).await), "invalid_grant");
}

#[tokio::test]
async fn code_bindings_are_enforced() {
    let h = harness().await;
    let code = h.code_for("profile:read", false).await;
    let auth = h.app_auth();
    let post = |pairs: Vec<(&str, &str)>| {
        HttpRequest::form_post(&pairs).with_header("Authorization", &auth)
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/other"),
                ("code_verifier", VERIFIER),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "lk_ac_nope"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("resource", "https://other.example/"),
            ],
            "invalid_target",
        ),
        (
            vec![("grant_type", "password"), ("username", "a")],
            "unsupported_grant_type",
        ),
        (vec![("code", &code)], "invalid_request"),
    ];
    for (pairs, expected) in cases {
        let r = h.engine.token(&post(pairs.clone())).await;
        assert_eq!(
            (r.status, error_code(&r)),
            (400, expected.to_owned()),
            "{pairs:?}"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // None of that used the code up.
    assert_eq!(h.exchange(&code).await.status, 200);
}

#[tokio::test]
async fn wrong_verifier_does_not_burn_the_code_but_five_do() {
    let h = harness().await;
    let wrong = "x".repeat(43);
    let h = &h;
    let try_with = |code: String, v: String| {
        let req = HttpRequest::form_post(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
        ])
        .with_header("Authorization", &h.app_auth());
        async move { h.engine.token(&req).await }
    };
    let code = h.code_for("profile:read", false).await;
    for _ in 0..4 {
        assert_eq!(
            error_code(&try_with(code.clone(), wrong.clone()).await),
            "invalid_grant"
        );
    }
    assert_eq!(
        h.exchange(&code).await.status,
        200,
        "four failures leave it usable"
    );
    let code = h.code_for("profile:read", false).await;
    for _ in 0..5 {
        try_with(code.clone(), wrong.clone()).await;
    }
    assert_eq!(
        error_code(&h.exchange(&code).await),
        "invalid_grant",
        "the fifth burns it"
    );
}

#[tokio::test]
async fn code_expires_and_is_bound_to_its_client() {
    let h = harness().await;
    let code = h.code_for("profile:read", false).await;
    h.clock.advance(60);
    assert_eq!(error_code(&h.exchange(&code).await), "invalid_grant");
    // Another client with valid credentials cannot redeem it.
    let code = h.code_for("profile:read", false).await;
    let req = HttpRequest::form_post(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", &h.cli.client.id),
    ]);
    let r = h.engine.token(&req).await;
    assert_eq!(
        error_code(&r),
        "invalid_grant",
        "a code issued to another client"
    );
    assert_eq!(h.exchange(&code).await.status, 200);
}

#[tokio::test]
async fn revoking_the_grant_before_exchange_kills_the_code() {
    let h = harness().await;
    let code = h.code_for("profile:read", false).await;
    let apps = h.engine.connected_apps("alice").await.unwrap();
    h.engine
        .revoke_grant(&latchkey::Audit::system(), "alice", &apps[0].grant_id)
        .await
        .unwrap();
    assert_eq!(error_code(&h.exchange(&code).await), "invalid_grant");
}

#[tokio::test]
async fn client_authentication_rules() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    let secret = h.app.secret.as_ref().unwrap().expose().to_owned();
    let cc = [("grant_type", "client_credentials")];

    let r = h
        .engine
        .token(&HttpRequest::form_post(&cc).with_header("Authorization", &basic(&id, "wrong")))
        .await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));

    let r = h
        .engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ]))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (401, "invalid_client"),
        "registered for Basic, used post"
    );
    assert!(
        r.header("www-authenticate").is_some(),
        "every 401 names the scheme"
    );

    let r = h
        .engine
        .token(
            &HttpRequest::form_post(&[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ])
            .with_header("Authorization", &basic(&id, &secret)),
        )
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "invalid_request"),
        "two methods"
    );

    let r = h.engine.token(&HttpRequest::form_post(&cc)).await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));

    let r = h
        .engine
        .token(&HttpRequest::form_post(&cc).with_header("Authorization", &basic("ghost", "x")))
        .await;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_client"));

    let r = h
        .engine
        .token(&HttpRequest::form_post(&[
            ("grant_type", "client_credentials"),
            ("client_id", &h.cli.client.id),
            ("client_secret", "x"),
        ]))
        .await;
    assert_eq!(r.status, 401, "a public client presenting a secret");

    let r = h
        .engine
        .token(&HttpRequest::form_post(&cc).with_header("Authorization", &basic(&id, &secret)))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn malformed_http_gets_json_errors() {
    let h = harness().await;
    let mut get = HttpRequest::form_post(&[("grant_type", "client_credentials")]);
    get.method = "GET".into();
    let r = h.engine.token(&get).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(error_code(&r), "invalid_request");

    let mut json = HttpRequest::form_post(&[]);
    json.headers = vec![("Content-Type".into(), "application/json".into())];
    json.body = br#"{"grant_type":"client_credentials"}"#.to_vec();
    assert_eq!(error_code(&h.engine.token(&json).await), "invalid_request");

    let mut big = HttpRequest::form_post(&[]);
    big.body = vec![b'a'; 20_000];
    let r = h.engine.token(&big).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (413, "invalid_request")
    );

    for body in [
        &b"grant_type=%ZZ"[..],
        &b"grant_type=\xff\xfe"[..],
        &b"grant_type=a&grant_type=b"[..],
    ] {
        let mut req = HttpRequest::form_post(&[]);
        req.body = body.to_vec();
        let r = h.engine.token(&req).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_request"),
            "{body:?}"
        );
        assert!(r.header("content-type").unwrap().contains("json"));
    }
}
