//! The ready account pages, driven without a framework: sign-in (wrong
//! password, expired form, open redirect), connected apps, a revoke that
//! needs confirming and only reaches the user's own grants, and sign-out.
#![cfg(feature = "ui")]

mod common;

use std::sync::Arc;

use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::ui::{AccountPages, Ui};
use latchkey::web::{Credentials, Session, SessionConfig, Sessions, SignIn};
use latchkey::{MemoryStore, Principal};

use common::{alice, harness, mallory, Harness};

struct Users;

#[async_trait::async_trait]
impl SignIn for Users {
    async fn principal(&self, session: &Session) -> Option<Principal> {
        match session.user.as_deref()? {
            "alice" => Some(alice()),
            "mallory" => Some(mallory()),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl Credentials for Users {
    async fn check(&self, username: &str, password: &str) -> Option<String> {
        (password == format!("{username}-pw")).then(|| username.to_owned())
    }
}

/// One browser: its cookies, and the pages.
struct Browser {
    pages: Arc<AccountPages<MemoryStore, Users>>,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    /// Another browser on the same server.
    fn another(&self) -> Browser {
        Browser {
            pages: self.pages.clone(),
            cookies: Default::default(),
        }
    }

    async fn send(&mut self, mut req: HttpRequest, path: &str) -> HttpResponse {
        req.path = path.into();
        if !self.cookies.is_empty() {
            let all: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers.push(("cookie".into(), all.join("; ")));
        }
        let r = match path {
            "/login" => self.pages.sign_in(&req).await,
            "/logout" => self.pages.sign_out(&req).await,
            "/account/apps" => self.pages.connected_apps(&req).await,
            "/account/apps/revoke" => self.pages.revoke(&req).await,
            other => panic!("no page {other}"),
        };
        for (k, set) in &r.headers {
            if !k.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        r
    }

    async fn csrf(&mut self) -> String {
        let page = body(&self.send(HttpRequest::new("GET"), "/login").await);
        hidden(&page, "csrf")
    }

    async fn sign_in(&mut self, user: &str, password: &str, next: &str) -> HttpResponse {
        let csrf = self.csrf().await;
        let form = [
            ("username", user),
            ("password", password),
            ("csrf", csrf.as_str()),
            ("next", next),
        ];
        self.send(HttpRequest::form_post(&form), "/login").await
    }
}

fn body(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect(name) + marker.len();
    let end = page[start..].find('"').unwrap();
    page[start..start + end].to_owned()
}

async fn access_token(h: &Harness) -> String {
    let code = h.code_for("profile:read", false).await;
    let r = h.exchange(&code).await;
    r.json_body()["access_token"].as_str().unwrap().to_owned()
}

fn browser(h: &Harness) -> Browser {
    let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer(
        "http://127.0.0.1",
    )));
    let pages = AccountPages::new(h.engine.clone(), sessions, Arc::new(Users), Ui::default());
    Browser {
        pages: Arc::new(pages),
        cookies: Default::default(),
    }
}

#[tokio::test]
async fn sign_in_checks_credentials_csrf_and_next() {
    let h = harness().await;
    let mut b = browser(&h);
    let r = b.sign_in("alice", "wrong", "/account/apps").await;
    assert_eq!(r.status, 401);
    assert!(body(&r).contains("value=\"alice\""), "keeps the username");
    assert!(!body(&r).contains("wrong"), "never echoes the password");

    let form = [
        ("username", "alice"),
        ("password", "alice-pw"),
        ("csrf", "forged"),
    ];
    let r = b.send(HttpRequest::form_post(&form), "/login").await;
    assert_eq!(r.status, 403);
    let csrf = b.csrf().await;
    let form = [
        ("username", "alice"),
        ("password", "alice-pw"),
        ("csrf", csrf.as_str()),
    ];
    let cross = HttpRequest::form_post(&form).with_header("Origin", "https://evil.example");
    let r = b.send(cross, "/login").await;
    assert_eq!(r.status, 403, "a login form posted from another site");

    let r = b.sign_in("alice", "alice-pw", "//evil.example/").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/account/apps"),
        "no open redirect"
    );
    let r = b.send(HttpRequest::new("GET"), "/login").await;
    assert_eq!(
        r.header("location"),
        Some("/account/apps"),
        "signed in already"
    );
    let r = b.send(HttpRequest::new("DELETE"), "/login").await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn revoke_asks_first_then_cuts_off_the_tokens() {
    let h = harness().await;
    let at = access_token(&h).await;
    let mut b = browser(&h);
    let r = b.send(HttpRequest::new("GET"), "/account/apps").await;
    assert_eq!(r.status, 303, "signed out: to sign in");
    assert_eq!(r.header("location"), Some("/login?next=%2Faccount%2Fapps"));
    b.sign_in("alice", "alice-pw", "/account/apps").await;
    let page = body(&b.send(HttpRequest::new("GET"), "/account/apps").await);
    assert!(page.contains("Acme Dashboard"), "{page}");
    let grant = hidden(&page, "grant_id");
    let csrf = hidden(&page, "csrf");

    let ask = [("grant_id", grant.as_str()), ("csrf", csrf.as_str())];
    let r = b
        .send(HttpRequest::form_post(&ask), "/account/apps/revoke")
        .await;
    assert_eq!(r.status, 200);
    assert!(body(&r).contains("name=\"confirm\" value=\"yes\""));
    assert!(h.active(&at).await, "asking revokes nothing");

    let forged = [
        ("grant_id", grant.as_str()),
        ("csrf", "x"),
        ("confirm", "yes"),
    ];
    let r = b
        .send(HttpRequest::form_post(&forged), "/account/apps/revoke")
        .await;
    assert_eq!(r.status, 403);
    assert!(h.active(&at).await);

    let yes = [
        ("grant_id", grant.as_str()),
        ("csrf", csrf.as_str()),
        ("confirm", "yes"),
    ];
    let r = b
        .send(HttpRequest::form_post(&yes), "/account/apps/revoke")
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/account/apps"))
    );
    assert!(!h.active(&at).await, "revoked");
    let page = body(&b.send(HttpRequest::new("GET"), "/account/apps").await);
    assert!(page.contains("Access revoked"), "{page}");
    assert!(!page.contains("Acme Dashboard"));
}

#[tokio::test]
async fn another_users_grant_is_not_found_and_sign_out_ends_the_session() {
    let h = harness().await;
    let at = access_token(&h).await;
    let mut alice_b = browser(&h);
    alice_b.sign_in("alice", "alice-pw", "/").await;
    let page = body(&alice_b.send(HttpRequest::new("GET"), "/account/apps").await);
    let grant = hidden(&page, "grant_id");

    let mut m = browser(&h);
    m.pages = alice_b.pages.clone();
    m.sign_in("mallory", "mallory-pw", "/").await;
    let page = body(&m.send(HttpRequest::new("GET"), "/account/apps").await);
    let csrf = hidden(&page, "csrf");
    for form in [
        vec![("grant_id", grant.as_str()), ("csrf", csrf.as_str())],
        vec![
            ("grant_id", grant.as_str()),
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
        ],
    ] {
        let r = m
            .send(HttpRequest::form_post(&form), "/account/apps/revoke")
            .await;
        assert_eq!(r.status, 404);
    }
    assert!(h.active(&at).await);

    let r = m
        .send(HttpRequest::form_post(&[("csrf", &csrf)]), "/logout")
        .await;
    assert_eq!(r.header("location"), Some("/login"));
    let r = m.send(HttpRequest::new("GET"), "/account/apps").await;
    assert_eq!(r.status, 303, "signed out");
}

/// Password guessing: after 10 failures for one username the right
/// password is refused too (429, `Retry-After`, one message whether or not
/// the user exists); other usernames still sign in.
#[tokio::test]
async fn failed_sign_ins_are_throttled_per_username() {
    let h = harness().await;
    let mut b = browser(&h);
    for _ in 0..10 {
        assert_eq!(b.sign_in("alice", "guess", "/").await.status, 401);
    }
    let r = b.sign_in("alice", "alice-pw", "/").await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    let page = body(&r);
    assert!(page.contains("Too many failed sign-in attempts"), "{page}");
    for _ in 0..10 {
        assert_eq!(b.sign_in("nobody", "guess", "/").await.status, 401);
    }
    let r = b.sign_in("nobody", "guess", "/").await;
    assert!(
        body(&r).contains("Too many failed"),
        "same for unknown names"
    );
    let r = b.sign_in("mallory", "mallory-pw", "/").await;
    assert_eq!(r.status, 303, "another user still signs in");
}

/// A stranger who keeps guessing alice's password locks the name for
/// browsers that never signed in as alice, not for alice's own: her
/// browser holds a known-browser cookie from her last sign-in, which skips
/// the username and address locks and has a small budget of its own. Every
/// refusal says the same whatever tripped it, and every failure says the
/// same whether the name exists or not.
#[tokio::test]
async fn a_strangers_guesses_never_lock_the_owner_out_of_her_own_browser() {
    let h = harness().await;
    let mut alice = browser(&h);
    assert_eq!(alice.sign_in("alice", "alice-pw", "/").await.status, 303);
    let known = alice
        .cookies
        .get(latchkey::ui::KNOWN_BROWSER_COOKIE)
        .cloned()
        .expect("a known-browser cookie");
    assert!(known.starts_with("k1."), "{known}");
    alice.cookies.remove("latchkey_session");

    let mut stranger = alice.another();
    for _ in 0..12 {
        let r = stranger.sign_in("alice", "guess", "/").await;
        assert!(matches!(r.status, 401 | 429), "{}", r.status);
    }
    let locked = stranger.sign_in("alice", "alice-pw", "/").await;
    assert_eq!(locked.status, 429, "the name is locked for strangers");
    let mut fresh = alice.another();
    assert_eq!(
        fresh.sign_in("alice", "alice-pw", "/").await.status,
        429,
        "and for any browser alice never used"
    );
    // Her own browser signs in all the same, and it is not the stranger's
    // key: the cookie names alice only.
    assert_eq!(alice.sign_in("alice", "alice-pw", "/").await.status, 303);
    let mut thief = alice.another();
    thief
        .cookies
        .insert(latchkey::ui::KNOWN_BROWSER_COOKIE.into(), known.clone());
    for _ in 0..10 {
        thief.sign_in("mallory", "guess", "/").await;
    }
    assert_eq!(
        thief.sign_in("mallory", "mallory-pw", "/").await.status,
        429,
        "alice's cookie does not unlock mallory"
    );
    // A forged cookie is no key either.
    let mut forger = alice.another();
    forger.cookies.insert(
        latchkey::ui::KNOWN_BROWSER_COOKIE.into(),
        format!("{}0", &known[..known.len() - 1]),
    );
    assert_eq!(forger.sign_in("alice", "alice-pw", "/").await.status, 429);
    // Guessing from a copied cookie has a budget of its own: 5 failures.
    let mut copied = alice.another();
    copied
        .cookies
        .insert(latchkey::ui::KNOWN_BROWSER_COOKIE.into(), known);
    for _ in 0..5 {
        assert_eq!(copied.sign_in("alice", "guess", "/").await.status, 401);
    }
    assert_eq!(copied.sign_in("alice", "alice-pw", "/").await.status, 429);
}

#[tokio::test]
async fn every_failure_and_every_lock_says_the_same() {
    let h = harness().await;
    let mut b = browser(&h);
    let unknown = b.sign_in("nobody", "guess", "/").await;
    let wrong = b.sign_in("alice", "guess", "/").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    // The pages differ only in the username typed and the form's token.
    let strip = |r: &HttpResponse, name: &str| {
        let page = body(r);
        let csrf = hidden(&page, "csrf");
        page.replace(&format!("value=\"{name}\""), "")
            .replace(&csrf, "")
    };
    assert_eq!(
        strip(&unknown, "nobody"),
        strip(&wrong, "alice"),
        "same page"
    );
    // Locked by the username rule (an existing and a missing name) or by
    // the address rule: one status, one message.
    for _ in 0..10 {
        b.sign_in("alice", "guess", "/").await;
        b.sign_in("nobody", "guess", "/").await;
    }
    let by_name = b.sign_in("alice", "alice-pw", "/").await;
    let missing = b.sign_in("nobody", "x", "/").await;
    let mut other = b.another();
    for i in 0..50 {
        other.sign_in(&format!("user{i}"), "guess", "/").await;
    }
    let by_address = other.sign_in("mallory", "mallory-pw", "/").await;
    for r in [&by_name, &missing, &by_address] {
        assert_eq!(r.status, 429);
        assert!(body(r).contains("Too many failed sign-in attempts"));
    }
    assert_eq!(strip(&by_name, "alice"), strip(&missing, "nobody"));
    assert_eq!(strip(&by_address, "mallory"), strip(&missing, "nobody"));
}
