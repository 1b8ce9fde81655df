//! The rate limits of [`crate::limits`] around the OAuth routes, for every
//! framework: [`RateGuard::serve`] wraps [`BrowserFlow::serve`].

use std::sync::Arc;

use crate::client_auth::presented_client_id;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::limits::{key, Limits, MemoryRateLimiter, RateLimiter, Rule, Verdict};
use crate::web::routes::Endpoint;

/// A limiter and its rules.
#[derive(Clone)]
pub struct RateGuard {
    limiter: Arc<dyn RateLimiter>,
    limits: Limits,
}

impl std::fmt::Debug for RateGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for RateGuard {
    /// The default [`Limits`] on a [`MemoryRateLimiter`].
    fn default() -> Self {
        RateGuard::new(Arc::new(MemoryRateLimiter::default()), Limits::default())
    }
}

/// How an endpoint is limited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A client authenticates: failures count per client and address.
    Client {
        budget: Option<(&'static str, Rule)>,
    },
    /// A person's browser.
    Browser,
    /// Client registration.
    Registration,
    /// Anything else: the per-address rule only.
    Other,
}

/// What a refusal looks like to the caller.
pub(crate) enum Refusal {
    /// A person: show an error page.
    Page(Error),
    /// A machine: the JSON error.
    Json(Error),
}

fn denied(v: Verdict) -> Option<u64> {
    match v {
        Verdict::Allow => None,
        Verdict::Deny { retry_after } => Some(retry_after),
    }
}

impl RateGuard {
    /// `limits` counted by `limiter`.
    #[must_use]
    pub fn new(limiter: Arc<dyn RateLimiter>, limits: Limits) -> Self {
        RateGuard { limiter, limits }
    }

    fn class(&self, endpoint: &Endpoint) -> Class {
        let l = &self.limits;
        match endpoint {
            Endpoint::Token => Class::Client {
                budget: Some(("token", l.token_per_client)),
            },
            Endpoint::Introspect => Class::Client {
                budget: Some(("introspect", l.introspect_per_client)),
            },
            Endpoint::Revoke | Endpoint::DeviceAuthorization => Class::Client { budget: None },
            Endpoint::Authorize | Endpoint::Consent | Endpoint::DeviceVerification => {
                Class::Browser
            }
            Endpoint::Register | Endpoint::RegistrationClient => Class::Registration,
            _ => Class::Other,
        }
    }

    /// Counts `rule` for `parts`; a limiter failure lets the request pass
    /// (module docs of [`crate::limits`]).
    async fn hit(&self, parts: &[&str], rule: Rule, now: Timestamp) -> Option<u64> {
        let v = self.limiter.hit(&key(parts), rule, now).await;
        v.ok().and_then(denied)
    }

    async fn check(&self, parts: &[&str], rule: Rule, now: Timestamp) -> Option<u64> {
        let v = self.limiter.check(&key(parts), rule, now).await;
        v.ok().and_then(denied)
    }

    /// Serves `req` for `endpoint` with `serve`, unless a limit refuses it
    /// first; counts what the answer says (a failed client authentication,
    /// a client's successful request).
    pub(crate) async fn serve<F, Fut>(
        &self,
        endpoint: &Endpoint,
        req: &HttpRequest,
        now: Timestamp,
        serve: F,
    ) -> Result<HttpResponse, Refusal>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = HttpResponse>,
    {
        let l = &self.limits;
        let addr = crate::limits::source(req);
        let limited = |retry_after| Error::RateLimited { retry_after };
        let class = self.class(endpoint);
        if let Some(s) = self.hit(&["addr", &addr], l.per_address, now).await {
            return Err(match class {
                Class::Browser => Refusal::Page(limited(s)),
                _ => Refusal::Json(limited(s)),
            });
        }
        let extra = match (class, endpoint) {
            (Class::Browser, _) => Some(("browser", l.browser_per_address)),
            (Class::Registration, _) => Some(("register", l.registration_per_address)),
            (_, Endpoint::DeviceAuthorization) => Some(("device", l.device_per_address)),
            _ => None,
        };
        if let Some((what, rule)) = extra {
            if let Some(s) = self.hit(&[what, &addr], rule, now).await {
                return Err(if class == Class::Browser {
                    Refusal::Page(limited(s))
                } else {
                    Refusal::Json(limited(s))
                });
            }
        }
        let Class::Client { budget } = class else {
            return Ok(serve().await);
        };
        let client = presented_client_id(req);
        let client = client.as_deref().unwrap_or("-");
        let fail_client = ["fail", client, &addr];
        let fail_addr = ["fail", &addr];
        for (parts, rule) in [
            (&fail_client[..], l.failed_auth_per_client),
            (&fail_addr[..], l.failed_auth_per_address),
        ] {
            if let Some(s) = self.check(parts, rule, now).await {
                return Err(Refusal::Json(limited(s)));
            }
        }
        if let Some((what, rule)) = budget {
            if let Some(s) = self.check(&[what, client], rule, now).await {
                return Err(Refusal::Json(limited(s)));
            }
        }
        let answer = serve().await;
        if answer.status == 401 {
            self.hit(&fail_client, l.failed_auth_per_client, now).await;
            self.hit(&fail_addr, l.failed_auth_per_address, now).await;
        } else if let (Some((what, rule)), 200..=299) = (budget, answer.status) {
            self.hit(&[what, client], rule, now).await;
        }
        Ok(answer)
    }
}
