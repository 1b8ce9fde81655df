//! The token (RFC 6749 §3.2), introspection (RFC 7662 §2.1) and revocation
//! (RFC 7009 §2.1) endpoints with arbitrary method, content type,
//! `Authorization` header, query and form body; the Basic credentials
//! parser (RFC 6749 §2.3.1) and bearer headers (RFC 6750 §2.1).
//!
//! Placeholders in the header and body stand for what only exists at run
//! time: `@app`, `@cli`, `@secret`, `@basic` (the app's Basic
//! credentials), `@code`, `@at` and `@rt` (a live code, access and
//! refresh token of the app).
//!
//! Checks: every answer is a JSON object (or RFC 7009's empty 200) of an
//! expected status with an RFC 6749 §5.2 error object; a 200 from the
//! token endpoint carries a Bearer token; errors echo no credential; a
//! bearer header verifies only with the live access token; Basic
//! credentials round-trip through the parser.
#![no_main]

use latchkey::http::{bearer_token, HttpRequest};
use latchkey::introspect::Audience;
use latchkey_fuzz::{basic, block_on, check_json_answer, fill, harness};
use libfuzzer_sys::fuzz_target;

/// Flags: endpoint (bits 0-1: token, introspection, revocation, bearer
/// check), POST (bit 2), content type (bits 3-4), an `Authorization`
/// header (bit 5). Fields: authorization, query, id and secret for the
/// Basic round trip, then the body.
struct Input {
    endpoint: u8,
    post: bool,
    content_type: u8,
    authorization: Option<String>,
    query: String,
    body: String,
    id: String,
    secret: String,
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let (f, mut v) = latchkey_fuzz::fields(data, 5);
        let body = v.pop().unwrap();
        let secret = v.pop().unwrap();
        let id = v.pop().unwrap();
        let query = v.pop().unwrap();
        let authorization = v.pop().unwrap();
        Input {
            endpoint: f & 3,
            post: f & 4 != 0,
            content_type: (f >> 3) & 3,
            authorization: (f & 32 != 0).then_some(authorization),
            query,
            body,
            id,
            secret,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(data);
    basic_round_trip(&input.id, &input.secret);
    block_on(async {
        let h = harness().await;
        let wants = |p: &str| {
            input.body.contains(p)
                || input
                    .authorization
                    .as_deref()
                    .is_some_and(|a| a.contains(p))
        };
        let code = if wants("@code") {
            h.code().await
        } else {
            String::new()
        };
        let (at, rt) = if wants("@at") || wants("@rt") {
            h.tokens().await
        } else {
            (String::new(), String::new())
        };
        let put = |s: &str| {
            fill(&h, s)
                .replace("@basic", h.app_auth().trim_start_matches("Basic "))
                .replace("@code", &code)
                .replace("@at", &at)
                .replace("@rt", &rt)
        };
        let mut req = HttpRequest {
            method: if input.post { "POST" } else { "GET" }.into(),
            query: put(&input.query),
            body: put(&input.body).into_bytes(),
            ..HttpRequest::default()
        };
        let ct = match input.content_type % 4 {
            0 => Some("application/x-www-form-urlencoded"),
            1 => Some("application/x-www-form-urlencoded; charset=UTF-8"),
            2 => Some("application/json"),
            _ => None,
        };
        if let Some(ct) = ct {
            req.headers.push(("Content-Type".into(), ct.into()));
        }
        let authorization = input.authorization.as_deref().map(put);
        if let Some(a) = &authorization {
            req.headers.push(("Authorization".into(), a.clone()));
        }
        let revoke = input.endpoint % 4 == 2;
        let r = match input.endpoint % 4 {
            0 => h.engine.token(&req).await,
            1 => h.engine.introspect(&req).await,
            2 => h.engine.revoke(&req).await,
            _ => {
                // A resource server's bearer check of the same request.
                let ok = h
                    .engine
                    .verify_bearer(&req, Audience::Resource(latchkey_fuzz::API), &[])
                    .await;
                if ok.is_ok() {
                    let token = authorization.as_deref().and_then(bearer_token);
                    assert!(
                        !at.is_empty() && token == Some(at.as_str()),
                        "a bearer header verified without the live token"
                    );
                }
                return;
            }
        };
        let v = check_json_answer(&r, revoke);
        if r.status >= 400 {
            let secret = h.app.secret.as_ref().unwrap().expose().to_owned();
            let mut secrets = vec![secret.as_str()];
            for s in [&code, &at, &rt] {
                if !s.is_empty() {
                    secrets.push(s);
                }
            }
            // A value the client sent where no credential belongs (a scope,
            // the query) may be quoted back; a credential parameter never.
            let sent = String::from_utf8_lossy(&req.body).into_owned() + &req.query;
            let outside = |secret: &str| {
                latchkey::http::Params::parse(&sent).is_err()
                    || req.query.contains(secret)
                    || sent.split('&').any(|kv| {
                        let name = kv.split('=').next().unwrap_or("");
                        !matches!(
                            name,
                            "client_secret" | "code" | "refresh_token" | "token" | "code_verifier"
                        ) && kv.contains(secret)
                    })
            };
            secrets.retain(|s| !outside(s));
            latchkey_fuzz::assert_no_echo(&r.body, &secrets);
        } else if input.endpoint % 4 == 0 {
            assert!(v["access_token"].is_string(), "no access_token: {v}");
            assert_eq!(v["token_type"], "Bearer");
            assert!(v["expires_in"].is_u64(), "no expires_in: {v}");
        } else if input.endpoint % 4 == 1 {
            assert!(
                v["active"].is_boolean(),
                "introspection without active: {v}"
            );
        }
    });
});

/// Basic credentials made per RFC 6749 §2.3.1 name the client they were
/// made for, and a bearer header's token is what follows the scheme.
fn basic_round_trip(id: &str, secret: &str) {
    let header = basic(id, secret);
    let req = HttpRequest::form_post(&[]).with_header("Authorization", &header);
    let got = latchkey::client_auth::presented_client_id(&req);
    if id.is_empty() {
        assert_eq!(got, None, "an empty client id was accepted");
    } else if id.len() <= latchkey::http::MAX_VALUE_BYTES
        && secret.len() <= latchkey::http::MAX_VALUE_BYTES
    {
        assert_eq!(
            got.as_deref(),
            Some(id),
            "Basic credentials do not round-trip"
        );
    }
    let bearer = format!("Bearer {secret}");
    match bearer_token(&bearer) {
        Some(t) => {
            assert!(
                !t.is_empty() && t == t.trim() && secret.trim() == t,
                "bearer token {t:?} of {secret:?}"
            );
        }
        None => assert!(
            secret.trim().is_empty(),
            "bearer header {bearer:?} not read"
        ),
    }
}
