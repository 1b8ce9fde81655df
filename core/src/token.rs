//! Opaque credentials: generation, parsing and keyed hashing.
//!
//! A credential is `prefix + base64url(kid || 32 random bytes)`. The prefix
//! (`lk_at_`, `lk_rt_`, …) lets secret scanners recognise leaked Latchkey
//! credentials; the key id byte says which server key hashes it, so rotated
//! keys stay verifiable with a single lookup. Storage only ever sees
//! [`TokenHash`] = HMAC-SHA256(server key, credential), so a database dump
//! holds nothing usable (RFC 9700 §4.14, fosite's HMAC strategy).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::{aead, hkdf, hmac};
use serde::{Deserialize, Serialize};

use crate::entropy::{Entropy, EntropyError};

/// Bytes of CSPRNG entropy in every credential (256 bits).
pub const TOKEN_ENTROPY_BYTES: usize = 32;

/// What a credential is for; each kind has its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// Bearer access token (RFC 6749 §1.4).
    AccessToken,
    /// Refresh token (RFC 6749 §1.5).
    RefreshToken,
    /// Authorization code (RFC 6749 §4.1.2).
    AuthorizationCode,
    /// Consent/login challenge handed to the host.
    ConsentChallenge,
    /// Client secret (RFC 6749 §2.3.1).
    ClientSecret,
    /// Registration access token (RFC 7592 §3).
    RegistrationAccessToken,
    /// Device code (RFC 8628 §3.2).
    DeviceCode,
    /// The `jti` of a JWT access token (RFC 9068 §2.2). Not a credential
    /// (the JWT is): it only names the stored record, which is keyed by its
    /// hash like every other token.
    JwtId,
}

impl TokenKind {
    /// Every kind, e.g. to recognise any credential of this server by its
    /// prefix.
    pub const ALL: [TokenKind; 8] = [
        TokenKind::AccessToken,
        TokenKind::RefreshToken,
        TokenKind::AuthorizationCode,
        TokenKind::ConsentChallenge,
        TokenKind::ClientSecret,
        TokenKind::RegistrationAccessToken,
        TokenKind::DeviceCode,
        TokenKind::JwtId,
    ];

    /// The scanner-friendly prefix of this kind.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "lk_at_",
            TokenKind::RefreshToken => "lk_rt_",
            TokenKind::AuthorizationCode => "lk_ac_",
            TokenKind::ConsentChallenge => "lk_cc_",
            TokenKind::ClientSecret => "lk_cs_",
            TokenKind::RegistrationAccessToken => "lk_ra_",
            TokenKind::DeviceCode => "lk_dc_",
            TokenKind::JwtId => "lk_ji_",
        }
    }
}

/// A credential in the clear. Never logged: `Debug` is redacted and there is
/// no `Display`; [`Secret::expose`] is the only way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential string.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The credential text. Send it to its owner once; never log or store it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// HMAC-SHA256 of a credential under a server key: what storage keys on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Lower-case hex, for backends that key on text.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Constant-time equality, for comparisons against presented secrets.
    #[must_use]
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell records apart in logs.
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

/// One server key. Keys are identified by a byte embedded in every credential.
pub struct ServerKey {
    id: u8,
    hmac: hmac::Key,
    salt: hkdf::Salt,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey({})", self.id)
    }
}

/// The server's credential keys: the first hashes new credentials, all of
/// them verify. Rotate by putting a new key first and keeping the old ones
/// until every credential hashed under them has expired.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<ServerKey>,
}

/// A keyring with no keys, or two keys with one id.
#[derive(Debug, thiserror::Error)]
#[error("a keyring needs at least one key and unique key ids")]
pub struct KeyringError;

impl Keyring {
    /// Builds a keyring from `(key id, secret)` pairs, current key first.
    /// Secrets should be 32 random bytes.
    ///
    /// # Errors
    /// When `keys` is empty or repeats an id.
    pub fn new(keys: &[(u8, [u8; 32])]) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(keys.len());
        for (id, secret) in keys {
            if !seen.insert(*id) {
                return Err(KeyringError);
            }
            out.push(ServerKey {
                id: *id,
                hmac: hmac::Key::new(hmac::HMAC_SHA256, secret),
                salt: hkdf::Salt::new(hkdf::HKDF_SHA256, secret),
            });
        }
        Ok(Keyring { keys: out })
    }

    /// A keyring with one freshly generated key (id 0). Credentials do not
    /// survive a restart with a new random key; persist real keys.
    ///
    /// # Errors
    /// When the randomness source fails.
    pub fn generate(entropy: &dyn Entropy) -> Result<Self, EntropyError> {
        let mut secret = [0u8; 32];
        entropy.fill(&mut secret)?;
        Ok(Keyring::new(&[(0, secret)]).expect("one key is a valid keyring"))
    }

    fn current(&self) -> &ServerKey {
        &self.keys[0]
    }

    fn by_id(&self, id: u8) -> Option<&ServerKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Mints a new credential of `kind` and returns it with its hash.
    ///
    /// # Errors
    /// When the randomness source fails.
    pub fn mint(
        &self,
        kind: TokenKind,
        entropy: &dyn Entropy,
    ) -> Result<(Secret, TokenHash), EntropyError> {
        let key = self.current();
        let mut raw = [0u8; 1 + TOKEN_ENTROPY_BYTES];
        raw[0] = key.id;
        entropy.fill(&mut raw[1..])?;
        let text = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(raw));
        let hash = Self::hash_with(key, &text);
        Ok((Secret(text), hash))
    }

    /// Hashes a presented credential, or `None` when it is not a well-formed
    /// credential of `kind` under a key this keyring holds. Callers treat
    /// `None` exactly like an unknown credential.
    #[must_use]
    pub fn hash(&self, kind: TokenKind, presented: &str) -> Option<TokenHash> {
        let key = self.key_for(kind, presented)?;
        Some(Self::hash_with(key, presented))
    }

    /// HMAC of arbitrary secret text under the current key, for secrets
    /// that do not carry a key id (operator-provided client secrets).
    #[must_use]
    pub fn digest(&self, text: &str) -> TokenHash {
        Self::hash_with(self.current(), text)
    }

    /// Whether `text` hashes to `stored` under any key of the ring, compared
    /// in constant time (client secrets survive key rotation).
    #[must_use]
    pub fn matches(&self, text: &str, stored: &TokenHash) -> bool {
        self.keys.iter().fold(false, |found, k| {
            found | Self::hash_with(k, text).ct_eq(stored)
        })
    }

    fn key_for(&self, kind: TokenKind, presented: &str) -> Option<&ServerKey> {
        let body = presented.strip_prefix(kind.prefix())?;
        // 33 bytes encode to exactly 44 base64url characters without padding.
        if body.len() != 44 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        if raw.len() != 1 + TOKEN_ENTROPY_BYTES {
            return None;
        }
        self.by_id(raw[0])
    }

    fn hash_with(key: &ServerKey, text: &str) -> TokenHash {
        let tag = hmac::sign(&key.hmac, text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        TokenHash(out)
    }

    /// Encrypts `plaintext` under a key derived (HKDF-SHA256) from the
    /// presented credential `under` and the server key it names. Only someone
    /// holding `under` can open it, and storage never holds `under`: this is
    /// how a rotated refresh token's successor can be replayed byte for byte
    /// without storing a usable token.
    ///
    /// # Errors
    /// When randomness fails or `under` is not a credential of this keyring.
    pub fn seal(
        &self,
        kind: TokenKind,
        under: &Secret,
        plaintext: &[u8],
        entropy: &dyn Entropy,
    ) -> Result<Vec<u8>, SealError> {
        let key = self.aead_key(kind, under)?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        entropy.fill(&mut nonce).map_err(|_| SealError)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut buf,
        )
        .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens what [`Keyring::seal`] produced with the same credential.
    ///
    /// # Errors
    /// When the credential is not the one it was sealed under, or the data
    /// was altered.
    pub fn open(
        &self,
        kind: TokenKind,
        under: &Secret,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        if sealed.len() < aead::NONCE_LEN {
            return Err(SealError);
        }
        let key = self.aead_key(kind, under)?;
        let (nonce, ct) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut buf = ct.to_vec();
        let plain = key
            .open_in_place(nonce, aead::Aad::empty(), &mut buf)
            .map_err(|_| SealError)?;
        Ok(plain.to_vec())
    }

    fn aead_key(&self, kind: TokenKind, under: &Secret) -> Result<aead::LessSafeKey, SealError> {
        let server = self.key_for(kind, under.expose()).ok_or(SealError)?;
        let info = [b"latchkey successor v1".as_slice()];
        let prk = server.salt.extract(under.expose().as_bytes());
        let okm = prk
            .expand(&info, &aead::CHACHA20_POLY1305)
            .map_err(|_| SealError)?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    }
}

impl Keyring {
    /// Encrypts data kept at rest (signing keys) with AES-256-GCM under a
    /// key derived by HKDF-SHA256 from the current server key, binding
    /// `aad` (the record's name) so a sealed blob cannot be moved to
    /// another record. Returns the id of the server key used, which
    /// [`Keyring::open_at_rest`] needs, and `nonce || ciphertext || tag`.
    ///
    /// # Errors
    /// When randomness fails.
    pub fn seal_at_rest(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        entropy: &dyn Entropy,
    ) -> Result<(u8, Vec<u8>), SealError> {
        let server = self.current();
        let key = Self::at_rest_key(server)?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        entropy.fill(&mut nonce).map_err(|_| SealError)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok((server.id, out))
    }

    /// Opens what [`Keyring::seal_at_rest`] produced under server key
    /// `key_id` with the same `aad`.
    ///
    /// # Errors
    /// When the server key is no longer in the ring, the `aad` differs or
    /// the data was altered.
    pub fn open_at_rest(
        &self,
        key_id: u8,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        if sealed.len() < aead::NONCE_LEN {
            return Err(SealError);
        }
        let key = Self::at_rest_key(self.by_id(key_id).ok_or(SealError)?)?;
        let (nonce, ct) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut buf = ct.to_vec();
        let plain = key
            .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
            .map_err(|_| SealError)?;
        Ok(plain.to_vec())
    }

    fn at_rest_key(server: &ServerKey) -> Result<aead::LessSafeKey, SealError> {
        // The server secret is the HKDF salt (as for successors); a fixed
        // input and its own info label keep this key apart from every
        // other key derived from the same secret.
        let prk = server.salt.extract(b"latchkey at-rest");
        let info = [b"latchkey at-rest aes-256-gcm v1".as_slice()];
        let okm = prk
            .expand(&info, &aead::AES_256_GCM)
            .map_err(|_| SealError)?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    }
}

/// Sealing or opening failed.
#[derive(Debug, thiserror::Error)]
#[error("sealed data could not be produced or opened")]
pub struct SealError;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(&[(1, [7u8; 32])]).unwrap()
    }

    #[test]
    fn minted_token_hashes_back_and_has_prefix() {
        let e = SeededEntropy::new(1);
        let k = ring();
        let (t, h) = k.mint(TokenKind::AccessToken, &e).unwrap();
        assert!(t.expose().starts_with("lk_at_"));
        assert_eq!(k.hash(TokenKind::AccessToken, t.expose()), Some(h));
        // Another kind's prefix never matches.
        assert_eq!(k.hash(TokenKind::RefreshToken, t.expose()), None);
        assert_eq!(format!("{t:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn rotated_keys_still_verify_and_unknown_keys_do_not() {
        let e = SeededEntropy::new(2);
        let old = Keyring::new(&[(1, [1u8; 32])]).unwrap();
        let (t, h) = old.mint(TokenKind::RefreshToken, &e).unwrap();
        let rotated = Keyring::new(&[(2, [2u8; 32]), (1, [1u8; 32])]).unwrap();
        assert_eq!(rotated.hash(TokenKind::RefreshToken, t.expose()), Some(h));
        let dropped = Keyring::new(&[(2, [2u8; 32])]).unwrap();
        assert_eq!(dropped.hash(TokenKind::RefreshToken, t.expose()), None);
        let (t2, _) = rotated.mint(TokenKind::RefreshToken, &e).unwrap();
        assert_eq!(old.hash(TokenKind::RefreshToken, t2.expose()), None);
    }

    #[test]
    fn seal_opens_only_with_the_same_token() {
        let e = SeededEntropy::new(3);
        let k = ring();
        let (a, _) = k.mint(TokenKind::RefreshToken, &e).unwrap();
        let (b, _) = k.mint(TokenKind::RefreshToken, &e).unwrap();
        let sealed = k
            .seal(TokenKind::RefreshToken, &a, b"successor", &e)
            .unwrap();
        assert_eq!(
            k.open(TokenKind::RefreshToken, &a, &sealed).unwrap(),
            b"successor"
        );
        assert!(k.open(TokenKind::RefreshToken, &b, &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(k.open(TokenKind::RefreshToken, &a, &tampered).is_err());
    }

    #[test]
    fn at_rest_seal_binds_aad_and_server_key() {
        let e = SeededEntropy::new(4);
        let k = ring();
        let (id, sealed) = k.seal_at_rest(b"kid-1", b"private", &e).unwrap();
        assert_eq!(id, 1);
        assert_eq!(k.open_at_rest(1, b"kid-1", &sealed).unwrap(), b"private");
        assert!(k.open_at_rest(1, b"kid-2", &sealed).is_err());
        assert!(k.open_at_rest(2, b"kid-1", &sealed).is_err());
        let other = Keyring::new(&[(1, [8u8; 32])]).unwrap();
        assert!(other.open_at_rest(1, b"kid-1", &sealed).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_for_any_seed(seed in any::<u64>()) {
            let e = SeededEntropy::new(seed);
            let k = ring();
            let (t, h) = k.mint(TokenKind::RefreshToken, &e).unwrap();
            prop_assert_eq!(t.expose().len(), 6 + 44);
            prop_assert_eq!(k.hash(TokenKind::RefreshToken, t.expose()), Some(h));
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,80}") {
            let _ = ring().hash(TokenKind::AccessToken, &s);
        }

        #[test]
        fn any_one_char_change_changes_the_hash(seed in any::<u64>(), pos in 6usize..50) {
            let e = SeededEntropy::new(seed);
            let k = ring();
            let (t, h) = k.mint(TokenKind::AccessToken, &e).unwrap();
            let mut s: Vec<char> = t.expose().chars().collect();
            s[pos] = if s[pos] == 'A' { 'B' } else { 'A' };
            let changed: String = s.into_iter().collect();
            prop_assert_ne!(k.hash(TokenKind::AccessToken, &changed), Some(h));
        }
    }
}
