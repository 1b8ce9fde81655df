//! Shared test harness: a real server on an ephemeral loopback port with a
//! temporary data dir and seeded clients, plus a cookie-keeping "browser"
//! built on reqwest that can sign in and approve consent.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;

use latchkey_demo::config::Config;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, IntrospectionUrl, RedirectUrl,
    RevocationUrl, TokenUrl,
};
use serde_json::Value;
use tokio::net::TcpListener;

/// Confidential first-party web app (client_secret_basic), all scopes.
pub const WEB_ID: &str = "demo-web";
/// Its operator-provided secret (≥ 43 characters).
pub const WEB_SECRET: &str = "demo-web-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// Display name, with markup to prove escaping.
pub const WEB_NAME: &str = "Demo Web <b>&</b> Co";
/// Public native app (PKCE, no secret).
pub const CLI_ID: &str = "demo-cli";
/// A private app of another account: demo users may not authorize it.
pub const ACME_ID: &str = "acme-tool";
/// Registered redirect: loopback, so any port matches (RFC 8252 §7.3).
pub const REDIRECT: &str = "http://127.0.0.1/callback";

/// The seed file the tests use.
#[must_use]
pub fn seed_json() -> Value {
    serde_json::json!([
        {
            "id": WEB_ID, "owner": "demo", "name": WEB_NAME,
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["profile:read", "dns:read", "dns:edit", "zones:read", "offline_access"],
            "auth_method": "client_secret_basic", "visibility": "private",
            "secret": WEB_SECRET
        },
        {
            "id": CLI_ID, "owner": "demo", "name": "Demo CLI",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token", "device_code"],
            "scopes": ["profile:read", "offline_access"],
            "auth_method": "none"
        },
        {
            "id": ACME_ID, "owner": "acme", "name": "Acme internal tool",
            "redirect_uris": [REDIRECT],
            "scopes": ["profile:read"],
            "auth_method": "client_secret_post",
            "secret": "acme-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
        }
    ])
}

/// A running server. Dropping it stops the server task and removes the
/// data dir.
pub struct Server {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The data dir.
    pub dir: tempfile::TempDir,
    /// The server's state, shared with the running server: tests read its
    /// outbox (`app.engine.poll_events`) to see what was recorded.
    pub app: std::sync::Arc<latchkey_demo::App>,
    _running: crate::server::Running,
}

impl Server {
    /// A server with the seeded clients and default options.
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// A server that also has `/boom`, a route whose handler panics.
    pub async fn start_panicking() -> Server {
        Self::launch(|_| {}, true, vec![]).await
    }

    /// A server after `tweak` adjusted the config.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        Self::launch(tweak, false, vec![]).await
    }

    /// A server whose storage also holds `clients`, written straight into
    /// it before the server starts, past every registration rule (a record
    /// stored by an older version).
    pub async fn start_with_stored(
        tweak: impl FnOnce(&mut Config),
        clients: Vec<latchkey::model::ClientRecord>,
    ) -> Server {
        Self::launch(tweak, false, clients).await
    }

    async fn launch(
        tweak: impl FnOnce(&mut Config),
        boom: bool,
        stored: Vec<latchkey::model::ClientRecord>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let clients = dir.path().join("clients.json");
        std::fs::write(&clients, seed_json().to_string()).expect("write seed");
        let mut config = Config::defaults();
        config.addr = addr;
        config.issuer = base.clone();
        config.data_dir = dir.path().join("data");
        config.clients_file = Some(clients);
        tweak(&mut config);
        latchkey::keys::KeyDir::open(&config.data_dir).expect("data dir");
        let store = latchkey_demo::store::open_redb(&config.data_dir).expect("redb");
        for c in &stored {
            use latchkey::storage::ClientStore as _;
            store.insert_client(c, &[]).await.expect("stored client");
        }
        let app = latchkey_demo::prepare(&config, store)
            .await
            .expect("prepare");
        let running = crate::server::serve(
            app.clone(),
            listener.into_std().expect("std listener"),
            boom,
        );
        Server {
            base,
            addr,
            dir,
            app,
            _running: running,
        }
    }

    /// `base` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Sends `n` cookie-less `GET /login` to `server`, 64 at a time, from
/// 40 loopback addresses other than 127.0.0.1 (so the per-address rate
/// limit lets most through, and the user at 127.0.0.1 is not limited by
/// them); returns how many were answered `200`.
pub async fn flood(server: &Server, n: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let sources: Arc<Vec<reqwest::Client>> = Arc::new(
        (2..42)
            .map(|i| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .local_address(std::net::IpAddr::from([127, 0, 0, i]))
                    .build()
                    .expect("client")
            })
            .collect(),
    );
    let (sent, ok) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = server.url("/login");
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (sources, sent, ok, url) = (sources.clone(), sent.clone(), ok.clone(), url.clone());
        workers.spawn(async move {
            loop {
                let i = sent.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let from = &sources[i % sources.len()];
                if let Ok(r) = from.get(&url).send().await {
                    if r.status() == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    ok.load(Ordering::Relaxed)
}

/// An HTTP client that never follows redirects (the tests look at them,
/// and oauth2 requires it to avoid SSRF).
#[must_use]
pub fn plain_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A client that keeps cookies like a browser, but does not follow
/// redirects so each hop can be checked.
#[must_use]
pub fn browser_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Endpoints discovered from RFC 8414 metadata.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Full metadata document.
    pub meta: Value,
}

impl Discovered {
    /// Fetches `/.well-known/oauth-authorization-server`.
    pub async fn fetch(server: &Server) -> Discovered {
        let meta: Value = plain_http()
            .get(server.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("metadata json");
        assert_eq!(meta["issuer"], server.base.as_str());
        Discovered { meta }
    }

    /// Metadata member `k`, a string.
    pub fn s(&self, k: &str) -> String {
        self.meta[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}"))
            .to_owned()
    }

    /// An oauth2 client for `id` (with `secret` when confidential).
    #[must_use]
    pub fn client(&self, id: &str, secret: Option<&str>, redirect: &str) -> OAuthClient {
        let mut c = BasicClient::new(ClientId::new(id.into()))
            .set_auth_uri(AuthUrl::new(self.s("authorization_endpoint")).unwrap())
            .set_token_uri(TokenUrl::new(self.s("token_endpoint")).unwrap())
            .set_introspection_url(IntrospectionUrl::new(self.s("introspection_endpoint")).unwrap())
            .set_revocation_url(
                RevocationUrl::new(as_https(&self.s("revocation_endpoint"))).unwrap(),
            )
            .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
        if let Some(s) = secret {
            c = c.set_client_secret(ClientSecret::new(s.into()));
        }
        c
    }
}

/// oauth2 refuses to revoke over anything but `https` (RFC 7009 §2 says
/// clients must check that). The test server is plain HTTP on loopback, so
/// the revocation URL is given to oauth2 as `https` and [`loopback_https`]
/// sends that one request over plain HTTP: everything oauth2 builds and
/// parses stays as it is.
fn as_https(url: &str) -> String {
    url.replacen("http://127.0.0.1:", "https://127.0.0.1:", 1)
}

/// An oauth2 HTTP client that sends `https://127.0.0.1:…` requests over
/// plain HTTP (see [`as_https`]); anything else goes out unchanged.
pub async fn loopback_https(
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, oauth2::HttpClientError<reqwest::Error>> {
    use oauth2::AsyncHttpClient as _;
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.to_string();
    if let Some(rest) = uri.strip_prefix("https://127.0.0.1:") {
        parts.uri = format!("http://127.0.0.1:{rest}").parse().expect("uri");
    }
    let http = plain_http();
    http.call(oauth2::http::Request::from_parts(parts, body))
        .await
}

/// oauth2's client with authorization, introspection, revocation and token
/// endpoints set.
pub type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// The value of hidden field `name` in `html`.
#[must_use]
pub fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name} in page:\n{html}"))
        + needle.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

/// The values of the ticked `scope` checkboxes of a consent page (partial
/// approval: the decision carries the permissions the user left ticked).
#[must_use]
pub fn ticked_scopes(html: &str) -> Vec<String> {
    let needle = "name=\"scope\" value=\"";
    html.match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            let value = &rest[..rest.find('"')?];
            let tag_end = rest.find('>')?;
            rest[..tag_end]
                .contains("checked")
                .then(|| value.to_owned())
        })
        .collect()
}

/// The `Location` of a redirect response, made absolute against `base`.
#[must_use]
pub fn location(resp: &reqwest::Response, base: &str) -> String {
    assert!(
        resp.status().is_redirection(),
        "expected a redirect, got {}",
        resp.status()
    );
    let l = resp.headers()["location"].to_str().unwrap().to_owned();
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l
    }
}

/// A query parameter of `url`.
#[must_use]
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).expect("url");
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in as `user` through the login form (starting from `/login`
/// with an optional `next`), leaving the session cookie in `http`.
pub async fn sign_in(http: &reqwest::Client, server: &Server, user: &str, password: &str) {
    let page = http
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let r = http
        .post(server.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in as {user} failed");
}

/// Follows an authorization URL as a browser would: signs in if asked,
/// then answers the consent page with `decision` (`allow`/`deny`) and
/// `remember`. Returns the final redirect to the client.
pub async fn authorize(
    http: &reqwest::Client,
    server: &Server,
    auth_url: &str,
    user: (&str, &str),
    decision: &str,
    remember: bool,
) -> String {
    let r = http.get(auth_url).send().await.unwrap();
    let page = if r.status() == 200 {
        // Already signed in: the consent page comes straight back.
        r.text().await.unwrap()
    } else {
        let mut at = location(&r, &server.base);
        if at.starts_with(&server.url("/login")) {
            let page = http.get(&at).send().await.unwrap().text().await.unwrap();
            at = submit_sign_in(http, server, &page, user).await;
        }
        if !at.starts_with(&server.url("/oauth/consent")) {
            return at; // remembered consent or an error redirect
        }
        let r = http.get(&at).send().await.unwrap();
        if r.status().is_redirection() {
            return location(&r, &server.base);
        }
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    submit_consent(http, server, &page, decision, remember).await
}

/// Posts the sign-in form of `page` (its token and `next`) as `user`;
/// returns where the server sends the browser.
pub async fn submit_sign_in(
    http: &reqwest::Client,
    server: &Server,
    page: &str,
    user: (&str, &str),
) -> String {
    let form = [
        ("csrf", hidden(page, "csrf")),
        ("next", hidden(page, "next")),
        ("username", user.0.to_owned()),
        ("password", user.1.to_owned()),
    ];
    let r = http
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    location(&r, &server.base)
}

/// Answers the consent `page` with `decision`, `remember` and the ticked
/// scopes; returns the redirect to the client.
pub async fn submit_consent(
    http: &reqwest::Client,
    server: &Server,
    page: &str,
    decision: &str,
    remember: bool,
) -> String {
    let mut form = vec![
        ("csrf", hidden(page, "csrf")),
        ("challenge", hidden(page, "challenge")),
        ("decision", decision.to_owned()),
    ];
    if remember {
        form.push(("remember", "on".to_owned()));
    }
    for s in ticked_scopes(page) {
        form.push(("scope", s));
    }
    let r = http
        .post(server.url("/oauth/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    location(&r, &server.base)
}

/// A database of its own on the test PostgreSQL server
/// (`LATCHKEY_TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`).
#[cfg(feature = "sql")]
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin: latchkey_demo::store::sqlx::PgConnection,
}

#[cfg(feature = "sql")]
impl PgDatabase {
    /// A fresh database named `prefix` + this process's id, or `None` (the
    /// test skips, loudly) when PostgreSQL is unreachable outside CI.
    pub async fn create(prefix: &str) -> Option<PgDatabase> {
        use latchkey_demo::store::sqlx::{self, Connection as _};
        let base = std::env::var("LATCHKEY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut admin = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL unreachable under CI: {e}")
            }
            Err(e) => {
                eprintln!("\n!!! SKIPPED: PostgreSQL unreachable at {base}: {e}\n");
                return None;
            }
        };
        let name = format!("{prefix}_{}", std::process::id());
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        }
        let (server, _) = base.rsplit_once('/').expect("a database URL");
        Some(PgDatabase {
            url: format!("{server}/{name}"),
            name,
            admin,
        })
    }

    /// Drops it, whoever is still connected.
    pub async fn drop_now(mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = latchkey_demo::store::sqlx::raw_sql(&sql)
            .execute(&mut self.admin)
            .await;
    }
}
