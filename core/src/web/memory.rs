//! The bounded in-memory session store.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::web::store::{SessionError, SessionKey, SessionRecord, SessionStore};

/// Default bound on anonymous sessions.
pub const DEFAULT_MAX_ANONYMOUS: usize = 10_000;
/// Default bound on signed-in sessions.
pub const DEFAULT_MAX_SIGNED_IN: usize = 10_000;

/// Sessions in this process's memory, lost on restart and not shared
/// between instances (use sticky routing, or
/// [`StorageSessionStore`](crate::web::StorageSessionStore)).
///
/// Both kinds are bounded, so memory is too:
/// - anonymous sessions: anyone can create one (every first visit does),
///   so past the bound the oldest goes, in O(1), and never a signed-in one;
/// - signed-in sessions: only valid credentials create them; past the bound
///   the least recently used goes (O(log n)).
pub struct MemorySessionStore {
    max_anonymous: usize,
    max_signed_in: usize,
    inner: Mutex<Inner>,
}

struct Entry {
    record: SessionRecord,
    /// Position in `Inner::lru` (signed-in sessions only).
    lru: Option<(Timestamp, u64)>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<SessionKey, Entry>,
    /// Anonymous keys in creation order. Keys that signed in, out or
    /// expired stay until popped; popping them removes nothing, and the
    /// queue never grows past the bound.
    anonymous: VecDeque<SessionKey>,
    /// Signed-in keys by (last use, tie-breaker): the first is the LRU.
    lru: BTreeMap<(Timestamp, u64), SessionKey>,
    tick: u64,
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ANONYMOUS, DEFAULT_MAX_SIGNED_IN)
    }
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("max_anonymous", &self.max_anonymous)
            .field("max_signed_in", &self.max_signed_in)
            .finish_non_exhaustive()
    }
}

impl MemorySessionStore {
    /// A store keeping at most `max_anonymous` anonymous and
    /// `max_signed_in` signed-in sessions (each at least 1).
    #[must_use]
    pub fn new(max_anonymous: usize, max_signed_in: usize) -> Self {
        MemorySessionStore {
            max_anonymous: max_anonymous.max(1),
            max_signed_in: max_signed_in.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many sessions are held (anonymous and signed in).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no session is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the map usable:
        // every entry is valid on its own.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn remove(&mut self, key: &SessionKey) {
        if let Some(e) = self.map.remove(key) {
            if let Some(pos) = e.lru {
                self.lru.remove(&pos);
            }
        }
    }

    fn add(&mut self, record: SessionRecord, max_anonymous: usize, max_signed_in: usize) {
        let key = record.key.clone();
        self.remove(&key);
        let lru = if record.user.is_some() {
            while self.lru.len() >= max_signed_in {
                let Some((_, k)) = self.lru.pop_first() else {
                    break;
                };
                self.map.remove(&k);
            }
            self.tick += 1;
            let pos = (record.last_seen, self.tick);
            self.lru.insert(pos, key.clone());
            Some(pos)
        } else {
            self.anonymous.push_back(key.clone());
            while self.anonymous.len() > max_anonymous {
                let Some(k) = self.anonymous.pop_front() else {
                    break;
                };
                if self.map.get(&k).is_some_and(|e| e.lru.is_none()) {
                    self.map.remove(&k);
                }
            }
            None
        };
        self.map.insert(key, Entry { record, lru });
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self.lock().map.get(key).map(|e| e.record.clone()))
    }

    async fn insert(&self, record: SessionRecord) -> Result<(), SessionError> {
        self.lock()
            .add(record, self.max_anonymous, self.max_signed_in);
        Ok(())
    }

    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<(), SessionError> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Inner { map, lru, .. } = &mut *inner;
        if let Some(e) = map.get_mut(key) {
            e.record.last_seen = now;
            if let Some(old) = e.lru.take() {
                lru.remove(&old);
                let pos = (now, tick);
                lru.insert(pos, key.clone());
                e.lru = Some(pos);
            }
        }
        Ok(())
    }

    async fn replace(&self, old: &SessionKey, new: SessionRecord) -> Result<(), SessionError> {
        let mut inner = self.lock();
        inner.remove(old);
        inner.add(new, self.max_anonymous, self.max_signed_in);
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> Result<(), SessionError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn set_flash(&self, key: &SessionKey, message: String) -> Result<(), SessionError> {
        if let Some(e) = self.lock().map.get_mut(key) {
            e.record.flash = Some(message);
        }
        Ok(())
    }

    async fn take_flash(&self, key: &SessionKey) -> Result<Option<String>, SessionError> {
        Ok(self
            .lock()
            .map
            .get_mut(key)
            .and_then(|e| e.record.flash.take()))
    }

    async fn purge_expired(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
    ) -> Result<usize, SessionError> {
        let mut inner = self.lock();
        let dead: Vec<SessionKey> = inner
            .map
            .iter()
            .filter(|(_, e)| {
                e.record.last_seen < idle_before || e.record.created_at < created_before
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead {
            inner.remove(k);
        }
        Ok(dead.len())
    }
}
