//! [`DnsTxtVerifier`] (feature `domain-dns`): the challenge as a TXT record
//! at `_latchkey-challenge.<domain>`, looked up with hickory-resolver.
//!
//! Every check asks the nameservers afresh (answers are not cached), so a
//! removed record is noticed by the next re-check, not after its TTL.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};

use super::{
    check_domain_name, published_matches, DomainVerifier, Failure, Found, Method, VerifyError,
};

/// The label the TXT record sits under: `_latchkey-challenge.<domain>`.
pub const CHALLENGE_LABEL: &str = "_latchkey-challenge";

/// Looks for the challenge among the TXT records at
/// `_latchkey-challenge.<domain>`; any one of several records may hold it.
#[derive(Clone)]
pub struct DnsTxtVerifier {
    resolver: TokioResolver,
    timeout: Duration,
}

impl std::fmt::Debug for DnsTxtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsTxtVerifier")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Options for a [`DnsTxtVerifier`].
#[derive(Clone, Debug)]
pub struct DnsTxtVerifierBuilder {
    nameservers: Option<Vec<SocketAddr>>,
    timeout: Duration,
}

impl Default for DnsTxtVerifierBuilder {
    fn default() -> Self {
        DnsTxtVerifierBuilder {
            nameservers: None,
            timeout: Duration::from_secs(5),
        }
    }
}

impl DnsTxtVerifierBuilder {
    /// Asks these nameservers (UDP, then TCP for truncated answers)
    /// instead of the system's (`/etc/resolv.conf`): a resolver the host
    /// trusts, or a test's server on loopback.
    #[must_use]
    pub fn nameservers(mut self, servers: Vec<SocketAddr>) -> Self {
        self.nameservers = Some(servers);
        self
    }

    /// Total time for one check (default 5 s).
    #[must_use]
    pub fn timeout(mut self, total: Duration) -> Self {
        self.timeout = total;
        self
    }

    /// The verifier.
    ///
    /// # Errors
    /// [`Failure::Setup`] when the system configuration cannot be read
    /// (no nameservers were given).
    pub fn build(self) -> Result<DnsTxtVerifier, Failure> {
        let provider = TokioConnectionProvider::default();
        let mut builder = match self.nameservers {
            Some(servers) => {
                let mut group = NameServerConfigGroup::new();
                for s in servers {
                    group.merge(NameServerConfigGroup::from_ips_clear(
                        &[s.ip()],
                        s.port(),
                        true,
                    ));
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], group),
                    provider,
                )
            }
            None => TokioResolver::builder(provider).map_err(|e| Failure::Setup(Box::new(e)))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // Per query; the whole check is bounded by `timeout` as well.
        opts.timeout = self.timeout;
        opts.attempts = 1;
        // A re-check must see a removed record now, not after its TTL.
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        Ok(DnsTxtVerifier {
            resolver: builder.build(),
            timeout: self.timeout,
        })
    }
}

impl DnsTxtVerifier {
    /// A verifier on the system's nameservers, 5 s per check.
    ///
    /// # Errors
    /// [`Failure::Setup`] when the system configuration cannot be read.
    pub fn new() -> Result<Self, Failure> {
        DnsTxtVerifierBuilder::default().build()
    }

    /// Options beyond the defaults.
    #[must_use]
    pub fn builder() -> DnsTxtVerifierBuilder {
        DnsTxtVerifierBuilder::default()
    }
}

/// What a failed lookup means for the developer.
fn classify(e: ResolveError) -> Failure {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NXDomain => Failure::NoSuchDomain,
            ResponseCode::NoError => Failure::NotPublished,
            _ => Failure::Network(Box::new(e)),
        },
        Some(ProtoErrorKind::Timeout) => Failure::Timeout,
        _ => Failure::Network(Box::new(e)),
    }
}

#[async_trait]
impl DomainVerifier for DnsTxtVerifier {
    async fn check(&self, domain: &str, challenge: &str) -> Result<Found, VerifyError> {
        let fail = |f| VerifyError::one(Method::DnsTxt, f);
        let domain = check_domain_name(domain).map_err(|_| fail(Failure::InvalidDomain))?;
        // Fully qualified (trailing dot): no search domain is appended.
        let name = format!("{CHALLENGE_LABEL}.{domain}.");
        let lookup = tokio::time::timeout(self.timeout, self.resolver.txt_lookup(name))
            .await
            .map_err(|_| fail(Failure::Timeout))?
            .map_err(|e| fail(classify(e)))?;
        // A record split into several character-strings (each at most 255
        // bytes) is one value, as SPF and DKIM read them (RFC 7208 §3.3).
        let values: Vec<Vec<u8>> = lookup
            .iter()
            .map(|txt| {
                txt.txt_data()
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect()
            })
            .collect();
        if values.is_empty() {
            return Err(fail(Failure::NotPublished));
        }
        if published_matches(values.iter().map(Vec::as_slice), challenge) {
            Ok(Found {
                method: Method::DnsTxt,
            })
        } else {
            Err(fail(Failure::WrongValue))
        }
    }
}
