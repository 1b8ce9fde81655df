//! Key generation, signing and verification through ring.
//!
//! ring's `SecureRandom` is sealed, so key generation and ECDSA nonces use
//! ring's `SystemRandom` directly rather than the injected
//! [`crate::entropy::Entropy`]: tests cannot make these deterministic, and
//! nothing here needs them to be.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

use super::SigningAlgorithm;

/// A new key pair: the PKCS#8 private key (to seal at once) and the public
/// key.
pub(crate) struct Generated {
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) public: Vec<u8>,
}

/// Makes a key pair for `alg`.
pub(crate) fn generate(alg: SigningAlgorithm) -> Result<Generated, ring::error::Unspecified> {
    let rng = SystemRandom::new();
    let pkcs8 = match alg {
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)?,
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?
        }
    };
    let signer = Signer::from_pkcs8(alg, pkcs8.as_ref())?;
    Ok(Generated {
        pkcs8: pkcs8.as_ref().to_vec(),
        public: signer.public_key().to_vec(),
    })
}

enum Pair {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key ready to sign. `Debug` shows only the algorithm.
pub(crate) struct Signer {
    pair: Pair,
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.pair {
            Pair::Ed(_) => SigningAlgorithm::EdDsa,
            Pair::Ec(_) => SigningAlgorithm::Es256,
        };
        write!(f, "Signer({})", alg.as_str())
    }
}

impl Signer {
    /// Parses a PKCS#8 private key made for `alg`.
    pub(crate) fn from_pkcs8(
        alg: SigningAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Self, ring::error::Unspecified> {
        let rng = SystemRandom::new();
        let pair = match alg {
            SigningAlgorithm::EdDsa => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| ring::error::Unspecified)?)
            }
            SigningAlgorithm::Es256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(|_| ring::error::Unspecified)?,
            ),
        };
        Ok(Signer { pair, rng })
    }

    fn public_key(&self) -> &[u8] {
        match &self.pair {
            Pair::Ed(k) => k.public_key().as_ref(),
            Pair::Ec(k) => k.public_key().as_ref(),
        }
    }

    /// The JWS signature of `msg` (ES256: the 64-byte `R || S` of RFC 7518
    /// §3.4, which ring's FIXED encoding is).
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        Ok(match &self.pair {
            Pair::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Pair::Ec(k) => k.sign(&self.rng, msg)?.as_ref().to_vec(),
        })
    }
}

/// Whether `sig` is `alg`'s signature of `msg` under `public`.
pub(crate) fn verify(alg: SigningAlgorithm, public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let scheme: &dyn signature::VerificationAlgorithm = match alg {
        SigningAlgorithm::EdDsa => &signature::ED25519,
        SigningAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
    };
    signature::UnparsedPublicKey::new(scheme, public)
        .verify(msg, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_algorithms_sign_and_verify_only_their_own() {
        for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let g = generate(alg).unwrap();
            let s = Signer::from_pkcs8(alg, &g.pkcs8).unwrap();
            let sig = s.sign(b"msg").unwrap();
            assert!(verify(alg, &g.public, b"msg", &sig));
            assert!(!verify(alg, &g.public, b"msh", &sig));
            let other = match alg {
                SigningAlgorithm::EdDsa => SigningAlgorithm::Es256,
                SigningAlgorithm::Es256 => SigningAlgorithm::EdDsa,
            };
            assert!(!verify(other, &g.public, b"msg", &sig));
            assert!(Signer::from_pkcs8(other, &g.pkcs8).is_err());
            assert!(!format!("{s:?}").contains(&format!("{:?}", g.pkcs8)));
        }
    }
}
