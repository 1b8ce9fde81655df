//! One suite for every framework's OAuth routes (rustls-style: one suite,
//! N backends): a browser and a client driving the routes through a
//! [`Transport`], in process or over a real loopback socket. Each
//! framework's test file builds its app around [`TestUsers`] and [`login`],
//! and runs every scenario below. Included next to `mod common` with
//! `#[path = "common/router_suite.rs"] mod suite;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use latchkey::http::{encode_form, HttpRequest, HttpResponse, MAX_BODY_BYTES};
use latchkey::web::{Session, Sessions, SignIn};
use latchkey::Principal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    alice, mallory, query_param, Harness, API, CHALLENGE, ISSUER, REDIRECT, VERIFIER,
};

/// A pseudo-header the in-process transports turn into the request's
/// source address (and do not send).
pub const PEER: &str = "x-test-peer";

pub struct TestUsers;

#[async_trait::async_trait]
impl SignIn for TestUsers {
    async fn principal(&self, session: &Session) -> Option<Principal> {
        match session.user.as_deref()? {
            "alice" => Some(alice()),
            "mallory" => Some(mallory()),
            // Alice's colleague: the same account, so the same apps.
            "carol" => Some(Principal {
                subject: "carol".into(),
                account: "acme".into(),
            }),
            _ => None,
        }
    }
}

/// The host's sign-in page, reduced to what the flow needs: `GET` shows
/// the session's CSRF token, `POST` signs `user` in and goes to `next`.
pub async fn login(sessions: Arc<Sessions>, req: HttpRequest) -> HttpResponse {
    let (session, set_cookie) = sessions.load_or_create(&req).await.unwrap();
    if req.method == "GET" {
        let mut r = HttpResponse::json(200, session.csrf.expose().as_bytes().to_vec());
        if let Some(c) = set_cookie {
            r.headers.push(("Set-Cookie".into(), c));
        }
        return r;
    }
    let form = req.form_body().unwrap();
    if !session.csrf_ok(form.single("csrf").unwrap()) {
        return HttpResponse::json(403, b"csrf".to_vec());
    }
    let user = form.required("user").unwrap();
    let next = form.single("next").unwrap();
    sessions
        .complete_sign_in(&session, user, next, "/")
        .await
        .unwrap()
}

/// How a request reaches the app under test.
#[allow(async_fn_in_trait)] // single-threaded test use only
pub trait Transport {
    /// Sends one request and reads the whole answer.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer;
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn location(&self) -> &str {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location in {self:?}"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The value of hidden input `name` on an HTML page.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect(name) + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }
}

/// A user agent: keeps the cookies it is given and sends them back.
pub struct Browser<'t, T> {
    transport: &'t T,
    cookies: BTreeMap<String, String>,
}

impl<'t, T: Transport> Browser<'t, T> {
    pub fn new(transport: &'t T) -> Self {
        Browser {
            transport,
            cookies: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, uri: &str) -> Answer {
        self.send("GET", uri, &[], Vec::new()).await
    }

    pub async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Answer {
        let ct = [("content-type", "application/x-www-form-urlencoded")];
        self.send("POST", uri, &ct, encode_form(form).into_bytes())
            .await
    }

    pub async fn send(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            headers.push(("cookie".into(), c.join("; ")));
        }
        let a = self.transport.send(method, uri, &headers, body).await;
        for (n, v) in &a.headers {
            if n.eq_ignore_ascii_case("set-cookie") {
                let (k, rest) = v.split_once('=').unwrap();
                let val = rest.split(';').next().unwrap();
                if v.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), val.to_owned());
                }
            }
        }
        a
    }
}

/// A server listening on a loopback socket, spoken to by hand.
pub struct Socket(pub SocketAddr);

impl Transport for Socket {
    /// HTTP/1.1 by hand: one request per connection, `Connection: close`.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        let addr = self.0;
        let mut head = format!(
            "{method} {uri} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(&body);
        self.exchange(&raw).await
    }
}

impl Socket {
    /// Writes `request` as it is and reads the answer to the end.
    pub async fn exchange(&self, request: &[u8]) -> Answer {
        let mut s = tokio::net::TcpStream::connect(self.0).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        assert!(
            !headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")),
            "this little client reads only sized bodies"
        );
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }
}

pub fn authorize_uri(h: &Harness) -> String {
    authorize_uri_for(h, "profile:read")
}

pub fn authorize_uri_for(h: &Harness, scope: &str) -> String {
    let pairs = [
        ("response_type", "code"),
        ("client_id", h.app.client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("resource", API),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ];
    format!("/oauth/authorize?{}", encode_form(&pairs))
}

/// Authorize until the sign-in redirect; returns the `next` it carries.
pub async fn start(b: &mut Browser<'_, impl Transport>, h: &Harness) -> String {
    let a = b.get(&authorize_uri(h)).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert!(
        a.header("set-cookie").is_some(),
        "first visit sets the binding"
    );
    let next = query_param(a.location(), "next").expect("sign-in carries next");
    assert!(a.location().starts_with("/login?"));
    assert!(next.starts_with("/oauth/consent?challenge="), "{next}");
    next
}

pub async fn sign_in(b: &mut Browser<'_, impl Transport>, user: &str, next: &str) -> Answer {
    let csrf = b.get("/login").await.body;
    b.post("/login", &[("user", user), ("next", next), ("csrf", &csrf)])
        .await
}

/// Signs in and opens the consent page; returns it.
pub async fn to_consent(b: &mut Browser<'_, impl Transport>, h: &Harness) -> Answer {
    let next = start(b, h).await;
    let a = sign_in(b, "alice", &next).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.location(), next, "sign-in returns to the consent page");
    let page = b.get(&next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// Posts the consent form of `page` (its CSRF token and challenge) with
/// `decision` (`allow` or `deny`).
pub async fn decide(b: &mut Browser<'_, impl Transport>, page: &Answer, decision: &str) -> Answer {
    b.post(
        "/oauth/consent",
        &[
            ("csrf", &page.hidden("csrf")),
            ("challenge", &page.hidden("challenge")),
            ("decision", decision),
        ],
    )
    .await
}

/// The app's token request for `code`, authenticated with its secret.
pub async fn redeem(client: &mut Browser<'_, impl Transport>, h: &Harness, code: &str) -> Answer {
    let form = encode_form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let auth = h.app_auth();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    client
        .send("POST", "/oauth/token", &headers, form.into_bytes())
        .await
}

pub async fn complete_code_flow(transport: &impl Transport, h: &Harness) {
    let mut b = Browser::new(transport);
    let page = to_consent(&mut b, h).await;
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(page.body.contains("Acme Dashboard"));
    let a = decide(&mut b, &page, "allow").await;
    assert_eq!(a.status, 303, "{a:?}");
    let to = a.location();
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query_param(to, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(to, "iss").as_deref(), Some(ISSUER));
    let code = query_param(to, "code").unwrap();

    let mut client = Browser::new(transport);
    let t = redeem(&mut client, h, &code).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let at = t.json()["access_token"].as_str().unwrap().to_owned();
    assert!(h.active(&at).await);
}

/// The server metadata, as a client fetches it first.
pub async fn server_metadata_is_served(t: &impl Transport) {
    let mut b = Browser::new(t);
    let m = b.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.json()["issuer"], ISSUER);
}

pub async fn consent_without_or_with_a_wrong_csrf_token_is_refused(
    t: &impl Transport,
    h: &Harness,
) {
    let mut b = Browser::new(t);
    let page = to_consent(&mut b, h).await;
    let challenge = page.hidden("challenge");
    for csrf in [None, Some("wrong"), Some("")] {
        let mut form = vec![("challenge", challenge.as_str()), ("decision", "allow")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let a = b.post("/oauth/consent", &form).await;
        assert_eq!(a.status, 403, "csrf {csrf:?}: {a:?}");
        assert!(a.header("location").is_none());
    }
    // The right token from a page of another origin is refused too.
    let csrf = page.hidden("csrf");
    let form = [
        ("challenge", challenge.as_str()),
        ("decision", "allow"),
        ("csrf", csrf.as_str()),
    ];
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("referer", "https://evil.example/page"),
    ] {
        let ct = ("content-type", "application/x-www-form-urlencoded");
        let a = b
            .send(
                "POST",
                "/oauth/consent",
                &[ct, (header, value)],
                encode_form(&form).into_bytes(),
            )
            .await;
        assert_eq!(a.status, 403, "{header}: {value}: {a:?}");
    }
    // The refusals consumed nothing: the real form still works.
    let a = b
        .post(
            "/oauth/consent",
            &[
                ("csrf", &page.hidden("csrf")),
                ("challenge", &challenge),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(a.status, 303);
    assert!(query_param(a.location(), "code").is_some());
}

/// A consent form's token decides only its own challenge: lifted from one
/// consent page (the session's other tabs, a leaked page), it cannot
/// approve another request, and the session's bare token is no key either.
pub async fn a_consent_token_decides_only_its_own_challenge(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let first = to_consent(&mut b, h).await;
    let second = b.get(&authorize_uri(h)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let (one, two) = (first.hidden("challenge"), second.hidden("challenge"));
    assert_ne!(one, two);
    assert_ne!(first.hidden("csrf"), second.hidden("csrf"));
    let lifted = b
        .post(
            "/oauth/consent",
            &[
                ("csrf", &first.hidden("csrf")),
                ("challenge", &two),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(lifted.status, 403, "{lifted:?}");
    assert!(lifted.header("location").is_none());
    let a = decide(&mut b, &second, "allow").await;
    assert_eq!(a.status, 303, "{a:?}");
    assert!(query_param(a.location(), "code").is_some());
    let a = decide(&mut b, &first, "deny").await;
    assert_eq!(a.status, 303, "the first form still decides its own: {a:?}");
}

pub async fn a_forged_next_is_not_followed(t: &impl Transport) {
    for next in [
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "/\\/evil.example",
    ] {
        let mut b = Browser::new(t);
        let a = sign_in(&mut b, "alice", next).await;
        assert_eq!(a.status, 303);
        assert_eq!(a.location(), "/", "{next}");
    }
}

pub async fn a_challenge_cannot_be_completed_by_another_browser(t: &impl Transport, h: &Harness) {
    let mut victim = Browser::new(t);
    let next = start(&mut victim, h).await;

    // Someone else (signed in as the same user, even) opens the link.
    let mut other = Browser::new(t);
    assert_eq!(sign_in(&mut other, "alice", "/").await.status, 303);
    let a = other.get(&next).await;
    assert_ne!(a.status, 200, "no consent page for another browser");
    assert!(a.header("location").is_none());
    assert!(!a.body.contains("name=\"challenge\""));
    let csrf = other.get("/login").await.body;
    let challenge = query_param(&next, "challenge").unwrap();
    let a = other
        .post(
            "/oauth/consent",
            &[
                ("csrf", &csrf),
                ("challenge", &challenge),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_ne!(a.status, 303, "{a:?}");
    assert!(a.header("location").is_none());

    // The browser that started it still can.
    assert_eq!(sign_in(&mut victim, "alice", &next).await.status, 303);
    let page = victim.get(&next).await;
    assert_eq!(page.status, 200);
    let a = victim
        .post(
            "/oauth/consent",
            &[
                ("csrf", &page.hidden("csrf")),
                ("challenge", &page.hidden("challenge")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(a.status, 303);
    assert!(query_param(a.location(), "code").is_some());
}

pub async fn deny_redirects_with_access_denied(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let page = to_consent(&mut b, h).await;
    let a = decide(&mut b, &page, "deny").await;
    assert_eq!(a.status, 303);
    assert_eq!(
        query_param(a.location(), "error").as_deref(),
        Some("access_denied")
    );
}

/// "Not you? Switch account": signs out, and after another user signs in
/// the same request (state, PKCE challenge) asks that user; the first
/// user's challenge is used up, never handed to the second.
pub async fn switch_account_keeps_the_request(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let page = to_consent(&mut b, h).await;
    let old = page.hidden("challenge");
    let csrf = page.hidden("csrf");
    let a = b
        .post(
            "/oauth/consent",
            &[
                ("csrf", &csrf),
                ("challenge", &old),
                ("decision", "switch_account"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{a:?}");
    assert!(a.location().starts_with("/login?"), "{}", a.location());
    let again = query_param(a.location(), "next").expect("sign-in carries next");
    assert!(again.starts_with("/oauth/authorize?"), "{again}");
    for (k, v) in [
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("client_id", h.app.client.id.as_str()),
    ] {
        assert_eq!(query_param(&again, k).as_deref(), Some(v), "{again}");
    }
    // Signed out: the old page's form no longer decides anything.
    let stale = b
        .post(
            "/oauth/consent",
            &[("csrf", &csrf), ("challenge", &old), ("decision", "allow")],
        )
        .await;
    assert_ne!(stale.status, 303, "{stale:?}");

    let a = sign_in(&mut b, "carol", &again).await;
    assert_eq!(a.location(), again, "sign-in returns to the request");
    // Signed in now, so the authorization endpoint asks at once.
    let page = b.get(&again).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("carol"), "asks the new user");
    let new = page.hidden("challenge");
    assert_ne!(new, old);
    let a = b
        .post(
            "/oauth/consent",
            &[
                ("csrf", &page.hidden("csrf")),
                ("challenge", &new),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(query_param(a.location(), "state").as_deref(), Some("st-1"));
    assert!(query_param(a.location(), "code").is_some());
}

pub async fn an_oversized_body_is_the_engines_json_413(t: &impl Transport) {
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    for path in [
        "/oauth/token",
        "/oauth/authorize",
        "/oauth/consent",
        "/oauth/revoke",
    ] {
        let a = Browser::new(t).send("POST", path, &ct, big.clone()).await;
        assert_eq!(a.status, 413, "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert!(a.json()["error"].is_string(), "{path}: {}", a.body);
    }
}

/// A chunked body declares no length: the bound holds while it is read.
pub async fn an_undeclared_oversized_body_is_the_engines_json_413(s: &Socket) {
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    for path in ["/oauth/token", "/oauth/authorize", "/oauth/consent"] {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\
             content-type: application/x-www-form-urlencoded\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n",
            s.0,
            big.len()
        )
        .into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        let a = s.exchange(&req).await;
        assert_eq!(a.status, 413, "{path}: {a:?}");
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert!(a.json()["error"].is_string(), "{path}: {}", a.body);
    }
}

pub async fn a_wrong_method_is_the_engines_json_405(t: &impl Transport) {
    for (method, path, allow) in [
        ("PUT", "/oauth/token", "POST"),
        ("GET", "/oauth/introspect", "POST"),
        ("DELETE", "/oauth/revoke", "POST"),
        ("PUT", "/oauth/authorize", "GET, POST"),
        ("DELETE", "/oauth/consent", "GET, POST"),
        (
            "POST",
            "/.well-known/oauth-authorization-server",
            "GET, HEAD",
        ),
        ("POST", "/.well-known/oauth-protected-resource", "GET, HEAD"),
    ] {
        let a = Browser::new(t).send(method, path, &[], Vec::new()).await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(a.header("allow"), Some(allow), "{method} {path}");
        assert!(a.json()["error"].is_string());
    }
}

pub async fn both_well_known_documents_are_served(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let m = b.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.json(), h.engine.metadata());
    let r = b.get("/.well-known/oauth-protected-resource").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["resource"], API);
    assert_eq!(r.json()["authorization_servers"][0], ISSUER);
}

pub async fn a_signed_out_decision_is_refused(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let page = to_consent(&mut b, h).await;
    let mut stranger = Browser::new(t);
    let a = stranger
        .post(
            "/oauth/consent",
            &[
                ("csrf", &page.hidden("csrf")),
                ("challenge", &page.hidden("challenge")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(a.status, 401);
    assert!(a.header("location").is_none());
}

/// With the ready pages and partial approval (the app built with
/// `UiPages { partial_approval: true, .. }`), the user unticks a requested
/// scope and the token carries only what was left ticked.
#[cfg(feature = "ui")]
pub async fn ready_pages_with_partial_approval(t: &impl Transport, h: &Harness) {
    let mut b = Browser::new(t);
    let a = b.get(&authorize_uri_for(h, "profile:read dns:read")).await;
    let next = query_param(a.location(), "next").unwrap();
    assert_eq!(sign_in(&mut b, "alice", &next).await.status, 303);
    let page = b.get(&next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"scope\" value=\"dns:read\""));
    assert!(
        page.body.contains("class=\"primary\""),
        "the ready consent page"
    );
    let a = b
        .post(
            "/oauth/consent",
            &[
                ("csrf", &page.hidden("csrf")),
                ("challenge", &page.hidden("challenge")),
                ("decision", "allow"),
                ("scope", "profile:read"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{a:?}");
    let code = query_param(a.location(), "code").unwrap();
    let r = h.exchange(&code).await;
    assert_eq!(r.json_body()["scope"], "profile:read");

    // Errors are the ready error page, not a redirect.
    let e = b.get("/oauth/consent?challenge=nope").await;
    assert_eq!(e.status, 400);
    assert!(e.body.contains("This request has expired"), "{}", e.body);
}

/// RFC 7591/7592 over HTTP: register, read with the registration access
/// token, delete; the metadata names the endpoint.
pub async fn dynamic_registration_is_served(t: &impl Transport) {
    let mut b = Browser::new(t);
    let m = b.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(
        m.json()["registration_endpoint"],
        format!("{ISSUER}/oauth/register")
    );
    let doc = br#"{"client_name":"Agent","redirect_uris":["http://localhost:3000/cb"],"token_endpoint_auth_method":"none"}"#;
    let r = b
        .send(
            "POST",
            "/oauth/register",
            &[("content-type", "application/json")],
            doc.to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let info = r.json();
    let id = info["client_id"].as_str().unwrap().to_owned();
    let rat = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = format!("/oauth/register/{id}");
    assert_eq!(info["registration_client_uri"], format!("{ISSUER}{at}"));
    let auth = format!("Bearer {rat}");
    let r = b
        .send("GET", &at, &[("authorization", &auth)], vec![])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["client_name"], "Agent");
    let r = b
        .send("GET", &at, &[("authorization", "Bearer lk_ra_x")], vec![])
        .await;
    assert_eq!(r.status, 401);
    let r = b
        .send("DELETE", &at, &[("authorization", &auth)], vec![])
        .await;
    assert_eq!(r.status, 204);
    let r = b
        .send("GET", &at, &[("authorization", &auth)], vec![])
        .await;
    assert_eq!(r.status, 401);
}

/// RFC 8628 end to end: the device asks for codes, the user opens the
/// `verification_uri_complete` link, confirms the code (CSRF-checked),
/// signs in, approves on the shared consent page, and the device's next
/// poll gets tokens, once.
pub async fn device_flow(t: &impl Transport, h: &Harness, device_client: &str) {
    let mut device = Browser::new(t);
    let poll_form = |dc: &str| {
        encode_form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", dc),
            ("client_id", device_client),
        ])
    };
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let start = device
        .post(
            "/oauth/device_authorization",
            &[("client_id", device_client), ("scope", "profile:read")],
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.body);
    let j = start.json();
    let dc = j["device_code"].as_str().unwrap().to_owned();
    let user_code = j["user_code"].as_str().unwrap().to_owned();
    let complete = j["verification_uri_complete"].as_str().unwrap();
    let entry_uri = complete.strip_prefix(ISSUER).unwrap();
    let pending = device
        .send("POST", "/oauth/token", &[ct], poll_form(&dc).into_bytes())
        .await;
    assert!(
        pending.body.contains("authorization_pending"),
        "{}",
        pending.body
    );

    let mut b = Browser::new(t);
    let page = b.get(entry_uri).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.body.contains(&format!("value=\"{user_code}\"")),
        "pre-filled"
    );
    let csrf = page.hidden("csrf");
    let forged = b
        .post("/device", &[("csrf", "forged"), ("user_code", &user_code)])
        .await;
    assert_eq!(forged.status, 403);
    let wrong = b
        .post("/device", &[("csrf", &csrf), ("user_code", "BCDF-GHJK")])
        .await;
    assert_eq!(wrong.status, 400);
    let typed = user_code.to_lowercase();
    let a = b
        .post("/device", &[("csrf", &csrf), ("user_code", &typed)])
        .await;
    assert_eq!(a.status, 303, "{a:?}");
    let consent = a.location().to_owned();
    assert!(
        consent.starts_with("/oauth/consent?challenge="),
        "{consent}"
    );
    let a = b.get(&consent).await;
    assert_eq!(a.status, 303, "anonymous: sign in first");
    let next = query_param(a.location(), "next").unwrap();
    assert_eq!(sign_in(&mut b, "alice", &next).await.location(), next);
    let page = b.get(&next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Living-room TV"));
    let done = decide(&mut b, &page, "allow").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Living-room TV"));

    h.clock.advance(5);
    let tokens = device
        .send("POST", "/oauth/token", &[ct], poll_form(&dc).into_bytes())
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.json()["access_token"].is_string());
    h.clock.advance(5);
    let again = device
        .send("POST", "/oauth/token", &[ct], poll_form(&dc).into_bytes())
        .await;
    assert!(again.body.contains("invalid_grant"), "{}", again.body);
}

/// Rate limits (the defaults): failed client authentications from one
/// address stop that address for that client after 10, with `429` and
/// `Retry-After`; the same client from another address, and another
/// client from the first, still get through.
pub async fn rate_limits_hold_per_client_and_address(t: &impl Transport, h: &Harness) {
    let introspect = |peer: &'static str, auth: String| async move {
        let form = encode_form(&[("token", "lk_at_nothing")]);
        t.send(
            "POST",
            "/oauth/introspect",
            &[
                (PEER.into(), peer.into()),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("authorization".into(), auth),
            ],
            form.into_bytes(),
        )
        .await
    };
    let wrong = crate::common::basic(&h.app.client.id, "wrong-secret");
    for _ in 0..10 {
        assert_eq!(introspect("192.0.2.1", wrong.clone()).await.status, 401);
    }
    let a = introspect("192.0.2.1", h.app_auth()).await;
    assert_eq!(a.status, 429, "{a:?}");
    assert!(a
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    assert_eq!(
        introspect("192.0.2.2", h.app_auth()).await.status,
        200,
        "the client from elsewhere"
    );
    let other = crate::common::basic(&h.cli.client.id, "x");
    assert_eq!(
        introspect("192.0.2.1", other).await.status,
        401,
        "another client from the same address is judged, not refused"
    );
    // A browser flooding the authorization endpoint gets a page, not JSON.
    let mut last = None;
    for _ in 0..121 {
        last = Some(
            t.send(
                "GET",
                "/oauth/authorize?client_id=x",
                &[(PEER.into(), "192.0.2.3".into())],
                Vec::new(),
            )
            .await,
        );
    }
    let page = last.unwrap();
    assert_eq!(page.status, 429);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.header("retry-after").is_some());
}

/// Browser-based clients (single-page apps, browser-hosted MCP clients):
/// the metadata, token, revocation and registration endpoints answer CORS
/// (preflight included) without credentials; the authorization endpoint
/// and consent never do. JSON is never sniffed; metadata may be cached.
pub async fn cors_for_browser_clients_and_never_for_pages(t: &impl Transport) {
    let preflight = |path: &'static str| async move {
        t.send(
            "OPTIONS",
            path,
            &[
                ("origin".into(), "https://spa.example".into()),
                ("access-control-request-method".into(), "POST".into()),
                (
                    "access-control-request-headers".into(),
                    "authorization, content-type".into(),
                ),
            ],
            Vec::new(),
        )
        .await
    };
    let p = preflight("/oauth/token").await;
    assert_eq!(p.status, 204, "{p:?}");
    assert_eq!(p.header("access-control-allow-origin"), Some("*"));
    assert!(p
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(p
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
    assert!(p.header("access-control-allow-credentials").is_none());
    for page in ["/oauth/authorize", "/oauth/consent"] {
        let p = preflight(page).await;
        assert!(
            p.header("access-control-allow-origin").is_none(),
            "{page}: {p:?}"
        );
    }
    let origin = [("origin".to_owned(), "https://spa.example".to_owned())];
    let form = [(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let token = t
        .send(
            "POST",
            "/oauth/token",
            &[origin[0].clone(), form[0].clone()],
            b"grant_type=authorization_code&code=x&client_id=nobody".to_vec(),
        )
        .await;
    assert_eq!(token.header("access-control-allow-origin"), Some("*"));
    assert_eq!(token.header("x-content-type-options"), Some("nosniff"));
    let meta = t
        .send(
            "GET",
            "/.well-known/oauth-authorization-server",
            &origin,
            Vec::new(),
        )
        .await;
    assert_eq!(meta.header("access-control-allow-origin"), Some("*"));
    assert!(meta.header("cache-control").unwrap().contains("max-age="));
    let page = t
        .send("GET", "/oauth/authorize?client_id=x", &origin, Vec::new())
        .await;
    assert!(page.header("access-control-allow-origin").is_none());
    assert!(
        page.header("strict-transport-security").is_some(),
        "HSTS on every answer of an https issuer"
    );
}

/// JWT access tokens (RFC 9068) through the routes: `jwks_uri` in the
/// metadata and its cacheable JWK Set, a code flow that yields a JWT whose
/// `kid` is published, the bearer guard accepting it locally, and
/// introspection reporting it revoked after revocation. `h` must be a
/// [`crate::common::harness_with_jwt_on`] harness.
pub async fn jwt_flow(t: &impl Transport, h: &Harness) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    let mut client = Browser::new(t);
    let m = client.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(m.json()["jwks_uri"], format!("{ISSUER}/oauth/jwks"));
    assert_eq!(client.post("/oauth/jwks", &[]).await.status, 405);

    let mut b = Browser::new(t);
    let page = to_consent(&mut b, h).await;
    let code = query_param(decide(&mut b, &page, "allow").await.location(), "code").unwrap();
    let tok = redeem(&mut client, h, &code).await;
    let auth = h.app_auth();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    assert_eq!(tok.status, 200, "{}", tok.body);
    let at = tok.json()["access_token"].as_str().unwrap().to_owned();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(at.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");

    let jwks = client.get("/oauth/jwks").await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=600"));
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert!(keys.iter().any(|k| k["kid"] == header["kid"]));
    assert!(keys.iter().all(|k| k.get("d").is_none()));

    let guard = latchkey::web::BearerGuard::new(&h.engine, API, &["profile:read"]);
    let bearer = HttpRequest::get(&[]).with_header("Authorization", &format!("Bearer {at}"));
    assert_eq!(guard.check(&bearer).await.unwrap().sub, "alice");

    let token_form = encode_form(&[("token", &at)]).into_bytes();
    let active = |a: Answer| a.json()["active"].as_bool();
    let before = client
        .send("POST", "/oauth/introspect", &headers, token_form.clone())
        .await;
    assert_eq!(active(before), Some(true));
    let r = client
        .send("POST", "/oauth/revoke", &headers, token_form.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = client
        .send("POST", "/oauth/introspect", &headers, token_form)
        .await;
    assert_eq!(active(after), Some(false));
}

/// With `Cors::Origins(["https://spa.example"])` configured: that origin is
/// echoed (with `Vary: Origin`), any other gets no CORS headers.
pub async fn cors_allowlist_echoes_only_listed_origins(t: &impl Transport) {
    let preflight = |origin: &'static str| async move {
        t.send(
            "OPTIONS",
            "/oauth/token",
            &[
                ("origin".into(), origin.into()),
                ("access-control-request-method".into(), "POST".into()),
            ],
            Vec::new(),
        )
        .await
    };
    let ok = preflight("https://spa.example").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    assert_eq!(ok.header("vary"), Some("Origin"));
    let other = preflight("https://other.example").await;
    assert!(
        other.header("access-control-allow-origin").is_none(),
        "{other:?}"
    );
}
