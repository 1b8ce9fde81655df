//! Sign-in and sign-out.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::http::{encode_form, Params};
use latchkey::storage::Storage;

use super::{csrf_failed, error_page, field, page_form};
use crate::glue::{self, into_response, with_cookie};
use crate::pages::login::{login_page, LoginTarget};
use crate::pages::redirect;
use crate::AppState;

/// Only local paths: an absolute or scheme-relative `next` would make the
/// sign-in page an open redirector.
fn local_path(p: &str) -> Option<String> {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && p.len() <= 200
        && !p.contains('\\')
        && !p.chars().any(char::is_control);
    ok.then(|| p.to_owned())
}

fn target(params: &Params) -> LoginTarget {
    LoginTarget {
        challenge: params.single("challenge").ok().flatten().map(str::to_owned),
        next: params.single("next").ok().flatten().and_then(local_path),
    }
}

/// Where a signed-in user goes next.
fn after_login(t: &LoginTarget) -> String {
    match (&t.challenge, &t.next) {
        (Some(c), _) => format!("/oauth/consent?{}", encode_form(&[("challenge", c)])),
        (None, Some(n)) => n.clone(),
        (None, None) => "/account/apps".into(),
    }
}

/// `GET /login`: the form, or straight on when already signed in.
pub async fn show<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or("")).unwrap_or_default();
    let t = target(&params);
    let Ok((session, set_cookie)) = st.sessions().load_or_create(glue::cookies(&req).as_deref())
    else {
        return error_page(&latchkey::Error::internal("randomness failed"));
    };
    if session.user.is_some() {
        return into_response(redirect(&after_login(&t)));
    }
    with_cookie(login_page(200, &session.csrf, &t, "", None), set_cookie)
}

/// `POST /login`: check CSRF and password, rotate the session, go on.
pub async fn submit<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (cookie, form) = match page_form(req).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let t = target(&form);
    let Ok((session, set_cookie)) = st.sessions().load_or_create(cookie.as_deref()) else {
        return error_page(&latchkey::Error::internal("randomness failed"));
    };
    let username = field(&form, "username");
    if !session.csrf_ok(form.single("csrf").ok().flatten()) {
        // Usually an expired session: show a fresh form rather than a dead end.
        let msg = "Your sign-in form expired. Please try again.";
        return with_cookie(
            login_page(403, &session.csrf, &t, username, Some(msg)),
            set_cookie,
        );
    }
    let Some(principal) = st.users().verify(username, field(&form, "password")) else {
        let msg = "Invalid username or password.";
        return with_cookie(
            login_page(401, &session.csrf, &t, username, Some(msg)),
            set_cookie,
        );
    };
    let Ok((_, cookie)) = st.sessions().login(&session, &principal.subject) else {
        return error_page(&latchkey::Error::internal("randomness failed"));
    };
    with_cookie(redirect(&after_login(&t)), Some(cookie))
}

/// `POST /logout`.
pub async fn logout<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (cookie, form) = match page_form(req).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let Some(session) = st.sessions().load(cookie.as_deref()) else {
        return into_response(redirect("/login"));
    };
    if !session.csrf_ok(form.single("csrf").ok().flatten()) {
        return into_response(csrf_failed());
    }
    let clear = st.sessions().logout(&session);
    with_cookie(redirect("/login"), Some(clear))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_must_be_local() {
        assert!(local_path("/console").is_some());
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "console",
        ] {
            assert!(local_path(bad).is_none(), "{bad}");
        }
    }
}
