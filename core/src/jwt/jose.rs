//! Compact JWS (RFC 7515 §7.1) for RFC 9068 access tokens: encoding, and
//! verification as pure functions of the token, the published keys and
//! `now`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::crypto::{self, Signer};
use super::SigningAlgorithm;
use crate::clock::Timestamp;

/// The `typ` of a JWT access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Longer presented tokens are refused before any decoding.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of a JWT access token (RFC 9068 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    #[serde(with = "audience")]
    pub(crate) aud: Vec<String>,
    pub(crate) exp: u64,
    pub(crate) iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
    pub(crate) jti: String,
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) scope: String,
}

/// `aud` is one string or an array of strings (RFC 7519 §4.1.3); one
/// audience is written as a string, as most resource servers expect.
mod audience {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11); none
    /// are, so any `crit` is refused.
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// A public key a token may be verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: String,
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) public: Vec<u8>,
}

/// Why a JWT was refused. Every reason reaches a client as the same
/// `invalid_token`; the distinction is for tests and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not three base64url parts of JSON, or too long.
    Malformed,
    /// `alg` is `none`, unknown, or not the one the key was made for.
    Algorithm,
    /// `typ` is not `at+jwt`, or a `crit` header is present.
    Type,
    /// No published key has this `kid`.
    UnknownKey,
    /// The signature does not verify (tampered, or another key).
    Signature,
    /// `iss` is not this server.
    Issuer,
    /// `aud` does not name the resource.
    Audience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
}

/// What a resource server expects of a token.
pub(crate) struct Expect<'a> {
    pub(crate) issuer: &'a str,
    /// `None`: any audience.
    pub(crate) audience: Option<&'a str>,
    pub(crate) now: Timestamp,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub(crate) leeway: u64,
}

/// Whether `token` has the shape of a compact JWS (and so is never an
/// opaque token, whose alphabet has no `.`).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Signs `claims` with `signer` under `kid`.
pub(crate) fn encode(
    algorithm: SigningAlgorithm,
    kid: &str,
    claims: &AccessClaims,
    signer: &Signer,
) -> Result<String, ring::error::Unspecified> {
    let header = Header {
        alg: algorithm.as_str().to_owned(),
        typ: Some(ACCESS_TOKEN_TYP.to_owned()),
        kid: Some(kid.to_owned()),
        crit: None,
    };
    let header = serde_json::to_vec(&header).map_err(|_| ring::error::Unspecified)?;
    let body = serde_json::to_vec(claims).map_err(|_| ring::error::Unspecified)?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(body));
    let sig = signer.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Checks the header and signature of `token` against `keys` and returns
/// its claims, without looking at time, issuer or audience (revocation and
/// introspection need the claims of an expired token too).
///
/// The key is chosen by `kid`, and the token's `alg` must be the one that
/// key was made for (RFC 8725 §3.1): an `alg` cannot pick how a key is
/// used.
pub(crate) fn verify_signature(
    token: &str,
    keys: &[VerifyingKey],
) -> Result<AccessClaims, Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Rejection::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| Rejection::Malformed)?;
    let alg = SigningAlgorithm::from_name(&header.alg).ok_or(Rejection::Algorithm)?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        // RFC 7515 §4.1.9: `application/` may be omitted; compare without case.
        let t = t.to_ascii_lowercase();
        t == ACCESS_TOKEN_TYP || t == "application/at+jwt"
    });
    if !typ_ok || header.crit.is_some() {
        return Err(Rejection::Type);
    }
    let kid = header.kid.as_deref().ok_or(Rejection::UnknownKey)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(Rejection::UnknownKey)?;
    if key.algorithm != alg {
        return Err(Rejection::Algorithm);
    }
    let signing_input = &token[..h.len() + 1 + p.len()];
    if !crypto::verify(alg, &key.public, signing_input.as_bytes(), &decode(s)?) {
        return Err(Rejection::Signature);
    }
    serde_json::from_slice(&decode(p)?).map_err(|_| Rejection::Malformed)
}

/// Checks issuer, audience and validity period (RFC 9068 §4, RFC 7519
/// §4.1.4–5) of verified claims.
pub(crate) fn check_claims(claims: &AccessClaims, expect: &Expect<'_>) -> Result<(), Rejection> {
    if claims.iss != expect.issuer {
        return Err(Rejection::Issuer);
    }
    if let Some(a) = expect.audience {
        if !claims.aud.iter().any(|x| x == a) {
            return Err(Rejection::Audience);
        }
    }
    if claims.exp.saturating_add(expect.leeway) <= expect.now.0 {
        return Err(Rejection::Expired);
    }
    let nbf = claims.nbf.unwrap_or(claims.iat);
    if nbf > expect.now.0.saturating_add(expect.leeway) {
        return Err(Rejection::NotYetValid);
    }
    Ok(())
}
