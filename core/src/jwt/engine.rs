//! The engine's side of JWT access tokens: rotation, the JWKS, minting
//! and verification over the cached keys.

use std::borrow::Cow;
use std::sync::Arc;

use super::cache::{ActiveKey, KeySet};
use super::crypto::{self, Signer};
use super::jose::{self, AccessClaims, Expect, Rejection, VerifyingKey};
use super::rotation::{self, Step};
use super::{jwks, JwtConfig, SigningKeyRecord, SigningKeyState};
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::HttpResponse;
use crate::manage_error::ManageError;
use crate::storage::{Storage, StorageError};
use crate::token::{TokenHash, TokenKind};

/// What one [`Engine::rotate_signing_key`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// A key made active at once because none was.
    pub bootstrapped: Option<String>,
    /// A key published as pending.
    pub published: Option<String>,
    /// The pending key that now signs.
    pub activated: Option<String>,
    /// Retiring keys withdrawn from the JWKS.
    pub retired: Vec<String>,
    /// When the pending key may be promoted, if it is too early.
    pub waiting_until: Option<Timestamp>,
}

/// A JWT access token whose signature verified: where its record is, for
/// introspection and revocation.
pub(crate) struct VerifiedJwt {
    /// The hash its record is stored under.
    pub(crate) hash: TokenHash,
}

impl<S: Storage + ?Sized> Engine<S> {
    fn jwt_settings(&self) -> Cow<'_, JwtConfig> {
        match &self.config.jwt {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(JwtConfig::default()),
        }
    }

    /// Takes the next step of signing-key rotation at `now` (see
    /// [`crate::jwt`]): retires keys whose tokens have all expired, then
    /// makes a first key, publishes the next one, or promotes it once it
    /// has been published for [`JwtConfig::publish_lead`]. Safe to call
    /// from every instance at once: each step is one atomic storage
    /// operation, and a step another instance took first is skipped.
    ///
    /// # Errors
    /// Storage failures; a key that cannot be generated or sealed.
    pub async fn rotate_signing_key(&self, now: Timestamp) -> Result<RotationReport, ManageError> {
        let cfg = self.jwt_settings();
        let keys = self.store.list_signing_keys().await?;
        let mut report = RotationReport::default();
        for kid in rotation::expired_retiring(&keys, now, cfg.retention()) {
            if self.store.retire_signing_key(&kid, now).await? {
                report.retired.push(kid);
            }
        }
        match rotation::next_step(&keys, now) {
            Step::Bootstrap => {
                let key = self.new_signing_key(&cfg, now, SigningKeyState::Active, now)?;
                report.bootstrapped = self.insert_key(key).await?;
            }
            Step::Publish => {
                let at = now.plus(cfg.publish_lead());
                let key = self.new_signing_key(&cfg, now, SigningKeyState::Pending, at)?;
                report.published = self.insert_key(key).await?;
            }
            Step::Promote { next, previous } => {
                if self
                    .store
                    .promote_signing_key(&next, previous.as_deref(), now)
                    .await?
                {
                    report.activated = Some(next);
                }
            }
            Step::Wait(until) => report.waiting_until = Some(until),
        }
        // This instance sees its own change at once; others within
        // `key_refresh`, which the rotation timing allows for.
        self.load_keys(now).await?;
        Ok(report)
    }

    /// Inserts `key`; `None` when another instance filled its slot first.
    async fn insert_key(&self, key: SigningKeyRecord) -> Result<Option<String>, StorageError> {
        match self.store.insert_signing_key(&key).await {
            Ok(()) => Ok(Some(key.kid)),
            Err(StorageError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn new_signing_key(
        &self,
        cfg: &JwtConfig,
        now: Timestamp,
        state: SigningKeyState,
        activates_at: Timestamp,
    ) -> Result<SigningKeyRecord, ManageError> {
        let kid = self.new_id("")?;
        let generated = crypto::generate(cfg.algorithm)
            .map_err(|_| ManageError::Internal("signing key generation failed".into()))?;
        let (sealed_with, sealed_private) = self
            .keys
            .seal_at_rest(kid.as_bytes(), &generated.pkcs8, &*self.entropy)
            .map_err(|e| ManageError::Internal(Box::new(e)))?;
        Ok(SigningKeyRecord {
            kid,
            algorithm: cfg.algorithm,
            public_key: generated.public,
            sealed_private,
            sealed_with,
            created_at: now,
            activates_at,
            state,
            state_since: now,
        })
    }

    /// Reads the keys from storage and opens the active one.
    async fn load_keys(&self, now: Timestamp) -> Result<Arc<KeySet>, Error> {
        let all = self.store.list_signing_keys().await?;
        let published: Vec<SigningKeyRecord> = rotation::published(&all).cloned().collect();
        let verifying = published
            .iter()
            .map(|k| VerifyingKey {
                kid: k.kid.clone(),
                algorithm: k.algorithm,
                public: k.public_key.clone(),
            })
            .collect();
        let active = match published
            .iter()
            .find(|k| k.state == SigningKeyState::Active)
        {
            Some(k) => Some(self.open_key(k)?),
            None => None,
        };
        let set = Arc::new(KeySet {
            loaded_at: now,
            published,
            verifying,
            active,
        });
        self.signing.put(set.clone());
        Ok(set)
    }

    fn open_key(&self, k: &SigningKeyRecord) -> Result<ActiveKey, Error> {
        let pkcs8 = self
            .keys
            .open_at_rest(k.sealed_with, k.kid.as_bytes(), &k.sealed_private)
            .map_err(Error::internal)?;
        let signer = Signer::from_pkcs8(k.algorithm, &pkcs8)
            .map_err(|_| Error::internal("stored signing key does not parse"))?;
        Ok(ActiveKey {
            record: k.clone(),
            signer,
        })
    }

    /// The keys, reloaded when older than [`JwtConfig::key_refresh`]. With
    /// JWTs off there are none, and storage is not asked (a store without
    /// [`crate::storage::SigningKeyStore`] then serves opaque tokens only).
    pub(crate) async fn key_set(&self) -> Result<Arc<KeySet>, Error> {
        let now = self.now();
        if self.config.jwt.is_none() {
            return Ok(Arc::new(KeySet {
                loaded_at: now,
                published: Vec::new(),
                verifying: Vec::new(),
                active: None,
            }));
        }
        match self.signing.fresh(now, self.jwt_settings().key_refresh) {
            Some(set) => Ok(set),
            None => self.load_keys(now).await,
        }
    }

    /// Makes sure a key can sign before a token is issued: loads the keys
    /// and, when none is active yet, makes the first one.
    pub(crate) async fn prepare_signing(&self) -> Result<(), Error> {
        if self.config.jwt.is_none() || self.key_set().await?.active.is_some() {
            return Ok(());
        }
        let now = self.now();
        self.rotate_signing_key(now).await.map_err(|e| match e {
            ManageError::Unavailable(c) => Error::TemporarilyUnavailable(c),
            other => Error::internal(other),
        })?;
        match self.key_set().await?.active {
            Some(_) => Ok(()),
            None => Err(Error::internal("no active signing key")),
        }
    }

    /// Whether tokens for `audiences` are JWTs.
    pub(crate) fn issues_jwt(
        &self,
        client: &crate::model::ClientRecord,
        audiences: &[String],
    ) -> bool {
        let Some(config) = self.config.jwt.as_ref() else {
            return false;
        };
        match client.access_token_format {
            Some(super::AccessTokenFormat::Jwt) => !audiences.is_empty(),
            Some(super::AccessTokenFormat::Opaque) => false,
            None => config.resources.wants(audiences),
        }
    }

    /// The longest lifetime of a JWT.
    pub(crate) fn jwt_max_lifetime(&self) -> u64 {
        self.jwt_settings().max_lifetime
    }

    /// Signs `claims` (whose `jti` the caller minted) with the active key
    /// loaded by [`Engine::prepare_signing`].
    pub(crate) fn sign_jwt(&self, claims: &AccessClaims) -> Result<String, Error> {
        let set = self
            .signing
            .any()
            .ok_or_else(|| Error::internal("signing keys not loaded"))?;
        let key = set
            .active
            .as_ref()
            .ok_or_else(|| Error::internal("no active signing key"))?;
        jose::encode(key.record.algorithm, &key.record.kid, claims, &key.signer)
            .map_err(|_| Error::internal("signing failed"))
    }

    /// The signature and header of `token` checked against the published
    /// keys; `Ok(None)` for anything that is not a valid JWT of this
    /// server (expired ones included: callers check time themselves).
    pub(crate) async fn verified_jwt(&self, token: &str) -> Result<Option<VerifiedJwt>, Error> {
        let set = self.key_set().await?;
        let Ok(claims) = jose::verify_signature(token, &set.verifying) else {
            return Ok(None);
        };
        Ok(self
            .keys
            .hash(TokenKind::JwtId, &claims.jti)
            .map(|hash| VerifiedJwt { hash }))
    }

    /// Local verification for a resource server: every check of RFC 9068
    /// §4 but revocation (see [`crate::jwt`]).
    pub(crate) async fn verify_jwt_locally(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Result<AccessClaims, Rejection>, Error> {
        let set = self.key_set().await?;
        let cfg = self.jwt_settings();
        let expect = Expect {
            issuer: &self.config.issuer,
            audience,
            now: self.now(),
            leeway: cfg.leeway,
        };
        Ok(jose::verify_signature(token, &set.verifying)
            .and_then(|c| jose::check_claims(&c, &expect).map(|()| c)))
    }

    /// The JWK Set (RFC 7517 §5) of the published keys: public keys only.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn jwks(&self) -> Result<serde_json::Value, Error> {
        Ok(jwks::document(&self.key_set().await?.published))
    }

    /// The `jwks_uri` endpoint (RFC 8414 §2): the JWK Set, cacheable for
    /// [`JwtConfig::jwks_max_age`].
    pub async fn jwks_response(&self) -> HttpResponse {
        match self.jwks().await {
            Ok(doc) => HttpResponse {
                status: 200,
                headers: vec![
                    // RFC 7517 §8.5.
                    ("Content-Type".into(), "application/jwk-set+json".into()),
                    (
                        "Cache-Control".into(),
                        format!("public, max-age={}", self.jwt_settings().jwks_max_age),
                    ),
                ],
                body: serde_json::to_vec(&doc).unwrap_or_default(),
            },
            Err(e) => HttpResponse::error(&e),
        }
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// A JWT access token (RFC 9068 §2) and the hash its record is stored
    /// under (that of its `jti`).
    pub(crate) fn mint_jwt(
        &self,
        client: &crate::model::ClientRecord,
        subject: &str,
        scopes: &crate::scope::ScopeSet,
        audiences: &[String],
        now: Timestamp,
        exp: Timestamp,
    ) -> Result<(crate::token::Secret, TokenHash), Error> {
        let (jti, hash) = self.mint(TokenKind::JwtId)?;
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            sub: subject.to_owned(),
            aud: audiences.to_vec(),
            exp: exp.0,
            iat: now.0,
            nbf: Some(now.0),
            jti: jti.expose().to_owned(),
            client_id: client.id.clone(),
            scope: scopes.to_string(),
        };
        Ok((crate::token::Secret::new(self.sign_jwt(&claims)?), hash))
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// The [`crate::introspect::TokenInfo`] of a JWT that passes local
    /// verification for `audience` (`None`: any); `Ok(None)` when it does
    /// not.
    ///
    /// # Errors
    /// Storage failures while (re)loading the keys.
    pub(crate) async fn jwt_info(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<crate::introspect::TokenInfo>, Error> {
        Ok(self
            .verify_jwt_locally(token, audience)
            .await?
            .ok()
            .map(|c| crate::introspect::TokenInfo {
                active: true,
                scope: c.scope,
                client_id: c.client_id,
                sub: c.sub,
                exp: c.exp,
                iat: c.iat,
                aud: c.aud,
                iss: c.iss,
                token_type: Some("Bearer".into()),
            }))
    }
}
