//! JWT access tokens (RFC 9068) signed with keys kept in storage, and
//! their rotation.
//!
//! # Where the choice lives
//!
//! Per resource, and per client where that is set:
//! [`EngineConfig::jwt`](crate::EngineConfig::jwt) turns JWTs on, and
//! [`JwtConfig::resources`] names the resources (RFC 8707 audiences) whose
//! tokens are JWTs. A resource server either verifies JWTs locally or does
//! not, whoever the client is, so the default choice belongs to the
//! audience: a token whose audiences include one of them is a JWT.
//!
//! A client may override it with
//! [`ClientRecord::access_token_format`](crate::model::ClientRecord::access_token_format):
//! [`AccessTokenFormat::Jwt`] makes every one of its tokens that has an
//! audience a JWT, [`AccessTokenFormat::Opaque`] keeps all of them opaque
//! (a client that forwards tokens somewhere they must not be readable).
//! Registering `Jwt` on an engine without [`JwtConfig`] is refused.
//!
//! A token without an audience stays opaque whatever is chosen: RFC 9068
//! §2.2 requires `aud`, and this engine does not invent a default
//! resource. Both kinds work with introspection, revocation and
//! [`Engine::verify_bearer`](crate::Engine::verify_bearer).
//!
//! A JWT is stored like an opaque token: its record is keyed by a keyed
//! hash of its `jti`, so introspection reports it revoked, and revoking
//! it, its grant or its family works as for opaque tokens. Its lifetime is
//! the client's access-token lifetime capped at
//! [`JwtConfig::max_lifetime`].
//!
//! # What local verification trusts
//!
//! [`Engine::verify_bearer`](crate::Engine::verify_bearer) and
//! [`BearerGuard`](crate::web::BearerGuard) verify a JWT locally
//! (signature by a published key of the `kid`, `alg` equal to the key's,
//! `typ` `at+jwt`, issuer, audience, `exp` and `nbf` with
//! [`JwtConfig::leeway`]) without reading the token's record: a revoked
//! JWT keeps passing local checks until it expires. Keep JWT lifetimes
//! short; introspection (RFC 7662) reads the record and reports
//! revocation at once.
//!
//! # Keys and rotation
//!
//! Signing keys live in storage ([`crate::storage::SigningKeyStore`]),
//! their private halves sealed with AES-256-GCM under a key derived from
//! the server [`Keyring`](crate::Keyring), so every instance on one
//! database signs with and publishes the same keys. A key moves
//! `Pending → Active → Retiring → Retired`
//! ([`SigningKeyState`]); [`crate::Engine::rotate_signing_key`] takes the
//! next step:
//!
//! 1. with no active key, it makes one that signs at once (the first token
//!    request does this too);
//! 2. otherwise it publishes a pending key, which may sign once it has
//!    been in the JWKS for [`JwtConfig::publish_lead`] (the JWKS cache
//!    lifetime plus the engines' key refresh), so no resource server meets
//!    a `kid` it has not fetched;
//! 3. a later call promotes it; the old key becomes retiring, still
//!    published, and is retired (unpublished, private half erased) by the
//!    first call after [`JwtConfig::retention`], when every token it
//!    signed has expired.
//!
//! Call it on a schedule (the `tokio` feature's maintenance task does,
//! with `MaintenanceConfig::signing_key_rotation`): each rotation takes
//! two calls at least `publish_lead` apart. The private keys are sealed
//! under the server key current when they were made; keep that server key
//! in the keyring while they are published.

mod cache;
mod crypto;
mod engine;
mod jose;
mod jwks;
mod record;
mod rotation;

pub(crate) use cache::KeyCache;
pub use engine::RotationReport;
pub(crate) use jose::looks_like_jwt;
pub use jose::ACCESS_TOKEN_TYP;
pub use record::{SigningAlgorithm, SigningKeyRecord, SigningKeyState};

/// A client's choice of access-token format (RFC 9068 JWT or opaque),
/// overriding [`JwtConfig::resources`]; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessTokenFormat {
    /// Opaque tokens, whatever the audience.
    Opaque,
    /// JWT access tokens (RFC 9068) for every token with an audience.
    Jwt,
}

/// Which access tokens are JWTs (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtResources {
    /// Every token that has an audience.
    All,
    /// Tokens for at least one of these resources.
    Only(Vec<String>),
}

impl JwtResources {
    /// Whether a token for `audiences` is a JWT.
    #[must_use]
    pub fn wants(&self, audiences: &[String]) -> bool {
        match self {
            JwtResources::All => !audiences.is_empty(),
            JwtResources::Only(r) => audiences.iter().any(|a| r.contains(a)),
        }
    }
}

/// JWT access tokens and their keys. Start from the default (EdDSA, every
/// resource) and change what you need; fields may be added.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The algorithm of new signing keys (keys already made keep theirs).
    pub algorithm: SigningAlgorithm,
    /// Which tokens are JWTs.
    pub resources: JwtResources,
    /// `Cache-Control: max-age` of the JWKS, in seconds: how long a
    /// resource server may use a fetched key set. Default 600.
    pub jwks_max_age: u64,
    /// How often each engine reloads the keys from storage, in seconds.
    /// Default 60.
    pub key_refresh: u64,
    /// Longest JWT lifetime, in seconds (RFC 9068 §2.2 `exp`); the
    /// client's access-token lifetime is capped at it. Default 900.
    pub max_lifetime: u64,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Default 30.
    pub leeway: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            algorithm: SigningAlgorithm::EdDsa,
            resources: JwtResources::All,
            jwks_max_age: 600,
            key_refresh: 60,
            max_lifetime: 900,
            leeway: 30,
        }
    }
}

impl JwtConfig {
    /// How long a new key is published before it signs: the JWKS cache
    /// lifetime, plus the time an engine may serve a JWKS loaded before
    /// the key existed.
    #[must_use]
    pub fn publish_lead(&self) -> u64 {
        self.jwks_max_age.saturating_add(self.key_refresh)
    }

    /// How long a retiring key stays published: an engine may sign with it
    /// for up to `key_refresh` after it retired, and that token lives
    /// `max_lifetime`, plus the leeway verifiers grant on `exp`.
    #[must_use]
    pub fn retention(&self) -> u64 {
        self.max_lifetime
            .saturating_add(self.key_refresh)
            .saturating_add(self.leeway)
    }
}

#[cfg(test)]
mod tests;
