//! The MCP server's bearer check, driven with raw HTTP against the real
//! authorization server: discovery challenges, audience, scopes per tool,
//! revocation reaching it through introspection, and what happens when
//! introspection refuses the server itself.

// The harness every example's tests share; its SQL helper is behind a
// feature this crate does not have.
#[allow(unexpected_cfgs)]
#[path = "../../suite/common.rs"]
mod common;
mod server;
mod stack;

use std::time::Duration;

use serde_json::{json, Value};
use stack::{call, initialize, www_authenticate, Stack};

#[tokio::test]
async fn metadata_names_the_authorization_server() {
    let s = Stack::start(Duration::from_secs(5)).await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let m: Value = common::plain_http()
            .get(format!("{}{path}", s.mcp_base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["resource"], s.mcp.as_str(), "{path}");
        assert_eq!(m["authorization_servers"], json!([s.auth.base]));
        assert_eq!(
            m["scopes_supported"],
            json!(["profile:read", "zones:read", "dns:edit"])
        );
    }
    // The authorization server it names registers clients on the spot.
    let meta = common::Discovered::fetch(&s.auth).await;
    assert_eq!(
        meta.meta["registration_endpoint"],
        s.auth.url("/oauth/register").as_str()
    );
}

#[tokio::test]
async fn no_bad_or_foreign_tokens_get_401_challenges() {
    let s = Stack::start(Duration::from_secs(5)).await;
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        s.mcp_base
    );
    let r = s.rpc(None, &initialize()).await;
    assert_eq!(r.status(), 401);
    let www = www_authenticate(&r);
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(www.contains(&metadata), "{www}");
    assert!(
        www.contains("scope=\"profile:read zones:read offline_access\""),
        "{www}"
    );
    assert!(
        !www.contains("error="),
        "no error code without a token: {www}"
    );

    let r = s.rpc(Some("lk_at_not-a-real-token"), &initialize()).await;
    assert_eq!(r.status(), 401);
    let www = www_authenticate(&r);
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains(&metadata),
        "{www}"
    );

    // A valid token, but for the demo API: not for this server (RFC 8707).
    let api = s.auth.url("/api");
    let foreign = s.probe_token("zones:read", &api).await;
    let r = s.rpc(Some(&foreign), &call("list_zones", json!({}))).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("invalid_token"));

    let r = common::plain_http()
        .post(&s.mcp)
        .header("Authorization", "Basic eDp5")
        .body(initialize().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn each_tool_needs_its_scope_and_403_asks_for_the_union() {
    let s = Stack::start(Duration::from_secs(5)).await;
    let token = s.probe_token("zones:read", &s.mcp).await;
    let r = s.rpc(Some(&token), &initialize()).await;
    assert_eq!(r.status(), 200);
    let init: Value = r.json().await.unwrap();
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );

    let r = s.rpc(Some(&token), &call("list_zones", json!({}))).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("example.com"), "{body}");

    let edit = json!({"zone": "example.com", "name": "www", "type": "A", "value": "192.0.2.1"});
    let r = s
        .rpc(Some(&token), &call("edit_dns_record", edit.clone()))
        .await;
    assert_eq!(r.status(), 403);
    let www = www_authenticate(&r);
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(www.contains("scope=\"zones:read dns:edit\""), "{www}");
    assert!(www.contains("resource_metadata=\""), "{www}");
    let r = s.rpc(Some(&token), &call("whoami", json!({}))).await;
    assert_eq!(r.status(), 403);

    // With the wider scope the edit goes through, and says who made it.
    let wide = s.probe_token("zones:read dns:edit", &s.mcp).await;
    let r = s.rpc(Some(&wide), &call("edit_dns_record", edit)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("www.example.com A 192.0.2.1") && text.contains("probe"),
        "{body}"
    );
    // Bad arguments are the tool's clear error, not a crash.
    let bad = json!({"zone": "nope.example", "name": "www", "type": "A", "value": "x"});
    let body: Value = s
        .rpc(Some(&wide), &call("edit_dns_record", bad))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.to_string().contains("no zone"), "{body}");
}

#[tokio::test]
async fn revocation_reaches_the_server_within_the_cache_lifetime() {
    let s = Stack::start(Duration::from_secs(1)).await;
    let token = s.probe_token("zones:read", &s.mcp).await;
    let list = call("list_zones", json!({}));
    assert_eq!(s.rpc(Some(&token), &list).await.status(), 200);
    let r = common::plain_http()
        .post(s.auth.url("/oauth/revoke"))
        .basic_auth(stack::PROBE_ID, Some(stack::PROBE_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = s.rpc(Some(&token), &list).await;
    assert_eq!(r.status(), 401);
    assert!(www_authenticate(&r).contains("invalid_token"));
}

#[tokio::test]
async fn wrong_introspection_credentials_are_503_not_401() {
    let s = Stack::start_with_secret(Duration::from_secs(5), "wrong-secret").await;
    let token = s.probe_token("zones:read", &s.mcp).await;
    let r = s.rpc(Some(&token), &call("list_zones", json!({}))).await;
    assert_eq!(r.status(), 503, "the client's token is not at fault");
}
