//! [`WellKnownVerifier`] (feature `domain-https`): the challenge as the file
//! `https://<domain>/.well-known/latchkey-challenge`, fetched through cimd's
//! SSRF-guarded [`HttpsFetcher`]: HTTPS only, every connected address
//! checked ([`crate::cimd::is_public_address`]), no redirects, bounded in
//! size and time.

use async_trait::async_trait;

use crate::cimd::{FetchError, HttpsFetcher};

use super::{
    check_domain_name, published_matches, DomainVerifier, Failure, Found, Method, VerifyError,
};

/// Where the file is served (RFC 8615 well-known URI).
pub const WELL_KNOWN_PATH: &str = "/.well-known/latchkey-challenge";

/// Largest file read: a challenge is under 100 bytes; a few lines of them
/// (one per server the domain is proven to) fit with room to spare.
const MAX_FILE_BYTES: usize = 1024;

/// Looks for the challenge as a line of the file at
/// `https://<domain>/.well-known/latchkey-challenge`.
#[derive(Clone, Debug)]
pub struct WellKnownVerifier {
    fetcher: HttpsFetcher,
}

impl WellKnownVerifier {
    /// A verifier fetching through `fetcher` (its time limit, roots and,
    /// in tests only, its loopback allowance apply).
    #[must_use]
    pub fn new(fetcher: HttpsFetcher) -> Self {
        WellKnownVerifier { fetcher }
    }
}

fn classify(e: FetchError) -> Failure {
    match e {
        // 404 and 410 are the server saying there is no such file.
        FetchError::Status(404 | 410) => Failure::NotPublished,
        FetchError::Status(s) => Failure::Status(s),
        FetchError::Redirect(s) => Failure::Redirect(s),
        FetchError::Resolve => Failure::NoSuchDomain,
        FetchError::BlockedAddress => Failure::BlockedAddress,
        FetchError::TooLarge(n) => Failure::TooLarge(n),
        FetchError::Timeout => Failure::Timeout,
        FetchError::NotHttps => Failure::InvalidDomain,
        FetchError::Setup(c) => Failure::Setup(c),
        FetchError::Network(c) => Failure::Network(c),
        e @ FetchError::ContentType => Failure::Network(Box::new(e)),
    }
}

#[async_trait]
impl DomainVerifier for WellKnownVerifier {
    async fn check(&self, domain: &str, challenge: &str) -> Result<Found, VerifyError> {
        let fail = |f| VerifyError::one(Method::WellKnownFile, f);
        let domain = check_domain_name(domain).map_err(|_| fail(Failure::InvalidDomain))?;
        let url = format!("https://{domain}{WELL_KNOWN_PATH}");
        // Any content type: static hosts serve an extension-less file as
        // text/plain or application/octet-stream alike.
        let (_, body) = self
            .fetcher
            .get_guarded(&url, "text/plain", |_| true, MAX_FILE_BYTES)
            .await
            .map_err(|e| fail(classify(e)))?;
        let lines = body.split(|b| *b == b'\n');
        if body.trim_ascii().is_empty() {
            return Err(fail(Failure::NotPublished));
        }
        if published_matches(lines, challenge) {
            Ok(Found {
                method: Method::WellKnownFile,
            })
        } else {
            Err(fail(Failure::WrongValue))
        }
    }
}
