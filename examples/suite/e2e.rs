//! End-to-end tests: the real server on a loopback port, driven by the
//! `oauth2` crate for the happy paths and by raw HTTP for the error paths.

use crate::common::*;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse,
};
use serde_json::Value;

const ALICE: (&str, &str) = ("alice", "alice-pass");

/// Runs the authorization step for `client` as alice, returning the final
/// redirect, the PKCE verifier and the state.
async fn code_for(
    server: &Server,
    http: &reqwest::Client,
    client: &OAuthClient,
    scopes: &[&str],
    decision: &str,
) -> (String, PkceCodeVerifier, CsrfToken) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in scopes {
        req = req.add_scope(Scope::new((*s).into()));
    }
    let (url, state) = req.url();
    let at = authorize(http, server, url.as_str(), ALICE, decision, false).await;
    (at, verifier, state)
}

async fn me(server: &Server, token: &str) -> reqwest::Response {
    plain_http()
        .get(server.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn code_flow_with_pkce_refresh_and_revoke() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let browser = browser_http();
    let scopes = ["profile:read", "dns:edit", "offline_access"];
    let (at, verifier, state) = code_for(&server, &browser, &client, &scopes, "allow").await;

    assert!(at.starts_with(REDIRECT), "{at}");
    assert_eq!(
        query_param(&at, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&at, "iss").as_deref(),
        Some(server.base.as_str())
    );
    let code = query_param(&at, "code").expect("code");

    let http = plain_http();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().expect("refresh token").clone();
    let granted: Vec<String> = tokens
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(granted.contains(&"dns:edit".to_owned()), "{granted:?}");

    let r = me(&server, &access).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["client_id"], WEB_ID);
    assert!(
        body["scope"].as_str().unwrap().contains("dns:read"),
        "implied scope"
    );

    let info = client
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));

    // A code works once.
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(matches!(replay, Err(RequestTokenError::ServerResponse(_))));

    let refreshed = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(refreshed.access_token().secret(), &access);
    let new_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    assert_eq!(
        me(&server, refreshed.access_token().secret())
            .await
            .status(),
        200
    );

    client
        .revoke_token(StandardRevocableToken::RefreshToken(new_refresh.clone()))
        .expect("revocation configured")
        .request_async(&loopback_https)
        .await
        .expect("revocation");
    // Revoking the refresh token ends the whole family, access tokens too.
    let info = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!info.active());
    assert_eq!(
        me(&server, refreshed.access_token().secret())
            .await
            .status(),
        401
    );
    let again = client
        .exchange_refresh_token(&new_refresh)
        .request_async(&http)
        .await;
    assert!(again.is_err(), "revoked refresh token still worked");
}

#[tokio::test]
async fn public_client_needs_the_right_verifier() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d.client(CLI_ID, None, REDIRECT);
    let browser = browser_http();
    let http = plain_http();

    let (at, _verifier, _) = code_for(&server, &browser, &client, &["profile:read"], "allow").await;
    let code = query_param(&at, "code").expect("code");
    let wrong = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new("w".repeat(43)))
        .request_async(&http)
        .await;
    match wrong {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error().as_ref(), "invalid_grant");
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }

    // The browser is signed in now: the consent page comes straight back.
    let (at, verifier, _) = code_for(&server, &browser, &client, &["profile:read"], "allow").await;
    let code = query_param(&at, "code").expect("code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("public client exchange");
    assert_eq!(
        me(&server, tokens.access_token().secret()).await.status(),
        200
    );
}

#[tokio::test]
async fn deny_remember_and_foreign_private_apps() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let browser = browser_http();
    let web = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);

    let (at, _, state) = code_for(&server, &browser, &web, &["profile:read"], "deny").await;
    assert!(at.starts_with(REDIRECT));
    assert_eq!(query_param(&at, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query_param(&at, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&at, "iss").as_deref(),
        Some(server.base.as_str())
    );

    // Approve with "remember": the next request for a subset skips the page.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = web
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("zones:read".into()))
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let at = authorize(&browser, &server, url.as_str(), ALICE, "allow", true).await;
    assert!(query_param(&at, "code").is_some(), "{at}");
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = web
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("zones:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = browser.get(url.as_str()).send().await.unwrap();
    let at = location(&r, &server.base);
    assert!(
        at.starts_with(REDIRECT) && query_param(&at, "code").is_some(),
        "remembered consent should redirect at once: {at}"
    );

    // A private app of another account is refused on an error page, never
    // by redirect: anyone may register a private app with any redirect URI,
    // so redirecting strangers would make an open redirector.
    let acme = d.client(ACME_ID, None, REDIRECT);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = acme
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("profile:read".into()))
        .url();
    let r = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("private to another account"), "{body}");
}

async fn post_form(url: &str, body: &str) -> reqwest::Response {
    plain_http()
        .post(url)
        .basic_auth(WEB_ID, Some(WEB_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn json_error(r: reqwest::Response, status: u16, code: &str) -> reqwest::header::HeaderMap {
    assert_eq!(r.status(), status, "for expected {code}");
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = r.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "{body}");
    headers
}

#[tokio::test]
async fn token_introspection_and_revocation_errors_are_json() {
    let server = Server::start().await;
    let token = server.url("/oauth/token");

    let verifier = "v".repeat(43);
    let r = post_form(
        &token,
        &format!("grant_type=authorization_code&code=lk_ac_nope&code_verifier={verifier}"),
    )
    .await;
    json_error(r, 400, "invalid_grant").await;
    let r = post_form(&token, "grant_type=password&username=a&password=b").await;
    json_error(r, 400, "unsupported_grant_type").await;

    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let r = plain_http().get(server.url(path)).send().await.unwrap();
        let h = json_error(r, 405, "invalid_request").await;
        assert_eq!(h["allow"], "POST", "{path}");
        let r = plain_http().put(server.url(path)).send().await.unwrap();
        json_error(r, 405, "invalid_request").await;
    }

    let r = plain_http()
        .post(&token)
        .basic_auth(WEB_ID, Some(WEB_SECRET))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    json_error(r, 400, "invalid_request").await;

    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        for size in [20 * 1024, 200 * 1024] {
            let big = format!("grant_type=refresh_token&x={}", "a".repeat(size));
            let r = post_form(&server.url(path), &big).await;
            json_error(r, 413, "invalid_request").await;
        }
    }

    let r = plain_http()
        .post(&token)
        .basic_auth(WEB_ID, Some("wrong-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    let h = json_error(r, 401, "invalid_client").await;
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let r = plain_http()
        .post(&token)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    json_error(r, 401, "invalid_client").await;

    // Introspection of junk by a valid client: inactive, not an error.
    let r = post_form(&server.url("/oauth/introspect"), "token=junk").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    // Revocation of an unknown token is 200 (RFC 7009 §2.2).
    let r = post_form(&server.url("/oauth/revoke"), "token=junk").await;
    assert_eq!(r.status(), 200);

    // The server is still fine after all that.
    Discovered::fetch(&server).await;
}

#[tokio::test]
async fn authorization_errors_show_a_page_and_never_redirect() {
    let server = Server::start().await;
    let http = browser_http();
    let evil = "https://evil.example/cb";
    let cases = [
        format!("client_id=nobody&response_type=code&redirect_uri={evil}"),
        format!("client_id={WEB_ID}&response_type=code&redirect_uri={evil}&code_challenge=x"),
        "response_type=code".to_owned(),
    ];
    for q in cases {
        let r = http
            .get(server.url(&format!("/oauth/authorize?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get("location").is_none(), "{q} redirected");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let body = r.text().await.unwrap();
        assert!(!body.contains("evil.example"), "{body}");
    }

    // Once the redirect URI is trusted, errors go back to the client.
    let q = format!("client_id={WEB_ID}&response_type=code&redirect_uri={REDIRECT}&state=s1");
    let r = http
        .get(server.url(&format!("/oauth/authorize?{q}")))
        .send()
        .await
        .unwrap();
    let at = location(&r, &server.base);
    assert!(at.starts_with(REDIRECT));
    assert_eq!(
        query_param(&at, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&at, "state").as_deref(), Some("s1"));

    // A consent challenge from nowhere is an error page, not a redirect.
    sign_in(&http, &server, "alice", "alice-pass").await;
    let r = http
        .get(server.url("/oauth/consent?challenge=lk_cc_forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn api_answers_rfc_6750_errors() {
    let server = Server::start().await;
    let r = plain_http()
        .get(server.url("/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.starts_with("Bearer "), "{www}");
    // RFC 9728 §3.1: the resource's path follows the well-known prefix.
    let meta_url = server.url("/.well-known/oauth-protected-resource/api");
    assert!(
        www.contains(&format!("resource_metadata=\"{meta_url}\"")),
        "{www}"
    );

    let r = me(&server, "lk_at_forged").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));

    let r = plain_http()
        .get(server.url("/api/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A valid token without profile:read is forbidden, not unauthorized.
    let d = Discovered::fetch(&server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let (at, verifier, _) =
        code_for(&server, &browser_http(), &client, &["dns:read"], "allow").await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(query_param(&at, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&plain_http())
        .await
        .unwrap();
    let r = me(&server, tokens.access_token().secret()).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));

    let prm: Value = plain_http()
        .get(&meta_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], server.url("/api"));
    assert_eq!(prm["authorization_servers"][0], server.base.as_str());
    assert_eq!(prm["bearer_methods_supported"][0], "header");
}

#[tokio::test]
async fn fallbacks_are_json_for_machines_and_pages_for_people() {
    let server = Server::start().await;
    let http = plain_http();
    let r = http.get(server.url("/oauth/nope")).send().await.unwrap();
    json_error(r, 404, "not_found").await;
    let r = http
        .post(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    json_error(r, 405, "invalid_request").await;
    let r = http.get(server.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.text().await.unwrap().contains(">Not found</h1>"));
    // Oversized page forms get a page, not a hang or a reset.
    let r = http
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}", "a".repeat(64 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn pages_are_escaped_unframeable_and_csrf_protected() {
    let server = Server::start().await;
    let browser = browser_http();

    // The login page installs an HttpOnly, SameSite=Lax session cookie.
    let r = browser.get(server.url("/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"username\"") && page.contains("name=\"password\""));

    // Wrong password: an error, and still signed out.
    let r = browser
        .post(server.url("/login"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("username", "alice"),
            ("password", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Invalid username or password"));
    let r = browser
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&r, &server.base),
        server.url("/login?next=%2Faccount%2Fapps")
    );

    // A login post without the session's CSRF token does not sign in.
    let r = browser_http()
        .post(server.url("/login"))
        .form(&[("username", "alice"), ("password", "alice-pass")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The consent page: escaped, unframeable, with descriptions.
    let d = Discovered::fetch(&server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("dns:edit".into()))
        .set_pkce_challenge(challenge)
        .url();
    sign_in(&browser, &server, "alice", "alice-pass").await;
    let r = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Demo Web &#60;b&#62;&#38;&#60;/b&#62; Co"),
        "{page}"
    );
    assert!(!page.contains(WEB_NAME));
    assert!(page.contains("Create, change and delete DNS records"));
    assert!(page.contains("View DNS records"), "implied scope listed");
    // A private app of the user's own account says so (no stranger warning);
    // a loopback redirect is named as a program on this computer.
    assert!(page.contains("belongs to your organisation"), "{page}");
    assert!(
        page.contains("a program on this computer"),
        "redirect target shown"
    );
    assert!(page.contains("name=\"remember\""));
    assert!(page.contains("name=\"decision\" value=\"allow\""));
    assert!(page.contains("name=\"decision\" value=\"deny\""));

    // Approving without (or with another session's) CSRF token fails and
    // leaves the challenge usable.
    let challenge = hidden(&page, "challenge");
    let r = browser
        .post(server.url("/oauth/consent"))
        .form(&[("challenge", challenge.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another browser (another binding) cannot complete it either.
    let other = browser_http();
    sign_in(&other, &server, "alice", "alice-pass").await;
    let page2 = other
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The ticked permissions go with every decision (partial approval is
    // on), so only the binding differs.
    let ticked: Vec<(&str, String)> = ticked_scopes(&page)
        .into_iter()
        .map(|s| ("scope", s))
        .collect();
    assert!(!ticked.is_empty(), "{page}");
    let mut form = vec![
        ("csrf", hidden(&page2, "csrf")),
        ("challenge", challenge.clone()),
        ("decision", "allow".to_owned()),
    ];
    form.extend(ticked.iter().cloned());
    let r = other
        .post(server.url("/oauth/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    // Its own session's token does not decide this challenge: a consent
    // form's token is bound to the session and the challenge together
    // (the engine's binding check behind it is tested in core).
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none());
    let mut form = vec![
        ("csrf", hidden(&page, "csrf")),
        ("challenge", challenge.clone()),
        ("decision", "allow".to_owned()),
    ];
    form.extend(ticked);
    let r = browser
        .post(server.url("/oauth/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(query_param(&location(&r, &server.base), "code").is_some());
}

#[tokio::test]
async fn connected_apps_revoke_cuts_off_every_token() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let browser = browser_http();
    let http = plain_http();
    let (at, verifier, _) = code_for(
        &server,
        &browser,
        &client,
        &["profile:read", "offline_access"],
        "allow",
    )
    .await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(query_param(&at, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        me(&server, tokens.access_token().secret()).await.status(),
        200
    );

    let page = browser
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Demo Web &#60;b&#62;"), "{page}");
    assert!(!page.contains(WEB_NAME));
    assert!(page.contains("Read your name and account"));
    assert!(page.contains("Allowed 2") && page.contains("last used 2"));
    // The revoke button asks first: the tokens still work until confirmed.
    let ask = browser
        .post(server.url("/account/apps/revoke"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("grant_id", hidden(&page, "grant_id")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ask.status(), 200);
    let ask = ask.text().await.unwrap();
    assert!(ask.contains("Revoke access for"), "{ask}");
    assert!(ask.contains("Demo Web &#60;b&#62;"), "{ask}");
    assert_eq!(
        me(&server, tokens.access_token().secret()).await.status(),
        200
    );
    let r = browser
        .post(server.url("/account/apps/revoke"))
        .form(&[
            ("csrf", hidden(&ask, "csrf")),
            ("grant_id", hidden(&ask, "grant_id")),
            ("confirm", "yes".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r, &server.base), server.url("/account/apps"));
    let page = browser
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Access revoked"));
    assert!(page.contains("No app can use your account"));

    assert_eq!(
        me(&server, tokens.access_token().secret()).await.status(),
        401
    );
    let info = client
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!info.active());
    let refresh = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await;
    assert!(refresh.is_err());

    // Someone else's grant id (or a made-up one) is not found.
    let r = browser
        .post(server.url("/account/apps/revoke"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("grant_id", "lkg_x"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn secret_on(page: &str) -> Option<String> {
    let start = page.find("<code class=\"secret\">")? + "<code class=\"secret\">".len();
    let end = page[start..].find('<')? + start;
    Some(page[start..end].to_owned())
}

async fn introspect_as(server: &Server, id: &str, secret: &str) -> u16 {
    plain_http()
        .post(server.url("/oauth/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "junk")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn console_post(
    browser: &reqwest::Client,
    server: &Server,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser
        .get(server.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let mut f: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    f.extend_from_slice(form);
    browser
        .post(server.url(path))
        .form(&f)
        .send()
        .await
        .unwrap()
}

async fn console_page(browser: &reqwest::Client, server: &Server) -> String {
    browser
        .get(server.url("/console"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn console_registers_rotates_verifies_and_deletes() {
    let server = Server::start_with(|c| {
        c.trust_domain_claims = true;
        c.operators = vec!["bob".into()];
    })
    .await;
    let browser = browser_http();
    sign_in(&browser, &server, "bob", "bob-pass").await;

    // Seeded apps of the account are listed.
    let page = console_page(&browser, &server).await;
    assert!(page.contains(WEB_ID) && page.contains(CLI_ID));
    assert!(!page.contains(ACME_ID), "another account's app is hidden");

    let body = "name=Zone+%3Cscript%3E+Tool&redirect_uris=https%3A%2F%2Fapp.example.com%2Fcb\
        &scope=zones%3Aread&scope=profile%3Aread&client_type=confidential";
    let csrf = hidden(&page, "csrf");
    let r = browser
        .post(server.url("/console/apps"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&{body}"))
        .send()
        .await
        .unwrap();
    // Post/redirect/get: the secret waits for the page after the redirect.
    assert_eq!(location(&r, &server.base), server.url("/console"));
    let page = console_page(&browser, &server).await;
    assert!(page.contains("Zone &lt;script&gt; Tool"));
    assert!(!page.contains("<script>"));
    let secret = secret_on(&page).expect("secret shown once");
    let marker = "<code class=\"client-id\">lkc_";
    let at = page.find(marker).expect("new client id") + marker.len() - 4;
    let id = page[at..at + page[at..].find('<').unwrap()].to_owned();
    assert_eq!(introspect_as(&server, &id, &secret).await, 200);
    let page = console_page(&browser, &server).await;
    assert!(
        secret_on(&page).is_none() && !page.contains(&secret),
        "shown only once"
    );

    // Rotation asks first: without the confirmation nothing changes.
    let r = console_post(&browser, &server, "/console/rotate", &[("client_id", &id)]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Nothing changed"));
    assert_eq!(introspect_as(&server, &id, &secret).await, 200);
    // Confirmed: a new secret, shown once; the old one still works for now.
    let r = console_post(
        &browser,
        &server,
        "/console/rotate",
        &[("client_id", &id), ("confirm", "yes")],
    )
    .await;
    assert_eq!(location(&r, &server.base), server.url("/console"));
    let new_secret = secret_on(&console_page(&browser, &server).await).expect("rotated secret");
    assert!(
        secret_on(&console_page(&browser, &server).await).is_none(),
        "a reload shows no secret and rotates nothing"
    );
    assert_ne!(new_secret, secret);
    assert_eq!(introspect_as(&server, &id, &new_secret).await, 200);
    assert_eq!(introspect_as(&server, &id, &secret).await, 200);

    // Public needs a verified domain.
    let r = console_post(
        &browser,
        &server,
        "/console/visibility",
        &[("client_id", &id), ("visibility", "public")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("verified domain"));
    let r = console_post(
        &browser,
        &server,
        "/console/domain",
        &[("client_id", &id), ("domain", "app.example.com")],
    )
    .await;
    assert_eq!(location(&r, &server.base), server.url("/console"));
    let page = console_page(&browser, &server).await;
    assert!(page.contains("_latchkey-challenge.app.example.com"));
    // The record to publish is a table; the domain field is labelled;
    // delete and rotate ask first (a second button inside <details>).
    assert!(page.contains("<th scope=\"col\">Type</th>") && page.contains("<td>TXT</td>"));
    assert!(page.contains(&format!("<label for=\"domain-{id}\">")));
    assert!(page.contains("<details class=\"confirm\">") && page.contains("Yes, delete"));
    assert!(page.contains("Yes, rotate"));
    assert!(page.contains("latchkey-verification="), "challenge shown");
    assert!(page.contains("Check now") && page.contains("Confirm without checking (operator)"));
    let r = console_post(
        &browser,
        &server,
        "/console/domain/trust",
        &[("client_id", &id), ("domain", "app.example.com")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = console_page(&browser, &server).await;
    assert!(page.contains("Domain confirmed without checking") && page.contains("Make public"));
    let r = console_post(
        &browser,
        &server,
        "/console/visibility",
        &[("client_id", &id), ("visibility", "public")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(console_page(&browser, &server)
        .await
        .contains("public: any user may authorize it"));

    let r = console_post(&browser, &server, "/console/delete", &[("client_id", &id)]).await;
    assert_eq!(r.status(), 400, "delete without confirmation");
    assert!(console_page(&browser, &server).await.contains(&id));
    let r = console_post(
        &browser,
        &server,
        "/console/delete",
        &[("client_id", &id), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(!console_page(&browser, &server).await.contains(&id));
    assert_eq!(introspect_as(&server, &id, &new_secret).await, 401);

    // Bad registrations are explained, not half-stored, and what was typed
    // stays in the form.
    let r = console_post(
        &browser,
        &server,
        "/console/apps",
        &[
            ("name", "Typed <name>"),
            ("redirect_uris", "http://example.com/cb"),
            ("scope", "zones:read"),
            ("client_type", "public"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("note error"), "{page}");
    assert!(page.contains("value=\"Typed &lt;name&gt;\""), "name kept");
    assert!(
        page.contains(">http://example.com/cb</textarea>"),
        "URIs kept"
    );
    assert!(page.contains("value=\"zones:read\" id=\"scope-zones:read\" checked"));
    assert!(
        page.contains("value=\"public\" checked"),
        "client type kept"
    );
    // At least one scope.
    let r = console_post(
        &browser,
        &server,
        "/console/apps",
        &[
            ("name", "No scopes"),
            ("redirect_uris", "https://a.example/cb"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("at least one scope"));
    assert!(!console_page(&browser, &server).await.contains("No scopes"));
}

#[tokio::test]
async fn console_refuses_unchecked_domains_and_foreign_apps() {
    // Trusting claims is on, but alice is no operator: she only gets the
    // real check.
    let server = Server::start_with(|c| {
        c.trust_domain_claims = true;
        c.operators = vec!["bob".into()];
    })
    .await;
    let browser = browser_http();
    sign_in(&browser, &server, "alice", "alice-pass").await;
    let r = console_post(
        &browser,
        &server,
        "/console/domain",
        &[("client_id", WEB_ID), ("domain", "web.example.com")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = console_page(&browser, &server).await;
    assert!(page.contains("Check now"));
    assert!(!page.contains("Confirm without checking"));
    let r = console_post(
        &browser,
        &server,
        "/console/domain/trust",
        &[("client_id", WEB_ID), ("domain", "web.example.com")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(!console_page(&browser, &server)
        .await
        .contains("web.example.com</b> <span class=\"tag\">verified"));

    for path in ["/console/rotate", "/console/delete"] {
        let form = [("client_id", ACME_ID), ("confirm", "yes")];
        let r = console_post(&browser, &server, path, &form).await;
        assert_eq!(r.status(), 404, "{path} on another account's app");
    }
    // Without the CSRF token nothing happens.
    let r = browser
        .post(server.url("/console/delete"))
        .form(&[("client_id", WEB_ID), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(console_page(&browser, &server).await.contains(WEB_ID));
}

#[tokio::test]
async fn a_panicking_handler_does_not_take_the_server_down() {
    let server = Server::start_panicking().await;
    for _ in 0..3 {
        let r = plain_http().get(server.url("/boom")).send().await.unwrap();
        json_error(r, 500, "server_error").await;
    }
    Discovered::fetch(&server).await;
}

/// The real binary: starts with flags, creates the data dir and a 0600
/// key, seeds clients, serves, and reuses the key on the next start.
#[tokio::test]
async fn the_binary_starts_seeds_and_keeps_its_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.json");
    std::fs::write(&clients, seed_json().to_string()).unwrap();
    let data = dir.path().join("data");
    let mut keys = Vec::new();
    for _ in 0..2 {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let mut child = tokio::process::Command::new(crate::server::EXE)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data)
            .env("LATCHKEY_ISSUER", &base)
            .env("LATCHKEY_CLIENTS", &clients)
            .kill_on_drop(true)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut meta = None;
        for _ in 0..100 {
            if let Ok(r) = plain_http()
                .get(format!("{base}/.well-known/oauth-authorization-server"))
                .send()
                .await
            {
                meta = Some(r.json::<Value>().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let meta = meta.expect("binary did not come up");
        assert_eq!(meta["issuer"], base.as_str());
        // A seeded confidential client authenticates with its file secret.
        let r = plain_http()
            .post(format!("{base}/oauth/introspect"))
            .basic_auth(WEB_ID, Some(WEB_SECRET))
            .form(&[("token", "junk")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        child.kill().await.unwrap();
        // A fresh data dir gets the key directory's first key.
        let key = data.join("key-0");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        keys.push(std::fs::read(&key).unwrap());
    }
    assert_eq!(keys[0].len(), 32);
    assert_eq!(keys[0], keys[1], "key reused across restarts");
}

/// The built-in demo clients are seeded by default and listed in the
/// console; `--no-demo-clients` leaves them out and turns `/demo` off.
#[tokio::test]
async fn demo_clients_are_seeded_unless_turned_off() {
    for on in [true, false] {
        let server = Server::start_with(|c| c.demo_clients = on).await;
        let browser = browser_http();
        sign_in(&browser, &server, "alice", "alice-pass").await;
        let page = console_page(&browser, &server).await;
        assert_eq!(page.contains(">demo-app</code>"), on, "{page}");
        let r = browser.get(server.url("/demo")).send().await.unwrap();
        assert_eq!(r.status(), if on { 200 } else { 404 });
        let r = browser.get(server.url("/demo/start")).send().await.unwrap();
        assert_eq!(r.status(), if on { 303 } else { 404 });
    }
}

/// `/demo` runs a real code flow with PKCE for the seeded `demo-app` and
/// shows the tokens, masked, with the granted scopes; its callback works
/// once, and only in the browser that started the flow.
#[tokio::test]
async fn the_demo_client_page_completes_a_flow() {
    let server = Server::start().await;
    let browser = browser_http();
    let page = browser
        .get(server.url("/demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("60 seconds") && page.contains("second time revokes"));
    let r = browser
        .get(server.url("/demo/start?scope=profile%3Aread&scope=offline_access"))
        .send()
        .await
        .unwrap();
    let auth = location(&r, &server.base);
    assert!(auth.starts_with(&server.url("/oauth/authorize?")), "{auth}");
    assert_eq!(query_param(&auth, "client_id").as_deref(), Some("demo-app"));
    assert_eq!(
        query_param(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let back = authorize(&browser, &server, &auth, ALICE, "allow", false).await;
    assert!(back.starts_with(&server.url("/demo/callback?")), "{back}");
    let code = query_param(&back, "code").expect("code");

    // Another browser cannot use this callback (its state is not theirs).
    let r = browser_http().get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);

    let r = browser.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let page = r.text().await.unwrap();
    assert!(page.contains("The code was exchanged"), "{page}");
    assert!(page.contains("<code>profile:read</code>"), "{page}");
    assert!(page.contains("<code>offline_access</code>"), "{page}");
    assert!(
        page.contains("you are <b>alice</b>"),
        "the API accepted it: {page}"
    );
    // Tokens masked: a prefix and the length, never the whole token.
    let tokens: Vec<&str> = page
        .split("<code class=\"token\">")
        .skip(1)
        .map(|t| &t[..t.find("</code>").unwrap()])
        .collect();
    assert_eq!(tokens.len(), 2, "access and refresh token: {page}");
    for t in tokens {
        assert!(t.starts_with("lk_") && t.contains("… ("), "{t}");
        assert!(t.split('…').next().unwrap().chars().count() <= 12, "{t}");
    }
    assert!(!page.contains(&code), "the code is not shown either");

    // The callback works once.
    let r = browser.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // The grant is real: it is on the connected-apps page.
    let apps = browser
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(apps.contains("Demo app"), "{apps}");
}

/// "Not you? Switch account" on the consent page: signed out, signed in as
/// bob, and the same request (state, PKCE) asks bob; the code is bob's.
#[tokio::test]
async fn switch_account_keeps_the_request() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let browser = browser_http();
    sign_in(&browser, &server, ALICE.0, ALICE.1).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let page = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200, "consent for alice");
    let page = page.text().await.unwrap();
    assert!(page.contains("alice") && page.contains("Switch account"));
    let r = browser
        .post(server.url("/oauth/consent"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("challenge", hidden(&page, "challenge")),
            ("decision", "switch_account".into()),
        ])
        .send()
        .await
        .unwrap();
    let to_login = location(&r, &server.base);
    assert!(
        to_login.starts_with(&server.url("/login?next=")),
        "{to_login}"
    );
    let login = browser.get(&to_login).send().await.unwrap();
    let login = login.text().await.unwrap();
    assert!(!login.contains("Signed in as"), "alice was signed out");
    let next = hidden(&login, "next").replace("&amp;", "&");
    let at = authorize(
        &browser,
        &server,
        &server.url(&next),
        ("bob", "bob-pass"),
        "allow",
        false,
    )
    .await;
    assert_eq!(
        query_param(&at, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let tokens = client
        .exchange_code(AuthorizationCode::new(query_param(&at, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&plain_http())
        .await
        .unwrap();
    let who: Value = me(&server, tokens.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["sub"], "bob");
}

/// A command-line tool signs in with the device grant (RFC 8628) through
/// the `oauth2` crate while a browser (signed in as alice) types nothing:
/// it opens `verification_uri_complete`, confirms the code and consents.
#[tokio::test]
async fn a_cli_signs_in_with_the_device_grant() {
    use oauth2::{DeviceAuthorizationUrl, StandardDeviceAuthorizationResponse};
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d
        .client(CLI_ID, None, REDIRECT)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(d.s("device_authorization_endpoint")).unwrap(),
        );
    let http = plain_http();
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        details.verification_uri().as_str(),
        server.url("/device"),
        "verification_uri"
    );
    let poll = {
        let (client, http, details) = (client.clone(), http.clone(), details.clone());
        tokio::spawn(async move {
            client
                .exchange_device_access_token(&details)
                .request_async(&http, tokio::time::sleep, None)
                .await
        })
    };

    let browser = browser_http();
    sign_in(&browser, &server, ALICE.0, ALICE.1).await;
    let complete = details
        .verification_uri_complete()
        .unwrap()
        .secret()
        .clone();
    let page = browser.get(&complete).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains(details.user_code().secret()), "pre-filled");
    let r = browser
        .post(server.url("/device"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("user_code", details.user_code().secret().clone()),
        ])
        .send()
        .await
        .unwrap();
    let consent = location(&r, &server.base);
    assert!(
        consent.starts_with(&server.url("/oauth/consent?")),
        "{consent}"
    );
    let page = browser
        .get(&consent)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Demo CLI"), "{page}");
    let r = browser
        .post(server.url("/oauth/consent"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("challenge", hidden(&page, "challenge")),
            ("decision", "allow".into()),
            ("scope", "profile:read".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the page says the device may continue");

    let tokens = tokio::time::timeout(std::time::Duration::from_secs(30), poll)
        .await
        .expect("the device got its tokens within 30 s")
        .unwrap()
        .unwrap();
    let who: Value = me(&server, tokens.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["sub"], "alice");
    assert!(tokens.refresh_token().is_none(), "offline_access not asked");
}

/// Abuse controls over a real socket (so the source address is the
/// framework's): ten wrong secrets for one client from this address, and
/// the eleventh try, even with the right secret, is `429` with
/// `Retry-After`. Another client from the same address is still judged.
#[tokio::test]
async fn failed_client_authentication_is_rate_limited() {
    let server = Server::start().await;
    let introspect = |id: &'static str, secret: &'static str| {
        plain_http()
            .post(server.url("/oauth/introspect"))
            .basic_auth(id, Some(secret))
            .form(&[("token", "lk_at_nothing")])
            .send()
    };
    for _ in 0..10 {
        assert_eq!(introspect(WEB_ID, "wrong").await.unwrap().status(), 401);
    }
    let r = introspect(WEB_ID, WEB_SECRET).await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert_eq!(
        introspect(ACME_ID, "wrong").await.unwrap().status(),
        401,
        "another client is not refused for this one's failures"
    );
}

/// `/metrics` (Prometheus' text format) counts the OAuth routes by
/// endpoint and outcome, and the security signals.
#[tokio::test]
async fn metrics_are_exported_for_prometheus() {
    let server = Server::start().await;
    let r = plain_http()
        .post(server.url("/oauth/introspect"))
        .basic_auth(WEB_ID, Some("wrong"))
        .form(&[("token", "lk_at_nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = plain_http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for want in [
        "latchkey_requests_total{endpoint=\"introspect\",status=\"401\",error=\"invalid_client\"}",
        "latchkey_client_auth_failures_total",
        "latchkey_request_duration_seconds",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(!text.contains("lk_at_"), "no token in the metrics");
}

/// The outbox as a test reads it: every event so far, with its audit.
async fn audited(server: &Server) -> Vec<latchkey::model::Event> {
    server
        .app
        .engine
        .poll_events("audit-test", 10_000)
        .await
        .expect("poll events")
}

/// The audit of the one event of `kind` (its `type` name) for `client_id`.
fn audit_of(events: &[latchkey::model::Event], kind: &str, client_id: &str) -> latchkey::Audit {
    let found: Vec<_> = events
        .iter()
        .filter(|e| {
            let v = serde_json::to_value(&e.kind).unwrap();
            v["type"] == kind && v["client_id"] == client_id
        })
        .collect();
    assert_eq!(found.len(), 1, "{kind} events for {client_id}: {events:?}");
    found[0].audit.clone().expect("audit recorded")
}

fn user(subject: &str) -> latchkey::Actor {
    latchkey::Actor::User {
        subject: subject.into(),
    }
}

fn client_actor(client_id: &str) -> latchkey::Actor {
    latchkey::Actor::Client {
        client_id: client_id.into(),
    }
}

#[tokio::test]
async fn events_name_who_acted_from_which_address_and_browser() {
    let server = Server::start_with(|c| c.open_registration = true).await;
    let d = Discovered::fetch(&server).await;
    let loopback: std::net::IpAddr = [127, 0, 0, 1].into();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent("AuditBrowser/1.0 (X11)")
        .build()
        .unwrap();
    let app_http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("AuditApp/2.0")
        .build()
        .unwrap();

    // Consent: the user, from the browser that posted the decision.
    let client = d.client(WEB_ID, Some(WEB_SECRET), REDIRECT);
    let (at, verifier, _) = code_for(&server, &browser, &client, &["profile:read"], "allow").await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(query_param(&at, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&plain_http())
        .await
        .unwrap();
    let events = audited(&server).await;
    for kind in ["grant_created", "consent_given"] {
        let a = audit_of(&events, kind, WEB_ID);
        assert_eq!(a.actor, user("alice"), "{kind}");
        assert_eq!(a.source.address(), Some(loopback));
        assert_eq!(a.source.user_agent(), Some("AuditBrowser/1.0 (X11)"));
    }

    // RFC 7009 revocation: the authenticated client, from its own request.
    let r = app_http
        .post(d.s("revocation_endpoint"))
        .basic_auth(WEB_ID, Some(WEB_SECRET))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = audit_of(&audited(&server).await, "access_token_revoked", WEB_ID);
    assert_eq!(a.actor, client_actor(WEB_ID));
    assert_eq!(a.source.address(), Some(loopback));
    assert_eq!(a.source.user_agent(), Some("AuditApp/2.0"));

    // Dashboard revocation: the signed-in user, from the browser.
    let page = browser
        .get(server.url("/account/apps"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(server.url("/account/apps/revoke"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("grant_id", hidden(&page, "grant_id")),
            ("confirm", "yes".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let a = audit_of(&audited(&server).await, "grant_revoked", WEB_ID);
    assert_eq!(a.actor, user("alice"));
    assert_eq!(a.source.address(), Some(loopback));
    assert_eq!(a.source.user_agent(), Some("AuditBrowser/1.0 (X11)"));

    // Dynamic registration: the new client itself. Its user agent carries
    // something shaped like a token, which is never stored.
    let r = plain_http()
        .post(d.s("registration_endpoint"))
        .header("User-Agent", "AuditAgent/3.0 lk_at_notreallyatoken")
        .json(&serde_json::json!({
            "client_name": "Audit Agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let new_id = r.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = audit_of(&audited(&server).await, "client_created", &new_id);
    assert_eq!(a.actor, client_actor(&new_id));
    assert_eq!(a.source.address(), Some(loopback));
    assert_eq!(a.source.user_agent(), Some("AuditAgent/3.0 [redacted]"));
    let created = server.app.engine.get_client(&new_id).await.unwrap();
    assert_eq!(created.created_by, Some(client_actor(&new_id)));
}

/// The console's `client_id` of the app named `name` on `page`.
fn app_id_named(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("<bdi>{name}</bdi>"))
        .expect("app listed");
    let rest = &page[at..];
    let start =
        rest.find("<code class=\"client-id\">").unwrap() + "<code class=\"client-id\">".len();
    rest[start..start + rest[start..].find('<').unwrap()].to_owned()
}

async fn console_register(browser: &reqwest::Client, server: &Server, name: &str) -> u16 {
    console_post(
        browser,
        server,
        "/console/apps",
        &[
            ("name", name),
            ("redirect_uris", "https://app.example.com/cb"),
            ("scope", "profile:read"),
            ("client_type", "confidential"),
        ],
    )
    .await
    .status()
    .as_u16()
}

async fn console_confirmed(
    browser: &reqwest::Client,
    server: &Server,
    path: &str,
    id: &str,
) -> u16 {
    console_post(
        browser,
        server,
        path,
        &[("client_id", id), ("confirm", "yes")],
    )
    .await
    .status()
    .as_u16()
}

/// The number of `kind` events for `client_id` in the outbox so far.
async fn count_events(server: &Server, kind: &str, client_id: &str) -> usize {
    audited(server)
        .await
        .iter()
        .filter(|e| {
            let v = serde_json::to_value(&e.kind).unwrap();
            v["type"] == kind && v["client_id"] == client_id
        })
        .count()
}

#[tokio::test]
async fn console_roles_limit_rotation_and_deletion() {
    let server = Server::start().await;
    let alice = browser_http();
    sign_in(&alice, &server, "alice", "alice-pass").await;
    let bob = browser_http();
    sign_in(&bob, &server, "bob", "bob-pass").await;

    assert_eq!(console_register(&alice, &server, "Alice Tool").await, 303);
    let alices = app_id_named(&console_page(&alice, &server).await, "Alice Tool");
    let _ = console_page(&alice, &server).await; // the secret shown once

    // Bob, a developer, did not create it (nor the seeded app): the page
    // offers him no rotate or delete, and posting anyway is refused with
    // nothing changed and no secret shown.
    let page = console_page(&bob, &server).await;
    assert!(page.contains(&alices), "bob sees the account's apps");
    assert!(!page.contains("Rotate secret"), "{page}");
    assert!(!page.contains("Delete app"), "{page}");
    for id in [alices.as_str(), WEB_ID] {
        let r = console_post(
            &bob,
            &server,
            "/console/rotate",
            &[("client_id", id), ("confirm", "yes")],
        )
        .await;
        assert_eq!(r.status(), 403, "rotate {id}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("creator or an account owner may rotate"),
            "{page}"
        );
        assert!(secret_on(&page).is_none());
        assert_eq!(
            console_confirmed(&bob, &server, "/console/delete", id).await,
            403,
            "delete {id}"
        );
        assert_eq!(count_events(&server, "secret_rotated", id).await, 0);
    }
    assert!(secret_on(&console_page(&bob, &server).await).is_none());
    assert!(server.app.engine.get_client(&alices).await.is_ok());
    assert_eq!(introspect_as(&server, WEB_ID, WEB_SECRET).await, 200);

    // His own app he may rotate and delete; the owner may rotate any.
    assert_eq!(console_register(&bob, &server, "Bob Tool").await, 303);
    let bobs = app_id_named(&console_page(&bob, &server).await, "Bob Tool");
    assert_eq!(
        console_confirmed(&bob, &server, "/console/rotate", &bobs).await,
        303
    );
    assert!(secret_on(&console_page(&bob, &server).await).is_some());
    assert_eq!(
        console_confirmed(&alice, &server, "/console/rotate", &alices).await,
        303
    );
    assert_eq!(
        console_confirmed(&alice, &server, "/console/rotate", &bobs).await,
        303
    );

    let events = audited(&server).await;
    let rotations: Vec<latchkey::Actor> = events
        .iter()
        .filter(|e| {
            let v = serde_json::to_value(&e.kind).unwrap();
            v["type"] == "secret_rotated"
        })
        .map(|e| e.audit.clone().expect("audit").actor)
        .collect();
    assert_eq!(rotations, [user("bob"), user("alice"), user("alice")]);
    let created = audit_of(&events, "client_created", &bobs);
    assert_eq!(created.actor, user("bob"));
    assert_eq!(created.source.address(), Some([127, 0, 0, 1].into()));

    assert_eq!(
        console_confirmed(&bob, &server, "/console/delete", &bobs).await,
        303
    );
    let deleted = audit_of(&audited(&server).await, "client_deleted", &bobs);
    assert_eq!(deleted.actor, user("bob"));
}

#[tokio::test]
async fn console_viewers_change_nothing() {
    let server = Server::start_with(|c| c.viewers = vec!["bob".into()]).await;
    let bob = browser_http();
    sign_in(&bob, &server, "bob", "bob-pass").await;
    let page = console_page(&bob, &server).await;
    assert!(page.contains(WEB_ID));
    assert!(page.contains("You are a viewer"), "{page}");
    assert!(!page.contains("action=\"/console/apps\""));
    // Seeding may have updated it already: only new events count.
    let updates_before = count_events(&server, "client_updated", CLI_ID).await;
    assert_eq!(console_register(&bob, &server, "Viewer Tool").await, 403);
    assert_eq!(
        console_confirmed(&bob, &server, "/console/rotate", WEB_ID).await,
        403
    );
    assert_eq!(
        console_confirmed(&bob, &server, "/console/delete", WEB_ID).await,
        403
    );
    let r = console_post(
        &bob,
        &server,
        "/console/visibility",
        &[("client_id", CLI_ID), ("visibility", "private")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(count_events(&server, "secret_rotated", WEB_ID).await, 0);
    assert_eq!(
        count_events(&server, "client_updated", CLI_ID).await,
        updates_before
    );
    assert!(!server
        .app
        .engine
        .list_clients("demo")
        .await
        .unwrap()
        .iter()
        .any(|c| c.name == "Viewer Tool"));
    assert!(server.app.engine.get_client(WEB_ID).await.is_ok());
}

/// A flood of cookie-less sign-in pages (about 10,000, what once evicted
/// every pending sign-in) between a user's first step and their last: the
/// user still signs in and consents, and the flood left nothing stored,
/// because an anonymous visit is a signed pre-session in its cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_less_flood_does_not_undo_a_pending_sign_in() {
    let server = Server::start().await;
    let d = Discovered::fetch(&server).await;
    let client = d.client(CLI_ID, None, REDIRECT);
    let browser = browser_http();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = browser.get(url.as_str()).send().await.unwrap();
    let login = location(&r, &server.base);
    let page = browser
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let served = flood(&server, 10_000).await;
    let took = started.elapsed();
    eprintln!("flood: 10000 cookie-less GET /login, {served} served, in {took:?}");
    assert!(served >= 9_000, "the flood was mostly served: {served}");
    // What a cookie-less visit leaves: a signed pre-session in the cookie.
    let r = plain_http().get(server.url("/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("latchkey_session=p1."), "{cookie}");

    let at = submit_sign_in(&browser, &server, &page, ALICE).await;
    assert!(at.starts_with(&server.url("/oauth/consent")), "{at}");
    let page = browser.get(&at).send().await.unwrap().text().await.unwrap();
    let at = submit_consent(&browser, &server, &page, "allow", false).await;
    let code = query_param(&at, "code").unwrap_or_else(|| panic!("no code: {at}"));
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&plain_http())
        .await
        .expect("the code works");
}
