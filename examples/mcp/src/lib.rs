//! An MCP server protected end to end by a Latchkey authorization server
//! running as its own process: the official Rust MCP SDK (`rmcp`) serves
//! three tools over Streamable HTTP, and every request passes a bearer
//! check that asks the authorization server's introspection endpoint
//! (RFC 7662) about the token.
//!
//! A client that has never met this server gets a 401 naming its RFC 9728
//! metadata, which names the authorization server; there it registers
//! itself (RFC 7591), sends the user through sign-in and consent, and comes
//! back with a token whose audience is this server (RFC 8707). A tool that
//! needs more than the token grants answers 403 `insufficient_scope` with
//! the scope to ask for (MCP 2025-11-25 step-up).
//!
//! `latchkey::web::BearerGuard` is for resource servers in the
//! authorization server's own process (it reads the engine's storage);
//! [`introspection::Introspector`] is the out-of-process counterpart.
#![forbid(unsafe_code)]

pub mod config;
pub mod guard;
pub mod introspection;
pub mod tools;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use latchkey::metadata::{protected_resource_metadata_url, ProtectedResourceMetadata};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::config::{hosts_of, path_of, Config};
use crate::guard::Guard;
use crate::introspection::Introspector;

/// This server's RFC 9728 document: its resource, the authorization server,
/// and the scopes its tools use.
#[must_use]
pub fn resource_metadata(config: &Config) -> ProtectedResourceMetadata {
    let mut scopes: Vec<String> = tools::TOOL_SCOPES
        .iter()
        .map(|(_, s)| (*s).to_owned())
        .collect();
    scopes.dedup();
    ProtectedResourceMetadata {
        resource: config.resource.clone(),
        authorization_servers: vec![config.issuer.clone()],
        scopes_supported: scopes,
        bearer_methods_supported: vec!["header".into()],
        resource_name: Some("Latchkey demo MCP server".into()),
    }
}

/// Every route: the guarded MCP endpoint at the resource URL's path, and
/// the RFC 9728 metadata at the path §3.1 derives from the resource (and,
/// for clients that look there first, at the bare well-known path).
pub fn router(config: &Config) -> Router {
    let metadata_url = protected_resource_metadata_url(&config.resource);
    let metadata = resource_metadata(config).to_json();
    let guard = Arc::new(Guard {
        introspector: Introspector::new(
            &config.issuer,
            &config.resource,
            &config.client_id,
            &config.client_secret,
            config.cache_ttl,
        ),
        metadata_url: metadata_url.clone(),
    });
    // Stateless, JSON answers: each request stands alone, which is what a
    // per-request bearer check wants (no session outlives a revoked token).
    // Host validation (DNS rebinding) admits loopback and the resource's
    // own host.
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(hosts_of(&config.resource));
    let mcp = StreamableHttpService::new(
        || Ok(tools::Tools),
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(hosts),
    );
    let serve_metadata = move || {
        let m = metadata.clone();
        async move { axum::Json(m) }
    };
    let well_known = path_of(&metadata_url);
    let mut r = Router::new()
        .route_service(&path_of(&config.resource), mcp)
        .route_layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .route(&well_known, get(serve_metadata.clone()));
    if well_known != "/.well-known/oauth-protected-resource" {
        r = r.route("/.well-known/oauth-protected-resource", get(serve_metadata));
    }
    r
}
