//! Several *engine* instances on one PostgreSQL database: what a platform
//! running stateless Latchkey replicas behind a load balancer relies on.
//! Two engines with separate pools in this process, and a second OS process
//! (this test binary re-executed) refreshing the same token at the same
//! moment.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use latchkey::clients::ClientRegistration;
use latchkey::http::{HttpRequest, Params};
use latchkey::introspect::Audience;
use latchkey::{
    AuthorizeOutcome, ConsentDecision, Engine, EngineConfig, Keyring, Principal, ScopeRegistry,
};
use latchkey_sqlx::PgStore;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example/cb";
const CLIENT: &str = "replicated-app";
const SECRET: &str = "replicated-app-secret-0123456789abcdefghijklmnop";
const RESULT_TAG: &str = "LK_ENGINE_CHILD";

fn engine(store: Arc<PgStore>) -> Engine<PgStore> {
    let scopes = ScopeRegistry::new()
        .register("profile:read", "Read your profile", &[])
        .expect("scope");
    // Every replica shares the server key, as a deployment would.
    let keys = Keyring::new(&[(1, [42u8; 32])]).expect("keys");
    Engine::new(
        store,
        EngineConfig::new("https://auth.example", scopes),
        keys,
    )
}

fn auth() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    )
}

fn alice() -> Principal {
    Principal {
        subject: "alice".into(),
        account: "acme".into(),
    }
}

async fn two_engines() -> (common::pg::DropDb, String, Engine<PgStore>, Engine<PgStore>) {
    let (name, url) = common::pg::create_db().await;
    let db = common::pg::DropDb(name);
    let a = PgStore::connect(&url).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PgStore::connect(&url).await.expect("connect b");
    let (a, b) = (engine(Arc::new(a)), engine(Arc::new(b)));
    a.register_client(
        &latchkey::Acting::operator("tests", latchkey::Source::default()),
        ClientRegistration {
            id: Some(CLIENT.into()),
            owner: "acme".into(),
            name: "Replicated".into(),
            redirect_uris: vec![REDIRECT.into()],
            scopes: vec!["profile:read".into()],
            secret: Some(SECRET.into()),
            ..Default::default()
        },
    )
    .await
    .expect("register");
    (db, url, a, b)
}

/// Authorize on `first`, complete consent on `second`: the challenge lives in
/// the shared database, not in either process.
async fn code_across(first: &Engine<PgStore>, second: &Engine<PgStore>) -> String {
    let req = HttpRequest::get(&[
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", "profile:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let AuthorizeOutcome::LoginRequired { challenge } = first.authorize(&req, None, "ua").await
    else {
        panic!("expected login");
    };
    let AuthorizeOutcome::ConsentRequired(p) = second
        .resume(
            challenge.expose(),
            "ua",
            &alice(),
            &latchkey::Source::default(),
        )
        .await
    else {
        panic!("expected consent on the other instance");
    };
    let AuthorizeOutcome::Redirect(loc) = first
        .accept(
            p.challenge.expose(),
            "ua",
            &alice(),
            ConsentDecision::default(),
            &latchkey::Source::default(),
        )
        .await
    else {
        panic!("expected a redirect");
    };
    let q = loc.split_once('?').expect("query").1;
    Params::parse(q)
        .expect("params")
        .single("code")
        .expect("one")
        .expect("code")
        .to_owned()
}

fn exchange_req(code: &str) -> HttpRequest {
    HttpRequest::form_post(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .with_header("Authorization", &auth())
}

fn refresh_req(rt: &str) -> HttpRequest {
    HttpRequest::form_post(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .with_header("Authorization", &auth())
}

async fn active(e: &Engine<PgStore>, token: &str) -> bool {
    let r = e
        .introspect(
            &HttpRequest::form_post(&[("token", token)]).with_header("Authorization", &auth()),
        )
        .await;
    assert_eq!(r.status, 200);
    r.json_body()["active"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_share_codes_challenges_refreshes_and_revocations() {
    let (_db, _url, a, b) = two_engines().await;

    // 32 redemptions of one code, split across the instances: one winner.
    let code = code_across(&a, &b).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let e = if i % 2 == 0 { a.clone() } else { b.clone() };
        let req = exchange_req(&code);
        tasks.push(tokio::spawn(async move { e.token(&req).await.status }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            200 => ok += 1,
            400 => {}
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 1, "exactly one redemption across two engines");

    // 32 refreshes of one token, split across the instances: one successor,
    // byte-identical everywhere, and the family lives.
    let code = code_across(&b, &a).await;
    let tokens = b.token(&exchange_req(&code)).await.json_body();
    let rt0 = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let e = if i % 2 == 0 { a.clone() } else { b.clone() };
        let req = refresh_req(&rt0);
        tasks.push(tokio::spawn(async move { e.token(&req).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        let r = t.await.expect("join");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        answers.push((j["access_token"].clone(), j["refresh_token"].clone()));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one successor for all"
    );
    let rt1 = answers[0].1.as_str().expect("rt").to_owned();
    let at1 = answers[0].0.as_str().expect("at").to_owned();
    assert!(active(&a, &rt1).await && active(&b, &at1).await);

    // A revocation through one is seen by the other at once.
    let r = a
        .revoke(&HttpRequest::form_post(&[("token", &rt1)]).with_header("Authorization", &auth()))
        .await;
    assert_eq!(r.status, 200);
    assert!(!active(&b, &at1).await);
    assert!(b
        .verify_bearer(
            &HttpRequest::new("GET").with_header("Authorization", &format!("Bearer {at1}")),
            Audience::AnyResource,
            &[]
        )
        .await
        .is_err());
    assert_eq!(b.token(&refresh_req(&rt1)).await.status, 400);
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// 16 refreshes of `rt` at `go_at` from this process; the successor pairs.
async fn refresh_burst(e: Engine<PgStore>, rt: String, go_at: u64) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(go_at.saturating_sub(unix_ms()))).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (e, req) = (e.clone(), refresh_req(&rt));
        tasks.push(tokio::spawn(async move { e.token(&req).await }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let r = t.await.expect("join");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json_body();
        // Compare by a digest so no token is printed in the clear.
        let pair = format!("{}{}", j["access_token"], j["refresh_token"]);
        out.push(latchkey::pkce::s256(&pair));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_refreshing_one_token_get_one_successor() {
    let (_db, url, a, b) = two_engines().await;
    let code = code_across(&a, &b).await;
    let rt = a.token(&exchange_req(&code)).await.json_body()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    let go_at = unix_ms() + 2_000;
    let child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "engine_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LK_ENGINE_URL", &url)
        .env("LK_ENGINE_RT", &rt)
        .env("LK_ENGINE_GO_AT", go_at.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child");
    let (mine, out) = tokio::join!(
        refresh_burst(a.clone(), rt.clone(), go_at),
        child.wait_with_output()
    );
    let out = out.expect("child output");
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_once(RESULT_TAG).map(|(_, d)| d.trim().to_owned()))
        .collect();
    assert_eq!(theirs.len(), 16, "child answers: {stdout}");
    let all: Vec<&String> = mine.iter().chain(theirs.iter()).collect();
    assert!(
        all.windows(2).all(|w| w[0] == w[1]),
        "two processes, one successor"
    );
    drop(b);
}

/// The child side of `two_processes_refreshing_one_token_get_one_successor`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "child process of two_processes_refreshing_one_token_get_one_successor"]
async fn engine_child_process() {
    let Ok(url) = std::env::var("LK_ENGINE_URL") else {
        return;
    };
    let rt = std::env::var("LK_ENGINE_RT").expect("rt");
    let go_at: u64 = std::env::var("LK_ENGINE_GO_AT")
        .expect("go")
        .parse()
        .expect("ms");
    let store = Arc::new(PgStore::connect(&url).await.expect("connect"));
    for digest in refresh_burst(engine(store), rt, go_at).await {
        println!("{RESULT_TAG} {digest}");
    }
}
