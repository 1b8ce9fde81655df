//! The real binary on every storage backend: start it, get a token, restart
//! it, and the token (and the seeded client) are still there. Covers the
//! default embedded redb and `--database-url` for SQLite and PostgreSQL
//! (migrations applied at start; those need the example's `sql` feature,
//! which `cargo test --workspace --all-features` turns on).

use std::process::Stdio;
use std::time::Duration;

#[cfg(feature = "sql")]
use crate::common::PgDatabase;
use serde_json::Value;

const SVC: &str = "svc";
const SVC_SECRET: &str = "svc-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

struct Running {
    base: String,
    _child: tokio::process::Child,
}

async fn start(dir: &std::path::Path, extra: &[&str]) -> Running {
    let clients = dir.join("clients.json");
    let seed = serde_json::json!([{
        "id": SVC, "owner": "demo", "name": "Service",
        "grant_types": ["client_credentials"], "scopes": ["profile:read"],
        "secret": SVC_SECRET
    }]);
    std::fs::write(&clients, seed.to_string()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new(crate::server::EXE)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--issuer", &base])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--clients")
        .arg(&clients)
        .args(extra)
        .kill_on_drop(true)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if http()
            .get(format!("{base}/.well-known/oauth-authorization-server"))
            .send()
            .await
            .is_ok()
        {
            return Running {
                base,
                _child: child,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up with {extra:?}");
}

async fn token(base: &str) -> String {
    let r = http()
        .post(format!("{base}/oauth/token"))
        .basic_auth(SVC, Some(SVC_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn active(base: &str, t: &str) -> bool {
    let r = http()
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(SVC, Some(SVC_SECRET))
        .form(&[("token", t)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["active"] == true
}

async fn survives_restart(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), extra).await;
    let t = token(&first.base).await;
    assert!(active(&first.base, &t).await);
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = start(dir.path(), extra).await;
    assert!(
        active(&second.base, &t).await,
        "token lost across a restart with {extra:?}"
    );
}

#[tokio::test]
async fn redb_keeps_tokens_across_restarts() {
    survives_restart(&[]).await;
}

#[cfg(feature = "sql")]
#[tokio::test]
async fn sqlite_database_url_keeps_tokens_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("latchkey.sqlite").display());
    survives_restart(&["--database-url", &url]).await;
}

#[cfg(feature = "sql")]
#[tokio::test]
async fn postgres_database_url_keeps_tokens_across_restarts() {
    let Some(db) = PgDatabase::create("lk_example").await else {
        return;
    };
    survives_restart(&["--database-url", &db.url]).await;
    db.drop_now().await;
}

#[tokio::test]
async fn an_unknown_database_scheme_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(crate::server::EXE)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", "oracle://x", "--addr", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported scheme"));
}

/// Without the `sql` feature, `--database-url` says how to get it.
#[cfg(not(feature = "sql"))]
#[tokio::test]
async fn a_database_url_without_the_sql_feature_says_how_to_enable_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(crate::server::EXE)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--database-url",
            "postgres://x@127.0.0.1/y",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features sql"), "{err}");
}

/// A second server on the same data directory is told what is going on,
/// not shown a storage lock error.
#[tokio::test]
async fn a_second_server_on_the_same_data_dir_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let _first = start(dir.path(), &[]).await;
    let data = dir.path().join("data");
    let out = tokio::process::Command::new(crate::server::EXE)
        .arg("--data-dir")
        .arg(&data)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "another Latchkey server is using {}; stop it or pass --data-dir",
        data.display()
    );
    assert!(err.contains(&want), "{err}");
}

/// `--addr` alone moves the issuer too, and the banner says where
/// everything is.
#[tokio::test]
async fn the_issuer_follows_addr_and_the_banner_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(crate::server::EXE)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("LATCHKEY_ISSUER")
        .kill_on_drop(true)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut meta = None;
    for _ in 0..200 {
        if let Ok(r) = http()
            .get(format!("{base}/.well-known/oauth-authorization-server"))
            .send()
            .await
        {
            meta = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(meta.expect("server up")["issuer"], base.as_str());
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let banner = String::from_utf8_lossy(&out.stderr);
    for want in [
        format!("listening on  {base}"),
        format!("issuer        {base}"),
        "storage       redb in".to_owned(),
        "alice / alice-pass, bob / bob-pass".to_owned(),
        format!("demo-app (try it: {base}/demo)"),
        "demo-cli".to_owned(),
    ] {
        assert!(banner.contains(&want), "{want:?} not in banner:\n{banner}");
    }
}

/// The maintenance task runs in the binary and shows what its outbox
/// consumer received: seeding the demo clients is two `client_created`
/// events, logged by kind (never a token or secret).
#[tokio::test]
async fn the_binary_logs_what_its_outbox_consumer_receives() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(crate::server::EXE)
        .args(["--addr", "127.0.0.1:0", "--issuer", "http://127.0.0.1:9"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .kill_on_drop(true)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 2 {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("no outbox events logged within 30 s")
            .unwrap()
            .expect("the server exited");
        if line.starts_with("outbox event ") {
            assert!(line.ends_with(": client_created"), "{line}");
            seen.push(line);
        }
    }
}
