// candidate for core: nothing here knows about axum; an actix example needs
// exactly the same cookie, CSRF and binding rules.
//! Browser sessions, CSRF tokens and the user-agent binding.
//!
//! A session is a random 256-bit id in an `HttpOnly; SameSite=Lax` cookie,
//! mapped in memory to who is signed in. Each session carries:
//! - a CSRF token, sent as a hidden field with every form and compared in
//!   constant time;
//! - a *binding*, the value handed to the engine so a consent challenge can
//!   only be completed by the browser that started it. It is derived from
//!   the first cookie the browser got and survives the id rotation at login,
//!   so a challenge started before login still matches after it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use latchkey::entropy::{Entropy, SystemEntropy};
use ring::digest;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "latchkey_session";
/// Sessions idle longer than this are forgotten.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Most anonymous sessions kept at once. Anyone can create them (every
/// first visit does), so they are bounded and evicted oldest first, in
/// constant time, and never at the expense of a signed-in session.
pub const MAX_ANONYMOUS: usize = 10_000;
/// Most signed-in sessions kept at once. Only valid credentials create
/// them; past the bound the least recently used one goes.
pub const MAX_SIGNED_IN: usize = 10_000;

/// A snapshot of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The cookie value.
    pub id: String,
    /// Signed-in user, if any.
    pub user: Option<String>,
    /// Token every form of this session must echo.
    pub csrf: String,
    /// What the engine binds consent challenges to.
    pub binding: String,
}

struct Entry {
    user: Option<String>,
    csrf: String,
    binding: String,
    flash: Option<String>,
    last_seen: Instant,
}

#[derive(Default)]
struct Store {
    map: HashMap<String, Entry>,
    /// Anonymous session ids in creation order. Ids that signed in, out or
    /// expired stay until popped; popping them removes nothing.
    anonymous: VecDeque<String>,
    signed_in: usize,
}

/// The in-memory session map.
pub struct Sessions {
    map: Mutex<Store>,
    entropy: SystemEntropy,
    secure: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Why a session operation failed: the CSPRNG. Never retry-able in-request.
#[derive(Debug)]
pub struct RandomnessFailed;

impl Sessions {
    /// An empty map. `secure` adds the `Secure` attribute (HTTPS issuers).
    #[must_use]
    pub fn new(secure: bool) -> Self {
        Sessions {
            map: Mutex::new(Store::default()),
            entropy: SystemEntropy::new(),
            secure,
        }
    }

    fn random(&self) -> Result<String, RandomnessFailed> {
        let mut b = [0u8; 32];
        self.entropy.fill(&mut b).map_err(|_| RandomnessFailed)?;
        Ok(URL_SAFE_NO_PAD.encode(b))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves the map usable:
        // every entry is valid on its own.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session named by the `Cookie` header, if it is known and fresh.
    #[must_use]
    pub fn load(&self, cookie_header: Option<&str>) -> Option<Session> {
        let id = cookie_value(cookie_header?, COOKIE_NAME)?;
        let mut store = self.lock();
        let e = store.map.get_mut(id)?;
        if e.last_seen.elapsed() > IDLE_TIMEOUT {
            store.remove(id);
            return None;
        }
        e.last_seen = Instant::now();
        Some(Session {
            id: id.to_owned(),
            user: e.user.clone(),
            csrf: e.csrf.clone(),
            binding: e.binding.clone(),
        })
    }

    /// The current session, or a new anonymous one with the `Set-Cookie`
    /// value that installs it.
    ///
    /// # Errors
    /// When the CSPRNG fails.
    pub fn load_or_create(
        &self,
        cookie_header: Option<&str>,
    ) -> Result<(Session, Option<String>), RandomnessFailed> {
        if let Some(s) = self.load(cookie_header) {
            return Ok((s, None));
        }
        let id = self.random()?;
        let s = Session {
            binding: binding_for(&id),
            csrf: self.random()?,
            user: None,
            id,
        };
        self.insert(&s, None);
        let cookie = self.set_cookie(&s.id);
        Ok((s, Some(cookie)))
    }

    fn insert(&self, s: &Session, flash: Option<String>) {
        let mut store = self.lock();
        if s.user.is_some() {
            if store.signed_in >= MAX_SIGNED_IN {
                // Runs only at sign-in, which needs valid credentials.
                let oldest = store
                    .map
                    .iter()
                    .filter(|(_, e)| e.user.is_some())
                    .min_by_key(|(_, e)| e.last_seen)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    store.remove(&k);
                }
            }
            store.signed_in += 1;
        } else {
            store.anonymous.push_back(s.id.clone());
            while store.anonymous.len() > MAX_ANONYMOUS {
                let Some(k) = store.anonymous.pop_front() else {
                    break;
                };
                if store.map.get(&k).is_some_and(|e| e.user.is_none()) {
                    store.remove(&k);
                }
            }
        }
        store.map.insert(
            s.id.clone(),
            Entry {
                user: s.user.clone(),
                csrf: s.csrf.clone(),
                binding: s.binding.clone(),
                flash,
                last_seen: Instant::now(),
            },
        );
    }

    /// Signs `user` in: the old id is dropped and a new one issued (so a
    /// session id planted before login is worthless after it), keeping an
    /// anonymous session's binding so pending consent challenges still
    /// match. Returns the new
    /// session and its `Set-Cookie` value.
    ///
    /// # Errors
    /// When the CSPRNG fails.
    pub fn login(&self, old: &Session, user: &str) -> Result<(Session, String), RandomnessFailed> {
        let id = self.random()?;
        let fresh_binding_seed = id.clone();
        let s = Session {
            id,
            user: Some(user.to_owned()),
            csrf: self.random()?,
            // Carried over only from an anonymous session: a challenge a
            // previous user started must not follow a different user in.
            binding: if old.user.is_none() {
                old.binding.clone()
            } else {
                binding_for(&fresh_binding_seed)
            },
        };
        self.lock().remove(&old.id);
        self.insert(&s, None);
        let cookie = self.set_cookie(&s.id);
        Ok((s, cookie))
    }

    /// Ends a session; returns the `Set-Cookie` value that clears it.
    #[must_use]
    pub fn logout(&self, s: &Session) -> String {
        self.lock().remove(&s.id);
        format!("{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }

    /// Stores a one-time message shown on the next page of this session.
    pub fn set_flash(&self, s: &Session, message: impl Into<String>) {
        if let Some(e) = self.lock().map.get_mut(&s.id) {
            e.flash = Some(message.into());
        }
    }

    /// Takes the one-time message, if any.
    #[must_use]
    pub fn take_flash(&self, s: &Session) -> Option<String> {
        self.lock().map.get_mut(&s.id).and_then(|e| e.flash.take())
    }

    fn set_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Lax{secure}")
    }
}

impl Store {
    fn remove(&mut self, id: &str) {
        if let Some(e) = self.map.remove(id) {
            if e.user.is_some() {
                self.signed_in -= 1;
            }
        }
    }
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    #[must_use]
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| ct_eq(p.as_bytes(), self.csrf.as_bytes()))
    }
}

/// The engine binding for a session first created with cookie `id`: a hash,
/// so the cookie itself never reaches storage.
fn binding_for(id: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"latchkey-example ua binding v1\0");
    ctx.update(id.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.finish().as_ref())
}

/// Constant-time equality of two byte strings (length is not secret).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
#[must_use]
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cookie: &str) -> String {
        format!("other=1; {}", cookie.split(';').next().unwrap())
    }

    #[test]
    fn login_rotates_id_but_keeps_binding() {
        let s = Sessions::new(false);
        let (anon, set) = s.load_or_create(None).unwrap();
        let set = set.unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert_eq!(s.load(Some(&header(&set))).unwrap(), anon);
        let (user, set2) = s.login(&anon, "alice").unwrap();
        assert_ne!(user.id, anon.id);
        assert_ne!(user.csrf, anon.csrf);
        assert_eq!(user.binding, anon.binding);
        assert!(s.load(Some(&header(&set))).is_none(), "old id is dead");
        assert_eq!(
            s.load(Some(&header(&set2))).unwrap().user.as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn csrf_and_flash() {
        let s = Sessions::new(true);
        let (sess, set) = s.load_or_create(None).unwrap();
        assert!(set.unwrap().ends_with("; Secure"));
        assert!(sess.csrf_ok(Some(&sess.csrf.clone())));
        assert!(!sess.csrf_ok(Some("nope")));
        assert!(!sess.csrf_ok(None));
        s.set_flash(&sess, "hi");
        assert_eq!(s.take_flash(&sess).as_deref(), Some("hi"));
        assert_eq!(s.take_flash(&sess), None);
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(cookie_value("a=1; b=2", "b"), Some("2"));
        assert_eq!(cookie_value("ab=1", "a"), None);
    }

    #[test]
    fn an_anonymous_flood_never_signs_anyone_out() {
        let s = Sessions::new(false);
        let (anon, _) = s.load_or_create(None).unwrap();
        let (user, set) = s.login(&anon, "alice").unwrap();
        for _ in 0..MAX_ANONYMOUS + 50 {
            s.load_or_create(None).unwrap();
        }
        assert_eq!(s.load(Some(&header(&set))).unwrap(), user);
        assert!(s.lock().map.len() <= MAX_ANONYMOUS + 1);
    }

    #[test]
    fn a_new_user_does_not_inherit_the_previous_users_binding() {
        let s = Sessions::new(false);
        let (anon, _) = s.load_or_create(None).unwrap();
        let (alice, _) = s.login(&anon, "alice").unwrap();
        assert_eq!(
            alice.binding, anon.binding,
            "anonymous → signed in keeps it"
        );
        let (bob, _) = s.login(&alice, "bob").unwrap();
        assert_ne!(bob.binding, alice.binding);
    }
}
