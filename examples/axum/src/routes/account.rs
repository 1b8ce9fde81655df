//! `/account/apps`: the apps the signed-in user has authorized.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::storage::Storage;

use super::{error_page, field, signed_in, signed_in_form};
use crate::glue::manage_error;
use crate::glue::{self, into_response};
use crate::pages::{apps::apps_page, redirect};
use crate::AppState;

const PATH: &str = "/account/apps";

/// `GET /account/apps`.
pub async fn list<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (session, principal) = match signed_in(&st, glue::cookies(&req).as_deref(), PATH) {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    match st
        .engine()
        .connected_apps(&principal.subject)
        .await
        .map_err(manage_error)
    {
        Ok(apps) => {
            let notice = st.sessions().take_flash(&session);
            into_response(apps_page(
                &principal.subject,
                &session.csrf,
                &apps,
                notice.as_deref(),
            ))
        }
        Err(e) => error_page(&e),
    }
}

/// `POST /account/apps/revoke`: every token of the grant stops working.
pub async fn revoke<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (session, principal, form) = match signed_in_form(&st, req, PATH).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let grant_id = field(&form, "grant_id");
    // The engine only revokes grants of this subject: another user's grant
    // id is `NotFound`.
    match st
        .engine()
        .revoke_grant(&principal.subject, grant_id)
        .await
        .map_err(manage_error)
    {
        Ok(()) => {
            st.sessions()
                .set_flash(&session, "Access revoked. The app's tokens no longer work.");
            into_response(redirect(PATH))
        }
        Err(e) => error_page(&e),
    }
}
