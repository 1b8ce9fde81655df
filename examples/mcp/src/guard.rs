//! The bearer check in front of the MCP endpoint (RFC 6750 §2.1, §3, as the
//! MCP authorization spec 2025-11-25 profiles it).
//!
//! - No token: 401 with `resource_metadata` (RFC 9728 §5.1), so a client
//!   that has never seen this server finds its authorization server, and
//!   the `scope` to start with.
//! - A token that is unknown, expired, revoked or meant for another
//!   resource (RFC 8707): 401 `invalid_token`.
//! - A `tools/call` whose tool needs a scope the token lacks: 403
//!   `insufficient_scope` naming the scopes to ask for (step-up). The check
//!   happens here, on the HTTP request, because only an HTTP challenge can
//!   make a client re-authorize; a JSON-RPC error inside a 200 cannot.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::introspection::{Introspector, Refusal};
use crate::tools::{scope_for, BASELINE_SCOPES};

/// Largest JSON-RPC request body read to find the tool (bytes).
pub const MAX_BODY: usize = 1024 * 1024;

/// What the guard needs.
#[derive(Debug)]
pub struct Guard {
    /// Checks tokens.
    pub introspector: Introspector,
    /// This server's RFC 9728 metadata URL, named in every challenge.
    pub metadata_url: String,
}

/// A JSON error response with an RFC 6750 challenge.
fn challenge(status: StatusCode, www: String, error: Option<&str>, desc: &str) -> Response {
    let body = match error {
        Some(e) => serde_json::json!({ "error": e, "error_description": desc }),
        None => serde_json::json!({ "error_description": desc }),
    };
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

impl Guard {
    fn unauthorized(&self, token_sent: bool) -> Response {
        let mut www = format!("Bearer resource_metadata=\"{}\"", self.metadata_url);
        if token_sent {
            let desc = "the access token is invalid, expired, revoked or not for this server";
            www.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{desc}\""
            ));
            return challenge(StatusCode::UNAUTHORIZED, www, Some("invalid_token"), desc);
        }
        // RFC 6750 §3.1: no error code when no credentials were sent.
        www.push_str(&format!(", scope=\"{}\"", BASELINE_SCOPES.join(" ")));
        challenge(
            StatusCode::UNAUTHORIZED,
            www,
            None,
            "authentication required",
        )
    }

    /// 403 for a token lacking `needed`. The `scope` asked for is what the
    /// token has plus what is missing, so re-authorizing for it keeps the
    /// other tools working (the recommended approach of MCP 2025-11-25).
    fn insufficient(&self, have: &[String], needed: &[&str]) -> Response {
        let mut scopes: Vec<&str> = have.iter().map(String::as_str).collect();
        for n in needed {
            if !scopes.contains(n) {
                scopes.push(n);
            }
        }
        let desc = format!("this call needs the scope {}", needed.join(" "));
        let www = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", error_description=\"{desc}\"",
            scopes.join(" "),
            self.metadata_url
        );
        challenge(
            StatusCode::FORBIDDEN,
            www,
            Some("insufficient_scope"),
            &desc,
        )
    }
}

fn bad_request(desc: &str) -> Response {
    let body = serde_json::json!({ "error": "invalid_request", "error_description": desc });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// The scopes the JSON-RPC message (or batch) in `body` needs: one per
/// `tools/call` of a known tool. Unknown tools and other methods need none
/// here; the MCP layer answers them.
fn scopes_needed(body: &[u8]) -> Vec<&'static str> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return vec![];
    };
    let messages = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let mut needed = Vec::new();
    for m in &messages {
        if m["method"] == "tools/call" {
            if let Some(s) = m["params"]["name"].as_str().and_then(scope_for) {
                if !needed.contains(&s) {
                    needed.push(s);
                }
            }
        }
    }
    needed
}

/// The axum middleware: checks the token, then the tool's scope, and
/// hands the [`crate::introspection::Caller`] to the tools in the request
/// extensions.
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let token = match (values.next(), values.next()) {
        (None, _) => return guard.unauthorized(false),
        (Some(_), Some(_)) => return bad_request("more than one Authorization header"),
        (Some(h), None) => match h.to_str().ok().and_then(bearer) {
            Some(t) => t.to_owned(),
            None => return bad_request("malformed Authorization header"),
        },
    };
    let caller = match guard.introspector.check(&token).await {
        Ok(c) => c,
        Err(Refusal::Invalid) => return guard.unauthorized(true),
        Err(Refusal::Unavailable(why)) => {
            eprintln!("token check unavailable: {why}");
            let body = serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the authorization server could not be reached; retry"
            });
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let body = serde_json::json!({ "error": "invalid_request", "error_description": "request body too large" });
            return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
        }
    };
    let missing: Vec<&str> = scopes_needed(&bytes)
        .into_iter()
        .filter(|s| !caller.has(s))
        .collect();
    if !missing.is_empty() {
        return guard.insufficient(&caller.scopes, &missing);
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The token of an `Authorization: Bearer` value (RFC 6750 §2.1: the scheme
/// is case-insensitive, the token is b64token).
fn bearer(h: &str) -> Option<&str> {
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.chars().all(b64token))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_need_their_tools_scope() {
        let call = |name: &str| serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name}});
        let b = |v: serde_json::Value| v.to_string().into_bytes();
        assert_eq!(scopes_needed(&b(call("edit_dns_record"))), ["dns:edit"]);
        assert_eq!(scopes_needed(&b(call("whoami"))), ["profile:read"]);
        assert!(scopes_needed(&b(call("no_such_tool"))).is_empty());
        let list = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        assert!(scopes_needed(&b(list)).is_empty());
        let batch = serde_json::json!([
            call("list_zones"),
            call("edit_dns_record"),
            call("list_zones")
        ]);
        assert_eq!(scopes_needed(&b(batch)), ["zones:read", "dns:edit"]);
        assert!(scopes_needed(b"not json").is_empty());
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer lk_at_abc-_"), Some("lk_at_abc-_"));
        assert_eq!(bearer("bearer x"), Some("x"));
        assert_eq!(bearer("Basic eDp5"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer a b"), None);
        assert_eq!(bearer("Bearer\"x\""), None);
    }
}
