//! `/console`: the developer console of the signed-in user's account.
//!
//! Every action names its app by `client_id` in the form and is refused
//! (as "no such client") unless the app belongs to the user's account.
//!
//! Domain confirmation: this demo host cannot query DNS or fetch the
//! developer's site, so it has no way to check a published challenge.
//! "Confirm" therefore trusts the operator and is only enabled when the
//! server was started with `--trust-domain-claims`; otherwise domains stay
//! pending and apps stay private. A real host would look up the TXT record
//! (or the well-known file) and call `Engine::confirm_domain` when it
//! matches.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::clients::{ClientRegistration, ClientUpdate};
use latchkey::model::{AuthMethod, ClientRecord, Visibility};
use latchkey::storage::Storage;
use latchkey::{Error, Principal};

use super::{error_page, field, signed_in, signed_in_form};
use crate::glue::manage_error;
use crate::glue::{self, into_response};
use crate::pages::console::{console_page, ConsoleView};
use crate::pages::redirect;
use crate::session::Session;
use crate::AppState;

const PATH: &str = "/console";

/// What to show on top of the app list.
#[derive(Default)]
struct Extra {
    status: Option<u16>,
    error: Option<String>,
    notice: Option<String>,
    secret: Option<(String, String)>,
}

async fn render<S: Storage + 'static>(
    st: &AppState<S>,
    session: &Session,
    principal: &Principal,
    extra: Extra,
) -> Response {
    let clients = match st
        .engine()
        .list_clients(&principal.account)
        .await
        .map_err(manage_error)
    {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let registry = &st.engine().config().scopes;
    let scopes = registry
        .names()
        .map(|n| {
            let d = registry.get(n).map_or("", |d| d.description.as_str());
            (n, d)
        })
        .collect();
    let view = ConsoleView {
        user: &principal.subject,
        csrf: &session.csrf,
        scopes,
        trust_domain_claims: st.trust_domain_claims(),
        notice: extra.notice.or_else(|| st.sessions().take_flash(session)),
        error: extra.error,
        secret: extra.secret,
    };
    into_response(console_page(extra.status.unwrap_or(200), &view, &clients))
}

/// An engine error shown inline on the console, with its status.
async fn render_error<S: Storage + 'static>(
    st: &AppState<S>,
    session: &Session,
    principal: &Principal,
    e: &Error,
) -> Response {
    let extra = Extra {
        status: Some(e.status()),
        error: Some(e.description().into_owned()),
        ..Extra::default()
    };
    render(st, session, principal, extra).await
}

/// The app named by the form, if the user's account owns it.
async fn owned<S: Storage + 'static>(
    st: &AppState<S>,
    principal: &Principal,
    id: &str,
) -> Result<ClientRecord, Error> {
    match st.engine().get_client(id).await.map_err(manage_error) {
        Ok(c) if c.owner == principal.account => Ok(c),
        Ok(_) => Err(Error::NotFound("no such client".into())),
        Err(e) => Err(e),
    }
}

/// `GET /console`.
pub async fn show<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    match signed_in(&st, glue::cookies(&req).as_deref(), PATH) {
        Ok((session, principal)) => render(&st, &session, &principal, Extra::default()).await,
        Err(r) => into_response(r),
    }
}

/// `POST /console/apps`: registers a private app; shows its secret once.
pub async fn register<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    let (session, principal, form) = match signed_in_form(&st, req, PATH).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let auth_method = if field(&form, "client_type") == "public" {
        AuthMethod::None
    } else {
        AuthMethod::ClientSecretBasic
    };
    let reg = ClientRegistration {
        owner: principal.account.clone(),
        name: field(&form, "name").trim().to_owned(),
        redirect_uris: field(&form, "redirect_uris")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        scopes: form.all("scope").to_vec(),
        auth_method: Some(auth_method),
        resources: vec![st.resource().to_owned()],
        // New apps are private: public needs a verified domain first.
        visibility: Some(Visibility::Private),
        ..ClientRegistration::default()
    };
    match st.engine().register_client(reg).await.map_err(manage_error) {
        Ok(r) => {
            let extra = Extra {
                status: Some(201),
                notice: Some(format!("Registered {}.", r.client.name)),
                secret: r
                    .secret
                    .map(|s| (r.client.id.clone(), s.expose().to_owned())),
                ..Extra::default()
            };
            render(&st, &session, &principal, extra).await
        }
        Err(e) => render_error(&st, &session, &principal, &e).await,
    }
}

/// `POST /console/rotate`: a new secret, shown once; the old one keeps
/// working for the engine's overlap period.
pub async fn rotate<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let (session, principal, form) = match signed_in_form(&st, req, PATH).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let id = field(&form, "client_id");
    let r = match owned(&st, &principal, id).await {
        Ok(c) => st
            .engine()
            .rotate_client_secret(&c.id)
            .await
            .map_err(manage_error),
        Err(e) => Err(e),
    };
    match r {
        Ok(secret) => {
            let extra = Extra {
                notice: Some("Secret rotated. The previous secret keeps working for a day.".into()),
                secret: Some((id.to_owned(), secret.expose().to_owned())),
                ..Extra::default()
            };
            render(&st, &session, &principal, extra).await
        }
        Err(e) => render_error(&st, &session, &principal, &e).await,
    }
}

/// Runs an action on an owned app; on success flashes `done` and goes back
/// to the console (post/redirect/get), on failure shows the error.
async fn act<S, F, Fut>(st: AppState<S>, req: Request, done: &str, action: F) -> Response
where
    S: Storage + 'static,
    F: FnOnce(AppState<S>, ClientRecord, latchkey::http::Params) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let (session, principal, form) = match signed_in_form(&st, req, PATH).await {
        Ok(x) => x,
        Err(r) => return into_response(r),
    };
    let r = match owned(&st, &principal, field(&form, "client_id")).await {
        Ok(c) => action(st.clone(), c, form).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => {
            st.sessions().set_flash(&session, done);
            into_response(redirect(PATH))
        }
        Err(e) => render_error(&st, &session, &principal, &e).await,
    }
}

/// `POST /console/delete`: the app, its grants and every token go.
pub async fn delete<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    act(st, req, "App deleted.", |st, c, _| async move {
        st.engine().delete_client(&c.id).await.map_err(manage_error)
    })
    .await
}

/// `POST /console/domain`: starts proving ownership of `domain`; the
/// console then shows the challenge to publish.
pub async fn start_domain<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    let done = "Verification started: publish the challenge shown below.";
    act(st, req, done, |st, c, form| async move {
        let domain = field(&form, "domain").trim().to_owned();
        st.engine()
            .start_domain_verification(&c.id, &domain)
            .await
            .map_err(manage_error)
            .map(drop)
    })
    .await
}

/// `POST /console/domain/confirm`: marks the domain verified on the
/// operator's word; only with `--trust-domain-claims` (see module docs).
pub async fn confirm_domain<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    act(st, req, "Domain verified.", |st, c, form| async move {
        if !st.trust_domain_claims() {
            return Err(Error::AccessDenied(
                "this demo server cannot check DNS; start it with --trust-domain-claims \
                 to confirm domains on your word"
                    .into(),
            ));
        }
        st.engine()
            .confirm_domain(&c.id, field(&form, "domain"))
            .await
            .map_err(manage_error)
            .map(drop)
    })
    .await
}

/// `POST /console/visibility`: `public` (needs a verified domain hosting
/// every redirect URI; the engine checks) or `private`.
pub async fn visibility<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    act(st, req, "Visibility changed.", |st, c, form| async move {
        let visibility = match field(&form, "visibility") {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            _ => {
                return Err(Error::invalid_request(
                    "visibility must be public or private",
                ))
            }
        };
        let update = ClientUpdate {
            visibility: Some(visibility),
            ..ClientUpdate::default()
        };
        st.engine()
            .update_client(&c.id, update)
            .await
            .map(drop)
            .map_err(manage_error)
    })
    .await
}
