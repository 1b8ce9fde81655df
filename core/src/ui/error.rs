//! Error pages: what went wrong, what to do next, and for developers what
//! was received.

use askama::Template;

use super::{Nav, Strings, Theme, Ui};
use crate::http::HttpResponse;

/// What an error page shows.
#[derive(Clone, Debug, Default)]
pub struct ErrorPage<'a> {
    /// HTTP status.
    pub status: u16,
    /// Heading.
    pub title: &'a str,
    /// What went wrong, for people.
    pub message: &'a str,
    /// What to do next.
    pub next_step: &'a str,
    /// The app involved, when known.
    pub app_name: Option<&'a str>,
    /// Shown under "details for developers" (for example the
    /// `redirect_uri` received). Escaped like everything else.
    pub details: Vec<(&'a str, &'a str)>,
    /// Signed-in navigation, so a user in the wrong account can get out.
    pub nav: Option<&'a Nav>,
}

#[derive(Template)]
#[template(path = "latchkey/error.html")]
struct ErrorTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    title: &'a str,
    message: &'a str,
    next_step: &'a str,
    app_name: Option<&'a str>,
    details: &'a [(&'a str, &'a str)],
}

impl Ui {
    /// An error page.
    #[must_use]
    pub fn error(&self, page: &ErrorPage<'_>) -> HttpResponse {
        let t = ErrorTemplate {
            s: &self.strings,
            theme: &self.theme,
            css: &self.css,
            nav: page.nav,
            title: page.title,
            message: page.message,
            next_step: page.next_step,
            app_name: page.app_name,
            details: &page.details,
        };
        self.respond(page.status, &t)
    }
}
