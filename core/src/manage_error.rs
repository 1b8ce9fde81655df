//! The error type of management calls: clients, domains, connected apps,
//! the outbox and purge.
//!
//! Protocol endpoints answer a client with an OAuth error code
//! ([`crate::Error`]); a management call answers the host (a developer
//! console, a dashboard, an operator's script), which needs to know what
//! went wrong with its request, not which RFC 6749 code a client would see.
//! So each kind of failure has its own variant here, modelled on redb's
//! per-operation error enums.

use crate::error::{Description, Error};
use crate::storage::StorageError;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a management call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    /// The client, grant or domain named does not exist (or is not the
    /// caller's to see).
    #[error("not found: {0}")]
    NotFound(Description),
    /// The client metadata is not acceptable; the text names the field and
    /// is safe to show to the developer who sent it.
    #[error("invalid client metadata: {0}")]
    InvalidMetadata(Description),
    /// A redirect URI is not acceptable (RFC 7591 §3.2.2's
    /// `invalid_redirect_uri` when this reaches a registration endpoint).
    #[error("invalid redirect URI: {0}")]
    InvalidRedirectUri(Description),
    /// The caller's role does not allow this change (see
    /// [`crate::audit::Acting::check`]); the text says why and is safe to
    /// show.
    #[error("forbidden: {0}")]
    Forbidden(Description),
    /// A client with this id already exists.
    #[error("a client with this id already exists")]
    AlreadyExists,
    /// The storage backend is unreachable or overloaded; retrying later
    /// may succeed (also after repeatedly losing races to concurrent
    /// writers).
    #[error("storage temporarily unavailable; retry later")]
    Unavailable(#[source] Cause),
    /// Anything else: a storage failure, randomness failure or bug. The
    /// cause is for logs, not for the person at the console.
    #[error("internal failure")]
    Internal(#[source] Cause),
}

impl ManageError {
    /// An HTTP status and a message safe to show to the person whose
    /// request failed (never the cause of a storage failure).
    #[must_use]
    pub fn user_facing(&self) -> (u16, String) {
        match self {
            ManageError::NotFound(d) => (404, d.to_string()),
            ManageError::InvalidMetadata(d) | ManageError::InvalidRedirectUri(d) => {
                (400, d.to_string())
            }
            ManageError::Forbidden(d) => (403, d.to_string()),
            ManageError::AlreadyExists => (400, "an app with this id already exists".into()),
            ManageError::Unavailable(_) => {
                (503, "The service is busy; try again in a moment.".into())
            }
            ManageError::Internal(_) => (500, "Something went wrong; try again.".into()),
        }
    }

    /// A stable machine-readable code: for metadata problems the RFC 7591
    /// §3.2.2 code a registration endpoint answers with.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ManageError::NotFound(_) => "not_found",
            ManageError::Forbidden(_) => "forbidden",
            ManageError::InvalidMetadata(_) | ManageError::AlreadyExists => {
                "invalid_client_metadata"
            }
            ManageError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            ManageError::Unavailable(_) => "temporarily_unavailable",
            ManageError::Internal(_) => "server_error",
        }
    }
}

impl From<StorageError> for ManageError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ManageError::NotFound("record".into()),
            StorageError::Unavailable(c) => ManageError::Unavailable(c),
            other => ManageError::Internal(Box::new(other)),
        }
    }
}

/// The engine's validators speak [`Error`] (registration endpoints need the
/// RFC codes); management callers get the matching variant.
impl From<Error> for ManageError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(d) => ManageError::NotFound(d),
            Error::InvalidRedirectUri(d) => ManageError::InvalidRedirectUri(d),
            Error::TemporarilyUnavailable(c) => ManageError::Unavailable(c),
            Error::ServerError(c) => ManageError::Internal(c),
            other => ManageError::InvalidMetadata(other.description()),
        }
    }
}

impl From<crate::entropy::EntropyError> for ManageError {
    fn from(e: crate::entropy::EntropyError) -> Self {
        ManageError::Internal(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_errors_keep_their_meaning() {
        let m: ManageError = Error::InvalidScope("unknown scope x".into()).into();
        assert!(matches!(m, ManageError::InvalidMetadata(ref d) if d == "unknown scope x"));
        let m: ManageError = StorageError::Unavailable("down".into()).into();
        assert!(matches!(m, ManageError::Unavailable(_)));
        let m: ManageError = StorageError::Backend("disk on fire".into()).into();
        assert_eq!(m.to_string(), "internal failure", "causes are not shown");
    }
}
