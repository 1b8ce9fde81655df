//! The demo's own pages (home, console, demo client, confirmations) in the
//! library's look: the `ui` theme's stylesheet, its security headers, and
//! the library's escaping. The ready pages (sign-in, consent, connected
//! apps, errors) are `latchkey::ui`'s.

use latchkey::http::HttpResponse;
use latchkey::ui::{Nav, Theme, Ui};
pub use latchkey::web::page::{csrf_field, escape, redirect};

/// What the console and demo pages add to the theme's stylesheet.
const EXTRA_CSS: &str = "main.wide{max-width:52rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{border-bottom:1px solid #d0d0d0;padding:.4rem;text-align:left;vertical-align:top}\
th{white-space:nowrap}td{overflow-wrap:anywhere}table.info th{width:9.5rem}\
.box{border:1px solid #d0d0d0;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}\
.box form{margin:.5rem 0}.box form input[type=text]+button{margin-top:.5rem}\
textarea{width:100%;font:inherit;padding:.6rem;border:1px solid #767676;border-radius:4px}\
details.confirm{display:inline-block;margin:0}details.confirm[open]{display:block;flex-basis:100%}\
summary.button{display:inline-block;padding:.6rem 1.25rem;border:1px solid #767676;border-radius:6px;min-height:44px;list-style:none}\
summary.button::-webkit-details-marker{display:none}summary.danger{color:#8c1d18;border-color:#8c1d18}\
@media (max-width:30rem){table.info th,table.info td{display:block;width:auto;border:none;padding:.2rem 0}\
table.info tr{display:block;border-bottom:1px solid #d0d0d0;padding:.4rem 0}}";

/// The headers of the ui pages, with a CSP that also allows
/// [`EXTRA_CSS`] (by hash, like the theme's own stylesheet).
fn headers(ui: &Ui, theme_css: &str) -> Vec<(String, String)> {
    let mut style_src = format!(
        "{} {}",
        Theme::css_hash(theme_css),
        Theme::css_hash(EXTRA_CSS)
    );
    if ui.theme().stylesheet_url.is_some() {
        style_src.push_str(" 'self' https:");
    }
    let csp = format!(
        "default-src 'none'; style-src {style_src}; img-src 'self' https: data:; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut h = ui.headers();
    for (k, v) in &mut h {
        if k.eq_ignore_ascii_case("content-security-policy") {
            v.clone_from(&csp);
        }
    }
    h
}

/// A page: `title` is plain text, `body` already-escaped HTML. `nav` is the
/// signed-in navigation (as on the library's pages).
#[must_use]
pub fn page(ui: &Ui, status: u16, title: &str, nav: Option<&Nav>, body: &str) -> HttpResponse {
    let theme = ui.theme();
    let css = theme.css();
    let nav = nav.map_or_else(String::new, |n| {
        let links: String = n
            .links
            .iter()
            .map(|l| format!("<a href=\"{}\">{}</a>", escape(&l.href), escape(&l.label)))
            .collect();
        format!(
            "<nav aria-label=\"Account\"><span>Signed in as <b><bdi>{user}</bdi></b></span>{links}\
             <form method=\"post\" action=\"{action}\" class=\"inline\">{csrf}\
             <button type=\"submit\" class=\"link\">Sign out</button></form></nav>",
            user = escape(&n.user),
            action = escape(&n.sign_out_action),
            csrf = csrf_field(&n.csrf),
        )
    });
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\">\
         <title>{title} · {product}</title><style>{css}</style><style>{EXTRA_CSS}</style></head>\
         <body><header class=\"top\"><span class=\"brand\"><bdi>{product}</bdi></span>{nav}</header>\
         <main id=\"main\" class=\"wide\"><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = escape(title),
        product = escape(&theme.product_name),
    );
    HttpResponse {
        status,
        headers: headers(ui, &css),
        body: html.into_bytes(),
    }
}

/// `<p>` boxes for a one-time notice and an error, when present.
#[must_use]
pub fn messages(notice: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(n) = notice {
        out.push_str(&format!(
            "<p class=\"note ok\" role=\"status\">{}</p>",
            escape(n)
        ));
    }
    if let Some(e) = error {
        out.push_str(&format!(
            "<p class=\"note error\" role=\"alert\">{}</p>",
            escape(e)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_escaped_unframeable_and_styled_by_hash() {
        let ui = Ui::default();
        let nav = Nav {
            user: "<u>".into(),
            csrf: "c\"".into(),
            sign_out_action: "/logout".into(),
            links: vec![],
        };
        let p = page(&ui, 200, "<T>", Some(&nav), "<p>x</p>");
        assert_eq!(p.header("x-frame-options"), Some("DENY"));
        let csp = p.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains(&Theme::css_hash(EXTRA_CSS)), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let body = String::from_utf8(p.body).unwrap();
        assert!(body.contains("&lt;T&gt;") && body.contains("&lt;u&gt;"));
        assert!(body.contains("value=\"c&quot;\""));
    }
}
