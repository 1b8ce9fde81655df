// candidate for core (see pages/mod.rs).
//! The developer console: the account's apps and the forms that manage
//! them.

use std::fmt::Write as _;

use latchkey::http::HttpResponse;
use latchkey::model::{ClientRecord, DomainState, Visibility};

use super::{csrf_field, escape, format_timestamp, messages, page};

/// Everything the console shows besides the apps themselves.
#[derive(Debug, Default)]
pub struct ConsoleView<'a> {
    /// Signed-in user.
    pub user: &'a str,
    /// Session CSRF token.
    pub csrf: &'a str,
    /// Every scope that may be offered to a new app.
    pub scopes: Vec<(&'a str, &'a str)>,
    /// Whether "confirm domain" is enabled (`--trust-domain-claims`).
    pub trust_domain_claims: bool,
    /// One-time notice.
    pub notice: Option<String>,
    /// Error from the last action.
    pub error: Option<String>,
    /// A secret to show this once: (client id, secret).
    pub secret: Option<(String, String)>,
}

fn form(action: &str, csrf: &str, client_id: &str, inner: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"inline\">{}\
         <input type=\"hidden\" name=\"client_id\" value=\"{}\">{inner}\
         <button type=\"submit\">{button}</button></form>",
        csrf_field(csrf),
        escape(client_id),
    )
}

fn domains(c: &ClientRecord, v: &ConsoleView<'_>) -> String {
    let mut out = String::from("<ul>");
    for d in &c.domains {
        let name = escape(&d.domain);
        let _ = match &d.state {
            DomainState::Verified { at } => write!(
                out,
                "<li><b>{name}</b> <span class=\"ok\">verified {}</span></li>",
                format_timestamp(*at)
            ),
            DomainState::Pending { expires_at } => {
                let confirm = if v.trust_domain_claims {
                    form(
                        "/console/domain/confirm",
                        v.csrf,
                        &c.id,
                        &format!("<input type=\"hidden\" name=\"domain\" value=\"{name}\">"),
                        "Confirm (trusted operator)",
                    )
                } else {
                    "<small>This demo server cannot query DNS or fetch your site, so it \
                     cannot confirm the domain; start it with <code>--trust-domain-claims</code> \
                     to confirm on your word.</small>"
                        .to_owned()
                };
                write!(
                    out,
                    "<li><b>{name}</b> <span class=\"warn\">pending until {}</span>: publish \
                     a DNS TXT record <code>_latchkey-challenge.{name}</code> or serve \
                     <code>https://{name}/.well-known/latchkey-challenge</code> with the value \
                     <code class=\"challenge\">{}</code> {confirm}</li>",
                    format_timestamp(*expires_at),
                    escape(&d.challenge),
                )
            }
            _ => write!(out, "<li><b>{name}</b> expired: start again</li>"),
        };
    }
    out.push_str("</ul>");
    out.push_str(&form(
        "/console/domain",
        v.csrf,
        &c.id,
        "<input type=\"text\" name=\"domain\" placeholder=\"app.example.com\" \
         style=\"width:auto\"> ",
        "Start domain verification",
    ));
    out
}

fn app(c: &ClientRecord, v: &ConsoleView<'_>) -> String {
    let confidential = c.auth_method.is_confidential();
    let kind = if confidential {
        format!(
            "confidential (<code>{}</code>)",
            escape(c.auth_method.as_str())
        )
    } else {
        "public (PKCE only, no secret)".to_owned()
    };
    let visibility = match c.visibility {
        Visibility::Private => "private to your account",
        _ => "public: any user may authorize it",
    };
    let uris: Vec<String> = c
        .redirect_uris
        .iter()
        .map(|u| format!("<code>{}</code>", escape(u)))
        .collect();
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    let mut actions = String::new();
    if confidential {
        actions.push_str(&form("/console/rotate", v.csrf, &c.id, "", "Rotate secret"));
    }
    let has_verified = c.verified_domains().next().is_some();
    match c.visibility {
        Visibility::Private if has_verified => actions.push_str(&form(
            "/console/visibility",
            v.csrf,
            &c.id,
            "<input type=\"hidden\" name=\"visibility\" value=\"public\">",
            "Make public",
        )),
        Visibility::Private => actions.push_str(
            "<small>Verify a domain that hosts every redirect URI to make it public.</small> ",
        ),
        _ => actions.push_str(&form(
            "/console/visibility",
            v.csrf,
            &c.id,
            "<input type=\"hidden\" name=\"visibility\" value=\"private\">",
            "Make private",
        )),
    }
    actions.push_str(&form("/console/delete", v.csrf, &c.id, "", "Delete app"));
    format!(
        "<div class=\"box app\"><h2>{name}</h2><table>\
         <tr><th>Client id</th><td><code class=\"client-id\">{id}</code></td></tr>\
         <tr><th>Type</th><td>{kind}</td></tr>\
         <tr><th>Visibility</th><td>{visibility}</td></tr>\
         <tr><th>Redirect URIs</th><td>{uris}</td></tr>\
         <tr><th>Scopes</th><td><code>{scopes}</code></td></tr>\
         <tr><th>Grant types</th><td>{grants}</td></tr>\
         <tr><th>Secret</th><td>{secret}</td></tr>\
         <tr><th>Domains</th><td>{domains}</td></tr></table><p>{actions}</p></div>",
        name = escape(&c.name),
        id = escape(&c.id),
        uris = uris.join("<br>"),
        scopes = escape(&c.scopes.to_string()),
        grants = escape(&grants.join(", ")),
        secret = if confidential {
            "stored only as a hash; shown once at creation and rotation"
        } else {
            "none"
        },
        domains = domains(c, v),
    )
}

/// The console for the account of `view.user`.
#[must_use]
pub fn console_page(status: u16, view: &ConsoleView<'_>, clients: &[ClientRecord]) -> HttpResponse {
    let mut body = messages(view.notice.as_deref(), view.error.as_deref());
    if let Some((id, secret)) = &view.secret {
        let _ = write!(
            body,
            "<div class=\"box notice\"><p>Client secret of <code>{}</code>. Copy it now: it \
             is shown <b>only this once</b>.</p><p><code class=\"secret\">{}</code></p></div>",
            escape(id),
            escape(secret)
        );
    }
    if clients.is_empty() {
        body.push_str("<p>Your account has no apps yet.</p>");
    }
    for c in clients {
        body.push_str(&app(c, view));
    }
    let mut scopes = String::new();
    for (name, desc) in &view.scopes {
        let _ = write!(
            scopes,
            "<label><input type=\"checkbox\" name=\"scope\" value=\"{n}\"> <code>{n}</code> — \
             {d}</label>",
            n = escape(name),
            d = escape(desc)
        );
    }
    let _ = write!(
        body,
        "<h2>Register an app</h2><form method=\"post\" action=\"/console/apps\" class=\"box\">\
         {csrf}<label>Name <input type=\"text\" name=\"name\" required maxlength=\"100\"></label>\
         <label>Redirect URIs, one per line (https, or http on 127.0.0.1 for local \
         tools)<textarea name=\"redirect_uris\" rows=\"3\" required></textarea></label>\
         <fieldset><legend>Scopes</legend>{scopes}</fieldset>\
         <fieldset><legend>Client type</legend>\
         <label><input type=\"radio\" name=\"client_type\" value=\"confidential\" checked> \
         Confidential: a server that can keep a secret</label>\
         <label><input type=\"radio\" name=\"client_type\" value=\"public\"> Public: a \
         native or browser app (PKCE, no secret)</label></fieldset>\
         <p><small>New apps are private to your account. Verify a domain to make one \
         public.</small></p><button type=\"submit\">Register</button></form>",
        csrf = csrf_field(view.csrf),
    );
    page(
        status,
        "Developer console",
        Some((view.user, view.csrf)),
        &body,
    )
}
