//! The JWK Set document (RFC 7517 §5): public keys only, by construction.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{SigningAlgorithm, SigningKeyRecord};

/// The public JWK of `key` (RFC 7517 §4; OKP per RFC 8037 §2, EC per
/// RFC 7518 §6.2.1). Built from `public_key` alone: the sealed private key
/// is never read here.
pub(crate) fn public_jwk(key: &SigningKeyRecord) -> Value {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let mut jwk = match key.algorithm {
        SigningAlgorithm::EdDsa => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(&key.public_key),
        }),
        SigningAlgorithm::Es256 => {
            // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
            let p = key.public_key.get(1..).unwrap_or_default();
            let (x, y) = p.split_at(p.len() / 2);
            json!({ "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y) })
        }
    };
    jwk["kid"] = key.kid.clone().into();
    jwk["alg"] = key.algorithm.as_str().into();
    jwk["use"] = "sig".into();
    jwk
}

/// `{"keys": [...]}` for `keys`.
pub(crate) fn document<'a>(keys: impl IntoIterator<Item = &'a SigningKeyRecord>) -> Value {
    json!({ "keys": keys.into_iter().map(public_jwk).collect::<Vec<_>>() })
}
