//! The sign-in page. The credential check is the host's
//! ([`crate::web::Credentials`]), and so is throttling it.

use askama::Template;

use super::{Nav, Strings, Theme, Ui};
use crate::http::HttpResponse;

/// What the sign-in page shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignInPage<'a> {
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Where the form posts (`username`, `password`, `csrf`, `next`).
    pub action: &'a str,
    /// Carried through the form: where to go afterwards (a same-origin
    /// path; the integration checks it again on the way back).
    pub next: Option<&'a str>,
    /// The app the user is signing in for, when known.
    pub app_name: Option<&'a str>,
    /// The username typed before an error, kept.
    pub username: &'a str,
    /// One message for every failure (never which part was wrong).
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "latchkey/sign_in.html")]
struct SignInTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    csrf: &'a str,
    action: &'a str,
    next: Option<&'a str>,
    app_name: Option<&'a str>,
    username: &'a str,
    error: Option<&'a str>,
}

impl Ui {
    /// The sign-in page; `status` is 200, or 401 after a failed attempt.
    #[must_use]
    pub fn sign_in(&self, status: u16, page: &SignInPage<'_>) -> HttpResponse {
        let t = SignInTemplate {
            s: &self.strings,
            theme: &self.theme,
            css: &self.css,
            nav: None,
            csrf: page.csrf,
            action: page.action,
            next: page.next,
            app_name: page.app_name,
            username: page.username,
            error: page.error,
        };
        self.respond(status, &t)
    }
}
