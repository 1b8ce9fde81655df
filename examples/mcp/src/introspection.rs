//! Token checks through the authorization server's introspection endpoint
//! (RFC 7662), for a resource server in another process: it cannot look
//! tokens up in Latchkey's storage, so it asks, authenticating as a
//! confidential client that serves this resource.
//!
//! Answers are cached briefly (RFC 7662 §4 allows it, trading freshness for
//! load): active ones until the cache lifetime or the token's `exp`,
//! whichever comes first, inactive ones for the cache lifetime, so a client
//! retrying a dead token does not hammer the authorization server. The
//! cache is keyed by a SHA-256 of the token, so it never holds a token in
//! the clear, and bounded in size. The price is stated in the README: a
//! revoked token can pass here for up to the cache lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::OnceCell;

/// Most answers kept at once.
pub const MAX_CACHED: usize = 10_000;

/// What an active access token is, as far as this server cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user (or client) the token speaks for.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl Caller {
    /// Whether the token carries `scope`.
    #[must_use]
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was not accepted, or could not be checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired, revoked, not an access token, or not for this
    /// resource: 401 `invalid_token`.
    Invalid,
    /// The authorization server could not be asked: 503. The message is
    /// for the log (it never contains the token).
    Unavailable(String),
}

/// `aud` is a string or an array of strings (RFC 7662 §2.2, after RFC 7519
/// §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The members of an introspection response this server reads.
#[derive(Deserialize)]
struct Response {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    token_type: Option<String>,
}

/// The decision on one introspection answer for `resource`, and until when
/// it may be reused (seconds since the epoch of the token's expiry).
fn judge(r: Response, resource: &str) -> (Option<Caller>, Option<u64>) {
    if !r.active {
        return (None, None);
    }
    // Refresh tokens are introspectable too but are never bearer
    // credentials for a resource (RFC 6749 §1.5).
    if !r
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return (None, None);
    }
    // RFC 8707 / RFC 9068 §4: a token meant for another resource is not
    // one for this server, however valid it is elsewhere.
    let for_us = match &r.aud {
        Some(Audience::One(a)) => a == resource,
        Some(Audience::Many(a)) => a.iter().any(|a| a == resource),
        None => false,
    };
    let (Some(sub), Some(client_id), true) = (r.sub, r.client_id, for_us) else {
        return (None, None);
    };
    let scopes = r
        .scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (
        Some(Caller {
            sub,
            client_id,
            scopes,
        }),
        r.exp,
    )
}

type Key = [u8; 32];

/// A bounded map from token hash to answer and expiry.
#[derive(Default)]
struct Cache {
    entries: HashMap<Key, (Instant, Option<Caller>)>,
}

impl Cache {
    fn get(&mut self, key: &Key, now: Instant) -> Option<Option<Caller>> {
        match self.entries.get(key) {
            Some((until, answer)) if *until > now => Some(answer.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: Key, until: Instant, answer: Option<Caller>, now: Instant) {
        if self.entries.len() >= MAX_CACHED {
            self.entries.retain(|_, (u, _)| *u > now);
        }
        // Still full of live entries (a flood of distinct tokens): start
        // over rather than track recency; the cost is a few extra
        // introspections, never a wrong answer.
        if self.entries.len() >= MAX_CACHED {
            self.entries.clear();
        }
        self.entries.insert(key, (until, answer));
    }
}

/// Checks tokens for one resource at one authorization server.
pub struct Introspector {
    http: reqwest::Client,
    issuer: String,
    endpoint: OnceCell<String>,
    resource: String,
    client_id: String,
    client_secret: String,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn key(token: &str) -> Key {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl Introspector {
    /// Checks tokens for `resource` at `issuer`'s introspection endpoint
    /// (found in its RFC 8414 metadata on first use), as `client_id`,
    /// reusing answers for `ttl`.
    #[must_use]
    pub fn new(
        issuer: &str,
        resource: &str,
        client_id: &str,
        client_secret: &str,
        ttl: Duration,
    ) -> Self {
        Introspector {
            // Never follow redirects: a redirect would carry the client's
            // credentials somewhere else.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            issuer: issuer.to_owned(),
            endpoint: OnceCell::new(),
            resource: resource.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            ttl,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The introspection endpoint from the issuer's RFC 8414 metadata,
    /// whose `issuer` must be the one configured (§3.3). Fetched once; a
    /// failure is retried on the next request.
    async fn endpoint(&self) -> Result<&str, Refusal> {
        let e = self
            .endpoint
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/oauth-authorization-server", self.issuer);
                let unavailable = |why: String| Refusal::Unavailable(format!("{url}: {why}"));
                let r = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                if !r.status().is_success() {
                    return Err(unavailable(format!("answered {}", r.status())));
                }
                let meta: serde_json::Value =
                    r.json().await.map_err(|e| unavailable(e.to_string()))?;
                if meta["issuer"] != self.issuer.as_str() {
                    return Err(unavailable(format!(
                        "metadata names issuer {}, not {}",
                        meta["issuer"], self.issuer
                    )));
                }
                meta["introspection_endpoint"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| unavailable("no introspection_endpoint".into()))
            })
            .await?;
        Ok(e)
    }

    /// Who `token` speaks for, if it is an active access token for this
    /// resource.
    ///
    /// # Errors
    /// [`Refusal::Invalid`] for any token this server must not accept;
    /// [`Refusal::Unavailable`] when the authorization server could not
    /// answer.
    pub async fn check(&self, token: &str) -> Result<Caller, Refusal> {
        let k = key(token);
        let cached = self
            .cache
            .lock()
            .map_err(|_| Refusal::Unavailable("cache lock poisoned".into()))?
            .get(&k, Instant::now());
        let answer = match cached {
            Some(a) => a,
            None => {
                let (answer, exp) = self.ask(token).await?;
                let now = Instant::now();
                let mut until = now + self.ttl;
                if let Some(exp) = exp {
                    let epoch = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs();
                    until = until.min(now + Duration::from_secs(exp.saturating_sub(epoch)));
                }
                if let Ok(mut c) = self.cache.lock() {
                    c.put(k, until, answer.clone(), now);
                }
                answer
            }
        };
        answer.ok_or(Refusal::Invalid)
    }

    async fn ask(&self, token: &str) -> Result<(Option<Caller>, Option<u64>), Refusal> {
        let endpoint = self.endpoint().await?;
        let r = self
            .http
            .post(endpoint)
            .basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(&self.client_secret)),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Refusal::Unavailable(format!("introspection: {}", e.without_url())))?;
        match r.status().as_u16() {
            200 => {}
            401 => {
                return Err(Refusal::Unavailable(
                    "introspection refused this server's client credentials (401): check --client-id and --client-secret".into(),
                ))
            }
            s => return Err(Refusal::Unavailable(format!("introspection answered {s}"))),
        }
        let body: Response = r
            .json()
            .await
            .map_err(|e| Refusal::Unavailable(format!("introspection answer: {e}")))?;
        Ok(judge(body, &self.resource))
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they
/// go into the Basic header.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "http://127.0.0.1:8090/mcp";

    fn response(json: serde_json::Value) -> Response {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_active_bearer_tokens_for_this_resource_pass() {
        let ok = serde_json::json!({
            "active": true, "scope": "profile:read zones:read", "client_id": "c",
            "sub": "alice", "exp": 99, "aud": [R, "http://x/api"], "token_type": "Bearer"
        });
        let (caller, exp) = judge(response(ok.clone()), R);
        let caller = caller.expect("accepted");
        assert!(caller.has("zones:read") && !caller.has("dns:edit"));
        assert_eq!((caller.sub.as_str(), exp), ("alice", Some(99)));
        let mut one = ok.clone();
        one["aud"] = R.into();
        assert!(judge(response(one), R).0.is_some(), "aud as a string");
        for (member, value) in [
            ("aud", serde_json::json!(["http://127.0.0.1:8080/api"])),
            ("aud", serde_json::Value::Null),
            ("active", false.into()),
            ("token_type", serde_json::Value::Null),
            ("token_type", "refresh_token".into()),
            ("sub", serde_json::Value::Null),
        ] {
            let mut bad = ok.clone();
            bad[member] = value.clone();
            assert!(judge(response(bad), R).0.is_none(), "{member} = {value}");
        }
        assert!(judge(response(serde_json::json!({"active": false})), R)
            .0
            .is_none());
    }

    #[test]
    fn the_cache_expires_is_bounded_and_keyed_by_hash() {
        let now = Instant::now();
        let mut c = Cache::default();
        let caller = Caller {
            sub: "a".into(),
            client_id: "c".into(),
            scopes: vec![],
        };
        c.put(
            key("t1"),
            now + Duration::from_secs(5),
            Some(caller.clone()),
            now,
        );
        c.put(key("t2"), now + Duration::from_secs(5), None, now);
        assert_eq!(c.get(&key("t1"), now), Some(Some(caller)));
        assert_eq!(
            c.get(&key("t2"), now),
            Some(None),
            "negative answers are cached"
        );
        assert_eq!(c.get(&key("t3"), now), None);
        assert_eq!(
            c.get(&key("t1"), now + Duration::from_secs(6)),
            None,
            "expired"
        );
        assert_ne!(key("t1"), key("t2"));
        for i in 0..MAX_CACHED + 5 {
            c.put(key(&i.to_string()), now + Duration::from_secs(5), None, now);
        }
        assert!(c.entries.len() <= MAX_CACHED, "bounded");
    }

    #[test]
    fn credentials_are_form_encoded() {
        assert_eq!(form_encode("a b:c%"), "a+b%3Ac%25");
        assert_eq!(form_encode("mcp-server_1.x"), "mcp-server_1.x");
    }
}
