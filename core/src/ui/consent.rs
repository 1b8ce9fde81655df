//! The consent page (RFC 6749 §4.1.1: the server obtains the resource
//! owner's decision), and reading its form back.

use askama::Template;

use super::scopes::{group, Group, OFFLINE};
use super::{Nav, Strings, Theme, Ui};
use crate::authorize::ConsentPrompt;
use crate::http::HttpResponse;
use crate::model::Visibility;

/// What the consent page needs beyond the engine's [`ConsentPrompt`].
#[derive(Clone, Copy, Debug)]
pub struct ConsentPage<'a> {
    /// From [`crate::Engine::authorize`] or [`crate::Engine::resume`].
    pub prompt: &'a ConsentPrompt,
    /// Display name of the signed-in user.
    pub user: &'a str,
    /// The form's CSRF token: [`crate::web::Session::consent_csrf`] of the
    /// prompt's challenge.
    pub csrf: &'a str,
    /// Where the form posts.
    pub action: &'a str,
    /// Offer "not you? switch account": a button that posts
    /// `decision=switch_account`, which signs out and back in and then
    /// makes the same request again ([`crate::web::flow::Choice`]).
    pub switch_account: bool,
    /// The connected-apps page, where access can be revoked.
    pub apps_url: Option<&'a str>,
    /// Let the user untick requested scopes (partial approval).
    pub partial_approval: bool,
    /// Signed-in navigation.
    pub nav: Option<&'a Nav>,
}

/// Who stands behind the app, as the page says it.
pub(crate) enum Trust {
    /// A private app of the user's own account (strangers never get here).
    OwnAccount,
    /// A public app with verified domains.
    Verified(Vec<String>),
    /// An app whose domain proof was found gone by a re-check.
    Lapsed(Vec<String>),
    /// Nobody vetted it; for a client identified by its metadata document
    /// URL, the host that publishes it (draft-ietf-oauth-client-id-
    /// metadata-document §6.4: show the client_id's host name).
    Unverified(Option<String>),
}

/// Where the browser goes afterwards, said truthfully: a private-use
/// scheme is an app on the device (RFC 8252 §7.1), never a web host.
pub(crate) enum Destination {
    Web(String),
    Loopback,
    App(String),
}

fn destination(redirect_uri: &str) -> Destination {
    let (scheme, rest) = redirect_uri.split_once(':').unwrap_or(("", ""));
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => {
            let host = crate::redirect::redirect_host(redirect_uri);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if scheme == "http"
                && (bare == "localhost"
                    || bare
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback()))
            {
                Destination::Loopback
            } else {
                Destination::Web(host)
            }
        }
        _ if !rest.is_empty() => Destination::App(scheme),
        _ => Destination::App(redirect_uri.to_owned()),
    }
}

#[derive(Template)]
#[template(path = "latchkey/consent.html")]
struct ConsentTemplate<'a> {
    s: &'a Strings,
    theme: &'a Theme,
    css: &'a str,
    nav: Option<&'a Nav>,
    title: String,
    app_name: &'a str,
    user: &'a str,
    switch_account: bool,
    apps_url: Option<&'a str>,
    trust: Trust,
    action: &'a str,
    csrf: &'a str,
    challenge: &'a str,
    groups: Vec<Group>,
    partial: bool,
    offline: bool,
    destination: Destination,
    client_id: &'a str,
    redirect_uri: &'a str,
    resources: &'a [String],
    technical: Vec<&'a str>,
}

impl Ui {
    /// The consent page. It posts `csrf`, `challenge`, `decision`
    /// (`allow`/`deny`), `remember` and, with partial approval, one `scope`
    /// per ticked permission: read it with [`crate::web::flow::read_decision`].
    #[must_use]
    pub fn consent(&self, page: &ConsentPage<'_>) -> HttpResponse {
        let p = page.prompt;
        let s = &self.strings;
        let trust = match (p.visibility, p.verified_domains.is_empty()) {
            (Visibility::Private, _) => Trust::OwnAccount,
            (_, false) => Trust::Verified(p.verified_domains.clone()),
            (_, true) if !p.lapsed_domains.is_empty() => Trust::Lapsed(p.lapsed_domains.clone()),
            (_, true) => Trust::Unverified(
                (p.visibility == Visibility::Unvetted && p.client_id.starts_with("https://"))
                    .then(|| crate::redirect::redirect_host(&p.client_id)),
            ),
        };
        let groups = group(&p.scopes, |n| p.requested.contains(n), |k| s.group_title(k));
        let t = ConsentTemplate {
            s,
            theme: &self.theme,
            css: &self.css,
            nav: page.nav,
            title: format!(
                "{}{}{}",
                s.consent_heading_before,
                crate::display::isolate(&p.client_name),
                s.consent_heading_after
            ),
            app_name: &p.client_name,
            user: page.user,
            switch_account: page.switch_account,
            apps_url: page.apps_url,
            trust,
            action: page.action,
            csrf: page.csrf,
            challenge: p.challenge.expose(),
            groups,
            partial: page.partial_approval,
            offline: p.scopes.iter().any(|x| x.name == OFFLINE),
            destination: destination(&p.redirect_uri),
            client_id: &p.client_id,
            redirect_uri: &p.redirect_uri,
            resources: &p.resources,
            technical: p.scopes.iter().map(|x| x.name.as_str()).collect(),
        };
        self.respond(200, &t)
    }
}
