//! Ready pages (feature `ui`): sign-in, consent, connected apps and errors,
//! with the handlers of the account pages ([`AccountPages`]),
//! rendered with [askama](https://docs.rs/askama) templates, which are
//! checked at compile time and escape every value by default.
//!
//! Each page is a plain function from data to an [`HttpResponse`] carrying
//! the headers every page needs (no caching, no framing, a CSP that allows
//! no script and only the built-in stylesheet by its hash, no referrer to other origins,
//! no sniffing). Hosts theme them ([`Theme`]), translate them
//! ([`Strings`]), or replace any page with their own and keep the rest.
//!
//! Every string an app controls (its name, domains, URIs) is rendered
//! inside `<bdi>` or `dir="auto"` so bidirectional text cannot reorder the
//! page around it.

mod account;
mod apps;
mod consent;
mod device;
mod error;
mod scopes;
mod sign_in;
mod strings;
mod theme;

use askama::Template;

pub use account::{format_utc, AccountPages, AccountPaths, SignInThrottle, KNOWN_BROWSER_COOKIE};
pub use apps::{AppRow, ConnectedAppsPage};
pub use consent::ConsentPage;
pub use error::ErrorPage;
pub use sign_in::SignInPage;
pub use strings::Strings;
pub use theme::{Colour, Theme};

use crate::authorize::ConsentPrompt;
use crate::error::Error;
use crate::web::flow::{describe, Pages};
use crate::web::Session;

use crate::http::HttpResponse;

/// A link in the signed-in navigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavLink {
    /// Target.
    pub href: String,
    /// Visible text.
    pub label: String,
}

/// The navigation shown to a signed-in user on every page, so nobody is
/// stuck on an error page signed in to the wrong account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nav {
    /// Display name of the signed-in user.
    pub user: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    /// Where the sign-out form posts.
    pub sign_out_action: String,
    /// Links (connected apps, the host's own pages).
    pub links: Vec<NavLink>,
}

/// The page renderer: a theme and its strings.
#[derive(Clone, Debug)]
pub struct Ui {
    theme: Theme,
    strings: Strings,
    css: String,
    csp: String,
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new(Theme::default(), Strings::english())
    }
}

impl Ui {
    /// Pages in `theme` with `strings`.
    #[must_use]
    pub fn new(theme: Theme, strings: Strings) -> Self {
        let css = theme.css();
        let mut style_src = Theme::css_hash(&css);
        if let Some(href) = &theme.stylesheet_url {
            style_src.push_str(&format!(" {}", csp_source(href)));
        }
        // No `form-action`: browsers apply it to the redirect that follows
        // the consent form, which would block the redirect to the client.
        let csp = format!(
            "default-src 'none'; style-src {style_src}; img-src 'self' https: data:; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        Ui {
            theme,
            strings,
            css,
            csp,
        }
    }

    /// The theme.
    #[must_use]
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// The strings.
    #[must_use]
    pub fn strings(&self) -> &Strings {
        &self.strings
    }

    /// The headers every page gets.
    #[must_use]
    pub fn headers(&self) -> Vec<(String, String)> {
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", self.csp.as_str()),
            // Not `no-referrer`: with it browsers send `Origin: null` on the
            // page's own form posts, which the same-origin check refuses.
            // Other origins still get no referrer (the URL may carry a
            // challenge).
            ("Referrer-Policy", "same-origin"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn respond(&self, status: u16, page: &impl Template) -> HttpResponse {
        match page.render() {
            Ok(html) => HttpResponse {
                status,
                headers: self.headers(),
                body: html.into_bytes(),
            },
            // Rendering fails only on a formatter error; answer plainly
            // rather than with half a page.
            Err(_) => HttpResponse {
                status: 500,
                headers: self.headers(),
                body: b"internal server error".to_vec(),
            },
        }
    }
}

/// The CSP source that allows `href`: `'self'` for a path, the origin for
/// an absolute URL.
fn csp_source(href: &str) -> String {
    match href.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => "'self'".into(),
    }
}

/// The ready pages as the browser flow's [`Pages`], with the options the
/// consent page takes.
#[derive(Clone, Debug, Default)]
pub struct UiPages {
    /// The renderer.
    pub ui: Ui,
    /// Let users untick requested scopes.
    pub partial_approval: bool,
    /// The host's connected-apps page, linked from consent.
    pub apps_url: Option<String>,
    /// Offer "not you? switch account" on the consent page: the user is
    /// signed out, signs in again, and comes back to the same request.
    pub switch_account: bool,
}

impl Pages for UiPages {
    fn consent(&self, prompt: &ConsentPrompt, session: &Session, action: &str) -> HttpResponse {
        let csrf = session.consent_csrf(prompt.challenge.expose());
        self.ui.consent(&ConsentPage {
            prompt,
            user: session.user.as_deref().unwrap_or_default(),
            csrf: &csrf,
            action,
            switch_account: self.switch_account,
            apps_url: self.apps_url.as_deref(),
            partial_approval: self.partial_approval,
            nav: None,
        })
    }

    fn device_entry(&self, page: &crate::web::flow::DeviceEntryPage<'_>) -> HttpResponse {
        self.ui.device_entry(page)
    }

    fn device_decided(&self, approved: bool, client_name: &str) -> HttpResponse {
        self.ui.device_decided(approved, client_name)
    }

    fn error(&self, e: &Error) -> HttpResponse {
        let (title, next_step) = describe(e);
        let message = e.description();
        self.ui.error(&ErrorPage {
            status: e.status(),
            title,
            message: &message,
            next_step,
            ..ErrorPage::default()
        })
    }

    fn partial_approval(&self) -> bool {
        self.partial_approval
    }
}
