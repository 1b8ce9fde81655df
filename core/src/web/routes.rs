//! Every route of the OAuth surface and what it serves, for every
//! framework: an integration mounts each [`Route`] at its path and answers
//! with [`BrowserFlow::serve`], so the table (and the RFC 9728 path rule)
//! exists once.

use std::sync::Arc;

use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::{metadata_response, split_origin, ProtectedResourceMetadata};
use crate::storage::Storage;
use crate::web::cors;
use crate::web::flow::BrowserFlow;
use crate::web::handler::{Handler, Page};
use crate::web::limits::Refusal;
use crate::web::SignIn;

/// What one route serves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Endpoint {
    /// The authorization endpoint (RFC 6749 §4.1.1), through the browser flow.
    Authorize,
    /// The token endpoint (RFC 6749 §3.2).
    Token,
    /// The introspection endpoint (RFC 7662).
    Introspect,
    /// The revocation endpoint (RFC 7009).
    Revoke,
    /// The consent page (`GET`) and decision (`POST`).
    Consent,
    /// The authorization server metadata (RFC 8414 §3).
    ServerMetadata,
    /// A protected resource's metadata document (RFC 9728 §3).
    ResourceMetadata(Arc<serde_json::Value>),
    /// The client registration endpoint (RFC 7591 §3).
    Register,
    /// A client configuration endpoint (RFC 7592 §2); the path's last
    /// segment is the client id (route parameter `{client_id}`).
    RegistrationClient,
    /// A host page ([`Route::page`]), such as the ready account pages.
    Page(Page),
    /// The device authorization endpoint (RFC 8628 §3.1).
    DeviceAuthorization,
    /// The device verification page (RFC 8628 §3.3): code entry.
    DeviceVerification,
    /// The JWK Set of the access-token signing keys (RFC 8414 §2
    /// `jwks_uri`, RFC 7517 §5), cacheable.
    Jwks,
}

impl Endpoint {
    /// A short name, for spans and metric labels.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
            Endpoint::Introspect => "introspect",
            Endpoint::Revoke => "revoke",
            Endpoint::Consent => "consent",
            Endpoint::ServerMetadata => "server_metadata",
            Endpoint::ResourceMetadata(_) => "resource_metadata",
            Endpoint::Register => "register",
            Endpoint::RegistrationClient => "registration_client",
            Endpoint::Page(_) => "page",
            Endpoint::DeviceAuthorization => "device_authorization",
            Endpoint::DeviceVerification => "device_verification",
            Endpoint::Jwks => "jwks",
        }
    }
}

/// A path and what it serves.
#[derive(Clone, Debug)]
pub struct Route {
    /// The path, from the origin root (`/oauth/token`).
    pub path: String,
    /// What answers there.
    pub endpoint: Endpoint,
}

impl Route {
    /// `handler` at `path`: a page the host mounts with the OAuth routes,
    /// so one handler serves every framework.
    #[must_use]
    pub fn page(path: impl Into<String>, handler: impl Handler) -> Self {
        Route {
            path: path.into(),
            endpoint: Endpoint::Page(Page::new(handler)),
        }
    }
}

/// The path of an absolute URL (`/` for none).
fn path_of(url: &str) -> String {
    let (_, path) = split_origin(url);
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

/// The routes of `flow`'s engine: the endpoints at the paths of its
/// configured URLs (so they always match the published metadata), the
/// consent page at [`BrowserFlow::consent_path`], the RFC 8414 document at
/// `/.well-known/oauth-authorization-server<issuer path>`, and each of
/// `resources` at `/.well-known/oauth-protected-resource<resource path>`
/// (RFC 9728 §3.1). When there is exactly one resource, the bare
/// well-known path serves it too.
#[must_use]
pub fn routes<S, H>(flow: &BrowserFlow<S, H>, resources: &[ProtectedResourceMetadata]) -> Vec<Route>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    let config = flow.engine().config();
    let (_, issuer_path) = split_origin(&config.issuer);
    let e = &config.endpoints;
    let route = |path: String, endpoint| Route { path, endpoint };
    let mut out = vec![
        route(path_of(&e.authorization), Endpoint::Authorize),
        route(path_of(&e.token), Endpoint::Token),
        route(path_of(&e.introspection), Endpoint::Introspect),
        route(path_of(&e.revocation), Endpoint::Revoke),
        route(flow.consent_path().to_owned(), Endpoint::Consent),
        route(
            format!("/.well-known/oauth-authorization-server{issuer_path}"),
            Endpoint::ServerMetadata,
        ),
    ];
    if config.registration.is_some() {
        let at = path_of(&e.registration);
        out.push(route(
            format!("{at}/{{client_id}}"),
            Endpoint::RegistrationClient,
        ));
        out.push(route(at, Endpoint::Register));
    }
    if flow
        .engine()
        .grants()
        .enables(crate::model::GrantType::DeviceCode)
    {
        out.push(route(
            path_of(&e.device_authorization),
            Endpoint::DeviceAuthorization,
        ));
        out.push(route(
            flow.device_path().to_owned(),
            Endpoint::DeviceVerification,
        ));
    }
    if config.jwt.is_some() {
        out.push(route(path_of(&e.jwks), Endpoint::Jwks));
    }
    let single = resources.len() == 1;
    for m in resources {
        let (_, path) = split_origin(&m.resource);
        let doc = Endpoint::ResourceMetadata(Arc::new(m.to_json()));
        // Clients that do not insert the path (older MCP agents among
        // them) still find a lone resource.
        if single && !path.is_empty() {
            out.push(route(
                "/.well-known/oauth-protected-resource".into(),
                doc.clone(),
            ));
        }
        out.push(route(
            format!("/.well-known/oauth-protected-resource{path}"),
            doc,
        ));
    }
    out
}

impl<S: Storage + ?Sized + 'static, H: SignIn> BrowserFlow<S, H> {
    /// Answers `req` for `endpoint`. Every method reaches here, so a wrong
    /// one gets the engine's JSON 405 with `Allow`.
    pub async fn serve(&self, endpoint: &Endpoint, req: &HttpRequest) -> HttpResponse {
        let name = endpoint.name();
        let span = tracing::info_span!(
            "latchkey.request",
            endpoint = name,
            method = %req.method,
            status = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let answer =
            tracing::Instrument::instrument(self.serve_inner(endpoint, req), span.clone()).await;
        let error = crate::observe::error_code(&answer);
        span.record("status", answer.status);
        if !error.is_empty() {
            span.record("error", error);
        }
        metrics::counter!(
            "latchkey_requests_total",
            "endpoint" => name,
            "status" => answer.status.to_string(),
            "error" => error,
        )
        .increment(1);
        metrics::histogram!("latchkey_request_duration_seconds", "endpoint" => name)
            .record(started.elapsed().as_secs_f64());
        if answer.status == 429 {
            metrics::counter!("latchkey_rate_limited_total", "endpoint" => name).increment(1);
        }
        answer
    }

    async fn serve_inner(&self, endpoint: &Endpoint, req: &HttpRequest) -> HttpResponse {
        let cors = cors::methods(endpoint);
        if let Some(answer) = cors.and_then(|m| self.cors().preflight(req, m)) {
            return answer;
        }
        let mut answer = match self.rate_limits() {
            None => self.dispatch(endpoint, req).await,
            Some(rate) => {
                let now = self.engine().now();
                match rate
                    .serve(endpoint, req, now, || self.dispatch(endpoint, req))
                    .await
                {
                    Ok(answer) => answer,
                    Err(Refusal::Page(e)) => with_retry_after(self.show_error(&e), &e),
                    Err(Refusal::Json(e)) => HttpResponse::error(&e),
                }
            }
        };
        if cors.is_some() {
            self.cors().decorate(req, &mut answer);
        }
        if self.engine().config().issuer.starts_with("https://") {
            // RFC 6797: browsers that saw https here never try http again.
            answer.headers.push((
                "Strict-Transport-Security".into(),
                "max-age=31536000".into(),
            ));
        }
        answer
    }

    async fn dispatch(&self, endpoint: &Endpoint, req: &HttpRequest) -> HttpResponse {
        match endpoint {
            Endpoint::Authorize => self.authorize(req).await,
            Endpoint::Token => self.engine().token(req).await,
            Endpoint::Introspect => self.engine().introspect(req).await,
            Endpoint::Revoke => self.engine().revoke(req).await,
            Endpoint::Consent => self.consent(req).await,
            Endpoint::ServerMetadata => {
                get_only(req).unwrap_or_else(|| metadata_response(&self.engine().metadata()))
            }
            Endpoint::ResourceMetadata(doc) => {
                get_only(req).unwrap_or_else(|| metadata_response(doc))
            }
            Endpoint::Register => self.engine().register(req).await,
            Endpoint::Page(page) => page.0.handle(req.clone()).await,
            Endpoint::DeviceAuthorization => self.engine().device_authorization(req).await,
            Endpoint::DeviceVerification => self.device(req).await,
            Endpoint::Jwks => match get_only(req) {
                Some(r) => r,
                None => self.engine().jwks_response().await,
            },
            Endpoint::RegistrationClient => {
                let last = req.path.rsplit('/').next().unwrap_or_default();
                match crate::http::decode_component(last) {
                    Ok(id) => self.engine().manage_registration(req, &id).await,
                    Err(e) => HttpResponse::error(&e),
                }
            }
        }
    }
}

/// A page refusing a rate-limited request says when to come back, as the
/// JSON answer does (RFC 6585 §4).
fn with_retry_after(mut page: HttpResponse, e: &Error) -> HttpResponse {
    if let Error::RateLimited { retry_after } = e {
        page.status = 429;
        page = page.retry_after(*retry_after);
    }
    page
}

/// `Some(405)` unless `req` is a `GET` or `HEAD`.
fn get_only(req: &HttpRequest) -> Option<HttpResponse> {
    (!matches!(req.method.as_str(), "GET" | "HEAD"))
        .then(|| HttpResponse::error(&Error::MethodNotAllowed("GET, HEAD")))
}
