//! The host's sign-in hook: the one seam between the library's browser
//! flow and the host's users (in the role of oxide-auth's `OwnerSolicitor`).

use async_trait::async_trait;

use crate::authorize::Principal;
use crate::http::encode_component;
use crate::web::session::Session;

/// What the host tells the authorization flow about its users.
///
/// The library owns the rest: sessions, the binding, CSRF, the consent
/// decision and the open-redirect guard on `next`. The host's sign-in page
/// checks credentials, calls [`crate::web::Sessions::sign_in`], and sends
/// the browser to [`crate::web::after_sign_in`]`(next, …)`.
#[async_trait]
pub trait SignIn: Send + Sync + 'static {
    /// Who is signed in for `session` (whose `user` is set), or `None` if
    /// the host no longer knows that user (deleted, disabled), which sends
    /// the browser to sign in again.
    async fn principal(&self, session: &Session) -> Option<Principal>;

    /// Where to send a browser that must sign in. `next` is a same-origin
    /// path carrying the consent challenge, to return to afterwards. The
    /// default is `/login?next=<next, percent-encoded>`.
    fn sign_in_location(&self, next: &str) -> String {
        format!("/login?next={}", encode_component(next))
    }
}

/// The host's credential check, for the ready sign-in page
/// (`latchkey::ui::AccountPages`, feature `ui`). Throttling failed attempts
/// is the host's: it knows its users and its network.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    /// The user to sign in (what [`Session::user`] will hold) if `password`
    /// is right for `username`, else `None`. Take the same time whether or
    /// not the user exists, so timing does not tell names apart.
    async fn check(&self, username: &str, password: &str) -> Option<String>;
}
