//! The connected-apps page: every app the user authorized, with revoke.

use askama::Template;

use super::scopes::Permission;
use super::{Nav, Strings, Theme, Ui};
use crate::connected_apps::ConnectedApp;
use crate::http::HttpResponse;

/// One app as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRow {
    /// What the revoke button sends.
    pub grant_id: String,
    /// App name.
    pub name: String,
    /// Verified domains (empty: "publisher not verified").
    pub verified_domains: Vec<String>,
    /// Granted permissions.
    pub permissions: Vec<Permission>,
    /// When access was first granted, as the host formats dates.
    pub granted_at: String,
    /// When the app last used it.
    pub last_used_at: String,
}

impl AppRow {
    /// A row from the engine's record; `date` formats timestamps.
    #[must_use]
    pub fn new(app: &ConnectedApp, date: impl Fn(crate::clock::Timestamp) -> String) -> Self {
        AppRow {
            grant_id: app.grant_id.clone(),
            name: app.client_name.clone(),
            verified_domains: app.verified_domains.clone(),
            permissions: app.scopes.iter().map(|s| Permission::of(s, true)).collect(),
            granted_at: date(app.granted_at),
            last_used_at: date(app.last_used_at),
        }
    }
}

/// What the connected-apps page shows.
#[derive(Clone, Copy, Debug)]
pub struct ConnectedAppsPage<'a> {
    /// The apps.
    pub apps: &'a [AppRow],
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Where each revoke form posts (`grant_id`, `csrf`).
    pub revoke_action: &'a str,
    /// A message after an action ("Access revoked").
    pub notice: Option<&'a str>,
    /// Signed-in navigation.
    pub nav: Option<&'a Nav>,
}

#[derive(Template)]
#[template(path = "latchkey/apps.html")]
struct AppsTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    apps: &'a [AppRow],
    csrf: &'a str,
    revoke_action: &'a str,
    notice: Option<&'a str>,
}

impl Ui {
    /// The connected-apps page.
    #[must_use]
    pub fn connected_apps(&self, page: &ConnectedAppsPage<'_>) -> HttpResponse {
        let t = AppsTemplate {
            s: &self.strings,
            theme: &self.theme,
            css: &self.css,
            nav: page.nav,
            apps: page.apps,
            csrf: page.csrf,
            revoke_action: page.revoke_action,
            notice: page.notice,
        };
        self.respond(200, &t)
    }
}
