// candidate for core (see pages/mod.rs).
//! The sign-in form.

use latchkey::http::HttpResponse;

use super::{csrf_field, escape, messages, page};

/// Where to go after signing in: back into an authorization request, or to
/// a page of this site.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginTarget {
    /// The consent challenge of a parked authorization request.
    pub challenge: Option<String>,
    /// A local path (`/account/apps`, `/console`).
    pub next: Option<String>,
}

/// The sign-in form with fields `username` and `password`.
#[must_use]
pub fn login_page(
    status: u16,
    csrf: &str,
    target: &LoginTarget,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut hidden = csrf_field(csrf);
    if let Some(c) = &target.challenge {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"challenge\" value=\"{}\">",
            escape(c)
        ));
    }
    if let Some(n) = &target.next {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"next\" value=\"{}\">",
            escape(n)
        ));
    }
    let intro = if target.challenge.is_some() {
        "<p>An application wants to access your account. Sign in to continue.</p>"
    } else {
        ""
    };
    let body = format!(
        "{intro}{msgs}<form method=\"post\" action=\"/login\" class=\"box\">{hidden}\
         <label>Username <input type=\"text\" name=\"username\" value=\"{user}\" \
         autocomplete=\"username\" required autofocus></label>\
         <label>Password <input type=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>\
         <p><small>Demo accounts: <code>alice</code> and <code>bob</code>.</small></p>",
        msgs = messages(None, error),
        user = escape(username),
    );
    page(status, "Sign in", None, &body)
}
