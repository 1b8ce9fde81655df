// candidate for core (see pages/mod.rs).
//! The "connected apps" page: what the user has authorized, and revoke.

use std::fmt::Write as _;

use latchkey::connected_apps::ConnectedApp;
use latchkey::http::HttpResponse;

use super::{csrf_field, escape, format_timestamp, messages, page};

/// Lists `apps` with a revoke button each (POST `/account/apps/revoke`
/// with `grant_id` and `csrf`).
#[must_use]
pub fn apps_page(
    user: &str,
    csrf: &str,
    apps: &[ConnectedApp],
    notice: Option<&str>,
) -> HttpResponse {
    let mut body = messages(notice, None);
    if apps.is_empty() {
        body.push_str("<p>You have not authorized any application.</p>");
    }
    for a in apps {
        let mut scopes = String::new();
        for s in &a.scopes {
            let _ = write!(
                scopes,
                "<li><code>{}</code> — {}</li>",
                escape(&s.name),
                escape(&s.description)
            );
        }
        let domains = if a.verified_domains.is_empty() {
            "<span class=\"warn\">no verified domain</span>".to_owned()
        } else {
            format!(
                "<span class=\"ok\">verified: {}</span>",
                escape(&a.verified_domains.join(", "))
            )
        };
        let _ = write!(
            body,
            "<div class=\"box app\"><h2>{name}</h2>\
             <p><code>{id}</code> · {domains}</p><ul>{scopes}</ul>\
             <p>Access granted {granted} · last used {used}</p>\
             <form method=\"post\" action=\"/account/apps/revoke\">{csrf}\
             <input type=\"hidden\" name=\"grant_id\" value=\"{grant}\">\
             <button type=\"submit\" class=\"revoke\">Revoke access</button></form></div>",
            name = escape(&a.client_name),
            id = escape(&a.client_id),
            granted = format_timestamp(a.granted_at),
            used = format_timestamp(a.last_used_at),
            csrf = csrf_field(csrf),
            grant = escape(&a.grant_id),
        );
    }
    page(200, "Connected apps", Some((user, csrf)), &body)
}
