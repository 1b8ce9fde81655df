//! Storage contracts, split by capability.
//!
//! Every method that must be atomic says so and names what it does as one
//! operation; each backend implements it with its own transaction or
//! conditional write, never with an in-process lock, so the contracts hold
//! across processes sharing one database. `latchkey::conformance` (feature `conformance`) checks them.
//!
//! Methods that append [`NewEvent`]s must write them in the same atomic
//! operation as the change: either both are durable or neither is.

mod memory;
pub mod rules;

use async_trait::async_trait;

pub use memory::MemoryStore;

use crate::clock::Timestamp;
use crate::jwt::SigningKeyRecord;
use crate::model::{
    AccessTokenRecord, AccessTokenView, ChallengeRecord, ClientRecord, CodeRecord, DeviceRecord,
    Event, FamilyRecord, GrantRecord, NewEvent, PreviousGeneration, RefreshGeneration, Revocation,
};
use crate::token::TokenHash;
use crate::web::{SessionKey, SessionRecord};

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a backend can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A record that must exist does not.
    #[error("record not found")]
    NotFound,
    /// A uniqueness or optimistic-concurrency condition failed.
    #[error("conflicting concurrent change")]
    Conflict,
    /// The backend is unreachable, overloaded or timed out; retrying later
    /// may succeed. Maps to `temporarily_unavailable`.
    #[error("storage temporarily unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else (corruption, bugs, unexpected data). Maps to
    /// `server_error`.
    #[error("storage failure")]
    Backend(#[source] Cause),
}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// Registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a new client and appends `events`, atomically.
    /// [`StorageError::Conflict`] if the id is taken.
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()>;

    /// The client with `id`.
    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>>;

    /// Compare-and-swap: replaces the client if its stored revision is
    /// `expected_revision`, appending `events` atomically.
    /// [`StorageError::NotFound`] if absent, [`StorageError::Conflict`] if the
    /// revision moved.
    async fn update_client(
        &self,
        client: &ClientRecord,
        expected_revision: u64,
        events: &[NewEvent],
    ) -> StorageResult<()>;

    /// Deletes a client and, atomically with it: deletes its grants, marks
    /// every family of it revoked with `revocation`, marks every stand-alone
    /// (`client_credentials`) access token of it revoked at
    /// `revocation.at`, and appends `events`. After it returns, no token of
    /// the client reads as live. Returns whether it existed.
    async fn delete_client(
        &self,
        id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool>;

    /// Clients owned by `owner`, ordered by id.
    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>>;

    /// Up to `limit` clients of every owner whose id sorts after `after`
    /// (from the first with `None`), ordered by id byte-wise: one page of a
    /// scan over all clients, for background work such as re-checking
    /// verified domains. Pass the last id of a page to get the next.
    async fn list_all_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<ClientRecord>>;
}

/// Login/consent challenges.
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores a new challenge.
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()>;

    /// Reads a challenge, whether or not it has expired.
    async fn get_challenge(&self, hash: &TokenHash) -> StorageResult<Option<ChallengeRecord>>;

    /// Atomically removes and returns the challenge if it exists and has not
    /// expired at `now`: of concurrent callers, at most one gets it.
    async fn take_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>>;
}

/// "The user approved": everything [`GrantStore::approve`] records as one
/// atomic step. The grant is merged, never overwritten, so concurrent
/// approvals of one (subject, client) pair all succeed and none loses the
/// consent another recorded (see [`rules::merge_approval`]).
#[derive(Clone, Debug)]
pub struct Approval {
    /// The consent challenge this approval completes, consumed in the same
    /// step; `None` when remembered consent skipped the prompt before any
    /// challenge was parked.
    pub challenge: Option<TokenHash>,
    /// The new code. Its `grant_id` is set by the store to the id of the
    /// grant the approval lands in; `issued_at` is the approval time.
    pub code: CodeRecord,
    /// Remember the approved scopes so later requests skip the prompt.
    pub remember: bool,
    /// Id for the grant if none exists yet for (subject, client). It must
    /// be fresh (never the id of an existing grant; the engine draws it at
    /// random), which is how a store that inserts it conditionally tells
    /// whether it created the grant.
    pub new_grant_id: String,
    /// Who approved, from where: recorded on the approval's events.
    pub audit: crate::audit::Audit,
}

/// What [`GrantStore::approve`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApproveOutcome {
    /// Recorded: the challenge is consumed, the grant merged, the code
    /// stored and the events appended.
    Approved {
        /// The grant the approval landed in.
        grant_id: String,
    },
    /// The challenge was already taken or has expired: nothing written.
    ChallengeGone,
    /// The client no longer exists: nothing written (no orphan grant or
    /// code), and the challenge is left as it was.
    ClientGone,
}

/// Grants: one per (subject, client).
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Atomically: if `approval.challenge` is given, takes it (it must exist
    /// and be live at `approval.code.issued_at`); checks that the client of
    /// the code still exists, and holds it so a concurrent
    /// [`ClientStore::delete_client`] is ordered before or after the whole
    /// step; merges the approval into the (subject, client) grant with
    /// [`rules::merge_approval`]; stores the code; and appends the events
    /// the merge produced. Nothing is written unless all of it is.
    /// [`StorageError::Conflict`] only if the code hash is already taken.
    async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome>;

    /// The grant of `subject` to `client_id`.
    async fn get_grant(&self, subject: &str, client_id: &str)
        -> StorageResult<Option<GrantRecord>>;

    /// The grant with `id`.
    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>>;

    /// Every grant of `subject`, ordered by client id.
    async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>>;

    /// Atomically deletes the grant, marks every family of it revoked with
    /// `revocation`, and appends `events`. Returns whether it existed.
    async fn revoke_grant(
        &self,
        grant_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool>;

    /// Atomically deletes every grant of `subject`, marks every family of it
    /// revoked, and appends `events`. Returns how many grants were deleted.
    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64>;
}

/// What [`CodeStore::record_code_failure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeFailure {
    /// Counted; the code stays usable.
    Counted(u32),
    /// The limit was reached; the code is burned.
    Burned,
    /// No unused code with that hash.
    NotFound,
}

/// Everything a successful code exchange writes.
#[derive(Clone, Debug)]
pub struct Issuance {
    /// The new family (generation 0).
    pub family: FamilyRecord,
    /// The first access token.
    pub access: AccessTokenRecord,
    /// Events to append.
    pub events: Vec<NewEvent>,
}

/// What [`CodeStore::redeem_code`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedeemOutcome {
    /// The code was unused; it is now redeemed and the tokens stored.
    Issued,
    /// The code was redeemed before, starting this family.
    AlreadyRedeemed {
        /// Family from the first redemption.
        family_id: String,
    },
    /// Unknown, expired, burned, or its grant was revoked.
    Invalid,
}

/// Authorization codes.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Reads a code by hash, whatever its status.
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>>;

    /// Atomically counts one wrong PKCE verifier against an unused code and
    /// burns it when the count reaches `max_failures`.
    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure>;

    /// Takes a code exactly once. Atomically: if the code is unused, not
    /// expired at `now` and its grant still exists, marks it redeemed by
    /// `issuance.family`, stores the family, its refresh token and the
    /// access token, touches the grant's `last_used_at`, and appends the
    /// events. Of concurrent callers at most one gets
    /// [`RedeemOutcome::Issued`].
    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        issuance: &Issuance,
    ) -> StorageResult<RedeemOutcome>;
}

/// A refresh rotation, applied by [`TokenStore::rotate_family`].
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The new live refresh token.
    pub current: RefreshGeneration,
    /// The rotated-out generation with the sealed successor.
    pub previous: PreviousGeneration,
    /// The new access token.
    pub access: AccessTokenRecord,
    /// New family expiry.
    pub expires_at: Timestamp,
    /// When the rotation happens (touches the grant's `last_used_at`).
    pub now: Timestamp,
}

/// What [`TokenStore::rotate_family`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// Applied: the generation is now `expected + 1`.
    Rotated,
    /// The generation is no longer the expected one (someone rotated first).
    Stale,
    /// The family is revoked.
    Revoked,
    /// No such family.
    NotFound,
}

/// Token families, refresh tokens and access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Finds the family a refresh token (of any generation) belongs to, and
    /// the generation it was issued as.
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>>;

    /// The family with `id`.
    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>>;

    /// Compare-and-swap rotation: if the family exists, is not revoked and is
    /// at generation `expected_generation`, atomically moves it to the next
    /// generation, indexes the new refresh token, stores the access token,
    /// and touches the grant's `last_used_at`.
    async fn rotate_family(
        &self,
        family_id: &str,
        expected_generation: u64,
        rotation: &Rotation,
    ) -> StorageResult<RotateOutcome>;

    /// Atomically marks a family revoked (if it is not already) and appends
    /// `events`. Revocation is sticky. Returns whether this call revoked it;
    /// events are appended only then.
    async fn revoke_family(
        &self,
        family_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool>;

    /// Stores a stand-alone access token (`client_credentials`).
    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StorageResult<()>;

    /// Reads an access token with its family's revocation state, as one
    /// consistent read.
    async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>>;

    /// Atomically marks one access token revoked (if it is not already) and
    /// appends `events`. Returns whether this call revoked it.
    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> StorageResult<bool>;
}

/// The event outbox.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events after `consumer`'s acknowledged cursor, in `seq`
    /// order. A consumer seen for the first time starts at the beginning.
    async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>>;

    /// Moves `consumer`'s cursor to `seq` (never backwards). Events up to it
    /// will not be delivered to this consumer again.
    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()>;
}

/// How much one [`PurgeStore::purge_expired`] call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Challenges removed.
    pub challenges: u64,
    /// Codes removed.
    pub codes: u64,
    /// Stand-alone or family access tokens removed.
    pub access_tokens: u64,
    /// Families (with their refresh-token index) removed.
    pub families: u64,
    /// Events acknowledged by every known consumer and removed.
    pub events: u64,
    /// Device authorizations (RFC 8628) removed.
    pub devices: u64,
}

impl PurgeReport {
    /// Total rows removed.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.challenges
            + self.codes
            + self.access_tokens
            + self.families
            + self.events
            + self.devices
    }
}

/// Expiry housekeeping.
#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Removes up to `limit` records of each kind that expired before `now`
    /// (families: whose `expires_at` passed; events: acknowledged by every
    /// consumer that has polled). Uses expiry indexes: the cost is
    /// proportional to what is removed, not to the table size. Call
    /// repeatedly until it reports 0 to drain.
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport>;
}

/// What [`DeviceStore::poll_device`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevicePoll {
    /// The poll kept the interval: `last_poll` is now the poll's time.
    /// The record as it is after the poll.
    Polled(DeviceRecord),
    /// The poll came sooner than `interval` after the previous one
    /// (RFC 8628 §3.5 `slow_down`): the interval was raised by
    /// [`rules::SLOW_DOWN_STEP`] and `last_poll` moved to the poll's time.
    /// The record as it is after the poll.
    SlowDown(DeviceRecord),
    /// The device code has expired; nothing was written.
    Expired,
    /// No device code with that hash for that client; nothing was written.
    NotFound,
}

/// Device authorizations (RFC 8628).
///
/// The user's approval is not written here: the consent step is the one
/// every grant shares, and [`GrantStore::approve`] stores it as a
/// [`CodeRecord`] whose hash is the device code's hash (a hash that no
/// authorization code can have, as the two kinds hash different text).
/// That record then binds the approval to the subject and the grant, and
/// [`CodeStore::redeem_code`] redeems it exactly once. What is specific to
/// devices is here: the pending request, its user code, polling and denial.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores a new device authorization. [`StorageError::Conflict`] if
    /// its device-code hash or its user-code hash is taken (user codes are
    /// short, so a collision with a live one can happen), writing nothing.
    async fn insert_device(&self, device: &DeviceRecord) -> StorageResult<()>;

    /// The device authorization whose user code hashes to `user_code`,
    /// whatever its state or expiry.
    async fn find_device_by_user_code(
        &self,
        user_code: &TokenHash,
    ) -> StorageResult<Option<DeviceRecord>>;

    /// One poll of the token endpoint, atomically: if the device code
    /// exists for `client_id` and has not expired at `now`, decides
    /// between [`DevicePoll::Polled`] and [`DevicePoll::SlowDown`] with
    /// [`rules::poll_device`] and records the poll. Of concurrent polls
    /// within one interval, exactly one is `Polled`; each other one raises
    /// the interval once.
    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> StorageResult<DevicePoll>;

    /// Atomically marks a pending device authorization denied; returns
    /// whether this call did.
    async fn deny_device(&self, hash: &TokenHash) -> StorageResult<bool>;
}

/// Browser sessions ([`crate::web`]) kept in the engine's own storage, so
/// that every instance on one database sees the same sessions and a load
/// balancer needs no sticky routing. [`crate::web::StorageSessionStore`]
/// turns any implementation into a [`crate::web::SessionStore`].
///
/// Records are keyed by [`SessionKey`], a hash of the cookie: the stored
/// rows hold no usable session id. Timeouts are not checked here
/// ([`crate::web::Sessions`] owns them); each method is one atomic
/// operation.
#[async_trait]
pub trait BrowserSessionStore: Send + Sync {
    /// Stores a new session. [`StorageError::Conflict`] if its key is taken
    /// (keys are 256-bit random: a collision means a bug), writing nothing.
    async fn insert_browser_session(&self, record: &SessionRecord) -> StorageResult<()>;

    /// The session under `key`, expired or not.
    async fn get_browser_session(&self, key: &SessionKey) -> StorageResult<Option<SessionRecord>>;

    /// Moves the session's `last_seen` forward to `now` (never backwards:
    /// instances with slightly different clocks may touch it in any
    /// order). Touching a missing session does nothing.
    async fn touch_browser_session(&self, key: &SessionKey, now: Timestamp) -> StorageResult<()>;

    /// Sign-in: atomically removes `old` (if it still exists) and stores
    /// `new`, so no reader ever sees both or neither.
    /// [`StorageError::Conflict`] if `new`'s key is taken, writing nothing.
    async fn replace_browser_session(
        &self,
        old: &SessionKey,
        new: &SessionRecord,
    ) -> StorageResult<()>;

    /// Removes the session; returns whether it existed.
    async fn remove_browser_session(&self, key: &SessionKey) -> StorageResult<bool>;

    /// Sets the session's one-time message (replacing any); returns
    /// whether the session exists.
    async fn set_browser_session_flash(
        &self,
        key: &SessionKey,
        message: &str,
    ) -> StorageResult<bool>;

    /// Atomically reads and clears the session's one-time message: of
    /// concurrent callers, at most one gets it.
    async fn take_browser_session_flash(&self, key: &SessionKey) -> StorageResult<Option<String>>;

    /// Removes up to `limit` sessions last seen before `idle_before` or
    /// created before `created_before`; returns how many went. Uses expiry
    /// indexes (on `last_seen` and on `created_at`), so the cost follows
    /// what is removed, not the table size. Call until it returns less
    /// than `limit` to drain.
    async fn purge_browser_sessions(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
        limit: usize,
    ) -> StorageResult<u64>;
}

/// Access-token signing keys (RFC 9068, [`crate::jwt`]), shared by every
/// instance on one database.
///
/// Invariant every method keeps: at most one key is
/// [`Active`](crate::jwt::SigningKeyState::Active) and at most one is
/// [`Pending`](crate::jwt::SigningKeyState::Pending) (backends hold it
/// with a unique index on [`crate::jwt::SigningKeyState::slot`]), so instances racing to make or promote a
/// key end up with one. States only move forward.
///
/// The methods have defaults that fail with [`StorageError::Backend`], so
/// a store written before JWTs existed still compiles; such a store serves
/// opaque tokens only.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Stores a new key in one atomic step. [`StorageError::Conflict`],
    /// writing nothing, if its `kid` is taken or its state's slot
    /// (pending or active) is already held.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        let _ = key;
        Err(no_signing_keys())
    }

    /// Every key, retired ones included, oldest first.
    async fn list_signing_keys(&self) -> StorageResult<Vec<SigningKeyRecord>> {
        Err(no_signing_keys())
    }

    /// Promotion, as one atomic step: if `next` is pending and `previous`
    /// is the active key (or, when `previous` is `None`, no key is
    /// active), marks `previous` retiring and `next` active, both since
    /// `now`. Returns whether this call did; otherwise nothing changes.
    async fn promote_signing_key(
        &self,
        next: &str,
        previous: Option<&str>,
        now: Timestamp,
    ) -> StorageResult<bool> {
        let _ = (next, previous, now);
        Err(no_signing_keys())
    }

    /// Atomically marks a retiring key retired since `now` and erases its
    /// sealed private key. Returns whether this call did.
    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StorageResult<bool> {
        let _ = (kid, now);
        Err(no_signing_keys())
    }
}

fn no_signing_keys() -> StorageError {
    StorageError::Backend("this store does not implement SigningKeyStore".into())
}

/// Every capability together; implemented for anything that has them all.
///
/// Browser sessions are part of it so that any storage an
/// [`crate::Engine`] runs on can also share its sessions between
/// instances: a host never needs a second database for them.
pub trait Storage:
    ClientStore
    + ChallengeStore
    + GrantStore
    + CodeStore
    + TokenStore
    + EventStore
    + PurgeStore
    + BrowserSessionStore
    + DeviceStore
    + SigningKeyStore
{
}

impl<T> Storage for T where
    T: ClientStore
        + ChallengeStore
        + GrantStore
        + CodeStore
        + TokenStore
        + EventStore
        + PurgeStore
        + BrowserSessionStore
        + DeviceStore
        + SigningKeyStore
{
}
