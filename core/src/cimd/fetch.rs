//! The default [`ClientMetadataFetcher`] (feature `cimd-fetch`): HTTPS
//! only, every connected address checked, no redirects, bounded in size
//! and time (draft §6.5, §6.6).
//!
//! The host name is resolved here, the answers that are not public
//! ([`is_public_address`]) are dropped, and the HTTP client connects only
//! to what is left: the check applies to the address actually connected
//! to, so DNS rebinding between a check and the connection cannot slip an
//! internal address in. An IP literal in the URL never reaches a resolver
//! and is checked directly.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};

use super::{
    cache_max_age, is_public_address, ClientMetadataFetcher, FetchError, FetchedDocument,
    MAX_DOCUMENT_BYTES,
};

/// Fetches metadata documents over HTTPS, refusing internal addresses,
/// redirects, non-JSON answers and answers over the size limit.
#[derive(Clone, Debug)]
pub struct HttpsFetcher {
    client: reqwest::Client,
    max_bytes: usize,
    allow_loopback: bool,
}

/// Options for an [`HttpsFetcher`].
#[derive(Clone, Debug)]
pub struct HttpsFetcherBuilder {
    timeout: Duration,
    max_bytes: usize,
    roots: Vec<Vec<u8>>,
    allow_loopback: bool,
    fixed: Vec<(String, SocketAddr)>,
}

impl Default for HttpsFetcherBuilder {
    fn default() -> Self {
        HttpsFetcherBuilder {
            timeout: Duration::from_secs(5),
            max_bytes: MAX_DOCUMENT_BYTES,
            roots: vec![],
            allow_loopback: false,
            fixed: vec![],
        }
    }
}

impl HttpsFetcherBuilder {
    /// Total time for one fetch, from connecting to the last body byte
    /// (default 5 s): a slow server cannot hold an authorization request.
    #[must_use]
    pub fn timeout(mut self, total: Duration) -> Self {
        self.timeout = total;
        self
    }

    /// Largest body read (default and most: [`MAX_DOCUMENT_BYTES`], the
    /// draft's recommendation, §6.6).
    #[must_use]
    pub fn max_bytes(mut self, limit: usize) -> Self {
        self.max_bytes = limit.min(MAX_DOCUMENT_BYTES);
        self
    }

    /// Also trusts this DER-encoded root certificate, besides the webpki
    /// roots (a private CA; tests' self-signed certificates).
    #[must_use]
    pub fn add_root_certificate_der(mut self, der: &[u8]) -> Self {
        self.roots.push(der.to_vec());
        self
    }

    /// **Tests only.** Lets the fetcher connect to loopback addresses
    /// (127.0.0.0/8, `::1`), so a test can serve documents from a local
    /// server. Every other internal address stays refused. Never enable
    /// this in a deployment: it opens the server's own loopback services
    /// to anyone who picks a client id.
    #[must_use]
    pub fn allow_loopback_for_tests(mut self) -> Self {
        self.allow_loopback = true;
        self
    }

    /// **Tests only.** Answers `name` with `addr` instead of asking DNS,
    /// so a test can serve a host name (such as a domain being verified,
    /// always fetched on the default port) from a local server at any
    /// port. The answer is still checked: without
    /// [`HttpsFetcherBuilder::allow_loopback_for_tests`], a loopback
    /// `addr` is refused like any internal address.
    #[must_use]
    pub fn resolve_for_tests(mut self, name: &str, addr: SocketAddr) -> Self {
        self.fixed.push((name.to_owned(), addr));
        self
    }

    /// The fetcher.
    ///
    /// # Errors
    /// [`FetchError::Setup`] when a root certificate is malformed or the
    /// TLS backend cannot start.
    pub fn build(self) -> Result<HttpsFetcher, FetchError> {
        let setup = |e: reqwest::Error| FetchError::Setup(Box::new(e));
        let mut b = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback: self.allow_loopback,
                fixed: self.fixed.clone(),
            }));
        for der in &self.roots {
            b = b.add_root_certificate(reqwest::Certificate::from_der(der).map_err(setup)?);
        }
        Ok(HttpsFetcher {
            client: b.build().map_err(setup)?,
            max_bytes: self.max_bytes,
            allow_loopback: self.allow_loopback,
        })
    }
}

impl HttpsFetcher {
    /// A fetcher with the defaults (5 s, [`MAX_DOCUMENT_BYTES`], webpki
    /// roots, no internal address).
    ///
    /// # Errors
    /// [`FetchError::Setup`] when the TLS backend cannot start.
    pub fn new() -> Result<Self, FetchError> {
        HttpsFetcherBuilder::default().build()
    }

    /// Options beyond the defaults.
    #[must_use]
    pub fn builder() -> HttpsFetcherBuilder {
        HttpsFetcherBuilder::default()
    }
}

fn permitted(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public_address(ip) || (allow_loopback && ip.is_loopback())
}

/// Why the resolver refused, found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("name did not resolve")]
    Unresolved,
    #[error("name resolves only to internal addresses")]
    Internal,
}

/// Resolves with the system resolver, then keeps only permitted addresses.
struct GuardedResolver {
    allow_loopback: bool,
    /// Test-only fixed answers ([`HttpsFetcherBuilder::resolve_for_tests`]),
    /// checked like any other answer.
    fixed: Vec<(String, SocketAddr)>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let fixed: Vec<SocketAddr> = self
            .fixed
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, a)| *a)
            .collect();
        Box::pin(async move {
            // Boxed as the trait object directly: `classify` finds the
            // refusal by downcasting, which a box in a box would defeat.
            let refuse = |r: Refusal| -> Box<dyn std::error::Error + Send + Sync> { Box::new(r) };
            let found: Vec<SocketAddr> = if fixed.is_empty() {
                tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .map_err(|_| refuse(Refusal::Unresolved))?
                    .collect()
            } else {
                fixed
            };
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| permitted(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(refuse(Refusal::Internal));
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Maps a reqwest failure to what the user is told; the resolver's own
/// refusals are found in the error chain.
fn classify(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        match s.downcast_ref::<Refusal>() {
            Some(Refusal::Internal) => return FetchError::BlockedAddress,
            Some(Refusal::Unresolved) => return FetchError::Resolve,
            None => source = s.source(),
        }
    }
    FetchError::Network(Box::new(e))
}

/// `application/json`, or a more specific `application/…+json` (draft
/// §4.1), parameters ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json") && sub.len() > "+json".len())
}

impl HttpsFetcher {
    /// `GET url` under every rule of this fetcher (https only, checked
    /// addresses, no redirect, status 200, the time limit) with `accept`,
    /// refusing a `Content-Type` that `content_ok` rejects and bodies over
    /// `max_bytes` (at most the fetcher's own limit). Returns the
    /// `Cache-Control` values joined and the body. Other modules (domain
    /// verification) fetch through this, so there is one guarded client.
    pub(crate) async fn get_guarded(
        &self,
        url: &str,
        accept: &'static str,
        content_ok: fn(Option<&str>) -> bool,
        max_bytes: usize,
    ) -> Result<(String, Vec<u8>), FetchError> {
        let max_bytes = max_bytes.min(self.max_bytes);
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::NotHttps)?;
        if parsed.scheme() != "https" {
            return Err(FetchError::NotHttps);
        }
        // IP literals (in any spelling the URL parser normalises, such as
        // `0x7f.1`) skip the resolver, so they are checked here.
        let host = parsed.host_str().ok_or(FetchError::NotHttps)?;
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            if !permitted(ip, self.allow_loopback) {
                return Err(FetchError::BlockedAddress);
            }
        }
        let mut resp = self
            .client
            .get(parsed)
            .header(ACCEPT, accept)
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Err(FetchError::Redirect(status));
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        let headers = resp.headers();
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !content_ok(content_type) {
            return Err(FetchError::ContentType);
        }
        let cache_control: Vec<&str> = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let cache_control = cache_control.join(",");
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(FetchError::TooLarge(max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(FetchError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((cache_control, body))
    }
}

#[async_trait]
impl ClientMetadataFetcher for HttpsFetcher {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        let (cache_control, body) = self
            .get_guarded(
                url,
                "application/json",
                |ct| ct.is_some_and(is_json),
                self.max_bytes,
            )
            .await?;
        Ok(FetchedDocument {
            body,
            max_age: cache_max_age(&cache_control),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/oauth-client+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "text/html",
            "application/+json",
            "text/json",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_only_with_the_test_allowance() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!permitted(lo, false));
        assert!(permitted(lo, true));
        assert!(!permitted(private, true));
    }
}
