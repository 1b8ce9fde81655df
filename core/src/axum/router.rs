//! The OAuth router: every endpoint and the browser flow around them.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::any;
use axum::Router;

use crate::authorize::{AuthorizeOutcome, ConsentDecision, Principal};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{encode_form, HttpRequest, HttpResponse, Params};
use crate::metadata::{metadata_response, split_origin, ProtectedResourceMetadata};
use crate::storage::Storage;
use crate::web::page::{consent_form, error_page, redirect, with_cookie};
use crate::web::{Session, Sessions, SignIn};

/// Builds the OAuth router. Routes follow the engine's configured endpoint
/// URLs (so they always match the published metadata); mount the router
/// at the origin root (`Router::merge`).
///
/// | Route | Serves |
/// |---|---|
/// | authorization endpoint (`/oauth/authorize`) | RFC 6749 §4.1.1, `GET` and `POST` |
/// | token endpoint (`/oauth/token`) | RFC 6749 §3.2 |
/// | introspection endpoint (`/oauth/introspect`) | RFC 7662 |
/// | revocation endpoint (`/oauth/revoke`) | RFC 7009 |
/// | `<issuer path>/oauth/consent` | the consent page (`GET`) and decision (`POST`) |
/// | `/.well-known/oauth-authorization-server<issuer path>` | RFC 8414 §3 |
/// | `/.well-known/oauth-protected-resource<resource path>` | RFC 9728 §3, per [`OAuthRouter::protected_resource`] |
///
/// Each route answers a wrong method with the engine's JSON 405 (with
/// `Allow`), and an oversized body with its JSON 413.
pub struct OAuthRouter<S: ?Sized, H> {
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    sign_in: Arc<H>,
    resources: Vec<ProtectedResourceMetadata>,
}

impl<S: ?Sized, H> std::fmt::Debug for OAuthRouter<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRouter")
            .field("engine", &self.engine)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// [`OAuthRouter::new`] then [`OAuthRouter::into_router`]: the router with
/// no protected-resource documents.
pub fn router<S, H, St>(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Router<St>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
    St: Clone + Send + Sync + 'static,
{
    OAuthRouter::new(engine, sessions, sign_in).into_router()
}

struct Shared<S: ?Sized, H> {
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    sign_in: Arc<H>,
    consent_path: String,
}

type St<S, H> = State<Arc<Shared<S, H>>>;

/// The path of an absolute URL (`/` for none).
fn path_of(url: &str) -> String {
    let (_, path) = split_origin(url);
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

impl<S, H> OAuthRouter<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    /// A router for `engine`, keeping browser sessions in `sessions` (share
    /// the `Arc` with the host's sign-in page) and asking `sign_in` who is
    /// signed in.
    #[must_use]
    pub fn new(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Self {
        OAuthRouter {
            engine,
            sessions,
            sign_in: Arc::new(sign_in),
            resources: Vec::new(),
        }
    }

    /// Also serves `metadata` (RFC 9728 §2) at
    /// `/.well-known/oauth-protected-resource` followed by the resource's
    /// path (§3.1). When this is the only resource, the bare well-known
    /// path serves it too.
    #[must_use]
    pub fn protected_resource(mut self, metadata: ProtectedResourceMetadata) -> Self {
        self.resources.push(metadata);
        self
    }

    /// The axum router, for any host state type.
    pub fn into_router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        let config = self.engine.config();
        let (_, issuer_path) = split_origin(&config.issuer);
        let issuer_path = issuer_path.to_owned();
        let endpoints = config.endpoints.clone();
        let shared = Arc::new(Shared {
            consent_path: format!("{issuer_path}/oauth/consent"),
            engine: self.engine,
            sessions: self.sessions,
            sign_in: self.sign_in,
        });
        let mut r: Router<Arc<Shared<S, H>>> = Router::new()
            .route(&path_of(&endpoints.authorization), any(authorize::<S, H>))
            .route(&path_of(&endpoints.token), any(token::<S, H>))
            .route(&path_of(&endpoints.introspection), any(introspect::<S, H>))
            .route(&path_of(&endpoints.revocation), any(revoke::<S, H>))
            .route(&shared.consent_path, any(consent::<S, H>))
            .route(
                &format!("/.well-known/oauth-authorization-server{issuer_path}"),
                any(server_metadata::<S, H>),
            );
        let single = self.resources.len() == 1;
        for m in self.resources {
            let (_, path) = split_origin(&m.resource);
            let doc = Arc::new(m.to_json());
            // Clients that do not insert the path (older MCP agents among
            // them) still find a lone resource.
            if single && !path.is_empty() {
                r = r.route(
                    "/.well-known/oauth-protected-resource",
                    well_known(doc.clone()),
                );
            }
            let at = format!("/.well-known/oauth-protected-resource{path}");
            r = r.route(&at, well_known(doc));
        }
        r.with_state(shared)
    }
}

/// A `GET`-only route answering `doc`.
fn well_known<T: Clone + Send + Sync + 'static>(
    doc: Arc<serde_json::Value>,
) -> axum::routing::MethodRouter<T> {
    any(move |req: HttpRequest| {
        let doc = doc.clone();
        async move { get_only(&req).unwrap_or_else(|| metadata_response(&doc)) }
    })
}

/// `Some(405)` unless `req` is a `GET` or `HEAD`.
fn get_only(req: &HttpRequest) -> Option<HttpResponse> {
    (!matches!(req.method.as_str(), "GET" | "HEAD"))
        .then(|| HttpResponse::error(&Error::MethodNotAllowed("GET, HEAD")))
}

async fn server_metadata<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    get_only(&req).unwrap_or_else(|| metadata_response(&st.engine.metadata()))
}

async fn token<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine.token(&req).await
}

async fn introspect<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine.introspect(&req).await
}

async fn revoke<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine.revoke(&req).await
}

/// The authorization endpoint. Every request gets a session (anonymous
/// until sign-in) because the engine binds the parked request to it.
async fn authorize<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    let (session, set_cookie) = match st.sessions.load_or_create(&req).await {
        Ok(x) => x,
        Err(e) => return show_error(&e.into()),
    };
    let principal = st.principal(&session).await;
    let outcome = st
        .engine
        .authorize(&req, principal.as_ref(), &session.binding)
        .await;
    with_cookie(st.outcome(&session, outcome), set_cookie)
}

/// `GET`: the consent page for `?challenge=`; `POST`: the decision.
async fn consent<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    match req.method.as_str() {
        "GET" => st.show_consent(&req).await,
        "POST" => st.decide(&req).await,
        _ => HttpResponse::error(&Error::MethodNotAllowed("GET, POST")),
    }
}

impl<S: Storage + ?Sized + 'static, H: SignIn> Shared<S, H> {
    async fn principal(&self, session: &Session) -> Option<Principal> {
        // Anonymous sessions never reach the host's hook.
        session.user.as_ref()?;
        self.sign_in.principal(session).await
    }

    fn consent_url(&self, challenge: &str) -> String {
        format!(
            "{}?{}",
            self.consent_path,
            encode_form(&[("challenge", challenge)])
        )
    }

    /// What the browser sees for an engine outcome.
    fn outcome(&self, session: &Session, outcome: AuthorizeOutcome) -> HttpResponse {
        match outcome {
            AuthorizeOutcome::Redirect(url) => redirect(&url),
            AuthorizeOutcome::LoginRequired { challenge } => redirect(
                &self
                    .sign_in
                    .sign_in_location(&self.consent_url(challenge.expose())),
            ),
            AuthorizeOutcome::ConsentRequired(prompt) => {
                let user = session.user.as_deref().unwrap_or_default();
                consent_form(&prompt, user, session.csrf.expose(), &self.consent_path)
            }
            AuthorizeOutcome::ShowError(e) => show_error(&e),
        }
    }

    async fn show_consent(&self, req: &HttpRequest) -> HttpResponse {
        let params = match Params::parse(&req.query) {
            Ok(p) => p,
            Err(e) => return show_error(&e),
        };
        let challenge = match params.required("challenge") {
            Ok(c) => c,
            Err(e) => return show_error(&e),
        };
        let session = match self.sessions.load(req).await {
            Ok(s) => s,
            Err(e) => return show_error(&e.into()),
        };
        let signed_in = match &session {
            Some(s) => self.principal(s).await.map(|p| (s, p)),
            None => None,
        };
        let Some((session, principal)) = signed_in else {
            let next = self.consent_url(challenge);
            return redirect(&self.sign_in.sign_in_location(&next));
        };
        let outcome = self
            .engine
            .resume(challenge, &session.binding, &principal)
            .await;
        self.outcome(session, outcome)
    }

    async fn decide(&self, req: &HttpRequest) -> HttpResponse {
        let form = match req.form_body() {
            Ok(f) => f,
            Err(e) => return show_error(&e),
        };
        let session = match self.sessions.load(req).await {
            Ok(s) => s,
            Err(e) => return show_error(&e.into()),
        };
        let signed_in = match &session {
            Some(s) => self.principal(s).await.map(|p| (s, p)),
            None => None,
        };
        let Some((session, principal)) = signed_in else {
            return error_page(
                401,
                "Signed out",
                "Your session ended before you decided. Return to the application and start again.",
            );
        };
        // Checked before anything else of the form is looked at: a page of
        // another site cannot post a decision (CSRF).
        if !session.csrf_ok(form.single("csrf").ok().flatten()) {
            return error_page(
                403,
                "Form expired",
                "The form was not sent from this site's current page. Go back, reload and try again.",
            );
        }
        let field = |name| form.single(name).ok().flatten().unwrap_or("");
        let challenge = field("challenge");
        let outcome = match field("decision") {
            "allow" => {
                let decision = ConsentDecision {
                    scopes: None,
                    remember: field("remember") == "on",
                };
                self.engine
                    .accept(challenge, &session.binding, &principal, decision)
                    .await
            }
            "deny" => self.engine.reject(challenge, &session.binding).await,
            _ => return show_error(&Error::invalid_request("decision must be allow or deny")),
        };
        self.outcome(session, outcome)
    }
}

/// An error for a person at a browser, never a redirect. A wrong method or
/// an oversized body keeps the engine's JSON (machines send those).
fn show_error(e: &Error) -> HttpResponse {
    let title = match e {
        Error::MethodNotAllowed(_) | Error::PayloadTooLarge => return HttpResponse::error(e),
        Error::InvalidChallenge(_) => "This request has expired",
        Error::UntrustedRedirect(_) => "The application sent an invalid request",
        Error::TemporarilyUnavailable(_) => "Try again in a moment",
        Error::ServerError(_) => "Something went wrong",
        _ => "Something is wrong with this request",
    };
    error_page(e.status(), title, &e.description())
}
