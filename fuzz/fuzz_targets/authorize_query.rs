//! The authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707) as a
//! raw query string, signed in or not: the query parser agrees with a
//! reference parser and round-trips, and the engine either shows an error,
//! asks for login or consent, or redirects to a registered URI of the
//! named client with `iss` (RFC 9207) and the request's `state`, never
//! with a code (no consent is remembered on a fresh engine).
#![no_main]

use latchkey::http::HttpRequest;
use latchkey::AuthorizeOutcome;
use latchkey_fuzz::{alice, block_on, check_form, fill, harness, query_param, BINDING, ISSUER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Byte 0, bit 0: signed_in; the rest is the query.
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let input = (flags & 1 != 0, rest);
    let (signed_in, raw) = input;
    let raw = String::from_utf8_lossy(raw);
    block_on(async {
        let h = harness().await;
        let query = fill(&h, &raw);
        let params = check_form(&query);
        let req = HttpRequest {
            method: "GET".into(),
            query: query.clone(),
            ..HttpRequest::default()
        };
        let who = alice();
        let outcome = h
            .engine
            .authorize(&req, signed_in.then_some(&who), BINDING)
            .await;
        let one = |name: &str| {
            params
                .as_ref()
                .and_then(|p| p.single(name).ok().flatten().map(str::to_owned))
        };
        match outcome {
            AuthorizeOutcome::Redirect(location) => {
                let client = one("client_id").expect("a redirect names a client");
                let registered: &[&str] = if client == h.app.client.id {
                    &["https://app.example/cb", "https://app.example/other"]
                } else {
                    assert_eq!(client, h.cli.client.id, "redirect for an unknown client");
                    &["http://127.0.0.1/callback"]
                };
                let base = location.split('?').next().unwrap();
                let ok = registered.iter().any(|r| {
                    latchkey::redirect::redirect_matches(r, base)
                        && one("redirect_uri").is_none_or(|u| u == base)
                });
                assert!(ok, "redirect to an unregistered URI: {base}");
                assert_eq!(query_param(&location, "iss").as_deref(), Some(ISSUER));
                assert_eq!(
                    query_param(&location, "state"),
                    one("state"),
                    "state not echoed"
                );
                assert!(
                    query_param(&location, "code").is_none(),
                    "a code without consent"
                );
                assert!(
                    query_param(&location, "error").is_some(),
                    "a redirect without a code is an error"
                );
                let desc = query_param(&location, "error_description").unwrap_or_default();
                assert!(
                    latchkey_fuzz::is_error_text(&desc),
                    "error_description: {desc:?}"
                );
            }
            AuthorizeOutcome::ShowError(e) => {
                let _ = (e.code(), e.status());
            }
            AuthorizeOutcome::LoginRequired { .. } => {
                assert!(!signed_in, "signed in, asked to log in")
            }
            AuthorizeOutcome::ConsentRequired(p) => {
                assert!(signed_in, "consent before sign-in");
                assert!(p.client_id == h.app.client.id || p.client_id == h.cli.client.id);
                assert_eq!(Some(p.client_id.clone()), one("client_id"));
                assert!(one("code_challenge").is_some(), "PKCE is required");
                for r in &p.resources {
                    latchkey::redirect::validate_resource(r)
                        .expect("a resource that passed is valid");
                }
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    });
});
