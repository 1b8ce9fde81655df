//! Minimal built-in HTML: escaping, the security headers every page needs,
//! redirects, error pages, and a plain consent form. The templated,
//! themable pages are the coming `ui` feature; these exist so the router
//! works without it.

use std::fmt::Write as _;

use crate::authorize::ConsentPrompt;
use crate::http::HttpResponse;
use crate::model::Visibility;

/// Content-Security-Policy of every page: no scripts, inline styles only,
/// never framed (clickjacking of the consent button). There is no
/// `form-action`: browsers apply it to the redirect that follows the
/// consent form, which would block the redirect back to the client.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and quoted attribute values.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The headers every HTML page gets: anti-framing (`X-Frame-Options: DENY`
/// and CSP `frame-ancestors 'none'`), `no-store` (pages carry CSRF tokens),
/// `same-origin` referrers (URLs carry consent challenges; other origins get none) and `nosniff`.
#[must_use]
pub fn security_headers() -> Vec<(String, String)> {
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", CSP),
        // `same-origin`, not `no-referrer`: see `crate::ui::Ui::headers`.
        ("Referrer-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A full page: `title` is plain text, `body` already-escaped HTML.
#[must_use]
pub fn html_page(status: u16, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = escape(title),
    );
    HttpResponse {
        status,
        headers: security_headers(),
        body: html.into_bytes(),
    }
}

/// An error page; `message` is plain text.
#[must_use]
pub fn error_page(status: u16, title: &str, message: &str) -> HttpResponse {
    html_page(status, title, &format!("<p>{}</p>", escape(message)))
}

/// A `303 See Other` to `location`.
#[must_use]
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse {
        status: 303,
        headers: vec![
            ("Location".into(), location.to_owned()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: Vec::new(),
    }
}

/// `r` with a `Set-Cookie` header added, when there is one.
#[must_use]
pub fn with_cookie(mut r: HttpResponse, set_cookie: Option<String>) -> HttpResponse {
    if let Some(c) = set_cookie {
        r.headers.push(("Set-Cookie".into(), c));
    }
    r
}

/// The hidden CSRF field every form carries.
#[must_use]
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// A plain consent form for `prompt`, shown to `user`, posting `challenge`,
/// `csrf`, `remember` and `decision` (`allow`/`deny`) to `action`.
#[must_use]
pub fn consent_form(prompt: &ConsentPrompt, user: &str, csrf: &str, action: &str) -> HttpResponse {
    let who = match prompt.visibility {
        Visibility::Private => "an app of your account",
        _ => "a third-party app",
    };
    let domain = if prompt.verified_domains.is_empty() {
        "<p>This app has not verified a domain.</p>".to_owned()
    } else {
        let list: Vec<String> = prompt
            .verified_domains
            .iter()
            .map(|d| format!("<bdi>{}</bdi>", escape(d)))
            .collect();
        format!("<p>Verified domain: {}</p>", list.join(", "))
    };
    let mut scopes = String::new();
    for s in &prompt.scopes {
        let _ = write!(
            scopes,
            "<li>{} (<code>{}</code>)</li>",
            escape(&s.description),
            escape(&s.name)
        );
    }
    let body = format!(
        "<p><b><bdi>{name}</bdi></b> ({who}) wants to access your account <b><bdi>{user}</bdi></b>.</p>{domain}\
         <p>It asks to:</p><ul>{scopes}</ul>\
         <p>After you decide you will be sent to <b><bdi>{host}</bdi></b>.</p>\
         <form method=\"post\" action=\"{action}\">{csrf}\
         <input type=\"hidden\" name=\"challenge\" value=\"{challenge}\">\
         <label><input type=\"checkbox\" name=\"remember\" value=\"on\"> \
         Remember this decision</label>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         <p><button type=\"submit\" name=\"decision\" value=\"switch_account\">Not you? Switch account</button></p></form>",
        name = escape(&prompt.client_name),
        user = escape(user),
        host = escape(&prompt.redirect_host),
        action = escape(action),
        csrf = csrf_field(csrf),
        challenge = escape(prompt.challenge.expose()),
    );
    // Markup cannot isolate inside <title>: Unicode's isolates do.
    let title = format!("Authorize {}", crate::display::isolate(&prompt.client_name));
    html_page(200, &title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn pages_carry_anti_framing_headers() {
        let p = html_page(200, "<T>", "<p>x</p>");
        assert_eq!(p.header("x-frame-options"), Some("DENY"));
        assert!(p
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert!(String::from_utf8(p.body).unwrap().contains("&lt;T&gt;"));
    }
}
