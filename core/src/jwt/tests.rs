//! Every way a JWT access token is refused, with the precise reason, over
//! keys made here (so tokens can be signed with any header).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::crypto::{generate, Signer};
use super::jose::{
    check_claims, encode, verify_signature, AccessClaims, Expect, Rejection, VerifyingKey,
};
use super::SigningAlgorithm;
use crate::clock::Timestamp;

const ISS: &str = "https://auth.example";
const API: &str = "https://api.example/";

struct Key {
    alg: SigningAlgorithm,
    kid: &'static str,
    signer: Signer,
    public: Vec<u8>,
}

fn key(alg: SigningAlgorithm, kid: &'static str) -> Key {
    let g = generate(alg).unwrap();
    Key {
        alg,
        kid,
        signer: Signer::from_pkcs8(alg, &g.pkcs8).unwrap(),
        public: g.public,
    }
}

fn published(keys: &[&Key]) -> Vec<VerifyingKey> {
    keys.iter()
        .map(|k| VerifyingKey {
            kid: k.kid.into(),
            algorithm: k.alg,
            public: k.public.clone(),
        })
        .collect()
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub: "alice".into(),
        aud: vec![API.into()],
        exp: 1_000,
        iat: 100,
        nbf: Some(100),
        jti: "lk_ji_x".into(),
        client_id: "app".into(),
        scope: "profile:read".into(),
    }
}

fn expect(now: u64) -> Expect<'static> {
    Expect {
        issuer: ISS,
        audience: Some(API),
        now: Timestamp(now),
        leeway: 30,
    }
}

/// A token with any header, signed by `k`.
fn forge(header: &serde_json::Value, claims: &AccessClaims, k: &Key) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = k.signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn verify(token: &str, keys: &[VerifyingKey], now: u64) -> Result<AccessClaims, Rejection> {
    verify_signature(token, keys).and_then(|c| check_claims(&c, &expect(now)).map(|()| c))
}

#[test]
fn a_good_token_verifies_with_either_algorithm() {
    for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let k = key(alg, "k1");
        let t = encode(alg, "k1", &claims(), &k.signer).unwrap();
        assert_eq!(verify(&t, &published(&[&k]), 500), Ok(claims()));
    }
}

#[test]
fn header_tricks_are_refused() {
    let ed = key(SigningAlgorithm::EdDsa, "ed");
    let ec = key(SigningAlgorithm::Es256, "ec");
    let keys = published(&[&ed, &ec]);
    let c = claims();
    let h =
        |alg: &str, typ: &str, kid: &str| serde_json::json!({"alg": alg, "typ": typ, "kid": kid});
    // `alg: none`, with and without a signature.
    let none = forge(&h("none", "at+jwt", "ed"), &c, &ed);
    assert_eq!(verify(&none, &keys, 500), Err(Rejection::Algorithm));
    let unsigned = format!("{}.", none.rsplit_once('.').unwrap().0);
    assert_eq!(verify(&unsigned, &keys, 500), Err(Rejection::Algorithm));
    // An algorithm the engine does not implement, keyed with public bytes.
    let hs = forge(&h("HS256", "at+jwt", "ed"), &c, &ed);
    assert_eq!(verify(&hs, &keys, 500), Err(Rejection::Algorithm));
    // A real algorithm, but not the one the named key was made for.
    let swapped = forge(&h("ES256", "at+jwt", "ed"), &c, &ec);
    assert_eq!(verify(&swapped, &keys, 500), Err(Rejection::Algorithm));
    // Correctly signed, wrong type: an ID token or a plain JWT.
    for typ in ["JWT", "id_token+jwt", ""] {
        let t = forge(&h("EdDSA", typ, "ed"), &c, &ed);
        assert_eq!(verify(&t, &keys, 500), Err(Rejection::Type), "{typ}");
    }
    let no_typ = forge(&serde_json::json!({"alg": "EdDSA", "kid": "ed"}), &c, &ed);
    assert_eq!(verify(&no_typ, &keys, 500), Err(Rejection::Type));
    let crit = forge(
        &serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed", "crit": ["exp"]}),
        &c,
        &ed,
    );
    assert_eq!(verify(&crit, &keys, 500), Err(Rejection::Type));
    // `application/at+jwt` is the same type (RFC 7515 §4.1.9).
    let long = forge(&h("EdDSA", "application/AT+JWT", "ed"), &c, &ed);
    assert!(verify(&long, &keys, 500).is_ok());
}

#[test]
fn wrong_keys_and_tampering_are_refused() {
    let ed = key(SigningAlgorithm::EdDsa, "ed");
    let keys = published(&[&ed]);
    let good = encode(SigningAlgorithm::EdDsa, "ed", &claims(), &ed.signer).unwrap();
    // Another key under the same kid.
    let impostor = key(SigningAlgorithm::EdDsa, "ed");
    let forged = encode(SigningAlgorithm::EdDsa, "ed", &claims(), &impostor.signer).unwrap();
    assert_eq!(verify(&forged, &keys, 500), Err(Rejection::Signature));
    // A kid that is not published (never, or rotated out).
    let gone = key(SigningAlgorithm::EdDsa, "gone");
    let t = encode(SigningAlgorithm::EdDsa, "gone", &claims(), &gone.signer).unwrap();
    assert_eq!(verify(&t, &keys, 500), Err(Rejection::UnknownKey));
    assert!(verify(&t, &published(&[&ed, &gone]), 500).is_ok());
    // The payload changed after signing.
    let mut more = claims();
    more.scope = "dns:edit".into();
    let (h, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered = format!(
        "{h}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&more).unwrap())
    );
    assert_eq!(verify(&tampered, &keys, 500), Err(Rejection::Signature));
    for junk in ["", "a.b", "a.b.c.d", "..", "!!.!!.!!", &"a".repeat(9000)] {
        assert!(verify(junk, &keys, 500).is_err(), "{junk}");
    }
}

#[test]
fn issuer_audience_and_time_are_checked_with_leeway() {
    let ed = key(SigningAlgorithm::EdDsa, "ed");
    let keys = published(&[&ed]);
    let sign = |c: &AccessClaims| encode(SigningAlgorithm::EdDsa, "ed", c, &ed.signer).unwrap();
    let t = sign(&claims());
    assert!(
        verify(&t, &keys, 1_029).is_ok(),
        "within the leeway after exp"
    );
    assert_eq!(verify(&t, &keys, 1_030), Err(Rejection::Expired));
    assert!(
        verify(&t, &keys, 70).is_ok(),
        "within the leeway before nbf"
    );
    assert_eq!(verify(&t, &keys, 69), Err(Rejection::NotYetValid));
    let mut other = claims();
    other.iss = "https://evil.example".into();
    assert_eq!(verify(&sign(&other), &keys, 500), Err(Rejection::Issuer));
    let mut other = claims();
    other.aud = vec!["https://other.example/".into(), "x".into()];
    assert_eq!(verify(&sign(&other), &keys, 500), Err(Rejection::Audience));
    let any = Expect {
        audience: None,
        ..expect(500)
    };
    let c = verify_signature(&sign(&other), &keys).unwrap();
    assert_eq!(check_claims(&c, &any), Ok(()));
}
