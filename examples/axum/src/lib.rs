//! Latchkey mounted in axum: a complete demo authorization server built
//! only from the library's public features.
//!
//! - [`wiring`]: the OAuth wiring: the library's router, browser sessions,
//!   the sign-in hook and page, the ready pages, the bearer guard and the
//!   maintenance tasks.
//! - The demo itself: [`users`], [`seed`] (built-in demo clients and
//!   `--clients FILE`), [`config`], [`store`] (redb, or SQL with the `sql`
//!   feature), the developer [`console`] and the [`demo`] client page.
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! use std::sync::Arc;
//! let config = latchkey_example_axum::config::Config::defaults();
//! let app = latchkey_example_axum::prepare(&config, Arc::new(latchkey::MemoryStore::new())).await?;
//! let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| e.to_string())?;
//! axum::serve(listener, latchkey_example_axum::router(app)).await.map_err(|e| e.to_string())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod console;
pub mod demo;
pub mod page;
pub mod seed;
pub mod store;
pub mod users;
pub mod wiring;

use std::sync::Arc;

use latchkey::keys::KeyDir;
use latchkey::storage::Storage;
use latchkey::ui::{Strings, Theme, Ui, UiPages};
use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
use latchkey::{Engine, EngineConfig};

use crate::config::{demo_scopes, Config};
use crate::users::Users;

pub use wiring::{maintenance, router, routes, with_middleware};

/// Everything a handler needs; shared as `Arc<App>`.
pub struct App {
    /// The engine, over whichever store was chosen.
    pub engine: Engine<dyn Storage>,
    /// Browser sessions, shared by the OAuth router and the demo's pages.
    pub sessions: Arc<Sessions>,
    /// The consent and error pages, and the renderer of the others.
    pub pages: UiPages,
    /// The demo users.
    pub users: Users,
    /// The demo API's resource identifier, `<issuer>/api`.
    pub resource: String,
    /// Whether the console may confirm domains on the operator's word.
    pub trust_domain_claims: bool,
    /// Whether the built-in demo clients were seeded (the `/demo` page).
    pub demo_clients: bool,
    /// One-time client secrets waiting for the console's next page view.
    pub reveal: console::Reveal,
    /// Demo-client flows in progress (state → PKCE verifier).
    pub demo_flows: demo::Flows,
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
    let engine = Engine::new(store.clone(), engine_config, keys);
    let mut regs = Vec::new();
    if config.demo_clients {
        regs.extend(seed::demo_clients(&config.issuer));
    }
    if let Some(path) = &config.clients_file {
        regs.extend(seed::load(path)?);
    }
    for reg in &mut regs {
        // Tokens are audience-bound: a client that names no resource gets
        // the demo API, the only resource this server protects.
        if reg.resources.is_empty() {
            reg.resources = vec![config.resource()];
        }
    }
    for s in seed::upsert_all(&engine, regs).await? {
        match s {
            seed::Seeded::Created {
                id,
                secret: Some(secret),
            }
            | seed::Seeded::Updated {
                id,
                secret: Some(secret),
            } => eprintln!(
                "seeded client {id}: generated secret (shown once): {}",
                secret.expose()
            ),
            seed::Seeded::Created { id, .. } => eprintln!("seeded client {id}: created"),
            seed::Seeded::Updated { id, .. } => eprintln!("seeded client {id}: updated"),
            seed::Seeded::Unchanged { id } => eprintln!("seeded client {id}: unchanged"),
        }
    }
    let theme = Theme {
        product_name: "Latchkey demo".into(),
        ..Theme::default()
    };
    Ok(Arc::new(App {
        // Sessions live in the engine's own storage, so several instances
        // on one database share them (no sticky sessions needed).
        sessions: Arc::new(Sessions::new(
            Arc::new(StorageSessionStore::new(store)),
            SessionConfig::for_issuer(&config.issuer),
        )),
        pages: UiPages {
            ui: Ui::new(theme, strings()),
            partial_approval: true,
            apps_url: Some("/account/apps".into()),
            // No "switch account": the link the consent page renders cannot
            // carry the challenge, so it could not keep the request.
            switch_account_url: None,
        },
        engine,
        users: Users::demo(&config.alice_password, &config.bob_password),
        resource: config.resource(),
        trust_domain_claims: config.trust_domain_claims,
        demo_clients: config.demo_clients,
        reveal: console::Reveal::default(),
        demo_flows: demo::Flows::default(),
    }))
}
