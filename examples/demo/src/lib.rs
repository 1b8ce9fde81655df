//! The demo around the Latchkey examples, written once for both
//! frameworks: `examples/axum` and `examples/actix` each mount it with their
//! framework's integration and add nothing but the glue.
//!
//! Everything OAuth is the library's: the engine, browser sessions, the
//! ready account pages ([`latchkey::ui::AccountPages`]), the consent flow,
//! the maintenance tasks. What is here is the demo itself: [`users`],
//! [`seed`] (built-in demo clients and `--clients FILE`), [`config`],
//! [`store`] (redb, or SQL with the `sql` feature), the developer
//! [`console`] and the [`demo`] client page, all served as framework-free
//! [`Route`]s.
#![forbid(unsafe_code)]

pub mod config;
pub mod console;
pub mod demo;
pub mod page;
pub mod seed;
pub mod store;
pub mod users;

use latchkey::domains::{AnyOf, DnsTxtVerifier, DomainVerifier, RecheckPolicy, WellKnownVerifier};
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine as _;
use latchkey::cimd::{HttpsFetcher, MetadataDocumentConfig};
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::introspect::TokenInfo;
use latchkey::keys::KeyDir;
use latchkey::maintenance::{Maintenance, MaintenanceConfig, MaintenanceHandle};
use latchkey::metadata::ProtectedResourceMetadata;
use latchkey::model::GrantType;
use latchkey::registration::RegistrationConfig;
use latchkey::storage::Storage;
use latchkey::ui::{AccountPages, NavLink, Strings, Theme, Ui, UiPages};
use latchkey::web::routes::Route;
use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
use latchkey::{Engine, EngineConfig};

use crate::config::{demo_scopes, Command, Config};
use crate::users::Users;

/// Scope `/api/me` requires.
pub const ME_SCOPE: &str = "profile:read";

/// The account pages over the demo's users.
pub type Account = AccountPages<dyn Storage, Users>;

/// Everything a handler needs; shared as `Arc<App>`.
pub struct App {
    /// The engine, over whichever store was chosen.
    pub engine: Engine<dyn Storage>,
    /// Browser sessions, shared by the OAuth routes and every page.
    pub sessions: Arc<Sessions>,
    /// The consent and error pages of the OAuth flow.
    pub pages: UiPages,
    /// Sign-in, sign-out and connected apps (the library's).
    pub account: Arc<Account>,
    /// The demo users (the sign-in hook and credential check).
    pub users: Users,
    /// The demo API's resource identifier, `<issuer>/api`.
    pub resource: String,
    /// Whether operators may confirm domains on their word.
    pub trust_domain_claims: bool,
    /// Users who may (with `trust_domain_claims`).
    pub operators: Vec<String>,
    /// Checks domains: DNS TXT, then the HTTPS well-known file.
    pub domain_verifier: Arc<dyn DomainVerifier>,
    /// Whether the built-in demo clients were seeded (the `/demo` page).
    pub demo_clients: bool,
    /// One-time client secrets waiting for the console's next page view.
    pub reveal: console::Reveal,
    /// Demo-client flows in progress (state → PKCE verifier).
    pub demo_flows: demo::Flows,
    /// Whether the OAuth routes apply the default rate limits
    /// ([`config::Config::rate_limits`]).
    pub rate_limits: bool,
}

impl App {
    /// The page renderer.
    #[must_use]
    pub fn ui(&self) -> &Ui {
        &self.pages.ui
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.engine.config().issuer
    }

    /// The demo API's RFC 9728 document.
    #[must_use]
    pub fn api_metadata(&self) -> ProtectedResourceMetadata {
        let mut api =
            ProtectedResourceMetadata::new(&self.resource, self.engine.config(), &[ME_SCOPE]);
        api.resource_name = Some("Latchkey demo API".into());
        api
    }
}

/// English, with the demo API's scope groups named.
fn strings() -> Strings {
    let mut s = Strings::english();
    for (key, title) in [
        ("dns", "DNS records"),
        ("zones", "Zones"),
        ("profile", "Your profile"),
    ] {
        s.group_titles.insert(key.into(), title.into());
    }
    s
}

/// Prepares a server over `store` as `config` says: loads or creates the
/// server key in the data directory, builds the engine with the demo scopes
/// and users, and upserts the built-in demo clients and the `--clients`
/// file. Prints generated client secrets to stderr (the only time they exist
/// in the clear).
///
/// # Errors
/// A message saying what failed.
pub async fn prepare(config: &Config, store: Arc<dyn Storage>) -> Result<Arc<App>, String> {
    let keys = KeyDir::open(&config.data_dir)
        .and_then(|d| d.load_or_create())
        .and_then(|k| k.keyring())
        .map_err(|e| format!("server key: {e}"))?;
    let mut engine_config = EngineConfig::new(&config.issuer, demo_scopes());
    config.lifetimes.apply(&mut engine_config);
    // Command-line tools sign in through the code-entry page at /device.
    engine_config.grant_types.push(GrantType::DeviceCode);
    // A request without `scope` gets the least one (RFC 6749 §3.3 lets the
    // server pick a default); MCP clients omit it when the resource names
    // none, and the MCP conformance suite's code-grant scenario does too.
    engine_config.default_scopes =
        Some(latchkey::ScopeSet::parse(ME_SCOPE).map_err(|e| format!("default scope: {e}"))?);
    if config.open_registration {
        // Agents (MCP clients) register themselves for any demo scope and
        // for the resources this server issues tokens for; the quota and
        // the lifetime of unused registrations are the library's defaults.
        let scopes = latchkey::ScopeSet::from_tokens(demo_scopes().names())
            .map_err(|e| format!("registration scopes: {e}"))?;
        engine_config.registration = Some(RegistrationConfig::open(
            scopes,
            config.registration_resources(),
        ));
    }
    if config.client_metadata_documents {
        // Agents (MCP clients) whose client id is the URL of their metadata
        // document: the same scopes and resources as self-registered ones.
        let scopes = latchkey::ScopeSet::from_tokens(demo_scopes().names())
            .map_err(|e| format!("metadata document scopes: {e}"))?;
        engine_config.client_id_metadata_documents = Some(MetadataDocumentConfig::new(
            Arc::new(metadata_fetcher(config)?),
            scopes,
            config.registration_resources(),
        ));
    }
    let engine = Engine::new(store.clone(), engine_config, keys);
    seed::seed(&engine, config).await?;
    let ui = Ui::new(
        Theme {
            product_name: "Latchkey demo".into(),
            ..Theme::default()
        },
        strings(),
    );
    // Sessions live in the engine's own storage, so several instances on
    // one database share them (no sticky sessions needed).
    // Anonymous pre-sessions are signed with the server keys, which every
    // instance on the data dir shares.
    let sessions = Arc::new(
        Sessions::new(
            Arc::new(StorageSessionStore::new(store)),
            SessionConfig::for_issuer(&config.issuer),
        )
        .with_keys(engine.keyring()),
    );
    let users =
        Users::demo(&config.alice_password, &config.bob_password).with_viewers(&config.viewers);
    let link = |href: &str, label: &str| NavLink {
        href: href.into(),
        label: label.into(),
    };
    let account = AccountPages::new(
        engine.clone(),
        sessions.clone(),
        Arc::new(users.clone()),
        ui.clone(),
    )
    .nav_links([
        link("/console", "Developer console"),
        link("/demo", "Demo client"),
    ]);
    Ok(Arc::new(App {
        pages: UiPages {
            ui,
            partial_approval: true,
            apps_url: Some(account.account_paths().apps.clone()),
            switch_account: true,
        },
        account: Arc::new(account),
        sessions,
        engine,
        users,
        resource: config.resource(),
        trust_domain_claims: config.trust_domain_claims,
        operators: config.operators.clone(),
        domain_verifier: domain_verifier(config.dns_server),
        demo_clients: config.demo_clients,
        reveal: console::Reveal::default(),
        demo_flows: demo::Flows::default(),
        rate_limits: config.rate_limits,
    }))
}

/// The metadata document fetcher: the library's guarded one, plus the
/// test-only loopback allowance and extra root certificate if asked.
fn metadata_fetcher(config: &Config) -> Result<HttpsFetcher, String> {
    let mut b = HttpsFetcher::builder();
    if config.cimd_allow_loopback_for_tests {
        b = b.allow_loopback_for_tests();
    }
    if let Some(path) = &config.cimd_extra_root_cert {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--cimd-extra-root-cert {}: {e}", path.display()))?;
        for der in certificates_der(&bytes)
            .map_err(|e| format!("--cimd-extra-root-cert {}: {e}", path.display()))?
        {
            b = b.add_root_certificate_der(&der);
        }
    }
    b.build()
        .map_err(|e| format!("metadata document fetcher: {e}"))
}

/// The certificates in `bytes`: each `CERTIFICATE` block of a PEM file, or
/// the whole of a DER one.
fn certificates_der(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Some(text) = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.trim_start().starts_with("-----BEGIN"))
    else {
        return Ok(vec![bytes.to_vec()]);
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or("a PEM certificate block has no END line")?;
        let b64: String = body[..end].split_whitespace().collect();
        out.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "a PEM certificate block is not valid base64")?,
        );
        rest = &body[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no CERTIFICATE block in the PEM file".into());
    }
    Ok(out)
}

type Pending = Pin<Box<dyn Future<Output = HttpResponse> + Send>>;

/// `handler` at `path` for `method` (`GET` also answers `HEAD`), given
/// the app; other methods get [`no_route`]'s 405.
pub(crate) fn page_route(
    app: &Arc<App>,
    method: &'static str,
    path: &str,
    handler: fn(Arc<App>, HttpRequest) -> Pending,
) -> Route {
    let app = app.clone();
    Route::page(path, move |req: HttpRequest| {
        let app = app.clone();
        async move {
            let ok = req.method == method || (method == "GET" && req.method == "HEAD");
            if !ok {
                let mut r = no_route(&app, &req, 405).await;
                r.headers.push(("Allow".into(), method.into()));
                return r;
            }
            handler(app, req).await
        }
    })
}

/// The process's Prometheus recorder, installed once (tests run several
/// servers in one process; they share it).
fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (by the host) keeps its place;
        // this page then shows what this one saw: nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics`: the library's counters and histograms in Prometheus'
/// text format (`latchkey::observe` lists them). Open in this demo; a real
/// host serves it to its scraper only.
async fn metrics_page(_: Arc<App>, _: HttpRequest) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![(
            "Content-Type".into(),
            "text/plain; version=0.0.4; charset=utf-8".into(),
        )],
        body: prometheus().render().into_bytes(),
    }
}

/// The demo's pages, to mount with the OAuth routes: home, the account
/// pages, the developer console, the demo client and `/metrics`.
#[must_use]
pub fn routes(app: &Arc<App>) -> Vec<Route> {
    prometheus();
    let mut r = vec![
        page_route(app, "GET", "/", |app, req| {
            Box::pin(console::home(app, req))
        }),
        page_route(app, "GET", "/metrics", |app, req| {
            Box::pin(metrics_page(app, req))
        }),
    ];
    r.extend(app.account.routes());
    r.extend(console::routes(app));
    r.extend(demo::routes(app));
    r
}

/// `GET /api/me`'s answer: who the bearer token speaks for (the
/// framework's bearer guard checked it).
#[must_use]
pub fn me(info: &TokenInfo) -> HttpResponse {
    let body =
        serde_json::json!({ "sub": info.sub, "scope": info.scope, "client_id": info.client_id });
    HttpResponse::json(200, body.to_string().into_bytes())
}

/// What a request no route takes gets: machines (OAuth, the API, metadata)
/// JSON, people a page (with the navigation when signed in).
pub async fn no_route(app: &App, req: &HttpRequest, status: u16) -> HttpResponse {
    let title = if status == 405 {
        "Method not allowed"
    } else {
        "Not found"
    };
    let path = req.path.as_str();
    if path.starts_with("/oauth/") || path.starts_with("/api/") || path.starts_with("/.well-known/")
    {
        let code = if status == 404 {
            "not_found"
        } else {
            "invalid_request"
        };
        let body = serde_json::json!({ "error": code, "error_description": title.to_lowercase() });
        return HttpResponse::json(status, body.to_string().into_bytes());
    }
    let s = app.sessions.load(req).await.ok().flatten();
    let msg = "There is no page here that takes this request.";
    app.account.error(status, title, msg, s.as_ref())
}

/// The console's domain check: the DNS TXT record (on `dns_server`, or
/// the system's nameservers), then the HTTPS well-known file through the
/// SSRF-guarded fetcher. Without a usable DNS configuration, the file
/// alone.
fn domain_verifier(dns_server: Option<std::net::SocketAddr>) -> Arc<dyn DomainVerifier> {
    let mut methods: Vec<Arc<dyn DomainVerifier>> = Vec::new();
    let mut dns = DnsTxtVerifier::builder();
    if let Some(s) = dns_server {
        dns = dns.nameservers(vec![s]);
    }
    match dns.build() {
        Ok(v) => methods.push(Arc::new(v)),
        Err(e) => eprintln!("DNS TXT domain checks are off: {e}"),
    }
    match HttpsFetcher::new() {
        Ok(f) => methods.push(Arc::new(WellKnownVerifier::new(f))),
        Err(e) => eprintln!("HTTPS domain checks are off: {e}"),
    }
    Arc::new(AnyOf(methods))
}

/// Purging, re-checking verified domains daily, and an outbox consumer
/// that logs each event's kind (never a token: events carry ids only).
pub fn maintenance(app: &App) -> MaintenanceHandle {
    Maintenance::new(app.engine.clone(), MaintenanceConfig::default())
        .sessions(app.sessions.clone())
        .domain_rechecks(app.domain_verifier.clone(), RecheckPolicy::default())
        .consumer(
            "example-log",
            |events: Vec<latchkey::model::Event>| async move {
                for e in events {
                    let kind = serde_json::to_value(&e.kind).ok();
                    let kind = kind
                        .as_ref()
                        .and_then(|k| k["type"].as_str())
                        .unwrap_or("?");
                    eprintln!("outbox event {}: {kind}", e.seq);
                }
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .spawn()
}

/// An example's `main`, around its framework's server: parses the flags,
/// opens the storage, prepares the app, binds, prints the banner, runs the
/// maintenance tasks while `serve` serves (until it returns, on Ctrl-C),
/// then stops them.
pub async fn main<F, Fut>(serve: F) -> ExitCode
where
    F: FnOnce(Arc<App>, TcpListener) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let cmd = config::parse(std::env::args().skip(1), |k| std::env::var(k).ok());
    let config = match cmd {
        Ok(Command::Serve(c)) => *c,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The library's spans and signals (`LATCHKEY_LOG=debug` for more).
    let level = std::env::var("LATCHKEY_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
    let run = async {
        // The key directory is the data directory: creating it (mode 0700)
        // comes first, as the redb file lives there too.
        KeyDir::open(&config.data_dir)
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let opened = store::open(&config.data_dir, config.database_url.as_deref()).await?;
        let app = prepare(&config, opened.store).await?;
        let listener = TcpListener::bind(config.addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("listening on {}: {e}", config.addr))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        config::banner(&config, addr, &opened.description);
        let tasks = maintenance(&app);
        let served = serve(app, listener).await.map_err(|e| e.to_string());
        let report = tasks.shutdown().await;
        eprintln!("stopped; maintenance: {report:?}");
        served
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_certificates_are_read_from_pem_or_der() {
        let der = [0x30, 0x03, 1, 2, 3];
        assert_eq!(certificates_der(&der).unwrap(), vec![der.to_vec()]);
        let pem = "\n-----BEGIN CERTIFICATE-----\nMAMB\nAgM=\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nMAMBAgM=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            certificates_der(pem.as_bytes()).unwrap(),
            vec![der.to_vec(), der.to_vec()]
        );
        for bad in [
            "-----BEGIN CERTIFICATE-----\nMAMBAgM=\n",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nMAMBAgM=\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(certificates_der(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn metadata_documents_are_advertised_only_when_turned_on() {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-demo-cimd-{}-{}",
            std::process::id(),
            line!()
        ));
        let mut config = Config::defaults();
        config.data_dir = dir.clone();
        for on in [false, true] {
            config.client_metadata_documents = on;
            let store: Arc<dyn Storage> = Arc::new(latchkey::MemoryStore::new());
            let app = prepare(&config, store).await.unwrap();
            let m = app.engine.metadata();
            assert_eq!(
                m.get("client_id_metadata_document_supported"),
                on.then_some(&serde_json::Value::Bool(true)),
                "{m}"
            );
        }
        config.cimd_extra_root_cert = Some(dir.join("missing.pem"));
        let e = prepare(&config, Arc::new(latchkey::MemoryStore::new()))
            .await
            .err()
            .unwrap();
        assert!(e.contains("--cimd-extra-root-cert"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
