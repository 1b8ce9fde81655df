//! A real browser: headless Chromium driven over WebDriver (chromedriver)
//! signs in, approves consent, lands on the client's loopback callback,
//! then revokes the app on the connected-apps page.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; override with `CHROMIUM` / `CHROMEDRIVER`).
//! Under `CI=true` a missing browser fails the test; elsewhere it is skipped
//! with a loud message.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenIntrospectionResponse};
use oauth2::{PkceCodeVerifier, TokenResponse};
use serde_json::json;
use tokio::net::TcpListener;

type Captured = Arc<Mutex<Option<String>>>;

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    p.is_file().then_some(p)
}

/// The test client's redirect target: records the query it was called
/// with (plain tokio, so the suite needs no web framework of its own).
async fn callback_server() -> (String, Captured) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let captured: Captured = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    let c = captured.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let target = head.split(' ').nth(1).unwrap_or_default();
            if let Some(("/callback", q)) = target.split_once('?') {
                *c.lock().unwrap() = Some(q.to_owned());
            }
            let body = "callback received";
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(answer.as_bytes()).await;
        }
    });
    (url, captured)
}

async fn start_chromedriver(path: &PathBuf) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_for_url(c: &Client, prefix: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = c.current_url().await.map_err(|e| e.to_string())?;
        if url.as_str().starts_with(prefix) {
            return Ok(url.to_string());
        }
        if Instant::now() > deadline {
            let page = match c.find(Locator::Css("main")).await {
                Ok(m) => m.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            return Err(format!("never reached {prefix}; at {url}: {page}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The element at `css`, once the page that has it is loaded.
async fn wait_for(c: &Client, css: &str) -> Result<fantoccini::elements::Element, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.find(Locator::Css(css)).await {
            Ok(el) => return Ok(el),
            Err(x) if Instant::now() >= deadline => return Err(format!("{css}: {x}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

async fn text_of(c: &Client, css: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = c.wait().for_element(Locator::Css(css)).await.map_err(e)?;
        match found.text().await.map_err(e) {
            // The page was replaced between finding and reading (a post,
            // then its redirect): look again on the new one.
            Err(x) if gone(&x) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Whether a WebDriver error says the element's page was replaced
/// (Chromium words it either way, depending on timing).
fn gone(message: &str) -> bool {
    message.contains("stale element") || message.contains("does not belong to the document")
}

/// Saves a PNG of the current page to `$LATCHKEY_SCREENSHOTS/<name>.png`
/// when that variable is set (to look at the screens by eye).
async fn screenshot(c: &Client, name: &str) -> Result<(), String> {
    if let Some(dir) = std::env::var_os("LATCHKEY_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        let png = c.screenshot().await.map_err(e)?;
        std::fs::write(dir.join(format!("{name}.png")), png).map_err(e)?;
        // And as a phone shows it (390 px wide), then back.
        let (w, h) = c.get_window_size().await.map_err(e)?;
        c.set_window_size(390, 844).await.map_err(e)?;
        let png = c.screenshot().await.map_err(e)?;
        std::fs::write(dir.join(format!("{name}-390.png")), png).map_err(e)?;
        let fit = |x: u64| u32::try_from(x).unwrap_or(1024);
        c.set_window_size(fit(w), fit(h)).await.map_err(e)?;
    }
    Ok(())
}

/// The flow; returns an error instead of panicking so the browser session
/// is always closed afterwards.
async fn flow(c: &Client, server: &Server) -> Result<(), String> {
    let (callback, captured) = callback_server().await;
    let d = Discovered::fetch(server).await;
    let client = d.client(WEB_ID, Some(WEB_SECRET), &callback);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .add_scope(Scope::new("dns:edit".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Sign in.
    c.goto(url.as_str()).await.map_err(e)?;
    wait_for_url(c, &server.url("/login")).await?;
    wait_for(c, "input[name=username]").await?;
    screenshot(c, "sign-in").await?;
    fill_sign_in(c).await?;

    // Consent: the app, its scopes with descriptions, then approve.
    wait_for_url(c, &server.url("/oauth/consent")).await?;
    let main = text_of(c, "main").await?;
    ensure!(main.contains(WEB_NAME), "app name shown as text: {main}");
    ensure!(
        main.contains("Read your name and account"),
        "profile:read description: {main}"
    );
    ensure!(
        main.contains("Create, change and delete DNS records"),
        "dns:edit description: {main}"
    );
    ensure!(
        main.contains("View DNS records"),
        "implied dns:read: {main}"
    );
    ensure!(
        main.contains("a program on this computer"),
        "loopback redirect named: {main}"
    );
    screenshot(c, "consent").await?;
    c.find(Locator::Css("button[name=decision][value=allow]"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;

    // The browser lands on the client's callback with a code.
    let landed = wait_for_url(c, &callback).await?;
    let body = text_of(c, "body").await?;
    ensure!(body.contains("callback received"), "callback page: {body}");
    let query = captured.lock().unwrap().clone().unwrap_or_default();
    let at = format!("{callback}?{query}");
    ensure!(landed == at, "landed on {landed}, callback saw {at}");
    ensure!(
        query_param(&at, "state").as_deref() == Some(state.secret().as_str()),
        "state echoed: {at}"
    );
    ensure!(
        query_param(&at, "iss").as_deref() == Some(server.base.as_str()),
        "iss: {at}"
    );
    let code = query_param(&at, "code").ok_or_else(|| format!("no code in {at}"))?;
    let http = plain_http();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .map_err(|x| format!("exchange: {x:?}"))?;
    let access = tokens.access_token().secret().clone();
    let me = |token: String| {
        let url = server.url("/api/me");
        async move {
            plain_http()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(e)
        }
    };
    ensure!(me(access.clone()).await? == 200, "token works");

    // Connected apps: revoke.
    c.goto(&server.url("/account/apps")).await.map_err(e)?;
    let main = text_of(c, "main").await?;
    ensure!(main.contains(WEB_NAME), "connected app listed: {main}");
    screenshot(c, "connected-apps").await?;
    c.find(Locator::Css("form[action='/account/apps/revoke'] button"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    // A confirmation page first; the token still works until confirmed.
    let confirm = "input[name='confirm'][value='yes'] ~ .actions button";
    let button = wait_for(c, confirm).await?;
    screenshot(c, "revoke-confirm").await?;
    ensure!(me(access.clone()).await? == 200, "asking revoked nothing");
    button.click().await.map_err(e)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The page is replaced under us (post, then redirect): an element
        // found on the old page goes stale; look again.
        let main = match text_of(c, "main").await {
            Err(x) if gone(&x) => String::new(),
            other => other?,
        };
        if main.contains("Access revoked") {
            ensure!(
                main.contains("No app can use your account"),
                "app gone: {main}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "revocation not confirmed: {main}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let info = client
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .map_err(|x| format!("introspect: {x:?}"))?;
    ensure!(!info.active(), "token still active after revoke");
    ensure!(me(access).await? == 401, "API still accepts the token");
    Ok(())
}

/// Runs `scenario` in a fresh headless Chromium, closing it afterwards
/// whatever happened; skips loudly (fails under `CI=true`) without one.
async fn in_chromium<F, Fut>(scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let (Some(chromium), Some(driver)) = (
        tool("CHROMIUM", "/usr/bin/chromium"),
        tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        let msg = "chromium/chromedriver not found: install Debian's `chromium` and \
                   `chromium-driver` (apt-get install -y chromium chromium-driver)";
        if in_ci {
            panic!("{msg}; CI=true, so this is a failure, not a skip");
        }
        // Written to the real stderr, not via eprintln!, which the test
        // harness captures and hides for passing tests.
        let bar = "!".repeat(70);
        let loud = format!("\n{bar}\n!!! SKIPPED browser test: {msg}\n{bar}\n\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), loud.as_bytes());
        return;
    };
    let (_driver, webdriver) = start_chromedriver(&driver).await;
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let c = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("WebDriver session");
    let result = scenario(c.clone()).await;
    // Always end the session so Chromium exits before chromedriver is killed.
    let closed = c.close().await;
    result.unwrap();
    closed.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signs_in_consents_and_revokes() {
    let server = Server::start().await;
    in_chromium(|c| {
        let server = &server;
        async move { flow(&c, server).await }
    })
    .await;
}

/// Signs in on the form the browser is on (the sign-in page).
async fn fill_sign_in(c: &Client) -> Result<(), String> {
    let user = c
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .map_err(e)?;
    user.send_keys("alice").await.map_err(e)?;
    let pw = c
        .find(Locator::Css("input[name=password]"))
        .await
        .map_err(e)?;
    pw.send_keys("alice-pass").await.map_err(e)?;
    c.find(Locator::Css("button[type=submit]"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)
}

/// The sign-in form is open in the browser when ~10,000 cookie-less
/// requests arrive; the user then signs in and consents all the same. The
/// session cookie the browser holds is host-only, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, and gone after sign-out.
async fn flood_then_finish(c: &Client, server: &Server) -> Result<(), String> {
    let (callback, _) = callback_server().await;
    let d = Discovered::fetch(server).await;
    let client = d.client(CLI_ID, None, &callback);
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    c.goto(url.as_str()).await.map_err(e)?;
    wait_for_url(c, &server.url("/login")).await?;
    wait_for(c, "input[name=username]").await?;
    let served = flood(server, 10_000).await;
    ensure!(served >= 9_000, "flood mostly served: {served}");
    fill_sign_in(c).await?;
    wait_for_url(c, &server.url("/oauth/consent")).await?;
    let session = c
        .get_named_cookie("latchkey_session")
        .await
        .map_err(|x| format!("session cookie: {x}"))?;
    ensure!(session.http_only() == Some(true), "HttpOnly: {session:?}");
    ensure!(
        format!("{:?}", session.same_site()) == "Some(Lax)",
        "SameSite=Lax: {session:?}"
    );
    ensure!(session.path() == Some("/"), "Path=/: {session:?}");
    ensure!(
        !session.domain().unwrap_or_default().starts_with('.'),
        "host-only, no Domain: {session:?}"
    );
    ensure!(
        session.expires().is_none(),
        "a browser-session cookie: {session:?}"
    );
    ensure!(
        !session.value().starts_with("p1."),
        "signed in: a stored session, not a pre-session"
    );
    let all = c.get_all_cookies().await.map_err(e)?;
    let named = all
        .iter()
        .filter(|k| k.name().contains("latchkey_session"))
        .count();
    ensure!(named == 1, "one session cookie: {all:?}");
    c.find(Locator::Css("button[name=decision][value=allow]"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    let landed = wait_for_url(c, &callback).await?;
    ensure!(query_param(&landed, "code").is_some(), "a code: {landed}");
    // Sign-out clears the cookie.
    c.goto(&server.url("/account/apps")).await.map_err(e)?;
    let out = wait_for(c, "form[action='/logout'] button").await?;
    out.click().await.map_err(e)?;
    wait_for_url(c, &server.url("/login")).await?;
    let left = c.get_all_cookies().await.map_err(e)?;
    ensure!(
        left.iter()
            .filter(|k| k.name() == "latchkey_session")
            .all(|k| k.value().starts_with("p1.")),
        "signed out: at most an anonymous pre-session is left: {left:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_survives_a_flood_and_its_cookie_is_hardened() {
    let server = Server::start().await;
    in_chromium(|c| {
        let server = &server;
        async move { flood_then_finish(&c, server).await }
    })
    .await;
}

/// What an app stored before today's rules could hold: a name that is one
/// right-to-left override and "Demo Web App" written backwards.
const RLO_NAME: &str = "\u{202E}ppA beW omeD";

fn rlo_app() -> latchkey::model::ClientRecord {
    use latchkey::model::{AuthMethod, GrantType, Visibility};
    let now = latchkey::clock::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    latchkey::model::ClientRecord {
        id: "rlo-app".into(),
        owner: "mallory".into(),
        created_by: None,
        access_token_format: None,
        name: RLO_NAME.into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: latchkey::ScopeSet::from_tokens(vec!["profile:read".to_owned()]).unwrap(),
        resources: vec![],
        served_resources: vec![],
        auth_method: AuthMethod::None,
        secret: None,
        visibility: Visibility::Unvetted,
        domains: vec![],
        lifetimes: Default::default(),
        registration: None,
        metadata_document: None,
        created_at: now,
        updated_at: now,
        revision: 0,
    }
}

/// Where each part of the consent heading is drawn, measured by Chromium.
const MEASURE: &str = r#"
const h = document.querySelector('h1');
const nodes = Array.from(h.childNodes);
const before = nodes[0], after = nodes[nodes.length - 1];
const bdi = h.querySelector('.app').getBoundingClientRect();
const at = (n, i) => { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1); return r.getBoundingClientRect().left; };
const a = after.textContent;
return { before: before.textContent, after: a, first: at(before, 0), last: at(before, before.textContent.length - 2),
  bdiLeft: bdi.left, bdiRight: bdi.right, t: at(after, a.indexOf('t')), q: at(after, a.lastIndexOf('?')),
  title: document.title };
"#;

/// The consent page of an app whose stored name carries a right-to-left
/// override: the heading still reads "Allow …" from the left, the words
/// after the name still read left to right, and the tab title isolates the
/// name; registering such a name today is refused.
async fn bidi_name_isolated(c: &Client, server: &Server) -> Result<(), String> {
    let (callback, _) = callback_server().await;
    let d = Discovered::fetch(server).await;
    let client = d.client("rlo-app", None, &callback);
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    c.goto(url.as_str()).await.map_err(e)?;
    wait_for_url(c, &server.url("/login")).await?;
    fill_sign_in(c).await?;
    wait_for_url(c, &server.url("/oauth/consent")).await?;
    wait_for(c, "h1 .app").await?;
    screenshot(c, "consent-bidi").await?;
    let m = c.execute(MEASURE, vec![]).await.map_err(e)?;
    let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    ensure!(
        m["before"] == "Allow ",
        "heading starts with the page's words: {m}"
    );
    // Compared as bools: a NaN (a missing measure) fails each check.
    let allow_reads_ltr = f("first") < f("last");
    let allow_first = f("first") < f("bdiLeft");
    let rest_follows = f("t") < f("q") && f("t") >= f("bdiRight") - 1.0;
    ensure!(allow_reads_ltr, "'Allow' reads left to right: {m}");
    ensure!(allow_first, "'Allow' is drawn before the name: {m}");
    ensure!(
        rest_follows,
        "the words after the name follow it, left to right: {m}"
    );
    let title = m["title"].as_str().unwrap_or_default();
    ensure!(
        title.starts_with("Allow \u{2068}\u{202E}") && title.contains("\u{2069} to use"),
        "title isolates the name: {title:?}"
    );
    // Registering such a name now is refused, as RFC 7591 §3.2.2 words it.
    let body = json!({
        "client_name": RLO_NAME,
        "redirect_uris": ["http://localhost:3000/cb"],
        "token_endpoint_auth_method": "none",
    });
    let r = plain_http()
        .post(server.url("/oauth/register"))
        .json(&body)
        .send()
        .await
        .map_err(e)?;
    ensure!(r.status() == 400, "refused: {}", r.status());
    let answer: serde_json::Value = r.json().await.map_err(e)?;
    ensure!(
        answer["error"] == "invalid_client_metadata"
            && answer["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains("U+202E"),
        "invalid_client_metadata naming the character: {answer}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_a_bidi_name_isolated() {
    let server = Server::start_with_stored(|c| c.open_registration = true, vec![rlo_app()]).await;
    in_chromium(|c| {
        let server = &server;
        async move { bidi_name_isolated(&c, server).await }
    })
    .await;
}
