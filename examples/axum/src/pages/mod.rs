// candidate for core: framework-neutral (plain data in, latchkey::http::HttpResponse
// out); an actix host renders the same screens with the same protections.
//! HTML pages: escaping, the shared layout, security headers, and one
//! module per screen.
//!
//! Every page is served with `X-Frame-Options: DENY` and a CSP with
//! `frame-ancestors 'none'` (no clickjacking of the consent button), no
//! scripts at all, `no-store` caching (pages carry CSRF tokens and secrets)
//! and `Referrer-Policy: no-referrer` (URLs carry consent challenges).
//! Every interpolated value goes through [`escape`].

pub mod apps;
pub mod consent;
pub mod console;
pub mod login;

use std::fmt::Write as _;

use latchkey::clock::Timestamp;
use latchkey::http::HttpResponse;

/// Content-Security-Policy of every page: no scripts, inline styles only,
/// never framed. There is deliberately no `form-action`: browsers apply it
/// to the redirect that follows the consent form, which would block the
/// redirect back to the client.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values.
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

/// The headers every HTML page gets.
#[must_use]
pub fn security_headers() -> Vec<(String, String)> {
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", CSP),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A full page: `title` is plain text, `body` is already-escaped HTML.
/// `user` shows who is signed in, with navigation and a sign-out form.
#[must_use]
pub fn page(status: u16, title: &str, user: Option<(&str, &str)>, body: &str) -> HttpResponse {
    let nav = match user {
        Some((name, csrf)) => format!(
            "<nav>Signed in as <b>{}</b> · <a href=\"/account/apps\">Connected apps</a> · \
             <a href=\"/console\">Developer console</a> · \
             <form method=\"post\" action=\"/logout\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" class=\"link\">Sign out</button></form></nav>",
            escape(name),
            escape(csrf)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Latchkey demo</title><style>{STYLE}</style></head>\
         <body>{nav}<main><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = escape(title),
    );
    HttpResponse {
        status,
        headers: security_headers(),
        body: html.into_bytes(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;\
padding:0 1rem;color:#222}nav{font-size:.9rem;margin-bottom:1rem;color:#555}\
.inline{display:inline}button.link{background:none;border:none;color:#06c;padding:0;\
cursor:pointer;font:inherit}.box{border:1px solid #ccc;border-radius:6px;padding:1rem;\
margin:1rem 0}.ok{color:#070}.warn{color:#a40}.error{color:#b00;border-color:#b00}\
.notice{border-color:#070}code,.secret{font-family:monospace;background:#f4f4f4;\
padding:.1rem .3rem;word-break:break-all}label{display:block;margin:.5rem 0}\
input[type=text],input[type=password],textarea{width:100%;box-sizing:border-box;padding:.3rem}\
button{padding:.4rem 1rem;margin:.3rem .3rem .3rem 0}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}";

/// A `303 See Other` to `location` (after a form post, or to hand the
/// browser on).
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

/// An error page: the message is plain text.
#[must_use]
pub fn error_page(status: u16, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        title,
        None,
        &format!("<p class=\"box error\">{}</p>", escape(message)),
    )
}

/// `<p>` boxes for a one-time notice and an error, when present.
#[must_use]
pub fn messages(notice: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(n) = notice {
        let _ = write!(out, "<p class=\"box notice\">{}</p>", escape(n));
    }
    if let Some(e) = error {
        let _ = write!(
            out,
            "<p class=\"box error\" role=\"alert\">{}</p>",
            escape(e)
        );
    }
    out
}

/// The hidden CSRF field every form carries.
#[must_use]
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// `YYYY-MM-DD HH:MM UTC` for a timestamp (no time-zone database needed).
#[must_use]
pub fn format_timestamp(t: Timestamp) -> String {
    let secs = t.0;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
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
    fn timestamps_format_as_utc() {
        assert_eq!(format_timestamp(Timestamp(0)), "1970-01-01 00:00 UTC");
        assert_eq!(
            format_timestamp(Timestamp(951_782_400 + 3_723)),
            "2000-02-29 01:02 UTC"
        );
        assert_eq!(
            format_timestamp(Timestamp(1_767_225_599)),
            "2025-12-31 23:59 UTC"
        );
    }

    #[test]
    fn pages_carry_anti_framing_headers() {
        let p = page(200, "<T>", Some(("<u>", "c\"")), "<p>x</p>");
        assert_eq!(p.header("x-frame-options"), Some("DENY"));
        assert!(p
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let body = String::from_utf8(p.body).unwrap();
        assert!(body.contains("&lt;T&gt;") && body.contains("&lt;u&gt;"));
        assert!(body.contains("value=\"c&quot;\""));
    }
}
