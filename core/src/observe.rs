//! What operators watch: `tracing` spans and events, and `metrics`
//! counters and histograms. Both are facades: nothing is recorded until
//! the host installs a subscriber or a recorder (the examples export
//! Prometheus at `/metrics`).
//!
//! Never recorded: a token, code, secret, verifier, user code, cookie or
//! any header that carries one. Client ids, grant types, endpoints,
//! statuses and error codes are.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `latchkey_requests_total` | `endpoint`, `status`, `error` | OAuth route answers |
//! | `latchkey_request_duration_seconds` | `endpoint` | time to answer |
//! | `latchkey_refresh_reuse_total` | | a rotated-out refresh token came back: its family was revoked |
//! | `latchkey_code_replay_total` | | a redeemed code came back: what it gave was revoked |
//! | `latchkey_client_auth_failures_total` | | failed client authentications |
//! | `latchkey_refresh_coalesced_total` | | retries answered with the same successor |
//! | `latchkey_rate_limited_total` | `endpoint` | requests refused by a rate limit |
//! | `latchkey_storage_unavailable_total` | | storage calls that found the backend unreachable |

/// A security signal an operator alerts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Refresh token reuse detected (RFC 9700 §4.14.2).
    RefreshReuse,
    /// An authorization code presented twice (RFC 6749 §4.1.2).
    CodeReplay,
    /// A client failed to authenticate.
    ClientAuthFailed,
    /// A refresh retried within the grace period got the same successor.
    RefreshCoalesced,
    /// The storage backend was unreachable.
    StorageUnavailable,
}

impl Signal {
    /// The counter's name.
    #[must_use]
    pub fn metric(self) -> &'static str {
        match self {
            Signal::RefreshReuse => "latchkey_refresh_reuse_total",
            Signal::CodeReplay => "latchkey_code_replay_total",
            Signal::ClientAuthFailed => "latchkey_client_auth_failures_total",
            Signal::RefreshCoalesced => "latchkey_refresh_coalesced_total",
            Signal::StorageUnavailable => "latchkey_storage_unavailable_total",
        }
    }
}

/// Counts `signal` and logs it (a warning for the ones that mean an attack
/// or an outage).
pub(crate) fn signal(signal: Signal, client_id: Option<&str>) {
    metrics::counter!(signal.metric()).increment(1);
    let client_id = client_id.unwrap_or("-");
    match signal {
        Signal::RefreshCoalesced => {
            tracing::debug!(signal = ?signal, client_id, "refresh coalesced");
        }
        _ => tracing::warn!(signal = ?signal, client_id, "security signal"),
    }
}

/// The `error` member of a JSON error answer, for labels and spans (the
/// code only: descriptions may quote input).
pub(crate) fn error_code(answer: &crate::http::HttpResponse) -> &'static str {
    if answer.status < 400 {
        return "";
    }
    let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned));
    // Only codes this crate sends are labels: a bounded set.
    match code.as_deref() {
        Some("invalid_request") => "invalid_request",
        Some("invalid_client") => "invalid_client",
        Some("invalid_grant") => "invalid_grant",
        Some("unauthorized_client") => "unauthorized_client",
        Some("unsupported_grant_type") => "unsupported_grant_type",
        Some("invalid_scope") => "invalid_scope",
        Some("invalid_target") => "invalid_target",
        Some("access_denied") => "access_denied",
        Some("invalid_token") => "invalid_token",
        Some("invalid_client_metadata") => "invalid_client_metadata",
        Some("invalid_redirect_uri") => "invalid_redirect_uri",
        Some("authorization_pending") => "authorization_pending",
        Some("slow_down") => "slow_down",
        Some("expired_token") => "expired_token",
        Some("temporarily_unavailable") => "temporarily_unavailable",
        Some("server_error") => "server_error",
        Some(_) => "other",
        None => "page",
    }
}
