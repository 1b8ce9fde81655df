//! The README's shell walkthrough, run as written against this example
//! server (only its address changed): the `curl`, `openssl` and shell
//! lines of each ```sh block are executed with bash, and the placeholders
//! a reader fills in by hand (`PASTE_CODE`, `lk_at_…`, `lk_rt_…`,
//! `lk_dc_…`) get what the previous line printed. The browser steps
//! (sign in, allow) are this test's. Lines starting `cargo` are left out:
//! the test suite builds and runs those itself.

#[path = "../../suite/common.rs"]
mod common;
mod server;

use common::*;
use serde_json::Value;

/// The ```sh blocks of the README, in order.
fn sh_blocks() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// The block containing `needle`.
fn block(needle: &str) -> String {
    sh_blocks()
        .into_iter()
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("no ```sh block with {needle:?} in the README"))
}

/// The block's commands: continuation lines joined, comments and `cargo`
/// lines dropped, the example's address replaced by the server's.
fn commands(block: &str, base: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let line = line.trim_end();
        if pending.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                let cmd = std::mem::take(&mut pending);
                // A trailing `# …` comment shows output; not shell.
                let cmd = match cmd.find("  # ") {
                    Some(i) => cmd[..i].to_owned(),
                    None => cmd,
                };
                if !cmd.trim_start().starts_with("cargo ") {
                    out.push(cmd.replace("http://127.0.0.1:8080", base));
                }
            }
        }
    }
    out
}

/// Runs `script` with bash; returns its standard output.
async fn bash(script: &str) -> String {
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .await
        .expect("bash");
    assert!(
        out.status.success(),
        "README command failed: {script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is missing under CI (bash .ci/prepare installs it)");
    }
    if !found {
        eprintln!("\n!!! SKIPPED: {name} is not installed\n");
    }
    found
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    if !["bash", "curl", "openssl"].into_iter().all(tool) {
        return;
    }
    let server = Server::start_with(|c| c.clients_file = None).await;
    let base = server.base.clone();

    // Discovery, a PKCE pair, and the authorization URL the reader opens.
    let first = commands(&block("openssl dgst"), &base);
    // `echo` after each command: curl prints no final newline.
    let script = format!(
        "{}\necho\necho \"VERIFIER=$VERIFIER\"",
        first.join("\necho\n")
    );
    let out = bash(&script).await;
    let meta: Value = serde_json::from_str(out.lines().next().unwrap()).expect("metadata JSON");
    assert_eq!(meta["issuer"], base.as_str());
    let url = out
        .lines()
        .find(|l| l.starts_with(&format!("{base}/oauth/authorize?")))
        .expect("the printed authorization URL")
        .to_owned();
    let verifier = out
        .lines()
        .find_map(|l| l.strip_prefix("VERIFIER="))
        .unwrap()
        .to_owned();

    // The reader signs in as alice and allows; the code is in the address
    // bar of the page that could not be reached.
    let browser = browser_http();
    let at = authorize(
        &browser,
        &server,
        &url,
        ("alice", "alice-pass"),
        "allow",
        false,
    )
    .await;
    assert!(at.starts_with("http://127.0.0.1:9999/callback?"), "{at}");
    let code = query_param(&at, "code").unwrap();

    // Exchange, the API, a refresh: each placeholder filled from the line
    // before, as a reader would.
    let mut cmds = commands(&block("PASTE_CODE"), &base).into_iter();
    let exchange = cmds.next().unwrap().replace("PASTE_CODE", &code);
    let tokens: Value =
        serde_json::from_str(&bash(&format!("VERIFIER='{verifier}'\n{exchange}")).await).unwrap();
    let access = tokens["access_token"].as_str().expect("access_token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
    assert_eq!(tokens["scope"], "offline_access profile:read zones:read");
    for cmd in cmds {
        let cmd = cmd.replace("lk_at_…", access).replace("lk_rt_…", refresh);
        let answer: Value = serde_json::from_str(&bash(&cmd).await).unwrap();
        if cmd.contains("/api/me") {
            assert_eq!(answer["sub"], "alice");
        } else {
            assert!(answer["refresh_token"].is_string(), "{answer}");
        }
    }

    // The device grant: pending until someone allows it.
    let mut cmds = commands(&block("device_authorization"), &base).into_iter();
    let device: Value = serde_json::from_str(&bash(&cmds.next().unwrap()).await).unwrap();
    assert_eq!(device["verification_uri"], format!("{base}/device"));
    let device_code = device["device_code"].as_str().unwrap();
    let poll = cmds.next().unwrap().replace("lk_dc_…", device_code);
    let answer: Value = serde_json::from_str(&bash(&poll).await).unwrap();
    assert_eq!(answer["error"], "authorization_pending");
}

/// The other ```sh blocks are cargo commands the suite runs itself; this
/// fails if a block appears that neither test covers.
#[test]
fn every_readme_shell_block_is_covered() {
    for b in sh_blocks() {
        let covered = b.contains("openssl dgst")
            || b.contains("PASTE_CODE")
            || b.contains("device_authorization")
            || b.lines().all(|l| {
                let l = l.trim_start();
                l.is_empty()
                    || l.starts_with('#')
                    || l.starts_with("cargo ")
                    || l.starts_with("--")
                    || l.starts_with("LATCHKEY_MCP_CLIENT_SECRET=")
            });
        assert!(covered, "a README shell block no test runs:\n{b}");
    }
}
