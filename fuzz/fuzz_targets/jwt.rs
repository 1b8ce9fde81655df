//! JWT access tokens (RFC 9068) as a resource server, the introspection
//! and revocation endpoints meet them: arbitrary compact JWS text, or a
//! real token with its header, payload or signature replaced or a byte
//! changed; and the JWK Set (RFC 7517) that publishes the keys.
//!
//! Checks: only the token the engine signed verifies or introspects as
//! active; revoking anything else leaves it alive; the JWKS has public
//! keys only and verifies the real token with ring directly, without the
//! engine's verifier.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use latchkey::http::HttpRequest;
use latchkey::introspect::Audience;
use latchkey::jwt::{JwtConfig, JwtResources, SigningAlgorithm};
use latchkey::EngineConfig;
use latchkey_fuzz::{block_on, check_json_answer, harness_configured, scopes, API, ISSUER};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
enum Shape {
    Raw(String),
    Header(Vec<u8>),
    Payload(Vec<u8>),
    Signature(Vec<u8>),
    Flip(u16, u8),
    Truncate(u16),
}

/// Byte 0: ES256 (bit 0) or EdDSA, endpoint (bits 1-2: bearer check,
/// introspection, revocation), what to do with the real token (bits 3-5:
/// replace it by the rest of the input, replace its header, payload or
/// signature by it, change byte `pos` (the next two bytes), truncate at
/// `pos`).
struct Input {
    es256: bool,
    shape: Shape,
    endpoint: u8,
}

impl Input {
    fn read(data: &[u8]) -> Self {
        let (f, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        let pos = rest
            .get(..2)
            .map_or(0, |p| u16::from_le_bytes([p[0], p[1]]));
        let x = rest.get(2).copied().unwrap_or(1);
        let shape = match (f >> 3) % 6 {
            0 => Shape::Raw(String::from_utf8_lossy(rest).into_owned()),
            1 => Shape::Header(rest.to_vec()),
            2 => Shape::Payload(rest.to_vec()),
            3 => Shape::Signature(rest.to_vec()),
            4 => Shape::Flip(pos, x),
            _ => Shape::Truncate(pos),
        };
        Input {
            es256: f & 1 != 0,
            shape,
            endpoint: (f >> 1) & 3,
        }
    }
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fuzz_target!(|data: &[u8]| {
    let input = Input::read(data);
    block_on(async {
        let mut config = EngineConfig::new(ISSUER, scopes());
        let mut jwt = JwtConfig::default();
        jwt.algorithm = if input.es256 {
            SigningAlgorithm::Es256
        } else {
            SigningAlgorithm::EdDsa
        };
        jwt.resources = JwtResources::Only(vec![API.into()]);
        config.jwt = Some(jwt);
        let h = harness_configured(config).await;
        let (at, rt) = h.tokens().await;
        check_jwks(&h, &at).await;

        let parts: Vec<&str> = at.split('.').collect();
        let token = match &input.shape {
            Shape::Raw(s) => s.clone(),
            Shape::Header(b) => format!("{}.{}.{}", b64(b), parts[1], parts[2]),
            Shape::Payload(b) => format!("{}.{}.{}", parts[0], b64(b), parts[2]),
            Shape::Signature(b) => format!("{}.{}.{}", parts[0], parts[1], b64(b)),
            Shape::Flip(pos, x) => {
                let mut b = at.clone().into_bytes();
                let i = usize::from(*pos) % b.len();
                b[i] ^= x | 1;
                String::from_utf8_lossy(&b).into_owned()
            }
            Shape::Truncate(n) => at[..usize::from(*n) % at.len()].to_owned(),
        };
        let genuine = token == at;
        let bearer =
            HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {token}"));
        match input.endpoint % 3 {
            0 => {
                let ok = h
                    .engine
                    .verify_bearer(&bearer, Audience::Resource(API), &[])
                    .await;
                assert_eq!(
                    ok.is_ok(),
                    genuine,
                    "verification of a changed token: {ok:?}"
                );
            }
            1 => {
                let req = HttpRequest::form_post(&[("token", &token)])
                    .with_header("Authorization", &h.app_auth());
                let r = h.engine.introspect(&req).await;
                let v = check_json_answer(&r, false);
                // An empty value is no value (RFC 6749 §3.1): `token` is missing.
                assert_eq!(r.status, if token.is_empty() { 400 } else { 200 });
                assert_eq!(
                    v["active"] == true,
                    genuine || token == rt,
                    "introspection: {v}"
                );
            }
            _ => {
                let req = HttpRequest::form_post(&[("token", &token)])
                    .with_header("Authorization", &h.app_auth());
                let r = h.engine.revoke(&req).await;
                check_json_answer(&r, true);
                assert_eq!(
                    r.status,
                    if token.is_empty() { 400 } else { 200 },
                    "revocation answers 200 for unknown tokens (RFC 7009 §2.2)"
                );
                let req = HttpRequest::form_post(&[("token", &at)])
                    .with_header("Authorization", &h.app_auth());
                let v = check_json_answer(&h.engine.introspect(&req).await, false);
                let revoked = genuine || token == rt;
                assert_eq!(
                    v["active"] == true,
                    !revoked,
                    "revoking another token touched the real one"
                );
            }
        }
    });
});

/// The JWKS publishes public keys only, and one of them verifies `at`.
async fn check_jwks(h: &latchkey_fuzz::Harness, at: &str) {
    let r = h.engine.jwks_response().await;
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&r.body).expect("JWKS is JSON");
    let keys = doc["keys"].as_array().expect("keys");
    let (input, sig) = at.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(at.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut verified = false;
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                k.get(private).is_none(),
                "JWKS publishes private member {private}"
            );
        }
        if k["kid"] != header["kid"] {
            continue;
        }
        let x = URL_SAFE_NO_PAD.decode(k["x"].as_str().unwrap()).unwrap();
        verified |= match k["kty"].as_str() {
            Some("OKP") => ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &x)
                .verify(input.as_bytes(), &sig)
                .is_ok(),
            Some("EC") => {
                let y = URL_SAFE_NO_PAD.decode(k["y"].as_str().unwrap()).unwrap();
                let point = [&[4u8][..], &x, &y].concat();
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    &point,
                )
                .verify(input.as_bytes(), &sig)
                .is_ok()
            }
            other => panic!("unexpected kty {other:?}"),
        };
    }
    assert!(verified, "no published key verifies the token");
}
