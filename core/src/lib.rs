//! # Latchkey
//!
//! An embeddable OAuth 2.1 authorization-server engine: clients, consent,
//! authorization codes with PKCE, refresh-token families with rotation,
//! reuse detection and coalescing, introspection, revocation, metadata and a
//! lossless event outbox, behind storage traits.
//!
//! The crate is HTTP- and runtime-agnostic; storage is injected. It opens no
//! socket and depends on no web framework or async runtime: each endpoint is
//! an async function from a plain [`http::HttpRequest`] to a plain
//! [`http::HttpResponse`] (or, for the authorization endpoint, an
//! [`authorize::AuthorizeOutcome`] the host acts on), awaiting only the
//! [`storage::Storage`] it was given. Clock and randomness are injected too.
//!
//! # What the host must do
//!
//! - Persist the server [`Keyring`] (and keep retired key ids when rotating);
//!   [`keys::KeyDir`] does it in a directory, with the rotation recipe.
//! - Bind every login/consent challenge to the user agent (the `binding`
//!   argument of [`Engine::authorize`]) and carry it across sign-in.
//! - Put CSRF tokens on its sign-in and consent forms, forbid framing of the
//!   consent page, and escape every string an app controls.
//!
//! [`web`] does those three for any framework (sessions, binding, CSRF,
//! safe pages); the `axum` and `actix-web` features mount the whole
//! browser flow.
//! - Call [`Engine::purge_expired`] on an interval, and consume the outbox
//!   ([`Engine::poll_events`], then [`Engine::ack_events`]); with the
//!   `tokio` feature, `maintenance::Maintenance` runs both as background
//!   tasks.
//!
//! # Device authorization grant (RFC 8628)
//!
//! For devices without a browser or keyboard. Off by default: add
//! [`model::GrantType::DeviceCode`] to [`EngineConfig::grant_types`] and to
//! the client's grant types (DCR clients ask for
//! `urn:ietf:params:oauth:grant-type:device_code`). Then the metadata
//! advertises `device_authorization_endpoint`, and the route table mounts
//! it and the code-entry page ([`config::Endpoints::device_verification`]).
//!
//! - The device posts to [`Engine::device_authorization`] and shows the user
//!   code (`WDJB-MJHT`: consonants only) and `verification_uri`.
//! - The user types the code at the verification page
//!   ([`web::flow::BrowserFlow::device`]: CSRF-checked, wrong codes
//!   throttled per session and overall), signs in, and decides on the same
//!   consent page as every other grant; consent is always asked, never
//!   remembered (RFC 8628 §5.4).
//! - The device polls the token endpoint ([`grant::device_code`]) and gets
//!   `authorization_pending`, `slow_down` (the interval then grows by 5 s),
//!   `expired_token` or `access_denied` until the tokens, exactly once.
//!
//! Device codes and user codes are stored only as keyed hashes
//! ([`storage::DeviceStore`]); [`config::EngineConfig::device_code_ttl`] and
//! [`config::EngineConfig::device_poll_interval`] set their lifetime (600 s)
//! and the interval (5 s).
//!
//! # Clients met for the first time
//!
//! Off unless configured: dynamic registration ([`registration`], RFC
//! 7591/7592) and Client ID Metadata Documents ([`cimd`]: an `https` URL
//! as `client_id`, fetched through the host's fetcher; the `cimd-fetch`
//! feature brings an SSRF-guarded one).
//!
//! # JWT access tokens (RFC 9068)
//!
//! Off by default: set [`EngineConfig::jwt`] to a [`jwt::JwtConfig`]
//! (EdDSA or ES256; [`jwt::JwtResources`] names the resources whose tokens
//! are JWTs). The metadata then advertises `jwks_uri`
//! ([`config::Endpoints::jwks`]) and the route table serves the JWK Set
//! there with `Cache-Control: max-age` ([`jwt::JwtConfig::jwks_max_age`]).
//!
//! - Signing keys live in storage ([`storage::SigningKeyStore`]), sealed
//!   under the server [`Keyring`], so every instance signs with and
//!   publishes the same keys. The first token request makes the first key.
//! - Rotate with [`Engine::rotate_signing_key`] on a schedule (or
//!   `MaintenanceConfig::signing_key_rotation` with the `tokio` feature):
//!   a new key is published a JWKS cache lifetime before it signs, and the
//!   old one stays published until every token it signed has expired.
//! - [`Engine::verify_bearer`] and [`web::BearerGuard`] verify JWTs
//!   locally and trust them until they expire, even if revoked meanwhile:
//!   keep JWT lifetimes short ([`jwt::JwtConfig::max_lifetime`]).
//!   Introspection reads the stored record and reports revocation.
//!
//! ```
//! # use latchkey::{EngineConfig, ScopeRegistry};
//! let mut config = EngineConfig::new("https://auth.example", ScopeRegistry::new());
//! let mut jwt = latchkey::jwt::JwtConfig::default();
//! jwt.resources = latchkey::jwt::JwtResources::Only(vec!["https://api.example/".into()]);
//! config.jwt = Some(jwt);
//! ```
//!
//! # Non-features
//!
//! No implicit grant, no password grant, no `plain` PKCE, no credentials in
//! URLs, no redirect-URI wildcards (OAuth 2.1, RFC 9700).
//!
//! ```
//! use std::sync::Arc;
//! use latchkey::{Acting, Engine, EngineConfig, Keyring, ScopeRegistry, MemoryStore, Role, Source};
//! use latchkey::clients::ClientRegistration;
//! use latchkey::entropy::SystemEntropy;
//!
//! # tokio_test();
//! # fn tokio_test() { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let scopes = ScopeRegistry::new().register("profile:read", "Read your profile", &[]).unwrap();
//! let config = EngineConfig::new("https://auth.example", scopes);
//! let keys = Keyring::generate(&SystemEntropy::new()).unwrap();
//! let engine = Engine::new(Arc::new(MemoryStore::new()), config, keys);
//! // A developer of account "acme", signed in to the host's console: the
//! // engine checks the role and records who did it on the event.
//! let dev = Acting::member("dev@acme", "acme", Role::Developer, Source::default());
//! let app = engine.register_client(&dev, ClientRegistration {
//!     owner: "acme".into(),
//!     name: "Acme CLI".into(),
//!     redirect_uris: vec!["http://127.0.0.1/callback".into()],
//!     scopes: vec!["profile:read".into()],
//!     ..Default::default()
//! }).await.unwrap();
//! assert!(app.secret.is_some()); // shown once, stored only as a keyed hash
//! # }) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "actix-web")]
pub mod actix_web;
pub mod audit;
pub mod authorize;
#[cfg(feature = "axum")]
pub mod axum;
pub mod cimd;
pub mod client_auth;
pub mod clients;
pub mod clock;
pub mod config;
pub mod connected_apps;
pub mod device;
pub mod display;
pub mod domains;
pub mod engine;
pub mod entropy;
pub mod error;
pub mod grant;
pub mod http;
pub mod introspect;
pub mod jwt;
pub mod keys;
pub mod limits;
#[cfg(feature = "tokio")]
pub mod maintenance;
pub mod manage_error;
pub mod metadata;
pub mod model;
pub mod observe;
pub mod pkce;
pub mod redirect;
pub mod registration;
mod retry;
pub mod revoke;
pub mod scope;
pub mod storage;
pub mod token;
#[cfg(feature = "ui")]
pub mod ui;
pub mod web;

#[cfg(any(feature = "conformance", test))]
pub mod conformance;

/// The README's Rust blocks, compiled as doctests so they cannot rot
/// (`cargo test --all-features`: the blocks use the framework features).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "actix-web",
    feature = "ui",
    feature = "tokio"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use audit::{Acting, Actor, Audit, Role, Source};
pub use authorize::{AuthorizeOutcome, ConsentDecision, ConsentPrompt, Principal};
pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{Error, Result};
pub use manage_error::ManageError;
pub use scope::{ScopeRegistry, ScopeSet};
pub use storage::MemoryStore;
pub use token::{Keyring, Secret};
