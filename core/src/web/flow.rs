//! The browser side of the authorization endpoint, for every framework:
//! sessions around [`Engine::authorize`], the sign-in hand-off, the consent
//! page and the decision. A framework integration converts its request
//! into an [`HttpRequest`], calls [`BrowserFlow::authorize`] or
//! [`BrowserFlow::consent`] (or mounts every route of
//! [`crate::web::routes::routes`] on [`BrowserFlow::serve`]), and converts
//! the [`HttpResponse`] back.

mod device;

use std::sync::Arc;

use crate::authorize::{AuthorizeOutcome, ConsentDecision, ConsentPrompt, Principal};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{encode_form, HttpRequest, HttpResponse, Params};
use crate::metadata::split_origin;
use crate::storage::Storage;
use crate::web::page::{consent_form, error_page, redirect, with_cookie};
use crate::web::{Session, Sessions, SignIn};

pub use device::{DeviceEntryPage, EntryProblem, GuessLimits};

/// How the flow's pages look: the consent page and error pages.
pub trait Pages: Send + Sync + 'static {
    /// The consent page for `prompt`, shown to the signed-in `session`,
    /// posting to `action`. Its form's `csrf` field must be
    /// [`Session::consent_csrf`] of the challenge: the session's bare token
    /// is refused there.
    fn consent(&self, prompt: &ConsentPrompt, session: &Session, action: &str) -> HttpResponse;

    /// An error page for a person at a browser (never a redirect).
    fn error(&self, error: &Error) -> HttpResponse;

    /// Whether the consent page lets the user untick requested scopes; the
    /// decision then carries one `scope` field per ticked permission.
    fn partial_approval(&self) -> bool {
        false
    }

    /// The device verification page (RFC 8628 §3.3): the form where the
    /// user types the code their device shows.
    fn device_entry(&self, page: &DeviceEntryPage<'_>) -> HttpResponse {
        device::plain_entry(page)
    }

    /// What the user sees after deciding on a device request: go back to
    /// the device.
    fn device_decided(&self, approved: bool, client_name: &str) -> HttpResponse {
        device::plain_decided(approved, client_name)
    }
}

/// Minimal built-in pages, without the `ui` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainPages;

impl Pages for PlainPages {
    fn consent(&self, prompt: &ConsentPrompt, session: &Session, action: &str) -> HttpResponse {
        let user = session.user.as_deref().unwrap_or_default();
        let csrf = session.consent_csrf(prompt.challenge.expose());
        consent_form(prompt, user, &csrf, action)
    }

    fn error(&self, e: &Error) -> HttpResponse {
        let (title, _) = describe(e);
        error_page(e.status(), title, &e.description())
    }
}

/// A heading and a next step for an error shown to a person.
#[must_use]
pub fn describe(e: &Error) -> (&'static str, &'static str) {
    match e {
        Error::InvalidChallenge(_) => (
            "This request has expired",
            "Go back to the application and start signing in again.",
        ),
        Error::UntrustedRedirect(_) => (
            "The application sent an invalid request",
            "Go back to the application and try again. If it keeps happening, tell its developer.",
        ),
        Error::AccessDenied(_) => (
            "This application is not available to you",
            "Sign in with another account, or ask the application's owner for access.",
        ),
        Error::RateLimited { .. } => ("Too many requests", "Wait a minute, then try again."),
        Error::TemporarilyUnavailable(_) => (
            "Try again in a moment",
            "The service is busy or briefly unavailable. Reload the page in a minute.",
        ),
        Error::ServerError(_) => (
            "Something went wrong",
            "Reload the page. If it keeps happening, contact support.",
        ),
        _ => (
            "Something is wrong with this request",
            "Go back to the application and try again.",
        ),
    }
}

/// The browser flow of one engine.
pub struct BrowserFlow<S: ?Sized, H> {
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    sign_in: Arc<H>,
    pages: Arc<dyn Pages>,
    consent_path: String,
    device: device::DeviceEntry,
    rate: Option<crate::web::limits::RateGuard>,
    cors: crate::web::Cors,
}

impl<S: ?Sized, H> std::fmt::Debug for BrowserFlow<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserFlow")
            .field("consent_path", &self.consent_path)
            .finish_non_exhaustive()
    }
}

impl<S: Storage + ?Sized + 'static, H: SignIn> BrowserFlow<S, H> {
    /// The flow for `engine`, keeping sessions in `sessions` (shared with
    /// the host's sign-in page), asking `sign_in` who is signed in, and
    /// rendering with `pages`. The consent page lives at
    /// `<issuer path>/oauth/consent`.
    #[must_use]
    pub fn new(
        engine: Engine<S>,
        sessions: Arc<Sessions>,
        sign_in: Arc<H>,
        pages: Arc<dyn Pages>,
    ) -> Self {
        let (_, issuer_path) = split_origin(&engine.config().issuer);
        BrowserFlow {
            consent_path: format!("{issuer_path}/oauth/consent"),
            device: device::DeviceEntry::new(&engine),
            engine,
            sessions,
            sign_in,
            pages,
            rate: Some(crate::web::limits::RateGuard::default()),
            cors: crate::web::Cors::default(),
        }
    }

    /// Answers cross-origin requests to the metadata, token, revocation
    /// and registration endpoints as `cors` says (default: any origin).
    #[must_use]
    pub fn with_cors(mut self, cors: crate::web::Cors) -> Self {
        self.cors = cors;
        self
    }

    /// The CORS policy.
    #[must_use]
    pub fn cors(&self) -> &crate::web::Cors {
        &self.cors
    }

    /// Rate limits the routes with `guard`, or not at all with `None`
    /// (default: [`crate::limits::Limits::default`] in memory).
    #[must_use]
    pub fn with_rate_limits(mut self, guard: Option<crate::web::limits::RateGuard>) -> Self {
        self.rate = guard;
        self
    }

    /// The rate limits in force.
    #[must_use]
    pub fn rate_limits(&self) -> Option<&crate::web::limits::RateGuard> {
        self.rate.as_ref()
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// Where the consent page is served.
    #[must_use]
    pub fn consent_path(&self) -> &str {
        &self.consent_path
    }

    /// The authorization endpoint (RFC 6749 §4.1.1). Every request gets a
    /// session (anonymous until sign-in) because the engine binds the
    /// parked request to it.
    pub async fn authorize(&self, req: &HttpRequest) -> HttpResponse {
        let (session, set_cookie) = match self.sessions.load_or_create(req).await {
            Ok(x) => x,
            Err(e) => return self.show_error(&e.into()),
        };
        let principal = self.principal(&session).await;
        let outcome = self
            .engine
            .authorize(req, principal.as_ref(), &session.binding)
            .await;
        with_cookie(self.outcome(&session, outcome), set_cookie)
    }

    /// `GET`: the consent page for `?challenge=`; `POST`: the decision.
    pub async fn consent(&self, req: &HttpRequest) -> HttpResponse {
        match req.method.as_str() {
            "GET" => self.show_consent(req).await,
            "POST" => self.decide(req).await,
            _ => HttpResponse::error(&Error::MethodNotAllowed("GET, POST")),
        }
    }

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
                self.pages.consent(&prompt, session, &self.consent_path)
            }
            AuthorizeOutcome::ShowError(e) => self.show_error(&e),
            AuthorizeOutcome::DeviceDecided {
                approved,
                client_name,
            } => self.pages.device_decided(approved, &client_name),
        }
    }

    async fn show_consent(&self, req: &HttpRequest) -> HttpResponse {
        let params = match Params::parse(&req.query) {
            Ok(p) => p,
            Err(e) => return self.show_error(&e),
        };
        let challenge = match params.required("challenge") {
            Ok(c) => c,
            Err(e) => return self.show_error(&e),
        };
        let (session, principal) = match self.signed_in(req).await {
            Ok(Some(x)) => x,
            Ok(None) => {
                let next = self.consent_url(challenge);
                return redirect(&self.sign_in.sign_in_location(&next));
            }
            Err(r) => return r,
        };
        let outcome = self
            .engine
            .resume(
                challenge,
                &session.binding,
                &principal,
                &crate::audit::Source::of(req),
            )
            .await;
        self.outcome(&session, outcome)
    }

    async fn decide(&self, req: &HttpRequest) -> HttpResponse {
        let form = match req.form_body() {
            Ok(f) => f,
            Err(e) => return self.show_error(&e),
        };
        let (session, principal) = match self.signed_in(req).await {
            Ok(Some(x)) => x,
            Err(r) => return r,
            Ok(None) => return error_page(
                401,
                "Signed out",
                "Your session ended before you decided. Return to the application and start again.",
            ),
        };
        // Checked before anything else of the form is looked at: a page of
        // another site cannot post a decision (CSRF).
        if !session.decision_posted_here(req, &form, &self.engine.config().issuer) {
            return error_page(
                403,
                "Form expired",
                "The form was not sent from this site's current page. Go back, reload and try again.",
            );
        }
        let decision = match read_decision(&form, self.pages.partial_approval()) {
            Ok(d) => d,
            Err(e) => return self.show_error(&e),
        };
        let outcome = match decision.choice {
            Choice::Allow(d) => {
                self.engine
                    .accept(
                        &decision.challenge,
                        &session.binding,
                        &principal,
                        d,
                        &crate::audit::Source::of(req),
                    )
                    .await
            }
            Choice::Deny => {
                self.engine
                    .reject(&decision.challenge, &session.binding)
                    .await
            }
            Choice::SwitchAccount => {
                return self.switch_account(&session, &decision.challenge).await
            }
        };
        self.outcome(&session, outcome)
    }

    /// "Not you?": signs the session out and sends the browser to sign in,
    /// then back to the same authorization request, which parks again
    /// under the new user's session (a challenge never moves between
    /// users: the binding changes at sign-in).
    async fn switch_account(&self, session: &Session, challenge: &str) -> HttpResponse {
        let again = match self.engine.restart(challenge, &session.binding).await {
            Ok(path) => path,
            Err(e) => return self.show_error(&e),
        };
        match self.sessions.sign_out(session).await {
            Ok(cookie) => with_cookie(
                redirect(&self.sign_in.sign_in_location(&again)),
                Some(cookie),
            ),
            Err(e) => self.show_error(&e.into()),
        }
    }

    /// The session of `req` and who is signed in to it; `Ok(None)` when
    /// nobody is (no session, anonymous, or a user the host no longer
    /// knows).
    async fn signed_in(
        &self,
        req: &HttpRequest,
    ) -> Result<Option<(Session, Principal)>, HttpResponse> {
        let Some(session) = self
            .sessions
            .load(req)
            .await
            .map_err(|e| self.show_error(&e.into()))?
        else {
            return Ok(None);
        };
        Ok(self.principal(&session).await.map(|p| (session, p)))
    }

    /// An error for a person at a browser, never a redirect. A wrong method
    /// or an oversized body keeps the engine's JSON (machines send those).
    pub(crate) fn show_error(&self, e: &Error) -> HttpResponse {
        match e {
            Error::MethodNotAllowed(_) | Error::PayloadTooLarge => HttpResponse::error(e),
            _ => self.pages.error(e),
        }
    }
}

/// What a consent form asked for.
#[derive(Clone, Debug)]
pub struct ConsentForm {
    /// The challenge to pass to `accept`/`reject`.
    pub challenge: String,
    /// The user's choice.
    pub choice: Choice,
}

/// The button the user pressed on the consent page (`decision`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Choice {
    /// `allow`, with what was approved ([`Engine::accept`]).
    Allow(ConsentDecision),
    /// `deny` ([`Engine::reject`]).
    Deny,
    /// `switch_account`: sign out, sign in as someone else, and start the
    /// same request again ([`Engine::restart`]).
    SwitchAccount,
}

/// Reads a consent form (after its CSRF token was checked). With
/// `partial_approval`, the `scope` values become the approved scopes (the
/// engine checks they are a non-empty subset of the request); without it,
/// `scope` fields are ignored and everything requested is approved.
///
/// `decision=switch_account` asks to decide as another user
/// ([`Choice::SwitchAccount`]).
///
/// # Errors
/// `invalid_request` for a missing challenge or an unknown decision.
pub fn read_decision(params: &Params, partial_approval: bool) -> Result<ConsentForm, Error> {
    params.reject_repeats(&["scope"])?;
    let challenge = params.required("challenge")?.to_owned();
    let remember = params.single("remember")? == Some("on");
    let choice = match params.required("decision")? {
        "allow" => {
            let scopes = if partial_approval {
                Some(crate::scope::ScopeSet::from_tokens(
                    params.all("scope").to_vec(),
                )?)
            } else {
                None
            };
            Choice::Allow(ConsentDecision { scopes, remember })
        }
        "deny" => Choice::Deny,
        "switch_account" => Choice::SwitchAccount,
        _ => {
            return Err(Error::invalid_request(
                "decision must be allow, deny or switch_account",
            ))
        }
    };
    Ok(ConsentForm { challenge, choice })
}
