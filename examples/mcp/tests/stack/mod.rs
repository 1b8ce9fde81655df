//! The whole stack in this process: the example authorization server
//! (axum, open registration, the MCP server's URL as a protected resource;
//! or as [`Stack::start_tuned`] says) and the MCP server introspecting its
//! tokens, each on its own ephemeral loopback port.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use latchkey_demo::config::Config as AuthConfig;
use latchkey_example_mcp::config::Config;
use serde_json::{json, Value};

use crate::common::{plain_http, seed_json, Server};

/// The MCP server's confidential client at the authorization server.
pub const MCP_CLIENT_ID: &str = "mcp-server";
/// Its secret (≥ 43 characters).
pub const MCP_CLIENT_SECRET: &str = "mcp-server-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// A machine client (client_credentials) that gets tokens for either
/// resource, to probe the guard without a browser.
pub const PROBE_ID: &str = "probe";
/// Its secret.
pub const PROBE_SECRET: &str = "probe-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123";

/// A running authorization server and MCP server.
pub struct Stack {
    /// The authorization server (issuer `as_server.base`).
    pub auth: Server,
    /// The MCP endpoint, also its resource identifier.
    pub mcp: String,
    /// `http://127.0.0.1:PORT` of the MCP server.
    pub mcp_base: String,
    mcp_task: tokio::task::JoinHandle<()>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.mcp_task.abort();
    }
}

/// The seed file: the suite's clients, the MCP server (it may introspect
/// tokens for its resource) and the probe.
fn seed(mcp: &str, api: &str) -> Value {
    let mut clients = seed_json();
    let list = clients.as_array_mut().expect("array");
    list.push(json!({
        "id": MCP_CLIENT_ID, "owner": "demo", "name": "Demo MCP server",
        "grant_types": ["client_credentials"], "scopes": ["profile:read"],
        "served_resources": [mcp],
        "auth_method": "client_secret_basic", "secret": MCP_CLIENT_SECRET
    }));
    list.push(json!({
        "id": PROBE_ID, "owner": "demo", "name": "Probe",
        "grant_types": ["client_credentials"],
        "scopes": ["profile:read", "zones:read", "dns:edit"],
        "resources": [mcp, api],
        "auth_method": "client_secret_basic", "secret": PROBE_SECRET
    }));
    clients
}

impl Stack {
    /// Both servers; the MCP server reuses introspection answers for
    /// `cache_ttl`.
    pub async fn start(cache_ttl: Duration) -> Stack {
        Self::start_with_secret(cache_ttl, MCP_CLIENT_SECRET).await
    }

    /// As [`Stack::start`], with the MCP server introspecting with `secret`.
    pub async fn start_with_secret(cache_ttl: Duration, secret: &str) -> Stack {
        Self::start_tuned(cache_ttl, secret, |_| {}).await
    }

    /// As [`Stack::start_with_secret`], with `tune` adjusting the
    /// authorization server's configuration last.
    pub async fn start_tuned(
        cache_ttl: Duration,
        secret: &str,
        tune: impl FnOnce(&mut AuthConfig),
    ) -> Stack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mcp_base = format!("http://{addr}");
        let mcp = format!("{mcp_base}/mcp");
        let resource = mcp.clone();
        let auth = Server::start_with(|c| {
            let file = c.data_dir.with_file_name("mcp-clients.json");
            let body = seed(&resource, &c.resource()).to_string();
            std::fs::write(&file, body).expect("write seed");
            c.clients_file = Some(file);
            c.open_registration = true;
            c.protected_resources = vec![resource.clone()];
            tune(c);
        })
        .await;
        let config = Config {
            addr,
            issuer: auth.base.clone(),
            resource: mcp.clone(),
            client_id: MCP_CLIENT_ID.into(),
            client_secret: secret.into(),
            cache_ttl,
        };
        let router = latchkey_example_mcp::router(&config);
        let mcp_task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve mcp");
        });
        Stack {
            auth,
            mcp,
            mcp_base,
            mcp_task,
        }
    }

    /// A client_credentials access token of the probe for `resource`
    /// with `scope`.
    pub async fn probe_token(&self, scope: &str, resource: &str) -> String {
        let r: Value = plain_http()
            .post(self.auth.url("/oauth/token"))
            .basic_auth(PROBE_ID, Some(PROBE_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {r}"))
            .to_owned()
    }

    /// POSTs one JSON-RPC message to the MCP endpoint, with `token` if any.
    pub async fn rpc(&self, token: Option<&str>, msg: &Value) -> reqwest::Response {
        let mut req = plain_http()
            .post(&self.mcp)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(msg.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }
}

/// A `tools/call` of `name` with `args`.
#[must_use]
pub fn call(name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": args}})
}

/// An `initialize` request.
#[must_use]
pub fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "latchkey-test", "version": "0"}}})
}

/// The `WWW-Authenticate` header of `r`.
#[must_use]
pub fn www_authenticate(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
