//! Browser sessions: the rules every store gets.

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::entropy::{Entropy, SystemEntropy};
use crate::http::{HttpRequest, HttpResponse, Params};
use crate::token::{Keyring, TokenHash};
use crate::web::cookie::{clear_cookie, joined_cookie_header, set_cookie, single_cookie};
use crate::web::csrf::CsrfToken;
use crate::web::memory::MemorySessionStore;
use crate::web::next::after_sign_in;
use crate::web::page::{redirect, with_cookie};
use crate::web::store::{SessionError, SessionKey, SessionRecord, SessionStore};

/// Cookie name over plain HTTP (local development).
pub const COOKIE_NAME: &str = "latchkey_session";
/// Cookie name over HTTPS. The `__Host-` prefix makes browsers refuse the
/// cookie unless it is `Secure`, `Path=/` and has no `Domain`, so a sibling
/// subdomain cannot plant one (RFC 6265bis §4.1.3.2).
pub const SECURE_COOKIE_NAME: &str = "__Host-latchkey_session";
/// Default idle timeout: 12 hours.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 12 * 3600;
/// Default absolute lifetime of one session id: 7 days, however active.
pub const DEFAULT_ABSOLUTE_LIFETIME: u64 = 7 * 86_400;
/// A session's last use is written back at most this often (seconds), so a
/// shared store is not written on every page view.
pub const TOUCH_INTERVAL: u64 = 60;

/// Cookie and lifetime settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Name of the session cookie.
    pub cookie_name: String,
    /// Adds `Secure` to the cookie.
    pub secure: bool,
    /// Seconds without use after which a session is gone.
    pub idle_timeout: u64,
    /// Seconds after its creation after which a session is gone, however
    /// active (OWASP ASVS V3.3.4).
    pub absolute_lifetime: u64,
}

impl SessionConfig {
    /// Settings for a server whose issuer is `issuer`: `Secure` and the
    /// `__Host-` cookie name when it is `https`, default lifetimes.
    #[must_use]
    pub fn for_issuer(issuer: &str) -> Self {
        let secure = issuer.starts_with("https://");
        SessionConfig {
            cookie_name: if secure {
                SECURE_COOKIE_NAME
            } else {
                COOKIE_NAME
            }
            .into(),
            secure,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
        }
    }
}

/// One browser's session, as a request handler sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    id: String,
    key: SessionKey,
    /// The signed-in user (the host's identifier), `None` while anonymous.
    pub user: Option<String>,
    /// Token every form of this session must echo.
    pub csrf: CsrfToken,
    /// What the engine binds consent challenges to (the `binding` argument
    /// of [`crate::Engine::authorize`], `resume`, `accept`, `reject`).
    pub binding: String,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    #[must_use]
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        self.csrf.verify(presented)
    }

    /// Whether the state-changing form `form`, posted in `req`, is one of
    /// this session's own pages: its `csrf` field is the session's token
    /// and it came from `issuer`'s origin ([`crate::web::same_origin`]).
    /// Every form post checks both, before looking at anything else.
    #[must_use]
    pub fn posted_here(&self, req: &HttpRequest, form: &Params, issuer: &str) -> bool {
        self.csrf_ok(form.single("csrf").ok().flatten()) && crate::web::same_origin(req, issuer)
    }

    /// The CSRF token of the consent form that decides `challenge`: bound
    /// to it ([`CsrfToken::bound_to`]), so a token lifted from one consent
    /// form cannot decide another. A host's own consent page
    /// ([`crate::web::flow::Pages::consent`]) puts this in its `csrf` field.
    #[must_use]
    pub fn consent_csrf(&self, challenge: &str) -> String {
        self.csrf.bound_to(&format!("consent\0{challenge}"))
    }

    /// Whether the consent decision `form`, posted in `req`, comes from
    /// this session's own consent page for the challenge it names: its
    /// `csrf` field is [`Session::consent_csrf`] of its `challenge`, and it
    /// came from `issuer`'s origin.
    #[must_use]
    pub fn decision_posted_here(&self, req: &HttpRequest, form: &Params, issuer: &str) -> bool {
        let field = |n| form.single(n).ok().flatten();
        let Some(challenge) = field("challenge") else {
            return false;
        };
        self.csrf
            .verify_bound(field("csrf"), &format!("consent\0{challenge}"))
            && crate::web::same_origin(req, issuer)
    }

    /// The store key of this session.
    #[must_use]
    pub fn key(&self) -> &SessionKey {
        &self.key
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("key", &self.key)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Browser sessions over a [`SessionStore`]: cookies, CSRF tokens, the
/// user-agent binding, id rotation at sign-in, idle and absolute timeouts.
///
/// The binding is what lets a consent challenge be completed only by the
/// browser that started it: it is set on the first visit, carried across
/// sign-in (a challenge started before sign-in still matches after it),
/// and never handed from one user to another (a challenge the previous
/// user of a shared browser started does not follow the next user in).
///
/// An anonymous session is a *pre-session*: its binding and issue time in
/// the cookie, signed with the server's keys (HMAC-SHA256), and nothing
/// stored. Only signing in stores a session, so requests without a cookie
/// (a flood of `GET /login`, `GET /authorize`) cost no storage and cannot
/// push anyone's pending sign-in out of a bounded store.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    config: SessionConfig,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    keys: OnceLock<Arc<Keyring>>,
}

/// How a pre-session cookie starts (a stored session's id is base64url,
/// which has no `.`).
const PRE: &str = "p1.";

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions in `store` with `config`, the system clock and CSPRNG.
    #[must_use]
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Sessions {
            store,
            config,
            clock: Arc::new(SystemClock),
            entropy: Arc::new(SystemEntropy::new()),
            keys: OnceLock::new(),
        }
    }

    /// Signs pre-sessions with `keys` (the engine's, [`crate::Engine::keyring`]),
    /// so every instance that shares them accepts the others' pre-sessions.
    /// Without it each `Sessions` makes a random key of its own: a sign-in
    /// started on one instance and finished on another then starts over.
    #[must_use]
    pub fn with_keys(self, keys: Arc<Keyring>) -> Self {
        let _ = self.keys.set(keys);
        self
    }

    fn keys(&self) -> Result<&Keyring, SessionError> {
        if let Some(k) = self.keys.get() {
            return Ok(k);
        }
        let k = Keyring::generate(self.entropy.as_ref()).map_err(|_| SessionError::Randomness)?;
        // Two first requests may race: whichever key is set first is used.
        let _ = self.keys.set(Arc::new(k));
        self.keys
            .get()
            .map(AsRef::as_ref)
            .ok_or(SessionError::Randomness)
    }

    /// The anonymous session with `binding`, issued at `issued`.
    fn pre_session(&self, binding: String, issued: Timestamp) -> Result<Session, SessionError> {
        let keys = self.keys()?;
        let signed = format!("{binding}.{}", issued.0);
        let mac = keys.digest(&format!("latchkey pre-session v1\0{signed}"));
        let id = format!("{PRE}{signed}.{}", mac.to_hex());
        let csrf = keys.digest(&format!("latchkey pre-session csrf v1\0{binding}"));
        Ok(Session {
            key: key_for(&id),
            id,
            user: None,
            csrf: CsrfToken::new(URL_SAFE_NO_PAD.encode(csrf.0)),
            binding,
        })
    }

    /// The pre-session cookie `id` names, if its signature holds under one
    /// of the keys and it is not older than the idle timeout.
    fn read_pre_session(&self, id: &str, now: Timestamp) -> Result<Option<Session>, SessionError> {
        let Some(rest) = id.strip_prefix(PRE) else {
            return Ok(None);
        };
        let mut parts = rest.split('.');
        let (Some(binding), Some(issued), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let (Ok(issued), Some(mac)) = (issued.parse::<u64>(), hex32(mac)) else {
            return Ok(None);
        };
        let signed = format!("{binding}.{issued}");
        let keys = self.keys()?;
        if !keys.matches(
            &format!("latchkey pre-session v1\0{signed}"),
            &TokenHash(mac),
        ) {
            return Ok(None);
        }
        let issued = Timestamp(issued);
        // A clock step back of a minute is tolerated; a cookie from the
        // future beyond that was not ours.
        if issued.until(now) > self.config.idle_timeout || now.until(issued) > 60 {
            return Ok(None);
        }
        let s = self.pre_session(binding.to_owned(), issued)?;
        Ok(Some(Session {
            id: id.to_owned(),
            key: key_for(id),
            ..s
        }))
    }

    /// Sessions in a default [`MemorySessionStore`].
    #[must_use]
    pub fn in_memory(config: SessionConfig) -> Self {
        Self::new(Arc::new(MemorySessionStore::default()), config)
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the randomness source.
    #[must_use]
    pub fn with_entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    fn random(&self) -> Result<String, SessionError> {
        let mut b = [0u8; 32];
        self.entropy
            .fill(&mut b)
            .map_err(|_| SessionError::Randomness)?;
        Ok(URL_SAFE_NO_PAD.encode(b))
    }

    fn expired(&self, r: &SessionRecord, now: Timestamp) -> bool {
        r.last_seen.until(now) > self.config.idle_timeout
            || r.created_at.until(now) > self.config.absolute_lifetime
    }

    /// The session named by `req`'s cookies, if it is known and fresh.
    ///
    /// # Errors
    /// Store failures.
    pub async fn load(&self, req: &HttpRequest) -> Result<Option<Session>, SessionError> {
        self.load_from_header(joined_cookie_header(req).as_deref())
            .await
    }

    /// [`Sessions::load`] from a `Cookie` header value (several headers
    /// joined with `"; "`).
    ///
    /// # Errors
    /// Store failures.
    pub async fn load_from_header(
        &self,
        cookie_header: Option<&str>,
    ) -> Result<Option<Session>, SessionError> {
        let Some(id) = cookie_header.and_then(|h| single_cookie(h, &self.config.cookie_name))
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        if id.starts_with(PRE) {
            return self.read_pre_session(id, now);
        }
        let key = key_for(id);
        let Some(r) = self.store.get(&key).await? else {
            return Ok(None);
        };
        if self.expired(&r, now) {
            self.store.remove(&key).await?;
            return Ok(None);
        }
        if r.last_seen.until(now) >= TOUCH_INTERVAL {
            self.store.touch(&key, now).await?;
        }
        Ok(Some(Session {
            id: id.to_owned(),
            key,
            user: r.user,
            csrf: r.csrf,
            binding: r.binding,
        }))
    }

    /// The current session, or a new anonymous one with the `Set-Cookie`
    /// value that installs it.
    ///
    /// # Errors
    /// Store or CSPRNG failures.
    pub async fn load_or_create(
        &self,
        req: &HttpRequest,
    ) -> Result<(Session, Option<String>), SessionError> {
        self.load_or_create_from_header(joined_cookie_header(req).as_deref())
            .await
    }

    /// [`Sessions::load_or_create`] from a `Cookie` header value.
    ///
    /// # Errors
    /// Store or CSPRNG failures.
    pub async fn load_or_create_from_header(
        &self,
        cookie_header: Option<&str>,
    ) -> Result<(Session, Option<String>), SessionError> {
        if let Some(s) = self.load_from_header(cookie_header).await? {
            return Ok((s, None));
        }
        let s = self.pre_session(self.random()?, self.clock.now())?;
        let cookie = set_cookie(&self.config.cookie_name, &s.id, self.config.secure);
        Ok((s, Some(cookie)))
    }

    fn fresh(
        &self,
        user: Option<String>,
        binding: String,
    ) -> Result<(Session, String), SessionError> {
        let id = self.random()?;
        let cookie = set_cookie(&self.config.cookie_name, &id, self.config.secure);
        let s = Session {
            key: key_for(&id),
            id,
            user,
            csrf: CsrfToken::new(self.random()?),
            binding,
        };
        Ok((s, cookie))
    }

    fn record(&self, s: &Session) -> SessionRecord {
        let now = self.clock.now();
        SessionRecord {
            key: s.key.clone(),
            user: s.user.clone(),
            csrf: s.csrf.clone(),
            binding: s.binding.clone(),
            flash: None,
            created_at: now,
            last_seen: now,
        }
    }

    /// Signs `user` in on the browser holding `old`: the old id dies and a
    /// new one (with a new CSRF token) is issued, so an id planted before
    /// sign-in is worthless after it (session fixation). The binding is
    /// kept when `old` was anonymous or already `user`'s, so a pending
    /// consent challenge still matches; signing in as someone else gets a
    /// fresh one. Returns the new session and its `Set-Cookie` value.
    ///
    /// # Errors
    /// Store or CSPRNG failures.
    pub async fn sign_in(
        &self,
        old: &Session,
        user: &str,
    ) -> Result<(Session, String), SessionError> {
        let binding = match old.user.as_deref() {
            None => old.binding.clone(),
            Some(u) if u == user => old.binding.clone(),
            Some(_) => self.random()?,
        };
        let (s, cookie) = self.fresh(Some(user.to_owned()), binding)?;
        self.store.replace(&old.key, self.record(&s)).await?;
        Ok((s, cookie))
    }

    /// [`Sessions::sign_in`], then the response a host's sign-in handler
    /// sends: a `303` to `next` when it is a same-origin path
    /// ([`crate::web::safe_next`]), else to `fallback`, installing the new
    /// cookie. With this the open-redirect guard cannot be forgotten.
    ///
    /// # Errors
    /// Store or CSPRNG failures.
    pub async fn complete_sign_in(
        &self,
        old: &Session,
        user: &str,
        next: Option<&str>,
        fallback: &str,
    ) -> Result<HttpResponse, SessionError> {
        let (_, cookie) = self.sign_in(old, user).await?;
        let to = after_sign_in(next, fallback);
        Ok(with_cookie(redirect(to), Some(cookie)))
    }

    /// Ends a session; returns the `Set-Cookie` value that clears it.
    ///
    /// # Errors
    /// Store failures.
    pub async fn sign_out(&self, s: &Session) -> Result<String, SessionError> {
        self.store.remove(&s.key).await?;
        Ok(clear_cookie(&self.config.cookie_name, self.config.secure))
    }

    /// Stores a one-time message shown on the next page of this session.
    /// Only a signed-in session is stored, so an anonymous one's message
    /// is dropped.
    ///
    /// # Errors
    /// Store failures.
    pub async fn set_flash(
        &self,
        s: &Session,
        message: impl Into<String> + Send,
    ) -> Result<(), SessionError> {
        self.store.set_flash(&s.key, message.into()).await
    }

    /// Takes the one-time message, if any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn take_flash(&self, s: &Session) -> Result<Option<String>, SessionError> {
        self.store.take_flash(&s.key).await
    }

    /// Removes every expired session from the store; returns how many.
    ///
    /// # Errors
    /// Store failures.
    pub async fn purge_expired(&self) -> Result<usize, SessionError> {
        let now = self.clock.now();
        let idle = Timestamp(now.0.saturating_sub(self.config.idle_timeout));
        let created = Timestamp(now.0.saturating_sub(self.config.absolute_lifetime));
        self.store.purge_expired(idle, created).await
    }

    /// The `Cookie` header a browser holding `s` sends (tests, in-process
    /// callers).
    #[must_use]
    pub fn cookie_header(&self, s: &Session) -> String {
        format!("{}={}", self.config.cookie_name, s.id)
    }
}

/// 64 hex digits as 32 bytes.
fn hex32(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The store key of session cookie `id`.
fn key_for(id: &str) -> SessionKey {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"latchkey session key v1\0");
    ctx.update(id.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(ctx.finish().as_ref());
    SessionKey(k)
}
