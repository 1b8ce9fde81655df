//! Domain ownership that is checked: a developer proves a domain by
//! publishing the challenge from
//! [`Engine::start_domain_verification`](crate::Engine::start_domain_verification)
//! either as a DNS TXT record at `_latchkey-challenge.<domain>` or as the
//! file `https://<domain>/.well-known/latchkey-challenge`, and a
//! [`DomainVerifier`] looks for it.
//!
//! The engine opens no socket itself. Two verifiers come behind features:
//!
//! - `domain-dns`: [`DnsTxtVerifier`], TXT lookups with hickory-resolver
//!   (system nameservers, or ones the host names).
//! - `domain-https`: [`WellKnownVerifier`], the file fetched through
//!   [`crate::cimd::HttpsFetcher`]: HTTPS only, no redirects, internal
//!   addresses refused on the address connected to, bounded in size and
//!   time.
//!
//! [`AnyOf`] tries several and reports each one's failure.
//!
//! # Verifying, then re-checking
//!
//! [`Engine::verify_domain`](crate::Engine::verify_domain) checks a pending
//! domain and marks it verified. A domain proven once can stop being
//! proven (the record removed, the domain sold), so
//! [`Engine::recheck_due_domains`](crate::Engine::recheck_due_domains)
//! checks verified domains again on a [`RecheckPolicy`] (the `tokio`
//! maintenance task can run it on an interval). A domain whose challenge
//! is definitively gone becomes
//! [`DomainState::Lapsed`](crate::model::DomainState::Lapsed) at once; one
//! that cannot be reached lapses after the policy's grace period. A lapsed
//! domain no longer counts: a public app whose redirect URIs are not all on
//! verified domains is no longer presented as verified on the consent
//! page ([`ClientRecord::publisher_verified`](crate::model::ClientRecord::publisher_verified)).
//! Found again, it is verified again. Each change writes `client_updated`
//! plus `domain_verified` or `domain_lapsed` to the outbox.

#[cfg(feature = "domain-dns")]
mod dns;
mod engine;
#[cfg(feature = "domain-https")]
mod https;
mod name;
mod schedule;
mod verify;

#[cfg(feature = "domain-dns")]
pub use dns::{DnsTxtVerifier, DnsTxtVerifierBuilder, CHALLENGE_LABEL};
pub use engine::{DomainCheckError, RecheckReport};
#[cfg(feature = "domain-https")]
pub use https::{WellKnownVerifier, WELL_KNOWN_PATH};
pub use name::{check_domain_name, InvalidDomain};
pub use schedule::{is_due, RecheckOutcome, RecheckPolicy};
pub use verify::{
    published_matches, AnyOf, Attempt, DomainVerifier, Failure, Found, Method, VerifyError,
};
