//! The consent screen: shown after sign-in, and the user's decision.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::http::{encode_form, Params};
use latchkey::storage::Storage;
use latchkey::{ConsentDecision, Error};

use super::oauth::outcome_page;
use super::{csrf_failed, error_page, field, page_form};
use crate::glue::{self, into_response};
use crate::pages;
use crate::AppState;

/// `GET /oauth/consent?challenge=…`: resumes the parked request for the
/// signed-in user (consent page, or a redirect when consent is remembered).
pub async fn show<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or("")).unwrap_or_default();
    let Some(challenge) = params.single("challenge").ok().flatten() else {
        return error_page(&Error::invalid_request("missing challenge"));
    };
    let session = st.sessions().load(glue::cookies(&req).as_deref());
    let user = session.as_ref().and_then(|s| s.user.as_deref());
    let (Some(session), Some(principal)) =
        (session.as_ref(), user.and_then(|u| st.users().principal(u)))
    else {
        let to = format!("/login?{}", encode_form(&[("challenge", challenge)]));
        return into_response(pages::redirect(&to));
    };
    let outcome = st
        .engine()
        .resume(challenge, &session.binding, &principal)
        .await;
    into_response(outcome_page(session, outcome))
}

/// `POST /oauth/consent`: `decision=allow` or `deny`, with `remember`.
pub async fn decide<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (cookie, form) = match page_form(req).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let session = st.sessions().load(cookie.as_deref());
    let Some((session, principal)) = session.and_then(|s| {
        let p = st.users().principal(s.user.as_deref()?)?;
        Some((s, p))
    }) else {
        return into_response(pages::error_page(
            401,
            "Signed out",
            "Your session ended before you decided. Return to the application and start again.",
        ));
    };
    if !session.csrf_ok(form.single("csrf").ok().flatten()) {
        return into_response(csrf_failed());
    }
    let challenge = field(&form, "challenge");
    let engine = st.engine();
    let outcome = match field(&form, "decision") {
        "allow" => {
            let decision = ConsentDecision {
                scopes: None,
                remember: field(&form, "remember") == "on",
            };
            engine
                .accept(challenge, &session.binding, &principal, decision)
                .await
        }
        "deny" => engine.reject(challenge, &session.binding).await,
        _ => return error_page(&Error::invalid_request("decision must be allow or deny")),
    };
    into_response(outcome_page(&session, outcome))
}
