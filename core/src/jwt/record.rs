//! The stored form of a signing key: public half in the clear, private half
//! sealed under the server key, and where it stands in its rotation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A JWS algorithm the engine signs access tokens with (RFC 7518 §3.1,
/// RFC 8037 §3.1). Each key is made for exactly one of them, and a token
/// is only verified with the algorithm its key was made for (RFC 8725
/// §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// `EdDSA` with Ed25519 (RFC 8037 §3.1): small keys, deterministic
    /// signatures. The default.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// `ES256`: ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), for resource
    /// servers whose JOSE library lacks EdDSA.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Es256 => "ES256",
        }
    }

    /// The algorithm named `alg`, if it is one the engine implements.
    /// `none` and every other name are `None` (RFC 8725 §3.1).
    #[must_use]
    pub fn from_name(alg: &str) -> Option<Self> {
        match alg {
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            "ES256" => Some(SigningAlgorithm::Es256),
            _ => None,
        }
    }
}

/// Where a signing key stands. Keys move forward only:
/// `Pending → Active → Retiring → Retired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SigningKeyState {
    /// Published in the JWKS, not signing yet: caches learn it before the
    /// first token it signs reaches them.
    Pending,
    /// Signs new access tokens; at most one key is active.
    Active,
    /// Superseded: published, no longer signing, until every token it
    /// signed has expired.
    Retiring,
    /// Unpublished; its private half has been erased.
    Retired,
}

impl SigningKeyState {
    /// The name stored by text-keyed backends.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SigningKeyState::Pending => "pending",
            SigningKeyState::Active => "active",
            SigningKeyState::Retiring => "retiring",
            SigningKeyState::Retired => "retired",
        }
    }

    /// The state named `s` by [`SigningKeyState::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(SigningKeyState::Pending),
            "active" => Some(SigningKeyState::Active),
            "retiring" => Some(SigningKeyState::Retiring),
            "retired" => Some(SigningKeyState::Retired),
            _ => None,
        }
    }

    /// The slot this state occupies: at most one key is `Pending` and at
    /// most one is `Active` at any time, which backends enforce with a
    /// unique index on this value (`None` is not unique).
    #[must_use]
    pub fn slot(self) -> Option<&'static str> {
        match self {
            SigningKeyState::Pending | SigningKeyState::Active => Some(self.as_str()),
            _ => None,
        }
    }
}

/// One access-token signing key as storage keeps it (RFC 7517 §4 for what
/// is published of it). `Debug` never shows the sealed private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Key id, the JWS `kid` header (RFC 7515 §4.1.4); random, unique.
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub algorithm: SigningAlgorithm,
    /// The public key: 32 bytes for Ed25519, the 65-byte uncompressed
    /// point for P-256.
    pub public_key: Vec<u8>,
    /// The PKCS#8 private key sealed with
    /// [`crate::Keyring::seal_at_rest`] (the `kid` is the AAD); empty
    /// once retired.
    pub sealed_private: Vec<u8>,
    /// The server key id it is sealed under.
    pub sealed_with: u8,
    /// When it was created and published.
    pub created_at: Timestamp,
    /// Earliest time it may sign: one JWKS cache lifetime after
    /// publication (immediately for the very first key).
    pub activates_at: Timestamp,
    /// Where it stands.
    pub state: SigningKeyState,
    /// When it entered `state`.
    pub state_since: Timestamp,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("state_since", &self.state_since)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}
