//! Cross-origin access for browser-based clients (the Fetch standard's
//! CORS protocol): single-page apps and browser-hosted MCP clients read the
//! metadata and the JWK Set and call the token, revocation and registration endpoints
//! without credentials. Never the authorization endpoint, consent, code
//! entry or any page: those are for top-level navigation only.

use crate::http::{HttpRequest, HttpResponse};
use crate::web::routes::Endpoint;

/// Which origins may call the endpoints browser-based clients need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cors {
    /// Any origin (`Access-Control-Allow-Origin: *`): the endpoints take
    /// no cookies, so no origin gains anything another could not.
    #[default]
    Any,
    /// Only these origins (`https://app.example`), echoed back.
    Origins(Vec<String>),
    /// No CORS headers at all.
    Off,
}

/// The methods `endpoint` serves cross-origin, if it does.
pub(crate) fn methods(endpoint: &Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::ServerMetadata | Endpoint::ResourceMetadata(_) | Endpoint::Jwks => {
            Some("GET, HEAD")
        }
        Endpoint::Token | Endpoint::Revoke | Endpoint::Register => Some("POST"),
        Endpoint::RegistrationClient => Some("GET, PUT, DELETE"),
        _ => None,
    }
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for `req`, if allowed.
    fn allow_origin(&self, req: &HttpRequest) -> Option<String> {
        match self {
            Cors::Any => Some("*".into()),
            Cors::Origins(list) => {
                let origin = req.header("origin").ok().flatten()?;
                list.iter().any(|o| o == origin).then(|| origin.to_owned())
            }
            Cors::Off => None,
        }
    }

    /// The answer to a CORS preflight (`OPTIONS` with
    /// `Access-Control-Request-Method`) for an endpoint serving `methods`;
    /// `None` when `req` is not one.
    pub(crate) fn preflight(&self, req: &HttpRequest, methods: &str) -> Option<HttpResponse> {
        if req.method != "OPTIONS"
            || !matches!(req.header("access-control-request-method"), Ok(Some(_)))
            || *self == Cors::Off
        {
            return None;
        }
        let mut headers = vec![("Vary".to_owned(), "Origin".to_owned())];
        if let Some(origin) = self.allow_origin(req) {
            for (k, v) in [
                ("Access-Control-Allow-Origin", origin.as_str()),
                ("Access-Control-Allow-Methods", methods),
                (
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type",
                ),
                ("Access-Control-Max-Age", "600"),
            ] {
                headers.push((k.to_owned(), v.to_owned()));
            }
        }
        Some(HttpResponse {
            status: 204,
            headers,
            body: Vec::new(),
        })
    }

    /// Adds the CORS headers of an actual (not preflight) response.
    pub(crate) fn decorate(&self, req: &HttpRequest, answer: &mut HttpResponse) {
        if let Some(origin) = self.allow_origin(req) {
            if origin != "*" {
                answer.headers.push(("Vary".into(), "Origin".into()));
            }
            answer
                .headers
                .push(("Access-Control-Allow-Origin".into(), origin));
            answer.headers.push((
                "Access-Control-Expose-Headers".into(),
                "WWW-Authenticate, Retry-After".into(),
            ));
        }
    }
}
