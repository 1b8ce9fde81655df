//! actix-web integration (feature `actix-web`): the engine mounted in a
//! page of code, in actix-web 4's idioms. The twin of `latchkey::axum`;
//! both are thin glue over [`crate::web`].
//!
//! - [`HttpRequest`](crate::http::HttpRequest) is an extractor
//!   ([`FromRequest`](actix_web::FromRequest): bounded body, an oversized
//!   one is the engine's JSON 413) and [`HttpResponse`](crate::http::HttpResponse)
//!   a [`Responder`](actix_web::Responder), so any handler can call the
//!   engine directly ([`request`], [`response`]).
//! - [`service`] / [`OAuthService`] register the authorization, token,
//!   introspection and revocation endpoints, the consent page and decision
//!   and both well-known documents (RFC 8414, RFC 9728), given the host's
//!   [`SignIn`](crate::web::SignIn) hook; every browser step is
//!   [`BrowserFlow`](crate::web::flow::BrowserFlow)'s.
//! - [`BearerGuard`] protects resource routes, as middleware
//!   (`.wrap(guard)`, then `web::ReqData<TokenInfo>`) or through the
//!   [`Bearer`] extractor (RFC 6750, RFC 8707, RFC 9728 §5.1).
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{web, App, HttpServer};
//! use latchkey::introspect::TokenInfo;
//! use latchkey::web::{Session, SessionConfig, Sessions, SignIn};
//! use latchkey::{Engine, EngineConfig, Keyring, MemoryStore, Principal, ScopeRegistry};
//!
//! struct Users;
//!
//! #[async_trait::async_trait]
//! impl SignIn for Users {
//!     async fn principal(&self, session: &Session) -> Option<Principal> {
//!         let user = session.user.clone()?;
//!         Some(Principal { subject: user, account: "acme".into() })
//!     }
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let scopes = ScopeRegistry::new().register("profile:read", "Read your profile", &[]).unwrap();
//!     let config = EngineConfig::new("https://auth.example", scopes);
//!     let engine = Engine::new(Arc::new(MemoryStore::new()), config, Keyring::new(&[(1, [7; 32])]).unwrap());
//!     let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer("https://auth.example")));
//!     let guard = latchkey::actix_web::BearerGuard::new(&engine, "https://auth.example/api", &["profile:read"]);
//!     // Built once, cloned into each worker's app.
//!     let oauth = latchkey::actix_web::service(engine, sessions, Users);
//!     HttpServer::new(move || {
//!         App::new().service(oauth.clone()).service(
//!             web::resource("/api/me")
//!                 .wrap(guard.clone())
//!                 .to(|info: web::ReqData<TokenInfo>| async move { info.sub.clone() }),
//!         )
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//! ```

mod bearer;
pub mod request;
pub mod response;
mod service;

pub use crate::web::BearerGuard;
pub use bearer::{Bearer, BearerMiddleware};
pub use response::Rejection;
pub use service::{service, OAuthService};
