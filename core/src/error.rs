//! The one error type of the engine, mapped to RFC 6749 error codes.
//!
//! Every variant carries a description that is safe to show to a client.
//! Internal causes (storage, randomness) are kept behind
//! [`std::error::Error::source`] for logging and are never serialised.

use std::borrow::Cow;
use std::fmt;

use crate::storage::StorageError;

/// Short alias for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A safe, client-facing description.
pub type Description = Cow<'static, str>;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the engine.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// RFC 6749 §5.2 `invalid_request`: malformed, missing or repeated parameter.
    InvalidRequest(Description),
    /// RFC 6749 §5.2 `invalid_client`. `basic_attempted` decides whether the
    /// 401 carries `WWW-Authenticate: Basic`.
    InvalidClient {
        /// The client tried HTTP Basic authentication.
        basic_attempted: bool,
        /// Safe description.
        description: Description,
    },
    /// RFC 6749 §5.2 `invalid_grant`: bad, expired, revoked or reused grant.
    InvalidGrant(Description),
    /// RFC 6749 §5.2 `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient(Description),
    /// RFC 6749 §5.2 `unsupported_grant_type`.
    UnsupportedGrantType(Description),
    /// RFC 6749 §5.2 / §4.1.2.1 `invalid_scope`.
    InvalidScope(Description),
    /// RFC 8707 §2 `invalid_target`: a `resource` the client may not use.
    InvalidTarget(Description),
    /// RFC 6749 §4.1.2.1 `access_denied`.
    AccessDenied(Description),
    /// RFC 6749 §4.1.2.1 `unsupported_response_type`.
    UnsupportedResponseType(Description),
    /// The authorization request names an unknown client or a redirect URI
    /// that is not registered. RFC 6749 §4.1.2.1: the server must not
    /// redirect; the host shows this error itself.
    UntrustedRedirect(Description),
    /// A consent challenge that is unknown, expired, already completed or
    /// presented with the wrong user-agent binding.
    InvalidChallenge(Description),
    /// A management call named something that does not exist.
    NotFound(Description),
    /// RFC 7591 §3.2.2 `invalid_client_metadata`: a client registration or
    /// update that breaks a rule.
    InvalidClientMetadata(Description),
    /// RFC 7591 §3.2.2 `invalid_redirect_uri`.
    InvalidRedirectUri(Description),
    /// A device's poll of the token endpoint that gets no tokens yet
    /// (RFC 8628 §3.5).
    DevicePoll(DevicePollError),
    /// The HTTP method is not accepted by this endpoint (405).
    MethodNotAllowed(&'static str),
    /// The body is larger than the endpoint accepts (413).
    PayloadTooLarge,
    /// Too many requests from one address or client ([`crate::limits`]):
    /// `429` with `Retry-After` (RFC 6585 §4), coded
    /// `temporarily_unavailable` since OAuth defines no code of its own.
    RateLimited {
        /// Seconds until the next request may succeed.
        retry_after: u64,
    },
    /// RFC 6749 §5.2 `temporarily_unavailable` (503): storage is unreachable
    /// or overloaded; retrying later may work.
    TemporarilyUnavailable(Cause),
    /// `server_error` (500): anything internal. The cause is for logs only.
    ServerError(Cause),
}

impl Error {
    /// The RFC error code sent on the wire.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_)
            | Error::UntrustedRedirect(_)
            | Error::InvalidChallenge(_)
            | Error::NotFound(_)
            | Error::MethodNotAllowed(_)
            | Error::PayloadTooLarge => "invalid_request",
            Error::InvalidClient { .. } => "invalid_client",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType(_) => "unsupported_grant_type",
            Error::InvalidScope(_) => "invalid_scope",
            Error::InvalidTarget(_) => "invalid_target",
            Error::AccessDenied(_) => "access_denied",
            Error::UnsupportedResponseType(_) => "unsupported_response_type",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Error::DevicePoll(e) => e.code(),
            Error::TemporarilyUnavailable(_) | Error::RateLimited { .. } => {
                "temporarily_unavailable"
            }
            Error::ServerError(_) => "server_error",
        }
    }

    /// The HTTP status for a JSON error response (RFC 6749 §5.2).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidClient { .. } => 401,
            Error::AccessDenied(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::PayloadTooLarge => 413,
            Error::RateLimited { .. } => 429,
            Error::TemporarilyUnavailable(_) => 503,
            Error::ServerError(_) => 500,
            _ => 400,
        }
    }

    /// The description safe to send to the client, in the characters
    /// RFC 6749 §5.2 allows in `error_description` ([`wire_text`]).
    #[must_use]
    pub fn description(&self) -> Cow<'static, str> {
        wire_text(match self {
            Error::InvalidRequest(d)
            | Error::InvalidClient { description: d, .. }
            | Error::InvalidGrant(d)
            | Error::UnauthorizedClient(d)
            | Error::UnsupportedGrantType(d)
            | Error::InvalidScope(d)
            | Error::InvalidTarget(d)
            | Error::AccessDenied(d)
            | Error::UnsupportedResponseType(d)
            | Error::UntrustedRedirect(d)
            | Error::InvalidChallenge(d)
            | Error::NotFound(d)
            | Error::InvalidClientMetadata(d)
            | Error::InvalidRedirectUri(d) => d.clone(),
            Error::MethodNotAllowed(allowed) => {
                Cow::Owned(format!("method not allowed; use {allowed}"))
            }
            Error::PayloadTooLarge => Cow::Borrowed("request body too large"),
            Error::DevicePoll(e) => Cow::Borrowed(e.description()),
            Error::RateLimited { retry_after } => Cow::Owned(format!(
                "too many requests; retry after {retry_after} seconds"
            )),
            Error::TemporarilyUnavailable(_) => {
                Cow::Borrowed("the service is temporarily unavailable; retry later")
            }
            Error::ServerError(_) => Cow::Borrowed("internal server error"),
        })
    }

    /// The JSON body of RFC 6749 §5.2: `error` and `error_description`.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        }))
        .unwrap_or_default()
    }

    /// Shorthand for `invalid_request` with a static description.
    #[must_use]
    pub fn invalid_request(d: impl Into<Description>) -> Self {
        Error::InvalidRequest(d.into())
    }

    /// A `server_error` wrapping an internal cause.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Error::ServerError(cause.into())
    }
}

/// The token endpoint's answers to a device that polls too early, too
/// often, too late or for a denied request (RFC 8628 §3.5). All are
/// `400` JSON errors like any other token error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevicePollError {
    /// `authorization_pending`: the user has not decided yet.
    AuthorizationPending,
    /// `slow_down`: polled sooner than the interval, which is now 5 s
    /// longer for this and every later poll.
    SlowDown,
    /// `expired_token`: the device code expired; start over.
    ExpiredToken,
    /// `access_denied`: the user denied the request.
    AccessDenied,
}

impl DevicePollError {
    /// The RFC 8628 §3.5 error code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            DevicePollError::AuthorizationPending => "authorization_pending",
            DevicePollError::SlowDown => "slow_down",
            DevicePollError::ExpiredToken => "expired_token",
            DevicePollError::AccessDenied => "access_denied",
        }
    }

    fn description(self) -> &'static str {
        match self {
            DevicePollError::AuthorizationPending => "the user has not approved the request yet",
            DevicePollError::SlowDown => "polling too fast; the interval was raised by 5 seconds",
            DevicePollError::ExpiredToken => "the device code has expired",
            DevicePollError::AccessDenied => "the user denied the request",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::TemporarilyUnavailable(c) | Error::ServerError(c) => Some(c.as_ref()),
            _ => None,
        }
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(c) => {
                crate::observe::signal(crate::observe::Signal::StorageUnavailable, None);
                Error::TemporarilyUnavailable(c)
            }
            other => Error::ServerError(Box::new(other)),
        }
    }
}

impl From<crate::entropy::EntropyError> for Error {
    fn from(e: crate::entropy::EntropyError) -> Self {
        Error::ServerError(Box::new(e))
    }
}

/// Whether `b` may stand in `error_description` (RFC 6749 §5.2:
/// `%x20-21 / %x23-5B / %x5D-7E`, printable ASCII without `"` and `\`).
fn description_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// `text` in the characters RFC 6749 §5.2 allows in `error_description`:
/// `§` is spelled `section`, `"` becomes `'`, `\` becomes `/`, and any
/// other character outside printable ASCII becomes `?`. Descriptions
/// quote what a client sent (a redirect URI, a fetch error), and a
/// client library that trusts the grammar must not meet a quote, a
/// backslash or a control character there.
///
/// Found by the `token_endpoint` fuzz target.
#[must_use]
pub fn wire_text(text: Cow<'static, str>) -> Cow<'static, str> {
    if text.bytes().all(description_byte) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '§' => {
                out.push_str("section");
                if chars.peek() != Some(&' ') {
                    out.push(' ');
                }
            }
            '"' => out.push('\''),
            '\\' => out.push('/'),
            c if c.is_ascii() && description_byte(c as u8) => out.push(c),
            _ => out.push('?'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpResponse;

    #[test]
    fn internal_cause_is_never_serialised() {
        let e = Error::internal("db password is hunter2");
        let body = String::from_utf8(e.to_json()).unwrap();
        assert!(!body.contains("hunter2"));
        assert!(body.contains("server_error"));
        assert_eq!(e.status(), 500);
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn statuses_follow_rfc_6749() {
        let e = Error::InvalidClient {
            basic_attempted: true,
            description: "x".into(),
        };
        assert_eq!(
            HttpResponse::error(&e)
                .header("www-authenticate")
                .map(|h| &h[..5]),
            Some("Basic")
        );
        assert_eq!((e.code(), e.status()), ("invalid_client", 401));
        assert_eq!(Error::InvalidGrant("x".into()).status(), 400);
        let unavailable: Error = StorageError::Unavailable("down".into()).into();
        assert_eq!(
            (unavailable.code(), unavailable.status()),
            ("temporarily_unavailable", 503)
        );
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6749_character_set() {
        let e = Error::invalid_request("see RFC 6749 §2.3.1 and §\u{a0}5.2");
        assert_eq!(
            e.description(),
            "see RFC 6749 section 2.3.1 and section ?5.2"
        );
        let e = Error::InvalidRedirectUri("redirect URI \"a\\b\u{7}\u{e9}\" refused".into());
        assert_eq!(e.description(), "redirect URI 'a/b??' refused");
        assert!(matches!(
            Error::invalid_request("plain").description(),
            Cow::Borrowed("plain")
        ));
        let body: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(body["error_description"], "redirect URI 'a/b??' refused");
    }
}
