//! Browser sessions and safe pages, without any web framework: what every
//! host needs around the authorization endpoint.
//!
//! - [`Sessions`]: a session cookie (`HttpOnly; SameSite=Lax; Path=/`,
//!   `Secure` and the `__Host-` prefix under https) naming a record in a
//!   [`SessionStore`]; id rotation at sign-in; idle timeout and absolute
//!   lifetime; a flash message. An anonymous visitor's session is a
//!   signed pre-session in the cookie, stored nowhere until sign-in.
//! - CSRF tokens ([`CsrfToken`]), one per session, and one per consent
//!   challenge derived from it ([`Session::consent_csrf`]).
//! - The user-agent binding ([`Session::binding`]) that
//!   [`crate::Engine::authorize`] ties consent challenges to: set on the
//!   first visit, carried across sign-in, never shared between users.
//! - [`safe_next`]: the open-redirect guard for `next` parameters.
//! - [`SignIn`]: the hook through which the host says who is signed in.
//! - [`page`]: escaping, security headers and a minimal consent form.
//! - [`flow::BrowserFlow`]: the whole browser side of the authorization
//!   endpoint, and [`routes`]: every OAuth route and what it serves.
//! - [`BearerGuard`]: the bearer check for resource routes.
//! - [`Handler`]: a host page mounted with the OAuth routes, written once
//!   for every framework ([`routes::Route::page`]).
//! - [`Credentials`]: the host's password check, for the ready sign-in
//!   page (`latchkey::ui::AccountPages`, feature `ui`).
//!
//! Stores: [`MemorySessionStore`] (bounded, one process) and
//! [`StorageSessionStore`] (the engine's own storage, through
//! [`crate::storage::BrowserSessionStore`]: instances on one database
//! share sessions, so a load balancer needs no sticky routing).
//!
//! ```
//! use latchkey::web::{SessionConfig, Sessions};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let sessions = Sessions::in_memory(SessionConfig::for_issuer("https://auth.example"));
//! let (anon, set_cookie) = sessions.load_or_create_from_header(None).await.unwrap();
//! assert!(set_cookie.unwrap().starts_with("__Host-latchkey_session="));
//! let (alice, _) = sessions.sign_in(&anon, "alice").await.unwrap();
//! assert_eq!(alice.binding, anon.binding); // a pending challenge still matches
//! # });
//! ```

mod bearer;
mod cookie;
mod cors;
mod csrf;
pub mod flow;
pub mod handler;
mod limits;
mod memory;
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) mod mount;
mod next;
mod on_storage;
pub mod page;
pub mod routes;
mod session;
mod sign_in;
mod store;

pub use bearer::BearerGuard;
pub use cookie::{
    clear_cookie, joined_cookie_header, persistent_cookie, set_cookie, single_cookie,
};
pub use cors::Cors;
pub use csrf::{ct_eq, same_origin, CsrfToken};
pub use handler::{Handler, Page};
pub use limits::RateGuard;
pub use memory::{MemorySessionStore, DEFAULT_MAX_ANONYMOUS, DEFAULT_MAX_SIGNED_IN};
pub use next::{after_sign_in, safe_next, MAX_NEXT_LEN};
pub use on_storage::{StorageSessionStore, PURGE_BATCH};
pub use session::{
    Session, SessionConfig, Sessions, COOKIE_NAME, DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_IDLE_TIMEOUT,
    SECURE_COOKIE_NAME, TOUCH_INTERVAL,
};
pub use sign_in::{Credentials, SignIn};
pub use store::{SessionError, SessionKey, SessionRecord, SessionStore};

#[cfg(test)]
mod tests;
