//! The records the engine keeps, as plain data. Backends store them; the
//! engine decides. No record holds a usable credential: only [`TokenHash`]es
//! and sealed blobs that need the presented credential to open.

use serde::{Deserialize, Serialize};

use crate::audit::{Actor, Audit};
use crate::clock::Timestamp;
use crate::scope::ScopeSet;
use crate::token::TokenHash;

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A public client: no secret, identified by `client_id` (RFC 6749 §2.1).
    None,
}

impl AuthMethod {
    /// Every method this version implements, in the order metadata lists
    /// them.
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    /// The RFC 7591 name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Whether clients using this method are confidential (RFC 6749 §2.1).
    #[must_use]
    pub fn is_confidential(self) -> bool {
        !matches!(self, AuthMethod::None)
    }
}

/// Grant types a client may use (RFC 6749 §4, OAuth 2.1 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code` (with PKCE, always).
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials` (confidential clients only).
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4).
    DeviceCode,
}

impl GrantType {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

/// Who may authorize a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Visibility {
    /// Only users of the owner's account (internal tools).
    Private,
    /// Any user. Requires a verified domain that hosts every redirect URI.
    Public,
    /// Registered by the client itself (RFC 7591) or described by its own
    /// metadata document: any user may authorize it, nobody vetted it, and
    /// the consent page says so.
    Unvetted,
}

/// State of a domain ownership proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DomainState {
    /// Waiting for the host to confirm that the challenge was published.
    Pending {
        /// When the challenge stops being accepted.
        expires_at: Timestamp,
    },
    /// Ownership was proven.
    Verified {
        /// When it was confirmed.
        at: Timestamp,
    },
    /// The challenge ran out before confirmation.
    Expired,
    /// Ownership was proven once, but a later re-check no longer found the
    /// challenge published (or could not reach the domain for longer than
    /// the re-check policy's grace period). It no longer counts; a re-check
    /// that finds the challenge again makes it verified again.
    Lapsed {
        /// When ownership was first proven.
        verified_at: Timestamp,
        /// When the re-check found it gone.
        at: Timestamp,
    },
}

/// A domain a client claims, with its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainVerification {
    /// Lower-case DNS name.
    pub domain: String,
    /// The value to publish (DNS TXT or a well-known file). Not a credential:
    /// it is meant to be public once published.
    pub challenge: String,
    /// Where the proof stands.
    pub state: DomainState,
    /// When the verification was started.
    pub started_at: Timestamp,
    /// When the challenge was last seen published by a check (the first
    /// verification or a re-check). Absent in records written before
    /// re-checks existed, and for domains only ever confirmed by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// The last check that did not find the challenge, if it came after
    /// the last one that did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DomainCheckFailure>,
}

/// A check of a domain that did not find its challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCheckFailure {
    /// When.
    pub at: Timestamp,
    /// Why, per method, safe to show to the developer
    /// (e.g. "DNS TXT: the domain does not exist (NXDOMAIN)").
    pub reason: String,
    /// Whether the answer said the challenge is absent (rather than the
    /// check being unable to ask: a timeout, a network failure).
    pub definitive: bool,
}

impl DomainVerification {
    /// Whether ownership is proven.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        matches!(self.state, DomainState::Verified { .. })
    }

    /// Whether ownership was proven once and a re-check found it gone.
    #[must_use]
    pub fn is_lapsed(&self) -> bool {
        matches!(self.state, DomainState::Lapsed { .. })
    }
}

/// Stored form of a client secret: keyed hashes only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHashes {
    /// Hash of the current secret.
    pub current: TokenHash,
    /// Hash of the secret before the last rotation, still accepted until
    /// `previous_until`.
    pub previous: Option<TokenHash>,
    /// End of the rotation overlap.
    pub previous_until: Option<Timestamp>,
}

/// Per-client lifetime overrides in seconds; `None` uses the engine default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLifetimes {
    /// Access token lifetime.
    pub access_token: Option<u64>,
    /// Refresh token lifetime (per rotation).
    pub refresh_token: Option<u64>,
    /// Authorization code lifetime (capped at 600 s).
    pub authorization_code: Option<u64>,
}

/// What a client that registered itself (RFC 7591) keeps beyond the
/// common record: its registration access token (RFC 7592 §3, stored as a
/// keyed hash) and the metadata it described itself with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicRegistration {
    /// Hash of the registration access token.
    pub access_token: TokenHash,
    /// Whether a user has approved it yet (registrations never used are
    /// purged after the policy's time-to-live).
    #[serde(default)]
    pub used: bool,
    /// RFC 7591 §2 `client_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// RFC 7591 §2 `logo_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// RFC 7591 §2 `tos_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// RFC 7591 §2 `policy_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// RFC 7591 §2 `contacts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// RFC 7591 §2 `software_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// RFC 7591 §2 `software_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

/// The cached state of a client described by its Client ID Metadata
/// Document (draft-ietf-oauth-client-id-metadata-document §4.4): the
/// record is the cache, refreshed from the document once it goes stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataDocument {
    /// When the document was last fetched and accepted.
    pub fetched_at: Timestamp,
    /// From when the document must be fetched again before the client is
    /// used (HTTP caching, RFC 9111, within the host's bounds).
    pub stale_at: Timestamp,
}

/// A registered client (RFC 6749 §2, RFC 7591 §2 metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// `client_id`.
    pub id: String,
    /// The account that owns the client.
    pub owner: String,
    /// Who registered it: a developer ([`Actor::User`]), an operator, or
    /// the client itself (RFC 7591). A developer who created an app may
    /// rotate its secret and delete it ([`crate::audit::Acting::check`]).
    /// Absent in records written before this was kept; only account owners
    /// and operators manage those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Actor>,
    /// Name shown on the consent screen.
    pub name: String,
    /// Registered redirect URIs, compared as exact strings.
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may request.
    pub scopes: ScopeSet,
    /// Resource indicators (RFC 8707) the client may request tokens for.
    pub resources: Vec<String>,
    /// Resource indicators this client serves as a resource server: it may
    /// introspect tokens whose audience includes one of them.
    pub served_resources: Vec<String>,
    /// Token endpoint authentication method.
    pub auth_method: AuthMethod,
    /// Secret hashes, for confidential clients.
    pub secret: Option<SecretHashes>,
    /// Who may authorize it.
    pub visibility: Visibility,
    /// Claimed domains and their proofs.
    pub domains: Vec<DomainVerification>,
    /// Lifetime overrides.
    pub lifetimes: ClientLifetimes,
    /// Its access-token format, overriding the per-resource choice of
    /// [`crate::jwt::JwtConfig::resources`]; `None` follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<crate::jwt::AccessTokenFormat>,
    /// RFC 7591/7592 state, for a client that registered itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<DynamicRegistration>,
    /// For a client whose `client_id` is the URL of its own metadata
    /// document (draft-ietf-oauth-client-id-metadata-document): when the
    /// document was fetched and until when this copy is fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_document: Option<MetadataDocument>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency counter, bumped by every update.
    pub revision: u64,
}

impl ClientRecord {
    /// Whether the client may use `g`.
    #[must_use]
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Verified domains.
    pub fn verified_domains(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .filter(|d| d.is_verified())
            .map(|d| d.domain.as_str())
    }

    /// Domains whose verification lapsed (see [`DomainState::Lapsed`]).
    pub fn lapsed_domains(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .filter(|d| d.is_lapsed())
            .map(|d| d.domain.as_str())
    }

    /// Whether the client has a verified domain and every redirect URI is
    /// on one: only then may a page present the app as published by the
    /// owner of those domains. A public client loses this when a re-check
    /// finds a domain's proof gone.
    #[must_use]
    pub fn publisher_verified(&self) -> bool {
        let verified: Vec<&str> = self.verified_domains().collect();
        !verified.is_empty()
            && self
                .redirect_uris
                .iter()
                .all(|u| verified.iter().any(|d| crate::redirect::on_domain(u, d)))
    }
}

/// An authorization request that passed validation, parked while the host
/// logs the user in and asks for consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// `client_id`.
    pub client_id: String,
    /// The redirect URI the response goes to (as sent or as registered).
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request; if so the token request
    /// must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_explicit: bool,
    /// `state`, echoed back.
    pub state: Option<String>,
    /// Requested scopes.
    pub scopes: ScopeSet,
    /// Requested resources (RFC 8707).
    pub resources: Vec<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    /// Set when this is the consent step of a device authorization
    /// (RFC 8628 §3.3): the hash of its device code. Such a request has no
    /// redirect URI or PKCE challenge; approving it stores the approval
    /// under this hash instead of issuing a code to a redirect URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<PendingDevice>,
}

/// The device authorization a consent step completes (RFC 8628 §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDevice {
    /// Hash of the device code.
    pub hash: TokenHash,
    /// When the device code expires; an approval lasts no longer.
    pub expires_at: Timestamp,
}

/// A login/consent challenge handed to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// Hash of the challenge credential.
    pub hash: TokenHash,
    /// Hash of the host's user-agent binding (CSRF protection).
    pub binding: TokenHash,
    /// The validated request.
    pub request: PendingAuthorization,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// Where a device authorization stands from the user's side. Approval is
/// not a status here: it is the approval record [`crate::storage::GrantStore::approve`]
/// stores under the device code's hash (see [`crate::storage::DeviceStore`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceStatus {
    /// Waiting for the user (or approved, if an approval exists).
    Pending,
    /// The user denied it (RFC 8628 §3.5 `access_denied`).
    Denied,
}

/// A device authorization request (RFC 8628 §3.1–3.2) while the device
/// polls. Only keyed hashes of the device code and the user code are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Hash of the device code (the record's key).
    pub hash: TokenHash,
    /// Keyed hash of the normalised user code (unique while stored).
    pub user_code: TokenHash,
    /// The client that asked.
    pub client_id: String,
    /// Requested scopes.
    pub scopes: ScopeSet,
    /// Requested resources (RFC 8707).
    pub resources: Vec<String>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When the device code and the user code stop working.
    pub expires_at: Timestamp,
    /// The minimum seconds between polls; raised by every `slow_down`
    /// (RFC 8628 §3.5).
    pub interval: u64,
    /// When the device last polled.
    pub last_poll: Option<Timestamp>,
    /// Pending or denied.
    pub status: DeviceStatus,
}

/// What became of an authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeStatus {
    /// Not yet exchanged.
    Unused,
    /// Exchanged; the family it started.
    Redeemed {
        /// Family started by the exchange.
        family_id: String,
    },
    /// Too many wrong PKCE verifiers; unusable.
    Burned,
}

/// An authorization code (RFC 6749 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Hash of the code.
    pub hash: TokenHash,
    /// Client it was issued to.
    pub client_id: String,
    /// Grant it was issued under.
    pub grant_id: String,
    /// The resource owner.
    pub subject: String,
    /// Redirect URI of the authorization request.
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri`.
    pub redirect_uri_explicit: bool,
    /// Granted scopes (before implication expansion).
    pub scopes: ScopeSet,
    /// Granted resources.
    pub resources: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Wrong verifiers presented so far.
    pub failed_attempts: u32,
    /// Whether it was used.
    pub status: CodeStatus,
}

/// One user's authorization of one client: the row of the "connected apps"
/// page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Grant id.
    pub id: String,
    /// The user.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// Every scope ever granted to the client by the user.
    pub scopes: ScopeSet,
    /// Every resource ever granted.
    pub resources: Vec<String>,
    /// Scopes the user asked to remember (skip the prompt for subsets).
    pub remembered_scopes: Option<ScopeSet>,
    /// First grant.
    pub created_at: Timestamp,
    /// Last authorization or refresh.
    pub last_used_at: Timestamp,
    /// Optimistic-concurrency counter.
    pub revision: u64,
}

/// The refresh token of one generation of a family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGeneration {
    /// Hash of the refresh token.
    pub hash: TokenHash,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// The generation just rotated out, kept so retries can be coalesced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousGeneration {
    /// Hash of the rotated-out refresh token.
    pub hash: TokenHash,
    /// When it was rotated.
    pub rotated_at: Timestamp,
    /// The successor response, sealed under a key derived from the
    /// rotated-out token ([`crate::token::Keyring::seal`]).
    pub sealed_successor: Vec<u8>,
}

/// Why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// A rotated-out refresh token was presented again (RFC 9700 §4.14.2).
    RefreshReuse,
    /// An authorization code was presented twice (RFC 6749 §4.1.2).
    CodeReplay,
    /// RFC 7009 revocation request.
    Requested,
    /// The user or an administrator revoked the grant.
    GrantRevoked,
    /// The client was deleted.
    ClientDeleted,
    /// Every grant of the subject was revoked.
    SubjectRevoked,
}

/// Revocation mark; sticky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: RevocationReason,
}

/// A refresh-token family: every token descended from one code exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// Family id.
    pub id: String,
    /// Grant it belongs to.
    pub grant_id: String,
    /// Client.
    pub client_id: String,
    /// Resource owner.
    pub subject: String,
    /// Scopes of the grant at exchange time (upper bound for refreshes).
    pub scopes: ScopeSet,
    /// Resources (audiences).
    pub resources: Vec<String>,
    /// Current generation number, starting at 0.
    pub generation: u64,
    /// The live refresh token.
    pub current: RefreshGeneration,
    /// The generation before it, while coalescing may still apply.
    pub previous: Option<PreviousGeneration>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When every token of the family has expired; purge after this.
    pub expires_at: Timestamp,
    /// Set once, never cleared.
    pub revoked: Option<Revocation>,
}

/// An access token (RFC 6749 §1.4), stored by hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    /// Hash of the token.
    pub hash: TokenHash,
    /// Family for user tokens; `None` for `client_credentials`.
    pub family_id: Option<String>,
    /// Client.
    pub client_id: String,
    /// Resource owner, or the client id for `client_credentials`.
    pub subject: String,
    /// Effective scopes (implications expanded).
    pub scopes: ScopeSet,
    /// Audiences (RFC 8707).
    pub resources: Vec<String>,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Set by RFC 7009 revocation of this token alone.
    pub revoked_at: Option<Timestamp>,
}

/// An access token with the state of its family, as one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenView {
    /// The token.
    pub token: AccessTokenRecord,
    /// Whether its family (if any) is revoked.
    pub family_revoked: bool,
}

/// Something others must hear about, written to the outbox in the same
/// atomic operation as the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A client was registered.
    ClientCreated {
        /// Client id.
        client_id: String,
    },
    /// A client's metadata changed (including domain verification).
    ClientUpdated {
        /// Client id.
        client_id: String,
    },
    /// A client was deleted; its grants and tokens are gone.
    ClientDeleted {
        /// Client id.
        client_id: String,
    },
    /// A client secret was rotated.
    SecretRotated {
        /// Client id.
        client_id: String,
    },
    /// A user granted a client access for the first time.
    GrantCreated {
        /// Grant id.
        grant_id: String,
        /// User.
        subject: String,
        /// Client.
        client_id: String,
    },
    /// A user approved a consent prompt (or it was skipped as remembered).
    ConsentGiven {
        /// Grant id.
        grant_id: String,
        /// User.
        subject: String,
        /// Client.
        client_id: String,
        /// Scopes approved.
        scopes: ScopeSet,
    },
    /// A grant and all its tokens were revoked.
    GrantRevoked {
        /// Grant id.
        grant_id: String,
        /// User.
        subject: String,
        /// Client.
        client_id: String,
    },
    /// Every grant of a user was revoked.
    SubjectRevoked {
        /// User.
        subject: String,
    },
    /// A token family was revoked.
    FamilyRevoked {
        /// Family id.
        family_id: String,
        /// Grant id.
        grant_id: String,
        /// Client.
        client_id: String,
        /// Why.
        reason: RevocationReason,
    },
    /// One access token was revoked (RFC 7009).
    AccessTokenRevoked {
        /// Client.
        client_id: String,
        /// Subject of the token.
        subject: String,
    },
    /// A domain's ownership was proven (first time, or again after it
    /// lapsed). Written together with `client_updated`.
    DomainVerified {
        /// Client.
        client_id: String,
        /// The domain.
        domain: String,
    },
    /// A re-check no longer found a verified domain's proof: the domain no
    /// longer counts. Written together with `client_updated`.
    DomainLapsed {
        /// Client.
        client_id: String,
        /// The domain.
        domain: String,
    },
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// When the change happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// Who caused it, from where. Every backend stores it with the event.
    pub audit: Audit,
}

/// An event in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the outbox, strictly increasing in commit order.
    pub seq: u64,
    /// When the change happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// Who caused it, from where; `None` for events written before audit
    /// fields existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Audit>,
}
