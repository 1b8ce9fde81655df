//! PKCE (RFC 7636), S256 only, as OAuth 2.1 §4.1.1 and RFC 9700 §2.1.1
//! recommend.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest;

use crate::error::Error;

/// Checks an S256 `code_challenge`: the base64url (no padding) encoding of a
/// SHA-256 digest, so exactly 43 characters of that alphabet.
///
/// # Errors
/// `invalid_request` when malformed.
pub fn validate_challenge(challenge: &str) -> Result<(), Error> {
    let ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|d| d.len() == 32);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_request(
            "code_challenge must be a base64url SHA-256 digest (43 characters)",
        ))
    }
}

/// Checks the `code_verifier` syntax of RFC 7636 §4.1: 43 to 128 characters
/// of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
#[must_use]
pub fn verifier_is_well_formed(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
#[must_use]
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Whether `verifier` is well formed and hashes to `challenge`, compared in
/// constant time.
#[must_use]
pub fn verify(verifier: &str, challenge: &str) -> bool {
    if !verifier_is_well_formed(verifier) {
        return false;
    }
    let computed = s256(verifier);
    computed.len() == challenge.len()
        && computed
            .bytes()
            .zip(challenge.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_7636_appendix_b_vector() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verify(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(validate_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        assert!(validate_challenge("short").is_err());
        assert!(validate_challenge(&"a".repeat(44)).is_err());
        assert!(validate_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM").is_err());
        assert!(!verifier_is_well_formed(&"a".repeat(42)));
        assert!(!verifier_is_well_formed(&"a".repeat(129)));
        assert!(!verifier_is_well_formed(&format!("{}!", "a".repeat(43))));
    }

    proptest! {
        #[test]
        fn well_formed_verifiers_verify_against_their_own_challenge(v in "[A-Za-z0-9._~-]{43,128}") {
            let c = s256(&v);
            prop_assert!(validate_challenge(&c).is_ok());
            prop_assert!(verify(&v, &c));
        }

        #[test]
        fn other_verifiers_do_not(v in "[A-Za-z0-9._~-]{43,128}", w in "[A-Za-z0-9._~-]{43,128}") {
            prop_assume!(v != w);
            prop_assert!(!verify(&w, &s256(&v)));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
            let _ = validate_challenge(&s);
            let _ = verify(&s, &s);
        }
    }
}
