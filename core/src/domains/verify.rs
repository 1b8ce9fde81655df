//! The verifier seam: the engine asks "is this challenge published on
//! this domain?" and a verifier answers, with no network code in the
//! engine itself.

use async_trait::async_trait;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where a challenge can be published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// A TXT record at `_latchkey-challenge.<domain>`.
    DnsTxt,
    /// The file `https://<domain>/.well-known/latchkey-challenge`.
    WellKnownFile,
}

impl Method {
    /// What the developer is told: where the check looked.
    #[must_use]
    pub fn describe(self, domain: &str) -> String {
        match self {
            Method::DnsTxt => format!("DNS TXT record at _latchkey-challenge.{domain}"),
            Method::WellKnownFile => {
                format!("HTTPS file https://{domain}/.well-known/latchkey-challenge")
            }
        }
    }
}

/// The challenge was found published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Where it was found.
    pub method: Method,
}

/// Why one method did not find the challenge. The `Display` text is safe to
/// show to the developer: it names what was seen, never internal details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The name is not a host name that may be claimed.
    #[error("the domain is not a valid host name")]
    InvalidDomain,
    /// DNS says the name does not exist.
    #[error("the name does not exist (NXDOMAIN)")]
    NoSuchDomain,
    /// The place exists but holds no value (no TXT record; HTTP 404 or 410).
    #[error("no challenge is published there")]
    NotPublished,
    /// Values are published, but none is this challenge.
    #[error("a value is published, but not this challenge")]
    WrongValue,
    /// No answer within the time limit.
    #[error("no answer in time")]
    Timeout,
    /// The server answered with a redirect; none is followed.
    #[error("the server answered with a redirect ({0}), which is not followed")]
    Redirect(u16),
    /// Any other HTTP status than 200, 404 or 410.
    #[error("the server answered with HTTP status {0}")]
    Status(u16),
    /// The name resolves only to private, loopback or otherwise internal
    /// addresses, which are never connected to.
    #[error("the domain resolves only to internal addresses, which are never contacted")]
    BlockedAddress,
    /// The answer is longer than the limit (bytes).
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    /// Connection, TLS or DNS server failure; the cause is for logs.
    #[error("the domain could not be reached (connection, TLS or DNS server failure)")]
    Network(#[source] Cause),
    /// The verifier could not be set up; the cause is for logs.
    #[error("the verifier is misconfigured")]
    Setup(#[source] Cause),
}

impl Failure {
    /// Whether the answer says the challenge is not there, as opposed to
    /// the check being unable to ask. Only definitive failures make a
    /// verified domain lapse at once; the others are retried.
    #[must_use]
    pub fn is_definitive(&self) -> bool {
        matches!(
            self,
            Failure::InvalidDomain
                | Failure::NoSuchDomain
                | Failure::NotPublished
                | Failure::WrongValue
                | Failure::Redirect(_)
                | Failure::BlockedAddress
        )
    }
}

/// A method that was tried and what it found.
#[derive(Debug)]
pub struct Attempt {
    /// The method.
    pub method: Method,
    /// Why it did not find the challenge.
    pub failure: Failure,
}

/// No method found the challenge: every attempt, in the order tried.
#[derive(Debug)]
pub struct VerifyError {
    /// The attempts (at least one).
    pub attempts: Vec<Attempt>,
}

impl VerifyError {
    /// One method's failure.
    #[must_use]
    pub fn one(method: Method, failure: Failure) -> Self {
        VerifyError {
            attempts: vec![Attempt { method, failure }],
        }
    }

    /// Whether every attempt got a definitive "not there"
    /// ([`Failure::is_definitive`]).
    #[must_use]
    pub fn is_definitive(&self) -> bool {
        !self.attempts.is_empty() && self.attempts.iter().all(|a| a.failure.is_definitive())
    }

    /// Each attempt on its own line, naming where it looked and what it
    /// found, for the developer.
    #[must_use]
    pub fn explain(&self, domain: &str) -> String {
        self.attempts
            .iter()
            .map(|a| format!("{}: {}", a.method.describe(domain), a.failure))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .attempts
            .iter()
            .map(|a| format!("{:?}: {}", a.method, a.failure))
            .collect();
        write!(f, "challenge not found ({})", parts.join("; "))
    }
}

impl std::error::Error for VerifyError {}

/// Looks for a domain's challenge. Implementations must refuse names that
/// fail [`super::check_domain_name`], compare values exactly and in
/// constant time ([`published_matches`]), and bound their own time.
#[async_trait]
pub trait DomainVerifier: Send + Sync {
    /// Whether `challenge` is published for `domain` (already in the form
    /// [`super::check_domain_name`] returns).
    ///
    /// # Errors
    /// Why it was not found, per method tried.
    async fn check(&self, domain: &str, challenge: &str) -> Result<Found, VerifyError>;
}

/// Tries each verifier in turn; the first that finds the challenge wins,
/// otherwise every attempt is reported (e.g. DNS TXT, then the HTTPS
/// file).
pub struct AnyOf(pub Vec<std::sync::Arc<dyn DomainVerifier>>);

impl std::fmt::Debug for AnyOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnyOf").field(&self.0.len()).finish()
    }
}

#[async_trait]
impl DomainVerifier for AnyOf {
    async fn check(&self, domain: &str, challenge: &str) -> Result<Found, VerifyError> {
        let mut attempts = Vec::new();
        for v in &self.0 {
            match v.check(domain, challenge).await {
                Ok(found) => return Ok(found),
                Err(e) => attempts.extend(e.attempts),
            }
        }
        Err(VerifyError { attempts })
    }
}

/// Whether any of the published `values` is exactly `challenge`, each
/// compared in constant time (and all of them compared, so timing does
/// not tell which matched). Surrounding ASCII whitespace of a value is
/// ignored: a file saved by an editor ends in a newline.
#[must_use]
pub fn published_matches<'a>(values: impl IntoIterator<Item = &'a [u8]>, challenge: &str) -> bool {
    values.into_iter().fold(false, |found, v| {
        found | crate::web::ct_eq(v.trim_ascii(), challenge.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_value_matches() {
        let c = "latchkey-verification=abc";
        assert!(published_matches([c.as_bytes()], c));
        assert!(published_matches(
            ["other".as_bytes(), b"  latchkey-verification=abc\n"],
            c
        ));
        assert!(!published_matches(
            ["latchkey-verification=abd".as_bytes()],
            c
        ));
        assert!(!published_matches(
            ["latchkey-verification=abc2".as_bytes()],
            c
        ));
        assert!(!published_matches(
            ["x latchkey-verification=abc".as_bytes()],
            c
        ));
        assert!(!published_matches(std::iter::empty(), c));
    }

    #[test]
    fn only_definitive_answers_are_definitive() {
        let dns = |f| VerifyError::one(Method::DnsTxt, f);
        assert!(dns(Failure::NotPublished).is_definitive());
        assert!(!dns(Failure::Timeout).is_definitive());
        let mixed = VerifyError {
            attempts: vec![
                Attempt {
                    method: Method::DnsTxt,
                    failure: Failure::NoSuchDomain,
                },
                Attempt {
                    method: Method::WellKnownFile,
                    failure: Failure::Status(503),
                },
            ],
        };
        assert!(!mixed.is_definitive());
        assert_eq!(
            mixed.explain("a.example"),
            "DNS TXT record at _latchkey-challenge.a.example: the name does not exist \
             (NXDOMAIN); HTTPS file https://a.example/.well-known/latchkey-challenge: the \
             server answered with HTTP status 503"
        );
    }
}
