//! The official MCP SDK clients, TypeScript and Python, against the MCP
//! server and the example authorization server, with no pre-registration:
//! 401 → resource metadata → authorization server metadata → a client id →
//! sign-in and consent (this test is the user's browser) → tool calls →
//! refreshes from several tasks at once → step-up → the user revokes the
//! app → the next call is refused.
//!
//! Each SDK gets its client id both ways the MCP authorization spec
//! (2025-11-25) offers a client meeting a server for the first time:
//! dynamic registration (RFC 7591), and a Client ID Metadata Document, its
//! own URL as the client id, which this test serves over HTTPS on loopback
//! ([`documents`]) and the authorization server fetches (its
//! `--client-metadata-documents` flag, with the test-only
//! `--cimd-allow-loopback-for-tests` and `--cimd-extra-root-cert`). The
//! document URL goes to the SDKs' own option for it: `clientMetadataUrl` on
//! the TypeScript `OAuthClientProvider`, `client_metadata_url` of the Python
//! `OAuthClientProvider`; each SDK then uses it because the metadata says
//! `client_id_metadata_document_supported`.
//!
//! The clients are `clients/ts-client.mjs` and `clients/py_client.py`,
//! installed by `.ci/prepare` (npm ci; a venv in `target/mcp-clients-venv`).
//! Under `CI=true` a missing tool fails the test; elsewhere it is skipped
//! with a loud message.

#[allow(unexpected_cfgs)]
#[path = "../../suite/common.rs"]
mod common;
mod documents;
mod server;
mod stack;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use documents::Documents;
use latchkey_demo::config::Command;
use serde_json::Value;
use stack::{Stack, MCP_CLIENT_SECRET};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// How long an introspection answer is reused in these tests; revocation
/// waits this long before the refused call.
const CACHE_TTL: Duration = Duration::from_secs(1);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// `path` if it exists; otherwise fails under CI and skips loudly elsewhere.
fn required(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{what} missing at {} (run .ci/prepare)", path.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("\n!!! SKIPPED: {msg}\n");
    None
}

fn node() -> Option<PathBuf> {
    let node = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("node"))
            .find(|n| n.is_file())
    });
    required(node.unwrap_or_else(|| "node".into()), "node")?;
    required(
        clients_dir().join("node_modules/@modelcontextprotocol/sdk/package.json"),
        "the MCP TypeScript SDK",
    )?;
    Some(PathBuf::from("node"))
}

fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mcp-clients-venv");
    required(venv.join("bin/python"), "the MCP Python SDK venv")
}

/// The agents' OAuth callbacks, fixed in the scripts and listed in their
/// metadata documents.
const TS_REDIRECT: &str = "http://127.0.0.1:33418/callback";
const PY_REDIRECT: &str = "http://127.0.0.1:33419/callback";

/// How the agent gets its client id.
#[derive(Clone, Copy, Debug)]
enum Onboarding<'a> {
    /// It registers itself and gets the server's `lkc_…`.
    Registration,
    /// Its client id is this URL, its metadata document's.
    Document(&'a str),
}

/// Runs `program script MCP_URL [DOCUMENT_URL]`, answering its AUTHORIZE
/// lines as alice in a browser session and its REVOKE line on the
/// connected-apps page; returns its RESULT lines by step.
async fn drive(
    stack: &Stack,
    program: &Path,
    script: &str,
    app_name: &str,
    onboarding: Onboarding<'_>,
) -> Vec<Value> {
    let mut command = tokio::process::Command::new(program);
    command.arg(clients_dir().join(script)).arg(&stack.mcp);
    if let Onboarding::Document(url) = onboarding {
        command.arg(url);
    }
    let mut child = command
        .current_dir(clients_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let browser = common::browser_http();
    let mut results = Vec::new();
    let mut authorizations = 0;
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let answer = if let Some(url) = line.strip_prefix("AUTHORIZE ") {
                authorizations += 1;
                let client_id = common::query_param(url, "client_id").unwrap();
                match onboarding {
                    Onboarding::Registration => assert!(
                        client_id.starts_with("lkc_"),
                        "a self-registered client: {url}"
                    ),
                    Onboarding::Document(doc) => {
                        assert_eq!(client_id, doc, "the document URL is the client id");
                    }
                }
                assert_eq!(
                    common::query_param(url, "resource").as_deref(),
                    Some(stack.mcp.as_str()),
                    "the token is asked for this MCP server (RFC 8707)"
                );
                let user = ("alice", "alice-pass");
                common::authorize(&browser, &stack.auth, url, user, "allow", false).await
            } else if line.starts_with("REVOKE ") {
                revoke(stack, &browser, app_name).await;
                // Past the MCP server's introspection cache.
                tokio::time::sleep(CACHE_TTL + Duration::from_millis(300)).await;
                "revoked".to_owned()
            } else if let Some(r) = line.strip_prefix("RESULT ") {
                results.push(serde_json::from_str(r).expect("RESULT json"));
                continue;
            } else if line == "DONE" {
                break;
            } else {
                eprintln!("{script}: {line}");
                continue;
            };
            stdin
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in 2 minutes"));
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{script} failed: {status}");
    assert_eq!(authorizations, 2, "first authorization, then step-up");
    results
}

/// The user opens the connected-apps page, finds the agent, revokes it and
/// confirms.
async fn revoke(stack: &Stack, browser: &reqwest::Client, app_name: &str) {
    let apps = stack.auth.url("/account/apps");
    let page = browser
        .get(&apps)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(app_name),
        "{app_name} on the connected apps page"
    );
    let ask = browser
        .post(stack.auth.url("/account/apps/revoke"))
        .form(&[
            ("csrf", common::hidden(&page, "csrf")),
            ("grant_id", common::hidden(&page, "grant_id")),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(stack.auth.url("/account/apps/revoke"))
        .form(&[
            ("csrf", common::hidden(&ask, "csrf")),
            ("grant_id", common::hidden(&ask, "grant_id")),
            ("confirm", "yes".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(common::location(&r, &stack.auth.base), apps);
}

fn step<'a>(results: &'a [Value], name: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["step"] == name)
        .unwrap_or_else(|| panic!("no result {name} in {results:#?}"))
}

/// What both SDKs must have shown, however they got their client id.
fn check_common(stack: &Stack, results: &[Value], onboarding: Onboarding<'_>) {
    let connected = step(results, "connected");
    let http = connected["http"].as_array().unwrap();
    let first = &http[0];
    assert_eq!(first["status"], 401, "{first}");
    let www = first["www"].as_str().unwrap();
    assert!(www.contains("resource_metadata="), "{www}");
    let urls: Vec<&str> = http.iter().map(|h| h["url"].as_str().unwrap()).collect();
    let at = |u: &str| {
        urls.iter()
            .position(|x| x.starts_with(u))
            .unwrap_or_else(|| panic!("no request to {u} in {urls:#?}"))
    };
    let prm = at(&format!(
        "{}/.well-known/oauth-protected-resource",
        stack.mcp_base
    ));
    let asm = at(&stack.auth.url("/.well-known/oauth-authorization-server"));
    let token = at(&stack.auth.url("/oauth/token"));
    assert!(prm < asm && asm < token, "{urls:#?}");
    // Every request the SDK made, from the start to the end.
    let registrations: Vec<&Value> = step(results, "wire")["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["url"] == stack.auth.url("/oauth/register").as_str())
        .collect();
    match onboarding {
        Onboarding::Registration => {
            let register = at(&stack.auth.url("/oauth/register"));
            assert!(asm < register && register < token, "{urls:#?}");
            assert_eq!(http[register]["status"], 201);
            assert_eq!(registrations.len(), 1, "{registrations:#?}");
        }
        Onboarding::Document(url) => {
            assert_eq!(connected["client_id"], url);
            assert!(
                registrations.is_empty(),
                "no registration: {registrations:#?}"
            );
        }
    }

    let me = step(results, "whoami");
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["client_id"], connected["client_id"]);
    assert!(step(results, "list_zones")["zones"]
        .to_string()
        .contains("example.com"));

    let refresh = step(results, "refresh");
    assert_eq!(refresh["had_refresh_token"], true, "{refresh}");
    assert_eq!(refresh["tasks"], 4);
    assert_eq!(refresh["same_access_token"], true, "coalesced: {refresh}");
    assert_eq!(refresh["same_refresh_token"], true, "coalesced: {refresh}");
    assert_eq!(refresh["rotated"], true, "{refresh}");
    assert_eq!(step(results, "whoami_after_refresh")["sub"], "alice");

    let up = step(results, "step_up");
    let scope = up["scope"].as_str().unwrap();
    for s in ["dns:edit", "profile:read", "zones:read"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    assert!(up["edit"]["changed"]
        .as_str()
        .unwrap()
        .starts_with("www.example.com A"));
    assert_eq!(up["edit"]["by"], "alice");

    let after = step(results, "after_revoke");
    assert_eq!(after["refused"], true, "{after}");
    let refused = after["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == stack.mcp.as_str())
        .unwrap_or_else(|| panic!("no MCP call after revoke: {after}"));
    assert_eq!(refused["status"], 401, "{after}");
    assert!(refused["www"].as_str().unwrap().contains("invalid_token"));
}

/// TypeScript SDK 1.32.2 answers a 403 by refreshing and giving up (its
/// issue #2255); the script then re-authorized for the challenged scope.
fn check_typescript(results: &[Value]) {
    // The SDK's own answer to 403 (refresh, retry, give up) and the scope
    // the challenge asked for, which the agent then re-authorized for.
    let challenge = step(results, "step_up_challenge");
    let www = challenge["challenge"].as_str().unwrap();
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(challenge["scope"].as_str().unwrap().contains("dns:edit"));
    // After revocation the refresh token is dead too: the SDK can only ask
    // the user again.
    assert_eq!(step(results, "after_revoke")["reauthorization_asked"], true);
}

/// The Python SDK did the step-up itself: 403, then a new authorization.
fn check_python(results: &[Value]) {
    let up = step(results, "step_up");
    let http = up["http"].as_array().unwrap();
    assert_eq!(http[0]["status"], 403, "{up}");
    assert!(http[0]["www"]
        .as_str()
        .unwrap()
        .contains("insufficient_scope"));
}

#[tokio::test]
async fn typescript_sdk_end_to_end() {
    let Some(node) = node() else { return };
    let stack = Stack::start(CACHE_TTL).await;
    let onboarding = Onboarding::Registration;
    let results = drive(
        &stack,
        &node,
        "ts-client.mjs",
        "TS SDK test agent",
        onboarding,
    )
    .await;
    check_common(&stack, &results, onboarding);
    check_typescript(&results);
}

#[tokio::test]
async fn python_sdk_end_to_end() {
    let Some(python) = python() else { return };
    let stack = Stack::start(CACHE_TTL).await;
    let onboarding = Onboarding::Registration;
    let name = "Python SDK test agent";
    let results = drive(&stack, &python, "py_client.py", name, onboarding).await;
    check_common(&stack, &results, onboarding);
    check_python(&results);
}

/// The stack with metadata documents accepted, configured through the
/// authorization server's flags (the test-only ones trusting `docs`), and
/// with dynamic registration open or not.
async fn document_stack(docs: &Documents, open_registration: bool) -> Stack {
    let cert = docs.root_cert.to_str().unwrap();
    let flags = [
        "--client-metadata-documents",
        "--cimd-allow-loopback-for-tests",
        "--cimd-extra-root-cert",
        cert,
    ];
    let parsed = latchkey_demo::config::parse(flags.map(str::to_owned), |_| None).unwrap();
    let Command::Serve(flags) = parsed else {
        panic!("expected serve")
    };
    let stack = Stack::start_tuned(CACHE_TTL, MCP_CLIENT_SECRET, |c| {
        c.client_metadata_documents = flags.client_metadata_documents;
        c.cimd_allow_loopback_for_tests = flags.cimd_allow_loopback_for_tests;
        c.cimd_extra_root_cert = flags.cimd_extra_root_cert;
        c.open_registration = open_registration;
    })
    .await;
    let m = common::Discovered::fetch(&stack.auth).await.meta;
    assert_eq!(m["client_id_metadata_document_supported"], true, "{m}");
    assert_eq!(m.get("registration_endpoint").is_some(), open_registration);
    stack
}

/// The authorization server fetched the document, once (it allows an hour
/// of reuse), and nobody else asked for anything.
fn check_fetched(docs: &Documents) {
    let seen = docs.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(docs.url.ends_with(&seen[0].path), "{seen:#?}");
    assert!(
        seen[0].user_agent.starts_with("latchkey/"),
        "fetched by the authorization server: {seen:#?}"
    );
}

/// Runs `script` with a metadata document named `name` listing
/// `redirect`, against a server with dynamic registration open or not;
/// checks what every run must show and returns the script's results.
async fn run_with_document(
    program: &Path,
    script: &str,
    name: &str,
    redirect: &str,
    open_registration: bool,
) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = script.replace(['.', '_'], "-") + ".json";
    let docs = Documents::serve(dir.path(), &file, name, redirect).await;
    let stack = document_stack(&docs, open_registration).await;
    let onboarding = Onboarding::Document(&docs.url);
    let results = drive(&stack, program, script, name, onboarding).await;
    check_common(&stack, &results, onboarding);
    check_fetched(&docs);
    results
}

/// The TypeScript SDK with `clientMetadataUrl`, against a server that also
/// offers dynamic registration: it prefers the document, as the MCP spec
/// says clients should.
#[tokio::test]
async fn typescript_sdk_with_a_metadata_document() {
    let Some(node) = node() else { return };
    let name = "TS SDK document agent";
    let results = run_with_document(&node, "ts-client.mjs", name, TS_REDIRECT, true).await;
    check_typescript(&results);
}

/// The Python SDK with `client_metadata_url`, against a server without
/// dynamic registration: the document alone is enough.
#[tokio::test]
async fn python_sdk_with_a_metadata_document() {
    let Some(python) = python() else { return };
    let name = "Python SDK document agent";
    let results = run_with_document(&python, "py_client.py", name, PY_REDIRECT, false).await;
    check_python(&results);
}
