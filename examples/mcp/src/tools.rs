//! The MCP tools, on demo data, each needing its own scope. The guard
//! ([`crate::guard`]) refuses a call before it gets here when the token
//! lacks the scope, with a 403 the client can act on (step-up); each tool
//! checks again, so a tool added without an entry in [`TOOL_SCOPES`] fails
//! closed instead of running for any token.

use axum::http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{schemars, tool, tool_router, ErrorData};
use serde::Deserialize;

use crate::introspection::Caller;

/// The scope each tool needs.
pub const TOOL_SCOPES: &[(&str, &str)] = &[
    ("whoami", "profile:read"),
    ("list_zones", "zones:read"),
    ("edit_dns_record", "dns:edit"),
];

/// What a client should ask for when it first connects (the `scope` of the
/// 401 challenge, MCP 2025-11-25 "scope selection"): the read-only tools,
/// plus `offline_access` so the agent stays connected through refresh
/// tokens (Latchkey issues them only for that scope; clients that add it
/// themselves, SEP-2207, ask for the same). `dns:edit` is left for a
/// step-up when an edit is actually attempted.
pub const BASELINE_SCOPES: &[&str] = &["profile:read", "zones:read", "offline_access"];

/// The scope `tool` needs; `None` for a tool this server does not have.
#[must_use]
pub fn scope_for(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, s)| *s)
}

/// The caller the guard put in the request, if its token has `scope`.
fn caller(parts: &Parts, scope: &str) -> Result<Caller, ErrorData> {
    let c = parts
        .extensions
        .get::<Caller>()
        .ok_or_else(|| ErrorData::internal_error("request reached a tool unguarded", None))?;
    if c.has(scope) {
        Ok(c.clone())
    } else {
        Err(ErrorData::invalid_request(
            format!("this tool needs the scope {scope}"),
            None,
        ))
    }
}

fn json(v: &serde_json::Value) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(
        v.to_string(),
    )]))
}

/// The demo zones every user has.
const ZONES: &[&str] = &["example.com", "example.org"];

/// `edit_dns_record`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DnsEdit {
    /// Zone, one of `list_zones`.
    pub zone: String,
    /// Record name inside the zone, e.g. `www`.
    pub name: String,
    /// Record type: A, AAAA, CNAME or TXT.
    #[serde(rename = "type")]
    pub kind: String,
    /// New value.
    pub value: String,
}

/// The MCP server: stateless, all data is demo data.
#[derive(Clone, Debug, Default)]
pub struct Tools;

#[tool_router(server_handler)]
impl Tools {
    /// Who the token speaks for.
    #[tool(
        description = "Who you are: the signed-in user and the app acting for them. Needs profile:read."
    )]
    async fn whoami(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let c = caller(&parts, "profile:read")?;
        json(
            &serde_json::json!({ "sub": c.sub, "client_id": c.client_id, "scope": c.scopes.join(" ") }),
        )
    }

    /// The user's zones.
    #[tool(description = "List your DNS zones. Needs zones:read.")]
    async fn list_zones(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let c = caller(&parts, "zones:read")?;
        json(&serde_json::json!({ "owner": c.sub, "zones": ZONES }))
    }

    /// Pretends to change a record (nothing is stored).
    #[tool(
        description = "Create or change a DNS record in one of your zones (demo: nothing is stored). Needs dns:edit."
    )]
    async fn edit_dns_record(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(edit): Parameters<DnsEdit>,
    ) -> Result<CallToolResult, ErrorData> {
        let c = caller(&parts, "dns:edit")?;
        if !ZONES.contains(&edit.zone.as_str()) {
            return Err(ErrorData::invalid_params(
                format!("no zone {:?}; list_zones shows yours", edit.zone),
                None,
            ));
        }
        if !matches!(edit.kind.as_str(), "A" | "AAAA" | "CNAME" | "TXT") {
            return Err(ErrorData::invalid_params(
                "type must be A, AAAA, CNAME or TXT",
                None,
            ));
        }
        if edit.name.is_empty() || edit.value.is_empty() || edit.value.len() > 255 {
            return Err(ErrorData::invalid_params(
                "name and value must be non-empty, value at most 255 characters",
                None,
            ));
        }
        json(&serde_json::json!({
            "changed": format!("{}.{} {} {}", edit.name, edit.zone, edit.kind, edit.value),
            "by": c.sub,
        }))
    }
}
