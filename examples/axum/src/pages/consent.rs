// candidate for core (see pages/mod.rs).
//! The consent screen.

use std::fmt::Write as _;

use latchkey::http::HttpResponse;
use latchkey::model::Visibility;
use latchkey::ConsentPrompt;

use super::{csrf_field, escape, page};

/// Asks `user` whether the app in `prompt` may have the requested scopes.
/// Posts `challenge`, `csrf`, `remember` and `decision` (`allow`/`deny`)
/// to `/oauth/consent`.
#[must_use]
pub fn consent_page(prompt: &ConsentPrompt, user: &str, csrf: &str) -> HttpResponse {
    let name = escape(&prompt.client_name);
    let domain = if prompt.verified_domains.is_empty() {
        "<p class=\"warn\">⚠ This app has <b>not verified</b> a domain. \
         Only continue if you trust whoever gave you this link.</p>"
            .to_owned()
    } else {
        let list: Vec<String> = prompt
            .verified_domains
            .iter()
            .map(|d| format!("<b>{}</b>", escape(d)))
            .collect();
        format!("<p class=\"ok\">✔ Verified domain: {}</p>", list.join(", "))
    };
    let who = match prompt.visibility {
        Visibility::Private => "an internal app of your account",
        _ => "a third-party app",
    };
    let mut scopes = String::new();
    for s in &prompt.scopes {
        let _ = write!(
            scopes,
            "<li><code>{}</code> — {}</li>",
            escape(&s.name),
            escape(&s.description)
        );
    }
    let mut resources = String::new();
    if !prompt.resources.is_empty() {
        resources.push_str("<p>For use with:</p><ul>");
        for r in &prompt.resources {
            let _ = write!(resources, "<li><code>{}</code></li>", escape(r));
        }
        resources.push_str("</ul>");
    }
    let body = format!(
        "<div class=\"box\"><p><b>{name}</b> ({who}) wants to access your account \
         <b>{user}</b>.</p>{domain}\
         <p>After you decide you will be sent to <b>{host}</b>.</p>\
         <p>It asks to:</p><ul class=\"scopes\">{scopes}</ul>{resources}</div>\
         <form method=\"post\" action=\"/oauth/consent\">{csrf}\
         <input type=\"hidden\" name=\"challenge\" value=\"{challenge}\">\
         <label><input type=\"checkbox\" name=\"remember\" value=\"on\"> \
         Remember this decision for this app</label>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>\
         <p><small>Client id <code>{id}</code>. You can revoke access at any time under \
         <a href=\"/account/apps\">Connected apps</a>.</small></p>",
        user = escape(user),
        host = escape(&prompt.redirect_host),
        csrf = csrf_field(csrf),
        challenge = escape(prompt.challenge.expose()),
        id = escape(&prompt.client_id),
    );
    page(
        200,
        &format!("Authorize {}", prompt.client_name),
        Some((user, csrf)),
        &body,
    )
}
