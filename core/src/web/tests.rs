//! The session rules, ported from the axum example and extended to the
//! store trait, the clock and the bounds.

use std::sync::Arc;

use super::*;
use crate::clock::{ManualClock, Timestamp};

struct Fixture {
    sessions: Sessions,
    store: Arc<MemorySessionStore>,
    clock: Arc<ManualClock>,
}

fn fixture(secure: bool, max_anonymous: usize, max_signed_in: usize) -> Fixture {
    let store = Arc::new(MemorySessionStore::new(max_anonymous, max_signed_in));
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
    let issuer = if secure {
        "https://a.example"
    } else {
        "http://127.0.0.1"
    };
    let sessions =
        Sessions::new(store.clone(), SessionConfig::for_issuer(issuer)).with_clock(clock.clone());
    Fixture {
        sessions,
        store,
        clock,
    }
}

fn plain() -> Fixture {
    fixture(false, DEFAULT_MAX_ANONYMOUS, DEFAULT_MAX_SIGNED_IN)
}

/// The `Cookie` header a browser sends after `set_cookie`, next to another
/// site cookie.
fn header(set_cookie: &str) -> String {
    format!("other=1; {}", set_cookie.split(';').next().unwrap())
}

#[tokio::test]
async fn sign_in_rotates_id_but_keeps_binding() {
    let f = plain();
    let s = &f.sessions;
    let (anon, set) = s.load_or_create_from_header(None).await.unwrap();
    let set = set.unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));
    assert!(!set.contains("Secure"));
    assert_eq!(
        s.load_from_header(Some(&header(&set))).await.unwrap(),
        Some(anon.clone())
    );
    let (user, set2) = s.sign_in(&anon, "alice").await.unwrap();
    assert_ne!(user.key(), anon.key());
    assert_ne!(user.csrf, anon.csrf);
    assert_eq!(user.binding, anon.binding);
    // The old cookie is a pre-session, signed and stored nowhere: it
    // still reads, but only ever as anonymous.
    let old = s.load_from_header(Some(&header(&set))).await.unwrap();
    assert_eq!(old.and_then(|o| o.user), None, "old id signs nobody in");
    let back = s
        .load_from_header(Some(&header(&set2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.user.as_deref(), Some("alice"));
    assert_eq!(back, user);
}

#[tokio::test]
async fn csrf_and_flash() {
    let f = fixture(true, 10, 10);
    let s = &f.sessions;
    let (sess, set) = s.load_or_create_from_header(None).await.unwrap();
    let set = set.unwrap();
    assert!(set.starts_with("__Host-latchkey_session=") && set.ends_with("; Secure"));
    assert!(sess.csrf_ok(Some(sess.csrf.expose())));
    assert!(!sess.csrf_ok(Some("nope")));
    assert!(!sess.csrf_ok(None));
    // A flash lives in the stored session: signed in.
    let (sess, _) = s.sign_in(&sess, "alice").await.unwrap();
    s.set_flash(&sess, "hi").await.unwrap();
    assert_eq!(s.take_flash(&sess).await.unwrap().as_deref(), Some("hi"));
    assert_eq!(s.take_flash(&sess).await.unwrap(), None);
}

#[tokio::test]
async fn two_session_cookies_read_as_none() {
    let f = plain();
    let s = &f.sessions;
    let (a, _) = s.load_or_create_from_header(None).await.unwrap();
    let (b, _) = s.load_or_create_from_header(None).await.unwrap();
    let both = format!("{}; {}", s.cookie_header(&a), s.cookie_header(&b));
    assert!(s.load_from_header(Some(&both)).await.unwrap().is_none());
    let (fresh, set) = s.load_or_create_from_header(Some(&both)).await.unwrap();
    assert!(set.is_some() && fresh != a && fresh != b);
}

#[tokio::test]
async fn sign_out_kills_the_session() {
    let f = plain();
    let s = &f.sessions;
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (alice, _) = s.sign_in(&anon, "alice").await.unwrap();
    let clear = s.sign_out(&alice).await.unwrap();
    assert!(clear.contains("Max-Age=0"));
    let h = s.cookie_header(&alice);
    assert!(s.load_from_header(Some(&h)).await.unwrap().is_none());
}

#[tokio::test]
async fn an_anonymous_flood_never_signs_anyone_out() {
    let f = fixture(false, 100, 100);
    let s = &f.sessions;
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (user, set) = s.sign_in(&anon, "alice").await.unwrap();
    for _ in 0..150 {
        s.load_or_create_from_header(None).await.unwrap();
    }
    assert_eq!(
        s.load_from_header(Some(&header(&set))).await.unwrap(),
        Some(user)
    );
    assert_eq!(f.store.len(), 1, "anonymous visits store nothing");
}

#[tokio::test]
async fn pre_sessions_are_signed_and_stored_nowhere() {
    let f = fixture(false, 3, 10);
    let s = &f.sessions;
    let mut all = Vec::new();
    for _ in 0..5 {
        all.push(s.load_or_create_from_header(None).await.unwrap().0);
    }
    assert!(f.store.is_empty());
    for a in &all {
        let back = s.load_from_header(Some(&s.cookie_header(a))).await.unwrap();
        assert_eq!(back.as_ref(), Some(a), "every one still reads");
    }
    // Anything changed in the cookie breaks the signature.
    let h = s.cookie_header(&all[0]);
    let (name, value) = h.split_once('=').unwrap();
    let mut parts: Vec<String> = value.split('.').map(str::to_owned).collect();
    let forged = [
        {
            parts[1] = all[1].binding.clone();
            parts.join(".")
        },
        value.replacen(".18", ".17", 1),
        {
            let last = if value.ends_with('0') { '1' } else { '0' };
            format!("{}{last}", &value[..value.len() - 1])
        },
        value.replace("p1.", "p2."),
    ];
    for v in forged {
        assert_ne!(v, value);
        let got = s.load_from_header(Some(&format!("{name}={v}"))).await;
        assert_eq!(got.unwrap(), None, "{v}");
    }
    // Another server's key does not sign for this one.
    let other = Sessions::new(f.store.clone(), s.config().clone()).with_clock(f.clock.clone());
    assert_eq!(other.load_from_header(Some(&h)).await.unwrap(), None);
    // The same keys do (instances behind one load balancer).
    let keys = Arc::new(crate::token::Keyring::new(&[(1, [7; 32])]).unwrap());
    let a = Sessions::new(f.store.clone(), s.config().clone()).with_keys(keys.clone());
    let b = Sessions::new(f.store.clone(), s.config().clone()).with_keys(keys);
    let (p, _) = a.load_or_create_from_header(None).await.unwrap();
    assert_eq!(
        b.load_from_header(Some(&a.cookie_header(&p)))
            .await
            .unwrap(),
        Some(p)
    );
}

#[tokio::test]
async fn signed_in_sessions_are_a_bounded_lru() {
    let f = fixture(false, 10, 2);
    let s = &f.sessions;
    let mut users = Vec::new();
    for name in ["a", "b"] {
        let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
        users.push(s.sign_in(&anon, name).await.unwrap().0);
        f.clock.advance(TOUCH_INTERVAL);
    }
    // "a" is used again, so "b" is now the least recently used.
    assert!(s
        .load_from_header(Some(&s.cookie_header(&users[0])))
        .await
        .unwrap()
        .is_some());
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (c, _) = s.sign_in(&anon, "c").await.unwrap();
    let alive = |u: &Session| {
        let h = s.cookie_header(u);
        async move { s.load_from_header(Some(&h)).await.unwrap().is_some() }
    };
    assert!(alive(&users[0]).await);
    assert!(!alive(&users[1]).await, "the LRU went");
    assert!(alive(&c).await);
}

#[tokio::test]
async fn idle_timeout_and_absolute_lifetime() {
    let f = plain();
    let s = &f.sessions;
    let idle = s.config().idle_timeout;
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let h = s.cookie_header(&anon);
    f.clock.advance(idle + 1);
    assert!(
        s.load_from_header(Some(&h)).await.unwrap().is_none(),
        "idle"
    );

    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (alice, _) = s.sign_in(&anon, "alice").await.unwrap();
    let h = s.cookie_header(&alice);
    let mut used = 0;
    // Used every hour, so never idle, but still capped.
    while used <= s.config().absolute_lifetime {
        assert!(s.load_from_header(Some(&h)).await.unwrap().is_some());
        f.clock.advance(3600);
        used += 3600;
    }
    assert!(
        s.load_from_header(Some(&h)).await.unwrap().is_none(),
        "absolute"
    );
}

#[tokio::test]
async fn purge_removes_expired_sessions() {
    let f = plain();
    let s = &f.sessions;
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    s.sign_in(&anon, "old").await.unwrap();
    f.clock.advance(s.config().idle_timeout + 1);
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (fresh, _) = s.sign_in(&anon, "new").await.unwrap();
    assert_eq!(s.purge_expired().await.unwrap(), 1);
    assert_eq!(f.store.len(), 1);
    assert!(s
        .load_from_header(Some(&s.cookie_header(&fresh)))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_new_user_does_not_inherit_the_previous_users_binding() {
    let f = plain();
    let s = &f.sessions;
    let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
    let (alice, _) = s.sign_in(&anon, "alice").await.unwrap();
    assert_eq!(
        alice.binding, anon.binding,
        "anonymous → signed in keeps it"
    );
    let (again, _) = s.sign_in(&alice, "alice").await.unwrap();
    assert_eq!(again.binding, alice.binding, "same user keeps it");
    let (bob, _) = s.sign_in(&again, "bob").await.unwrap();
    assert_ne!(bob.binding, alice.binding);
}

#[tokio::test]
async fn two_browsers_never_share_a_binding() {
    let f = plain();
    let s = &f.sessions;
    let (a, _) = s.load_or_create_from_header(None).await.unwrap();
    let (b, _) = s.load_or_create_from_header(None).await.unwrap();
    assert_ne!(a.binding, b.binding);
    let (a2, _) = s.sign_in(&a, "alice").await.unwrap();
    let (b2, _) = s.sign_in(&b, "alice").await.unwrap();
    assert_ne!(a2.binding, b2.binding, "same user, two browsers");
}

#[test]
fn session_store_is_object_safe_and_debug_redacts() {
    fn takes(_: &dyn SessionStore) {}
    takes(&MemorySessionStore::default());
    let key = SessionKey([0xab; 32]);
    assert_eq!(format!("{key:?}"), "SessionKey(abababab…)");
}

#[tokio::test]
async fn complete_sign_in_never_follows_a_foreign_next() {
    let f = plain();
    let s = &f.sessions;
    for (next, to) in [
        (
            Some("/oauth/consent?challenge=x"),
            "/oauth/consent?challenge=x",
        ),
        (Some("//evil.example"), "/"),
        (Some("https://evil.example"), "/"),
        (Some("/\\evil"), "/"),
        (None, "/"),
    ] {
        let (anon, _) = s.load_or_create_from_header(None).await.unwrap();
        let r = s.complete_sign_in(&anon, "alice", next, "/").await.unwrap();
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some(to), "{next:?}");
        assert!(r.header("set-cookie").is_some());
    }
}

#[tokio::test]
async fn https_cookies_are_host_prefixed_and_secure_to_the_end() {
    let f = fixture(true, 10, 10);
    let s = &f.sessions;
    let (anon, set) = s.load_or_create_from_header(None).await.unwrap();
    let set = set.unwrap();
    assert!(set.starts_with("__Host-latchkey_session=") && set.contains("; Secure"));
    assert!(!set.contains("Domain"), "host-only: {set}");
    let (alice, set) = s.sign_in(&anon, "alice").await.unwrap();
    assert!(set.starts_with("__Host-latchkey_session=") && set.contains("; Secure"));
    // A shadowing cookie next to the real one: neither is read.
    let real = s.cookie_header(&alice);
    for shadow in ["__Host-latchkey_session=planted", real.as_str()] {
        let both = format!("{real}; {shadow}");
        assert_eq!(s.load_from_header(Some(&both)).await.unwrap(), None);
    }
    // The unprefixed name (which a sibling subdomain can set) is never read
    // under https.
    let plain = real.replacen("__Host-", "", 1);
    assert_eq!(s.load_from_header(Some(&plain)).await.unwrap(), None);
    assert_eq!(
        s.load_from_header(Some(&format!("{plain}; {real}")))
            .await
            .unwrap()
            .map(|x| x.user),
        Some(Some("alice".into()))
    );
    let clear = s.sign_out(&alice).await.unwrap();
    assert!(clear.starts_with("__Host-latchkey_session=;"), "{clear}");
    assert!(
        clear.contains("Max-Age=0") && clear.contains("; Secure"),
        "{clear}"
    );
}
