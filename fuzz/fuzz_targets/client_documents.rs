//! Documents a stranger writes about a client: dynamic registration's
//! JSON (RFC 7591 §2, §3) and Client ID Metadata Documents (draft-ietf-
//! oauth-client-id-metadata-document §4), plus the `client_id` URL and
//! `Cache-Control` parsers around them.
//!
//! Checks: the registration endpoint answers a JSON object of an expected
//! status; a client it creates has only valid redirect URIs and reads back
//! the same through RFC 7592; a metadata document is used only when its
//! `client_id` is the URL it came from and it claims no secret.
#![no_main]

use std::sync::Arc;

use async_trait::async_trait;
use latchkey::cimd::{ClientMetadataFetcher, FetchError, FetchedDocument, MetadataDocumentConfig};
use latchkey::http::HttpRequest;
use latchkey::registration::RegistrationConfig;
use latchkey::{AuthorizeOutcome, EngineConfig, ScopeSet};
use latchkey_fuzz::{
    block_on, check_json_answer, harness_configured, scopes, API, BINDING, CHALLENGE, ISSUER,
};
use libfuzzer_sys::fuzz_target;

const URL: &str = "https://app.example/client.json";

struct Fixed(Vec<u8>);

#[async_trait]
impl ClientMetadataFetcher for Fixed {
    async fn fetch(&self, _url: &str) -> Result<FetchedDocument, FetchError> {
        Ok(FetchedDocument {
            body: self.0.clone(),
            max_age: None,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    // Byte 0, bit 0: cimd; the rest is the document.
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let input = (flags & 1 != 0, rest);
    let (cimd, body) = input;
    let text = String::from_utf8_lossy(body);
    let _ = latchkey::cimd::check_client_id_url(&text);
    if let Some(age) = latchkey::cimd::cache_max_age(&text) {
        let lower = text.to_ascii_lowercase();
        assert!(
            (age == 0 && (lower.contains("no-store") || lower.contains("no-cache")))
                || lower.contains("max-age"),
            "a lifetime out of nothing: {text:?}"
        );
    }
    let parsed = latchkey::registration::metadata::parse(body);
    block_on(async {
        let allowed = ScopeSet::parse("profile:read dns:read").unwrap();
        let mut config = EngineConfig::new(ISSUER, scopes());
        if cimd {
            config.client_id_metadata_documents = Some(MetadataDocumentConfig::new(
                Arc::new(Fixed(body.to_vec())),
                allowed,
                vec![API.into()],
            ));
        } else {
            config.registration = Some(RegistrationConfig::open(allowed, vec![API.into()]));
        }
        let h = harness_configured(config).await;
        if cimd {
            metadata_document(&h, body).await;
        } else {
            registration(&h, body, parsed.is_ok()).await;
        }
    });
});

async fn registration(h: &latchkey_fuzz::Harness, body: &[u8], parses: bool) {
    let req = HttpRequest {
        method: "POST".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_vec(),
        ..HttpRequest::default()
    };
    let r = h.engine.register(&req).await;
    let v = check_json_answer(&r, false);
    if r.status != 201 {
        return;
    }
    assert!(
        parses,
        "registered from a document the metadata parser refuses"
    );
    let id = v["client_id"].as_str().expect("client_id");
    for u in v["redirect_uris"].as_array().expect("redirect_uris") {
        let u = u.as_str().expect("a string");
        // Self-registered clients keep to the strict rule (which allows
        // `http://localhost` for agents on a developer's machine).
        latchkey::registration::metadata::check_redirect_uri(u)
            .expect("a registered redirect URI is valid");
    }
    let rat = v["registration_access_token"]
        .as_str()
        .expect("registration access token");
    let read = HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {rat}"));
    let back = h.engine.manage_registration(&read, id).await;
    let b = check_json_answer(&back, false);
    assert_eq!(back.status, 200, "RFC 7592 read of a new client: {b}");
    for k in [
        "client_id",
        "client_name",
        "redirect_uris",
        "grant_types",
        "scope",
        "token_endpoint_auth_method",
    ] {
        assert_eq!(b[k], v[k], "{k} reads back differently");
    }
}

async fn metadata_document(h: &latchkey_fuzz::Harness, body: &[u8]) {
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", URL),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("redirect_uri", "https://app.example/cb"),
    ]);
    let outcome = h.engine.authorize(&req, None, BINDING).await;
    let doc: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(body).ok();
    match outcome {
        AuthorizeOutcome::LoginRequired { .. } | AuthorizeOutcome::Redirect(_) => {
            let doc = doc.expect("a document that is no JSON object was used");
            assert_eq!(
                doc.get("client_id").and_then(|v| v.as_str()),
                Some(URL),
                "document for another URL used"
            );
            assert!(
                !doc.contains_key("client_secret"),
                "a document with a secret was used"
            );
            let method = doc
                .get("token_endpoint_auth_method")
                .and_then(|m| m.as_str());
            assert!(
                matches!(method, None | Some("none")),
                "a document claiming {method:?} was used"
            );
            if let AuthorizeOutcome::Redirect(l) = outcome {
                assert!(
                    l.starts_with("https://app.example/cb?"),
                    "redirect elsewhere"
                );
                let uris = doc
                    .get("redirect_uris")
                    .and_then(|u| u.as_array())
                    .expect("redirect_uris");
                assert!(
                    uris.iter().any(|u| u == "https://app.example/cb"),
                    "redirect to an unlisted URI"
                );
            }
        }
        AuthorizeOutcome::ShowError(_) => {}
        other => panic!("unexpected outcome {other:?}"),
    }
}
